//! Fused CPU ops for the U-Net's training step, each with a hand-written backward: the composed
//! candle versions spend most of their backward in broadcast reductions (`sum_keepdim` over the
//! batch and spatial axes) and per-op allocations.
//!
//! - [`group_norm`]: GroupNorm with affine γ, β, optionally followed by SiLU (one pass forward,
//!   two passes backward);
//! - [`add_channel_bias`]: x (n, c, h, w) + b (c) (the convolution bias; backward: per-channel sums);
//! - [`upsample2x`]: nearest-neighbour ×2 upsampling (backward: 2×2 block sums).
//!
//! Every function falls back to the composed candle ops off the CPU or for non-f32 tensors.

use super::simd::f32_slice;
use crate::error::Result;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

fn fast(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32
}

fn to_vec(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// GroupNorm over (n, c, h, w) with `groups` groups, ε = `eps`, affine γ, β (c,), then SiLU when
/// `silu`. Same values as the composed ops (mean and variance accumulated in f64).
pub fn group_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, groups: usize, eps: f64, silu: bool) -> Result<Tensor> {
    if !fast(x) {
        let (n, c, h, w) = x.dims4()?;
        let xg = x.reshape((n, groups, (c / groups) * h * w))?;
        let mean = xg.mean_keepdim(D::Minus1)?;
        let centred = xg.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let xhat = centred.broadcast_div(&(var + eps)?.sqrt()?)?.reshape((n, c, h, w))?;
        let y = xhat.broadcast_mul(&gamma.reshape((1, c, 1, 1))?)?.broadcast_add(&beta.reshape((1, c, 1, 1))?)?;
        return Ok(if silu { y.silu()? } else { y });
    }
    Ok(x.contiguous()?.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, GroupNormOp { groups, eps, silu })?)
}

struct GroupNormOp {
    groups: usize,
    eps: f64,
    silu: bool,
}

/// Per-(sample, group) mean and 1/√(var + ε) of a contiguous (c, hw) sample.
fn stats(xs: &[f32], groups: usize, eps: f64) -> Vec<(f32, f32)> {
    let m = xs.len() / groups;
    xs.chunks(m)
        .map(|g| {
            let mean = g.iter().map(|&v| v as f64).sum::<f64>() / m as f64;
            let var = g.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / m as f64;
            (mean as f32, (1.0 / (var + eps).sqrt()) as f32)
        })
        .collect()
}

