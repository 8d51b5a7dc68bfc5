//! 2-D convolution (with its bias) as a fused CPU op: per sample, im2col into the thread's
//! scratch and one gemm, in both directions.
//!
//! candle has no optimised CPU convolution: its `conv2d` backward computes the input gradient with
//! a direct (un-blocked) `conv_transpose2d` and the weight gradient with a convolution whose kernel
//! is the whole output-gradient image. The previous version here built the im2col columns of the
//! whole batch as one tensor and let candle's batched matmul differentiate it, which allocated the
//! (n, c·k², h·w) columns (up to 170 MB per layer at batch 64), materialised a weight gradient per
//! sample and summed them with a broadcast reduction (`docs/benchmarks-nn.md`). [`ConvOp`]
//! instead works sample by sample inside fixed blocks of samples run in parallel: the columns of
//! one sample (≤ 3 MB, cache-resident) feed y = W·cols + b forward, and backward dW += g·colsᵀ
//! (one partial per block, summed in block order, so results do not depend on the thread count),
//! dcols = Wᵀ·g and its adjoint scatter col2im into dx. The bias is either per channel (o) or per
//! sample and channel (n, o) (a residual block's conv bias plus its time embedding, one op instead
//! of a broadcast add and its reduction). 1×1 stride-1 convolutions skip im2col.
//!
//! Off the CPU (the `cuda` feature) candle's own ops are used.

use super::scratch::{with_scratch, Slot};
use super::simd::{f32_slice, gemm, gemm_par, is_cpu_f32, F32Views, Mat};
use crate::error::{ensure, Result};
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Samples per block of the backward pass (fixed: the weight gradient is summed per block).
const SAMPLE_BLOCK: usize = 8;

/// Cross-correlation of x (n, c, h, w) with w (o, c, k, k), zero padding `pad`, stride `stride`.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    conv2d_bias(x, w, None, stride, pad)
}

