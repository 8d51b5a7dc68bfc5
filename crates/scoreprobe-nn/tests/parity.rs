//! The parity harness of the CPU engine (issue 23, item 3): every engine entry against candle's
//! reference path, on the production shapes, under every SIMD level the processor has
//! (`scoreprobe_core::simd`, as `SCOREPROBE_SIMD=scalar|avx2|avx512` would force it) and with 1 and
//! 3 threads.
//!
//! Entries: the MLP's forward, DSM gradient, input gradient and double backward (the scalar
//! critic's gradient through ∇ₓf); the U-Net's forward and DSM gradient; the convolution and
//! GroupNorm(+SiLU) ops with their gradients; AdamW + EMA. References: candle's autograd on the same
//! networks (forward-mode tangents for the double backward, which candle cannot do in reverse),
//! candle's own `conv2d`, GroupNorm composed of candle ops, AdamW composed of candle ops.
//!
//! Tolerances are relative to the magnitude of the reference (the largest |entry| of the compared
//! tensor, or of each parameter's gradient): f32 sums of K terms in another order differ by about
//! √K·ε·magnitude (ε = 1.2e-7), and K reaches a few thousand here (a 3×3 convolution over 96
//! channels, a weight gradient summed over 2 samples × 784 pixels), so 1e-5 … 1e-4 of the magnitude
//! leaves a margin of ten over the observed differences while still catching a wrong index or a
//! missing term (which shows at the size of the entry itself). AdamW is exact: the same operations
//! in the same order. Across SIMD levels and thread counts every engine result is bit-identical
//! (the element-wise loops do not reassociate; blocks are summed in a fixed order).

use candle_core::{Device, Tensor, Var, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scoreprobe_nn::adamw::{AdamW, AdamWConfig, Grads};
use scoreprobe_nn::ema::Ema;
use scoreprobe_nn::engine::{self, dsm_upstream, SimdLevel};
use scoreprobe_nn::jvp::JvpScalar;
use scoreprobe_nn::params::ParamStore;
use scoreprobe_nn::{JvpMlp, Mlp, MlpSpec, Unet, UnetSpec};
use std::sync::Mutex;

/// The SIMD level is process-wide: the tests of this file take turns.
static LEVEL: Mutex<()> = Mutex::new(());

/// Runs `f` under every SIMD level the processor has, each with 1 and 3 threads; asserts that every
/// run gives the same bits and returns the result.
fn each_config(what: &str, f: impl Fn() -> Vec<f32> + Sync) -> Vec<f32> {
    let _turn = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    let best = engine::simd_level();
    let mut first: Option<(String, Vec<u32>, Vec<f32>)> = None;
    let mut runs = 0;
    for level in SimdLevel::ALL.into_iter().filter(|&l| engine::force_simd(l)) {
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let v = pool.install(&f);
            let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            let label = format!("{} × {threads} threads", level.name());
            runs += 1;
            match &first {
                None => first = Some((label, bits, v)),
                Some((l0, b0, _)) => assert!(*b0 == bits, "{what}: {label} differs from {l0}"),
            }
        }
    }
    engine::force_simd(best);
    let (label, _, v) = first.expect("the scalar level always runs");
    eprintln!("{what}: {runs} runs (levels up to {}) equal to {label}", best.name());
    v
}

fn randv(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| scale * (rng.random::<f32>() * 2.0 - 1.0)).collect()
}

fn tensor(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Times spread over (0, 1), the first rows sharing one (the sampler's case).
fn times(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|i| if i < 2 { 0.5 } else { 0.01 + 0.98 * rng.random::<f32>() }).collect()
}

/// |got − want| ≤ tol · max |want| entrywise.
fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= tol * scale, "{what}: worst difference {worst:e} exceeds {tol:e} × {scale:e}");
}

/// [`assert_close`] per parameter of a flat gradient (store order).
fn assert_grads_close(params: &ParamStore, got: &[f32], want: &[f32], tol: f32, what: &str) {
    let mut off = 0;
    for (name, var) in params.vars() {
        let len = var.elem_count();
        assert_close(&got[off..off + len], &want[off..off + len], tol, &format!("{what}: {name}"));
        off += len;
    }
    assert_eq!(off, want.len());
}

/// candle's gradients of `loss`, flattened in store order.
fn candle_grads(params: &ParamStore, loss: &Tensor) -> Vec<f32> {
    let g = loss.backward().unwrap();
    AdamW::collect_grads(params, &g).unwrap().iter().flat_map(values).collect()
}

