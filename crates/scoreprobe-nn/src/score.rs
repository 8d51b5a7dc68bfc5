//! A trained ε-network as a core [`ScoreModel`]: s(x, t) = −ε_θ(x, t)/σ_t. A forward pass that
//! fails (a device error, a corrupt network) is a [`ModelError::Failed`] keeping the candle error
//! as its source, never a panic.

use crate::error::{NnError, Result};
use crate::net::{ArchSpec, Network};
use candle_core::{DType, Device, Tensor};
use ndarray::{s, Array2, ArrayView2};
use scoreprobe_core::schedule::{Schedule, ScheduleSpec};
use scoreprobe_core::{ModelError, ScoreModel};

pub struct NetScoreModel {
    net: Network,
    arch: ArchSpec,
    schedule: Schedule,
    schedule_spec: ScheduleSpec,
    description: String,
    /// Rows per forward pass (bounds memory).
    chunk: usize,
}

impl NetScoreModel {
    pub fn new(net: Network, arch: ArchSpec, schedule_spec: ScheduleSpec, description: String) -> Result<Self> {
        let schedule = Schedule::from_spec(&schedule_spec)?;
        let chunk = match arch {
            ArchSpec::Mlp(_) => 8192,
            ArchSpec::Unet(_) => 256,
        };
        Ok(Self { net, arch, schedule, schedule_spec, description, chunk })
    }

    pub fn network(&self) -> &Network {
        &self.net
    }
    pub fn arch(&self) -> &ArchSpec {
        &self.arch
    }
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
    pub fn schedule_spec(&self) -> &ScheduleSpec {
        &self.schedule_spec
    }
    pub fn device(&self) -> &Device {
        self.net.params().device()
    }

    /// ε_θ(x, t) for each row, in f64.
    pub fn eps(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        let d = self.arch.dim();
        if x.ncols() != d {
            return Err(ModelError::InputDimension { model: self.description.clone(), got: x.ncols(), expected: d });
        }
        self.eps_unchecked(x, t).map_err(|e| ModelError::failed(self.description.clone(), e))
    }

    /// The forward passes of [`Self::eps`], in chunks of rows.
    fn eps_unchecked(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, NnError> {
        let d = self.arch.dim();
        let n = x.nrows();
        let mut out = Array2::zeros((n, d));
        let mut start = 0;
        while start < n {
            let end = (start + self.chunk).min(n);
            let rows = x.slice(s![start..end, ..]);
            let flat: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
            let xt = Tensor::from_vec(flat, (end - start, d), self.device())?;
            let tt = Tensor::full(t as f32, end - start, self.device())?;
            let eps = self.net.forward(&xt, &tt)?.to_dtype(DType::F64)?;
            let v: Vec<f64> = eps.flatten_all()?.to_vec1()?;
            let rows = ArrayView2::from_shape((end - start, d), &v).map_err(|e| {
                NnError::invalid(
                    "score network",
                    format!("returned {} values for {} rows of dimension {d}: {e}", v.len(), end - start),
                )
            })?;
            out.slice_mut(s![start..end, ..]).assign(&rows);
            start = end;
        }
        Ok(out)
    }
}

impl ScoreModel for NetScoreModel {
    fn dim(&self) -> usize {
        self.arch.dim()
    }

    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        Ok(self.eps(x, t)? * (-1.0 / self.schedule.sigma(t)))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}
