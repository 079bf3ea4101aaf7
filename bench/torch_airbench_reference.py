#!/usr/bin/env python3
"""PyTorch reference of stage 10's airbench94 and airbench94_muon variants
(experiments.toml), written for this repository from
shared/reference/after-the-blog.md, to run beside the Go engines on the
same machine (CPU or CUDA) as bench/torch_p8_reference.py is for p8.s10.

It trains the recipes as speedrun does them, where speedrun's choices
differ from Keller Jordan's scripts in details:
  * images normalised by the training split's own per-channel mean and
    population std (data.Prepare), not fixed constants;
  * the whitening covariance divided by n-1 (data.WhiteningFiltersK);
  * Muon's Newton-Schulz in fp32 on the CPU (our CPU engine's SGEMM) and
    bf16 on CUDA (our GPU engine's GemmEx, airbench's bf16).

airbench94 (--recipe airbench94): the 2x2 whitening conv (12 eigenvectors
of the first 5,000 training images' 2x2 patches, scaled by
1/sqrt(lambda + 5e-4), and their negatives; frozen) with a bias trained
for the first 3 epochs; GELU; conv groups 64/256/256 of conv3x3 (dirac
init of the first in_channels filters) -> maxpool 2 -> BN -> GELU ->
conv3x3 -> BN -> GELU, BN scale fixed at 1, eps 1e-12, momentum 0.4;
maxpool 3; linear 256 -> 10 without bias; logits x 1/9. Batch 1024, drop
last, 9.9 epochs = ceil(48 x 9.9) = 476 steps; Nesterov SGD, momentum
0.85, summed cross-entropy with label smoothing 0.2; lr 11.5 and weight
decay 0.0153 per 1024 examples (lr = 11.5 / (1024 (1 + 1/0.15)),
weight_decay = 0.0153 * 1024 / 11.5 coupled), BN biases lr x 64 (wd / 64);
lr multiplier linear 0.2 -> 1 over the first int(0.23 K) steps, then down
to 0.07; lookahead every 5 steps (decay 0.95^5 (k/K)^3) on parameters and
BN running stats, the live weights set to the average at the end; random
translation by up to 2 px (reflect padding), alternating flip; six-view
TTA (0.25 image, 0.25 mirror, 0.125 each of the 1 px up-left and
down-right shifts and their mirrors).

airbench94_muon (--recipe muon): the same net with logits / 256, the head
at unit std and the whitening bias at PyTorch's default; batch 2000, 8
epochs (200 steps), no lookahead; SGD (momentum 0.85, Nesterov, weight
decay 2e-6 x batch / lr per group) on the whitening bias (lr 0.053
decaying to 0 over its 3 epochs), BN biases (0.053) and the head (0.67),
decaying to 0 over the run; Muon (lr 0.24, momentum 0.6, Nesterov) on
the 3x3 filters: w scaled to norm sqrt(out), then w -= lr NS(u), NS 3
Newton-Schulz iterations (3.4445, -4.7750, 2.0315) of the Nesterov update.

Time is airbench's boundary, with our preprocessing in (wall clock; the
process's CPU seconds beside it, for shared machines): from normalising
the data (loaded from disk first, untimed) through the whitening filters
and training to the end of the final TTA evaluation, with no per-epoch
evaluation (stage 10's timing "airbench"). A warm-up of a few random
batches (cuDNN autotune on CUDA) runs first, untimed. Prints one JSON line
per run (seed) to stdout.

  --smoke   tiny CPU run (width 1/16, 256 images, 2 epochs) for tests
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# The CIFAR-10 reader and the synthetic set are the p8 reference's (the
# same folder is on the path when a script runs).
from torch_p8_reference import load_cifar, synthetic  # noqa: E402


# ---------------------------------------------------------------- recipes

RECIPES = {
    "airbench94": dict(batch=1024, epochs=9.9, lookahead=True, scale=1 / 9, head_unit_std=False,
                       whiten_bias_uniform=False, muon=False),
    "muon": dict(batch=2000, epochs=8.0, lookahead=False, scale=1 / 256, head_unit_std=True,
                 whiten_bias_uniform=True, muon=True),
}
WIDTHS = (64, 256, 256)
MOMENTUM = 0.85


# ---------------------------------------------------------------- network

class BN(nn.BatchNorm2d):
    """BN with its scale fixed at 1, eps 1e-12, PyTorch momentum 0.4."""

    def __init__(self, c):
        super().__init__(c, eps=1e-12, momentum=0.4)
        self.weight.requires_grad = False


def conv3(cin, cout):
    c = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():
        torch.nn.init.dirac_(c.weight[:cin])  # the first in_channels filters: identities
    return c


class Group(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1, self.norm1 = conv3(cin, cout), BN(cout)
        self.conv2, self.norm2 = conv3(cout, cout), BN(cout)

    def forward(self, x):
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


class Net(nn.Module):
    def __init__(self, r, width=1.0):
        super().__init__()
        w = [max(1, round(c * width)) for c in WIDTHS]
        self.whiten = nn.Conv2d(3, 24, 2, bias=True)
        self.whiten.weight.requires_grad = False
        if not r["whiten_bias_uniform"]:
            nn.init.zeros_(self.whiten.bias)
        self.groups = nn.Sequential(Group(24, w[0]), Group(w[0], w[1]), Group(w[1], w[2]))
        self.head = nn.Linear(w[2], 10, bias=False)
        if r["head_unit_std"]:
            with torch.no_grad():
                self.head.weight /= self.head.weight.std()
        self.scale = r["scale"]

    def forward(self, x):
        x = self.groups(F.gelu(self.whiten(x)))
        return self.head(F.max_pool2d(x, 3).flatten(1)) * self.scale


def whitening(x, eps=5e-4):
    """The 2x2 patches' 12 eigenvectors (descending eigenvalue), each over
    sqrt(lambda + eps), and their negatives: 24 x 3 x 2 x 2."""
    p = x.double().unfold(2, 2, 1).unfold(3, 2, 1)  # N, C, 31, 31, 2, 2
    p = p.permute(0, 2, 3, 1, 4, 5).reshape(-1, 12)  # rows ordered channel, dy, dx
    cov = p.T @ p / (len(p) - 1)
    lam, vec = torch.linalg.eigh(cov)
    lam, vec = lam.flip(0), vec.T.flip(0)
    f = (vec / torch.sqrt(lam.clamp(min=0) + eps)[:, None]).reshape(12, 3, 2, 2)
    return torch.cat([f, -f]).float()


# ---------------------------------------------------------------- optimisers

def newton_schulz(u, steps=3, eps=1e-7, dtype=torch.float32):
    a, b, c = 3.4445, -4.7750, 2.0315
    x = u.to(dtype)
    x = x / (x.norm() + eps)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        A = x @ x.T
        B = b * A + c * A @ A
        x = a * x + B @ x
    return (x.T if tall else x).float()


def interp(k, xs, ys):
    return float(np.interp(k, xs, ys))


# ---------------------------------------------------------------- one run

def run(args, seed, data, device, dtype):
    r = RECIPES[args.recipe]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xtr_u8, ytr_np, xte_u8, yte_np = data
    mf = torch.channels_last
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    bs = min(r["batch"], args.batch or r["batch"])
    epochs = args.epochs or r["epochs"]
    n = len(ytr_np)
    spe = n // bs  # drop last
    total = math.ceil(spe * epochs - 1e-9)
    whiten_steps = math.ceil(spe * 3 - 1e-9)
    xtr_raw = torch.from_numpy(np.array(xtr_u8)).to(device)
    xte_raw = torch.from_numpy(np.array(xte_u8)).to(device)
    ytr = torch.from_numpy(ytr_np).to(device)
    yte = torch.from_numpy(yte_np).to(device)
    model = Net(r, args.width).to(device).to(memory_format=mf)
    autocast = (torch.autocast(device_type=device.type, dtype=dtype) if dtype != torch.float32 else
                torch.autocast(device_type=device.type, enabled=False))

    def loss_fn(out, y):
        return F.cross_entropy(out.float(), y, label_smoothing=0.2, reduction="sum")

    # Warm-up on random batches, then restore the initial state: untimed.
    if args.warmup:
        state = {k: v.clone() for k, v in model.state_dict().items()}
        for _ in range(args.warmup):
            xb = torch.randn(bs, 3, 32, 32, device=device).to(memory_format=mf)
            with autocast:
                loss_fn(model(xb), torch.randint(0, 10, (bs,), device=device)).backward()
        model.load_state_dict(state)
        model.zero_grad(set_to_none=True)
    sync()

    t0, c0 = time.perf_counter(), time.process_time()
    x = xtr_raw.float() / 255
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
    xtr = ((x - mean) / std)
    xte = ((xte_raw.float() / 255 - mean) / std)
    with torch.no_grad():
        model.whiten.weight.copy_(whitening(xtr[:min(5000, n)]))
    xpad = F.pad(xtr, (2, 2, 2, 2), mode="reflect")
    base_flip = torch.from_numpy(rng.random(n) < 0.5).to(device)
    sync()
    prep_s = time.perf_counter() - t0

    # Parameter groups.
    named = dict(model.named_parameters())
    filters = [p for k, p in named.items() if p.requires_grad and p.dim() == 4]
    bn_bias = [p for k, p in named.items() if "norm" in k and k.endswith("bias")]
    wbias, head = model.whiten.bias, model.head.weight
    vel = {id(p): torch.zeros_like(p) for p in named.values() if p.requires_grad}
    ks = 1024 * (1 + 1 / (1 - MOMENTUM))

    def sgd(params, lr, wd, mom=MOMENTUM):
        for p in params:
            g = p.grad + wd * p
            v = vel[id(p)]
            v.mul_(mom).add_(g)
            p.add_(g + mom * v, alpha=-lr)

    if r["muon"]:
        wd = 2e-6 * bs
        ns_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

        def step_all(k):
            if k < whiten_steps:
                f = 1 - k / whiten_steps
                sgd([wbias], 0.053 * f, wd / 0.053)
            f = 1 - k / total
            sgd(bn_bias, 0.053 * f, wd / 0.053)
            sgd([head], 0.67 * f, wd / 0.67)
            for p in filters:
                v = vel[id(p)]
                v.mul_(0.6).add_(p.grad)
                u = p.grad + 0.6 * v
                p.mul_(len(p) ** 0.5 / p.norm())
                p.add_(newton_schulz(u.reshape(len(u), -1), dtype=ns_dtype).view_as(p), alpha=-0.24 * f)
    else:
        # PyTorch's lr, and its coupled weight_decay wd*N/lr_peak: the
        # decay per step is 0.0153 N/ks at the peak, for the x64 BN biases too.
        lr0, wd0 = 11.5 / ks, 0.0153 * bs / 11.5
        others = [p for k, p in named.items() if p.requires_grad and p is not wbias and not ("norm" in k and k.endswith("bias"))]

        def step_all(k):
            f = interp(k, [0, int(0.23 * total), total], [0.2, 1, 0.07])
            sgd(bn_bias, lr0 * 64 * f, wd0 / 64)
            sgd(others, lr0 * f, wd0)
            if k < whiten_steps:
                sgd([wbias], lr0 * f, wd0)

    avg = {k: v.clone() for k, v in model.state_dict().items()} if r["lookahead"] else None

    def lookahead(decay):
        for kk, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                avg[kk].lerp_(v, 1 - decay)
                v.copy_(avg[kk])

    train_s, train_cpu, k, hist = 0.0, 0.0, 0, []
    for e in range(math.ceil(total / spe)):
        sync()
        t, c = time.perf_counter(), time.process_time()
        model.train()
        off = torch.from_numpy(rng.integers(0, 5, (n, 2))).to(device)
        flip = base_flip ^ (e % 2 == 1)
        perm = torch.from_numpy(rng.permutation(n)).to(device)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(min(spe, total - k)):
            idx = perm[i * bs:(i + 1) * bs]
            # Translation: the 32x32 crop at the drawn offset of the 2 px
            # reflect-padded image, then the epoch's flip.
            o = off[idx]
            rows = (o[:, 0, None] + torch.arange(32, device=device))[:, None, :, None]
            cols = (o[:, 1, None] + torch.arange(32, device=device))[:, None, None, :]
            xb = xpad[idx][torch.arange(len(idx), device=device)[:, None, None, None],
                           torch.arange(3, device=device)[None, :, None, None], rows, cols]
            xb = torch.where(flip[idx][:, None, None, None], xb.flip(3), xb).contiguous(memory_format=mf)
            yb = ytr[idx]
            with autocast:
                out = model(xb)
            loss = loss_fn(out, yb)
            model.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                step_all(k)
                k += 1
                if avg is not None and k % 5 == 0:
                    lookahead(0.95 ** 5 * (k / total) ** 3)
                if avg is not None and k == total:
                    lookahead(1.0)
            loss_sum += float(loss)
            correct += int((out.argmax(1) == yb).sum())
            seen += len(idx)
        sync()
        train_s += time.perf_counter() - t
        train_cpu += time.process_time() - c
        hist.append({"epoch": e + 1, "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1)})

    # Six-view TTA, airbench's weights, in batches of 2000.
    t = time.perf_counter()
    model.eval()
    logits, plain = [], []
    with torch.no_grad(), autocast:
        for i in range(0, len(yte_np), 2000):
            xb = xte[i:i + 2000].contiguous(memory_format=mf)
            pad = F.pad(xb, (1, 1, 1, 1), mode="reflect")
            views = [xb, pad[:, :, 0:32, 0:32], pad[:, :, 2:34, 2:34]]
            outs = [(model(v).float() + model(v.flip(3)).float()) / 2 for v in views]
            plain.append(model(xb).float())
            logits.append(0.5 * outs[0] + 0.25 * outs[1] + 0.25 * outs[2])
    tta_acc = float((torch.cat(logits).argmax(1) == yte).float().mean())
    acc = float((torch.cat(plain).argmax(1) == yte).float().mean())
    sync()
    eval_s = time.perf_counter() - t
    return {
        "recipe": args.recipe, "seed": seed, "device": str(device),
        "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "dtype": str(dtype).replace("torch.", ""), "threads": torch.get_num_threads(),
        "train_images": n, "test_images": len(yte_np), "batch": bs, "epochs": epochs, "steps": total, "width": args.width,
        "preprocess_seconds": prep_s, "train_seconds": train_s, "eval_seconds": eval_s,
        "airbench_seconds": prep_s + train_s + eval_s, "test_acc": acc, "tta_acc": tta_acc, "epochs_log": hist,
        # Process CPU seconds (all threads): on a shared machine, the
        # work a run took whatever the load (the runner records cpu_s).
        "train_cpu_seconds": train_cpu, "airbench_cpu_seconds": time.process_time() - c0,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="airbench94", choices=sorted(RECIPES))
    ap.add_argument("--data", default="", help="cifar-10-batches-bin folder (empty: synthetic)")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds, one run each")
    ap.add_argument("--epochs", type=float, default=0, help="override the recipe's epochs")
    ap.add_argument("--batch", type=int, default=0, help="cap the recipe's batch")
    ap.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    ap.add_argument("--limit-train", type=int, default=0)
    ap.add_argument("--limit-test", type=int, default=0)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--dtype", default="auto", help="auto (fp16 autocast on cuda, bf16 on cpu), fp32, fp16, bf16")
    ap.add_argument("--warmup", type=int, default=-1, help="random warm-up steps (default 3 on cuda, 0 on cpu)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run for tests")
    args = ap.parse_args()
    if args.smoke:
        args.device, args.width, args.epochs, args.batch = "cpu", 1 / 16, 2, 64
        args.limit_train, args.limit_test = args.limit_train or 256, args.limit_test or 100
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    if args.dtype == "auto":
        dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    else:
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    if args.warmup < 0:
        args.warmup = 3 if device.type == "cuda" else 0
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = (load_cifar(args.data, args.limit_train, args.limit_test) if args.data else
            synthetic(args.limit_train or 5000, args.limit_test or 1000, 12345))
    for s in [int(v) for v in args.seeds.split(",") if v != ""]:
        print(json.dumps(run(args, s, data, device, dtype)), flush=True)


if __name__ == "__main__":
    main()
