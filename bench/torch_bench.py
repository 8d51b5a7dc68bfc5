#!/usr/bin/env python3
"""PyTorch CPU counterpart of `cargo run --release -p scoreprobe-nn --example nn_bench`.

Same architectures (scoreprobe-nn's Mlp 3x128 with time projections, and the two-resolution
U-Net with widths 32/64, GroupNorm(8), attention at 14x14), same batch sizes (512 / 64), same
training step (DSM ε-MSE, backward, global-norm clip 1.0, AdamW, EMA), 2 threads. The critic
workloads fit the 2x64 time-conditioned scalar MLP of `scoreprobe_nn::critic_fit` on a fixed pool
(batch 512), the objective E[2 w·∇χ − |∇χ|²] by double backprop (`create_graph=True`); in 784-D
with 16 Rademacher directions per row, like scoreprobe above 64 dimensions.

    python3 bench/torch_bench.py [--quick] [--workload NAME]...

Workloads: mlp_train, mlp_sample, unet_train, unet_sample, critic_2d, critic_784d (all by
default). Besides a readable line, each prints `RESULT<TAB>workload<TAB>seconds per unit` (a
training step, one forward pass of the batch, a critic fit step), the format `bench/compare-nn.sh`
reads.
"""
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
torch.manual_seed(0)


def time_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = (t * 1000.0)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class Mlp(nn.Module):
    def __init__(self, dim, hidden=128, depth=3, time_dim=64, out_dim=None):
        super().__init__()
        self.time_dim = time_dim
        self.time = nn.Linear(time_dim, hidden)
        self.layers = nn.ModuleList([nn.Linear(dim if i == 0 else hidden, hidden) for i in range(depth)])
        self.tproj = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(depth)])
        self.out = nn.Linear(hidden, dim if out_dim is None else out_dim)

    def forward(self, x, t):
        e = F.silu(self.time(time_embedding(t, self.time_dim)))
        h = x
        for lin, tp in zip(self.layers, self.tproj):
            h = F.silu(lin(h) + tp(e))
        return self.out(h)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, groups, tdim):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x))) + self.temb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)

    def forward(self, x):
        n, c, h, w = x.shape
        tok = self.norm(x).reshape(n, c, h * w).transpose(1, 2)
        q, k, v = self.qkv(tok).split(c, dim=-1)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
        out = self.proj(att @ v).transpose(1, 2).reshape(n, c, h, w)
        return x + out


class Unet(nn.Module):
    def __init__(self, ch=1, widths=(32, 64), groups=8, attention=True, tdim=128):
        super().__init__()
        c0, c1 = widths
        self.tdim = tdim
        self.time1 = nn.Linear(tdim, tdim)
        self.time2 = nn.Linear(tdim, tdim)
        self.conv_in = nn.Conv2d(ch, c0, 3, padding=1)
        self.down0 = ResBlock(c0, c0, groups, tdim)
        self.downsample = nn.Conv2d(c0, c0, 3, stride=2, padding=1)
        self.down1 = ResBlock(c0, c1, groups, tdim)
        self.mid = ResBlock(c1, c1, groups, tdim)
        self.attn = Attention(c1, groups) if attention else None
        self.up1 = ResBlock(2 * c1, c1, groups, tdim)
        self.upconv = nn.Conv2d(c1, c1, 3, padding=1)
        self.up0 = ResBlock(c0 + c1, c0, groups, tdim)
        self.norm_out = nn.GroupNorm(groups, c0)
        self.conv_out = nn.Conv2d(c0, ch, 3, padding=1)

    def forward(self, x, t):
        h, w = x.shape[2:]
        e = F.silu(self.time2(F.silu(self.time1(time_embedding(t, self.tdim)))))
        s0 = self.down0(self.conv_in(x), e)
        s1 = self.down1(self.downsample(s0), e)
        m = self.mid(s1, e)
        if self.attn is not None:
            m = self.attn(m)
        u1 = self.up1(torch.cat([m, s1], 1), e)
        u1 = F.interpolate(self.upconv(u1), size=(h, w), mode="nearest")
        u0 = self.up0(torch.cat([u1, s0], 1), e)
        return self.conv_out(F.silu(self.norm_out(u0)))


def vp_alpha_sigma(t, bmin=0.1, bmax=20.0):
    log_ab = -(bmin * t + 0.5 * t * t * (bmax - bmin))
    return torch.exp(0.5 * log_ab), torch.sqrt(-torch.expm1(log_ab))


def ring8(n, rng):
    k = rng.integers(0, 8, n)
    a = 2 * np.pi * k / 8
    return np.stack([1.5 * np.cos(a), 1.5 * np.sin(a)], 1) + 0.1 * rng.standard_normal((n, 2))


def kernel():
    """The BLAS library torch was built with and the CPU kernels it dispatches to (e.g.
    `mkl:AVX512`)."""
    import re

    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return f"{blas.group(1) if blas else '?'}:{torch.backends.cpu.get_cpu_capability()}"


def result(workload, seconds):
    print(f"RESULT\t{workload}\t{seconds:.6e}\t{kernel()}", flush=True)


