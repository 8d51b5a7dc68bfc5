//! The Hodge split and the KL bounds as every front end runs them (the CLI's `hodge` and
//! `bounds`, the Python module's `hodge` and `bounds`): estimator options with the CLI's names and
//! defaults, the "auto" choice, and the two runs. Front ends only parse their inputs and print.

use crate::critic::{CriticIdentity, CriticL2};
use crate::error::HodgeError;
use crate::random_features::{Identity, L2Source};
use crate::{estimators, kl_bounds, profile, BoundsConfig, BoundsReport, EstimatorKind, HodgeConfig, HodgeEstimator};
use crate::{HodgeReport, Problem};

/// Estimator options shared by `hodge` and `bounds`, with the CLI's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct EstimatorOptions {
    /// closed-form | grid | random-features | critic | auto (the first of closed-form, grid,
    /// random-features that applies).
    pub estimator: String,
    /// grid: cells per smallest component standard deviation of p_t.
    pub grid_cells_per_std: f64,
    /// grid: cap on cells per axis.
    pub grid_max_cells: usize,
    /// random-features: number of random Fourier features.
    pub features: usize,
    /// random-features: relative ridge (None: cross-validated).
    pub ridge: Option<f64>,
    /// random-features: denoising | ibp.
    pub identity: String,
    /// Estimate ‖e_t‖² with the vector critic / vector features even when the exact error is known.
    pub vector_l2: bool,
    /// critic: always the denoising form.
    pub critic_denoising: bool,
    /// critic: optimiser steps per time.
    pub critic_steps: usize,
}

impl Default for EstimatorOptions {
    fn default() -> Self {
        Self {
            estimator: "auto".into(),
            grid_cells_per_std: 8.0,
            grid_max_cells: 640,
            features: 128,
            ridge: None,
            identity: "denoising".into(),
            vector_l2: false,
            critic_denoising: false,
            critic_steps: 4000,
        }
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
        c.random_features.identity = match self.identity.as_str() {
            "denoising" => Identity::Denoising,
            "ibp" => Identity::IntegrationByParts,
            other => {
                return Err(HodgeError::invalid(
                    "identity",
                    format!("unknown identity '{other}'; choose denoising or ibp"),
                ))
            }
        };
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
        if self.estimator == "auto" {
            return all
                .iter()
                .map(|e| e.as_ref())
                .find(|e| e.kind() != EstimatorKind::Critic && e.applies(problem).is_ok())
                .ok_or_else(|| HodgeError::invalid("estimator auto", "no estimator applies to this problem"));
        }
        let kind: EstimatorKind = self.estimator.parse()?;
        Ok(all.iter().find(|e| e.kind() == kind).expect("every kind is listed").as_ref())
    }
}

/// The Hodge split at `times` with `n` samples per time: what `hodge` prints as JSON.
pub fn run_hodge(
    problem: &Problem,
    opts: &EstimatorOptions,
    times: &[f64],
    n: usize,
    seed: u64,
) -> Result<HodgeReport, HodgeError> {
    let all = estimators(&opts.config(n)?);
    let est = opts.pick(&all, problem)?;
    let refs: Vec<&dyn HodgeEstimator> = all.iter().map(|e| e.as_ref()).collect();
    Ok(profile(est, problem, times, seed, &refs)?.report())
}

/// The KL bounds with `n` samples per node: what `bounds` prints as JSON.
pub fn run_bounds(
    problem: &Problem,
    opts: &EstimatorOptions,
    cfg: &BoundsConfig,
    n: usize,
    seed: u64,
) -> Result<BoundsReport, HodgeError> {
    let all = estimators(&opts.config(n)?);
    let est = opts.pick(&all, problem)?;
    let refs: Vec<&dyn HodgeEstimator> = all.iter().map(|e| e.as_ref()).collect();
    kl_bounds(est, problem, cfg, seed, &refs)
}

/// Times 1/K, 2/K, …, 1 (the CLI's `--n-times K`).
pub fn even_times(k: usize) -> Result<Vec<f64>, HodgeError> {
    if k == 0 {
        return Err(HodgeError::invalid("n_times", "must be at least 1"));
    }
    Ok((1..=k).map(|i| i as f64 / k as f64).collect())
}
