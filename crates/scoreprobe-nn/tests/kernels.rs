//! The fused CPU paths equal candle's autograd on the same networks: the MLP's forward and DSM
//! gradient, the scalar critic's gradient through ∇ₓχ (exact and random directions, also against
//! finite differences), the vector critic's gradient, the fused convolution with a per-sample
//! bias, and the fused AdamW + EMA update (bit for bit). Fused results do not depend on the number
//! of threads.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scoreprobe_nn::adamw::{AdamW, AdamWConfig, Grads};
use scoreprobe_nn::ema::Ema;
use scoreprobe_nn::engine::{self, dsm_upstream, vector_upstream, Directions, ScalarObjective};
use scoreprobe_nn::jvp::JvpScalar;
use scoreprobe_nn::params::ParamStore;
use scoreprobe_nn::{JvpMlp, Mlp, MlpSpec, Unet, UnetSpec};

fn randv(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| scale * (rng.random::<f32>() * 2.0 - 1.0)).collect()
}

fn tensor(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
}

/// candle's gradients of `loss` flattened in store order (zeros where a parameter has none).
fn candle_grads(params: &ParamStore, loss: &Tensor) -> Vec<f32> {
    let g = loss.backward().unwrap();
    AdamW::collect_grads(params, &g)
        .unwrap()
        .iter()
        .flat_map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * scale, "{what}[{i}]: {x} vs {y} (scale {scale})");
    }
}

/// Times spread over (0, 1), with some rows sharing a time.
fn times(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|i| if i % 5 == 0 { 0.5 } else { 0.01 + 0.98 * rng.random::<f32>() }).collect()
}

#[test]
fn fused_mlp_forward_and_dsm_gradient_match_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // 300 rows: two full blocks of 128 and a partial one
    for (n, spec) in
        [(300, MlpSpec::eps_net(3)), (37, MlpSpec { dim: 5, out_dim: 5, hidden: 24, depth: 1, time_dim: 8 })]
    {
        let mlp = Mlp::new(&spec, 4, &Device::Cpu).unwrap();
        let (x, t, eps) = (randv(&mut rng, n * spec.dim, 2.0), times(&mut rng, n), randv(&mut rng, n * spec.dim, 1.0));
        let (xt, tt) = (tensor(&x, &[n, spec.dim]), tensor(&t, &[n]));
        let want = mlp.forward(&xt, &tt).unwrap();
        let got = mlp.eval(&xt, &tt).unwrap();
        let (wv, gv) = (
            want.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert_close(&gv, &wv, 1e-5, "forward");

        let loss = want.sub(&tensor(&eps, &[n, spec.dim])).unwrap().sqr().unwrap().mean_all().unwrap();
        let want_loss = loss.to_scalar::<f32>().unwrap() as f64;
        let want_grad = candle_grads(mlp.params(), &loss);
        let k = engine::mlp(mlp.spec(), mlp.params()).unwrap();
        let mut grad = vec![0f32; k.layout().total];
        let got_loss = k.loss_and_grad(&x, &t, dsm_upstream(&eps, n, spec.dim), &mut grad);
        assert!((got_loss - want_loss).abs() < 1e-5 * want_loss, "loss {got_loss} vs {want_loss}");
        assert_close(&grad, &want_grad, 1e-4, "dsm gradient");
    }
}