def train(name, workload, net, make_x0, batch, steps, lr):
    """DSM training steps; prints seconds per step (batch preparation included)."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    ema = [p.detach().clone() for p in net.parameters()]
    warm = 3
    total = 0.0
    for step in range(steps + warm):
        if step == warm:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        x0 = make_x0(batch)
        t = 1e-3 + (1 - 1e-3) * torch.rand(batch)
        eps = torch.randn_like(x0)
        a, s = vp_alpha_sigma(t)
        shape = (batch,) + (1,) * (x0.dim() - 1)
        xt = a.reshape(shape) * x0 + s.reshape(shape) * eps
        loss = ((net(xt, t) - eps) ** 2).mean()
        loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(0.999, (1 + step) / (10 + step))
            for e_, p in zip(ema, net.parameters()):
                e_.mul_(d).add_(p.detach(), alpha=1 - d)
        if step >= warm:
            total += time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    print(f"{name:<30} train {steps / total:>8.2f} steps/s ({1e3 * total / steps:.2f} ms/step, cpu {1e3 * cpu / steps:.1f} ms/step)")
    result(workload, total / steps)


def sample(name, workload, net, x, evals):
    """Forward passes of one batch (one score evaluation each); prints seconds per pass."""
    t = torch.full((x.shape[0],), 0.5)
    with torch.no_grad():
        net(x, t)
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        for _ in range(evals):
            net(x, t).sum().item()
        fwd = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    print(f"{name:<30} sampling {evals * x.shape[0] / fwd:>10.0f} evals·batch/s ({1e3 * fwd / evals:.2f} ms/eval, cpu {1e3 * cpu / evals:.1f} ms/eval)")
    result(workload, fwd / evals)


def critic(name, workload, d, steps, batch=512, pool=8192, hidden=64, depth=2, directions=16, exact_max_dim=64):
    """Critic fit steps on a fixed pool: minibatch, ∇ₓχ by autograd with create_graph, objective
    E[2 w·∇χ − |∇χ|²] (exact for d ≤ 64, else 16 Rademacher directions), AdamW with cosine lr."""
    g = torch.Generator().manual_seed(0)
    px = torch.randn(pool, d, generator=g, dtype=torch.float64)
    pw = 0.5 * px + torch.randn(pool, d, generator=g, dtype=torch.float64)
    pt = torch.rand(pool, generator=g, dtype=torch.float64) * 0.99 + 0.01
    centre, scale = px[:batch].mean(0), px[:batch].var(0).mean().sqrt()
    net = Mlp(d, hidden=hidden, depth=depth, time_dim=64, out_dim=1)
    lr = 2e-3
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    warm = 3
    total = 0.0
    for step in range(steps + warm):
        if step == warm:
            cpu0 = time.process_time()
        t0 = time.perf_counter()
        idx = torch.randperm(pool)[:batch]
        x = ((px[idx] - centre) / scale).float().requires_grad_(True)
        w = pw[idx].float()
        t = pt[idx].float()
        chi = net(x, t)
        (gy,) = torch.autograd.grad(chi.sum(), x, create_graph=True)
        grad = gy / scale
        if d <= exact_max_dim:
            terms = (2 * w * grad - grad * grad).sum(1)
        else:
            v = torch.randint(0, 2, (directions, batch, d), dtype=torch.float32) * 2 - 1
            vg = torch.einsum("knd,nd->kn", v, grad)
            vw = torch.einsum("knd,nd->kn", v, w)
            terms = (2 * vw * vg - vg * vg).mean(0)
        objective = terms.mean()
        objective.item()
        for group in opt.param_groups:
            group["lr"] = lr * (0.55 + 0.45 * math.cos(math.pi * step / (steps + warm)))
        opt.zero_grad(set_to_none=True)
        (-objective).backward()
        opt.step()
        if step >= warm:
            total += time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    print(f"{name:<30} fit {steps / total:>8.2f} steps/s ({1e3 * total / steps:.2f} ms/step, cpu {1e3 * cpu / steps:.1f} ms/step)")
    result(workload, total / steps)


def main():
    quick = "--quick" in sys.argv
    chosen = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--workload" and i + 1 < len(sys.argv)]
    reps = {
        "mlp_train": (30, 200), "mlp_sample": (50, 300), "unet_train": (3, 8), "unet_sample": (3, 10),
        "critic_2d": (30, 200), "critic_784d": (10, 50),
    }
    unknown = [w for w in chosen if w not in reps]
    if unknown:
        sys.exit(f"unknown workload(s) {unknown}; known: {list(reps)}")
    run = chosen or list(reps)
    n = {w: reps[w][0 if quick else 1] for w in run}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    rng = np.random.default_rng(0)
    if "mlp_train" in run:
        torch.manual_seed(0)
        train("mlp d=2 3x128 batch 512", "mlp_train", Mlp(2), lambda b: torch.tensor(ring8(b, rng), dtype=torch.float32),
              512, n["mlp_train"], 1e-3)
    if "mlp_sample" in run:
        torch.manual_seed(0)
        sample("mlp d=2 3x128 batch 512", "mlp_sample", Mlp(2), torch.rand(512, 2) * 2 - 1, n["mlp_sample"])
    if "unet_train" in run:
        torch.manual_seed(0)
        train("unet 28x28 32/64 batch 64", "unet_train", Unet(), lambda b: torch.rand(b, 1, 28, 28) * 2 - 1, 64,
              n["unet_train"], 2e-4)
    if "unet_sample" in run:
        torch.manual_seed(0)
        sample("unet 28x28 32/64 batch 64", "unet_sample", Unet(), torch.rand(64, 1, 28, 28) * 2 - 1, n["unet_sample"])
    if "critic_2d" in run:
        torch.manual_seed(0)
        critic("critic 2x64 d=2 batch 512", "critic_2d", 2, n["critic_2d"])
    if "critic_784d" in run:
        torch.manual_seed(0)
        critic("critic 2x64 d=784 batch 512", "critic_784d", 784, n["critic_784d"])


if __name__ == "__main__":
    main()
