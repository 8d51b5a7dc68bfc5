//! Samples a checkpoint and writes an 8×8 PNG grid, without the CLI (same as
//! `scoreprobe sample --checkpoint CKPT --n 64 --sampler ode-heun --steps K --png-grid OUT`).
//!
//! `cargo run --release -p scoreprobe-nn --example sample_grid -- CKPT OUT.png [STEPS]`

use anyhow::{bail, Result};
use scoreprobe_core::sampler::{prior_init, sample_with_observer, SamplerConfig, SamplerKind};
use scoreprobe_core::ScoreModel;
use scoreprobe_nn::{load_score_model, ArchSpec, LoadOptions};

fn main() -> Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let (Some(ckpt), Some(out)) = (a.get(1), a.get(2)) else { bail!("usage: sample_grid CKPT OUT.png [STEPS]") };
    let steps: usize = a.get(3).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let (model, _) = load_score_model(ckpt.as_ref(), &LoadOptions::default())?;
    let ArchSpec::Unet(u) = model.arch() else { bail!("not an image model") };
    let shape = (u.channels, u.height, u.width);
    let schedule = model.schedule().clone();
    let cfg = SamplerConfig::new(SamplerKind::OdeHeun, steps, schedule.default_t_min(), 0);
    let x0 = prior_init(64, model.dim(), 0);
    let t = std::time::Instant::now();
    let res = sample_with_observer(&model, &schedule, &cfg, x0, &mut |_| std::ops::ControlFlow::Continue(()))?;
    let flat: Vec<f32> = res.x.iter().map(|&v| v as f32).collect();
    scoreprobe_nn::write_png_grid(out.as_ref(), &flat, shape, 8, (-1.0, 1.0))?;
    println!("{out}: 64 samples, {} NFE, {:.0} s", res.nfe, t.elapsed().as_secs_f64());
    Ok(())
}
