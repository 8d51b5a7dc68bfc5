//! Scalar networks with forward-mode directional derivatives in x (SPEC §5 critic χ(x,t), §7
//! classifier d(x,t)).
//!
//! candle's backprop detaches input gradients (and so cannot differentiate ∇ₓχ w.r.t. the
//! parameters), so ∇ₓ enters only through tangents propagated by ordinary tensor ops
//! (Linear: W·dx; conv: conv(dx) without bias; SiLU: silu'(z)·dz; GroupNorm: its own rule);
//! first-order autodiff over the parameters then runs through values and tangents alike.

use crate::error::{ensure, Result};
use crate::layers::{silu_tangent, time_embedding, Conv2d, GroupNorm, Linear};
use crate::mlp::{Mlp, MlpSpec};
use crate::params::{ParamInit, ParamStore};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// A time-conditioned scalar network f(x, t) with forward-mode directional derivatives.
pub trait JvpScalar {
    /// Input dimension d (flattened).
    fn dim(&self) -> usize;
    fn params(&self) -> &ParamStore;
    /// Values (n,) and the tangents (k, n) along the stacked directions `dx` (k, n, d).
    fn forward_stacked(&self, x: &Tensor, t: &Tensor, dx: &Tensor) -> Result<(Tensor, Tensor)>;

    /// f(x, t) for x (n, d), t (n,): shape (n,).
    fn value(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let dx = x.zeros_like()?.unsqueeze(0)?;
        Ok(self.forward_stacked(x, t, &dx)?.0)
    }

    /// Value (n,) and one directional derivative v·∇ₓf (n,) per direction in `dirs` (each (n, d)).
    fn forward_with_tangents(&self, x: &Tensor, t: &Tensor, dirs: &[Tensor]) -> Result<(Tensor, Vec<Tensor>)> {
        ensure!(!dirs.is_empty(), "forward_with_tangents: need at least one direction");
        let dx = Tensor::stack(dirs, 0)?;
        let (v, tan) = self.forward_stacked(x, t, &dx)?;
        let tans = (0..dirs.len()).map(|i| tan.get(i)).collect::<candle_core::Result<Vec<_>>>()?;
        Ok((v, tans))
    }

    /// ∇ₓf (n, d) from the d unit directions (meant for small d).
    fn input_gradient(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let (n, d) = x.dims2()?;
        let eye = Tensor::eye(d, x.dtype(), x.device())?.unsqueeze(1)?.broadcast_as((d, n, d))?.contiguous()?;
        let (_, tan) = self.forward_stacked(x, t, &eye)?; // (d, n)
        Ok(tan.t()?.contiguous()?)
    }
}

/// MLP critic: the time-conditioned MLP of [`Mlp`] with a scalar output.
pub struct JvpMlp {
    mlp: Mlp,
}

impl JvpMlp {
    pub fn new(spec: &MlpSpec, seed: u64, device: &Device) -> Result<Self> {
        ensure!(spec.out_dim == 1, "JvpMlp needs out_dim = 1, got {}", spec.out_dim);
        Ok(Self { mlp: Mlp::new(spec, seed, device)? })
    }

    pub fn spec(&self) -> &MlpSpec {
        self.mlp.spec()
    }

    /// The underlying MLP.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }
}

impl JvpScalar for JvpMlp {
    fn dim(&self) -> usize {
        self.mlp.spec().dim
    }
    fn params(&self) -> &ParamStore {
        self.mlp.params()
    }
    fn forward_stacked(&self, x: &Tensor, t: &Tensor, dx: &Tensor) -> Result<(Tensor, Tensor)> {
        let (v, tan) = self.mlp.forward_tangent(x, t, dx)?;
        Ok((v.squeeze(1)?, tan.squeeze(2)?))
    }
}

/// A small convolutional critic for images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvCriticSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Feature channels c; the second conv has 2c.
    pub width_mult: usize,
    pub groups: usize,
    pub time_dim: usize,
}

