//! AdamW over a [`ParamStore`], written by hand.
//!
//! candle-nn's `AdamW` keeps its moment estimates and step counter in private fields, so they
//! cannot be saved; exact resume needs them in the checkpoint. This is the same algorithm
//! (decoupled weight decay, bias-corrected moments, as in PyTorch's `torch.optim.AdamW`) with its
//! state exposed.
//!
//! On the CPU one update is a single in-place pass per parameter (the engine's `cpu::optim`): gradient
//! scaling (clipping), both moments, the weight and optionally the EMA shadow, with the same f32
//! operations in the same order as the composed candle ops it replaced (so the same bits), but
//! without the ~15 allocating tensor ops per parameter those cost. Elsewhere (the `cuda`
//! feature) the composed ops run.

pub use crate::cpu::optim::Grads;
use crate::cpu::optim::{self, Coefficients};
use crate::ema::Ema;
use crate::error::{ensure, Result};
use crate::params::ParamStore;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
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

/// A flat gradient (store order) as one tensor per parameter.
fn split_flat(flat: &[f32], vars: &[(String, Var)]) -> candle_core::Result<Vec<Tensor>> {
    let mut off = 0;
    vars.iter()
        .map(|(_, v)| {
            let n = v.elem_count();
            off += n;
            Tensor::from_slice(&flat[off - n..off], v.shape(), v.device())
        })
        .collect()
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
                Some(g) => Ok(g.contiguous()?),
                None => Ok(v.zeros_like()?),
            })
            .collect()
    }

    /// Global L² norm of a gradient list.
    pub fn grad_norm(grads: &[Tensor]) -> Result<f64> {
        if let Some(s) = optim::sum_of_squares(grads)? {
            return Ok(s.sqrt());
        }
        let mut s = 0.0f64;
        for g in grads {
            s += g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
        }
        Ok(s.sqrt())
    }

    /// Global L² norm of gradients in either form.
    pub fn norm_of(grads: Grads) -> Result<f64> {
        match grads {
            Grads::Tensors(g) => Self::grad_norm(g),
            Grads::Flat(g) => Ok(optim::sum_sq(g).sqrt()),
        }
    }

    /// One update with learning rate `lr`; `grads` in store order.
    pub fn step(&mut self, params: &ParamStore, grads: &[Tensor], lr: f64) -> Result<()> {
        self.update(params, Grads::Tensors(grads), 1.0, lr, None)
    }

    /// One update with the gradients multiplied by `scale` (global-norm clipping), learning rate
    /// `lr`, and, when given, the EMA's update after it (`ema.update(params, step)` in the same
    /// pass over memory).
    pub fn update(
        &mut self,
        params: &ParamStore,
        grads: Grads,
        scale: f64,
        lr: f64,
        ema: Option<(&mut Ema, u64)>,
    ) -> Result<()> {
        let vars = params.vars();
        let sizes: Vec<usize> = vars.iter().map(|(_, v)| v.elem_count()).collect();
        match grads {
            Grads::Tensors(g) => ensure!(g.len() == vars.len(), "expected {} gradients, got {}", vars.len(), g.len()),
            Grads::Flat(g) => ensure!(
                g.len() == sizes.iter().sum::<usize>(),
                "flat gradient of {} values for {} parameters",
                g.len(),
                sizes.iter().sum::<usize>()
            ),
        }
        self.t += 1;
        let c = &self.config;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        let shadow = ema.as_ref().map(|(e, _)| e.shadow.as_slice());
        if !optim::runs_here(vars, &self.m, &self.v, shadow, grads) {
            let owned: Vec<Tensor>;
            let g: &[Tensor] = match grads {
                Grads::Tensors(g) => g,
                Grads::Flat(flat) => {
                    owned = split_flat(flat, vars)?;
                    &owned
                }
            };
            self.composed_step(params, g, scale, lr, bc1, bc2)?;
            if let Some((e, step)) = ema {
                e.update(params, step)?;
            }
            return Ok(());
        }
        let (ema_d, shadow) = match ema {
            Some((e, step)) => (e.effective_decay(step), Some(e.shadow.as_slice())),
            None => (0.0, None),
        };
        let co = Coefficients {
            scale: scale as f32,
            b1: c.beta1 as f32,
            one_minus_b1: (1.0 - c.beta1) as f32,
            b2: c.beta2 as f32,
            one_minus_b2: (1.0 - c.beta2) as f32,
            inv_bc2: (1.0 / bc2) as f32,
            eps: c.eps as f32,
            step: (lr / bc1) as f32,
            decay: (1.0 - lr * c.weight_decay) as f32,
            ema_d: ema_d as f32,
            ema_1md: (1.0 - ema_d) as f32,
        };
        Ok(optim::adamw_update(vars, &sizes, grads, (&self.m, &self.v), shadow, &co)?)
    }

    /// The update as composed candle ops (any device).
    fn composed_step(
        &mut self,
        params: &ParamStore,
        grads: &[Tensor],
        scale: f64,
        lr: f64,
        bc1: f64,
        bc2: f64,
    ) -> Result<()> {
        let c = &self.config;
        for (i, ((_, var), g)) in params.vars().iter().zip(grads).enumerate() {
            let g = if scale != 1.0 { (g * scale)? } else { g.clone() };
            let m = ((&self.m[i] * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
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
