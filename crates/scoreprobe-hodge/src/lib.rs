//! scoreprobe-hodge: Helmholtz–Hodge diagnostics of the score error (SPEC §5) and the KL bounds
//! of the reverse-SDE sampler (SPEC §6).
//!
//! The score error e_t = s_θ − ∇log p_t splits L²(p_t)-orthogonally into a gradient part ∇φ_t
//! (∇·(p_t∇φ_t) = ∇·(p_t e_t)) and a solenoidal remainder r_t. Per time t this crate reports
//! ‖e_t‖², ‖∇φ_t‖² and ‖r_t‖² = ‖e_t‖² − ‖∇φ_t‖² in score units (and ×σ_t² in ε-units), from one
//! of several estimators behind [`HodgeEstimator`]:
//! - [`closed_form::ClosedForm`]: Gaussian target with an affine error (Lyapunov equation);
//! - [`grid::Grid`]: d ≤ 2 exact targets, finite-volume weighted Poisson solve by CG;
//! - [`random_features::RandomFeatures`]: the dual (denoising) form with a linear-in-parameters
//!   critic, fitted on one sample set and evaluated on another; no true score needed;
//! - [`critic::Critic`]: a neural scalar critic (scoreprobe-nn) per time in the same dual form,
//!   trained on fresh draws and evaluated on held-out ones (oracle form when the error is known).
//!
//! [`bounds`] integrates ½β‖e_t‖² (Girsanov) and ½β‖∇φ_t‖² (marginal) over [t_min, T] and adds
//! KL(p_T‖π), next to the exact KL(p_tmin‖q_tmin) where one exists.

pub mod bounds;
pub mod closed_form;
pub mod critic;
pub mod error;
mod estimate;
pub mod grid;
mod kind;
pub mod options;
pub mod problem;
mod profile;
pub mod quadrature;
pub mod random_features;
pub mod shard;

pub use bounds::{bounds_part, kl_bounds, prior_kl, BoundsConfig, BoundsPart, BoundsReport, PriorKl};
pub use error::{HodgeError, NotApplicable};
pub use estimate::{Estimate, HodgePoint};
pub use kind::EstimatorKind;
pub use options::{
    bounds_part_of, hodge_profile, run_bounds, run_hodge, BoundsOptions, EstimatorChoice, EstimatorOptions,
    HodgeOptions,
};
pub use problem::{check_applies, Data, HodgeEstimator, Problem};
pub use profile::{estimator, estimators, profile, profile_part, EpsUnits, HodgeConfig, HodgeProfile, HodgeReport};
