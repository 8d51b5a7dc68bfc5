//! The Hodge split and the KL bounds as every front end runs them (the CLI's `hodge` and
//! `bounds`, the Python module's `hodge` and `bounds`): their options, declared once for clap and
//! serde, the "auto" choice, and the two runs. Front ends only parse their inputs and print.

use crate::bounds::{bounds_part, BoundsPart};
use crate::critic::{CriticIdentity, CriticL2};
use crate::error::HodgeError;
use crate::profile::profile_part;
use crate::random_features::{Identity, L2Source};
use crate::HodgeProfile;
use crate::{estimators, BoundsConfig, BoundsReport, EstimatorKind, HodgeConfig, HodgeEstimator};
use crate::{HodgeReport, Problem};
use scoreprobe_core::options::{clap_defaults, OptionError};
use scoreprobe_core::shard::ShardOptions;
use serde::{Deserialize, Serialize};

/// Which estimator: one of [`EstimatorKind`], or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorChoice {
    /// The first of closed-form, grid, random-features that applies.
    Auto,
    ClosedForm,
    Grid,
    RandomFeatures,
    Critic,
}

impl EstimatorChoice {
    /// The estimator asked for; None for `auto`.
    pub fn kind(self) -> Option<EstimatorKind> {
        match self {
            EstimatorChoice::Auto => None,
            EstimatorChoice::ClosedForm => Some(EstimatorKind::ClosedForm),
            EstimatorChoice::Grid => Some(EstimatorKind::Grid),
            EstimatorChoice::RandomFeatures => Some(EstimatorKind::RandomFeatures),
            EstimatorChoice::Critic => Some(EstimatorKind::Critic),
        }
    }
}

/// Estimator options shared by `hodge` and `bounds` (flattened into [`HodgeOptions`] and
/// [`BoundsOptions`]; the doc comments are the CLI's `--help`, the defaults clap's).
// No `deny_unknown_fields` here or in the runs' options: serde refuses it together with
// `flatten`; the Python front end refuses unknown names against the options' schema instead.
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct EstimatorOptions {
    /// The estimator of the gradient part.
    #[arg(long, value_enum, default_value_t = EstimatorChoice::Auto)]
    pub estimator: EstimatorChoice,
    /// grid: cells per smallest component standard deviation of p_t.
    #[arg(long, default_value_t = 8.0)]
    pub grid_cells_per_std: f64,
    /// grid: cap on cells per axis.
    #[arg(long, default_value_t = 640)]
    pub grid_max_cells: usize,
    /// random-features: number of random Fourier features (polynomial potentials are added).
    #[arg(long, default_value_t = 128)]
    pub features: usize,
    /// random-features: relative ridge (default: chosen by cross-validation in each fit fold).
    #[arg(long)]
    pub ridge: Option<f64>,
    /// random-features: identity removing the true score: denoising (SPEC §5) | ibp (integration
    /// by parts, lower variance at small t).
    #[arg(long, value_enum, default_value_t = Identity::Denoising)]
    pub identity: Identity,
    /// random-features: estimate ‖e_t‖² with the vector critic even when the exact error is known.
    /// critic: the same, with the neural vector critic.
    #[arg(long)]
    pub vector_l2: bool,
    /// critic: always the denoising form (SPEC §5), even when the exact error is known (default:
    /// the lower-variance oracle form w = σ_t e_t there).
    #[arg(long)]
    pub critic_denoising: bool,
    /// critic: optimiser steps per time (fresh batches of 512 draws; MLP 2 × 64, AdamW). On a
    /// trained ring8 MLP at t = 0.1, 1000 steps stalled near 0 (0.0096 against the grid's 1.445)
    /// while 4000 reached 1.446 ± 0.010: the fit can sit on a plateau before it finds sharp errors.
    #[arg(long, default_value_t = 4000)]
    pub critic_steps: usize,
}

impl Default for EstimatorOptions {
    fn default() -> Self {
        clap_defaults()
    }
}

