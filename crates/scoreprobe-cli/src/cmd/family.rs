//! The impossibility family (SPEC §4): s = (I + λA)∇log p_t has an L² error growing like λ² while
//! ∇·(p_t e_t) = 0, so the generated law stays the target.

use crate::io::{print_json, print_text};
use anyhow::{anyhow, Result};
use ndarray::{Array2, Axis};
use scoreprobe_core::exact::{euler_maruyama_law, generated_law, Dynamics, Init};
use scoreprobe_core::model::synthetic::{ErrorField, SyntheticModel};
use scoreprobe_core::sampler::{prior_init, sample_with_observer, SamplerConfig, SamplerKind};
use scoreprobe_core::spec::ProblemSpec;
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec: its target and schedule are used; A comes from a solenoidal model, else the
    /// rotation in the first two coordinates.
    #[arg(long)]
    spec: PathBuf,
    /// Comma-separated λ values.
    #[arg(long, default_value = "0,1,3,10", value_delimiter = ',')]
    lambdas: Vec<f64>,
    /// Samples per λ for the sampled moments and the Monte-Carlo L² error.
    #[arg(long, default_value_t = 4000)]
    n: usize,
    /// EM steps (default: max(1000, 10λ²β_max): the rotation gives EM an O(λ²βh) bias).
    #[arg(long)]
    steps: Option<usize>,
    /// Time at which the L² error ‖e_t‖² is reported.
    #[arg(long, default_value_t = 0.5)]
    t: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let spec = ProblemSpec::from_file(&a.spec).map_err(|e| anyhow!(e))?;
    let base = spec.synthetic_model().map_err(|e| anyhow!(e))?;
    let d = base.target.dim();
    if d < 2 {
        return Err(anyhow!("{}: the solenoidal family needs dimension ≥ 2", a.spec.display()));
    }
    let amat = match &base.error {
        ErrorField::Solenoidal { a, .. } => a.clone(),
        _ => {
            let mut m = Array2::zeros((d, d));
            m[[0, 1]] = 1.0;
            m[[1, 0]] = -1.0;
            m
        }
    };
    let t_min = base.schedule.default_t_min().max(1e-3);
    let (tm, tc) = base.target.moments_at(&base.schedule, t_min);
    let beta_max = base.schedule.beta(1.0);
    let mut rows = vec![];
    for &lambda in &a.lambdas {
        let model = SyntheticModel { error: ErrorField::Solenoidal { a: amat.clone(), lambda }, ..base.clone() };
        let (l2, l2_se) = model.l2_error_mc(a.t, a.n, a.seed);
        let exact_kl = generated_law(&model, Dynamics::ReverseSde, Init::Prior, t_min, 4000).ok().map(|l| l.kl);
        let steps = a.steps.unwrap_or(((10.0 * lambda * lambda * beta_max).ceil() as usize).max(1000));
        let chain_kl = euler_maruyama_law(&model, Init::Prior, t_min, steps).ok().map(|l| l.kl);
        let cfg = SamplerConfig::new(SamplerKind::Em, steps, t_min, a.seed);
        let out = sample_with_observer(&model, &model.schedule, &cfg, prior_init(a.n, d, a.seed), &mut |_| {
            std::ops::ControlFlow::Continue(())
        })?;
        let m = out.x.mean_axis(Axis(0)).unwrap();
        let centred = &out.x - &m.view().insert_axis(Axis(0));
        let c = centred.t().dot(&centred) / (a.n as f64 - 1.0);
        // largest deviation of a sample mean, in standard errors √(C_ii/n)
        let mean_z = (0..d).map(|i| (m[i] - tm[i]).abs() / (tc[[i, i]] / a.n as f64).sqrt()).fold(0.0, f64::max);
        let cov_err = (&c - &tc).mapv(f64::abs).iter().fold(0.0f64, |x, y| x.max(*y));
        rows.push(json!({"lambda": lambda, "l2_error": l2, "l2_error_se": l2_se, "exact_kl": exact_kl, "em_chain_kl": chain_kl,
            "em_steps": steps, "sample_mean_max_z": mean_z, "sample_cov_max_abs_err": cov_err}));
    }
    if a.json {
        print_json(
            &json!({"t": a.t, "t_min": t_min, "n": a.n, "family": "solenoidal (I + lambda A) grad log p_t", "rows": rows}),
        );
    } else {
        print_text(&format!(
            "solenoidal family on {}: s = (I + λA)∇log p_t; L² error at t = {}, exact KL(p‖q) at t_min = {t_min}",
            a.spec.display(),
            a.t
        ));
        print_text(&format!(
            "{:>8} {:>12} {:>10} {:>10} {:>9} {:>12} {:>13} {:>12}",
            "lambda", "L2 error", "± se", "exact KL", "EM steps", "EM-chain KL", "mean max |z|", "cov max err"
        ));
        for r in &rows {
            let fmt = |k: &str| r[k].as_f64().map_or("n/a".to_string(), |v| format!("{v:.2e}"));
            print_text(&format!(
                "{:>8} {:>12.4} {:>10.4} {:>10} {:>9} {:>12} {:>13.2} {:>12.4}",
                r["lambda"].as_f64().unwrap(),
                r["l2_error"].as_f64().unwrap(),
                r["l2_error_se"].as_f64().unwrap(),
                fmt("exact_kl"),
                r["em_steps"],
                fmt("em_chain_kl"),
                r["sample_mean_max_z"].as_f64().unwrap(),
                r["sample_cov_max_abs_err"].as_f64().unwrap()
            ));
        }
    }
    Ok(())
}
