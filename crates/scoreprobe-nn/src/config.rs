//! Training configuration (serialised into every checkpoint sidecar).

use crate::adamw::AdamWConfig;
use crate::data::DataShape;
use crate::error::{bail, ensure, NnError, Result};
use crate::mlp::MlpSpec;
use crate::net::ArchSpec;
use crate::unet::UnetSpec;
use scoreprobe_core::schedule::ScheduleSpec;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Mlp,
    Unet,
}

impl std::str::FromStr for ModelKind {
    type Err = NnError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mlp" => Ok(ModelKind::Mlp),
            "unet" => Ok(ModelKind::Unet),
            other => Err(NnError::invalid("--model", format!("unknown model '{other}'; known: mlp, unet"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpOptions {
    pub hidden: usize,
    pub depth: usize,
    pub time_dim: usize,
}

impl Default for MlpOptions {
    fn default() -> Self {
        Self { hidden: 128, depth: 3, time_dim: 64 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnetOptions {
    pub widths: [usize; 2],
    pub groups: usize,
    pub attention: bool,
    pub time_dim: usize,
}

impl Default for UnetOptions {
    fn default() -> Self {
        Self { widths: [32, 64], groups: 8, attention: true, time_dim: 128 }
    }
}

/// Everything that determines a training run. Two runs with equal configs (and seeds) produce
/// the same weights; on resume every field except `steps`, `checkpoint_every` and `quiet` must
/// match the run directory's last sidecar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// `ring8`, `grid25`, `mnist`, `fashion-mnist`, `cifar10-test`, a dataset path, or `PATH.npy`.
    pub data: String,
    /// Keep only the first rows/images of a finite dataset.
    pub data_limit: Option<usize>,
    pub model: ModelKind,
    pub mlp: MlpOptions,
    pub unet: UnetOptions,
    pub schedule: ScheduleSpec,
    /// Total optimiser steps of the run.
    pub steps: u64,
    pub batch: usize,
    /// Peak learning rate (after warm-up).
    pub lr: f64,
    /// Linear warm-up from lr/warmup_steps to lr over this many steps.
    pub warmup_steps: u64,
    pub adam: AdamWConfig,
    /// Clip the global gradient norm to this value.
    pub grad_clip: Option<f64>,
    pub ema_decay: f64,
    /// Write `ckpt-<step>` every this many steps (the final step is always written).
    pub checkpoint_every: Option<u64>,
    pub seed: u64,
    /// VP training times are drawn from U(t_eps, 1); ignored for DDPM (k ~ U{0..K−1}).
    pub t_eps: f64,
    /// Hide the progress bar (it is also hidden when stderr is not a terminal).
    pub quiet: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            data: "ring8".into(),
            data_limit: None,
            model: ModelKind::Mlp,
            mlp: MlpOptions::default(),
            unet: UnetOptions::default(),
            schedule: ScheduleSpec::default(),
            steps: 10_000,
            batch: 512,
            lr: 1e-3,
            warmup_steps: 100,
            adam: AdamWConfig::default(),
            grad_clip: Some(1.0),
            ema_decay: 0.999,
            checkpoint_every: None,
            seed: 0,
            t_eps: 1e-3,
            quiet: false,
        }
    }
}

impl TrainConfig {
    /// Defaults for a model kind: MLP batch 512, lr 1e-3; U-Net batch 64, lr 2e-4, 5000 steps.
    pub fn new(data: &str, model: ModelKind) -> Self {
        let base = Self { data: data.to_string(), model, ..Self::default() };
        match model {
            ModelKind::Mlp => base,
            ModelKind::Unet => Self { batch: 64, lr: 2e-4, steps: 5000, ..base },
        }
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(self.batch > 0, "batch must be positive");
        ensure!(self.lr > 0.0 && self.lr.is_finite(), "lr must be positive, got {}", self.lr);
        ensure!((0.0..1.0).contains(&self.ema_decay), "ema_decay must be in [0, 1), got {}", self.ema_decay);
        ensure!(self.t_eps > 0.0 && self.t_eps < 1.0, "t_eps must be in (0, 1), got {}", self.t_eps);
        ensure!(self.checkpoint_every != Some(0), "checkpoint_every must be positive");
        if let Some(c) = self.grad_clip {
            ensure!(c > 0.0, "grad_clip must be positive, got {c}");
        }
        Ok(())
    }

    /// The architecture this config builds for data of the given shape.
    pub fn resolve_arch(&self, shape: &DataShape) -> Result<ArchSpec> {
        match (self.model, shape) {
            (ModelKind::Mlp, _) => Ok(ArchSpec::Mlp(MlpSpec {
                dim: shape.dim(),
                out_dim: shape.dim(),
                hidden: self.mlp.hidden,
                depth: self.mlp.depth,
                time_dim: self.mlp.time_dim,
            })),
            (ModelKind::Unet, &DataShape::Image { channels, height, width }) => Ok(ArchSpec::Unet(UnetSpec {
                channels,
                height,
                width,
                widths: self.unet.widths,
                groups: self.unet.groups,
                attention: self.unet.attention,
                time_dim: self.unet.time_dim,
            })),
            (ModelKind::Unet, DataShape::Vector { dim }) => {
                bail!(
                    "--model unet needs image data, but '{}' is {dim}-dimensional vector data; use --model mlp",
                    self.data
                )
            }
        }
    }

    /// The fields that must agree for a resume to continue the same run.
    pub(crate) fn resume_key(&self) -> TrainConfig {
        TrainConfig { steps: 0, checkpoint_every: None, quiet: false, ..self.clone() }
    }
}
