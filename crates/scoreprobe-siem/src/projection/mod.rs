//! The projection form of SIEM (SPEC §7):
//!
//! ```text
//! SIEM^proj_W = Σ_{k∈W} β(t)² Δt (1/K) Σ_c m̂_c(t)²,   t = t_{k+1},
//! m_c(t) = E_{p_t}[s_θ(x, t)·∇φ_c(x) + Δφ_c(x)]  (= E_{p_t}[e_t·∇φ_c], by parts),
//! ```
//!
//! on forward-noised data draws x = α_t x₀ + σ_t ξ at the same grid times and with the same
//! Riemann weights as the particle form. No sampler run and no fitted field: n score evaluations
//! per window time. m_c = −⟨∇·(p_t e_t), φ_c⟩ vanishes for every p_t-solenoidal error, is zero
//! for the exact model and scales as λ for an error λe, so SIEM^proj is 0 in expectation for the
//! exact model and scales as λ².
//!
//! - [`moments`]: the accumulators (mergeable sums), the unbiased m̂_c² and its variance;
//! - `draws`: the seeded per-time draws and the pilot that sets the bandwidth;
//! - `pass`: [`estimate_projections`], several runs on the same draws with one score evaluation
//!   per (time, draw) of the union of their windows; [`estimate_projection`] is it with one run;
//! - [`oracle`]: m_c(t) in closed form for a Gaussian p_t, an affine error and a Gaussian ψ, and
//!   the quadratic family's Q_t for the same;
//! - [`quadratic`]: the quadratic family (every test function of degree ≤ 2), from Gram matrices.
//!
//! The test functions are part of the metric (SPEC §7): the centres come from the caller (drawn
//! with the test seed), the median bandwidth from pilot draws keyed by `test_seed` and pooled over
//! every time of the full grid, so a window is the full run restricted to it and every model,
//! sampling seed and shard is measured with the same φ_c.
//!
//! Radial test functions again need only two scalars per draw and centre: with ρ = |x − c| and
//! a = s_θ·(x − c), g = ψ'(r)/(r h²)·a + (ψ''(r) + (d−1)ψ'(r)/r)/h², r = ρ/h.

mod config;
mod draws;
pub mod moments;
pub mod oracle;
mod pass;
pub mod quadratic;

pub use config::{centers_from_draws, ProjectionConfig, ProjectionReport, TestFamily, DEFAULT_CENTERS, DEFAULT_PILOT};
pub use moments::{paired_jackknife_se, ProjectionEstimate, ProjectionStep};
pub use pass::{estimate_projection, estimate_projections, SharedProjection};
pub use quadratic::{QuadraticParts, QuadraticState};
