//! Per-sample CPU kernels of the fused U-Net pass ([`super::unet`]): GroupNorm (+ SiLU),
//! single-head self-attention, nearest ×2 upsampling and small dense layers, each forward and
//! backward on one sample's channel-major (c, h·w) activations. Parameter gradients are
//! accumulated into the caller's slices.

use super::simd::{add_assign, gemm, sigmoid_f32, Mat};
use scoreprobe_core::simd_dispatch;

/// Per-group (mean, 1/√(var + ε)) of a GroupNorm forward pass.
pub type GroupStats = (f32, f32);

#[inline(always)]
fn sums_body(x: &[f32]) -> (f64, f64) {
    // f32 partial sums in 16 lanes over short runs, combined in f64
    let (mut s, mut ss) = (0f64, 0f64);
    for run in x.chunks(1024) {
        let (mut a, mut b) = ([0f32; 16], [0f32; 16]);
        let mut it = run.chunks_exact(16);
        for c in &mut it {
            for q in 0..16 {
                a[q] += c[q];
                b[q] += c[q] * c[q];
            }
        }
        for &v in it.remainder() {
            a[0] += v;
            b[0] += v * v;
        }
        s += a.iter().map(|&v| v as f64).sum::<f64>();
        ss += b.iter().map(|&v| v as f64).sum::<f64>();
    }
    (s, ss)
}

simd_dispatch!(fn sums(x: &[f32]) -> (f64, f64) => sums_body);

#[inline(always)]
fn affine_body(x: &[f32], a: f32, b: f32, y: &mut [f32], silu: bool) {
    if silu {
        for (y, &v) in y.iter_mut().zip(x) {
            let z = a * v + b;
            *y = z * sigmoid_f32(z);
        }
    } else {
        for (y, &v) in y.iter_mut().zip(x) {
            *y = a * v + b;
        }
    }
}

simd_dispatch!(fn affine(x: &[f32], a: f32, b: f32, y: &mut [f32], silu: bool) => affine_body);

/// GroupNorm of one sample x (c, p) with `groups` groups, affine γ, β, then SiLU when `silu`;
/// writes y and the groups' statistics.
#[allow(clippy::too_many_arguments)]
pub fn group_norm(
    x: &[f32],
    p: usize,
    eps: f64,
    gamma: &[f32],
    beta: &[f32],
    silu: bool,
    y: &mut [f32],
    stats: &mut [GroupStats],
) {
    let c = gamma.len();
    let groups = stats.len();
    let cg = c / groups;
    let m = (cg * p) as f64;
    for (gi, st) in stats.iter_mut().enumerate() {
        let (s, ss) = sums(&x[gi * cg * p..(gi + 1) * cg * p]);
        let mean = s / m;
        let var = (ss / m - mean * mean).max(0.0);
        *st = (mean as f32, (1.0 / (var + eps).sqrt()) as f32);
    }
    for ch in 0..c {
        let (mean, inv) = stats[ch / cg];
        let a = gamma[ch] * inv;
        affine(&x[ch * p..(ch + 1) * p], a, beta[ch] - mean * a, &mut y[ch * p..(ch + 1) * p], silu);
    }
}

#[inline(always)]
fn gn_dz_body(x: &[f32], dy: &[f32], a: f32, b: f32, dz: &mut [f32]) {
    for ((d, &v), &g) in dz.iter_mut().zip(x).zip(dy) {
        let z = a * v + b;
        let s = sigmoid_f32(z);
        *d = g * (s * (1.0 + z * (1.0 - s)));
    }
}

simd_dispatch!(
    /// dz = dy ⊙ SiLU'(a x + b).
    fn gn_dz(x: &[f32], dy: &[f32], a: f32, b: f32, dz: &mut [f32]) => gn_dz_body
);

#[inline(always)]
fn gn_sums_body(x: &[f32], dz: &[f32], mean: f32, inv: f32) -> (f32, f32) {
    let (mut s1, mut s2) = ([0f32; 16], [0f32; 16]);
    let (mut xc, mut dc) = (x.chunks_exact(16), dz.chunks_exact(16));
    for (xv, dv) in (&mut xc).zip(&mut dc) {
        for q in 0..16 {
            s1[q] += dv[q];
            s2[q] += dv[q] * ((xv[q] - mean) * inv);
        }
    }
    for (&v, &d) in xc.remainder().iter().zip(dc.remainder()) {
        s1[0] += d;
        s2[0] += d * ((v - mean) * inv);
    }
    (s1.iter().sum(), s2.iter().sum())
}

