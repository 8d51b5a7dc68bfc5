//! The fuzz targets' seed corpus (`fuzz/corpus/<target>/seed-*`, `fuzz/seeds/`): tiny valid files
//! written by scoreprobe itself. This test checks that every committed seed still parses (a seed
//! the parsers refuse teaches the fuzzer nothing); with `SCOREPROBE_WRITE_FUZZ_SEEDS=1` it
//! rewrites them first.

use ndarray::{Array2, Array4};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn seed(target: &str, name: &str) -> PathBuf {
    fuzz_dir().join("corpus").join(target).join(format!("seed-{name}"))
}

fn points() -> Array2<f64> {
    Array2::from_shape_fn((6, 2), |(i, j)| (i as f64 - 2.5) * if j == 0 { 1.0 } else { -0.5 } + j as f64)
}

/// An IDX file: magic (0, 0, type 0x08 = u8, rank), big-endian dimensions, bytes.
fn idx(dims: &[u32]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    dims.iter().for_each(|d| b.extend(d.to_be_bytes()));
    let n: u32 = dims.iter().product();
    b.extend((0..n).map(|i| (i * 37 % 256) as u8));
    b
}

fn write_seeds() {
    let dir = tempfile::tempdir().unwrap();
    for t in
        ["npy", "npz", "idx", "image", "spec", "study_cache", "checkpoint", "shard_state", "critic_field", "monitor"]
    {
        std::fs::create_dir_all(fuzz_dir().join("corpus").join(t)).unwrap();
    }
    scoreprobe_data::write_npy(seed("npy", "points-f64.npy"), &points()).unwrap();
    scoreprobe_data::save_matrix_f32(seed("npy", "points-f32.npy"), &points()).unwrap();
    let images = Array4::from_shape_fn((2, 1, 3, 3), |(n, _, h, w)| ((n * 9 + h * 3 + w) * 14) as u8);
    scoreprobe_data::write_npy(seed("npy", "images-u8.npy"), &images).unwrap();
    let stats = scoreprobe_metrics::gaussian_stats(points().view()).unwrap();
    scoreprobe_metrics::stats_io::write_stats_npz(seed("npz", "fid-stats.npz"), &stats).unwrap();
    let mut acc = scoreprobe_metrics::MomentAccumulator::new(2);
    acc.push(points().view()).unwrap();
    scoreprobe_metrics::write_moments_npz(seed("npz", "moments.npz"), &acc).unwrap();
    std::fs::write(seed("idx", "images.idx"), idx(&[2, 3, 3])).unwrap();
    std::fs::write(seed("idx", "labels.idx"), idx(&[4])).unwrap();
    let rgb = image::RgbImage::from_fn(4, 3, |x, y| image::Rgb([(x * 60) as u8, (y * 80) as u8, 128]));
    rgb.save(seed("image", "rgb.png")).unwrap();
    rgb.save(seed("image", "rgb.jpg")).unwrap();
    image::GrayImage::from_fn(3, 3, |x, y| image::Luma([(x * 3 + y) as u8 * 25]))
        .save(seed("image", "gray.png"))
        .unwrap();
    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/specs");
    for e in std::fs::read_dir(specs).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, seed("spec", &p.file_name().unwrap().to_string_lossy())).unwrap();
    }
    write_checkpoint_seeds(dir.path());
    write_study_cache_seed(dir.path());
    write_shard_state_seeds(dir.path());
    write_critic_field_seeds(dir.path());
    write_monitor_seeds(dir.path());
}

fn scoreprobe(args: &[&str]) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_scoreprobe")).args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/specs/gaussian-affine.json");