/// The options of a Hodge split (`scoreprobe hodge`, Python's `hodge`).
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct HodgeOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub estimator: EstimatorOptions,
    /// Times in (0, 1] (CLI: comma-separated; default 0.05,0.2,0.5,0.9).
    #[arg(long, value_delimiter = ',', conflicts_with = "n_times")]
    pub times: Option<Vec<f64>>,
    /// K evenly spaced times 1/K, 2/K, …, 1.
    #[arg(long)]
    pub n_times: Option<usize>,
    /// Samples per time for the Monte-Carlo estimators (random-features: per part and per fold pair).
    #[arg(long, default_value_t = 40_000)]
    pub n: usize,
    /// Seed of the estimators' draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub shard: ShardOptions,
}

impl Default for HodgeOptions {
    fn default() -> Self {
        clap_defaults()
    }
}

impl HodgeOptions {
    /// The times of the split: `times`, or `n_times` evenly spaced ones, or the default four.
    pub fn times(&self) -> Result<Vec<f64>, HodgeError> {
        match (&self.times, self.n_times) {
            (Some(_), Some(_)) => Err(OptionError::new("times", "times and n_times exclude each other").into()),
            (Some(t), None) => Ok(t.clone()),
            (None, Some(k)) => even_times(k),
            (None, None) => Ok(vec![0.05, 0.2, 0.5, 0.9]),
        }
    }
}

/// The options of the KL bounds (`scoreprobe bounds`, Python's `bounds`).
#[derive(Clone, Debug, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default)]
pub struct BoundsOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub estimator: EstimatorOptions,
    /// Lower end of the time integrals (the sampler's end time); must be > 0.
    #[arg(long, default_value_t = 1e-3)]
    pub t_min: f64,
    /// Simpson panels in ln t (a multiple of 4; panels + 1 estimator calls).
    #[arg(long, default_value_t = 32)]
    pub panels: usize,
    /// Samples per node for the Monte-Carlo estimators.
    #[arg(long, default_value_t = 20_000)]
    pub n: usize,
    /// Monte-Carlo samples for KL(p_T‖π) when p_T is a mixture.
    #[arg(long, default_value_t = 100_000)]
    pub prior_n: usize,
    /// Seed of the estimators' draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    #[serde(flatten)]
    pub shard: ShardOptions,
}

impl Default for BoundsOptions {
    fn default() -> Self {
        clap_defaults()
    }
}

impl EstimatorOptions {
    /// The estimators' configuration with `n` Monte-Carlo samples per time.
    pub fn config(&self, n: usize) -> Result<HodgeConfig, HodgeError> {
        let mut c = HodgeConfig::default();
        c.grid.cells_per_std = self.grid_cells_per_std;
        c.grid.max_cells_per_axis = self.grid_max_cells;
        c.random_features.n = n;
        c.random_features.features = self.features;
        c.random_features.ridge = self.ridge;
        c.random_features.identity = self.identity;
        c.random_features.l2 = if self.vector_l2 { L2Source::VectorFeatures } else { L2Source::Auto };
        c.critic.n = n;
        c.critic.fit.steps = self.critic_steps;
        c.critic.identity = if self.critic_denoising { CriticIdentity::Denoising } else { CriticIdentity::Auto };
        c.critic.l2 = if self.vector_l2 { CriticL2::VectorCritic } else { CriticL2::Auto };
        Ok(c)
    }

    /// The chosen estimator among `all` ("auto": the first of closed-form, grid, random-features
    /// that applies).
    pub fn pick<'a>(
        &self,
        all: &'a [Box<dyn HodgeEstimator>],
        problem: &Problem,
    ) -> Result<&'a dyn HodgeEstimator, HodgeError> {
        let Some(kind) = self.estimator.kind() else {
            return all
                .iter()
                .map(|e| e.as_ref())
                .find(|e| e.kind() != EstimatorKind::Critic && e.applies(problem).is_ok())
                .ok_or_else(|| OptionError::new("estimator", "auto: no estimator applies to this problem").into());
        };
        Ok(all.iter().find(|e| e.kind() == kind).expect("every kind is listed").as_ref())
    }
}

