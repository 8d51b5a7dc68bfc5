//! Training and sampling throughput of the ε-networks on this machine.
//!
//! `cargo run --release -p scoreprobe-nn --example bench [-- --quick]`
//!
//! MLP (d = 2, 3×128, batch 512) and U-Net (1×28×28, widths 32/64, attention, batch 64):
//! training steps/s (DSM loss, backward, clipping, AdamW, EMA; batch preparation included) and
//! sampling throughput = score evaluations × batch / s (one forward pass per evaluation).

use anyhow::Result;
use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::schedule::Schedule;
use scoreprobe_nn::adamw::AdamW;
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

fn bench(name: &str, cfg: &TrainConfig, mut data: TrainData, train_steps: u64, evals: usize) -> Result<()> {
    let device = scoreprobe_nn::default_device();
    let schedule = Schedule::from_spec(&cfg.schedule).map_err(anyhow::Error::msg)?;
    let arch = cfg.resolve_arch(&data.shape)?;
    let net = arch.build(1, &device)?;
    let mut opt = AdamW::new(net.params(), cfg.adam.clone())?;
    let mut ema = Ema::new(net.params(), cfg.ema_decay)?;
    let warm = 3;
    let mut t_total = 0.0;
    let mut t_batch = 0.0;
    let mut cpu0 = 0.0;
    for step in 0..train_steps + warm {
        if step == warm {
            cpu0 = cpu_seconds();
        }
        let t0 = Instant::now();
        let batch = dsm_batch(cfg, &schedule, &mut data, step, &device)?;
        let tb = t0.elapsed().as_secs_f64();
        optimizer_step(cfg, &net, &mut opt, &mut ema, &batch, step)?;
        if step >= warm {
            t_total += t0.elapsed().as_secs_f64();
            t_batch += tb;
        }
    }
    let cpu_train = cpu_seconds() - cpu0;
    let d = data.shape.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = Tensor::from_vec(
        (0..cfg.batch * d).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect::<Vec<_>>(),
        (cfg.batch, d),
        &device,
    )?;
    let t = Tensor::full(0.5f32, cfg.batch, &device)?;
    net.forward(&x, &t)?;
    let t0 = Instant::now();
    let cpu1 = cpu_seconds();
    for _ in 0..evals {
        let y = net.forward(&x, &t)?;
        y.sum_all()?.to_scalar::<f32>()?; // synchronise
    }
    let fwd = t0.elapsed().as_secs_f64();
    let cpu_fwd = cpu_seconds() - cpu1;
    println!(
        "{name:<28} params {:>7}  train {:>8.2} steps/s ({:.2} ms/step, batch prep {:.2} ms, cpu {:.0} ms/step)  sampling {:>10.0} evals·batch/s ({:.2} ms/eval, cpu {:.1} ms/eval)",
        net.params().num_params(),
        train_steps as f64 / t_total,
        1e3 * t_total / train_steps as f64,
        1e3 * t_batch / train_steps as f64,
        1e3 * cpu_train / train_steps as f64,
        (evals * cfg.batch) as f64 / fwd,
        1e3 * fwd / evals as f64,
        1e3 * cpu_fwd / evals as f64
    );
    Ok(())
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (mlp_steps, mlp_evals, unet_steps, unet_evals) = if quick { (50, 50, 3, 3) } else { (500, 500, 20, 20) };
    println!(
        "device: {:?}, candle threads: {}",
        scoreprobe_nn::default_device(),
        candle_core::utils::get_num_threads()
    );
    let cfg = TrainConfig { batch: 512, ..TrainConfig::new("ring8", ModelKind::Mlp) };
    bench("mlp d=2 3x128 batch 512", &cfg, TrainData::load("ring8", None)?, mlp_steps, mlp_evals)?;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let n = 512;
    let imgs: Vec<f32> = (0..n * 784).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    let shape = DataShape::Image { channels: 1, height: 28, width: 28 };
    let cfg = TrainConfig::new("random-28x28", ModelKind::Unet);
    bench("unet 28x28 32/64 batch 64", &cfg, TrainData::from_rows("random", imgs, shape)?, unet_steps, unet_evals)?;
    Ok(())
}
