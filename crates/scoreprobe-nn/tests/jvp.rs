//! Forward-mode tangents against finite differences, and parameter gradients through tangents.

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use scoreprobe_nn::{ConvCritic, ConvCriticSpec, JvpMlp, JvpScalar, MlpSpec};

fn randn(rng: &mut ChaCha8Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Central finite difference of f along v, computed in f32 with step h.
fn fd<F: JvpScalar>(f: &F, x: &Tensor, t: &Tensor, v: &Tensor, h: f64) -> Vec<f32> {
    let xp = (x + (v * h).unwrap()).unwrap();
    let xm = (x - (v * h).unwrap()).unwrap();
    let fp = f.value(&xp, t).unwrap().to_dtype(DType::F64).unwrap();
    let fm = f.value(&xm, t).unwrap().to_dtype(DType::F64).unwrap();
    ((fp - fm).unwrap() / (2.0 * h)).unwrap().to_dtype(DType::F32).unwrap().to_vec1().unwrap()
}

fn assert_close(a: &[f32], b: &[f32], rel: f32, what: &str) {
    let scale = b.iter().map(|v| v.abs()).fold(0.0f32, f32::max).max(1e-3);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= rel * scale, "{what}[{i}]: jvp {x} vs finite difference {y} (scale {scale})");
    }
}

#[test]
fn mlp_tangents_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let d = 3;
    let n = 16;
    let critic = JvpMlp::new(&MlpSpec::scalar(d, 32, 3), 11, &Device::Cpu).unwrap();
    let x = randn(&mut rng, &[n, d]);
    let t = Tensor::from_vec((0..n).map(|i| 0.05 + 0.9 * i as f32 / n as f32).collect::<Vec<_>>(), n, &Device::Cpu)
        .unwrap();
    let dirs: Vec<Tensor> = (0..4).map(|_| randn(&mut rng, &[n, d])).collect();
    let (val, tans) = critic.forward_with_tangents(&x, &t, &dirs).unwrap();
    assert_eq!(val.dims(), &[n]);
    assert_close(
        &val.to_vec1::<f32>().unwrap(),
        &critic.value(&x, &t).unwrap().to_vec1::<f32>().unwrap(),
        1e-6,
        "value",
    );
    for (k, (v, tan)) in dirs.iter().zip(&tans).enumerate() {
        assert_eq!(tan.dims(), &[n]);
        let want = fd(&critic, &x, &t, v, 1e-2);
        assert_close(&tan.to_vec1::<f32>().unwrap(), &want, 2e-3, &format!("direction {k}"));
    }
    // the gradient from d unit directions agrees with the tangents: v·∇f
    let g = critic.input_gradient(&x, &t).unwrap();
    assert_eq!(g.dims(), &[n, d]);
    let vg = (&dirs[0] * &g).unwrap().sum(1).unwrap().to_vec1::<f32>().unwrap();
    assert_close(&vg, &tans[0].to_vec1::<f32>().unwrap(), 1e-5, "v·grad");
    // and a wrong rule would be caught: the tangent along 2v is twice the tangent along v
    let (_, t2) = critic.forward_with_tangents(&x, &t, &[(&dirs[0] * 2.0).unwrap()]).unwrap();
    let twice: Vec<f32> = tans[0].to_vec1::<f32>().unwrap().iter().map(|v| 2.0 * v).collect();
    assert_close(&t2[0].to_vec1::<f32>().unwrap(), &twice, 1e-5, "linearity");
}

/// d/dθ of a loss built from tangents (the critic objective's shape) vs a finite difference in θ.
#[test]
fn parameter_gradients_flow_through_tangents() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (n, d) = (32, 2);
    let critic = JvpMlp::new(&MlpSpec::scalar(d, 16, 2), 5, &Device::Cpu).unwrap();
    let x = randn(&mut rng, &[n, d]);
    let t = Tensor::full(0.3f32, n, &Device::Cpu).unwrap();
    let xi = randn(&mut rng, &[n, d]);
    // L(θ) = mean(2 ξ·∇χ − |∇χ|²), ∇χ from unit directions
    let loss = |c: &JvpMlp| -> Tensor {
        let g = c.input_gradient(&x, &t).unwrap();
        let a = (&xi * &g).unwrap().sum(1).unwrap();
        let b = g.sqr().unwrap().sum(1).unwrap();
        ((a * 2.0).unwrap() - b).unwrap().mean_all().unwrap()
    };
    let l = loss(&critic);
    let grads = l.backward().unwrap();
    let mut checked = 0;
    for (name, var) in critic.params().vars() {
        if !(name.starts_with("layer0.weight") || name.starts_with("out.weight") || name.starts_with("layer1.bias")) {
            continue;
        }
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        let gflat: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
        let orig = var.as_tensor().detach().copy().unwrap();
        let flat: Vec<f32> = orig.flatten_all().unwrap().to_vec1().unwrap();
        for idx in [0usize, flat.len() / 2] {
            let h = 1e-2f32;
            let mut p = flat.clone();
            p[idx] += h;
            var.set(&Tensor::from_vec(p.clone(), orig.shape(), &Device::Cpu).unwrap()).unwrap();
            let lp = loss(&critic).to_scalar::<f32>().unwrap();
            p[idx] -= 2.0 * h;
            var.set(&Tensor::from_vec(p, orig.shape(), &Device::Cpu).unwrap()).unwrap();
            let lm = loss(&critic).to_scalar::<f32>().unwrap();
            var.set(&orig).unwrap();
            let fdg = (lp - lm) / (2.0 * h);
            assert!(
                (fdg - gflat[idx]).abs() <= 2e-3 + 2e-2 * fdg.abs(),
                "{name}[{idx}]: autodiff {} vs fd {fdg}",
                gflat[idx]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

#[test]
fn conv_critic_tangents_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let spec = ConvCriticSpec { channels: 2, height: 8, width: 8, width_mult: 8, groups: 4, time_dim: 16 };
    let critic = ConvCritic::new(&spec, 1, &Device::Cpu).unwrap();
    let n = 4;
    let d = 2 * 8 * 8;
    let x = randn(&mut rng, &[n, d]);
    let t = Tensor::full(0.5f32, n, &Device::Cpu).unwrap();
    let dirs: Vec<Tensor> = (0..3).map(|_| randn(&mut rng, &[n, d])).collect();
    let (_, tans) = critic.forward_with_tangents(&x, &t, &dirs).unwrap();
    for (k, (v, tan)) in dirs.iter().zip(&tans).enumerate() {
        let want = fd(&critic, &x, &t, v, 1e-2);
        assert_close(&tan.to_vec1::<f32>().unwrap(), &want, 5e-3, &format!("conv direction {k}"));
    }
}

#[test]
fn im2col_convolution_matches_candle_conv2d() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (c, o, k, stride, h) in [(3, 4, 3, 1, 7), (2, 5, 3, 2, 8), (3, 2, 3, 2, 7), (4, 3, 1, 1, 6)] {
        let x = randn(&mut rng, &[2, c, h, h]);
        let w = randn(&mut rng, &[o, c, k, k]);
        let want = x.conv2d(&w, k / 2, stride, 1, 1).unwrap();
        let got = scoreprobe_nn::engine::conv::conv2d_im2col(&x, &w, stride, k / 2).unwrap();
        assert_eq!(got.dims(), want.dims());
        let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "c={c} o={o} k={k} stride={stride} h={h}: max diff {diff}");
    }
}

