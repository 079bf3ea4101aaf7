#!/usr/bin/python3
"""torch_quick.py: train PyTorch on a runner config, on the runner's own
inputs, to compare accuracy distributions with our cpu backend.

It reads a resolved config (the runs.config_json column of the runner's
results database) and the inputs bench/dumpsubset writes (the profile's
balanced subset, normalised and reflect-padded by data.Prepare, and the
whitening filters of data.WhiteningFilters), then trains the same network
(ResNet-9 from cpu/torch/resnet9_step.py, N3 from bench/torch_p8_reference.py;
widths round(c*width), at least 1), schedule, batch, optimizer and
augmentation, and evaluates like cpu.Train (EMA weights when configured,
flip TTA on the last epoch). One JSON line per seed on stdout.

What is the same as cpu.Train: the images and their order of preparation,
the whitening filters, init distributions (uniform +-1/sqrt(fan_in), BN
scale 1, bias 0), BN momentum 0.1 and eps 1e-5, the update (g = dw + wd*N*w;
v = rho*v + g; w -= lambda/N * (g + rho*v) with Nesterov), BN-bias lr/wd
multipliers, the per-step lambda position (schedule "fractional": (e-1) +
i/steps; "step": (e-1) + (i+1)/steps), summed label-smoothed cross-entropy,
EMA every ema_every steps with rho^ema_every over params and BN running
stats, grouped augmentation's balanced option assignment. What differs: the
random streams (PyTorch's init and numpy's shuffles/augment draws are not
Go's PCG), and the ghost-BN split layout (strided here, as cifar10-fast).

  bench/torch_quick.py --config run.json --subset DIR --seeds 0,1,2
"""
import argparse
import importlib.util
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def load_subset(d):
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    n, m, side = meta["train"], meta["test"], meta["side"]
    xtr = np.fromfile(os.path.join(d, "train_x.f32"), dtype="<f4").reshape(n, side, side, 3)
    ytr = np.fromfile(os.path.join(d, "train_y.i32"), dtype="<i4").astype(np.int64)
    xte = np.fromfile(os.path.join(d, "test_x.f32"), dtype="<f4").reshape(m, 32, 32, 3)
    yte = np.fromfile(os.path.join(d, "test_y.i32"), dtype="<i4").astype(np.int64)
    w = np.fromfile(os.path.join(d, "whiten.f32"), dtype="<f4").reshape(27, 3, 3, 3)
    # NHWC arrays viewed as NCHW tensors are channels_last already.
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)
    return meta, t(xtr), torch.from_numpy(ytr), t(xte), torch.from_numpy(yte), torch.from_numpy(w)


def go_round(x):
    return max(1, int(math.floor(x + 0.5)))  # Go's math.Round, not banker's


