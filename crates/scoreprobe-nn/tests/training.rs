//! DSM training, exact resume, checkpoint round trips and bad-input errors.

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::distribution::named_target;
use scoreprobe_core::schedule::{Schedule, ScheduleSpec};
use scoreprobe_core::ScoreModel;
use scoreprobe_nn::checkpoint::{read_tensors, LoadOptions};
use scoreprobe_nn::{
    load_checkpoint, load_score_model, train, train_with_data, DataShape, ModelKind, TrainConfig, TrainData,
};
use std::path::{Path, PathBuf};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scoreprobe-nn-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn ring8_config(steps: u64) -> TrainConfig {
    TrainConfig {
        steps,
        batch: 256,
        lr: 2e-3,
        warmup_steps: 50,
        quiet: true,
        seed: 42,
        ..TrainConfig::new("ring8", ModelKind::Mlp)
    }
}

/// E|s_θ − ∇log p_t|² / E|∇log p_t|² on samples of p_t.
fn relative_score_error(model: &dyn ScoreModel, sched: &Schedule, t: f64) -> f64 {
    let g = named_target("ring8").unwrap();
    let x = g.sample_marginal(4000, sched, t, &mut ChaCha8Rng::seed_from_u64(1));
    let exact = g.marginal(sched, t).score(x.view());
    let s = model.score(x.view(), t).unwrap();
    let err = (&s - &exact).mapv(|v| v * v).sum();
    err / exact.mapv(|v| v * v).sum()
}

