//! A real failure is never "not applicable": a checkpoint that cannot be loaded or a model that
//! breaks the sampler stops the study with an error naming the model, the metric and the cause,
//! or, with `OnFailure::KeepGoing`, is recorded as failed (and the report says so) while the other
//! models are measured.

use ndarray::{Array2, ArrayView2};
use scoreprobe_core::distribution::TargetSpec;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_core::{ModelError, ScoreModel};
use scoreprobe_study::error::{chain, BoxError};
use scoreprobe_study::models::{ModelEntry, ModelGroup, ModelSource};
use scoreprobe_study::reference::Reference;
use scoreprobe_study::runner::CheckpointLoader;
use scoreprobe_study::{report, MetricId, OnFailure, Study, StudyError, StudySettings};
use std::path::{Path, PathBuf};

/// A network whose every score is NaN (a diverged checkpoint).
struct Diverged;

impl ScoreModel for Diverged {
    fn dim(&self) -> usize {
        2
    }
    fn score(&self, x: ArrayView2<f64>, _t: f64) -> Result<Array2<f64>, ModelError> {
        Ok(Array2::from_elem(x.dim(), f64::NAN))
    }
    fn describe(&self) -> String {
        "diverged".into()
    }
}

/// The error a network's runtime raises (a candle error, a Python exception, ...).
#[derive(Debug, thiserror::Error)]
#[error("out of device memory")]
struct OutOfMemory;

/// A network that cannot run.
struct Crashes;

impl ScoreModel for Crashes {
    fn dim(&self) -> usize {
        2
    }
    fn score(&self, _x: ArrayView2<f64>, _t: f64) -> Result<Array2<f64>, ModelError> {
        Err(ModelError::failed("crashes", OutOfMemory))
    }
    fn describe(&self) -> String {
        "crashes".into()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{}: truncated or corrupt safetensors file", .0.display())]
struct Corrupt(PathBuf);

/// `broken.safetensors` cannot be read; `nan.safetensors` loads a network that returns NaN,
/// `oom.safetensors` one that fails.
fn loader(path: &Path) -> Result<Box<dyn ScoreModel>, BoxError> {
    match path.file_name().and_then(|n| n.to_str()) {
        Some("nan.safetensors") => Ok(Box::new(Diverged)),
        Some("oom.safetensors") => Ok(Box::new(Crashes)),
        _ => Err(Box::new(Corrupt(path.to_path_buf()))),
    }
}

fn ckpt(name: &str, file: &str) -> ModelEntry {
    ModelEntry {
        name: name.into(),
        group: ModelGroup::Checkpoint,
        step: Some(1.0),
        source: ModelSource::Checkpoint { path: PathBuf::from("/runs/x").join(file) },
    }
}

fn exact() -> ModelEntry {
    ModelEntry {
        name: "exact".into(),
        group: ModelGroup::Exact,
        step: Some(0.0),
        source: ModelSource::Synthetic { model: ModelSpec::Exact },
    }
}

fn study<'a>(models: Vec<ModelEntry>, on_failure: OnFailure, out: &Path, loader: CheckpointLoader<'a>) -> Study<'a> {
    Study {
        reference: Reference::Target(ProblemSpec {
            target: TargetSpec::Named { name: "ring8".into() },
            schedule: Default::default(),
            model: ModelSpec::Exact,
        }),
        models,
        metrics: vec![MetricId::W2, MetricId::ExactKl],
        settings: StudySettings { n: 20, steps: 10, ..Default::default() },
        out: out.to_path_buf(),
        loader,
        progress: false,
        on_failure,
    }
}

#[test]
fn a_checkpoint_that_cannot_be_loaded_stops_the_study_naming_the_model_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = study(vec![exact(), ckpt("ckpt-9", "broken.safetensors")], OnFailure::Stop, dir.path(), &loader);
    let e = s.run().err().expect("the study stops");
    assert!(matches!(e, StudyError::Load { .. }), "{e:?}");
    let text = chain(&e);
    assert!(text.contains("model 'ckpt-9'") && text.contains("/runs/x/broken.safetensors: truncated"), "{text}");
}

