//! `scoreprobe siem`: the quadratic-variation metric SIEM_W (SPEC §7) over a window of the
//! sampler's steps, in its projection form (forward-noised data draws, no error field) or its
//! particle form (the model's own reverse-SDE trajectories with an error field).

use crate::io::{print_json, print_text};
use anyhow::{anyhow, Context, Result};
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_core::state::{ShardSet, StateKind};
use scoreprobe_siem::options::SiemRun;
use scoreprobe_siem::particle_shard::merge_particle;
use scoreprobe_siem::projection::ProjectionReport;
use scoreprobe_siem::shard::{merge_projection, write_state, ModelId};
use scoreprobe_siem::{run_siem, SiemOptions, SiemReference, SiemReport};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec (JSON: target, schedule, model).
    #[arg(long)]
    spec: PathBuf,
    #[command(flatten)]
    opts: SiemOptions,
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
    // an option error names its field; `main` spells it as a flag
    let report = run_siem(resolved.model.as_ref(), &resolved.schedule, reference, &a.opts)
        .with_context(|| a.spec.display().to_string())?;
    if a.opts.shard.state_out.is_some() {
        let model = ModelId { fingerprint: spec.fingerprint(), label: a.spec.display().to_string() };
        write_state(&report, &a.opts, &model, resolved.model.dim())?;
        if let (Some(shard), Some(out)) = (a.opts.shard.shard.filter(|s| !s.is_whole()), &a.opts.shard.state_out) {
            eprintln!("shard {shard} of {}: state {}", a.spec.display(), out.display());
            return Ok(());
        }
    }
    print_report(&report, &a.spec, a.json)
}

/// `scoreprobe merge` of SIEM states (either form): what the unsharded `siem` prints.
pub fn print_merged(set: &ShardSet, json: bool) -> Result<()> {
    if set.kind == StateKind::SiemParticle {
        let (report, label) = merge_particle(set)?;
        return print_report(&SiemRun::Particle(report), Path::new(&label), json);
    }
    let (report, label) = merge_projection(set)?;
    print_report(&SiemRun::Projection(report), Path::new(&label), json)
}

fn print_report(report: &SiemRun, spec: &Path, json: bool) -> Result<()> {
    match (report, json) {
        (_, true) => print_json(&serde_json::to_value(report)?),
        (SiemRun::Particle(r), false) => print_summary(r, spec),
        (SiemRun::Projection(r), false) => print_projection(r, spec),
    }
    Ok(())
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
    print_bands(r);
    if let Some(f) = &r.floor {
        print_text(&format!(
            "floor ({}): SIEM {:.6e} ± {:.2e}, held-out accuracy {:.3}{}{}; model − floor = {:.6e} ± {:.2e} (paired, same trajectories)",
            f.facts.what,
            f.siem,
            f.siem_se,
            f.facts.heldout_accuracy,
            f.facts.heldout_accuracy_ci95.map(|[lo, hi]| format!(" (95 % CI {lo:.3}..{hi:.3})")).unwrap_or_default(),
            f.facts.logit_rms.map(|v| format!(", logit RMS {v:.3}")).unwrap_or_default(),
            f.excess,
            f.excess_se
        ));
    }
    // A source's own warnings (e.g. a classifier at chance) on their own lines, as `metrics` does.
    for w in r.source.get("warnings").and_then(|w| w.as_array()).into_iter().flatten() {
        print_text(&format!("warning: {}", w.as_str().unwrap_or_default()));
    }
}

/// A source fitted per band: how many were kept, and the dropped ones by name.
fn print_bands(r: &SiemReport) {
    if r.bands.is_empty() {
        return;
    }
    let kept = r.bands.iter().filter(|b| b.kept).count();
    let dropped = r.dropped_bands.as_deref().unwrap_or_default();
    print_text(&format!(
        "bands: {kept} of {} kept ({}){}",
        r.bands.len(),
        r.bands
            .iter()
            .map(|b| format!("{}: {:.3e} ± {:.1e}", b.steps, b.heldout_objective, b.heldout_objective_se))
            .collect::<Vec<_>>()
            .join(", "),
        if dropped.is_empty() {
            String::new()
        } else {
            format!("; dropped (held-out objective not above 2 SE, zero error field there): {}", dropped.join(", "))
        }
    ));
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