#[test]
fn ring8_training_learns_the_exact_score_vp_and_ddpm() {
    for (spec, steps) in
        [(ScheduleSpec::default(), 1500), (ScheduleSpec::Ddpm { steps: 1000, beta_start: 1e-4, beta_end: 0.02 }, 1000)]
    {
        let sched = Schedule::from_spec(&spec).unwrap();
        let dir = tmpdir(&format!("learn-{}", sched.discrete_steps().unwrap_or(0)));
        let cfg = TrainConfig { schedule: spec.clone(), checkpoint_every: Some(steps / 2), ..ring8_config(steps) };
        let report = train(&cfg, &dir, false).unwrap();
        eprintln!("{spec:?}: {} steps at {:.0} steps/s", report.steps, report.steps_per_second);
        assert_eq!(report.checkpoints.len(), 2);
        assert!(report.final_loss.is_finite());
        let first =
            load_score_model(&report.checkpoints[0], &LoadOptions { use_ema: false, ..Default::default() }).unwrap().0;
        let _ = first; // loadable intermediate checkpoint
                       // untrained reference: the checkpoint-0 network is the seeded initialisation
        let untrained = {
            let arch = report.arch.clone();
            let net = arch.build(0, &candle_core::Device::Cpu).unwrap();
            scoreprobe_nn::NetScoreModel::new(net, arch, spec.clone(), "untrained".into()).unwrap()
        };
        let last = report.checkpoints.last().unwrap();
        for use_ema in [true, false] {
            let model = load_score_model(last, &LoadOptions { use_ema, ..Default::default() }).unwrap().0;
            for t in [0.5, 0.1] {
                let e_tr = relative_score_error(&model, &sched, t);
                let e_un = relative_score_error(&untrained, &sched, t);
                eprintln!("{spec:?} ema={use_ema} t={t}: trained {e_tr:.4}, untrained {e_un:.4}");
                // t = 0.5 is near-Gaussian and learnt almost exactly; at t = 0.1 the eight modes
                // are still sharp and 1500 steps only get part of the way
                let (rel_bound, abs_bound) = if t == 0.5 { (0.05, 0.02) } else { (0.4, 0.4) };
                assert!(
                    e_tr < rel_bound * e_un && e_tr < abs_bound,
                    "t={t}: trained rel. error {e_tr} vs untrained {e_un}"
                );
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

fn tensors_of(path: &Path) -> Vec<(String, Vec<f32>)> {
    let m = read_tensors(path, &candle_core::Device::Cpu).unwrap();
    let mut v: Vec<_> = m.into_iter().map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn resume_reproduces_an_uninterrupted_run() {
    let a = tmpdir("resume-a");
    let b = tmpdir("resume-b");
    let full = TrainConfig { checkpoint_every: Some(100), ..ring8_config(300) };
    train(&full, &a, false).unwrap();
    // interrupted after 200 steps, then resumed to 300 with a different checkpoint interval
    train(&TrainConfig { steps: 200, ..full.clone() }, &b, false).unwrap();
    let rep = train(&TrainConfig { checkpoint_every: Some(50), ..full.clone() }, &b, true).unwrap();
    assert_eq!(rep.start_step, 200);
    let ta = tensors_of(&a.join("ckpt-300.safetensors"));
    let tb = tensors_of(&b.join("ckpt-300.safetensors"));
    assert_eq!(ta.len(), tb.len());
    let mut worst = 0.0f32;
    for ((na, va), (nb, vb)) in ta.iter().zip(&tb) {
        assert_eq!(na, nb);
        for (x, y) in va.iter().zip(vb) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst <= 1e-6, "resumed weights differ by {worst}");
    // resuming with a different configuration is refused, naming the checkpoint
    let err = train(&TrainConfig { lr: 1e-4, ..full.clone() }, &b, true).unwrap_err().to_string();
    assert!(err.contains("ckpt-300.safetensors") && err.contains("different configuration"), "{err}");
    // starting afresh in a folder with checkpoints is refused
    let err = train(&full, &b, false).unwrap_err().to_string();
    assert!(err.contains("already holds checkpoints"), "{err}");
    std::fs::remove_dir_all(&a).ok();
    std::fs::remove_dir_all(&b).ok();
}

#[test]
fn checkpoint_round_trip_and_bad_inputs() {
    let dir = tmpdir("roundtrip");
    let rep = train(&ring8_config(20), &dir, false).unwrap();
    let ck = rep.checkpoints[0].clone();
    let x = named_target("ring8").unwrap().sample(64, &mut ChaCha8Rng::seed_from_u64(2));
    let m1 = load_checkpoint(&ck).unwrap();
    let m2 = load_checkpoint(&ck.with_extension("json")).unwrap();
    assert_eq!(m1.dim(), 2);
    assert!(m1.describe().contains("mlp"), "{}", m1.describe());
    let (s1, s2): (Array2<f64>, Array2<f64>) = (m1.score(x.view(), 0.3).unwrap(), m2.score(x.view(), 0.3).unwrap());
    assert_eq!(s1, s2);
    let raw = load_score_model(&ck, &LoadOptions { use_ema: false, ..Default::default() }).unwrap().0;
    assert_ne!(raw.score(x.view(), 0.3).unwrap(), s1, "EMA and raw weights should differ after 20 steps");
    // a network given rows it cannot take is an error naming the model, not a panic
    let err = m1.score(Array2::zeros((2, 3)).view(), 0.3).unwrap_err();
    assert!(
        matches!(err, scoreprobe_core::ModelError::InputDimension { got: 3, expected: 2, .. })
            && err.to_string().contains("mlp"),
        "{err}"
    );

    // the sidecar's architecture does not match the tensors
    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(&ck, bad.join("ckpt-20.safetensors")).unwrap();
    let side = std::fs::read_to_string(ck.with_extension("json")).unwrap().replace("\"hidden\": 128", "\"hidden\": 64");
    std::fs::write(bad.join("ckpt-20.json"), side).unwrap();
    let err = format!("{:#}", load_checkpoint(&bad.join("ckpt-20.safetensors")).err().unwrap());
    assert!(err.contains("bad/ckpt-20.safetensors") && err.contains("shape"), "{err}");
    // missing sidecar
    std::fs::remove_file(bad.join("ckpt-20.json")).unwrap();
    let err = format!("{:#}", load_checkpoint(&bad.join("ckpt-20.safetensors")).err().unwrap());
    assert!(err.contains("ckpt-20.json") && err.contains("sidecar"), "{err}");
    // truncated tensor file
    std::fs::copy(ck.with_extension("json"), bad.join("ckpt-20.json")).unwrap();
    let bytes = std::fs::read(&ck).unwrap();
    std::fs::write(bad.join("ckpt-20.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let err = format!("{:#}", load_checkpoint(&bad.join("ckpt-20.safetensors")).err().unwrap());
    assert!(err.contains("bad/ckpt-20.safetensors") && err.contains("truncated"), "{err}");
    // a U-Net on vector data, and an unknown data name
    let err = train(&TrainConfig { model: ModelKind::Unet, ..ring8_config(5) }, &dir.join("u"), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs image data"), "{err}");
    assert!(train(&TrainConfig { data: "no-such-data".into(), ..ring8_config(5) }, &dir.join("n"), false).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unet_trains_on_small_synthetic_images() {
    // 1×8×8 images: a bright square at one of four positions, in [-1, 1]
    let (c, h, w) = (1, 8, 8);
    let n = 64;
    let mut data = Vec::with_capacity(n * h * w);
    for i in 0..n {
        let (oy, ox) = ((i % 2) * 4, ((i / 2) % 2) * 4);
        for y in 0..h {
            for x in 0..w {
                let on = (oy..oy + 4).contains(&y) && (ox..ox + 4).contains(&x);
                data.push(if on { 1.0 } else { -1.0 });
            }
        }
    }
    let shape = DataShape::Image { channels: c, height: h, width: w };
    let dir = tmpdir("unet");
    let mut cfg = TrainConfig {
        steps: 60,
        batch: 16,
        lr: 2e-3,
        warmup_steps: 5,
        quiet: true,
        ..TrainConfig::new("squares", ModelKind::Unet)
    };
    cfg.unet.widths = [16, 32];
    cfg.unet.time_dim = 32;
    let rep = train_with_data(&cfg, TrainData::from_rows("squares", data, shape).unwrap(), &dir, false).unwrap();
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rep.checkpoints[0].with_extension("json")).unwrap()).unwrap();
    assert_eq!(side["arch"]["kind"], "unet");
    let model = load_checkpoint(&rep.checkpoints[0]).unwrap();
    assert_eq!(model.dim(), 64);
    // loss fell from the first steps' level (~1 for an untrained ε-net)
    assert!(rep.final_loss < 0.6, "U-Net loss after 60 steps: {}", rep.final_loss);
    let s = model.score(ndarray::Array2::zeros((3, 64)).view(), 0.5).unwrap();
    assert!(s.iter().all(|v| v.is_finite()));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn npy_and_image_datasets_are_wired_through_scoreprobe_data() {
    let dir = tmpdir("datasets");
    std::fs::create_dir_all(&dir).unwrap();
    // an (N, D) .npy matrix
    let x = named_target("grid25").unwrap().sample(300, &mut ChaCha8Rng::seed_from_u64(4));
    let npy = dir.join("grid.npy");
    scoreprobe_data::save_matrix_f32(&npy, &x).unwrap();
    let cfg = TrainConfig { data: npy.display().to_string(), data_limit: Some(200), ..ring8_config(10) };
    let rep = train(&cfg, &dir.join("npy"), false).unwrap();
    let (m, side) = load_score_model(&rep.checkpoints[0], &LoadOptions::default()).unwrap();
    assert_eq!(m.dim(), 2);
    assert_eq!(side.data_shape, DataShape::Vector { dim: 2 });
    // MNIST from the shared data folder, when present (a failure under CI=true when absent)
    if scoreprobe_data::require_shared_data().is_some() {
        let mut cfg = TrainConfig {
            steps: 2,
            batch: 8,
            data_limit: Some(32),
            quiet: true,
            ..TrainConfig::new("mnist", ModelKind::Unet)
        };
        cfg.unet.widths = [8, 16];
        cfg.unet.time_dim = 16;
        let rep = train(&cfg, &dir.join("mnist"), false).unwrap();
        let (m, side) = load_score_model(&rep.checkpoints[0], &LoadOptions::default()).unwrap();
        assert_eq!(side.data_shape, DataShape::Image { channels: 1, height: 28, width: 28 });
        assert_eq!(side.data_transform, scoreprobe_nn::DataTransform::PixelsToSymmetric);
        assert_eq!(m.dim(), 784);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_slim_checkpoint_scores_like_the_original_and_cannot_be_resumed() {
    let dir = tmpdir("slim");
    let slim_dir = tmpdir("slim-out");
    let rep = train(&ring8_config(20), &dir, false).unwrap();
    let ck = rep.checkpoints[0].clone();
    let (w, _) = scoreprobe_nn::checkpoint::slim(&ck, &slim_dir).unwrap();
    let names: Vec<String> = tensors_of(&w).into_iter().map(|(n, _)| n).collect();
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("ema.")), "{names:?}");
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(size(&w) * 3 < size(&ck), "slim {} vs full {} bytes", size(&w), size(&ck));
    let x = named_target("ring8").unwrap().sample(64, &mut ChaCha8Rng::seed_from_u64(3));
    let full = load_checkpoint(&ck).unwrap().score(x.view(), 0.3).unwrap();
    let slim = load_checkpoint(&w).unwrap().score(x.view(), 0.3).unwrap();
    assert_eq!(full, slim);
    // a temporary file a killed run left behind is removed by the next run in that folder
    let stale = slim_dir.join("ckpt-40.safetensors.12345.tmp");
    std::fs::write(&stale, b"torn").unwrap();
    let err = train(&ring8_config(40), &slim_dir, true).unwrap_err().to_string();
    assert!(!stale.exists(), "stale temporary kept");
    assert!(err.contains("sampling-only") && err.contains("ckpt-20.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&slim_dir).ok();
}