simd_dispatch!(
    /// (Σ dz, Σ dz·x̂) with x̂ = (x − mean)·inv.
    fn gn_sums(x: &[f32], dz: &[f32], mean: f32, inv: f32) -> (f32, f32) => gn_sums_body
);

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gn_pass2_body(x: &[f32], dz: &[f32], gamma: f32, mean: f32, inv: f32, m1: f32, m2: f32, dx: &mut [f32], acc: bool) {
    if acc {
        for ((d, &v), &g) in dx.iter_mut().zip(x).zip(dz) {
            *d += inv * (gamma * g - m1 - (v - mean) * inv * m2);
        }
    } else {
        for ((d, &v), &g) in dx.iter_mut().zip(x).zip(dz) {
            *d = inv * (gamma * g - m1 - (v - mean) * inv * m2);
        }
    }
}

simd_dispatch!(
    fn gn_pass2(x: &[f32], dz: &[f32], gamma: f32, mean: f32, inv: f32, m1: f32, m2: f32, dx: &mut [f32], acc: bool) => gn_pass2_body
);

/// Backward of [`group_norm`]: dx += ∂/∂x (dx = ∂/∂x unless `acc`), dγ, dβ += their gradients,
/// from dy; `tmp` holds c·p floats.
#[allow(clippy::too_many_arguments)]
pub fn group_norm_backward(
    x: &[f32],
    p: usize,
    gamma: &[f32],
    beta: &[f32],
    silu: bool,
    stats: &[GroupStats],
    dy: &[f32],
    dx: &mut [f32],
    acc: bool,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    tmp: &mut [f32],
) {
    let c = gamma.len();
    let cg = c / stats.len();
    let m = (cg * p) as f32;
    for (gi, &(mean, inv)) in stats.iter().enumerate() {
        // pass 1: dz = ∂L/∂(γx̂ + β) per channel, with Σdz and Σdz·x̂
        let (mut g1, mut g2) = (0f64, 0f64);
        for ch in gi * cg..(gi + 1) * cg {
            let r = ch * p..(ch + 1) * p;
            let a = gamma[ch] * inv;
            let dz: &[f32] = if silu {
                gn_dz(&x[r.clone()], &dy[r.clone()], a, beta[ch] - mean * a, &mut tmp[r.clone()]);
                &tmp[r.clone()]
            } else {
                &dy[r.clone()]
            };
            let (s1, s2) = gn_sums(&x[r], dz, mean, inv);
            dbeta[ch] += s1;
            dgamma[ch] += s2;
            g1 += (gamma[ch] * s1) as f64;
            g2 += (gamma[ch] * s2) as f64;
        }
        // pass 2: dx = inv·(γ dz − mean(γ dz) − x̂·mean(γ dz·x̂)) over the group
        let (m1, m2) = ((g1 / m as f64) as f32, (g2 / m as f64) as f32);
        for (ch, &gm) in gamma.iter().enumerate().take((gi + 1) * cg).skip(gi * cg) {
            let r = ch * p..(ch + 1) * p;
            let dz = if silu { &tmp[r.clone()] } else { &dy[r.clone()] };
            gn_pass2(&x[r.clone()], dz, gm, mean, inv, m1, m2, &mut dx[r], acc);
        }
    }
}

/// Nearest-neighbour ×2 upsampling of one sample (c, h, w) → (c, 2h, 2w).
pub fn upsample2x(x: &[f32], h: usize, w: usize, y: &mut [f32]) {
    for (ys, xs) in y.chunks_exact_mut(4 * h * w).zip(x.chunks_exact(h * w)) {
        for iy in 0..h {
            let src = &xs[iy * w..(iy + 1) * w];
            let (r0, r1) = ys[2 * iy * 2 * w..(2 * iy + 2) * 2 * w].split_at_mut(2 * w);
            for (ix, &v) in src.iter().enumerate() {
                r0[2 * ix] = v;
                r0[2 * ix + 1] = v;
            }
            r1.copy_from_slice(r0);
        }
    }
}

