//! `scoreprobe siem`: the quadratic-variation metric SIEM_W (SPEC §7) on the model's own
//! reverse-SDE trajectories, over a window of the sampler's steps.

use crate::io::{print_json, print_text};
use anyhow::{anyhow, bail, Context, Result};
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_siem::{run_siem, ErrorFieldKind, SiemOptions, SiemReference, SiemReport};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec (JSON: target, schedule, model).
    #[arg(long)]
    spec: PathBuf,
    /// Source of the error field ê_t: oracle | classifier | critic.
    #[arg(long, default_value = "oracle")]
    error_field: String,
    /// Steps of the sampler's grid in the metric, e.g. `900..999` (the first 100 steps from noise
    /// of 1000); default: the whole grid. Only the steps down to the window are run.
    #[arg(long)]
    window: Option<String>,
    /// Radial profile ψ of φ(x) = ψ(|x − c|/h): gaussian | imq | bump.
    #[arg(long, default_value = "gaussian")]
    test_fn: String,
    /// Bandwidth h > 0 (default: a median of |X_t − c| on the window, see --bandwidth-rule).
    #[arg(long, allow_hyphen_values = true)]
    bandwidth: Option<f64>,
    /// Default bandwidth when --bandwidth is absent: median-pooled (every window state) or
    /// median-first-step (the window's highest-noise states).
    #[arg(long, default_value = "median-pooled", value_parser = ["median-pooled", "median-first-step"])]
    bandwidth_rule: String,
    /// Centre c of φ, comma-separated coordinates (default: the origin).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    center: Option<Vec<f64>>,
    /// Number K of test functions; K > 1 centres them at K seeded data points and averages
    /// (the multi-centre variant). K = 1 at c = 0 is the paper's metric.
    #[arg(long, default_value_t = 1)]
    centers: usize,
    /// Number of trajectories.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Sampler steps (default: the schedule's: 1000, or K for DDPM).
    #[arg(long)]
    steps: Option<usize>,
    /// End time of sampling (default 1e-3 for VP, 0 for DDPM).
    #[arg(long)]
    t_min: Option<f64>,
    /// Reverse-SDE sampler: em | ancestral.
    #[arg(long, default_value = "em")]
    sampler: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Training steps of the `classifier` error field (batch 512, MLP 3 × 64).
    #[arg(long, default_value_t = 1500)]
    classifier_steps: usize,
    /// Print JSON (the full report, with the per-step profile) instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let kind: ErrorFieldKind = a.error_field.parse().context("--error-field")?;
    if let Some(why) = kind.unavailable() {
        bail!(why);
    }
    let spec = ProblemSpec::from_file(&a.spec).map_err(|e| anyhow!(e))?;
    // synthetic models from the spec, trained networks from their checkpoints
    let resolved = crate::models::resolve(&spec)?;
    let reference = SiemReference::Exact { target: &resolved.target, synthetic: resolved.synthetic.as_ref() };
    let opts = SiemOptions {
        error_field: Some(kind),
        window: a.window.clone(),
        test_fn: a.test_fn.clone(),
        bandwidth: a.bandwidth,
        bandwidth_rule: a.bandwidth_rule.clone(),
        center: a.center.clone(),
        centers: a.centers,
        n: a.n,
        steps: a.steps,
        t_min: a.t_min,
        sampler: a.sampler.clone(),
        seed: a.seed,
        classifier_steps: a.classifier_steps,
    };
    let report = run_siem(resolved.model.as_ref(), &resolved.schedule, reference, &opts)
        .with_context(|| a.spec.display().to_string())?;
    if a.json {
        print_json(&serde_json::to_value(&report)?);
    } else {
        print_summary(&report, &a.spec);
    }
    Ok(())
}

fn print_summary(r: &SiemReport, spec: &std::path::Path) {
    let tf = &r.test_fn;
    print_text(&format!(
        "{}: SIEM[{}] = {:.6e} ± {:.2e} (error field {}, {} trajectories, {} sampler)",
        spec.display(),
        r.window,
        r.siem,
        r.siem_se,
        r.error_field,
        r.n,
        r.sampler
    ));
    print_text(&format!(
        "test function: {} (K = {}), bandwidth {} = {}",
        tf.kind,
        tf.k,
        tf.bandwidth_rule,
        tf.bandwidths.iter().map(|h| format!("{h:.4}")).collect::<Vec<_>>().join(", ")
    ));
    print_text(&format!(
        "NFE {} ({} sampler + {} auxiliary; full sampling {}: ratio {:.3}), {:.2} s",
        r.nfe,
        r.nfe_sampler,
        r.nfe_aux,
        r.nfe_full,
        r.nfe as f64 / r.nfe_full as f64,
        r.seconds
    ));
    print_text(&format!(
        "empirical QV of <u_t, phi>: {:.4e} (Brownian floor {:.4e}; a diagnostic)",
        r.empirical_qv, r.qv_noise_floor
    ));
    if !r.source.is_null() {
        print_text(&format!("source: {}", json!(r.source)));
    }
}