/// The Hodge split with the options: what `hodge` prints as JSON.
pub fn run_hodge(problem: &Problem, opts: &HodgeOptions) -> Result<HodgeReport, HodgeError> {
    Ok(hodge_profile(problem, opts)?.report())
}

/// The Hodge split's points with the options (a shard's: at its part of the times, see
/// [`crate::shard`]).
pub fn hodge_profile(problem: &Problem, opts: &HodgeOptions) -> Result<HodgeProfile, HodgeError> {
    // refused even where the chosen estimator (the grid) draws no samples: a zero is a mistake
    if opts.n == 0 {
        return Err(OptionError::new("n", "must be positive, got 0").into());
    }
    let (shard, _) = opts.shard.checked()?;
    let times = opts.times()?;
    let all = estimators(&opts.estimator.config(opts.n)?);
    let est = opts.estimator.pick(&all, problem)?;
    let refs: Vec<&dyn HodgeEstimator> = all.iter().map(|e| e.as_ref()).collect();
    profile_part(est, problem, &times, opts.seed, &refs, shard)
}

/// The KL bounds with the options: what `bounds` prints as JSON.
pub fn run_bounds(problem: &Problem, opts: &BoundsOptions) -> Result<BoundsReport, HodgeError> {
    bounds_part_of(problem, opts)?.report()
}

/// What the bounds are computed from, with the options (a shard's: at its block of the
/// quadrature nodes, see [`crate::shard`]).
pub fn bounds_part_of(problem: &Problem, opts: &BoundsOptions) -> Result<BoundsPart, HodgeError> {
    let (shard, _) = opts.shard.checked()?;
    let all = estimators(&opts.estimator.config(opts.n)?);
    let est = opts.estimator.pick(&all, problem)?;
    let refs: Vec<&dyn HodgeEstimator> = all.iter().map(|e| e.as_ref()).collect();
    let cfg = BoundsConfig { t_min: opts.t_min, panels: opts.panels, prior_n: opts.prior_n, ..Default::default() };
    bounds_part(est, problem, &cfg, opts.seed, &refs, shard)
}

/// Times 1/K, 2/K, …, 1 (the CLI's `--n-times K`).
pub fn even_times(k: usize) -> Result<Vec<f64>, HodgeError> {
    if k == 0 {
        return Err(OptionError::new("n_times", "must be at least 1").into());
    }
    Ok((1..=k).map(|i| i as f64 / k as f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scoreprobe_core::options::option_specs;

    #[test]
    fn options_are_declared_once_with_clap_s_defaults() {
        let h = HodgeOptions::default();
        assert_eq!(
            (h.estimator.estimator, h.n, h.estimator.identity),
            (EstimatorChoice::Auto, 40_000, Identity::Denoising)
        );
        assert_eq!(h.times().unwrap(), [0.05, 0.2, 0.5, 0.9]);
        let b = BoundsOptions::default();
        assert_eq!((b.t_min, b.panels, b.n, b.prior_n), (1e-3, 32, 20_000, 100_000));
        let names = |s: Vec<scoreprobe_core::options::OptionSpec>| s.into_iter().map(|o| o.name).collect::<Vec<_>>();
        let hodge = names(option_specs::<HodgeOptions>().unwrap());
        assert_eq!(hodge.len(), 15);
        assert!(hodge.contains(&"grid_cells_per_std".to_string()) && hodge.contains(&"n_times".to_string()));
        assert_eq!(names(option_specs::<BoundsOptions>().unwrap()).len(), 16);
        // the flattened estimator options deserialise from the same flat map
        let h: HodgeOptions =
            serde_json::from_str(r#"{"estimator": "closed-form", "identity": "ibp", "n": 5}"#).unwrap();
        assert_eq!(
            (h.estimator.estimator, h.estimator.identity, h.n),
            (EstimatorChoice::ClosedForm, Identity::IntegrationByParts, 5)
        );
        let e = HodgeOptions { times: Some(vec![0.5]), n_times: Some(2), ..Default::default() }.times().unwrap_err();
        assert!(matches!(e, HodgeError::Option(ref o) if o.field == "times"), "{e}");
    }
}
