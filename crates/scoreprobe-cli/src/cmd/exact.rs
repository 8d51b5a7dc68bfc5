use crate::io::print_json;
use anyhow::{anyhow, Context, Result};
use scoreprobe_core::exact::{euler_maruyama_law, generated_law, Dynamics, Init};
use scoreprobe_core::spec::ProblemSpec;
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Problem spec (Gaussian target; exact, affine_error, solenoidal or quadratic-gradient model).
    #[arg(long)]
    spec: PathBuf,
    /// End time t_min (default 1e-3 for VP, 0 for DDPM). KL and W2 compare q and p at t_min.
    #[arg(long)]
    t_min: Option<f64>,
    /// Start from the prior N(0, I) or the true marginal p_T.
    #[arg(long, default_value = "prior", value_parser = ["prior", "marginal"])]
    init: String,
    /// Also give the exact law of the Euler–Maruyama chain with this many steps.
    #[arg(long)]
    em_steps: Option<usize>,
    /// RK4 substeps for the moment ODEs.
    #[arg(long, default_value_t = 4000)]
    substeps: usize,
    /// Print JSON (the default output is JSON as well; the flag is accepted for symmetry with other commands).
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let spec = ProblemSpec::from_file(&a.spec).map_err(|e| anyhow!(e))?;
    let model = spec.synthetic_model().map_err(|e| anyhow!(e))?;
    let t_min = a.t_min.unwrap_or_else(|| model.schedule.default_t_min());
    if !(0.0..1.0).contains(&t_min) {
        return Err(anyhow!("--t-min: must lie in [0, 1), got {t_min}"));
    }
    let init = if a.init == "prior" { Init::Prior } else { Init::Marginal };
    // a law error (e.g. a target with no closed form) names the spec it came from
    let spec_name = || a.spec.display().to_string();
    let sde = generated_law(&model, Dynamics::ReverseSde, init, t_min, a.substeps)
        .map_err(|e| anyhow!(e))
        .with_context(spec_name)?;
    let ode = generated_law(&model, Dynamics::ProbabilityFlow, init, t_min, a.substeps)
        .map_err(|e| anyhow!(e))
        .with_context(spec_name)?;
    let law = |l: &scoreprobe_core::exact::ExactLaw| json!({"mean": l.mean.to_vec(), "cov": l.cov.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(), "kl": l.kl, "w2": l.w2});
    let em = a
        .em_steps
        .map(|k| euler_maruyama_law(&model, init, t_min, k).map(|l| json!({"steps": k, "law": law(&l)})))
        .transpose()
        .map_err(|e| anyhow!(e))?;
    print_json(&json!({
        "model": scoreprobe_core::ScoreModel::describe(&model),
        "t_min": t_min, "init": a.init,
        "reference": "p at t_min (the forward marginal the sampler should reach)",
        "target_mean": sde.target_mean.to_vec(),
        "target_cov": sde.target_cov.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        "reverse_sde": law(&sde), "probability_flow": law(&ode), "euler_maruyama_chain": em,
        "kl_units": "nats, KL(p_tmin || q_tmin)", "w2_cost": "|x-y|^2 (W2 is the square root of the optimal cost)",
    }));
    Ok(())
}