/// The scalar critic's loss −mean(terms) through candle: tangents along the unit directions (or
/// the random ones) divided by the standardisation scale, then autograd.
fn critic_loss_candle(net: &JvpMlp, x: &[f32], t: &[f32], w: &[f32], s: f32, dirs: Option<&Directions>) -> Tensor {
    let (n, d) = (t.len(), net.dim());
    let (xt, tt) = (tensor(x, &[n, d]), tensor(t, &[n]));
    let terms = match dirs {
        None => {
            let eye = Tensor::eye(d, DType::F32, &Device::Cpu).unwrap().unsqueeze(1).unwrap();
            let eye = eye.broadcast_as((d, n, d)).unwrap().contiguous().unwrap();
            let tan = net.forward_stacked(&xt, &tt, &(eye / s as f64).unwrap()).unwrap().1; // (d, n)
            let wt = tensor(w, &[n, d]).t().unwrap();
            ((&wt * &tan).unwrap() * 2.0 - tan.sqr().unwrap()).unwrap().sum(0).unwrap()
        }
        Some(dirs) => {
            let k = dirs.k;
            let v = tensor(&dirs.to_vec(), &[k, n, d]);
            let tan = net.forward_stacked(&xt, &tt, &(&v / s as f64).unwrap()).unwrap().1; // (k, n)
            let vw = v.broadcast_mul(&tensor(w, &[1, n, d])).unwrap().sum(2).unwrap();
            (((&vw * &tan).unwrap() * 2.0 - tan.sqr().unwrap()).unwrap().sum(0).unwrap() / k as f64).unwrap()
        }
    };
    terms.mean_all().unwrap().neg().unwrap()
}

#[test]
fn fused_critic_gradient_matches_candle_tangents_and_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for (d, random) in [(2, false), (3, false), (6, true)] {
        let n = 150;
        let net = JvpMlp::new(&MlpSpec::scalar(d, 16, 2), 9, &Device::Cpu).unwrap();
        let (x, t, w) = (randv(&mut rng, n * d, 1.5), times(&mut rng, n), randv(&mut rng, n * d, 1.0));
        let s = 1.3f32;
        let dirs = random.then(|| Directions::draw(4, n, d, &mut rng));
        let obj = ScalarObjective { w: &w, d, scale: s, dirs: dirs.as_ref() };
        let loss = critic_loss_candle(&net, &x, &t, &w, s, dirs.as_ref());
        let want_loss = loss.to_scalar::<f32>().unwrap() as f64;
        let want = candle_grads(net.params(), &loss);
        let k = engine::mlp(net.mlp().spec(), net.mlp().params()).unwrap();
        let mut grad = vec![0f32; k.layout().total];
        let got_loss = k.input_grad_loss_and_grad(&x, &t, obj.upstream(n), &mut grad);
        assert!(
            (got_loss - want_loss).abs() < 1e-4 * want_loss.abs().max(1.0),
            "d={d}: loss {got_loss} vs {want_loss}"
        );
        assert_close(&grad, &want, 2e-4, &format!("d={d} critic gradient"));
        // per-row held-out terms agree with the loss
        let terms = obj.terms(&k, &x, &t);
        let mean = terms.iter().sum::<f64>() / n as f64;
        assert!((mean + got_loss).abs() < 1e-5 * mean.abs().max(1.0), "d={d}: terms {mean} vs loss {got_loss}");
        drop(k);
        // central finite differences in a few parameters (f64 loss from the fused pass)
        let eval = || {
            let k = engine::mlp(net.mlp().spec(), net.mlp().params()).unwrap();
            let mut g = vec![0f32; k.layout().total];
            k.input_grad_loss_and_grad(&x, &t, obj.upstream(n), &mut g)
        };
        let mut off = 0;
        for (name, var) in net.params().vars() {
            let len = var.elem_count();
            if ["time.weight", "layer0.weight", "tproj1.bias", "out.weight"].contains(&name.as_str()) {
                let orig: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
                for idx in [0, len / 2, len - 1] {
                    let h = 1e-2f32 * orig[idx].abs().max(0.1);
                    let at = |delta: f32| {
                        let mut p = orig.clone();
                        p[idx] += delta;
                        var.set(&Tensor::from_vec(p, var.shape(), &Device::Cpu).unwrap()).unwrap();
                        eval()
                    };
                    let fd = ((at(h) - at(-h)) / (2.0 * h as f64)) as f32;
                    var.set(&Tensor::from_vec(orig.clone(), var.shape(), &Device::Cpu).unwrap()).unwrap();
                    let g = grad[off + idx];
                    assert!((fd - g).abs() <= 2e-3 + 2e-2 * fd.abs(), "d={d} {name}[{idx}]: fused {g} vs fd {fd}");
                }
            }
            off += len;
        }
    }
}