/// The runs whose states the shard_state seeds hold: every kind `scoreprobe merge` reads (both
/// forms of SIEM, both families of the projection form, both metrics states), tiny.
const STATE_RUNS: &[(&str, &[&str])] = &[
    ("sample", &["sample", "--spec", SPEC, "--n", "6", "--steps", "10", "--trajectory-window", "8..9"]),
    (
        "siem-radial",
        &[
            "siem",
            "--spec",
            SPEC,
            "--form",
            "projection",
            "--n",
            "8",
            "--steps",
            "20",
            "--window",
            "15..19",
            "--centers",
            "2",
        ],
    ),
    (
        "siem-quadratic",
        &[
            "siem",
            "--spec",
            SPEC,
            "--form",
            "projection",
            "--test-fn",
            "quadratic",
            "--n",
            "8",
            "--steps",
            "20",
            "--window",
            "15..19",
        ],
    ),
    (
        "siem-particle",
        &["siem", "--spec", SPEC, "--form", "particle", "--n", "4", "--steps", "20", "--window", "15..19"],
    ),
    ("metrics-fd", &["metrics", "--metric", "fd"]),
    (
        "metrics-points",
        &["metrics", "--metric", "fd,kid,w2,w2-sliced,bures,prdc", "--kid-subsets", "2", "--kid-subset-size", "3"],
    ),
    (
        "hodge",
        &["hodge", "--spec", SPEC, "--estimator", "critic", "--critic-steps", "5", "--n", "16", "--n-times", "2"],
    ),
    (
        "bounds",
        &["bounds", "--spec", SPEC, "--estimator", "critic", "--critic-steps", "5", "--n", "16", "--panels", "4"],
    ),
];

/// Two shards of each run of [`STATE_RUNS`]: a seed of shard 0 of 1 (the whole run) and one of
/// both shards of 2, NUL-separated; the mode byte 7 recomputes the checksums and keeps the kinds,
/// 0x80 reads the files as they are (see fuzz_targets/shard_state.rs).
fn write_shard_state_seeds(tmp: &Path) {
    let (a, b) = (tmp.join("a.npy"), tmp.join("b.npy"));
    scoreprobe_data::write_npy(&a, &points()).unwrap();
    scoreprobe_data::write_npy(&b, &points().mapv(|v| v * 0.8 + 0.3)).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = tmp.join("x.npy");
    let traj = tmp.join("traj.npy");
    for (tag, args) in STATE_RUNS {
        let mut args: Vec<&str> = args.to_vec();
        match args[0] {
            "metrics" => args.extend(["--a", a, "--b", b]),
            "sample" => args.extend(["--out", out.to_str().unwrap(), "--trajectory-out", traj.to_str().unwrap()]),
            _ => {}
        }
        let state = |shard: &str| {
            let path = tmp.join(format!("{tag}-{}.json", shard.replace('/', "-of-")));
            let p = path.to_str().unwrap();
            scoreprobe(&[&args[..], &["--shard", shard, "--state-out", p]].concat());
            std::fs::read(&path).unwrap()
        };
        std::fs::write(seed("shard_state", &format!("{tag}-whole")), [&[7u8][..], &state("0/1")].concat()).unwrap();
        let two = [&[7u8][..], &state("0/2"), &[0], &state("1/2")].concat();
        std::fs::write(seed("shard_state", &format!("{tag}-two")), &two).unwrap();
        if *tag == "metrics-fd" {
            std::fs::write(seed("shard_state", "metrics-fd-raw"), [&[0x80u8][..], &two[1..]].concat()).unwrap();
        }
    }
}

/// A critic error field of one band (`siem --error-field critic --error-field-out`) whose network
/// is then replaced by a tiny one (hidden 4, one layer: the fitted one is 68 kB), so the pair
/// stays under the fuzzer's input size: `fuzz/seeds/critic.*` (the critic_field target's fixed
/// partner files) and the corpus entries (selector byte + file).
fn write_critic_field_seeds(tmp: &Path) {
    let field = tmp.join("critic.safetensors");
    let f = field.to_str().unwrap();
    let args = ["siem", "--spec", SPEC, "--form", "particle", "--n", "4", "--steps", "20", "--window", "15..19"];
    scoreprobe(&[&args[..], &["--error-field", "critic", "--seed", "2", "--error-field-out", f]].concat());
    let cfg = scoreprobe_nn::CriticFitConfig { hidden: 4, depth: 1, steps: 2, batch: 4, ..Default::default() };
    let mut draw = |n: usize, _: &mut rand_chacha::ChaCha8Rng| {
        let x = Array2::from_shape_fn((n, 2), |(i, j)| i as f64 * 0.3 - j as f64);
        Ok::<_, scoreprobe_core::ModelError>(scoreprobe_nn::CriticBatch { w: x.mapv(|v| 0.1 * v), t: vec![0.5; n], x })
    };
    let device = scoreprobe_nn::default_device();
    let (net, _) = scoreprobe_nn::fit_scalar_critic(2, &cfg, 0, &device, &mut draw).unwrap();
    net.save(&field).unwrap();
    let seeds = fuzz_dir().join("seeds");
    std::fs::create_dir_all(&seeds).unwrap();
    for (ext, selector) in [("safetensors", 0u8), ("json", 1)] {
        let bytes = std::fs::read(tmp.join(format!("critic.{ext}"))).unwrap();
        std::fs::write(seeds.join(format!("critic.{ext}")), &bytes).unwrap();
        // selector: even fuzzes the network, odd the sidecar (see fuzz_targets/critic_field.rs)
        std::fs::write(seed("critic_field", ext), [&[selector][..], &bytes].concat()).unwrap();
    }
}

