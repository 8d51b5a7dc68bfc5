//! 2-D convolution with a fast CPU backward.
//!
//! candle's CPU backward of `conv2d` computes the input gradient with a direct (un-blocked)
//! `conv_transpose2d` and the weight gradient with a convolution whose kernel is the whole
//! output-gradient image; on this machine that made a U-Net training step several times its
//! forward pass. [`conv2d`] wraps candle's forward in a custom op whose backward is
//! - input gradient: the output gradient, dilated by the stride and zero-padded, convolved with
//!   the flipped, channel-transposed kernel (candle's fast tiled-im2col forward);
//! - weight gradient: one batched matmul of the output gradient with the im2col columns.
//!
//! Off the CPU (the `cuda` feature) candle's own op is used.

use anyhow::{ensure, Result};
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// Cross-correlation of x (n, c, h, w) with w (o, c, k, k), zero padding `pad`, stride `stride`.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, pad: usize) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        Ok(x.contiguous()?.apply_op2(&w.contiguous()?, Conv2dOp { stride, pad })?)
    } else {
        Ok(x.conv2d(w, pad, stride, 1, 1)?)
    }
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

struct Conv2dOp {
    stride: usize,
    pad: usize,
}

fn to_tensor(s: &CpuStorage, l: &Layout) -> candle_core::Result<Tensor> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("scoreprobe conv2d: f32 only");
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("scoreprobe conv2d: contiguous inputs only");
    };
    Tensor::from_slice(&v[a..b], l.shape(), &candle_core::Device::Cpu)
}

/// Inserts stride−1 zeros between the rows/columns of g (n, o, ho, wo) and pads it on the
/// right/bottom to (len_h, len_w).
fn dilate(g: &Tensor, stride: usize, len_h: usize, len_w: usize) -> candle_core::Result<Tensor> {
    let (n, o, ho, wo) = g.dims4()?;
    let g = if stride > 1 {
        let z = Tensor::zeros((n, o, ho, wo, stride - 1), g.dtype(), g.device())?;
        let g = Tensor::cat(&[&g.unsqueeze(4)?, &z], 4)?.reshape((n, o, ho, wo * stride))?;
        let z = Tensor::zeros((n, o, ho, stride - 1, wo * stride), g.dtype(), g.device())?;
        Tensor::cat(&[&g.unsqueeze(3)?, &z], 3)?.reshape((n, o, ho * stride, wo * stride))?
    } else {
        g.clone()
    };
    let (h, w) = (g.dim(2)?, g.dim(3)?);
    let g = if len_h >= h { g.pad_with_zeros(2, 0, len_h - h)? } else { g.narrow(2, 0, len_h)? };
    if len_w >= w {
        g.pad_with_zeros(3, 0, len_w - w)
    } else {
        g.narrow(3, 0, len_w)
    }
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "scoreprobe-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = to_tensor(s1, l1)?;
        let w = to_tensor(s2, l2)?;
        let y = x.conv2d(&w, self.pad, self.stride, 1, 1)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, c, h, wd) = x.dims4()?;
        let (o, _, kh, kw) = w.dims4()?;
        let (_, _, ho, wo) = g.dims4()?;
        let g = g.contiguous()?;
        // input gradient: full correlation of the dilated gradient with the flipped kernel
        let rev = |k: usize| Tensor::from_vec((0..k as u32).rev().collect::<Vec<_>>(), k, w.device());
        let wf = w.index_select(&rev(kh)?, 2)?.index_select(&rev(kw)?, 3)?.transpose(0, 1)?.contiguous()?;
        let (len_h, len_w) = (h + 2 * self.pad + 1 - kh, wd + 2 * self.pad + 1 - kw);
        let gd = dilate(&g, self.stride, len_h, len_w)?;
        let full = gd.conv2d(&wf, kh - 1, 1, 1, 1)?; // (n, c, h + 2·pad, w + 2·pad)
        let dx = full.narrow(2, self.pad, h)?.narrow(3, self.pad, wd)?;
        // weight gradient: Σ_n g_n · cols_nᵀ
        let cols = im2col(&x.detach(), kh, kw, self.stride, self.pad).map_err(candle_core::Error::wrap)?;
        let dw = g.reshape((n, o, ho * wo))?.matmul(&cols.transpose(1, 2)?)?.sum(0)?.reshape((o, c, kh, kw))?;
        Ok((Some(dx), Some(dw)))
    }
}