def build(cfg, whiten, batch):
    net = cfg["net"]
    width = net.get("width", 1.0)
    if net["name"] == "resnet9":
        if net.get("bn") != "bn" or net.get("act") != "relu" or net.get("whiten"):
            raise SystemExit("torch_quick: resnet9 with bn %r act %r whiten %r is not supported" % (net.get("bn"), net.get("act"), net.get("whiten")))
        step = load_module("resnet9_step", os.path.join(HERE, "..", "cpu", "torch", "resnet9_step.py"))
        m = step.resnet9(width)
        scale = net.get("classifier_scale", 0.125)
        m[-1] = step.Scale(scale)
        bias_names = {n for n, mod in m.named_modules() if isinstance(mod, nn.BatchNorm2d)}
        return m, {n + ".bias" for n in bias_names}
    if net["name"] == "final":
        ref = load_module("torch_p8_reference", os.path.join(HERE, "torch_p8_reference.py"))
        gb = net.get("ghost_batch", 32)
        if batch % gb:
            raise SystemExit("torch_quick: batch %d is not a multiple of ghost_batch %d" % (batch, gb))
        m = ref.N3(whiten, width=width, splits=batch // gb, alpha=net.get("celu_alpha", 0.3), scale=net["classifier_scale"])
        for mod in m.modules():
            if isinstance(mod, ref.GhostBN):
                mod.weight.requires_grad = not net.get("freeze_bn_scale", False)
        bias_names = {n for n, mod in m.named_modules() if isinstance(mod, nn.BatchNorm2d)}
        return m, {n + ".bias" for n in bias_names}
    raise SystemExit("torch_quick: net %r: want resnet9 or final" % net["name"])


def lr_at(knots, e):
    xs = [k["epoch"] for k in knots]
    ys = [k["lr"] for k in knots]
    return float(np.interp(e, xs, ys))


def plan(rng, n, pad, d):
    """Per-image crop offset, flip and cutout corner (data/augment.go)."""
    crops, cut = 2 * pad + 1, d.get("cutout", 0)
    cuts = 32 - cut + 1
    cx = np.full(n, pad)
    cy = np.full(n, pad)
    fl = np.zeros(n, dtype=bool)
    kx = np.zeros(n, dtype=np.int64)
    ky = np.zeros(n, dtype=np.int64)
    if not d.get("grouped"):
        if d.get("crop"):
            cx, cy = rng.integers(0, crops, n), rng.integers(0, crops, n)
        if d.get("flip"):
            fl = rng.integers(0, 2, n) == 1
        if cut > 0:
            kx, ky = rng.integers(0, cuts, n), rng.integers(0, cuts, n)
        return cx, cy, fl, kx, ky
    maxg = d.get("max_groups") or 200

    def grouped(n_opts):
        # A shuffled option list, then min(n_opts, maxg) of its options
        # shared out evenly over a random order of the images.
        opts = rng.permutation(n_opts)
        g = min(n_opts, maxg)
        perm = rng.permutation(n)
        o = np.empty(n, dtype=np.int64)
        o[perm] = opts[(np.arange(n) * g) // n]
        return o
    if d.get("crop"):
        o = grouped(crops * crops)
        cx, cy = o % crops, o // crops
    if d.get("flip"):
        fl = grouped(2) == 1
    if cut > 0:
        o = grouped(cuts * cuts)
        kx, ky = o % cuts, o // cuts
    return cx, cy, fl, kx, ky


def augment(xpad, cx, cy, fl, kx, ky, cut):
    n = xpad.shape[0]
    out = torch.empty((n, 3, 32, 32)).contiguous(memory_format=torch.channels_last)
    key = (cy * 64 + cx) * 2 + fl
    for k in np.unique(key):
        idx = torch.from_numpy(np.nonzero(key == k)[0])
        a, b, f = k // 128, (k // 2) % 64, k % 2
        crop = xpad[idx, :, a:a + 32, b:b + 32]
        out[idx] = torch.flip(crop, dims=[3]) if f else crop
    if cut > 0:
        r = torch.arange(32)
        ky_t, kx_t = torch.from_numpy(ky)[:, None], torch.from_numpy(kx)[:, None]
        my = (r[None] >= ky_t) & (r[None] < ky_t + cut)
        mx = (r[None] >= kx_t) & (r[None] < kx_t + cut)
        mask = (my[:, :, None] & mx[:, None, :])[:, None]
        out.masked_fill_(mask, 0.0)
    return out


def smoothed_loss(logits, y, eps):
    logp = F.log_softmax(logits, dim=-1)
    nll = -logp.gather(1, y[:, None])[:, 0]
    return ((1 - eps) * nll + eps * (-logp.mean(dim=-1))).sum()


def run(cfg, seed, sub):
    meta, xtr, ytr, xte, yte, whiten = sub
    t, d = cfg["train"], cfg["data"]
    bs = t["batch_size"]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model, bias_names = build(cfg, whiten, bs)
    model = model.to(memory_format=torch.channels_last)
    model.train()
    groups = []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if n in bias_names:
            groups.append((p, t.get("bn_bias_lr_mul") or 1, 1 / (t.get("bn_bias_wd_div") or 1)))
        else:
            groups.append((p, 1.0, 1.0))
    vel = [torch.zeros_like(p) for p, _, _ in groups]
    ema = None
    if t.get("ema_momentum", 0) > 0:
        ema = {k: v.detach().clone() for k, v in model.state_dict().items() if v.dtype.is_floating_point}
    ema_every = max(t.get("ema_every", 0), 1)
    n = len(ytr)
    steps = n // bs if t.get("drop_last") else -(-n // bs)
    pad = meta["pad"]
    ls = t.get("label_smoothing", 0.0)
    rho, wd0 = t["momentum"], t["weight_decay"]
    k, train_s, log = 0, 0.0, []
    for e in range(1, t["epochs"] + 1):
        t0 = time.perf_counter()
        cx, cy, fl, kx, ky = plan(rng, n, pad, d)
        order = torch.from_numpy(rng.permutation(n))
        xa = augment(xtr, cx, cy, fl, kx, ky, d.get("cutout", 0))
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(steps):
            idx = order[i * bs:(i + 1) * bs]
            xb, yb = xa[idx].contiguous(memory_format=torch.channels_last), ytr[idx]
            at = (e - 1) + ((i + 1) if t.get("schedule") == "step" else i) / steps
            lam = lr_at(t["lr"], at)
            out = model(xb)
            loss = smoothed_loss(out, yb, ls)
            model.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for (p, lr_mul, wd_mul), v in zip(groups, vel):
                    lr, wd = lam / bs * lr_mul, wd0 * bs * wd_mul
                    g = p.grad.add(p, alpha=wd)
                    v.mul_(rho).add_(g)
                    s = g.add(v, alpha=rho) if t.get("nesterov") else v
                    p.sub_(s, alpha=lr)
            k += 1
            if ema is not None and k % ema_every == 0:
                r = t["ema_momentum"] ** ema_every
                with torch.no_grad():
                    for name, v in model.state_dict().items():
                        if name in ema:
                            ema[name].mul_(r).add_(v, alpha=1 - r)
            loss_sum += float(loss)
            correct += int((out.argmax(1) == yb).sum())
            seen += len(yb)
        train_s += time.perf_counter() - t0
        log.append({"epoch": e, "lr": lam, "train_loss": loss_sum / seen, "train_acc": correct / seen})

    t0 = time.perf_counter()
    if ema is not None:
        sd = model.state_dict()
        for name, v in ema.items():
            sd[name] = v
        model.load_state_dict(sd)
    model.eval()  # ghost BN averages its per-split running stats here
    correct = tta_correct = 0
    loss_sum = 0.0
    with torch.no_grad():
        for i in range(0, len(yte), bs):
            xb = xte[i:i + bs].contiguous(memory_format=torch.channels_last)
            yb = yte[i:i + bs]
            out = model(xb)
            loss_sum += float(smoothed_loss(out, yb, ls))
            correct += int((out.argmax(1) == yb).sum())
            if t.get("tta"):
                o2 = (out + model(torch.flip(xb, dims=[3]))) / 2
                tta_correct += int((o2.argmax(1) == yb).sum())
    eval_s = time.perf_counter() - t0
    res = {"seed": seed, "net": cfg["net"]["name"], "width": cfg["net"].get("width"), "epochs": t["epochs"], "batch": bs,
           "steps_per_epoch": steps, "data": meta["name"], "checksum": meta["checksum"],
           "test_acc": correct / len(yte), "test_loss": loss_sum / len(yte), "train_seconds": train_s, "eval_seconds": eval_s,
           "torch": torch.__version__, "threads": torch.get_num_threads(), "epochs_log": log}
    if t.get("tta"):
        res["tta_acc"] = tta_correct / len(yte)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="resolved config JSON file (runs.config_json)")
    ap.add_argument("--subset", required=True, help="folder written by bench/dumpsubset")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.config) as f:
        cfg = json.load(f)
    sub = load_subset(args.subset)
    d = cfg["data"]
    # 0 (or no size) is the whole split, as in the runner.
    want = (d.get("train_size") or sub[0]["train"], d.get("test_size") or sub[0]["test"])
    if want != (sub[0]["train"], sub[0]["test"]):
        raise SystemExit("torch_quick: config wants %s/%s images, subset %s has %d/%d" % (
            d.get("train_size"), d.get("test_size"), args.subset, sub[0]["train"], sub[0]["test"]))
    if d.get("crop") and sub[0]["pad"] != 4:
        raise SystemExit("torch_quick: crop needs pad 4, subset has %d" % sub[0]["pad"])
    for s in [int(v) for v in args.seeds.split(",") if v]:
        print(json.dumps(run(cfg, s, sub)), flush=True)


if __name__ == "__main__":
    main()
