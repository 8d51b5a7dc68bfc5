//! 2-D convolution as im2col + one batched matmul, in both directions.
//!
//! candle's CPU `conv2d` backward computes the input gradient with a direct (un-blocked)
//! `conv_transpose2d` and the weight gradient with a convolution whose kernel is the whole
//! output-gradient image. On the CPU, [`conv2d`] instead builds the im2col columns with a
//! hand-written custom op ([`Im2colOp`], backward: its adjoint col2im, [`Col2imOp`]) and
//! multiplies them with the (o, c·k·k) kernel matrix; candle's matmul backward then gives the
//! weight gradient (g · colsᵀ, summed over the batch) and the column gradient (Wᵀ · g) as two
//! more gemm calls. A 1×1 stride-1 convolution skips im2col (the columns are x itself).
//!
//! Off the CPU (the `cuda` feature) candle's own op is used.

use crate::error::{ensure, Result};
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Cross-correlation of x (n, c, h, w) with w (o, c, k, k), zero padding `pad`, stride `stride`.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    if !(x.device().is_cpu() && x.dtype() == candle_core::DType::F32) {
        return Ok(x.conv2d(w, pad, stride, 1, 1)?);
    }
    let (n, c, h, wd) = x.dims4()?;
    let (o, ci, kh, kw) = w.dims4()?;
    ensure!(ci == c, "conv2d: input has {c} channels, kernel expects {ci}");
    let (hp, wp) = (h + 2 * pad, wd + 2 * pad);
    ensure!(hp >= kh && wp >= kw, "conv2d: kernel {kh}x{kw} larger than padded input {hp}x{wp}");
    let (ho, wo) = ((hp - kh) / stride + 1, (wp - kw) / stride + 1);
    let cols = if kh == 1 && kw == 1 && stride == 1 && pad == 0 {
        x.reshape((n, c, h * wd))?
    } else {
        x.contiguous()?.apply_op1(Im2colOp { geo: Geometry { c, h, w: wd, kh, kw, stride, pad, ho, wo } })?
    };
    let y = w.reshape((o, c * kh * kw))?.broadcast_matmul(&cols)?;
    Ok(y.reshape((n, o, ho, wo))?)
}

/// im2col columns of x for a k_h × k_w kernel: (n, c·k_h·k_w, h_out·w_out).
pub fn im2col(x: &Tensor, kh: usize, kw: usize, stride: usize, pad: usize) -> Result<Tensor> {
    let (n, c, h, wd) = x.dims4()?;
    let (hp, wp) = (h + 2 * pad, wd + 2 * pad);
    ensure!(hp >= kh && wp >= kw, "conv2d: kernel {kh}x{kw} larger than padded input {hp}x{wp}");
    let (ho, wo) = ((hp - kh) / stride + 1, (wp - kw) / stride + 1);
    // pad so that every shifted window of length ho·stride (wo·stride) fits
    let (extra_h, extra_w) = ((kh - 1 + ho * stride).saturating_sub(hp), (kw - 1 + wo * stride).saturating_sub(wp));
    let xp = x.pad_with_zeros(2, pad, pad + extra_h)?.pad_with_zeros(3, pad, pad + extra_w)?;
    let mut cols = Vec::with_capacity(kh * kw);
    for dy in 0..kh {
        for dx in 0..kw {
            let s = xp.narrow(2, dy, ho * stride)?.narrow(3, dx, wo * stride)?;
            let s = if stride > 1 {
                s.reshape((n, c, ho, stride, wo, stride))?.narrow(3, 0, 1)?.narrow(5, 0, 1)?.reshape((n, c, ho, wo))?
            } else {
                s
            };
            cols.push(s);
        }
    }
    Ok(Tensor::stack(&cols, 2)?.reshape((n, c * kh * kw, ho * wo))?)
}

/// Convolution as im2col + batched matmul, every op differentiable by candle (reference
/// implementation; slower to differentiate than [`conv2d`]).
pub fn conv2d_im2col(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    let (n, c, _, _) = x.dims4()?;
    let (o, ci, kh, kw) = w.dims4()?;
    ensure!(ci == c, "conv2d: input has {c} channels, kernel expects {ci}");
    let (ho, wo) = ((x.dim(2)? + 2 * pad - kh) / stride + 1, (x.dim(3)? + 2 * pad - kw) / stride + 1);
    let cols = im2col(x, kh, kw, stride, pad)?;
    let y = w.reshape((o, c * kh * kw))?.broadcast_matmul(&cols)?;
    Ok(y.reshape((n, o, ho, wo))?)
}

