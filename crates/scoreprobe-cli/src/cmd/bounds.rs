//! `scoreprobe bounds`: Girsanov and marginal (gradient-only) KL bounds of the reverse-SDE sampler
//! over [t_min, T] (SPEC §6), next to the exact KL where one exists.

use crate::cmd::hodge::{EstimatorOpts, Source};
use crate::io::{print_json, print_text};
use crate::models::DataArgs;
use anyhow::{Context, Result};
use scoreprobe_hodge::{run_bounds, BoundsConfig};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec (JSON: target, schedule, model).
    #[arg(long, required_unless_present = "checkpoint")]
    spec: Option<PathBuf>,
    #[command(flatten)]
    on_data: DataArgs,
    #[command(flatten)]
    opts: EstimatorOpts,
    /// Lower end of the time integrals (the sampler's end time); must be > 0.
    #[arg(long, default_value_t = 1e-3)]
    t_min: f64,
    /// Simpson panels in ln t (a multiple of 4; panels + 1 estimator calls).
    #[arg(long, default_value_t = 32)]
    panels: usize,
    /// Samples per node for the Monte-Carlo estimators.
    #[arg(long, default_value_t = 20_000)]
    n: usize,
    /// Monte-Carlo samples for KL(p_T‖π) when p_T is a mixture.
    #[arg(long, default_value_t = 100_000)]
    prior_n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let source = Source::load(&a.spec, &a.on_data)?;
    let problem = source.problem();
    let cfg = BoundsConfig { t_min: a.t_min, panels: a.panels, prior_n: a.prior_n, ..Default::default() };
    let r = run_bounds(&problem, &a.opts.options(), &cfg, a.n, a.seed).with_context(|| source.label().to_string())?;
    if a.json {
        print_json(&serde_json::to_value(&r)?);
        return Ok(());
    }
    let exact = r.exact_kl.map_or("null".to_string(), |v| format!("{v:.6}"));
    print_text(&format!(
        "KL bounds for the reverse-SDE sampler, model '{}' ({}), estimator {}, t_min = {} (nats, KL(p_tmin‖q_tmin))",
        r.model,
        source.label(),
        r.estimator,
        r.t_min
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
