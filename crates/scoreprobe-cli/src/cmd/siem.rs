//! `scoreprobe siem`: the quadratic-variation metric SIEM_W (SPEC §7) over a window of the
//! sampler's steps, in its projection form (forward-noised data draws, no error field) or its
//! particle form (the model's own reverse-SDE trajectories with an error field).

use crate::io::{print_json, print_text};
use anyhow::{anyhow, bail, Context, Result};
use ndarray::Array1;
use scoreprobe_core::sampler::SamplerKind;
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_core::window::Window;
use scoreprobe_siem::classifier::ClassifierConfig;
use scoreprobe_siem::critic::CriticSourceConfig;
use scoreprobe_siem::projection::{estimate_projection, ProjectionConfig, ProjectionReport, DEFAULT_CENTERS};
use scoreprobe_siem::recipe::{error_source, SourceOptions, Truth};
use scoreprobe_siem::{
    centers_from_target, estimate_siem, BandwidthRule, ErrorFieldKind, RadialKind, SiemConfig, SiemForm, SiemReport,
    TestFnSpec,
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
    /// (the multi-centre variant). K = 1 at c = 0 is the paper's metric. Default: 8 for the
    /// projection form, 1 for the particle form.
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
    let (target, schedule) = (&resolved.target, &resolved.schedule);
    // every spec target is a mixture with an exact score; a synthetic model's e_t is used directly
    let truth =
        Truth::Exact { target: target.clone(), schedule: schedule.clone(), synthetic: resolved.synthetic.clone() };
    let form = match &a.form {
        Some(f) => f.parse::<SiemForm>().context("--form")?,
        None => SiemForm::default_for(truth.has_exact_score()),
    };
    let d = target.dim();
    let steps = a.steps.unwrap_or_else(|| schedule.default_steps());
    let t_min = a.t_min.unwrap_or_else(|| schedule.default_t_min());
    let window = match &a.window {
        Some(w) => {
            let w = Window::parse(w).map_err(|e| anyhow!("--window: {e}"))?;
            w.check(steps).map_err(|e| anyhow!("--window: {e}"))?;
            w
        }
        None => Window::full(steps),
    };
    let default_k = match form {
        SiemForm::Projection => DEFAULT_CENTERS,
        SiemForm::Particle => 1,
    };
    let test_fn = test_functions(&a, target, d, a.centers.unwrap_or(default_k))?;
    match form {
        SiemForm::Projection => {
            if let Some(f) = &a.error_field {
                bail!("--error-field {f}: the projection form uses no error field (it needs only data draws); use --form particle");
            }
            if a.sampler != "em" {
                bail!("--sampler {}: the projection form runs no sampler; use --form particle", a.sampler);
            }
            let mut cfg = ProjectionConfig::new(d, steps, t_min, a.n, a.seed);
            cfg.window = window;
            cfg.test_fn = test_fn;
            cfg.pilot = a.pilot;
            let mut draws = truth.into_draws();
            let report =
                estimate_projection(resolved.model.as_ref(), schedule, &mut draws, &cfg).map_err(|e| anyhow!(e))?;
            if a.json {
                print_json(&serde_json::to_value(&report)?);
            } else {
                print_projection(&report, &a.spec);
            }
        }
        SiemForm::Particle => {
            let kind: ErrorFieldKind = match &a.error_field {
                Some(f) => f.parse().context("--error-field")?,
                None if truth.has_exact_score() => ErrorFieldKind::Oracle,
                None => ErrorFieldKind::Critic,
            };
            if let Some(why) = kind.unavailable() {
                bail!(why);
            }
            let mut cfg = SiemConfig::new(d, steps, t_min, a.n, a.seed);
            cfg.sampler = a.sampler.parse::<SamplerKind>().map_err(|e| anyhow!("--sampler: {e}"))?;
            cfg.window = window;
            cfg.test_fn = test_fn;
            let options = SourceOptions {
                classifier: ClassifierConfig { train_steps: a.classifier_steps, seed: a.seed, ..Default::default() },
                critic: CriticSourceConfig { seed: a.seed, ..Default::default() },
            };
            let mut source = error_source(kind, truth, options)?;
            let report =
                estimate_siem(resolved.model.as_ref(), schedule, source.as_mut(), &cfg).map_err(|e| anyhow!(e))?;
            if a.json {
                print_json(&serde_json::to_value(&report)?);
            } else {
                print_summary(&report, &a.spec);
            }
        }
    }
    Ok(())
}

fn test_functions(a: &Args, target: &scoreprobe_core::GaussianMixture, d: usize, k: usize) -> Result<TestFnSpec> {
    let kind: RadialKind = a.test_fn.parse().context("--test-fn")?;
    let bandwidth = match (a.bandwidth, a.bandwidth_rule.as_str()) {
        (Some(h), _) if !(h > 0.0 && h.is_finite()) => bail!("--bandwidth: must be a finite number > 0, got {h}"),
        (Some(h), _) => BandwidthRule::Fixed(h),
        (None, "median-first-step") => BandwidthRule::MedianFirstStep,
        (None, _) => BandwidthRule::MedianPooled,
    };
    if k == 0 {
        bail!("--centers: need at least 1 test function");
    }
    let centers = match (&a.center, k) {
        (Some(_), k) if k > 1 => {
            bail!("--center and --centers {k} exclude each other: the {k} centres are seeded data points")
        }
        (Some(c), _) if c.len() != d => {
            bail!("--center: has {} coordinates, the target has dimension {d}", c.len())
        }
        (Some(c), _) => Array1::from(c.clone()).insert_axis(ndarray::Axis(0)),
        (None, 1) => ndarray::Array2::zeros((1, d)),
        (None, k) => centers_from_target(target, k, a.seed),
    };
    let spec = TestFnSpec { kind, bandwidth, centers };
    spec.validate(d).map_err(|e| anyhow!("--center/--bandwidth: {e}"))?;
    Ok(spec)
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
    print_text(&format!(
        "test functions: {} (K = {}), bandwidth {} from {} pilot draws per time = {}",
        tf.kind,
        tf.k,
        tf.bandwidth_rule,
        r.pilot,
        tf.bandwidths.iter().map(|h| format!("{h:.4}")).collect::<Vec<_>>().join(", ")
    ));
    print_text(&format!(
        "NFE {} per draw ({} score evaluations; full sampling {}: ratio {:.3}), {:.2} s",
        r.nfe,
        r.score_evals,
        r.nfe_full,
        r.nfe as f64 / r.nfe_full as f64,
        r.seconds
    ));
}
