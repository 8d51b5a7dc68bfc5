//! `scoreprobe bounds`: Girsanov and marginal (gradient-only) KL bounds of the reverse-SDE sampler
//! over [t_min, T] (SPEC §6), next to the exact KL where one exists.

use crate::cmd::hodge::Source;
use crate::io::{print_json, print_text};
use crate::models::DataArgs;
use anyhow::{Context, Result};
use scoreprobe_core::state::ShardSet;
use scoreprobe_hodge::shard::{merge_bounds, write_bounds_state};
use scoreprobe_hodge::{bounds_part_of, BoundsOptions, BoundsReport};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec (JSON: target, schedule, model).
    #[arg(long, required_unless_present = "checkpoint")]
    spec: Option<PathBuf>,
    #[command(flatten)]
    on_data: DataArgs,
    #[command(flatten)]
    opts: BoundsOptions,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let source = Source::load(&a.spec, &a.on_data)?;
    let problem = source.problem();
    let part = bounds_part_of(&problem, &a.opts).with_context(|| source.label().to_string())?;
    if let Some(out) = &a.opts.shard.state_out {
        write_bounds_state(&part, &a.opts, &crate::cmd::hodge::model_id(&source, &a.spec)?)?;
        if let Some(shard) = a.opts.shard.shard.filter(|s| !s.is_whole()) {
            eprintln!("shard {shard} of {}: state {}", source.label(), out.display());
            return Ok(());
        }
    }
    print_report(&part.report()?, source.label(), a.json)
}

/// `scoreprobe merge` of bounds states: what the unsharded `bounds` prints.
pub fn print_merged(set: &ShardSet, json: bool) -> Result<()> {
    let (report, label) = merge_bounds(set)?;
    print_report(&report, &label, json)
}

fn print_report(r: &BoundsReport, label: &str, json: bool) -> Result<()> {
    if json {
        print_json(&serde_json::to_value(r)?);
        return Ok(());
    }
    let exact = r.exact_kl.map_or("null".to_string(), |v| format!("{v:.6}"));
    print_text(&format!(
        "KL bounds for the reverse-SDE sampler, model '{}' ({}), estimator {}, t_min = {} (nats, KL(p_tmin‖q_tmin))",
        r.model, label, r.estimator, r.t_min
    ));
    print_text(&format!("  exact KL        {exact:>12}   [{}]", r.exact_kl_method));
    print_text(&format!(
        "  marginal bound  {:>12.6}   ± {:.1e} (MC) ± {:.1e} (quadrature, halving)",
        r.marginal, r.marginal_se, r.marginal_quad_err
    ));
    print_text(&format!(
        "  Girsanov bound  {:>12.6}   ± {:.1e} (MC) ± {:.1e} (quadrature, halving)",
        r.girsanov, r.girsanov_se, r.girsanov_quad_err
    ));
    print_text(&format!(
        "  prior KL(p_T‖π) {:>12.3e}   (lower {:.3e}) [{}]",
        r.prior_kl, r.prior.lower, r.prior.method
    ));
    print_text(&format!("  path cost ∫½β‖r‖² = Girsanov − marginal = {:.6}", r.path_cost));
    print_text(&format!("  {}; cost {:.3} s, {} samples/cells", r.quadrature, r.seconds, r.samples));
    Ok(())
}