/// Shapes of one convolution (per sample).
#[derive(Clone, Copy, Debug)]
struct Geometry {
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
    ho: usize,
    wo: usize,
}

impl Geometry {
    fn col_rows(&self) -> usize {
        self.c * self.kh * self.kw
    }
    fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    fn col_len(&self) -> usize {
        self.col_rows() * self.ho * self.wo
    }
    /// Output columns ox whose input column ox·stride + dx − pad lies in [0, w).
    fn valid(&self, d: usize, len_in: usize, len_out: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.pad);
        // first o with o·s + d ≥ p
        let lo = if d >= p { 0 } else { (p - d).div_ceil(s) };
        // last o with o·s + d − p ≤ len_in − 1, i.e. o·s ≤ len_in − 1 + p − d
        let hi = if len_in + p < d + 1 { 0 } else { ((len_in - 1 + p - d) / s + 1).min(len_out) };
        (lo.min(hi), hi)
    }
    /// Calls f(column offset, input offset, length) for every run of output columns of one
    /// (channel, dy, dx, output row) whose input pixels lie inside the image (the rest is padding).
    fn for_each_segment(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (ho, wo) = (self.ho, self.wo);
        for ci in 0..self.c {
            for dy in 0..self.kh {
                let (oy_lo, oy_hi) = self.valid(dy, self.h, ho);
                for dx in 0..self.kw {
                    let row = (ci * self.kh + dy) * self.kw + dx;
                    let (ox_lo, ox_hi) = self.valid(dx, self.w, wo);
                    if ox_lo >= ox_hi {
                        continue;
                    }
                    for oy in oy_lo..oy_hi {
                        let iy = oy * self.stride + dy - self.pad;
                        let ix = ox_lo * self.stride + dx - self.pad;
                        f(row * ho * wo + oy * wo + ox_lo, (ci * self.h + iy) * self.w + ix, ox_hi - ox_lo);
                    }
                }
            }
        }
    }
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("scoreprobe {what}: f32 only");
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("scoreprobe {what}: contiguous inputs only");
    };
    Ok(&v[a..b])
}

/// x (n, c, h, w) → im2col columns (n, c·kh·kw, ho·wo), rows ordered (c, dy, dx) like the
/// kernel's (o, c, kh, kw) layout.
struct Im2colOp {
    geo: Geometry,
}

impl CustomOp1 for Im2colOp {
    fn name(&self) -> &'static str {
        "scoreprobe-im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "im2col")?;
        let g = self.geo;
        let n = l.dims()[0];
        let mut out = vec![0f32; n * g.col_len()];
        out.par_chunks_mut(g.col_len()).zip(x.par_chunks(g.in_len())).for_each(|(cols, xs)| {
            if g.stride == 1 {
                g.for_each_segment(|co, xo, len| cols[co..co + len].copy_from_slice(&xs[xo..xo + len]));
            } else {
                let st = g.stride;
                g.for_each_segment(|co, xo, len| {
                    for (j, v) in cols[co..co + len].iter_mut().enumerate() {
                        *v = xs[xo + j * st];
                    }
                });
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((n, g.col_rows(), g.ho * g.wo))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Col2imOp { geo: self.geo })?))
    }
}

/// The adjoint of [`Im2colOp`]: columns (n, c·kh·kw, ho·wo) → x-gradient (n, c, h, w).
struct Col2imOp {
    geo: Geometry,
}

impl CustomOp1 for Col2imOp {
    fn name(&self) -> &'static str {
        "scoreprobe-col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let cols = f32_slice(s, l, "col2im")?;
        let g = self.geo;
        let n = l.dims()[0];
        let mut out = vec![0f32; n * g.in_len()];
        out.par_chunks_mut(g.in_len()).zip(cols.par_chunks(g.col_len())).for_each(|(xs, cs)| {
            let st = g.stride;
            g.for_each_segment(|co, xo, len| {
                if st == 1 {
                    for (a, b) in xs[xo..xo + len].iter_mut().zip(&cs[co..co + len]) {
                        *a += *b;
                    }
                } else {
                    for (j, b) in cs[co..co + len].iter().enumerate() {
                        xs[xo + j * st] += *b;
                    }
                }
            });
        });
        Ok((CpuStorage::F32(out), Shape::from((n, g.c, g.h, g.w))))
    }
}
