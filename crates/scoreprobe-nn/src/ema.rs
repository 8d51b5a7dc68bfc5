//! Exponential moving average of the parameters.

use crate::cpu::{is_cpu_f32, simd_dispatch, with_f32, with_f32_mut};
use crate::error::Result;
use crate::params::ParamStore;
use candle_core::Tensor;

pub struct Ema {
    pub decay: f64,
    /// Shadow weights, in store order.
    pub shadow: Vec<Tensor>,
}

#[inline(always)]
fn ema_body(s: &mut [f32], p: &[f32], d: f32, one_minus_d: f32) {
    for (s, &p) in s.iter_mut().zip(p) {
        *s = *s * d + p * one_minus_d;
    }
}

simd_dispatch!(fn ema_kernel(s: &mut [f32], p: &[f32], d: f32, one_minus_d: f32) => ema_body);

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
            if is_cpu_f32(s) && is_cpu_f32(var.as_tensor()) {
                let (df, omd) = (d as f32, (1.0 - d) as f32);
                with_f32(var.as_tensor(), |p| with_f32_mut(s, |sh| ema_kernel(sh, p, df, omd)))??;
            } else {
                *s = ((&*s * d)? + (var.as_tensor().detach() * (1.0 - d))?)?;
            }
        }
        Ok(())
    }
}
