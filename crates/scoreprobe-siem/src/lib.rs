//! scoreprobe-siem: SIEM, the quadratic-variation metric of the score error (SPEC §7).
//!
//! SIEM_W = ∫_{t∈W} β(t)² E_{X~q_t}[(ê_t(X)·∇φ(X))²] dt, estimated on the model's own reverse-SDE
//! trajectories by a Riemann sum over a window W of the sampler's steps.
//!
//! - [`testfn`]: radial test functions φ(x) = ψ(|x − c|/h) (Gaussian, IMQ, bump), bandwidth rules,
//!   the multi-centre variant;
//! - [`source`]: error-field sources ê_t behind [`ErrorSource`] (`oracle`, `classifier`, `critic`);
//! - `classifier` (feature `nn`, on by default): the time-conditioned classifier source;
//! - `critic` (feature `nn`): ê_t = ∇χ*_t/σ_t from a time-conditioned Hodge critic (SPEC §5);
//! - [`estimate`]: [`estimate_siem`], which runs only the sampling steps the window needs and
//!   reports SIEM, its standard error, the per-step profile, the empirical QV, NFE and seconds.
//!
//! See docs/siem.md for the metric, its windows and what radial test functions cannot see.

#[cfg(feature = "nn")]
pub mod classifier;
#[cfg(feature = "nn")]
pub mod critic;
pub mod error;
pub mod estimate;
pub mod options;
pub mod source;
pub mod testfn;

pub use error::SiemError;
pub use estimate::{estimate_siem, ProfilePoint, SiemConfig, SiemReport, TestFnReport};
pub use options::{run_siem, SiemOptions, SiemReference};
pub use source::{AuxCost, ErrorFieldKind, ErrorSource, OracleSource, PrepareContext};
pub use testfn::{centers_from_target, BandwidthRule, RadialKind, RadialTestFn, TestFnSpec};
