//! scoreprobe-siem: SIEM, the quadratic-variation metric of the score error (SPEC §7), in two
//! forms ([`SiemForm`]):
//!
//! - projection: SIEM^proj_W = ∫_W β(t)² (1/K) Σ_c m_c(t)² dt, m_c(t) = E_{p_t}[s_θ·∇φ_c + Δφ_c],
//!   on forward-noised data draws (no sampler run, no fitted field; [`projection`]);
//! - particle: SIEM^part_W = ∫_{t∈W} β(t)² E_{X~q_t}[(ê_t(X)·∇φ(X))²] dt on the model's own
//!   reverse-SDE trajectories with an error field ê ([`estimate`]).
//!
//! - [`testfn`]: radial test functions φ(x) = ψ(|x − c|/h) (Gaussian, IMQ, bump), bandwidth rules,
//!   the multi-centre variant;
//! - [`source`]: error-field sources ê_t behind [`ErrorSource`] (`oracle`, `classifier`, `critic`);
//! - `classifier` (feature `nn`, on by default): the time-conditioned classifier source;
//! - `critic` (feature `nn`): ê_t = ∇χ*_t/σ_t from a time-conditioned Hodge critic (SPEC §5);
//! - [`estimate`]: [`estimate_siem`] (the particle form), which runs only the sampling steps the
//!   window needs and reports SIEM, its standard error, the per-step profile, the empirical QV,
//!   NFE and seconds;
//! - [`monitor`]: what a training monitor needs (default family by dimension, influence terms,
//!   paired differences, the `monitor.jsonl` record);
//! - [`projection`]: [`estimate_projection`] with its mergeable accumulators and closed-form oracle,
//!   radial test functions or the quadratic family ([`TestFamily`]); [`estimate_projections`] runs
//!   several on the same draws with one score evaluation per (time, draw);
//!
//! See docs/siem.md for the metric, its windows and what radial test functions cannot see.

#[cfg(feature = "nn")]
pub mod classifier;
#[cfg(feature = "nn")]
pub mod critic;
#[cfg(feature = "nn")]
pub mod critic_file;
pub mod error;
pub mod estimate;
pub mod form;
pub mod monitor;
pub mod options;
pub mod particle_shard;
pub mod projection;
pub mod recipe;
pub mod shard;
pub mod source;
pub mod testfn;

pub use error::SiemError;
pub use estimate::{
    estimate_part, estimate_siem, finish_siem, ParticlePart, ProfilePoint, SiemConfig, SiemFloor, SiemReport,
    TestFnReport,
};
pub use form::SiemForm;
pub use options::{run_projection, run_siem, SiemOptions, SiemReference};
pub use projection::{
    centers_from_draws, estimate_projection, estimate_projections, ProjectionConfig, ProjectionReport, QuadraticParts,
    SharedProjection, TestFamily,
};
pub use source::{AuxCost, ErrorFieldKind, ErrorSource, FloorFacts, OracleSource, PrepareContext, SourceBand};
pub use testfn::{
    centers_from_target, centers_hash, BandwidthRule, MedianRule, RadialKind, RadialTestFn, TestFnKind, TestFnSpec,
};