#[test]
fn fused_unet_forward_and_dsm_gradient_match_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let specs = [
        UnetSpec { channels: 1, height: 8, width: 8, widths: [8, 16], groups: 4, attention: true, time_dim: 16 },
        UnetSpec { channels: 2, height: 6, width: 6, widths: [4, 8], groups: 2, attention: false, time_dim: 8 },
    ];
    for spec in specs {
        let unet = Unet::new(&spec, 3, &Device::Cpu).unwrap();
        // move GroupNorm's γ, β off their initial 1, 0 so that their gradients are generic
        for (name, var) in unet.params().vars() {
            if name.contains("norm") {
                let v = randv(&mut rng, var.elem_count(), 0.5);
                let base = if name.ends_with("weight") { 1.0 } else { 0.0 };
                let v: Vec<f32> = v.iter().map(|x| x + base).collect();
                var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap()).unwrap();
            }
        }
        let (n, dim) = (6, spec.dim()); // a full block of four samples and a partial one
        let (x, t, eps) = (randv(&mut rng, n * dim, 1.0), times(&mut rng, n), randv(&mut rng, n * dim, 1.0));
        let img = tensor(&x, &[n, spec.channels, spec.height, spec.width]);
        let want = unet.forward(&img, &tensor(&t, &[n])).unwrap().reshape((n, dim)).unwrap();
        let got = unet.eval(&tensor(&x, &[n, dim]), &tensor(&t, &[n])).unwrap();
        let (wv, gv) = (
            want.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            got.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        assert_close(&gv, &wv, 1e-4, "unet forward");
        let loss = want.sub(&tensor(&eps, &[n, dim])).unwrap().sqr().unwrap().mean_all().unwrap();
        let want_loss = loss.to_scalar::<f32>().unwrap() as f64;
        let want_grad = candle_grads(unet.params(), &loss);
        let k = engine::unet(unet.spec(), unet.params()).unwrap();
        let mut grad = vec![0f32; k.num_params()];
        let got_loss = k.dsm_loss_and_grad(&x, &t, &eps, &mut grad);
        assert!((got_loss - want_loss).abs() < 1e-5 * want_loss, "loss {got_loss} vs {want_loss}");
        let mut off = 0;
        for (name, var) in unet.params().vars() {
            let len = var.elem_count();
            assert_close(&grad[off..off + len], &want_grad[off..off + len], 2e-4, &format!("gradient of {name}"));
            off += len;
        }
    }
}

#[test]
fn fused_vector_critic_gradient_matches_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (n, d) = (200, 4);
    let mlp = Mlp::new(&MlpSpec { dim: d, out_dim: d, hidden: 32, depth: 2, time_dim: 64 }, 5, &Device::Cpu).unwrap();
    let (x, t, w) = (randv(&mut rng, n * d, 1.0), times(&mut rng, n), randv(&mut rng, n * d, 1.0));
    let h = mlp.forward(&tensor(&x, &[n, d]), &tensor(&t, &[n])).unwrap();
    let wt = tensor(&w, &[n, d]);
    let loss =
        ((&wt * &h).unwrap() * 2.0 - h.sqr().unwrap()).unwrap().sum(1).unwrap().mean_all().unwrap().neg().unwrap();
    let want_loss = loss.to_scalar::<f32>().unwrap() as f64;
    let want = candle_grads(mlp.params(), &loss);
    let k = engine::mlp(mlp.spec(), mlp.params()).unwrap();
    let mut grad = vec![0f32; k.layout().total];
    let got_loss = k.loss_and_grad(&x, &t, vector_upstream(&w, d, n), &mut grad);
    assert!((got_loss - want_loss).abs() < 1e-5 * want_loss.abs().max(1.0), "loss {got_loss} vs {want_loss}");
    assert_close(&grad, &want, 1e-4, "vector critic gradient");
}

