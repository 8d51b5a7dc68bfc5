//! Time-conditioned MLP with SiLU activations and a sinusoidal time embedding (SPEC §1 low-d
//! score nets), with a forward pass that also propagates tangent vectors in x.
//!
//! e = SiLU(T·emb(t)); h₁ = SiLU(W₁x + b₁ + P₁e); h_{l+1} = SiLU(W_l h_l + b_l + P_l e);
//! y = W_out h_L + b_out. The time path does not depend on x, so the tangent of every layer is
//! W·dz and SiLU's tangent is silu'(z)·dz.

use crate::cpu;
use crate::error::{ensure, Result};
use crate::layers::{silu_tangent, time_embedding, Linear};
use crate::params::{ParamInit, ParamStore};
pub use crate::spec::MlpSpec;
use candle_core::{Device, Tensor};

pub struct Mlp {
    spec: MlpSpec,
    time: Linear,
    layers: Vec<Linear>,
    time_proj: Vec<Linear>,
    out: Linear,
    params: ParamStore,
}

impl Mlp {
    pub fn new(spec: &MlpSpec, seed: u64, device: &Device) -> Result<Self> {
        ensure!(
            spec.dim > 0 && spec.out_dim > 0 && spec.hidden > 0 && spec.depth > 0,
            "mlp: every size must be positive: {spec:?}"
        );
        ensure!(spec.time_dim >= 2 && spec.time_dim.is_multiple_of(2), "mlp: time_dim must be even and >= 2");
        let mut p = ParamInit::new(seed, device);
        let h = spec.hidden;
        let time = Linear::new(&mut p, "time", spec.time_dim, h)?;
        let mut layers = Vec::new();
        let mut time_proj = Vec::new();
        for l in 0..spec.depth {
            let fan_in = if l == 0 { spec.dim } else { h };
            layers.push(Linear::new(&mut p, &format!("layer{l}"), fan_in, h)?);
            time_proj.push(Linear::new(&mut p, &format!("tproj{l}"), h, h)?);
        }
        let out = Linear::new(&mut p, "out", h, spec.out_dim)?;
        Ok(Self { spec: spec.clone(), time, layers, time_proj, out, params: p.finish() })
    }

    pub fn spec(&self) -> &MlpSpec {
        &self.spec
    }

    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    fn time_features(&self, t: &Tensor) -> Result<Tensor> {
        Ok(self.time.forward(&time_embedding(t, self.spec.time_dim)?)?.silu()?)
    }

    /// x (n, d) f32, t (n,) f32 → (n, out_dim).
    pub fn forward(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let e = self.time_features(t)?;
        let mut h = x.clone();
        for (lin, tp) in self.layers.iter().zip(&self.time_proj) {
            h = (lin.forward(&h)? + tp.forward(&e)?)?.silu()?;
        }
        self.out.forward(&h)
    }

    /// [`Self::forward`] without autograd: on the CPU the engine's fused pass (same values up to
    /// rounding), elsewhere candle's ops on detached results.
    pub fn eval(&self, x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let (n, d) = x.dims2()?;
        ensure!(d == self.spec.dim, "mlp: input of dimension {d}, expected {}", self.spec.dim);
        ensure!(t.dims1()? == n, "mlp: {} times for {n} rows", t.dims1()?);
        if let Some(y) = cpu::mlp_eval(&self.spec, &self.params, x, t)? {
            return Ok(y);
        }
        Ok(self.forward(x, t)?.detach())
    }

    /// Value (n, out_dim) and the stacked tangents (k, n, out_dim) along `dx` of shape (k, n, d).
    pub fn forward_tangent(&self, x: &Tensor, t: &Tensor, dx: &Tensor) -> Result<(Tensor, Tensor)> {
        let e = self.time_features(t)?;
        let mut h = x.clone();
        let mut dh = dx.clone();
        for (lin, tp) in self.layers.iter().zip(&self.time_proj) {
            let z = (lin.forward(&h)? + tp.forward(&e)?)?;
            dh = silu_tangent(&z, &lin.tangent(&dh)?)?;
            h = z.silu()?;
        }
        Ok((self.out.forward(&h)?, self.out.tangent(&dh)?))
    }
}