/// The ε-networks of the low-dimensional data (ring8's d = 2, and d = 3) and a small odd one; row
/// counts of one row, and of two blocks of 128 with a partial third.
const MLP_ROWS: [usize; 2] = [1, 300];

#[test]
fn mlp_forward_and_dsm_gradient_match_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let small = MlpSpec { dim: 5, out_dim: 5, hidden: 24, depth: 1, time_dim: 8 };
    for spec in [MlpSpec::eps_net(2), MlpSpec::eps_net(3), small] {
        let mlp = Mlp::new(&spec, 4, &Device::Cpu).unwrap();
        for n in MLP_ROWS {
            let what = format!("mlp {spec:?}, {n} rows");
            let (x, t, eps) =
                (randv(&mut rng, n * spec.dim, 2.0), times(&mut rng, n), randv(&mut rng, n * spec.dim, 1.0));
            let want = mlp.forward(&tensor(&x, &[n, spec.dim]), &tensor(&t, &[n])).unwrap();
            let got = each_config(&what, || {
                let mut y = vec![0f32; n * spec.out_dim];
                engine::mlp(mlp.spec(), mlp.params()).unwrap().forward(&x, &t, &mut y);
                y
            });
            assert_close(&got, &values(&want), 1e-5, &format!("{what}: forward"));

            let loss = want.sub(&tensor(&eps, &[n, spec.dim])).unwrap().sqr().unwrap().mean_all().unwrap();
            let want_loss = loss.to_scalar::<f32>().unwrap();
            let want_grad = candle_grads(mlp.params(), &loss);
            let got = each_config(&what, || {
                let k = engine::mlp(mlp.spec(), mlp.params()).unwrap();
                let mut g = vec![0f32; k.layout().total + 1];
                let (grad, l) = g.split_at_mut(k.layout().total);
                l[0] = k.loss_and_grad(&x, &t, dsm_upstream(&eps, n, spec.dim), grad) as f32;
                g
            });
            let (grad, l) = got.split_at(want_grad.len());
            assert_close(l, &[want_loss], 1e-5, &format!("{what}: dsm loss"));
            assert_grads_close(mlp.params(), grad, &want_grad, 1e-4, &format!("{what}: dsm gradient"));
        }
    }
}

#[test]
fn mlp_input_gradient_and_double_backward_match_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    // the critics' default (2 × 64) on d = 2 and d = 6, and a deeper, wider one
    for spec in [MlpSpec::scalar(2, 64, 2), MlpSpec::scalar(6, 64, 2), MlpSpec::scalar(3, 128, 3)] {
        let net = JvpMlp::new(&spec, 9, &Device::Cpu).unwrap();
        let mlp = net.mlp();
        let d = spec.dim;
        for n in MLP_ROWS {
            let what = format!("scalar mlp {spec:?}, {n} rows");
            let (x, t, w) = (randv(&mut rng, n * d, 1.5), times(&mut rng, n), randv(&mut rng, n * d, 1.0));
            // ∇ₓf by candle's reverse mode (first order, which candle has)
            let xv = Var::from_vec(x.clone(), (n, d), &Device::Cpu).unwrap();
            let f = mlp.forward(xv.as_tensor(), &tensor(&t, &[n])).unwrap().sum_all().unwrap();
            let want = values(f.backward().unwrap().get(xv.as_tensor()).unwrap());
            let got = each_config(&what, || {
                let mut g = vec![0f32; n * d];
                engine::mlp(mlp.spec(), mlp.params()).unwrap().input_grad(&x, &t, &mut g);
                g
            });
            assert_close(&got, &want, 1e-5, &format!("{what}: input gradient"));

            // loss = Σ_i w_i·∇ₓf(x_i): candle gets it as the tangent of f along w (forward mode)
            let tan = net.forward_stacked(&tensor(&x, &[n, d]), &tensor(&t, &[n]), &tensor(&w, &[1, n, d])).unwrap().1;
            let loss = tan.sum_all().unwrap();
            let want_loss = loss.to_scalar::<f32>().unwrap();
            let want_grad = candle_grads(mlp.params(), &loss);
            let got = each_config(&what, || {
                let k = engine::mlp(mlp.spec(), mlp.params()).unwrap();
                let mut g = vec![0f32; k.layout().total + 1];
                let (grad, l) = g.split_at_mut(k.layout().total);
                let upstream = |rows: std::ops::Range<usize>, g: &[f32], gbar: &mut [f32]| {
                    let wr = &w[rows.start * d..rows.end * d];
                    gbar.copy_from_slice(wr);
                    g.iter().zip(wr).map(|(a, b)| (a * b) as f64).sum::<f64>()
                };
                l[0] = k.input_grad_loss_and_grad(&x, &t, upstream, grad) as f32;
                g
            });
            let (grad, l) = got.split_at(want_grad.len());
            let tol = 1e-5 * want_loss.abs().max(1.0);
            assert!((l[0] - want_loss).abs() <= tol, "{what}: ∇ₓf loss {} vs {want_loss}", l[0]);
            assert_grads_close(mlp.params(), grad, &want_grad, 1e-4, &format!("{what}: double backward"));
        }
    }
}

