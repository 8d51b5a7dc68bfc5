//! The impossibility family (SPEC §4): s = (I + λA)∇log p_t has an L² error growing like λ² while
//! ∇·(p_t e_t) = 0, so the generated law stays the target.

use crate::io::{print_json, print_text};
use anyhow::{anyhow, Result};
use scoreprobe_core::family::{solenoidal_family, FamilyConfig};
use scoreprobe_core::spec::ProblemSpec;
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
    let cfg = FamilyConfig { lambdas: a.lambdas.clone(), n: a.n, steps: a.steps, t: a.t, seed: a.seed };
    let r = solenoidal_family(&base, &cfg).map_err(|e| anyhow!("{}: {e}", a.spec.display()))?;
    if a.json {
        print_json(&serde_json::to_value(&r)?);
        return Ok(());
    }
    print_text(&format!(
        "solenoidal family on {}: s = (I + λA)∇log p_t; L² error at t = {}, exact KL(p‖q) at t_min = {}",
        a.spec.display(),
        r.t,
        r.t_min
    ));
    print_text(&format!(
        "{:>8} {:>12} {:>10} {:>10} {:>9} {:>12} {:>13} {:>12}",
        "lambda", "L2 error", "± se", "exact KL", "EM steps", "EM-chain KL", "mean max |z|", "cov max err"
    ));
    let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.2e}"));
    for row in &r.rows {
        print_text(&format!(
            "{:>8} {:>12.4} {:>10.4} {:>10} {:>9} {:>12} {:>13.2} {:>12.4}",
            row.lambda,
            row.l2_error,
            row.l2_error_se,
            fmt(row.exact_kl),
            row.em_steps,
            fmt(row.em_chain_kl),
            row.sample_mean_max_z,
            row.sample_cov_max_abs_err
        ));
    }
    Ok(())
}