/// [`conv2d`] plus a bias of shape (o) (per channel) or (n, o) (per sample and channel).
pub fn conv2d_bias(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, stride: usize, pad: usize) -> Result<Tensor> {
    let (n, c, h, wd) = x.dims4()?;
    let (o, ci, kh, kw) = w.dims4()?;
    ensure!(ci == c, "conv2d: input has {c} channels, kernel expects {ci}");
    let (hp, wp) = (h + 2 * pad, wd + 2 * pad);
    ensure!(hp >= kh && wp >= kw, "conv2d: kernel {kh}x{kw} larger than padded input {hp}x{wp}");
    if let Some(b) = bias {
        ensure!(
            b.dims() == [o] || b.dims() == [n, o],
            "conv2d: bias of shape {:?}, expected ({o}) or ({n}, {o})",
            b.dims()
        );
    }
    if !(is_cpu_f32(x) && is_cpu_f32(w) && bias.is_none_or(is_cpu_f32)) {
        let y = x.conv2d(w, pad, stride, 1, 1)?;
        return Ok(match bias {
            None => y,
            Some(b) if b.rank() == 1 => y.broadcast_add(&b.reshape((1, o, 1, 1))?)?,
            Some(b) => y.broadcast_add(&b.reshape((n, o, 1, 1))?)?,
        });
    }
    let (ho, wo) = ((hp - kh) / stride + 1, (wp - kw) / stride + 1);
    let geo = Geometry { c, h, w: wd, kh, kw, stride, pad, ho, wo };
    let b = match bias {
        Some(b) => b.contiguous()?,
        None => Tensor::zeros(o, x.dtype(), x.device())?,
    };
    Ok(x.contiguous()?.apply_op3(&w.contiguous()?, &b, ConvOp { geo })?)
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
pub(crate) struct Geometry {
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
    pub ho: usize,
    pub wo: usize,
}

impl Geometry {
    /// A k × k convolution of a (c, h, w) input with the given stride and padding.
    pub fn new(c: usize, h: usize, w: usize, k: usize, stride: usize, pad: usize) -> Self {
        let (ho, wo) = ((h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1);
        Self { c, h, w, kh: k, kw: k, stride, pad, ho, wo }
    }
    fn col_rows(&self) -> usize {
        self.c * self.kh * self.kw
    }
    pub fn in_len(&self) -> usize {
        self.c * self.h * self.w
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

/// The fused convolution: arguments x (n, c, h, w), kernel (o, c, kh, kw), bias (o) or (n, o).
struct ConvOp {
    geo: Geometry,
}

/// Runs `f` on `len` floats of this thread's column scratch (contents unspecified).
fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_scratch(Slot::Cols, len, f)
}

impl Geometry {
    pub fn one_by_one(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }

    /// Whole output rows map to consecutive input rows (stride 1, as wide as the input): each
    /// (channel, dy, dx) plane of the columns is then one shifted copy of the input plane.
    fn row_aligned(&self) -> bool {
        self.stride == 1 && self.wo == self.w
    }

    /// The column-plane row of (channel, dy, dx), the input offset of its first valid pixel, and
    /// its valid output window (oy_lo, oy_hi), (ox_lo, ox_hi).
    fn plane(&self, ci: usize, dy: usize, dx: usize) -> (usize, usize, (usize, usize), (usize, usize)) {
        let oy = self.valid(dy, self.h, self.ho);
        let ox = self.valid(dx, self.w, self.wo);
        let row = (ci * self.kh + dy) * self.kw + dx;
        let first = if oy.0 < oy.1 && ox.0 < ox.1 {
            (ci * self.h + oy.0 + dy - self.pad) * self.w + ox.0 + dx - self.pad
        } else {
            0
        };
        (row, first, oy, ox)
    }

    /// Calls f(column-plane row, input plane offset, (oy_lo, oy_hi), (ox_lo, ox_hi)) for every
    /// (channel, dy, dx).
    fn for_each_plane(&self, mut f: impl FnMut(usize, usize, (usize, usize), (usize, usize))) {
        for ci in 0..self.c {
            for dy in 0..self.kh {
                for dx in 0..self.kw {
                    let (row, first, oy, ox) = self.plane(ci, dy, dx);
                    f(row, first, oy, ox);
                }
            }
        }
    }

    /// im2col of one sample xs (c, h, w) into cols (c·kh·kw, ho·wo), padding as zeros.
    pub fn im2col(&self, xs: &[f32], cols: &mut [f32]) {
        let p = self.ho * self.wo;
        if !self.row_aligned() {
            cols.fill(0.0);
            let st = self.stride;
            self.for_each_segment(|co, xo, len| {
                for (j, v) in cols[co..co + len].iter_mut().enumerate() {
                    *v = xs[xo + j * st];
                }
            });
            return;
        }
        let wo = self.wo;
        self.for_each_plane(|row, first, (oy_lo, oy_hi), (ox_lo, ox_hi)| {
            let plane = &mut cols[row * p..(row + 1) * p];
            if oy_lo >= oy_hi || ox_lo >= ox_hi {
                plane.fill(0.0);
                return;
            }
            plane[..oy_lo * wo].fill(0.0);
            plane[oy_hi * wo..].fill(0.0);
            // one copy of the shifted input rows; the columns outside [ox_lo, ox_hi) (wrapped
            // from the neighbouring rows, or untouched) are zeroed after it
            let (start, len) = (oy_lo * wo + ox_lo, (oy_hi - oy_lo - 1) * wo + (ox_hi - ox_lo));
            plane[start..start + len].copy_from_slice(&xs[first..first + len]);
            // a few columns per row: strided stores, not a memset call per row
            for j in (0..ox_lo).chain(ox_hi..wo) {
                for oy in oy_lo..oy_hi {
                    plane[oy * wo + j] = 0.0;
                }
            }
        });
    }

    /// The adjoint of [`Self::im2col`]: xs (c, h, w) += col2im(cols), or = without `acc` (cols are
    /// clobbered).
    pub fn col2im(&self, cols: &mut [f32], xs: &mut [f32], acc: bool) {
        let (p, wo) = (self.ho * self.wo, self.wo);
        // the centre tap of a "same" convolution covers every input pixel once: written first
        let centre = (self.pad, self.pad);
        let full = self.row_aligned()
            && self.kh == 2 * self.pad + 1
            && self.kw == 2 * self.pad + 1
            && self.ho == self.h
            && self.wo == self.w;
        if !self.row_aligned() || (!acc && !full) {
            if !acc {
                xs.fill(0.0);
            }
            if !self.row_aligned() {
                let st = self.stride;
                self.for_each_segment(|co, xo, len| {
                    for (j, b) in cols[co..co + len].iter().enumerate() {
                        xs[xo + j * st] += *b;
                    }
                });
                return;
            }
        }
        let hw = self.h * self.w;
        let write_centre = !acc && full;
        for ci in 0..self.c {
            if write_centre {
                let (row, first, _, _) = self.plane(ci, centre.0, centre.1);
                xs[first..first + hw].copy_from_slice(&cols[row * p..row * p + hw]);
            }
            for dy in 0..self.kh {
                for dx in 0..self.kw {
                    if write_centre && (dy, dx) == centre {
                        continue;
                    }
                    let (row, first, (oy_lo, oy_hi), (ox_lo, ox_hi)) = self.plane(ci, dy, dx);
                    if oy_lo >= oy_hi || ox_lo >= ox_hi {
                        continue;
                    }
                    let plane = &mut cols[row * p..(row + 1) * p];
                    // zero the gradients of padding inside the added range, then one shifted add
                    for j in (0..ox_lo).chain(ox_hi..wo) {
                        for oy in oy_lo..oy_hi {
                            plane[oy * wo + j] = 0.0;
                        }
                    }
                    let (start, len) = (oy_lo * wo + ox_lo, (oy_hi - oy_lo - 1) * wo + (ox_hi - ox_lo));
                    super::simd::add_assign(&mut xs[first..first + len], &plane[start..start + len]);
                }
            }
        }
    }

    /// y_s (o, ho·wo) = W·cols(x_s) + bias of one sample (added to y_s with `acc`, else written);
    /// `threads` > 1 splits the gemm.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_sample(&self, xs: &[f32], w: &[f32], bias: &[f32], ys: &mut [f32], acc: bool, threads: usize) {
        let (k, p) = (self.col_rows(), self.ho * self.wo);
        let o = bias.len();
        for (row, &b) in ys.chunks_exact_mut(p).zip(bias) {
            if acc {
                row.iter_mut().for_each(|v| *v += b);
            } else {
                row.fill(b);
            }
        }
        if self.one_by_one() {
            gemm_par(o, p, k, ys, p, true, Mat::n(w, k), Mat::n(xs, p), threads);
        } else {
            with_cols(k * p, |cols| {
                self.im2col(xs, cols);
                gemm_par(o, p, k, ys, p, true, Mat::n(w, k), Mat::n(cols, p), threads);
            });
        }
    }

    /// Backward of one sample: dw += g·colsᵀ, db (o) += row sums of g and, when `dxs` is given,
    /// dx_s = col2im(Wᵀ·g) (added to dx_s with `acc_dx`, else written).
    #[allow(clippy::too_many_arguments)]
    pub fn backward_sample(
        &self,
        xs: &[f32],
        w: &[f32],
        gs: &[f32],
        dw: &mut [f32],
        db: &mut [f32],
        dxs: Option<&mut [f32]>,
        acc_dx: bool,
    ) {
        let (k, p) = (self.col_rows(), self.ho * self.wo);
        let o = db.len();
        for (acc, row) in db.iter_mut().zip(gs.chunks_exact(p)) {
            *acc += super::simd::sum_f32(row);
        }
        if self.one_by_one() {
            with_cols(o * k, |dwt| weight_grad(o, k, p, gs, xs, dw, dwt));
            if let Some(dxs) = dxs {
                gemm(k, p, o, dxs, p, acc_dx, Mat::t(w, k), Mat::n(gs, p));
            }
            return;
        }
        with_cols(2 * k * p + o * k, |buf| {
            let (cols, rest) = buf.split_at_mut(k * p);
            let (dcols, dwt) = rest.split_at_mut(k * p);
            self.im2col(xs, cols);
            weight_grad(o, k, p, gs, cols, dw, dwt);
            if let Some(dxs) = dxs {
                gemm(k, p, o, dcols, p, false, Mat::t(w, k), Mat::n(gs, p));
                self.col2im(dcols, dxs, acc_dx);
            }
        });
    }
}

/// dw (o × k, row-major) += g (o × p) · colsᵀ (cols: k × p). The product goes through a
/// column-major scratch `dwt` (o·k floats): with that destination the gemm crate reads colsᵀ in
/// place instead of repacking all k·p columns (measured ~1.5–2× faster at these shapes).
fn weight_grad(o: usize, k: usize, p: usize, gs: &[f32], cols: &[f32], dw: &mut [f32], dwt: &mut [f32]) {
    super::simd::gemm_cm(o, k, p, dwt, o, false, Mat::n(gs, p), Mat::t(cols, p));
    for (i, row) in dw.chunks_exact_mut(k).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v += dwt[j * o + i];
        }
    }
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "scoreprobe-conv2d"
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
        let (x, w, b) = (f32_slice(s1, l1, "conv2d")?, f32_slice(s2, l2, "conv2d")?, f32_slice(s3, l3, "conv2d")?);
        let g = self.geo;
        let n = l1.dims()[0];
        let o = l2.dims()[0];
        let per_sample_bias = l3.dims().len() == 2;
        let bias = |s: usize| if per_sample_bias { &b[s * o..(s + 1) * o] } else { b };
        let ylen = o * g.ho * g.wo;
        let mut y = vec![0f32; n * ylen];
        let threads = rayon::current_num_threads();
        if n >= 2 * threads {
            y.par_chunks_mut(ylen).zip(x.par_chunks(g.in_len())).enumerate().for_each(|(s, (ys, xs))| {
                g.forward_sample(xs, w, bias(s), ys, false, 1);
            });
        } else {
            // too few samples to share out: split each sample's gemm instead (same results)
            for (s, (ys, xs)) in y.chunks_mut(ylen).zip(x.chunks(g.in_len())).enumerate() {
                g.forward_sample(xs, w, bias(s), ys, false, threads);
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((n, o, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self.geo;
        let (n, o) = (x.dim(0)?, w.dim(0)?);
        let grad = grad.contiguous()?;
        let views = F32Views::new([x, w, &grad])?;
        let (xv, wv, gv) = (views.get(0), views.get(1), views.get(2));
        let (wlen, glen) = (o * g.col_rows(), o * g.ho * g.wo);
        let blocks = n.div_ceil(SAMPLE_BLOCK);
        let mut dx = vec![0f32; n * g.in_len()];
        let mut dw_parts = vec![0f32; blocks * wlen];
        let mut db = vec![0f32; n * o];
        dx.par_chunks_mut(SAMPLE_BLOCK * g.in_len())
            .zip(dw_parts.par_chunks_mut(wlen))
            .zip(db.par_chunks_mut(SAMPLE_BLOCK * o))
            .enumerate()
            .for_each(|(bi, ((dxb, dwb), dbb))| {
                let s0 = bi * SAMPLE_BLOCK;
                for (j, (dxs, dbs)) in dxb.chunks_mut(g.in_len()).zip(dbb.chunks_mut(o)).enumerate() {
                    let s = s0 + j;
                    let xs = &xv[s * g.in_len()..(s + 1) * g.in_len()];
                    let gs = &gv[s * glen..(s + 1) * glen];
                    g.backward_sample(xs, wv, gs, dwb, dbs, Some(dxs), false);
                }
            });
        let mut dw = dw_parts[..wlen].to_vec();
        for part in dw_parts.chunks_exact(wlen).skip(1) {
            super::simd::add_assign(&mut dw, part);
        }
        drop(views);
        let dev = x.device();
        let db = if b.rank() == 2 {
            Tensor::from_vec(db, (n, o), dev)?
        } else {
            let mut sum = vec![0f32; o];
            for row in db.chunks_exact(o) {
                super::simd::add_assign(&mut sum, row);
            }
            Tensor::from_vec(sum, o, dev)?
        };
        Ok((Some(Tensor::from_vec(dx, x.shape(), dev)?), Some(Tensor::from_vec(dw, w.shape(), dev)?), Some(db)))
    }
}
