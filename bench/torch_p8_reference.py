#!/usr/bin/env python3
"""PyTorch reference of the post-8 final config ("How to Train Your ResNet",
bag_of_tricks / new_dawn.py), written from the registry's reference notes
(blog-stages.md: section 2, p8 "Exact final config"; section 1, N3), to run
side by side with the Go GPU backend on the same machine.

Config (defaults): net N3 (frozen 3x3 PCA-whitening conv 3->27 from the first
10,000 normalised train images, eps 1e-2; 1x1 conv 27->64; ghost BN with 16
splits, scale frozen at 1; CELU alpha 0.3; conv->pool->BN->act; residuals at
L1 and L3; global max pool; linear 512->10 without bias; logits x 1/16),
batch 512, 10 epochs, lambda knots (0,0)(2,1.0)(8,0.1) held after 8, evaluated
per step at k/steps (k from 1); step lambda/512 with wd 5e-4*512, BN biases
lambda*64/512 with wd 5e-4*512/64; Nesterov momentum 0.9 in torch.optim.SGD's
form (g = grad + wd w; v = 0.9 v + g; w -= lr (g + 0.9 v)), which speedrun's
engines use (--update page: cifar10-fast's dw = -lr(g + wd w); v = 0.9 v + dw;
w += dw + 0.9 v, which puts lr inside v; the two differ only while lr
changes); summed cross-entropy with
label smoothing 0.2; reflect pad 4, random 32x32 crop and flip (no cutout),
drop_last; EMA (0.99 per step, applied every 5 steps as 0.99^5) of all float
state, BN running stats included; flip TTA on the EMA model (mean of logits).
Timing follows DAWNBench: preprocessing plus training, evaluation excluded,
after a warm-up on random batches.

Prints one JSON line per run (seed) to stdout.

  --smoke          tiny CPU run (width 1/8, 128 images, 3 epochs) for tests
  --count-params   print the trainable and frozen parameter counts and exit
"""
import argparse
import glob
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = np.array([125.31, 122.95, 113.87], dtype=np.float32)
STD = np.array([62.99, 62.09, 66.70], dtype=np.float32)


def load_cifar(folder, limit_train=0, limit_test=0):
    """Reads the binary CIFAR-10 layout: records of 1 label byte + 3072 CHW bytes."""
    def read(paths):
        raw = b"".join(open(p, "rb").read() for p in paths)
        a = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
        return a[:, 1:].reshape(-1, 3, 32, 32), a[:, 0].astype(np.int64)
    train = sorted(glob.glob(os.path.join(folder, "data_batch_*.bin")))
    test = os.path.join(folder, "test_batch.bin")
    if not train or not os.path.exists(test):
        raise SystemExit("torch_p8_reference: no data_batch_*.bin / test_batch.bin in %s" % folder)
    xtr, ytr = read(train)
    xte, yte = read([test])
    if limit_train:
        xtr, ytr = xtr[:limit_train], ytr[:limit_train]
    if limit_test:
        xte, yte = xte[:limit_test], yte[:limit_test]
    return xtr, ytr, xte, yte


def synthetic(n_train, n_test, seed):
    rng = np.random.default_rng(seed)
    ytr = rng.integers(0, 10, n_train)
    yte = rng.integers(0, 10, n_test)
    # Class-dependent colour means, so that a net can learn something.
    def imgs(y):
        base = rng.integers(0, 256, (len(y), 3, 32, 32)).astype(np.float32) * 0.5
        base += (y[:, None, None, None] * 12.0)
        return np.clip(base, 0, 255).astype(np.uint8)
    return imgs(ytr), ytr, imgs(yte), yte


def normalise(x):
    """uint8 NCHW -> float32 NCHW, per-channel mean/std on the 0-255 scale."""
    x = x.astype(np.float32)
    return (x - MEAN[None, :, None, None]) / STD[None, :, None, None]


# --- whitening (p8.s7) ---
def whitening_filter(x, eps=1e-2):
    """3x3 patches of x (N,3,32,32) -> frozen conv weights (27,3,3,3):
    eigenvectors of the (uncentred) patch covariance scaled by 1/sqrt(lambda+eps)."""
    patches = x.unfold(2, 3, 1).unfold(3, 3, 1).transpose(1, 3).reshape(-1, 3, 3, 3).double()
    n = patches.shape[0]
    X = patches.reshape(n, 27) / math.sqrt(n - 1)
    cov = X.t() @ X
    lam, V = torch.linalg.eigh(cov)  # ascending
    lam, V = lam.flip(0), V.t().reshape(27, 3, 3, 3).flip(0)
    return (V / torch.sqrt(lam + eps)[:, None, None, None]).float()