impl CustomOp3 for GroupNormOp {
    fn name(&self) -> &'static str {
        "scoreprobe-group-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, gamma, beta) =
            (f32_slice(s1, l1, "group_norm")?, f32_slice(s2, l2, "group_norm")?, f32_slice(s3, l3, "group_norm")?);
        let (n, c, h, w) = l1.shape().dims4()?;
        let (hw, per) = (h * w, c * h * w);
        let cg = c / self.groups;
        let mut out = vec![0f32; n * per];
        out.par_chunks_mut(per).zip(x.par_chunks(per)).for_each(|(ys, xs)| {
            let st = stats(xs, self.groups, self.eps);
            for ch in 0..c {
                let (mean, inv) = st[ch / cg];
                let (a, b) = (inv * gamma[ch], beta[ch] - mean * inv * gamma[ch]);
                let (yc, xc) = (&mut ys[ch * hw..(ch + 1) * hw], &xs[ch * hw..(ch + 1) * hw]);
                if self.silu {
                    for (y, &v) in yc.iter_mut().zip(xc) {
                        let z = a * v + b;
                        *y = z * sigmoid(z);
                    }
                } else {
                    for (y, &v) in yc.iter_mut().zip(xc) {
                        *y = a * v + b;
                    }
                }
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, c, h, w) = x.dims4()?;
        let (hw, per) = (h * w, c * h * w);
        let cg = c / self.groups;
        let (xv, gv, gam, bet) = (to_vec(x)?, to_vec(grad)?, to_vec(gamma)?, to_vec(_beta)?);
        let mut dx = vec![0f32; n * per];
        // per sample: dx, and partial dγ, dβ
        let partial: Vec<(Vec<f64>, Vec<f64>)> = dx
            .par_chunks_mut(per)
            .zip(xv.par_chunks(per).zip(gv.par_chunks(per)))
            .map(|(dxs, (xs, gs))| {
                let st = stats(xs, self.groups, self.eps);
                let (mut dgam, mut dbet) = (vec![0f64; c], vec![0f64; c]);
                // dxs first holds dL/dx̂ = γ · dL/dz, z = γ x̂ + β
                for ch in 0..c {
                    let (mean, inv) = st[ch / cg];
                    let (mut sg, mut sb) = (0f64, 0f64);
                    let r = ch * hw..(ch + 1) * hw;
                    for ((d, &v), &g) in dxs[r.clone()].iter_mut().zip(&xs[r.clone()]).zip(&gs[r]) {
                        let xh = (v - mean) * inv;
                        let dz = if self.silu {
                            let z = gam[ch] * xh + bet[ch];
                            let s = sigmoid(z);
                            g * s * (1.0 + z * (1.0 - s))
                        } else {
                            g
                        };
                        sg += (dz * xh) as f64;
                        sb += dz as f64;
                        *d = dz * gam[ch];
                    }
                    dgam[ch] = sg;
                    dbet[ch] = sb;
                }
                // dx = inv · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ ⊙ x̂)) per group
                let m = cg * hw;
                for (gi, &(mean, inv)) in st.iter().enumerate() {
                    let r = gi * m..(gi + 1) * m;
                    let (mut s1, mut s2) = (0f64, 0f64);
                    for (&d, &v) in dxs[r.clone()].iter().zip(&xs[r.clone()]) {
                        s1 += d as f64;
                        s2 += (d * (v - mean) * inv) as f64;
                    }
                    let (m1, m2) = ((s1 / m as f64) as f32, (s2 / m as f64) as f32);
                    for (d, &v) in dxs[r.clone()].iter_mut().zip(&xs[r]) {
                        *d = inv * (*d - m1 - (v - mean) * inv * m2);
                    }
                }
                (dgam, dbet)
            })
            .collect();
        let (mut dgam, mut dbet) = (vec![0f64; c], vec![0f64; c]);
        for (a, b) in &partial {
            for ch in 0..c {
                dgam[ch] += a[ch];
                dbet[ch] += b[ch];
            }
        }
        let dev = x.device();
        let f = |v: Vec<f64>| Tensor::from_vec(v.into_iter().map(|a| a as f32).collect::<Vec<_>>(), c, dev);
        Ok((Some(Tensor::from_vec(dx, (n, c, h, w), dev)?), Some(f(dgam)?), Some(f(dbet)?)))
    }
}

/// x (n, c, h, w) + b (c,) broadcast over the batch and the pixels.
pub fn add_channel_bias(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    let c = b.dim(0)?;
    if !fast(x) {
        return Ok(x.broadcast_add(&b.reshape((1, c, 1, 1))?)?);
    }
    Ok(x.contiguous()?.apply_op2(&b.contiguous()?, BiasOp)?)
}

struct BiasOp;

impl CustomOp2 for BiasOp {
    fn name(&self) -> &'static str {
        "scoreprobe-channel-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, b) = (f32_slice(s1, l1, "bias")?, f32_slice(s2, l2, "bias")?);
        let (_, c, h, w) = l1.shape().dims4()?;
        let hw = h * w;
        let mut out = x.to_vec();
        out.par_chunks_mut(c * hw).for_each(|ys| {
            for (ch, yc) in ys.chunks_mut(hw).enumerate() {
                yc.iter_mut().for_each(|y| *y += b[ch]);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (_, c, h, w) = x.dims4()?;
        let gv = to_vec(grad)?;
        let mut db = vec![0f64; c];
        for (i, chunk) in gv.chunks(h * w).enumerate() {
            db[i % c] += chunk.iter().map(|&v| v as f64).sum::<f64>();
        }
        let db = Tensor::from_vec(db.into_iter().map(|v| v as f32).collect::<Vec<_>>(), c, b.device())?;
        Ok((Some(grad.clone()), Some(db)))
    }
}

/// Nearest-neighbour upsampling of x (n, c, h, w) to (n, c, 2h, 2w).
pub fn upsample2x(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if !fast(x) {
        return Ok(x.upsample_nearest2d(2 * h, 2 * w)?);
    }
    Ok(x.contiguous()?.apply_op1(Upsample2xOp)?)
}

struct Upsample2xOp;

impl CustomOp1 for Upsample2xOp {
    fn name(&self) -> &'static str {
        "scoreprobe-upsample2x"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "upsample2x")?;
        let (n, c, h, w) = l.shape().dims4()?;
        let mut out = vec![0f32; 4 * x.len()];
        out.par_chunks_mut(4 * w * h).zip(x.par_chunks(h * w)).for_each(|(ys, xs)| {
            for iy in 0..h {
                for dy in 0..2 {
                    let row = &mut ys[(2 * iy + dy) * 2 * w..(2 * iy + dy + 1) * 2 * w];
                    for ix in 0..w {
                        row[2 * ix] = xs[iy * w + ix];
                        row[2 * ix + 1] = xs[iy * w + ix];
                    }
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((n, c, 2 * h, 2 * w))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (n, c, h, w) = x.dims4()?;
        let gv = to_vec(grad)?;
        let mut dx = vec![0f32; n * c * h * w];
        dx.par_chunks_mut(h * w).zip(gv.par_chunks(4 * h * w)).for_each(|(ds, gs)| {
            for iy in 0..h {
                for ix in 0..w {
                    let (r0, r1) = ((2 * iy) * 2 * w, (2 * iy + 1) * 2 * w);
                    ds[iy * w + ix] = gs[r0 + 2 * ix] + gs[r0 + 2 * ix + 1] + gs[r1 + 2 * ix] + gs[r1 + 2 * ix + 1];
                }
            }
        });
        Ok(Some(Tensor::from_vec(dx, (n, c, h, w), x.device())?))
    }
}
