//! Exponential moving average of the parameters.

use crate::cpu::optim::ema_update;
use crate::error::Result;
use crate::params::ParamStore;
use candle_core::Tensor;

pub struct Ema {
    pub decay: f64,
    /// Shadow weights, in store order.
    pub shadow: Vec<Tensor>,
}

impl Ema {
    pub fn new(params: &ParamStore, decay: f64) -> Result<Self> {
        Ok(Self { decay, shadow: params.snapshot()? })
    }

    /// Effective decay after `step` updates: min(decay, (1 + step)/(10 + step)), so that early
    /// checkpoints are not dominated by the random initialisation.
    pub fn effective_decay(&self, step: u64) -> f64 {
        self.decay.min((1.0 + step as f64) / (10.0 + step as f64))
    }

    /// shadow ← d·shadow + (1 − d)·θ, after the optimiser's `step`-th update (in place on the
    /// CPU, with the f32 operations of the composed candle ops it replaced).
    pub fn update(&mut self, params: &ParamStore, step: u64) -> Result<()> {
        let d = self.effective_decay(step);
        for (s, (_, var)) in self.shadow.iter_mut().zip(params.vars()) {
            if !ema_update(s, var.as_tensor(), d)? {
                *s = ((&*s * d)? + (var.as_tensor().detach() * (1.0 - d))?)?;
            }
        }
        Ok(())
    }
}