#[test]
fn fused_results_do_not_depend_on_the_thread_count() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (n, d) = (700, 2);
    let net = JvpMlp::new(&MlpSpec::scalar(d, 64, 2), 1, &Device::Cpu).unwrap();
    let (x, t, w) = (randv(&mut rng, n * d, 1.0), times(&mut rng, n), randv(&mut rng, n * d, 1.0));
    let obj = ScalarObjective { w: &w, d, scale: 1.0, dirs: None };
    let xc = Var::from_vec(randv(&mut rng, 20 * 3 * 9 * 9, 1.0), (20, 3, 9, 9), &Device::Cpu).unwrap();
    let wc = Var::from_vec(randv(&mut rng, 5 * 3 * 9, 1.0), (5, 3, 3, 3), &Device::Cpu).unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let k = engine::mlp(net.mlp().spec(), net.mlp().params()).unwrap();
            let mut g = vec![0f32; k.layout().total];
            let l = k.input_grad_loss_and_grad(&x, &t, obj.upstream(n), &mut g);
            let y = engine::conv::conv2d(xc.as_tensor(), wc.as_tensor(), 1, 1).unwrap();
            let cg = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let dw: Vec<f32> = cg.get(wc.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            (
                l.to_bits(),
                g.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                dw.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            )
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn fused_conv_with_per_sample_bias_matches_composed_ops() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    for (c, o, k, stride, h, per_sample) in [(3, 4, 3, 1, 7, true), (2, 5, 3, 2, 8, false), (4, 3, 1, 1, 6, true)] {
        let n = 10; // more than one block of samples
        let x = Var::from_vec(randv(&mut rng, n * c * h * h, 1.0), (n, c, h, h), &Device::Cpu).unwrap();
        let w = Var::from_vec(randv(&mut rng, o * c * k * k, 1.0), (o, c, k, k), &Device::Cpu).unwrap();
        let bshape: Vec<usize> = if per_sample { vec![n, o] } else { vec![o] };
        let b = Var::from_vec(randv(&mut rng, bshape.iter().product(), 1.0), bshape.as_slice(), &Device::Cpu).unwrap();
        let fast = engine::conv::conv2d_bias(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), stride, k / 2).unwrap();
        let bb = if per_sample {
            b.as_tensor().reshape((n, o, 1, 1)).unwrap()
        } else {
            b.as_tensor().reshape((1, o, 1, 1)).unwrap()
        };
        let slow = x.as_tensor().conv2d(w.as_tensor(), k / 2, stride, 1, 1).unwrap().broadcast_add(&bb).unwrap();
        let r = Tensor::from_vec(randv(&mut rng, slow.elem_count(), 1.0), slow.shape(), &Device::Cpu).unwrap();
        let diff = (&fast - &slow).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "forward: max diff {diff}");
        let gf = (fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = (slow * &r).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", &x), ("w", &w), ("b", &b)] {
            let (a, e) = (gf.get(v.as_tensor()).unwrap(), gs.get(v.as_tensor()).unwrap());
            let diff = (a - e).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-3, "d{name}: c={c} o={o} k={k} stride={stride}: max diff {diff}");
        }
    }
}