/// conv3×3(C→c) → GN → SiLU → conv3×3/2(c→2c) + P·e(t) → GN → SiLU → mean pool → Linear → SiLU → Linear → scalar.
pub struct ConvCritic {
    spec: ConvCriticSpec,
    time: Linear,
    conv1: Conv2d,
    norm1: GroupNorm,
    conv2: Conv2d,
    tproj: Linear,
    norm2: GroupNorm,
    fc: Linear,
    out: Linear,
    params: ParamStore,
}

impl ConvCritic {
    pub fn new(spec: &ConvCriticSpec, seed: u64, device: &Device) -> Result<Self> {
        let c = spec.width_mult;
        ensure!(c > 0 && c.is_multiple_of(spec.groups), "conv critic: groups {} must divide width {c}", spec.groups);
        let mut p = ParamInit::new(seed, device);
        let time = Linear::new(&mut p, "time", spec.time_dim, 2 * c)?;
        let conv1 = Conv2d::new(&mut p, "conv1", spec.channels, c, 3, 1)?;
        let norm1 = GroupNorm::new(&mut p, "norm1", spec.groups, c)?;
        let conv2 = Conv2d::new(&mut p, "conv2", c, 2 * c, 3, 2)?;
        let tproj = Linear::new(&mut p, "tproj", 2 * c, 2 * c)?;
        let norm2 = GroupNorm::new(&mut p, "norm2", spec.groups, 2 * c)?;
        let fc = Linear::new(&mut p, "fc", 2 * c, 2 * c)?;
        let out = Linear::new(&mut p, "out", 2 * c, 1)?;
        Ok(Self { spec: spec.clone(), time, conv1, norm1, conv2, tproj, norm2, fc, out, params: p.finish() })
    }
}

impl JvpScalar for ConvCritic {
    fn dim(&self) -> usize {
        self.spec.channels * self.spec.height * self.spec.width
    }
    fn params(&self) -> &ParamStore {
        &self.params
    }
    fn forward_stacked(&self, x: &Tensor, t: &Tensor, dx: &Tensor) -> Result<(Tensor, Tensor)> {
        let s = &self.spec;
        let n = x.dim(0)?;
        let k = dx.dim(0)?;
        let x = x.reshape((n, s.channels, s.height, s.width))?;
        let dx = dx.reshape((k, n, s.channels, s.height, s.width))?;
        let e = self.time.forward(&time_embedding(t, s.time_dim)?)?.silu()?;
        // block 1
        let z = self.conv1.forward(&x)?;
        let dz = self.conv1.tangent(&dx)?;
        let (g, cache) = self.norm1.forward_cached(&z)?;
        let dg = self.norm1.tangent(&cache, &dz)?;
        let (h, dh) = (g.silu()?, silu_tangent(&g, &dg)?);
        // block 2 (the time bias is constant in x)
        let c2 = 2 * s.width_mult;
        let tb = self.tproj.forward(&e)?.reshape((n, c2, 1, 1))?;
        let z = self.conv2.forward(&h)?.broadcast_add(&tb)?;
        let dz = self.conv2.tangent(&dh)?;
        let (g, cache) = self.norm2.forward_cached(&z)?;
        let dg = self.norm2.tangent(&cache, &dz)?;
        let (h, dh) = (g.silu()?, silu_tangent(&g, &dg)?);
        // global mean pool (linear), then the head
        let p = h.mean((2, 3))?;
        let dp = dh.mean((3, 4))?;
        let z = self.fc.forward(&p)?;
        let dz = self.fc.tangent(&dp)?;
        let (h, dh) = (z.silu()?, silu_tangent(&z, &dz)?);
        let v = self.out.forward(&h)?.squeeze(1)?;
        let dv = self.out.tangent(&dh)?.squeeze(2)?;
        Ok((v, dv))
    }
}
