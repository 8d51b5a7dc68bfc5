//! Layers with forward-mode tangent rules, written as ordinary candle tensor ops so that
//! first-order autodiff over the parameters runs through both values and directional derivatives.
//!
//! A *tangent* of an activation `x` of shape `S` is stacked over k directions: shape `(k, S...)`.

use crate::error::{ensure, Result};
use crate::params::ParamInit;
use candle_core::{Tensor, D};

/// Fold the direction axis into the batch axis: (k, n, rest...) → (k·n, rest...).
fn fold(t: &Tensor) -> Result<(usize, Tensor)> {
    let dims = t.dims();
    let k = dims[0];
    let mut shape = vec![k * dims[1]];
    shape.extend_from_slice(&dims[2..]);
    Ok((k, t.reshape(shape)?))
}

fn unfold(t: &Tensor, k: usize) -> Result<Tensor> {
    let dims = t.dims();
    let mut shape = vec![k, dims[0] / k];
    shape.extend_from_slice(&dims[1..]);
    Ok(t.reshape(shape)?)
}

/// y = x Wᵀ + b, W of shape (out, in).
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    pub fn new(p: &mut ParamInit, name: &str, fan_in: usize, fan_out: usize) -> Result<Self> {
        let bound = 1.0 / (fan_in as f32).sqrt();
        Ok(Self {
            weight: p.uniform(format!("{name}.weight"), &[fan_out, fan_in], bound)?,
            bias: p.uniform(format!("{name}.bias"), &[fan_out], bound)?,
        })
    }

    /// Linear layer with zero weight and bias (residual-branch outputs).
    pub fn zeros(p: &mut ParamInit, name: &str, fan_in: usize, fan_out: usize) -> Result<Self> {
        Ok(Self {
            weight: p.constant(format!("{name}.weight"), &[fan_out, fan_in], 0.0)?,
            bias: p.constant(format!("{name}.bias"), &[fan_out], 0.0)?,
        })
    }

    /// x of shape (n, in) or (b, n, in).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.broadcast_matmul(&self.weight.t()?)?;
        Ok(y.broadcast_add(&self.bias)?)
    }

    /// dy = W dx (no bias); tangent of shape (k, n, in) → (k, n, out).
    pub fn tangent(&self, dx: &Tensor) -> Result<Tensor> {
        Ok(dx.broadcast_matmul(&self.weight.t()?)?)
    }
}

/// 2-D convolution, weight (out, in, k, k), "same"-style padding k/2.
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub stride: usize,
    pub padding: usize,
}

impl Conv2d {
    pub fn new(p: &mut ParamInit, name: &str, c_in: usize, c_out: usize, k: usize, stride: usize) -> Result<Self> {
        let bound = 1.0 / ((c_in * k * k) as f32).sqrt();
        Ok(Self {
            weight: p.uniform(format!("{name}.weight"), &[c_out, c_in, k, k], bound)?,
            bias: p.uniform(format!("{name}.bias"), &[c_out], bound)?,
            stride,
            padding: k / 2,
        })
    }

    fn conv(&self, x: &Tensor) -> Result<Tensor> {
        crate::cpu::conv::conv2d(x, &self.weight, self.stride, self.padding)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::cpu::conv::conv2d_bias(x, &self.weight, Some(&self.bias), self.stride, self.padding)
    }

    /// conv(x) + bias + `extra` (n, c_out), a per-sample channel offset (e.g. a time embedding),
    /// in one fused op.
    pub fn forward_with_offset(&self, x: &Tensor, extra: &Tensor) -> Result<Tensor> {
        let bias = extra.broadcast_add(&self.bias.unsqueeze(0)?)?;
        crate::cpu::conv::conv2d_bias(x, &self.weight, Some(&bias), self.stride, self.padding)
    }

    /// A convolution is linear: the tangent is the convolution of the tangent, without bias.
    pub fn tangent(&self, dx: &Tensor) -> Result<Tensor> {
        let (k, flat) = fold(dx)?;
        unfold(&self.conv(&flat)?, k)
    }
}

/// GroupNorm over (n, c, h, w) with affine γ, β.
pub struct GroupNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub groups: usize,
    pub eps: f64,
}

/// Saved statistics of a GroupNorm forward pass, needed by its tangent rule.
pub struct GroupNormCache {
    /// Normalised input x̂, shape (n, g, m).
    xhat: Tensor,
    /// 1/√(var + eps), shape (n, g, 1).
    inv_std: Tensor,
}