# --- network N3 ---
class GhostBN(nn.BatchNorm2d):
    """cifar10-fast's GhostBatchNorm: the batch is viewed as (N/S, C*S, H, W),
    so split s holds samples s, s+S, s+2S, ...; running stats are kept per
    split and averaged when switching to eval."""

    def __init__(self, c, splits, freeze_scale=True):
        super().__init__(c, eps=1e-5, momentum=0.1)
        self.splits = splits
        self.weight.data.fill_(1.0)
        self.bias.data.zero_()
        self.weight.requires_grad = not freeze_scale
        self.register_buffer("running_mean", torch.zeros(c * splits))
        self.register_buffer("running_var", torch.ones(c * splits))

    def train(self, mode=True):
        if self.training and not mode:
            S, C = self.splits, self.num_features
            self.running_mean = self.running_mean.view(S, C).mean(0).repeat(S)
            self.running_var = self.running_var.view(S, C).mean(0).repeat(S)
        return super().train(mode)

    def forward(self, x):
        N, C, H, W = x.shape
        w, b = self.weight.float(), self.bias.float()
        if self.training:
            y = F.batch_norm(x.reshape(-1, C * self.splits, H, W), self.running_mean, self.running_var,
                             w.repeat(self.splits), b.repeat(self.splits), True, self.momentum, self.eps)
            return y.reshape(N, C, H, W)
        return F.batch_norm(x, self.running_mean[:C], self.running_var[:C], w, b, False, self.momentum, self.eps)


class ConvBN(nn.Module):
    def __init__(self, cin, cout, pool, splits, alpha, k=3):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.pool = nn.MaxPool2d(2) if pool else None
        self.bn = GhostBN(cout, splits)
        self.alpha = alpha

    def forward(self, x):
        x = self.conv(x)
        if self.pool is not None:
            x = self.pool(x)
        return F.celu(self.bn(x), self.alpha)


class Residual(nn.Module):
    def __init__(self, c, splits, alpha):
        super().__init__()
        self.a = ConvBN(c, c, False, splits, alpha)
        self.b = ConvBN(c, c, False, splits, alpha)

    def forward(self, x):
        return x + self.b(self.a(x))


class N3(nn.Module):
    def __init__(self, whiten_w, width=1.0, splits=16, alpha=0.3, scale=1 / 16):
        super().__init__()
        c = [max(1, int(round(v * width))) for v in (64, 128, 256, 512)]
        self.whiten = nn.Conv2d(3, 27, 3, padding=1, bias=False)
        self.whiten.weight.data.copy_(whiten_w)
        self.whiten.weight.requires_grad = False
        self.prep_conv = nn.Conv2d(27, c[0], 1, bias=False)
        self.prep_bn = GhostBN(c[0], splits)
        self.alpha = alpha
        self.layer1 = ConvBN(c[0], c[1], True, splits, alpha)
        self.res1 = Residual(c[1], splits, alpha)
        self.layer2 = ConvBN(c[1], c[2], True, splits, alpha)
        self.layer3 = ConvBN(c[2], c[3], True, splits, alpha)
        self.res3 = Residual(c[3], splits, alpha)
        self.linear = nn.Linear(c[3], 10, bias=False)
        self.scale = scale

    def forward(self, x):
        x = F.celu(self.prep_bn(self.prep_conv(self.whiten(x))), self.alpha)
        x = self.res1(self.layer1(x))
        x = self.layer2(x)
        x = self.res3(self.layer3(x))
        x = F.adaptive_max_pool2d(x, 1).flatten(1)
        return self.linear(x) * self.scale


def smoothed_loss(logits, y, eps=0.2):
    logp = F.log_softmax(logits.float(), dim=-1)
    nll = -logp.gather(1, y[:, None])[:, 0]
    return ((1 - eps) * nll + eps * (-logp.mean(dim=-1))).sum()


def lr_at(epoch_frac, knots):
    xs, ys = zip(*knots)
    return float(np.interp(epoch_frac, xs, ys))


