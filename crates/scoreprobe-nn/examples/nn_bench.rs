//! Training, sampling and critic-fit throughput of the networks on this machine; the PyTorch peer
//! is `bench/torch_bench.py` and `bench/compare-nn.sh` runs both back to back.
//!
//! `cargo run --release -p scoreprobe-nn --example nn_bench [-- --quick] [--workload NAME]...`
//!
//! Workloads (all by default):
//! - `mlp_train`, `mlp_sample`: MLP d = 2, 3×128, batch 512 (ring8): one training step (DSM loss,
//!   backward, clipping, AdamW, EMA; batch preparation included), one forward pass of the batch;
//! - `unet_train`, `unet_sample`: U-Net 1×28×28, widths 32/64, attention, batch 64;
//! - `critic_2d`, `critic_784d`: one step of fitting the 2×64 time-conditioned scalar critic
//!   (batch 512 from a fixed pool of 8192 draws; exact gradient in 2-D, 16 random directions in
//!   784-D), as `critic_fit::fit_scalar_critic` runs it (the pool is drawn before the clock).
//!
//! Besides a readable line, each prints `RESULT<TAB>workload<TAB>seconds per unit`.

use anyhow::{bail, Result};
use candle_core::Tensor;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use scoreprobe_core::schedule::Schedule;
use scoreprobe_nn::adamw::AdamW;
use scoreprobe_nn::critic_fit::{fit_scalar_critic, CriticBatch, CriticFitConfig};
use scoreprobe_nn::ema::Ema;
use scoreprobe_nn::train::{dsm_batch, optimizer_step};
use scoreprobe_nn::{DataShape, ModelKind, TrainConfig, TrainData};
use std::time::Instant;

/// CPU seconds (user + system, all threads) of this process so far, from /proc/self/stat: on a
/// loaded machine a steadier measure of the work done than wall time.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
    // fields 14 and 15 of the file (utime, stime) are 12 and 13 after the ')' ; clock ticks of 1/100 s
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn result(workload: &str, seconds: f64) {
    println!("RESULT\t{workload}\t{seconds:.6e}");
}

fn train(name: &str, workload: &str, cfg: &TrainConfig, mut data: TrainData, steps: u64) -> Result<()> {
    let device = scoreprobe_nn::default_device();
    let schedule = Schedule::from_spec(&cfg.schedule).map_err(anyhow::Error::msg)?;
    let net = cfg.resolve_arch(&data.shape)?.build(1, &device)?;
    let mut opt = AdamW::new(net.params(), cfg.adam.clone())?;
    let mut ema = Ema::new(net.params(), cfg.ema_decay)?;
    let warm = 3;
    let (mut total, mut cpu0) = (0.0, 0.0);
    for step in 0..steps + warm {
        if step == warm {
            cpu0 = cpu_seconds();
        }
        let t0 = Instant::now();
        let batch = dsm_batch(cfg, &schedule, &mut data, step, &device)?;
        optimizer_step(cfg, &net, &mut opt, &mut ema, &batch, step)?;
        if step >= warm {
            total += t0.elapsed().as_secs_f64();
        }
    }
    let cpu = cpu_seconds() - cpu0;
    println!(
        "{name:<30} params {:>7}  train {:>8.2} steps/s ({:.2} ms/step, cpu {:.1} ms/step)",
        net.params().num_params(),
        steps as f64 / total,
        1e3 * total / steps as f64,
        1e3 * cpu / steps as f64
    );
    result(workload, total / steps as f64);
    Ok(())
}

fn sample(name: &str, workload: &str, cfg: &TrainConfig, shape: &DataShape, evals: usize) -> Result<()> {
    let device = scoreprobe_nn::default_device();
    let net = cfg.resolve_arch(shape)?.build(1, &device)?;
    let d = shape.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = Tensor::from_vec(
        (0..cfg.batch * d).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect::<Vec<_>>(),
        (cfg.batch, d),
        &device,
    )?;
    let t = Tensor::full(0.5f32, cfg.batch, &device)?;
    net.eval(&x, &t)?;
    let t0 = Instant::now();
    let cpu0 = cpu_seconds();
    for _ in 0..evals {
        let y = net.eval(&x, &t)?;
        y.sum_all()?.to_scalar::<f32>()?; // synchronise
    }
    let fwd = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "{name:<30} sampling {:>10.0} evals·batch/s ({:.2} ms/eval, cpu {:.1} ms/eval)",
        (evals * cfg.batch) as f64 / fwd,
        1e3 * fwd / evals as f64,
        1e3 * cpu / evals as f64
    );
    result(workload, fwd / evals as f64);
    Ok(())
}

