#!/usr/bin/python3
"""quick_summary.py: accuracy distributions of our runs (results database)
and PyTorch's (bench/torch_quick.py JSON lines), side by side per variant.

  bench/quick_summary.py --db /tmp/issue8.sqlite --profile quick \\
      --torch p4.s10=torch_p4.jsonl --torch p8.s10=torch_p8.jsonl
"""
import argparse
import json
import sqlite3
import statistics


def dist(xs):
    if not xs:
        return "n=0"
    sd = statistics.stdev(xs) if len(xs) > 1 else float("nan")
    return "n=%d mean %.4f std %.4f values %s" % (len(xs), statistics.mean(xs), sd, " ".join("%.4f" % x for x in xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--torch", action="append", default=[], help="VARIANT=FILE.jsonl")
    args = ap.parse_args()
    db = sqlite3.connect(args.db)
    for spec in args.torch:
        variant, path = spec.split("=", 1)
        rows = db.execute("select seed, test_acc, tta_acc, train_s, eval_s, peak_rss, dataset, config_json from runs "
                          "where variant=? and profile=? and status='done' order by repeat", (variant, args.profile)).fetchall()
        torch_rows = [json.loads(l) for l in open(path) if l.strip()]
        if rows:
            cfg = json.loads(rows[0][7])
            t = cfg["train"]
            print("== %s (%s): net %s width %g, %s, %d epochs, batch %d, tta %s, ema %g" % (
                variant, args.profile, cfg["net"]["name"], cfg["net"]["width"], rows[0][6], t["epochs"], t["batch_size"], t["tta"], t["ema_momentum"]))
        print("ours    seeds %s" % [r[0] for r in rows])
        print("  test_acc   " + dist([r[1] for r in rows]))
        if rows and rows[0][2] is not None:
            print("  tta_acc    " + dist([r[2] for r in rows]))
        print("  train_s    " + dist([r[3] for r in rows]))
        print("  eval_s     " + dist([r[4] for r in rows]))
        print("  peak_rss   %s GiB" % " ".join("%.2f" % (r[5] / 2**30) for r in rows))
        print("pytorch seeds %s" % [r["seed"] for r in torch_rows])
        print("  test_acc   " + dist([r["test_acc"] for r in torch_rows]))
        if torch_rows and "tta_acc" in torch_rows[0]:
            print("  tta_acc    " + dist([r["tta_acc"] for r in torch_rows]))
        print("  train_s    " + dist([r["train_seconds"] for r in torch_rows]))
        print("  eval_s     " + dist([r["eval_seconds"] for r in torch_rows]))
        if rows and torch_rows:
            a = [r[1] for r in rows]
            b = [r["test_acc"] for r in torch_rows]
            print("  mean test_acc difference ours - pytorch: %+.4f; train_s ratio pytorch/ours (speedup): %.2f" % (
                statistics.mean(a) - statistics.mean(b),
                statistics.mean(r["train_seconds"] for r in torch_rows) / statistics.mean(r[3] for r in rows)))
        print()


if __name__ == "__main__":
    main()
