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
    for t in ["npy", "npz", "idx", "image", "spec", "study_cache", "checkpoint"] {
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
}