/// Backward of [`upsample2x`]: dx (c, h, w) = 2×2 block sums of dy (written).
pub fn upsample2x_backward(dy: &[f32], h: usize, w: usize, dx: &mut [f32]) {
    for (ds, gs) in dx.chunks_exact_mut(h * w).zip(dy.chunks_exact(4 * h * w)) {
        for iy in 0..h {
            let (r0, r1) = (&gs[2 * iy * 2 * w..(2 * iy + 1) * 2 * w], &gs[(2 * iy + 1) * 2 * w..(2 * iy + 2) * 2 * w]);
            for ix in 0..w {
                ds[iy * w + ix] = r0[2 * ix] + r0[2 * ix + 1] + r1[2 * ix] + r1[2 * ix + 1];
            }
        }
    }
}

#[inline(always)]
fn softmax_rows_body(s: &mut [f32], n: usize, scale: f32) {
    for row in s.chunks_exact_mut(n) {
        let mut mx = f32::NEG_INFINITY;
        for v in row.iter_mut() {
            *v *= scale;
            mx = mx.max(*v);
        }
        for v in row.iter_mut() {
            *v = super::simd::exp_f32(*v - mx);
        }
        // sixteen partial sums, so that the sum vectorises
        let mut acc = [0f32; 16];
        let mut it = row.chunks_exact(16);
        for c in &mut it {
            for q in 0..16 {
                acc[q] += c[q];
            }
        }
        let sum: f32 = acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>();
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

simd_dispatch!(
    /// Row-wise softmax of `scale`·s (rows of length n), in place.
    pub fn softmax_rows(s: &mut [f32], n: usize, scale: f32) => softmax_rows_body
);

#[inline(always)]
fn softmax_backward_body(a: &[f32], da: &mut [f32], n: usize, scale: f32) {
    for (ar, dr) in a.chunks_exact(n).zip(da.chunks_exact_mut(n)) {
        let mut acc = [0f32; 16];
        let (mut ia, mut id) = (ar.chunks_exact(16), dr.chunks_exact(16));
        for (x, y) in (&mut ia).zip(&mut id) {
            for q in 0..16 {
                acc[q] += x[q] * y[q];
            }
        }
        let dot: f32 =
            acc.iter().sum::<f32>() + ia.remainder().iter().zip(id.remainder()).map(|(x, y)| x * y).sum::<f32>();
        for (d, &x) in dr.iter_mut().zip(ar) {
            *d = scale * x * (*d - dot);
        }
    }
}

simd_dispatch!(
    /// In place dA → ∂/∂s of A = softmax(scale·s) row-wise: scale·A ⊙ (dA − rowsum(dA ⊙ A)).
    pub fn softmax_backward(a: &[f32], da: &mut [f32], n: usize, scale: f32) => softmax_backward_body
);

/// Weights of the attention block (slices of the parameters).
pub struct AttnWeights<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    /// (3c, c) and (3c).
    pub qkv_w: &'a [f32],
    pub qkv_b: &'a [f32],
    /// (c, c) and (c).
    pub proj_w: &'a [f32],
    pub proj_b: &'a [f32],
}

/// Saved activations of one sample's attention block.
pub struct AttnCache<'a> {
    /// GroupNorm output (c, p) and its statistics.
    pub gn: &'a mut [f32],
    pub stats: &'a mut [GroupStats],
    /// q | k | v per token (p, 3c).
    pub qkv: &'a mut [f32],
    /// Attention weights (p, p).
    pub att: &'a mut [f32],
    /// Attention output per token (p, c).
    pub o: &'a mut [f32],
}