/// `train --monitor` for 10 steps (two evaluations): its `monitor.jsonl` alone, and followed by
/// a NUL and its `monitor-state.json` (see fuzz_targets/monitor.rs).
fn write_monitor_seeds(tmp: &Path) {
    let out = tmp.join("train");
    let args = ["train", "--data", "ring8", "--model", "mlp", "--steps", "10", "--batch", "16", "--quiet"];
    let monitor = [
        "--monitor",
        "siem-projection",
        "--monitor-every",
        "5",
        "--monitor-n",
        "8",
        "--monitor-max-budget",
        "1",
        "--monitor-window",
    ];
    scoreprobe(&[&args[..], &monitor, &["980..999", "--out", out.to_str().unwrap()]].concat());
    let jsonl = std::fs::read(out.join("monitor.jsonl")).unwrap();
    let state = std::fs::read(out.join("monitor-state.json")).unwrap();
    std::fs::write(seed("monitor", "jsonl"), &jsonl).unwrap();
    std::fs::write(seed("monitor", "jsonl-state"), [&jsonl[..], &[0], &state].concat()).unwrap();
}

/// A one-step tiny MLP (hidden 4, one layer): `fuzz/seeds/ckpt-1.*` (the checkpoint target's
/// fixed partner file) and the corpus entries (selector byte + file).
fn write_checkpoint_seeds(tmp: &Path) {
    let mut cfg = scoreprobe_nn::TrainConfig::new("ring8", scoreprobe_nn::ModelKind::Mlp);
    cfg.mlp = scoreprobe_nn::config::MlpOptions { hidden: 4, depth: 1, time_dim: 4 };
    (cfg.steps, cfg.batch, cfg.quiet) = (1, 4, true);
    let run = tmp.join("tiny");
    scoreprobe_nn::train(&cfg, &run, false).unwrap();
    let seeds = fuzz_dir().join("seeds");
    std::fs::create_dir_all(&seeds).unwrap();
    for ext in ["safetensors", "json"] {
        let bytes = std::fs::read(run.join(format!("ckpt-1.{ext}"))).unwrap();
        std::fs::write(seeds.join(format!("ckpt-1.{ext}")), &bytes).unwrap();
        // selector: even fuzzes the tensor file, odd the sidecar (see fuzz_targets/checkpoint.rs)
        let selector = if ext == "safetensors" { 0u8 } else { 1 };
        std::fs::write(seed("checkpoint", ext), [&[selector][..], &bytes].concat()).unwrap();
    }
}

