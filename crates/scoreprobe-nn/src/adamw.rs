//! AdamW over a [`ParamStore`], written by hand.
//!
//! candle-nn's `AdamW` keeps its moment estimates and step counter in private fields, so they
//! cannot be saved; exact resume needs them in the checkpoint. This is the same algorithm
//! (decoupled weight decay, bias-corrected moments, as in PyTorch's `torch.optim.AdamW`) with its
//! state exposed.

use crate::error::Result;
use crate::params::ParamStore;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

pub struct AdamW {
    pub config: AdamWConfig,
    /// First moments, one per parameter (same order as the store).
    pub m: Vec<Tensor>,
    /// Second moments.
    pub v: Vec<Tensor>,
    /// Number of updates taken.
    pub t: u64,
}

impl AdamW {
    pub fn new(params: &ParamStore, config: AdamWConfig) -> Result<Self> {
        let zeros = || -> Result<Vec<Tensor>> { params.vars().iter().map(|(_, v)| Ok(v.zeros_like()?)).collect() };
        Ok(Self { config, m: zeros()?, v: zeros()?, t: 0 })
    }

    /// The gradients of every parameter (zeros where a parameter got none).
    pub fn collect_grads(params: &ParamStore, grads: &GradStore) -> Result<Vec<Tensor>> {
        params
            .vars()
            .iter()
            .map(|(_, v)| match grads.get(v.as_tensor()) {
                Some(g) => Ok(g.clone()),
                None => Ok(v.zeros_like()?),
            })
            .collect()
    }

    /// Global L² norm of a gradient list.
    pub fn grad_norm(grads: &[Tensor]) -> Result<f64> {
        let mut s = 0.0f64;
        for g in grads {
            s += g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
        }
        Ok(s.sqrt())
    }

    /// One update with learning rate `lr`; `grads` in store order.
    pub fn step(&mut self, params: &ParamStore, grads: &[Tensor], lr: f64) -> Result<()> {
        self.t += 1;
        let c = &self.config;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        for (i, ((_, var), g)) in params.vars().iter().zip(grads).enumerate() {
            let m = ((&self.m[i] * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((&v * (1.0 / bc2))?.sqrt()? + c.eps)?;
            let update = ((&m * (lr / bc1))? / denom)?;
            let p = var.as_tensor().detach();
            let next = ((p * (1.0 - lr * c.weight_decay))? - update)?;
            var.set(&next)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }
}