def augment(xpad, rng):
    """Random 32x32 crop of padded images and a flip with p=0.5, vectorised
    by option (81 offsets x 2 flips = 162 < max_options 200, so every
    sample gets its own independent draw)."""
    n = xpad.shape[0]
    oy = rng.integers(0, 9, n)
    ox = rng.integers(0, 9, n)
    fl = rng.integers(0, 2, n)
    out = torch.empty((n, xpad.shape[1], 32, 32), dtype=xpad.dtype, device=xpad.device)
    key = (oy * 9 + ox) * 2 + fl
    for k in np.unique(key):
        idx = torch.from_numpy(np.nonzero(key == k)[0]).to(xpad.device)
        a, b, f = k // 18, (k // 2) % 9, k % 2
        crop = xpad[idx, :, a:a + 32, b:b + 32]
        out[idx] = torch.flip(crop, dims=[3]) if f else crop
    return out


def run(args, seed, data, device, dtype):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xtr_u8, ytr_np, xte_u8, yte_np = data
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)

    t0 = time.perf_counter()
    # Preprocess on the device: normalise, whitening stats, reflect pad 4.
    xtr = torch.from_numpy(normalise(xtr_u8)).to(device)
    xte = torch.from_numpy(normalise(xte_u8)).to(device)
    ytr = torch.from_numpy(ytr_np).to(device)
    yte = torch.from_numpy(yte_np).to(device)
    W = whitening_filter(xtr[:args.whiten_images], eps=1e-2)
    xpad = F.pad(xtr, (4, 4, 4, 4), mode="reflect").to(dtype)
    xte = xte.to(dtype)
    sync()
    pre_s = time.perf_counter() - t0

    model = N3(W, width=args.width).to(device)
    if dtype != torch.float32:
        model = model.to(dtype)
        for m in model.modules():  # BN weights and running stats stay fp32
            if isinstance(m, GhostBN):
                m.float()
    model = model.to(memory_format=mf)
    ema = N3(W, width=args.width).to(device)
    ema.load_state_dict(model.state_dict())
    ema = ema.to(dtype) if dtype != torch.float32 else ema
    for m in ema.modules():
        if isinstance(m, GhostBN):
            m.float()
    ema = ema.to(memory_format=mf)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        ([p for n, p in params if "bias" not in n], 1.0, 1.0),
        ([p for n, p in params if "bias" in n], 64.0, 1 / 64),
    ]
    moms = {id(p): torch.zeros_like(p) for _, p in params}
    bs, epochs = args.batch, args.epochs
    knots = [(0, 0.0), (epochs / 5, 1.0), (epochs - 2, 0.1)]
    steps = len(ytr_np) // bs  # drop_last
    if steps < 1:
        raise SystemExit("torch_p8_reference: %d training images < batch %d" % (len(ytr_np), bs))

    # Warm-up (cuDNN autotune) on random batches, not timed; reset after.
    if args.warmup:
        state = {k: v.clone() for k, v in model.state_dict().items()}
        for _ in range(args.warmup):
            xb = torch.randn(bs, 3, 32, 32, device=device, dtype=dtype).to(memory_format=mf)
            yb = torch.randint(0, 10, (bs,), device=device)
            model.zero_grad(set_to_none=True)
            smoothed_loss(model(xb), yb).backward()
        model.load_state_dict(state)
        model.zero_grad(set_to_none=True)
        sync()

    history, train_s, step = [], 0.0, 0
    for epoch in range(epochs):
        model.train()
        sync()
        t = time.perf_counter()
        perm = torch.from_numpy(rng.permutation(len(ytr_np))).to(device)
        xa = augment(xpad[perm], rng).contiguous(memory_format=mf)
        ya = ytr[perm]
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        for i in range(steps):
            step += 1
            lam = lr_at(step / steps, knots)
            xb, yb = xa[i * bs:(i + 1) * bs], ya[i * bs:(i + 1) * bs]
            out = model(xb)
            loss = smoothed_loss(out, yb)
            for p in model.parameters():
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for ps, lr_mul, wd_mul in groups:
                    lr, wd = lam * lr_mul / bs, 5e-4 * bs * wd_mul
                    for p in ps:
                        g, v = p.grad, moms[id(p)]
                        if args.update == "page":
                            dw = (g + wd * p).mul_(-lr)
                            v.mul_(0.9).add_(dw)
                            p.add_(dw.add_(v, alpha=0.9))
                        else:
                            g = g + wd * p
                            v.mul_(0.9).add_(g)
                            p.add_(g.add_(v, alpha=0.9), alpha=-lr)
                if step % 5 == 0:
                    rho = 0.99 ** 5
                    for (k, ve), vm in zip(ema.state_dict().items(), model.state_dict().values()):
                        if ve.dtype.is_floating_point:
                            ve.mul_(rho).add_(vm.to(ve.dtype), alpha=1 - rho)
                loss_sum += loss.detach().float()
                correct += (out.argmax(1) == yb).sum()
        sync()
        train_s += time.perf_counter() - t
        history.append({"epoch": epoch + 1, "lr": lam, "train_loss": float(loss_sum) / (steps * bs),
                        "train_acc": float(correct) / (steps * bs), "elapsed": pre_s + train_s})

    def evaluate(m, tta):
        m.eval()
        accs, losses = 0, 0.0
        with torch.no_grad():
            for i in range(0, len(yte_np), 1000):
                xb = xte[i:i + 1000].contiguous(memory_format=mf)
                yb = yte[i:i + 1000]
                out = m(xb).float()
                if tta:
                    out = (out + m(torch.flip(xb, dims=[3])).float()) / 2
                losses += float(smoothed_loss(out, yb, eps=0.0))
                accs += int((out.argmax(1) == yb).sum())
        m.train()
        return accs / len(yte_np), losses / len(yte_np)

    t = time.perf_counter()
    acc, loss = evaluate(ema, False)
    tta_acc, _ = evaluate(ema, True)
    model_acc, _ = evaluate(model, False)
    eval_s = time.perf_counter() - t
    return {
        "seed": seed, "device": str(device), "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "update": args.update, "dtype": str(dtype).replace("torch.", ""), "channels_last": args.channels_last,
        "train_images": len(ytr_np), "test_images": len(yte_np), "batch": bs, "epochs": epochs,
        "steps_per_epoch": steps, "width": args.width,
        "preprocess_seconds": pre_s, "train_seconds": train_s, "dawnbench_seconds": pre_s + train_s,
        "eval_seconds": eval_s, "test_acc_ema": acc, "test_loss_ema": loss, "tta_acc_ema": tta_acc,
        "test_acc_model": model_acc, "epochs_log": history,
    }


