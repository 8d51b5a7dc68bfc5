//! The fused CPU ops (GroupNorm(+SiLU), channel bias, ×2 upsampling) equal the composed candle
//! ops in value and in gradient.

use candle_core::{Device, Tensor, Var, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand_var(rng: &mut ChaCha8Rng, shape: &[usize], scale: f32, shift: f32) -> Var {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| shift + scale * (rng.random::<f32>() * 2.0 - 1.0)).collect();
    Var::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

fn composed_group_norm(x: &Tensor, g: &Tensor, b: &Tensor, groups: usize, silu: bool) -> Tensor {
    let (n, c, h, w) = x.dims4().unwrap();
    let xg = x.reshape((n, groups, (c / groups) * h * w)).unwrap();
    let mean = xg.mean_keepdim(D::Minus1).unwrap();
    let centred = xg.broadcast_sub(&mean).unwrap();
    let var = centred.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    let xhat = centred.broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap()).unwrap().reshape((n, c, h, w)).unwrap();
    let y = xhat
        .broadcast_mul(&g.reshape((1, c, 1, 1)).unwrap())
        .unwrap()
        .broadcast_add(&b.reshape((1, c, 1, 1)).unwrap())
        .unwrap();
    if silu {
        y.silu().unwrap()
    } else {
        y
    }
}

#[test]
fn fused_group_norm_matches_composed_ops() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for silu in [false, true] {
        let x = rand_var(&mut rng, &[3, 8, 5, 4], 2.0, 0.7);
        let g = rand_var(&mut rng, &[8], 0.5, 1.0);
        let b = rand_var(&mut rng, &[8], 0.5, 0.0);
        let w = Tensor::from_vec(
            (0..480).map(|i| ((i * 37 % 11) as f32 - 5.0) / 5.0).collect::<Vec<_>>(),
            (3, 8, 5, 4),
            &Device::Cpu,
        )
        .unwrap();
        let fast = scoreprobe_nn::engine::fused::group_norm(x.as_tensor(), g.as_tensor(), b.as_tensor(), 4, 1e-5, silu)
            .unwrap();
        let slow = composed_group_norm(x.as_tensor(), g.as_tensor(), b.as_tensor(), 4, silu);
        assert!(max_diff(&fast, &slow) < 1e-5, "silu {silu}: forward differs by {}", max_diff(&fast, &slow));
        let gf = (fast * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = (slow * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", &x), ("gamma", &g), ("beta", &b)] {
            let (a, e) = (gf.get(v.as_tensor()).unwrap(), gs.get(v.as_tensor()).unwrap());
            assert!(max_diff(a, e) < 1e-4, "silu {silu}: d{name} differs by {}", max_diff(a, e));
        }
    }
}

#[test]
fn fused_bias_and_upsample_match_composed_ops() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let x = rand_var(&mut rng, &[2, 3, 4, 5], 1.0, 0.0);
    let b = rand_var(&mut rng, &[3], 1.0, 0.0);
    let w = rand_var(&mut rng, &[2, 3, 8, 10], 1.0, 0.0);
    let fast = scoreprobe_nn::engine::fused::upsample2x(
        &scoreprobe_nn::engine::fused::add_channel_bias(x.as_tensor(), b.as_tensor()).unwrap(),
    )
    .unwrap();
    let slow = x
        .as_tensor()
        .broadcast_add(&b.as_tensor().reshape((1, 3, 1, 1)).unwrap())
        .unwrap()
        .upsample_nearest2d(8, 10)
        .unwrap();
    assert!(max_diff(&fast, &slow) < 1e-6);
    let gf = (fast * w.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
    let gs = (slow * w.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
    for v in [&x, &b] {
        let (a, e) = (gf.get(v.as_tensor()).unwrap(), gs.get(v.as_tensor()).unwrap());
        assert!(max_diff(a, e) < 1e-5, "gradient differs by {}", max_diff(a, e));
    }
}