/// The AdamW + clipping + EMA update as the composed candle ops it replaced.
#[allow(clippy::too_many_arguments)]
fn composed_update(
    params: &ParamStore,
    m: &mut [Tensor],
    v: &mut [Tensor],
    shadow: &mut [Tensor],
    g: &[Tensor],
    t: u64,
    c: &AdamWConfig,
    scale: f64,
    lr: f64,
    ema_d: f64,
) {
    let bc1 = 1.0 - c.beta1.powi(t as i32);
    let bc2 = 1.0 - c.beta2.powi(t as i32);
    for (i, (_, var)) in params.vars().iter().enumerate() {
        let g = (&g[i] * scale).unwrap();
        let mi = ((&m[i] * c.beta1).unwrap() + (&g * (1.0 - c.beta1)).unwrap()).unwrap();
        let vi = ((&v[i] * c.beta2).unwrap() + (g.sqr().unwrap() * (1.0 - c.beta2)).unwrap()).unwrap();
        let denom = ((&vi * (1.0 / bc2)).unwrap().sqrt().unwrap() + c.eps).unwrap();
        let update = ((&mi * (lr / bc1)).unwrap() / denom).unwrap();
        let next = ((var.as_tensor().detach() * (1.0 - lr * c.weight_decay)).unwrap() - update).unwrap();
        var.set(&next).unwrap();
        m[i] = mi;
        v[i] = vi;
        shadow[i] = ((&shadow[i] * ema_d).unwrap() + (var.as_tensor().detach() * (1.0 - ema_d)).unwrap()).unwrap();
    }
}

fn bits(ts: &[Tensor]) -> Vec<u32> {
    ts.iter().flat_map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap()).map(f32::to_bits).collect()
}

#[test]
fn fused_adamw_and_ema_equal_the_composed_ops_bit_for_bit() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let spec = MlpSpec { dim: 3, out_dim: 3, hidden: 20, depth: 2, time_dim: 8 };
    let (a, b) = (Mlp::new(&spec, 1, &Device::Cpu).unwrap(), Mlp::new(&spec, 1, &Device::Cpu).unwrap());
    let cfg = AdamWConfig { weight_decay: 0.01, ..Default::default() };
    let mut opt = AdamW::new(a.params(), cfg.clone()).unwrap();
    let mut ema = Ema::new(a.params(), 0.999).unwrap();
    let (mut m, mut v) = (
        opt.m.iter().map(|t| t.copy().unwrap()).collect::<Vec<_>>(),
        opt.v.iter().map(|t| t.copy().unwrap()).collect::<Vec<_>>(),
    );
    let mut shadow = b.params().snapshot().unwrap();
    for step in 1..=5u64 {
        let g: Vec<Tensor> = a
            .params()
            .vars()
            .iter()
            .map(|(_, var)| {
                Tensor::from_vec(randv(&mut rng, var.elem_count(), 3.0), var.shape(), &Device::Cpu).unwrap()
            })
            .collect();
        let (scale, lr) = (if step % 2 == 0 { 0.37 } else { 1.0 }, 1e-3 * step as f64);
        let d = ema.effective_decay(step);
        if step % 3 == 0 {
            // the flat form of the same gradients
            let flat: Vec<f32> = g.iter().flat_map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect();
            opt.update(a.params(), Grads::Flat(&flat), scale, lr, Some((&mut ema, step))).unwrap();
        } else {
            opt.update(a.params(), Grads::Tensors(&g), scale, lr, Some((&mut ema, step))).unwrap();
        }
        composed_update(b.params(), &mut m, &mut v, &mut shadow, &g, step, &cfg, scale, lr, d);
        let pa: Vec<Tensor> = a.params().vars().iter().map(|(_, v)| v.as_tensor().clone()).collect();
        let pb: Vec<Tensor> = b.params().vars().iter().map(|(_, v)| v.as_tensor().clone()).collect();
        assert_eq!(bits(&pa), bits(&pb), "weights after step {step}");
        assert_eq!(bits(&opt.m), bits(&m), "first moments after step {step}");
        assert_eq!(bits(&opt.v), bits(&v), "second moments after step {step}");
        assert_eq!(bits(&ema.shadow), bits(&shadow), "EMA after step {step}");
    }
}
