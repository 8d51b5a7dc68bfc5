//! The impossibility family (SPEC §4): s_λ = (I + λA)∇log p_t with A antisymmetric has an L²
//! error growing like λ² while ∇·(p_t e_t) = 0, so the generated law stays the target.
//!
//! [`solenoidal_family`] measures each member three ways: the L² error at one time (Monte Carlo),
//! the exact KL of the continuous reverse SDE and of the Euler–Maruyama chain (Gaussian targets),
//! and the sample moments of an Euler–Maruyama run against the target's.

use crate::error::CoreError;
use crate::exact::{euler_maruyama_law, generated_law, Dynamics, Init};
use crate::model::synthetic::{ErrorField, SyntheticModel};
use crate::sampler::{prior_init, sample_with_observer, SamplerConfig, SamplerKind};
use ndarray::{Array2, Axis};
use serde::Serialize;
use std::ops::ControlFlow;

/// RK4 substeps of the exact reverse-SDE law.
const SUBSTEPS: usize = 4000;

#[derive(Clone, Debug, PartialEq)]
pub struct FamilyConfig {
    /// The members' λ.
    pub lambdas: Vec<f64>,
    /// Draws of the Monte-Carlo L² error, and samples of the Euler–Maruyama run, per member.
    pub n: usize,
    /// Euler–Maruyama steps; None: [`default_em_steps`] per member.
    pub steps: Option<usize>,
    /// Time of the reported L² error ‖e_t‖².
    pub t: f64,
    pub seed: u64,
}

/// One member of the family.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyRow {
    pub lambda: f64,
    /// ‖e_t‖² at the configured time, and its Monte-Carlo standard error.
    pub l2_error: f64,
    pub l2_error_se: f64,
    /// KL(p_tmin ‖ q_tmin) of the continuous reverse SDE (Gaussian targets; None otherwise).
    pub exact_kl: Option<f64>,
    /// The same for the Euler–Maruyama chain on `em_steps` steps.
    pub em_chain_kl: Option<f64>,
    pub em_steps: usize,
    /// Largest deviation of a sample mean from the target's, in standard errors √(C_ii/n).
    pub sample_mean_max_z: f64,
    /// Largest absolute deviation of the sample covariance from the target's.
    pub sample_cov_max_abs_err: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyReport {
    pub t: f64,
    /// End time of sampling, where the laws are compared.
    pub t_min: f64,
    pub n: usize,
    pub family: &'static str,
    pub rows: Vec<FamilyRow>,
}

/// Euler–Maruyama steps for member λ: the rotation gives EM an O(λ²βh) bias, so
/// max(1000, ⌈10λ²β_max⌉) keeps λ²β_max h ≤ 0.1.
pub fn default_em_steps(lambda: f64, beta_max: f64) -> usize {
    ((10.0 * lambda * lambda * beta_max).ceil() as usize).max(1000)
}

/// The antisymmetric A of the family: the base model's when it is solenoidal, else the rotation
/// in the first two coordinates.
pub fn family_matrix(base: &SyntheticModel) -> Result<Array2<f64>, CoreError> {
    let d = base.target.dim();
    if d < 2 {
        return Err(CoreError::invalid("target", format!("the solenoidal family needs dimension ≥ 2, got {d}")));
    }
    Ok(match &base.error {
        ErrorField::Solenoidal { a, .. } => a.clone(),
        _ => {
            let mut m = Array2::zeros((d, d));
            m[[0, 1]] = 1.0;
            m[[1, 0]] = -1.0;
            m
        }
    })
}

