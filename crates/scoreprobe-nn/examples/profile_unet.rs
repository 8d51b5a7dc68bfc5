//! Where a U-Net training step spends its time (simple `Instant` timers).
//!
//! `cargo run --release -p scoreprobe-nn --example profile_unet [-- --reps N --batch B]`
//!
//! 1. One full training step split into batch preparation, forward + loss, backward,
//!    clipping + AdamW + EMA.
//! 2. Per layer type, forward and forward+backward of every layer of the default U-Net
//!    (1×28×28, widths 32/64, attention, batch 64) at its real shapes, summed per type.

use anyhow::Result;
use candle_core::{Tensor, Var, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::schedule::Schedule;
use scoreprobe_nn::adamw::AdamW;
use scoreprobe_nn::ema::Ema;
use scoreprobe_nn::layers::{Conv2d, GroupNorm, Linear};
use scoreprobe_nn::params::ParamInit;
use scoreprobe_nn::train::{dsm_batch, dsm_loss};
use scoreprobe_nn::{DataShape, ModelKind, TrainConfig, TrainData};
use std::collections::BTreeMap;
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let a: Vec<String> = std::env::args().collect();
    a.iter().position(|x| x == name).and_then(|i| a.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rand_tensor(rng: &mut ChaCha8Rng, shape: &[usize]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    Ok(Tensor::from_vec(v, shape, &candle_core::Device::Cpu)?)
}

/// Times `reps` forward passes and `reps` forward+backward passes of f(x) (x is a Var).
fn time_layer(reps: usize, x: &Var, f: &dyn Fn(&Tensor) -> Result<Tensor>) -> Result<(f64, f64)> {
    f(x.as_tensor())?; // warm
    let t0 = Instant::now();
    for _ in 0..reps {
        let y = f(x.as_tensor())?;
        y.sum_all()?.to_scalar::<f32>()?;
    }
    let fwd = t0.elapsed().as_secs_f64() / reps as f64;
    let t0 = Instant::now();
    for _ in 0..reps {
        let y = f(x.as_tensor())?;
        let g = y.sqr()?.sum_all()?.backward()?;
        std::hint::black_box(g);
    }
    let both = t0.elapsed().as_secs_f64() / reps as f64;
    Ok((fwd, both))
}

fn main() -> Result<()> {
    let reps = arg("--reps", 3);
    let b = arg("--batch", 64);
    let dev = candle_core::Device::Cpu;
    println!("candle threads {}, batch {b}, reps {reps}", candle_core::utils::get_num_threads());

    // 1. a whole step
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let imgs: Vec<f32> = (0..512 * 784).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
    let shape = DataShape::Image { channels: 1, height: 28, width: 28 };
    let mut data = TrainData::from_rows("random", imgs, shape)?;
    let cfg = TrainConfig { batch: b, ..TrainConfig::new("random-28x28", ModelKind::Unet) };
    let schedule = Schedule::from_spec(&cfg.schedule).map_err(anyhow::Error::msg)?;
    let net = cfg.resolve_arch(&data.shape)?.build(1, &dev)?;
    let mut opt = AdamW::new(net.params(), cfg.adam.clone())?;
    let mut ema = Ema::new(net.params(), cfg.ema_decay)?;
    let mut acc = [0.0f64; 4];
    for step in 0..(reps + 1) as u64 {
        let t0 = Instant::now();
        let batch = dsm_batch(&cfg, &schedule, &mut data, step, &dev)?;
        let t1 = Instant::now();
        let loss = dsm_loss(&net, &batch)?;
        loss.to_scalar::<f32>()?;
        let t2 = Instant::now();
        let grads = loss.backward()?;
        let t3 = Instant::now();
        let g = AdamW::collect_grads(net.params(), &grads)?;
        let norm = AdamW::grad_norm(&g)?;
        let g = g.iter().map(|t| t * (1.0 / norm.max(1.0))).collect::<candle_core::Result<Vec<_>>>()?;
        opt.step(net.params(), &g, 1e-4)?;
        ema.update(net.params(), step + 1)?;
        let t4 = Instant::now();
        if step > 0 {
            acc[0] += (t1 - t0).as_secs_f64();
            acc[1] += (t2 - t1).as_secs_f64();
            acc[2] += (t3 - t2).as_secs_f64();
            acc[3] += (t4 - t3).as_secs_f64();
        }
    }
    let r = reps as f64;
    let total: f64 = acc.iter().sum::<f64>() / r;
    println!(
        "step {:.1} ms: batch {:.1}  forward+loss {:.1}  backward {:.1}  clip+adamw+ema {:.1}",
        1e3 * total,
        1e3 * acc[0] / r,
        1e3 * acc[1] / r,
        1e3 * acc[2] / r,
        1e3 * acc[3] / r
    );

    // 2. per layer type at the U-Net's shapes
    let mut p = ParamInit::new(0, &dev);
    let mut per: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut add = |k: &'static str, v: (f64, f64)| {
        let e = per.entry(k).or_insert((0.0, 0.0));
        e.0 += v.0;
        e.1 += v.1;
    };
    // (c_in, c_out, k, stride, side)
    let convs = [
        (1, 32, 3, 1, 28),
        (32, 32, 3, 1, 28),
        (32, 32, 3, 1, 28),
        (32, 32, 3, 2, 28),
        (32, 64, 3, 1, 14),
        (64, 64, 3, 1, 14),
        (32, 64, 1, 1, 14),
        (64, 64, 3, 1, 14),
        (64, 64, 3, 1, 14),
        (128, 64, 3, 1, 14),
        (64, 64, 3, 1, 14),
        (128, 64, 1, 1, 14),
        (64, 64, 3, 1, 14),
        (96, 32, 3, 1, 28),
        (32, 32, 3, 1, 28),
        (96, 32, 1, 1, 28),
        (32, 1, 3, 1, 28),
    ];
    for (i, &(ci, co, k, s, side)) in convs.iter().enumerate() {
        let conv = Conv2d::new(&mut p, &format!("c{i}"), ci, co, k, s)?;
        let x = Var::from_tensor(&rand_tensor(&mut rng, &[b, ci, side, side])?)?;
        let t = time_layer(reps, &x, &|x| Ok(conv.forward(x)?))?;
        add(if k == 1 { "conv 1x1" } else { "conv 3x3" }, t);
    }
    // GroupNorm + SiLU (fused, as in the residual blocks)
    let norms = [
        (32, 28),
        (32, 28),
        (32, 14),
        (64, 14),
        (64, 14),
        (64, 14),
        (64, 14),
        (128, 14),
        (64, 14),
        (96, 28),
        (32, 28),
        (32, 28),
    ];
    for (i, &(c, side)) in norms.iter().enumerate() {
        let gn = GroupNorm::new(&mut p, &format!("gn{i}"), 8, c)?;
        let x = Var::from_tensor(&rand_tensor(&mut rng, &[b, c, side, side])?)?;
        add("groupnorm+silu", time_layer(reps, &x, &|x| Ok(gn.forward_silu(x)?))?);
    }
    // residual adds, temb broadcast-add, cat, upsample
    for &(c, side) in &[(32, 28), (64, 14), (64, 14), (64, 14), (32, 28)] {
        let x = Var::from_tensor(&rand_tensor(&mut rng, &[b, c, side, side])?)?;
        let y = rand_tensor(&mut rng, &[b, c, side, side])?;
        let tb = rand_tensor(&mut rng, &[b, c, 1, 1])?;
        add("elementwise (add, temb)", time_layer(reps, &x, &|x| Ok(((x + &y)?.broadcast_add(&tb))?))?);
    }
    for &(c, side) in &[(64, 14), (32, 28)] {
        let x = Var::from_tensor(&rand_tensor(&mut rng, &[b, c, side, side])?)?;
        let y = rand_tensor(&mut rng, &[b, c, side, side])?;
        add("cat/upsample", time_layer(reps, &x, &|x| Ok(Tensor::cat(&[x, &y], 1)?))?);
    }
    {
        let x = Var::from_tensor(&rand_tensor(&mut rng, &[b, 64, 14, 14])?)?;
        add("cat/upsample", time_layer(reps, &x, &|x| Ok(scoreprobe_nn::engine::fused::upsample2x(x)?))?);
    }
    // attention at 14×14, c = 64 (same ops as unet::Attention)
    {
        let c = 64;
        let norm = GroupNorm::new(&mut p, "an", 8, c)?;
        let qkv = Linear::new(&mut p, "aqkv", c, 3 * c)?;
        let proj = Linear::new(&mut p, "aproj", c, c)?;
        let x = Var::from_tensor(&rand_tensor(&mut rng, &[b, c, 14, 14])?)?;
        let f = |x: &Tensor| -> Result<Tensor> {
            let (n, c, h, w) = x.dims4()?;
            let tokens = norm.forward(x)?.reshape((n, c, h * w))?.transpose(1, 2)?.contiguous()?;
            let qkv = qkv.forward(&tokens)?;
            let q = qkv.narrow(D::Minus1, 0, c)?.contiguous()?;
            let k = qkv.narrow(D::Minus1, c, c)?.contiguous()?;
            let v = qkv.narrow(D::Minus1, 2 * c, c)?.contiguous()?;
            let att = (q.matmul(&k.t()?)? * (1.0 / (c as f64).sqrt()))?;
            let att = candle_nn::ops::softmax(&att, D::Minus1)?;
            let out = proj.forward(&att.matmul(&v)?)?;
            let out = out.transpose(1, 2)?.reshape((n, c, h, w))?;
            Ok((x + out)?)
        };
        add("attention", time_layer(reps, &x, &f)?);
    }
    let (sf, sb): (f64, f64) = per.values().fold((0.0, 0.0), |a, v| (a.0 + v.0, a.1 + v.1));
    println!("{:<26} {:>10} {:>10} {:>10}", "layer type", "fwd ms", "bwd ms", "share");
    for (k, (f, both)) in &per {
        println!("{k:<26} {:>10.1} {:>10.1} {:>9.0}%", 1e3 * f, 1e3 * (both - f), 100.0 * both / sb);
    }
    println!("{:<26} {:>10.1} {:>10.1}", "sum", 1e3 * sf, 1e3 * (sb - sf));
    Ok(())
}
