//! `scoreprobe siem`: the quadratic-variation metric SIEM_W (SPEC §7) over a window of the
//! sampler's steps, in its projection form (forward-noised data draws, no error field) or its
//! particle form (the model's own reverse-SDE trajectories with an error field).

use crate::io::{print_json, print_text};
use anyhow::{anyhow, Context, Result};
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_siem::options::SiemRun;
use scoreprobe_siem::projection::ProjectionReport;
use scoreprobe_siem::{
    run_siem, ErrorFieldKind, SiemError, SiemForm, SiemOptions, SiemReference, SiemReport, TestFnKind,
};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec (JSON: target, schedule, model).
    #[arg(long)]
    spec: PathBuf,
    /// SIEM's form: projection (forward-noised data, no error field) | particle (the model's
    /// trajectories with --error-field). Default: particle with the oracle when the model's exact
    /// score is known (every spec target), projection otherwise.
    #[arg(long)]
    form: Option<String>,
    /// Particle form: source of the error field ê_t: oracle | classifier | critic.
    /// Default: oracle when the exact score is known, else critic.
    #[arg(long)]
    error_field: Option<String>,
    /// Steps of the sampler's grid in the metric, e.g. `900..999` (the first 100 steps from noise
    /// of 1000); default: the whole grid. Only the steps down to the window are run.
    #[arg(long)]
    window: Option<String>,
    /// Test functions: the radial profile ψ of φ(x) = ψ(|x − c|/h) (gaussian | imq | bump), or
    /// `quadratic`: every test function of degree ≤ 2 at once (projection form; sees the affine
    /// part of the error in any dimension, where radial functions see only its radial part).
    #[arg(long, default_value = "gaussian")]
    test_fn: String,
    /// Seed of the test functions (the K centres and the pilot draws of the bandwidth): part of
    /// the metric's definition, independent of --seed, so every seed and checkpoint is measured
    /// with the same test functions.
    #[arg(long, default_value_t = 0)]
    test_seed: u64,
    /// Bandwidth h > 0 (default: a median of |X_t − c|, see --bandwidth-rule).
    #[arg(long, allow_hyphen_values = true)]
    bandwidth: Option<f64>,
    /// Default bandwidth when --bandwidth is absent. Projection form: median-pooled (pilot draws
    /// of the forward-noised data at every time of the full grid, whatever the window) or
    /// median-first-step (the grid's highest-noise time). Particle form: the model's own states
    /// on the window (every one, or the first step's).
    #[arg(long, default_value = "median-pooled", value_parser = ["median-pooled", "median-first-step"])]
    bandwidth_rule: String,
    /// Centre c of φ, comma-separated coordinates: alone, one test function (K = 1) at c, in
    /// either form (default: the origin for K = 1).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    center: Option<Vec<f64>>,
    /// Number K of test functions; K > 1 centres them at K data points drawn with --test-seed
    /// and averages (the multi-centre variant). K = 1 at c = 0 is the paper's metric. Default: 8
    /// for the projection form, 1 for the particle form or with --center.
    #[arg(long)]
    centers: Option<usize>,
    /// Trajectories (particle form) or draws per window time (projection form).
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Projection form: pilot draws per window time that set the median bandwidth.
    #[arg(long, default_value_t = scoreprobe_siem::projection::DEFAULT_PILOT)]
    pilot: usize,
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
    let spec = ProblemSpec::from_file(&a.spec).map_err(|e| anyhow!(e))?;
    // synthetic models from the spec, trained networks from their checkpoints
    let resolved = crate::models::resolve(&spec)?;
    // every spec target is a mixture with an exact score; a synthetic model's e_t is used directly
    let reference = SiemReference::Exact { target: &resolved.target, synthetic: resolved.synthetic.as_ref() };
    let opts = SiemOptions {
        form: a.form.as_deref().map(str::parse::<SiemForm>).transpose().context("--form")?,
        error_field: a.error_field.as_deref().map(str::parse::<ErrorFieldKind>).transpose().context("--error-field")?,
        window: a.window.clone(),
        test_fn: a.test_fn.parse::<TestFnKind>().context("--test-fn")?,
        test_seed: a.test_seed,
        bandwidth: a.bandwidth,
        bandwidth_rule: a.bandwidth_rule.clone(),
        center: a.center.clone(),
        centers: a.centers,
        n: a.n,
        pilot: a.pilot,
        steps: a.steps,
        t_min: a.t_min,
        sampler: a.sampler.clone(),
        seed: a.seed,
        classifier_steps: a.classifier_steps,
    };
    let report = run_siem(resolved.model.as_ref(), &resolved.schedule, reference, &opts)
        .map_err(as_flags)
        .with_context(|| a.spec.display().to_string())?;
    match (&report, a.json) {
        (_, true) => print_json(&serde_json::to_value(&report)?),
        (SiemRun::Particle(r), false) => print_summary(r, &a.spec),
        (SiemRun::Projection(r), false) => print_projection(r, &a.spec),
    }
    Ok(())
}

