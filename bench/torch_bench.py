#!/usr/bin/env python3
"""PyTorch CPU counterpart of `cargo run --release -p scoreprobe-nn --example bench`.

Same architectures (scoreprobe-nn's Mlp 3x128 with time projections, and the two-resolution
U-Net with widths 32/64, GroupNorm(8), attention at 14x14), same batch sizes (512 / 64), same
training step (DSM ε-MSE, backward, global-norm clip 1.0, AdamW, EMA), 2 threads.

    python3 bench/torch_bench.py [--quick]
"""
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def time_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = (t * 1000.0)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class Mlp(nn.Module):
    def __init__(self, dim, hidden=128, depth=3, time_dim=64):
        super().__init__()
        self.time_dim = time_dim
        self.time = nn.Linear(time_dim, hidden)
        self.layers = nn.ModuleList([nn.Linear(dim if i == 0 else hidden, hidden) for i in range(depth)])
        self.tproj = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(depth)])
        self.out = nn.Linear(hidden, dim)

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


def bench(name, net, make_x0, batch, steps, evals, lr):
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
    cpu_train = time.process_time() - cpu0
    x = make_x0(batch)
    t = torch.full((batch,), 0.5)
    with torch.no_grad():
        net(x, t)
        t0 = time.perf_counter()
        cpu1 = time.process_time()
        for _ in range(evals):
            net(x, t).sum().item()
        fwd = time.perf_counter() - t0
        cpu_fwd = time.process_time() - cpu1
    nparams = sum(p.numel() for p in net.parameters())
    print(f"{name:<28} params {nparams:>7}  train {steps / total:>8.2f} steps/s ({1e3 * total / steps:.2f} ms/step, cpu {1e3 * cpu_train / steps:.0f} ms/step)"
          f"  sampling {evals * batch / fwd:>10.0f} evals·batch/s ({1e3 * fwd / evals:.2f} ms/eval, cpu {1e3 * cpu_fwd / evals:.1f} ms/eval)")


def main():
    quick = "--quick" in sys.argv
    mlp_steps, mlp_evals, unet_steps, unet_evals = (50, 50, 3, 3) if quick else (500, 500, 20, 20)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    rng = np.random.default_rng(0)
    bench("mlp d=2 3x128 batch 512", Mlp(2), lambda b: torch.tensor(ring8(b, rng), dtype=torch.float32), 512,
          mlp_steps, mlp_evals, 1e-3)
    bench("unet 28x28 32/64 batch 64", Unet(), lambda b: torch.rand(b, 1, 28, 28) * 2 - 1, 64,
          unet_steps, unet_evals, 2e-4)


if __name__ == "__main__":
    main()
