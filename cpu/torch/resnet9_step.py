"""PyTorch reference for `runner bench --torch`: times ResNet-9 (or N3,
the post-8 net: frozen 3x3 whitening conv, 1x1 prep conv, conv-pool-BN-act
order, ghost BN of 32 with frozen scales, CELU 0.3, logits x 1/16)
training steps (forward, summed cross-entropy, backward, Nesterov SGD
with coupled weight decay) on random data, channels_last, and prints one
JSON line (images_per_sec from the median step; cpu_seconds of the
process over the timed steps; peak_rss_bytes, the process's VmHWM: not
its rusage, which Linux seeds on execve with the high-water mark of the
address space the exec replaced, here the runner's own).

With PRECISION bf16 the forward pass and the loss run under
torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's fastest CPU mode on
a CPU with avx512_bf16 (weights, gradients and the optimizer stay fp32).

Usage: python3 resnet9_step.py BATCH STEPS WARMUP WIDTH THREADS SEED [PRECISION [NET]]
(NET: resnet9, the default, or final)
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def cba(ci, co):
    return [nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU()]


class GhostBN(nn.BatchNorm2d):
    """Page's GhostBatchNorm: batch statistics per group of `ghost`
    images, running statistics per group; the scale frozen at 1."""

    def __init__(self, c, ghost, batch):
        self.splits = max(1, batch // ghost)
        super().__init__(c)
        self.weight.requires_grad_(False)
        self.register_buffer("running_mean", torch.zeros(c * self.splits))
        self.register_buffer("running_var", torch.ones(c * self.splits))

    def forward(self, x):
        n, c, h, w = x.shape
        if not self.training:
            return super().forward(x)
        return F.batch_norm(x.reshape(-1, c * self.splits, h, w), self.running_mean, self.running_var,
                            self.weight.repeat(self.splits), self.bias.repeat(self.splits),
                            True, self.momentum, self.eps).view(n, c, h, w)


def n3(width, batch):
    w = lambda c: max(1, round(c * width))
    ghost = 32 if batch % 32 == 0 else batch

    def bn_act(c):
        return [GhostBN(c, ghost, batch), nn.CELU(0.3)]

    def conv_pool(ci, co):
        return [nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.MaxPool2d(2), *bn_act(co)]

    class Res3(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.f = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), *bn_act(c),
                                   nn.Conv2d(c, c, 3, padding=1, bias=False), *bn_act(c))

        def forward(self, x):
            return x + self.f(x)

    whiten = nn.Conv2d(3, 27, 3, padding=1, bias=False)
    whiten.weight.requires_grad_(False)
    return nn.Sequential(
        whiten, nn.Conv2d(27, w(64), 1, bias=False), *bn_act(w(64)),
        *conv_pool(w(64), w(128)), Res3(w(128)),
        *conv_pool(w(128), w(256)),
        *conv_pool(w(256), w(512)), Res3(w(512)),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(w(512), 10, bias=False), Scale(1 / 16),
    )


class Res(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.f = nn.Sequential(*cba(c, c), *cba(c, c))

    def forward(self, x):
        return x + self.f(x)


class Scale(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


def resnet9(width):
    w = lambda c: max(1, round(c * width))
    return nn.Sequential(
        *cba(3, w(64)),
        *cba(w(64), w(128)), nn.MaxPool2d(2), Res(w(128)),
        *cba(w(128), w(256)), nn.MaxPool2d(2),
        *cba(w(256), w(512)), nn.MaxPool2d(2), Res(w(512)),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(w(512), 10, bias=False), Scale(0.125),
    )


def main():
    batch, steps, warmup = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    width, threads, seed = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    precision = sys.argv[7] if len(sys.argv) > 7 else "f32"
    if precision not in ("f32", "bf16"):
        sys.exit("precision %r: want f32 or bf16" % precision)
    net = sys.argv[8] if len(sys.argv) > 8 else "resnet9"
    if net not in ("resnet9", "final"):
        sys.exit("net %r: want resnet9 or final" % net)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = (resnet9(width) if net == "resnet9" else n3(width, batch)).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.4 / batch, momentum=0.9, nesterov=True, weight_decay=5e-4 * batch)
    x = torch.randn(batch, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    times = []
    for i in range(warmup + steps):
        if i == warmup:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    s = sorted(times)
    med = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    print(json.dumps({"images_per_sec": batch / med, "step_seconds": times, "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_seconds": cpu, "precision": precision, "net": net, "peak_rss_bytes": vm_hwm()}))


def vm_hwm():
    """The process's peak resident set in bytes (VmHWM), 0 where /proc has none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    main()