/// The library names its options as Python does (`error_field`); here they are flags (`--error-field`).
fn as_flags(e: SiemError) -> anyhow::Error {
    const OPTIONS: &[&str] = &[
        "form",
        "error_field",
        "window",
        "test_fn",
        "test_seed",
        "bandwidth",
        "bandwidth_rule",
        "center",
        "centers",
        "n",
        "pilot",
        "steps",
        "t_min",
        "sampler",
        "seed",
        "classifier_steps",
    ];
    match e {
        SiemError::Invalid { input, reason } if OPTIONS.contains(&input.as_str()) => {
            anyhow!("--{}: {reason}", input.replace('_', "-"))
        }
        // a core option check (window, sampler) prefixed by the option's name
        SiemError::Core(e) => {
            let msg = e.to_string();
            match OPTIONS.iter().find(|o| msg.starts_with(&format!("{o}: "))) {
                Some(o) => anyhow!("--{}{}", o.replace('_', "-"), &msg[o.len()..]),
                None => SiemError::Core(e).into(),
            }
        }
        e => e.into(),
    }
}

fn print_summary(r: &SiemReport, spec: &std::path::Path) {
    let tf = &r.test_fn;
    print_text(&format!(
        "{}: SIEM[{}] = {:.6e} ± {:.2e} (particle form, error field {}, {} trajectories, {} sampler)",
        spec.display(),
        r.window,
        r.siem,
        r.siem_se,
        r.error_field,
        r.n,
        r.sampler
    ));
    print_text(&format!(
        "test function: {} (K = {}, test seed {}, centres {}), bandwidth {} = {}",
        tf.kind,
        tf.k,
        tf.test_seed,
        tf.centers_hash,
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

fn print_projection(r: &ProjectionReport, spec: &std::path::Path) {
    let tf = &r.test_fn;
    print_text(&format!(
        "{}: SIEM[{}] = {:.6e} ± {:.2e} (projection form, {} draws per time; jackknife SE {:.2e})",
        spec.display(),
        r.window,
        r.siem,
        r.siem_se,
        r.n,
        r.siem_se_jackknife
    ));
    match &r.quadratic {
        Some(q) => print_text(&format!(
            "test functions: quadratic family (degree ≤ 2, K = {} basis functions, centre α_t·data mean {}); \
             mean part {:.6e} ± {:.2e}, covariance part {:.6e} ± {:.2e}",
            tf.k, tf.centers_hash, q.mean_part, q.mean_part_se, q.cov_part, q.cov_part_se
        )),
        None => print_text(&format!(
            "test functions: {} (K = {}, test seed {}, centres {}), bandwidth {} from {} pilot draws per time \
             of the full grid = {}",
            tf.kind,
            tf.k,
            tf.test_seed,
            tf.centers_hash,
            tf.bandwidth_rule,
            r.pilot,
            tf.bandwidths.iter().map(|h| format!("{h:.4}")).collect::<Vec<_>>().join(", ")
        )),
    }
    print_text(&format!(
        "NFE {} per draw ({} score evaluations; full sampling {}: ratio {:.3}), {:.2} s",
        r.nfe,
        r.score_evals,
        r.nfe_full,
        r.nfe as f64 / r.nfe_full as f64,
        r.seconds
    ));
}