/// The bench's critic draws: x ~ N(0, I), w = x/2 + N(0, I), t ~ U(0.01, 1), n rows, seeded.
fn critic_pool(n: usize, d: usize) -> CriticBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = Array2::from_shape_fn((n, d), |_| rng.sample::<f64, _>(StandardNormal));
    let w = Array2::from_shape_fn((n, d), |(i, j)| 0.5 * x[[i, j]] + rng.sample::<f64, _>(StandardNormal));
    let t = (0..n).map(|_| 0.01 + 0.99 * rng.random::<f64>()).collect();
    CriticBatch { x, t, w }
}

/// Critic fit steps on a fixed pool of 8192 synthetic draws (drawn before the clock starts).
fn critic(name: &str, workload: &str, d: usize, steps: usize) -> Result<()> {
    let cfg = CriticFitConfig { steps, pool: Some(8192), ..Default::default() };
    let pool = critic_pool(8192, d);
    let mut next = 0;
    let mut draw = |n: usize, _: &mut ChaCha8Rng| {
        let b = pool.rows(next, next + n);
        next += n;
        Ok(b)
    };
    let cpu0 = cpu_seconds();
    let (_, log) = fit_scalar_critic(d, &cfg, 7, &scoreprobe_nn::default_device(), &mut draw)?;
    let cpu = cpu_seconds() - cpu0;
    println!(
        "{name:<30} fit {:>8.2} steps/s ({:.2} ms/step, cpu {:.1} ms/step)",
        steps as f64 / log.seconds,
        1e3 * log.seconds / steps as f64,
        1e3 * cpu / steps as f64
    );
    result(workload, log.seconds / steps as f64);
    Ok(())
}

const WORKLOADS: [(&str, usize, usize); 6] = [
    ("mlp_train", 30, 200),
    ("mlp_sample", 50, 300),
    ("unet_train", 3, 8),
    ("unet_sample", 3, 10),
    ("critic_2d", 30, 200),
    ("critic_784d", 10, 50),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let chosen: Vec<&str> = args.windows(2).filter(|w| w[0] == "--workload").map(|w| w[1].as_str()).collect();
    if let Some(bad) = chosen.iter().find(|c| !WORKLOADS.iter().any(|w| w.0 == **c)) {
        bail!("unknown workload '{bad}'; known: {:?}", WORKLOADS.map(|w| w.0));
    }
    println!(
        "device: {:?}, candle threads: {}",
        scoreprobe_nn::default_device(),
        candle_core::utils::get_num_threads()
    );
    let mlp = TrainConfig { batch: 512, ..TrainConfig::new("ring8", ModelKind::Mlp) };
    let unet = TrainConfig::new("random-28x28", ModelKind::Unet);
    let image = DataShape::Image { channels: 1, height: 28, width: 28 };
    for (w, q, full) in WORKLOADS {
        if !chosen.is_empty() && !chosen.contains(&w) {
            continue;
        }
        let n = if quick { q } else { full };
        match w {
            "mlp_train" => train("mlp d=2 3x128 batch 512", w, &mlp, TrainData::load("ring8", None)?, n as u64)?,
            "mlp_sample" => sample("mlp d=2 3x128 batch 512", w, &mlp, &DataShape::Vector { dim: 2 }, n)?,
            "unet_train" => {
                let mut rng = ChaCha8Rng::seed_from_u64(1);
                let imgs: Vec<f32> = (0..512 * 784).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
                let data = TrainData::from_rows("random", imgs, image.clone())?;
                train("unet 28x28 32/64 batch 64", w, &unet, data, n as u64)?
            }
            "unet_sample" => sample("unet 28x28 32/64 batch 64", w, &unet, &image, n)?,
            "critic_2d" => critic("critic 2x64 d=2 batch 512", w, 2, n)?,
            "critic_784d" => critic("critic 2x64 d=784 batch 512", w, 784, n)?,
            _ => unreachable!(),
        }
    }
    Ok(())
}
