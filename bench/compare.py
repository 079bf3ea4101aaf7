#!/usr/bin/python3
"""Joins Go and PyTorch conv benchmark lines (stdin) and prints, per
ResNet-9 shape and pass, each library's GFLOP/s and its ratio to torch, then
the summed conv time of one training step (res convs counted twice, as the
network has two of each) per library and batch, by wall time and by process
CPU time (the steadier figure on a shared machine)."""
import re
import sys

pat = re.compile(r"^BenchmarkConv/([^/]+)/(\w+)_b(\d+)/(\w+?)(?:-\d+)?\s+\d+\s+(.*)$")
metric = re.compile(r"([\d.eE+-]+) (\S+)")
MULT = {"res1": 2, "res3": 2}
res = {}
for line in sys.stdin:
    m = pat.match(line.strip())
    if m:
        lib, layer, n, pas, rest = m.groups()
        u = {unit: float(v) for v, unit in metric.findall(rest)}
        if "ns/op" not in u or "GFLOP/s" not in u:
            continue
        cpu = u.get("cpu-ms/op")
        res.setdefault((int(n), layer, pas), {})[lib] = (u["ns/op"], u["GFLOP/s"], cpu * 1e6 if cpu is not None else None)

libs = sorted({l for v in res.values() for l in v if l != "torch"})
hdr = f"{'shape':<14} {'pass':<12}" + "".join(f" {l:>16}" for l in libs) + f" {'torch':>10}"
print(hdr + "".join(f" {l + '/torch':>22}" for l in libs))
step = {}  # (lib, batch) -> [wall ns, cpu ns, complete]
for (n, layer, pas), v in sorted(res.items(), key=lambda kv: kv[0][0]):
    t = v.get("torch")
    row = f"{layer + '_b' + str(n):<14} {pas:<12}"
    row += "".join(f" {v[l][1]:>16.1f}" if l in v else f" {'-':>16}" for l in libs)
    row += f" {t[1]:>10.1f}" if t else f" {'-':>10}"
    row += "".join(f" {v[l][1] / t[1]:>22.2f}" if t and l in v else f" {'-':>22}" for l in libs)
    print(row)
    for l in libs + ["torch"]:
        s = step.setdefault((l, n), [0.0, 0.0, True])
        if l in v and v[l][2] is not None:
            s[0] += v[l][0] * MULT.get(layer, 1)
            s[1] += v[l][2] * MULT.get(layer, 1)
        else:
            s[2] = False
print()
print("conv time of one ResNet-9 training step (fwd + bwd_data + bwd_weights, res convs x2):")
for n in sorted({k[0] for k in res}):
    t = step.get(("torch", n))
    for l in libs:
        s = step[(l, n)]
        if not s[2] or not t or not t[2]:
            print(f"  batch {n}: {l}: incomplete")
            continue
        print(f"  batch {n}: wall {l} {s[0] / 1e9:.3f} s, torch {t[0] / 1e9:.3f} s, speed ratio {l}/torch = {t[0] / s[0]:.2f}"
              f";  cpu {l} {s[1] / 1e9:.3f} s, torch {t[1] / 1e9:.3f} s, ratio {t[1] / s[1]:.2f}")
