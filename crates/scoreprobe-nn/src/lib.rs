//! scoreprobe-nn: neural score models for scoreprobe (SPEC §1, §5).
//!
//! - [`mlp`], [`unet`]: ε-networks (f32, candle) for low-d data and 28×28 / 32×32 images;
//!   [`score::NetScoreModel`] wraps one with its schedule as a core `ScoreModel` (s = −ε/σ_t).
//! - [`jvp`]: scalar networks (critic χ(x,t), classifier d(x,t)) whose forward pass propagates
//!   tangents, so x-gradients enter losses without input-gradient autodiff; [`critic_fit`] fits
//!   the dual critics of SPEC §5 with them (shared by the Hodge estimator and the SIEM source).
//! - [`train`]: denoising score matching on VP or DDPM schedules, AdamW ([`adamw`], hand-written
//!   for resumable state), EMA ([`ema`]), checkpoint sweeps and exact resume ([`checkpoint`]).
//! - `cpu` (crate-private): the CPU engine, hand-written passes of both networks behind one
//!   dispatch point per network; [`engine`] exposes its entries to the parity tests and benchmarks.

pub mod adamw;
pub mod checkpoint;
pub mod config;
pub(crate) mod cpu;
pub mod critic_fit;
pub mod data;
pub mod device;
pub mod ema;
pub mod error;
pub mod jvp;
pub mod layers;
pub mod mlp;
pub mod net;
pub mod params;
pub mod problem;
pub mod score;
pub mod spec;
pub mod train;
pub mod unet;

pub use checkpoint::{list_checkpoints, load_checkpoint, load_checkpoint_with, load_score_model, LoadOptions, Sidecar};
pub use config::{ModelKind, TrainConfig};
pub use critic_fit::{fit_scalar_critic, fit_vector_critic, CriticBatch, CriticFitConfig, ScalarCritic, VectorCritic};
pub use data::{DataShape, DataTransform, TrainData};
pub use device::{default_device, select_device, DeviceChoice, DeviceError};
pub use error::NnError;
pub use jvp::{ConvCritic, ConvCriticSpec, JvpMlp, JvpScalar};
pub use mlp::Mlp;
pub use net::{ArchSpec, Network};
pub use problem::{resolve, ResolvedProblem};
pub use score::NetScoreModel;
/// PNG grids of image samples (re-exported for the CLI).
pub use scoreprobe_data::grid::write_png_grid;
pub use spec::{MlpSpec, UnetSpec};
pub use train::{train, train_observed, train_with_data, train_with_data_on, Observer, StepView, TrainReport};
pub use unet::Unet;

/// The CPU engine's entries, for the parity harness (`tests/parity.rs`), the kernel tests and the
/// benchmarks: not a stable API (the networks choose the engine themselves).
#[doc(hidden)]
pub mod engine {
    pub use crate::cpu::critic::{vector_upstream, Directions, ScalarObjective};
    pub use crate::cpu::mlp::{dsm_upstream, MlpKernel, ParamLayout};
    pub use crate::cpu::{batch_views, conv, fused, mlp, unet, UnetKernel};
    pub use scoreprobe_core::simd::{force as force_simd, level as simd_level, Level as SimdLevel};
}
