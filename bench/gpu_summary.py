#!/usr/bin/env python3
"""gpu_summary.py: our engine against the PyTorch reference, from the files
scripts/gpu-check.sh writes (train.jsonl, torch_p8.jsonl) in one folder.

    bench/gpu_summary.py bench/results/gpu-2026-11-26/h100

Prints, for p8.s10 at 10 epochs in bf16, each side's mean, sd and n of the
time (preprocessing + training, DAWNBench's measure), the training alone,
the steady per-epoch time (epochs 2-10), test and TTA accuracy, and the ratios of the means (ours / PyTorch).
"""
import json
import statistics as st
import sys
from pathlib import Path


def rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def fmt(xs, pct=False):
    if not xs:
        return "n 0"
    k = 100 if pct else 1
    sd = st.stdev(xs) * k if len(xs) > 1 else float("nan")
    unit = "%" if pct else " s"
    return f"{st.mean(xs) * k:.2f}{unit} (sd {sd:.2f}, n {len(xs)})"


def steady(elapsed):
    """Mean seconds per epoch after the first, from cumulative times."""
    return (elapsed[-1] - elapsed[0]) / (len(elapsed) - 1)


def main(folder):
    d = Path(folder)
    ours = [r for r in rows(d / "train.jsonl")
            if r.get("check") == "train" and r.get("variant") == "p8.s10"
            and r.get("epochs") == 10 and r.get("prec") == "bf16" and not r.get("error")]
    ref = rows(d / "torch_p8.jsonl")
    dev = ours[0]["device"] if ours else "?"
    print(f"{folder}: {dev}")
    pairs = [
        ("time (prep + train)", [r["time_s"] for r in ours], [r["dawnbench_seconds"] for r in ref], False),
        ("train", [r["train_s"] for r in ours], [r["train_seconds"] for r in ref], False),
        ("test accuracy", [r["test_acc"] for r in ours], [r["test_acc_ema"] for r in ref], True),
        # PyTorch's first epoch runs about 1 s longer than the rest even
        # after its untimed warm-up; the later epochs compare steady states.
        # Ours include each epoch's evaluation and PyTorch's do not.
        ("epochs 2-10, per epoch", [steady([e["Elapsed"] for e in r["per_epoch"]]) for r in ours],
         [steady([e["elapsed"] for e in r["epochs_log"]]) for r in ref], False),
        ("TTA accuracy", [r["tta_acc"] for r in ours], [r["tta_acc_ema"] for r in ref], True),
    ]
    print(f"{'':22} {'ours':28} {'PyTorch':28} ratio")
    for name, a, b, pct in pairs:
        ratio = f"{st.mean(a) / st.mean(b):.3f}" if a and b and not pct else ""
        print(f"{name:22} {fmt(a, pct):28} {fmt(b, pct):28} {ratio}")
    if ref:
        print(f"PyTorch {ref[0].get('torch')}, {ref[0].get('dtype')}, channels_last {ref[0].get('channels_last')}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gpu_summary.py FOLDER (holding train.jsonl and torch_p8.jsonl)")
    main(sys.argv[1])
