//! Named trainable parameters with seeded initialisation.
//!
//! candle's own initialisers draw from the device RNG, which cannot be seeded on the CPU, so every
//! parameter is drawn here from a [`ChaCha8Rng`] and wrapped in a [`Var`]. Layers keep clones of
//! the Var's tensor (same storage, same id), so `Var::set` updates them in place and gradients
//! are found in the `GradStore` by the Var.

use crate::error::{bail, NnError, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Collects parameters while a network is built.
pub struct ParamInit {
    rng: ChaCha8Rng,
    vars: Vec<(String, Var)>,
    device: Device,
}

impl ParamInit {
    pub fn new(seed: u64, device: &Device) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed), vars: Vec::new(), device: device.clone() }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    fn push(&mut self, name: String, data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        if self.vars.iter().any(|(n, _)| *n == name) {
            bail!("duplicate parameter name {name}");
        }
        let var = Var::from_vec(data, shape, &self.device)?;
        let t = var.as_tensor().clone();
        self.vars.push((name, var));
        Ok(t)
    }

    /// U(−bound, bound) entries (PyTorch's default for Linear/Conv is bound = 1/√fan_in).
    pub fn uniform(&mut self, name: String, shape: &[usize], bound: f32) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| self.rng.random_range(-1.0f32..1.0) * bound).collect();
        self.push(name, data, shape)
    }

    pub fn constant(&mut self, name: String, shape: &[usize], value: f32) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        self.push(name, vec![value; n], shape)
    }

    pub fn finish(self) -> ParamStore {
        ParamStore { vars: self.vars, device: self.device }
    }
}

/// The ordered, named parameters of one network.
pub struct ParamStore {
    vars: Vec<(String, Var)>,
    device: Device,
}

impl ParamStore {
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Total number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Detached copies of the current values, in order.
    pub fn snapshot(&self) -> Result<Vec<Tensor>> {
        self.vars.iter().map(|(_, v)| Ok(v.as_tensor().detach().copy()?)).collect()
    }

    /// Overwrites every parameter with `values` (same order and shapes as [`Self::vars`]).
    pub fn assign(&self, values: &[Tensor]) -> Result<()> {
        if values.len() != self.vars.len() {
            bail!("expected {} tensors, got {}", self.vars.len(), values.len());
        }
        for ((name, var), v) in self.vars.iter().zip(values) {
            var.set(&v.to_dtype(DType::F32)?.contiguous()?)
                .map_err(|e| NnError::Check(format!("setting parameter {name}: {e}")))?;
        }
        Ok(())
    }

    /// Reads `prefix + name` for every parameter from `map`, checking names and shapes; `file`
    /// names the source in error messages.
    pub fn take_from(&self, map: &HashMap<String, Tensor>, prefix: &str, file: &str) -> Result<Vec<Tensor>> {
        let mut out = Vec::with_capacity(self.vars.len());
        for (name, var) in &self.vars {
            let key = format!("{prefix}{name}");
            let Some(t) = map.get(&key) else {
                bail!(
                    "{file}: tensor '{key}' is missing; the checkpoint does not match the architecture in its sidecar"
                )
            };
            if t.dims() != var.dims() {
                bail!(
                    "{file}: tensor '{key}' has shape {:?} but the sidecar's architecture needs {:?}",
                    t.dims(),
                    var.dims()
                );
            }
            out.push(t.to_dtype(DType::F32)?.to_device(&self.device)?);
        }
        let expected = self.vars.len();
        let present = map.keys().filter(|k| k.starts_with(prefix)).count();
        if present != expected {
            bail!(
                "{file}: {present} tensors under '{prefix}' but the sidecar's architecture has {expected} parameters"
            );
        }
        Ok(out)
    }
}
