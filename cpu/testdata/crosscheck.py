"""PyTorch side of cpu's TestTorchCrossCheck.

Reads JSON files written by the Go test, one per case, each with: the Spec (layers and params),
the initial params, BN running stats, an NHWC batch with labels and the
training recipe. Interprets the Spec with torch.nn.functional in float64
(with config.bf16, each convolution reads bf16-rounded copies of its
input, weights and output gradient, as speedrun's bf16 convolutions do),
takes one torch.optim.SGD step per entry of config.lrs, and prints a JSON
list (one object per case) with the loss sum of each step, the gradients
of the last step and the final params and BN running stats, all in the Go
layouts (OIHW weights; split-major stats).
"""
import json
import sys

import torch
import torch.nn.functional as F


def bf16(t):
    """Round to bfloat16 (ties to even) and back: what oneDNN's reorder of
    the fp32 operands gives a bf16 convolution."""
    return t.to(torch.float32).to(torch.bfloat16).to(t.dtype)


class BF16Conv(torch.autograd.Function):
    """conv2d on bf16-rounded operands, accumulated in float64: forward
    reads rounded x and w; backward data reads rounded dy and w; backward
    weights rounded x and dy."""

    @staticmethod
    def forward(ctx, x, w, stride, pad):
        ctx.save_for_backward(x, w)
        ctx.stride, ctx.pad = stride, pad
        return F.conv2d(bf16(x), bf16(w), stride=stride, padding=pad)

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        dx = torch.nn.grad.conv2d_input(x.shape, bf16(w), bf16(dy), stride=ctx.stride, padding=ctx.pad)
        dw = torch.nn.grad.conv2d_weight(bf16(x), w.shape, bf16(dy), stride=ctx.stride, padding=ctx.pad)
        return dx, dw, None, None


def main():
    torch.set_num_threads(2)
    print(json.dumps([run(json.load(open(f))) for f in sys.argv[1:]]))


def run(d):
    spec, cfg = d["spec"], d["config"]
    dt = torch.float64
    params = [torch.tensor(p["data"], dtype=dt).reshape(p["shape"]).requires_grad_(not p["frozen"]) for p in d["params"]]
    stats = {int(k): [torch.tensor(v[0], dtype=dt), torch.tensor(v[1], dtype=dt)] for k, v in d["bn"].items()}
    n = len(d["y"])
    c, h, w = spec["input"]
    x = torch.tensor(d["x"], dtype=dt).reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(d["y"], dtype=torch.long)

    groups = []
    for p, meta in zip(params, d["params"]):
        if meta["frozen"]:
            continue
        lr, wd = cfg["lr"] / cfg["batch"], cfg["wd"] * cfg["batch"]
        if meta["role"] == "bn_bias":
            lr, wd = lr * cfg["bias_lr_mul"], wd / cfg["bias_wd_div"]
        groups.append({"params": [p], "lr": lr, "weight_decay": wd})
    opt = torch.optim.SGD(groups, lr=1.0, momentum=cfg["momentum"], nesterov=cfg["nesterov"])

    def act(kind, alpha, v):
        if kind == "relu":
            return F.relu(v)
        if kind == "celu":
            return F.celu(v, alpha)
        return v

    def forward():
        vals = []
        for l in spec["layers"]:
            ins = [vals[i] for i in l["inputs"]]
            op = l["op"]
            if op == "input":
                v = x
            elif op == "conv":
                if cfg.get("bf16"):
                    v = BF16Conv.apply(ins[0], params[l["params"][0]], l["stride"], l["pad"])
                else:
                    v = F.conv2d(ins[0], params[l["params"][0]], stride=l["stride"], padding=l["pad"])
            elif op == "bn":
                s = stats[l["index"]]
                g = l["ghost"]
                if g > 0:
                    # Ghost batches are contiguous groups of g samples (the
                    # kernels' layout; Page's view(-1, C*splits, H, W)
                    # interleaves them, which is the same in distribution).
                    xi = ins[0]
                    nn_, cc, hh, ww = xi.shape
                    splits = nn_ // g
                    z = xi.reshape(splits, g, cc, hh, ww).permute(1, 0, 2, 3, 4).reshape(g, splits * cc, hh, ww)
                    z = F.batch_norm(z, s[0], s[1], params[l["params"][0]].repeat(splits), params[l["params"][1]].repeat(splits),
                                     True, 0.1, 1e-5)
                    v = z.reshape(g, splits, cc, hh, ww).permute(1, 0, 2, 3, 4).reshape(nn_, cc, hh, ww)
                else:
                    v = F.batch_norm(ins[0], s[0], s[1], params[l["params"][0]], params[l["params"][1]], True, 0.1, 1e-5)
            elif op == "act":
                v = act(l["act"], l["alpha"], ins[0])
            elif op == "maxpool":
                v = F.max_pool2d(ins[0], l["k"])
            elif op == "globalmaxpool":
                v = torch.amax(ins[0], dim=(2, 3))
            elif op == "globalavgpool":
                v = torch.mean(ins[0], dim=(2, 3))
            elif op == "add":
                v = ins[0] + ins[1]
            elif op == "concat":
                v = torch.cat(ins, dim=1)
            elif op == "linear":
                b = params[l["params"][1]] if len(l["params"]) > 1 else None
                v = F.linear(ins[0], params[l["params"][0]], b)
            elif op == "scale":
                v = ins[0] * l["scale"]
            else:
                raise SystemExit("op " + op)
            vals.append(v)
        return vals[-1]

    losses = []
    for lr in cfg["lrs"]:
        for grp, meta in zip(opt.param_groups, [m for m in d["params"] if not m["frozen"]]):
            mul = cfg["bias_lr_mul"] if meta["role"] == "bn_bias" else 1.0
            grp["lr"] = lr / cfg["batch"] * mul
        opt.zero_grad()
        loss = F.cross_entropy(forward(), y, reduction="sum", label_smoothing=cfg["smoothing"])
        loss.backward()
        grads = [(p.grad.tolist() if p.grad is not None else None) for p in params]
        opt.step()
        losses.append(loss.item())

    def flat(t):
        return t.detach().reshape(-1).tolist()

    out = {
        "losses": losses,
        "grads": [(flat(p.grad) if p.grad is not None else None) for p in params],
        "params": [flat(p) for p in params],
        "bn": {str(k): [flat(v[0]), flat(v[1])] for k, v in stats.items()},
    }
    return out


if __name__ == "__main__":
    main()