/// Every member of the family built on `base`'s target and schedule.
pub fn solenoidal_family(base: &SyntheticModel, cfg: &FamilyConfig) -> Result<FamilyReport, CoreError> {
    let amat = family_matrix(base)?;
    let d = base.target.dim();
    let n = cfg.n;
    let t_min = base.schedule.default_t_min().max(1e-3);
    let (tm, tc) = base.target.moments_at(&base.schedule, t_min);
    let beta_max = base.schedule.beta(1.0);
    let mut rows = vec![];
    for &lambda in &cfg.lambdas {
        let model = SyntheticModel { error: ErrorField::Solenoidal { a: amat.clone(), lambda }, ..base.clone() };
        let (l2, l2_se) = model.l2_error_mc(cfg.t, n, cfg.seed);
        let exact_kl = generated_law(&model, Dynamics::ReverseSde, Init::Prior, t_min, SUBSTEPS).ok().map(|l| l.kl);
        let steps = cfg.steps.unwrap_or_else(|| default_em_steps(lambda, beta_max));
        let chain_kl = euler_maruyama_law(&model, Init::Prior, t_min, steps).ok().map(|l| l.kl);
        let scfg = SamplerConfig::new(SamplerKind::Em, steps, t_min, cfg.seed);
        let out = sample_with_observer(&model, &model.schedule, &scfg, prior_init(n, d, cfg.seed), &mut |_| {
            ControlFlow::Continue(())
        })?;
        let m = out.x.mean_axis(Axis(0)).expect("n ≥ 1 samples");
        let centred = &out.x - &m.view().insert_axis(Axis(0));
        let c = centred.t().dot(&centred) / (n as f64 - 1.0);
        let mean_z = (0..d).map(|i| (m[i] - tm[i]).abs() / (tc[[i, i]] / n as f64).sqrt()).fold(0.0, f64::max);
        let cov_err = (&c - &tc).mapv(f64::abs).iter().fold(0.0f64, |x, y| x.max(*y));
        rows.push(FamilyRow {
            lambda,
            l2_error: l2,
            l2_error_se: l2_se,
            exact_kl,
            em_chain_kl: chain_kl,
            em_steps: steps,
            sample_mean_max_z: mean_z,
            sample_cov_max_abs_err: cov_err,
        });
    }
    Ok(FamilyReport { t: cfg.t, t_min, n, family: "solenoidal (I + lambda A) grad log p_t", rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ProblemSpec;

    fn gaussian() -> SyntheticModel {
        ProblemSpec::from_json(
            r#"{"target": {"kind": "gaussian", "mean": [0.5, 0], "cov": [[1, 0.3], [0.3, 0.5]]}}"#,
            "test",
        )
        .unwrap()
        .synthetic_model()
        .unwrap()
    }

    #[test]
    fn the_l2_error_grows_as_lambda_squared_while_the_law_stays_the_target() {
        let cfg = FamilyConfig { lambdas: vec![0.0, 1.0, 3.0], n: 400, steps: None, t: 0.5, seed: 3 };
        let r = solenoidal_family(&gaussian(), &cfg).unwrap();
        let l2: Vec<f64> = r.rows.iter().map(|r| r.l2_error).collect();
        assert_eq!(l2[0], 0.0);
        // the same draws for every member: ‖λA∇log p‖² is exactly λ² times the λ = 1 value
        assert!((l2[2] / l2[1] - 9.0).abs() < 1e-9, "{l2:?}");
        for row in &r.rows {
            // KL(p_T‖π) of the prior mismatch only, whatever λ
            let kl = row.exact_kl.expect("Gaussian target");
            assert!(kl.abs() < 1e-3, "λ = {}: exact KL {kl}", row.lambda);
            assert!(row.sample_mean_max_z < 5.0, "{row:?}");
        }
        assert_eq!(r.rows[2].em_steps, default_em_steps(3.0, 20.0));
    }

    #[test]
    fn the_step_rule_keeps_the_rotation_bias_small() {
        assert_eq!(default_em_steps(0.0, 20.0), 1000);
        assert_eq!(default_em_steps(3.0, 20.0), 1800);
        assert_eq!(default_em_steps(10.0, 20.0), 20_000);
    }

    #[test]
    fn one_dimension_has_no_family() {
        let m = ProblemSpec::from_json(r#"{"target": {"kind": "gaussian", "mean": [0], "cov": [[1]]}}"#, "test")
            .unwrap()
            .synthetic_model()
            .unwrap();
        assert!(family_matrix(&m).unwrap_err().to_string().contains("dimension ≥ 2"));
    }
}