impl GroupNorm {
    pub fn new(p: &mut ParamInit, name: &str, groups: usize, channels: usize) -> Result<Self> {
        ensure!(channels.is_multiple_of(groups), "{name}: {channels} channels not divisible by {groups} groups");
        Ok(Self {
            weight: p.constant(format!("{name}.weight"), &[channels], 1.0)?,
            bias: p.constant(format!("{name}.bias"), &[channels], 0.0)?,
            groups,
            eps: 1e-5,
        })
    }

    fn affine(&self, xhat: &Tensor, shape: &[usize], with_bias: bool) -> Result<Tensor> {
        let c = shape[shape.len() - 3];
        let y = xhat.reshape(shape)?;
        let mut bshape = vec![1; shape.len()];
        bshape[shape.len() - 3] = c;
        let y = y.broadcast_mul(&self.weight.reshape(bshape.clone())?)?;
        if with_bias {
            Ok(y.broadcast_add(&self.bias.reshape(bshape)?)?)
        } else {
            Ok(y)
        }
    }

    pub fn forward_cached(&self, x: &Tensor) -> Result<(Tensor, GroupNormCache)> {
        let (n, c, h, w) = x.dims4()?;
        let xg = x.reshape((n, self.groups, (c / self.groups) * h * w))?;
        let mean = xg.mean_keepdim(D::Minus1)?;
        let centred = xg.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let inv_std = (var + self.eps)?.sqrt()?.recip()?;
        let xhat = centred.broadcast_mul(&inv_std)?;
        let y = self.affine(&xhat, &[n, c, h, w], true)?;
        Ok((y, GroupNormCache { xhat, inv_std }))
    }

    /// GroupNorm (the fused op of [`crate::cpu::fused::group_norm`]; same values as
    /// [`GroupNorm::forward_cached`]).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::cpu::fused::group_norm(x, &self.weight, &self.bias, self.groups, self.eps, false)
    }

    /// SiLU(GroupNorm(x)) in one fused op.
    pub fn forward_silu(&self, x: &Tensor) -> Result<Tensor> {
        crate::cpu::fused::group_norm(x, &self.weight, &self.bias, self.groups, self.eps, true)
    }

    /// dy = γ ⊙ (dx − mean(dx) − x̂ ⊙ mean(x̂ ⊙ dx)) / s, means over each (sample, group).
    pub fn tangent(&self, cache: &GroupNormCache, dx: &Tensor) -> Result<Tensor> {
        let dims = dx.dims().to_vec();
        let (k, n, c, h, w) = (dims[0], dims[1], dims[2], dims[3], dims[4]);
        let m = (c / self.groups) * h * w;
        let dg = dx.reshape((k, n, self.groups, m))?;
        let xhat = cache.xhat.unsqueeze(0)?;
        let mean_d = dg.mean_keepdim(D::Minus1)?;
        let mean_xd = dg.broadcast_mul(&xhat)?.mean_keepdim(D::Minus1)?;
        let out = dg.broadcast_sub(&mean_d)?.broadcast_sub(&xhat.broadcast_mul(&mean_xd)?)?;
        let out = out.broadcast_mul(&cache.inv_std.unsqueeze(0)?)?;
        self.affine(&out, &dims, false)
    }
}

/// σ(z) with candle-nn's sigmoid (a custom op with a stable backward).
pub fn sigmoid(z: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::ops::sigmoid(z)?)
}

/// silu'(z) = σ(z)(1 + z(1 − σ(z))).
pub fn silu_grad(z: &Tensor) -> Result<Tensor> {
    let s = sigmoid(z)?;
    let one_minus = s.affine(-1.0, 1.0)?;
    Ok(s.mul(&(z.mul(&one_minus)? + 1.0)?)?)
}

/// Tangent of SiLU at pre-activation z: silu'(z) ⊙ dz, dz of shape (k, z.shape...).
pub fn silu_tangent(z: &Tensor, dz: &Tensor) -> Result<Tensor> {
    Ok(dz.broadcast_mul(&silu_grad(z)?.unsqueeze(0)?)?)
}

/// Sinusoidal embedding of t ∈ [0, 1] (scaled by 1000 like DDPM step indices), shape (n, dim).
pub fn time_embedding(t: &Tensor, dim: usize) -> Result<Tensor> {
    let half = dim / 2;
    let dev = t.device();
    let freqs: Vec<f32> = (0..half).map(|i| (-(10000f32.ln()) * i as f32 / half as f32).exp()).collect();
    let freqs = Tensor::from_vec(freqs, (1, half), dev)?;
    let args = (t.unsqueeze(1)? * 1000.0)?.broadcast_mul(&freqs)?;
    Ok(Tensor::cat(&[args.sin()?, args.cos()?], 1)?)
}