/// The production U-Nets (28×28×1 and 32×32×3, widths 32/64, attention) and a small one without
/// attention.
fn unet_specs() -> [UnetSpec; 3] {
    [
        UnetSpec::small(1, 28, 28),
        UnetSpec::small(3, 32, 32),
        UnetSpec { channels: 2, height: 6, width: 6, widths: [4, 8], groups: 2, attention: false, time_dim: 8 },
    ]
}

/// GroupNorm's γ, β moved off their initial 1, 0 so that their gradients are generic.
fn perturb_norms(unet: &Unet, rng: &mut ChaCha8Rng) {
    for (name, var) in unet.params().vars() {
        if name.contains("norm") {
            let base = if name.ends_with("weight") { 1.0 } else { 0.0 };
            let v: Vec<f32> = randv(rng, var.elem_count(), 0.5).iter().map(|x| x + base).collect();
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap()).unwrap();
        }
    }
}

#[test]
fn unet_forward_and_dsm_gradient_match_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for spec in unet_specs() {
        let unet = Unet::new(&spec, 3, &Device::Cpu).unwrap();
        perturb_norms(&unet, &mut rng);
        let (n, dim) = (2, spec.dim());
        let what = format!("unet {spec:?}");
        let (x, t, eps) = (randv(&mut rng, n * dim, 1.0), times(&mut rng, n), randv(&mut rng, n * dim, 1.0));
        let img = tensor(&x, &[n, spec.channels, spec.height, spec.width]);
        let want = unet.forward(&img, &tensor(&t, &[n])).unwrap().reshape((n, dim)).unwrap();
        let got = each_config(&what, || {
            let mut y = vec![0f32; n * dim];
            engine::unet(unet.spec(), unet.params()).unwrap().forward(&x, &t, &mut y);
            y
        });
        assert_close(&got, &values(&want), 1e-4, &format!("{what}: forward"));

        let loss = want.sub(&tensor(&eps, &[n, dim])).unwrap().sqr().unwrap().mean_all().unwrap();
        let want_loss = loss.to_scalar::<f32>().unwrap();
        let want_grad = candle_grads(unet.params(), &loss);
        let got = each_config(&what, || {
            let k = engine::unet(unet.spec(), unet.params()).unwrap();
            let mut g = vec![0f32; k.num_params() + 1];
            let (grad, l) = g.split_at_mut(k.num_params());
            l[0] = k.dsm_loss_and_grad(&x, &t, &eps, grad) as f32;
            g
        });
        let (grad, l) = got.split_at(want_grad.len());
        assert_close(l, &[want_loss], 1e-5, &format!("{what}: dsm loss"));
        assert_grads_close(unet.params(), grad, &want_grad, 5e-4, &format!("{what}: dsm gradient"));
    }
}

/// Value and (x, w, b) gradients of Σ r ⊙ conv(x), flattened.
fn conv_and_grads(y: Tensor, r: &Tensor, vars: [&Var; 3]) -> Vec<f32> {
    let mut out = values(&y);
    let g = (y * r).unwrap().sum_all().unwrap().backward().unwrap();
    for v in vars {
        out.extend(values(g.get(v.as_tensor()).unwrap()));
    }
    out
}

