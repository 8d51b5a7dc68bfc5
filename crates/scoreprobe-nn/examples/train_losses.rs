//! Per-checkpoint DSM losses of two short, seeded training runs (ring8 MLP, 2000 steps; a 16/32
//! U-Net on 16×16 synthetic blobs, 300 steps). Run it on two commits to compare their numerics:
//! the same seed must give the same losses up to float rounding.
//!
//! `cargo run --release -p scoreprobe-nn --example train_losses -- OUT_DIR`

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use scoreprobe_nn::{train_with_data, DataShape, ModelKind, TrainConfig, TrainData, TrainReport};

fn print(name: &str, r: &TrainReport, seconds: f64) -> Result<()> {
    print!("{name} ({seconds:.1} s):");
    for c in &r.checkpoints {
        let side = scoreprobe_nn::checkpoint::read_sidecar(c)?;
        print!(" {}", side.loss);
    }
    println!();
    Ok(())
}

fn main() -> Result<()> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).context("usage: train_losses OUT_DIR")?);
    let _ = std::fs::remove_dir_all(&out);
    let t0 = std::time::Instant::now();
    let cfg = TrainConfig {
        steps: 2000,
        checkpoint_every: Some(250),
        quiet: true,
        seed: 3,
        ..TrainConfig::new("ring8", ModelKind::Mlp)
    };
    let r = train_with_data(&cfg, TrainData::load("ring8", None)?, &out.join("mlp"), false)?;
    print("mlp ring8", &r, t0.elapsed().as_secs_f64())?;
    // 2048 Gaussian blobs at random centres, pixels in [-1, 1]
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let (n, side) = (2048, 16);
    let mut imgs = vec![0f32; n * side * side];
    for img in imgs.chunks_exact_mut(side * side) {
        let (cx, cy) = (rng.random::<f32>() * side as f32, rng.random::<f32>() * side as f32);
        for (i, v) in img.iter_mut().enumerate() {
            let (x, y) = ((i % side) as f32, (i / side) as f32);
            *v = 2.0 * (-((x - cx).powi(2) + (y - cy).powi(2)) / 8.0).exp() - 1.0;
        }
    }
    let shape = DataShape::Image { channels: 1, height: side, width: side };
    let mut cfg = TrainConfig {
        steps: 300,
        checkpoint_every: Some(50),
        quiet: true,
        seed: 4,
        batch: 32,
        lr: 1e-3,
        ..TrainConfig::new("blobs", ModelKind::Unet)
    };
    cfg.unet.widths = [16, 32];
    let t0 = std::time::Instant::now();
    let r = train_with_data(&cfg, TrainData::from_rows("blobs", imgs, shape)?, &out.join("unet"), false)?;
    print("unet blobs", &r, t0.elapsed().as_secs_f64())?;
    Ok(())
}