/// Parameter gradients of a conv critic's tangent-based loss (im2col conv, GroupNorm tangent) vs
/// finite differences in θ.
#[test]
fn conv_critic_parameter_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let spec = ConvCriticSpec { channels: 1, height: 6, width: 6, width_mult: 4, groups: 2, time_dim: 8 };
    let critic = ConvCritic::new(&spec, 2, &Device::Cpu).unwrap();
    let x = randn(&mut rng, &[3, 36]);
    let t = Tensor::full(0.4f32, 3, &Device::Cpu).unwrap();
    let dirs: Vec<Tensor> = (0..2).map(|_| randn(&mut rng, &[3, 36])).collect();
    let loss = |c: &ConvCritic| -> Tensor {
        let (v, tans) = c.forward_with_tangents(&x, &t, &dirs).unwrap();
        let mut l = v.sum_all().unwrap();
        for tan in &tans {
            l = (l + tan.sqr().unwrap().sum_all().unwrap()).unwrap();
        }
        l
    };
    let grads = loss(&critic).backward().unwrap();
    for (name, var) in critic.params().vars() {
        if !["conv1.weight", "conv2.weight", "norm1.weight", "norm2.bias"].contains(&name.as_str()) {
            continue;
        }
        let g: Vec<f32> = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let orig = var.as_tensor().detach().copy().unwrap();
        let flat: Vec<f32> = orig.flatten_all().unwrap().to_vec1().unwrap();
        for idx in [0usize, flat.len() - 1] {
            let h = 1e-2f32;
            let eval = |delta: f32| {
                let mut p = flat.clone();
                p[idx] += delta;
                var.set(&Tensor::from_vec(p, orig.shape(), &Device::Cpu).unwrap()).unwrap();
                loss(&critic).to_scalar::<f32>().unwrap()
            };
            let fdg = (eval(h) - eval(-h)) / (2.0 * h);
            var.set(&orig).unwrap();
            assert!((fdg - g[idx]).abs() <= 5e-3 + 2e-2 * fdg.abs(), "{name}[{idx}]: autodiff {} vs fd {fdg}", g[idx]);
        }
    }
}

/// The custom conv op's hand-written backward equals autodiff through the im2col reference.
#[test]
fn conv_custom_backward_matches_im2col_autodiff() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for (c, o, k, stride, h) in [(3, 4, 3, 1, 7), (2, 5, 3, 2, 8), (3, 2, 3, 2, 7), (4, 3, 1, 1, 6), (2, 3, 3, 1, 5)] {
        let x = candle_core::Var::from_tensor(&randn(&mut rng, &[2, c, h, h])).unwrap();
        let w = candle_core::Var::from_tensor(&randn(&mut rng, &[o, c, k, k])).unwrap();
        let r = randn(&mut rng, &[2, o, (h + 2 * (k / 2) - k) / stride + 1, (h + 2 * (k / 2) - k) / stride + 1]);
        let fast = scoreprobe_nn::engine::conv::conv2d(x.as_tensor(), w.as_tensor(), stride, k / 2).unwrap();
        let slow = scoreprobe_nn::engine::conv::conv2d_im2col(x.as_tensor(), w.as_tensor(), stride, k / 2).unwrap();
        let gf = (fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = (slow * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", &x), ("w", &w)] {
            let a = gf.get(v.as_tensor()).unwrap();
            let b = gs.get(v.as_tensor()).unwrap();
            let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-4, "d{name}: c={c} o={o} k={k} stride={stride} h={h}: max diff {diff}");
        }
    }
}
