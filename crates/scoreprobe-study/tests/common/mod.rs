//! The small study of the report tests (`report_html.rs`, `report_browser.rs`): a 2-D Gaussian
//! target, four "checkpoints" (affine errors shrinking along a pretend training run) and the exact
//! model; cheap metrics siem and siem_window, references w2 and exact_kl; n = 64, 20 sampler steps
//! (about a second), with a sample grid and a monitor curve beside it.
#![allow(dead_code)]

/// Rust source without comments and literals: the workspace scans' shared stripper.
pub mod source;

use scoreprobe_core::distribution::TargetSpec;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_study::error::BoxError;
use scoreprobe_study::models::{ModelEntry, ModelGroup, ModelSource};
use scoreprobe_study::reference::Reference;
use scoreprobe_study::{report, MetricId, OnFailure, Study, StudySettings};
use std::path::Path;

pub const SECTIONS: &[&str] =
    &["claims", "training", "agreement", "paired", "cost", "samples", "monitor", "metrics", "provenance"];

fn no_checkpoints(_: &Path) -> Result<Box<dyn scoreprobe_core::ScoreModel>, BoxError> {
    Err("no checkpoints in this test".into())
}

fn affine(scale: f64) -> ModelSpec {
    serde_json::from_value(serde_json::json!({
        "kind": "affine_error", "E": [[scale, 0.4 * scale], [0.0, -0.6 * scale]], "b": [0.6 * scale, -0.4 * scale]
    }))
    .unwrap()
}

fn models() -> Vec<ModelEntry> {
    let mut m: Vec<ModelEntry> = [(100.0, 0.8), (200.0, 0.4), (300.0, 0.2), (400.0, 0.1)]
        .into_iter()
        .map(|(step, scale)| ModelEntry {
            name: format!("ckpt-{step}"),
            group: ModelGroup::Checkpoint,
            step: Some(step),
            source: ModelSource::Synthetic { model: affine(scale) },
        })
        .collect();
    m.push(ModelEntry {
        name: "exact".into(),
        group: ModelGroup::Exact,
        step: None,
        source: ModelSource::Synthetic { model: ModelSpec::Exact },
    });
    m
}

/// A 2×2 PNG, as a sample grid.
fn tiny_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(2, 2, |x, y| image::Rgb([(x * 200) as u8, (y * 200) as u8, 90]));
    let mut out = std::io::Cursor::new(vec![]);
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Runs the study into `out` (with a sample grid and a monitor curve beside it) and writes its report.
pub fn small_study(out: &Path) -> report::Summary {
    std::fs::create_dir_all(out.join("samples")).unwrap();
    std::fs::write(out.join("samples/ckpt-400.png"), tiny_png()).unwrap();
    let monitor: String =
        (1..=4).map(|k| format!("{{\"step\": {}, \"value\": {}, \"se\": 0.01}}\n", 100 * k, 0.5 / k as f64)).collect();
    std::fs::write(out.join("monitor.jsonl"), monitor).unwrap();
    let spec: ProblemSpec = ProblemSpec {
        target: serde_json::from_value::<TargetSpec>(serde_json::json!({
            "kind": "gaussian", "mean": [0.5, -1.0], "cov": [[1.0, 0.3], [0.3, 0.5]]
        }))
        .unwrap(),
        schedule: Default::default(),
        model: ModelSpec::Exact,
    };
    let reference = Reference::Target(spec);
    let title = "small study";
    let command = "scoreprobe study --models m.json --reference spec.json --n 64 --steps 20";
    let provenance = report::Provenance::begin(title, command, &reference);
    let study = Study {
        reference,
        models: models(),
        metrics: vec![MetricId::Siem, MetricId::SiemWindow, MetricId::W2, MetricId::ExactKl],
        settings: StudySettings { n: 64, steps: 20, ..Default::default() },
        out: out.to_path_buf(),
        loader: &no_checkpoints,
        progress: false,
        on_failure: OnFailure::Stop,
    };
    let results = study.run().unwrap();
    report::write(out, title, command, &results, &study.settings, &provenance).unwrap()
}

pub fn fonts() -> bool {
    if let Some(why) = scoreprobe_study::plot::unavailable() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must install fonts-dejavu-core: {why}");
        eprintln!("skipped: {why}");
        return false;
    }
    true
}