def count_params(width):
    m = N3(torch.zeros(27, 3, 3, 3), width=width)
    return {"trainable": sum(p.numel() for p in m.parameters() if p.requires_grad),
            "frozen": sum(p.numel() for p in m.parameters() if not p.requires_grad)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="", help="cifar-10-batches-bin folder (empty: synthetic)")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds, one run each")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--width", type=float, default=1.0, help="channel width multiplier (1 = the blog)")
    ap.add_argument("--whiten-images", type=int, default=10000)
    ap.add_argument("--limit-train", type=int, default=0)
    ap.add_argument("--limit-test", type=int, default=0)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--dtype", default="auto", help="auto (fp16 on cuda, fp32 on cpu), fp32, fp16, bf16")
    ap.add_argument("--warmup", type=int, default=-1, help="random warm-up steps (default 3 on cuda, 0 on cpu)")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads")
    ap.add_argument("--update", default="torch", choices=["torch", "page"],
                    help="SGD update form: torch (speedrun's engines) or page (cifar10-fast)")
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run for tests")
    ap.add_argument("--count-params", action="store_true")
    args = ap.parse_args()

    if args.count_params:
        print(json.dumps(count_params(args.width)))
        return
    if args.smoke:
        args.device, args.width, args.epochs, args.batch = "cpu", 0.125, 3, 64
        args.limit_train = args.limit_train or 128
        args.limit_test = args.limit_test or 100
        args.whiten_images = min(args.whiten_images, 128)
    if args.epochs < 3:
        raise SystemExit("torch_p8_reference: --epochs %d: the schedule (0,0)(E/5,1)(E-2,0.1) needs E >= 3" % args.epochs)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    if args.dtype == "auto":
        dtype = torch.float16 if device.type == "cuda" else torch.float32
    else:
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    if args.warmup < 0:
        args.warmup = 3 if device.type == "cuda" else 0
    args.channels_last = True
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if args.data:
        data = load_cifar(args.data, args.limit_train, args.limit_test)
    else:
        data = synthetic(args.limit_train or 5000, args.limit_test or 1000, 12345)
    for s in [int(v) for v in args.seeds.split(",") if v != ""]:
        r = run(args, s, data, device, dtype)
        if args.smoke:  # one process for the tests: torch imports slowly
            r["full_width_params"] = count_params(1.0)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