#[test]
fn a_model_that_breaks_the_sampler_fails_the_metric_and_is_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let s = study(vec![ckpt("ckpt-nan", "nan.safetensors")], OnFailure::Stop, dir.path(), &loader);
    let e = s.run().err().expect("the study stops");
    let text = chain(&e);
    assert!(text.starts_with("model 'ckpt-nan', metric w2: ") && text.contains("non-finite"), "{text}");
}

#[test]
fn a_model_failure_keeps_its_original_error_through_the_study_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = study(vec![ckpt("ckpt-oom", "oom.safetensors")], OnFailure::Stop, dir.path(), &loader);
    s.metrics = vec![MetricId::SiemWindow];
    let e = s.run().err().expect("the study stops");
    assert!(matches!(e, StudyError::Metric { metric: MetricId::SiemWindow, .. }), "{e:?}");
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut chain_types = vec![];
    while let Some(c) = cause {
        chain_types.push(c.to_string());
        if c.downcast_ref::<OutOfMemory>().is_some() {
            return;
        }
        cause = c.source();
    }
    panic!("OutOfMemory not reachable through source(): {chain_types:#?}");
}

#[test]
fn keep_going_records_failures_measures_the_rest_and_reports_them_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let models = vec![exact(), ckpt("ckpt-9", "broken.safetensors"), ckpt("ckpt-nan", "nan.safetensors")];
    let s = study(models, OnFailure::KeepGoing, dir.path(), &loader);
    let r = s.run().expect("the study finishes");
    // the exact model is measured; exact_kl does not apply to ring8 (a mixture): not a failure
    assert!(r.rows[0].1.get(MetricId::W2).is_some_and(|w| w.value.is_finite()));
    let failed: Vec<(&str, MetricId)> = r.failed.iter().map(|f| (f.model.as_str(), f.metric)).collect();
    assert_eq!(
        failed,
        [("ckpt-9", MetricId::W2), ("ckpt-9", MetricId::ExactKl), ("ckpt-nan", MetricId::W2)],
        "{:?}",
        r.failed
    );
    assert!(r.failed[0].cause.contains("broken.safetensors"), "{}", r.failed[0].cause);
    // exact_kl of the NaN network does not apply (a network, not a synthetic model) and is listed so
    let na: Vec<(&str, MetricId)> = r.not_applicable.iter().map(|n| (n.model.as_str(), n.metric)).collect();
    assert_eq!(na, [("exact", MetricId::ExactKl), ("ckpt-nan", MetricId::ExactKl)]);
    // failures are not cached: a second run tries them again (and fails again)
    assert!(!dir.path().join("cache/ckpt-9.json").exists());

    let summary = report::write(dir.path(), "t", "cmd", &r, &s.settings, &Default::default()).unwrap();
    assert_eq!(summary.claims.len(), 5);
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("| ckpt-9 | checkpoint | 1 | **failed** |"), "{md}");
    assert!(md.contains("## Metrics that failed"), "{md}");
    assert!(md.contains("- ckpt-9 · w2: model 'ckpt-9': cannot load the checkpoint"), "{md}");
    let did_not_apply = md.split("## Metrics that did not apply").nth(1).expect("section");
    let did_not_apply = did_not_apply.split("## ").next().unwrap();
    assert!(!did_not_apply.contains("ckpt-9"), "a failure listed as not applicable: {did_not_apply}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("metrics.json")).unwrap()).unwrap();
    assert_eq!(json["failed"].as_array().map(Vec::len), Some(3), "{json}");
    assert_eq!(json["failed"][0][0], "ckpt-9");
    assert_eq!(json["failed"][0][1], "w2");
}