/// y (c, p) = x + proj(softmax(q kᵀ/√c) v)ᵀ with q, k, v = GroupNorm(x)ᵀ W_qkvᵀ + b (one head).
pub fn attention(x: &[f32], c: usize, p: usize, eps: f64, w: &AttnWeights, k: &mut AttnCache, y: &mut [f32]) {
    group_norm(x, p, eps, w.gamma, w.beta, false, k.gn, k.stats);
    super::simd::fill_rows(k.qkv, w.qkv_b);
    gemm(p, 3 * c, c, k.qkv, 3 * c, true, Mat::t(k.gn, p), Mat::t(w.qkv_w, c));
    let (q, kk) = (&k.qkv[..], &k.qkv[c..]);
    gemm(p, p, c, k.att, p, false, Mat::n(q, 3 * c), Mat::t(kk, 3 * c));
    softmax_rows(k.att, p, 1.0 / (c as f32).sqrt());
    gemm(p, c, p, k.o, c, false, Mat::n(k.att, p), Mat::n(&k.qkv[2 * c..], 3 * c));
    // y = x + (O W_projᵀ + b)ᵀ, computed channel-major: y = x + b + W_proj Oᵀ
    y.copy_from_slice(x);
    for (row, &b) in y.chunks_exact_mut(p).zip(w.proj_b) {
        row.iter_mut().for_each(|v| *v += b);
    }
    gemm(c, p, c, y, p, true, Mat::n(w.proj_w, c), Mat::t(k.o, c));
}

/// [`AttnCache`] read-only, for the backward pass.
pub struct AttnView<'a> {
    pub gn: &'a [f32],
    pub stats: &'a [GroupStats],
    pub qkv: &'a [f32],
    pub att: &'a [f32],
    pub o: &'a [f32],
}

/// Gradients of one sample's attention block (store order of the parameters).
pub struct AttnGrads<'a> {
    pub gamma: &'a mut [f32],
    pub beta: &'a mut [f32],
    pub qkv_w: &'a mut [f32],
    pub qkv_b: &'a mut [f32],
    pub proj_w: &'a mut [f32],
    pub proj_b: &'a mut [f32],
}

/// Backward of [`attention`]: dx += ∂/∂x (dx = ∂/∂x unless `acc`) from dy (c, p); `tmp` holds
/// [`attention_tmp_len`] floats.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    x: &[f32],
    c: usize,
    p: usize,
    w: &AttnWeights,
    k: &AttnView,
    dy: &[f32],
    dx: &mut [f32],
    acc: bool,
    g: &mut AttnGrads,
    tmp: &mut [f32],
) {
    let (dqkv, rest) = tmp.split_at_mut(p * 3 * c);
    let (do_, rest) = rest.split_at_mut(p * c);
    let (da, rest) = rest.split_at_mut(p * p);
    let (dgn, rest) = rest.split_at_mut(c * p);
    let gtmp = &mut rest[..c * p];
    // residual
    if acc {
        add_assign(dx, dy);
    } else {
        dx.copy_from_slice(dy);
    }
    // y = x + b + W_proj Oᵀ
    for (acc, row) in g.proj_b.iter_mut().zip(dy.chunks_exact(p)) {
        *acc += super::simd::sum_f32(row);
    }
    gemm(c, c, p, g.proj_w, c, true, Mat::n(dy, p), Mat::n(k.o, c));
    gemm(p, c, c, do_, c, false, Mat::t(dy, p), Mat::n(w.proj_w, c));
    // O = A v
    gemm(p, p, c, da, p, false, Mat::n(do_, c), Mat::t(&k.qkv[2 * c..], 3 * c));
    gemm(p, c, p, &mut dqkv[2 * c..], 3 * c, false, Mat::t(k.att, p), Mat::n(do_, c));
    // A = softmax(q kᵀ / √c)
    softmax_backward(k.att, da, p, 1.0 / (c as f32).sqrt());
    gemm(p, c, p, dqkv, 3 * c, false, Mat::n(da, p), Mat::n(&k.qkv[c..], 3 * c));
    gemm(p, c, p, &mut dqkv[c..], 3 * c, false, Mat::t(da, p), Mat::n(k.qkv, 3 * c));
    // qkv = GN(x)ᵀ W_qkvᵀ + b
    gemm(3 * c, c, p, g.qkv_w, c, true, Mat::t(dqkv, 3 * c), Mat::t(k.gn, p));
    super::simd::add_col_sums(g.qkv_b, dqkv);
    gemm(c, p, 3 * c, dgn, p, false, Mat::t(w.qkv_w, c), Mat::t(dqkv, 3 * c));
    group_norm_backward(x, p, w.gamma, w.beta, false, k.stats, dgn, dx, true, g.gamma, g.beta, gtmp);
}

/// Length of [`attention_backward`]'s scratch.
pub fn attention_tmp_len(c: usize, p: usize) -> usize {
    p * (6 * c + p)
}