#[test]
fn convolution_matches_candle_conv2d() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    // the U-Nets' convolutions: conv_in (1 and 3 channels), a block's 3×3 (with the per-sample
    // time bias), the stride-2 downsampling, a 1×1 skip, and a 3×3 at the half resolution
    let shapes = [
        (1, 32, 3, 1, 28, false),
        (3, 32, 3, 1, 32, false),
        (32, 32, 3, 1, 28, true),
        (32, 32, 3, 2, 28, false),
        (96, 32, 1, 1, 28, true),
        (128, 64, 3, 1, 14, true),
    ];
    for (c, o, k, stride, h, per_sample) in shapes {
        let n = 2;
        let what = format!("conv {c}→{o}, {k}×{k}, stride {stride}, {h}×{h}");
        let x = Var::from_vec(randv(&mut rng, n * c * h * h, 1.0), (n, c, h, h), &Device::Cpu).unwrap();
        let w = Var::from_vec(randv(&mut rng, o * c * k * k, 0.3), (o, c, k, k), &Device::Cpu).unwrap();
        let bshape = if per_sample { vec![n, o] } else { vec![o] };
        let b = Var::from_vec(randv(&mut rng, bshape.iter().product(), 1.0), bshape.as_slice(), &Device::Cpu).unwrap();
        let bb = b.as_tensor().reshape(if per_sample { (n, o, 1, 1) } else { (1, o, 1, 1) }).unwrap();
        let slow = x.as_tensor().conv2d(w.as_tensor(), k / 2, stride, 1, 1).unwrap().broadcast_add(&bb).unwrap();
        let r = Tensor::from_vec(randv(&mut rng, slow.elem_count(), 1.0), slow.shape(), &Device::Cpu).unwrap();
        let want = conv_and_grads(slow, &r, [&x, &w, &b]);
        let got = each_config(&what, || {
            let fast = engine::conv::conv2d_bias(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), stride, k / 2);
            conv_and_grads(fast.unwrap(), &r, [&x, &w, &b])
        });
        let ny = want.len() - x.elem_count() - w.elem_count() - b.elem_count();
        let parts = [("value", ny), ("dx", x.elem_count()), ("dw", w.elem_count()), ("db", b.elem_count())];
        let mut off = 0;
        for (name, len) in parts {
            assert_close(&got[off..off + len], &want[off..off + len], 1e-5, &format!("{what}: {name}"));
            off += len;
        }
    }
}

fn composed_group_norm(x: &Tensor, g: &Tensor, b: &Tensor, groups: usize, silu: bool) -> Tensor {
    let (n, c, h, w) = x.dims4().unwrap();
    let xg = x.reshape((n, groups, (c / groups) * h * w)).unwrap();
    let centred = xg.broadcast_sub(&xg.mean_keepdim(D::Minus1).unwrap()).unwrap();
    let var = centred.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    let xhat = centred.broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap()).unwrap().reshape((n, c, h, w)).unwrap();
    let y = xhat.broadcast_mul(&g.reshape((1, c, 1, 1)).unwrap()).unwrap();
    let y = y.broadcast_add(&b.reshape((1, c, 1, 1)).unwrap()).unwrap();
    if silu {
        y.silu().unwrap()
    } else {
        y
    }
}

#[test]
fn group_norm_matches_composed_candle_ops() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // the U-Nets' norms: 32 channels at 28×28 and 32×32, the up path's 96 at 28×28, 128 at 14×14
    for (c, h, silu) in [(32, 28, true), (32, 32, false), (96, 28, true), (128, 14, true), (64, 16, false)] {
        let n = 2;
        let what = format!("group norm {c}×{h}×{h}, silu {silu}");
        let x = Var::from_vec(randv(&mut rng, n * c * h * h, 2.0), (n, c, h, h), &Device::Cpu).unwrap();
        let g = Var::from_vec(randv(&mut rng, c, 0.5).iter().map(|v| v + 1.0).collect(), c, &Device::Cpu).unwrap();
        let b = Var::from_vec(randv(&mut rng, c, 0.5), c, &Device::Cpu).unwrap();
        let r = Tensor::from_vec(randv(&mut rng, n * c * h * h, 1.0), (n, c, h, h), &Device::Cpu).unwrap();
        let slow = composed_group_norm(x.as_tensor(), g.as_tensor(), b.as_tensor(), 8, silu);
        let want = conv_and_grads(slow, &r, [&x, &g, &b]);
        let got = each_config(&what, || {
            let fast = engine::fused::group_norm(x.as_tensor(), g.as_tensor(), b.as_tensor(), 8, 1e-5, silu);
            conv_and_grads(fast.unwrap(), &r, [&x, &g, &b])
        });
        let parts = [("value", x.elem_count()), ("dx", x.elem_count()), ("dgamma", c), ("dbeta", c)];
        let mut off = 0;
        for (name, len) in parts {
            assert_close(&got[off..off + len], &want[off..off + len], 1e-4, &format!("{what}: {name}"));
            off += len;
        }
    }
}