/// The cache record of a small study (exact model, w2 and fd on ring8).
fn write_study_cache_seed(tmp: &Path) {
    let models = tmp.join("models.json");
    std::fs::write(&models, r#"[{"name": "exact", "model": {"kind": "exact"}}]"#).unwrap();
    let out = tmp.join("study");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_scoreprobe"))
        .args(["study", "--models", models.to_str().unwrap(), "--reference", "ring8", "--metrics", "w2,fd"])
        .args(["--n", "50", "--steps", "10", "--quiet", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::copy(out.join("cache/exact.json"), seed("study_cache", "exact.json")).unwrap();
}

fn each_seed(target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("seed-"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds for {target}");
    v
}

#[test]
fn every_committed_fuzz_seed_parses() {
    if std::env::var_os("SCOREPROBE_WRITE_FUZZ_SEEDS").is_some() {
        write_seeds();
    }
    for p in each_seed("npy") {
        scoreprobe_data::read_npy(&p).unwrap_or_else(|e| panic!("{e}"));
    }
    for p in each_seed("npz") {
        scoreprobe_metrics::read_stats_npz(&p).unwrap_or_else(|e| panic!("{e}"));
    }
    for p in each_seed("idx") {
        scoreprobe_data::idx::read_idx(&p).unwrap_or_else(|e| panic!("{e}"));
    }
    let images = each_seed("image");
    for p in &images {
        scoreprobe_data::images::decode_image(p).unwrap_or_else(|e| panic!("{e}"));
    }
    for p in each_seed("spec") {
        let spec = scoreprobe_core::spec::ProblemSpec::from_file(&p).unwrap_or_else(|e| panic!("{e}"));
        spec.target().unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
    for p in each_seed("study_cache") {
        let text = std::fs::read_to_string(&p).unwrap();
        serde_json::from_str::<scoreprobe_study::cache::ModelResults>(&text).unwrap_or_else(|e| panic!("{e}"));
    }
    let ckpt = fuzz_dir().join("seeds/ckpt-1.safetensors");
    scoreprobe_nn::load_checkpoint(&ckpt).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(each_seed("checkpoint").len(), 2);
    check_shard_state_seeds();
    check_critic_field_seeds();
    check_monitor_seeds();
}

/// Every shard_state seed's files merge (`scoreprobe merge`), and every kind has its seeds.
fn check_shard_state_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = each_seed("shard_state");
    for (tag, _) in STATE_RUNS {
        assert!(seeds.iter().any(|p| p.to_string_lossy().contains(&format!("seed-{tag}-"))), "no seed of {tag}");
    }
    for p in seeds {
        let bytes = std::fs::read(&p).unwrap();
        let files: Vec<PathBuf> = bytes[1..]
            .split(|&b| b == 0)
            .enumerate()
            .map(|(i, file)| {
                let f = dir.path().join(format!("state{i}.json"));
                std::fs::write(&f, file).unwrap();
                f
            })
            .collect();
        let o =
            std::process::Command::new(env!("CARGO_BIN_EXE_scoreprobe")).arg("merge").args(&files).output().unwrap();
        assert!(o.status.success(), "{}: {}", p.display(), String::from_utf8_lossy(&o.stderr));
    }
}

/// The critic_field target's partner files load as the field of the run they record, and its
/// seeds are those files.
fn check_critic_field_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = fuzz_dir().join("seeds");
    for ext in ["safetensors", "json"] {
        std::fs::copy(seeds.join(format!("critic.{ext}")), dir.path().join(format!("critic.{ext}"))).unwrap();
    }
    let side: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(seeds.join("critic.json")).unwrap()).unwrap();
    let field = dir.path().join("critic.safetensors");
    let loaded = scoreprobe_siem::critic_file::load(&field, &side, &scoreprobe_nn::default_device())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(&loaded.bands[..], [(Some(_), _)]), "one band with its network");
    for p in each_seed("critic_field") {
        let bytes = std::fs::read(&p).unwrap();
        let ext = if bytes[0] & 1 == 0 { "safetensors" } else { "json" };
        assert_eq!(bytes[1..], std::fs::read(seeds.join(format!("critic.{ext}"))).unwrap()[..], "{}", p.display());
    }
}

/// The monitor seeds' records and state parse and resume (with the pairing of their last step).
fn check_monitor_seeds() {
    use scoreprobe_siem::monitor::{parse_records, parse_state, resume, MonitorKey, MonitorState};
    let key = MonitorKey { metric: "siem-projection", window: "980..999", n: 8, seed: 0, test_fn: "gaussian" };
    for p in each_seed("monitor") {
        let bytes = std::fs::read(&p).unwrap();
        let (jsonl, state) = match bytes.iter().position(|&b| b == 0) {
            Some(i) => (&bytes[..i], Some(parse_state(&bytes[i + 1..]).unwrap_or_else(|e| panic!("{e}")))),
            None => (&bytes[..], None),
        };
        let records = parse_records(std::str::from_utf8(jsonl).unwrap()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(records.len(), 2, "{}", p.display());
        let r = resume(&records, state.as_ref().unwrap_or(&MonitorState::new()), &key).unwrap();
        assert_eq!((r.last_step, r.previous.is_some()), (Some(10), state.is_some()), "{}", p.display());
    }
}