/// AdamW (with clipping scale) + EMA as composed candle ops, on copies of the state.
fn composed_update(
    p: &[Tensor],
    m: &mut [Tensor],
    v: &mut [Tensor],
    s: &mut [Tensor],
    g: &[Tensor],
    t: u64,
) -> Vec<Tensor> {
    let c = adam_config();
    let (scale, lr, ema_d) = step_settings(t);
    let (bc1, bc2) = (1.0 - c.beta1.powi(t as i32), 1.0 - c.beta2.powi(t as i32));
    let mut out = Vec::new();
    for i in 0..p.len() {
        let g = (&g[i] * scale).unwrap();
        m[i] = ((&m[i] * c.beta1).unwrap() + (&g * (1.0 - c.beta1)).unwrap()).unwrap();
        v[i] = ((&v[i] * c.beta2).unwrap() + (g.sqr().unwrap() * (1.0 - c.beta2)).unwrap()).unwrap();
        let denom = ((&v[i] * (1.0 / bc2)).unwrap().sqrt().unwrap() + c.eps).unwrap();
        let update = ((&m[i] * (lr / bc1)).unwrap() / denom).unwrap();
        let next = ((&p[i] * (1.0 - lr * c.weight_decay)).unwrap() - update).unwrap();
        s[i] = ((&s[i] * ema_d).unwrap() + (&next * (1.0 - ema_d)).unwrap()).unwrap();
        out.push(next);
    }
    out
}

fn adam_config() -> AdamWConfig {
    AdamWConfig { weight_decay: 0.01, ..Default::default() }
}

/// (clipping scale, learning rate, EMA decay) of step t (1-based).
fn step_settings(t: u64) -> (f64, f64, f64) {
    (if t.is_multiple_of(2) { 0.37 } else { 1.0 }, 1e-3 * t as f64, 0.999f64.min((1.0 + t as f64) / (10.0 + t as f64)))
}

#[test]
fn adamw_and_ema_equal_composed_candle_ops_bit_for_bit() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let spec = UnetSpec::small(1, 28, 28);
    let init = Unet::new(&spec, 1, &Device::Cpu).unwrap().params().snapshot().unwrap();
    let grads: Vec<Vec<Tensor>> = (0..3)
        .map(|_| {
            init.iter()
                .map(|p| Tensor::from_vec(randv(&mut rng, p.elem_count(), 3.0), p.shape(), &Device::Cpu).unwrap())
                .collect()
        })
        .collect();
    let zeros = || init.iter().map(|p| p.zeros_like().unwrap()).collect::<Vec<_>>();
    let (mut p, mut m, mut v, mut s) = (init.clone(), zeros(), zeros(), init.clone());
    for (i, g) in grads.iter().enumerate() {
        p = composed_update(&p, &mut m, &mut v, &mut s, g, i as u64 + 1);
    }
    let want: Vec<f32> = [&p, &m, &v, &s].iter().flat_map(|ts| ts.iter().flat_map(values)).collect();
    let got = each_config("adamw", || {
        let unet = Unet::new(&spec, 1, &Device::Cpu).unwrap();
        let mut opt = AdamW::new(unet.params(), adam_config()).unwrap();
        let mut ema = Ema::new(unet.params(), 0.999).unwrap();
        for (i, g) in grads.iter().enumerate() {
            let t = i as u64 + 1;
            let (scale, lr, d) = step_settings(t);
            assert_eq!(ema.effective_decay(t), d, "the EMA's warm-up decay");
            opt.update(unet.params(), Grads::Tensors(g), scale, lr, Some((&mut ema, t))).unwrap();
        }
        let p: Vec<Tensor> = unet.params().vars().iter().map(|(_, v)| v.as_tensor().clone()).collect();
        [&p, &opt.m, &opt.v, &ema.shadow].iter().flat_map(|ts| ts.iter().flat_map(values)).collect()
    });
    assert_eq!(got.len(), want.len());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(bits(&got) == bits(&want), "AdamW + EMA differ from the composed ops");
}
