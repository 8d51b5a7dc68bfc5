//! The study's projection-form metrics requested together are computed in one shared pass (one
//! score evaluation per (time, draw) of the union of their windows): the same records as studies
//! run one metric at a time (values, SEs, nfe, leave-one-out values, profiles), at fewer model
//! evaluations, with the pass named in each record's details and its seconds split between them.
//! Metrics already in the cache are not recomputed and the rest still share a pass.

use ndarray::{Array2, ArrayView2};
use scoreprobe_core::distribution::TargetSpec;
use scoreprobe_core::model::synthetic::SyntheticModel;
use scoreprobe_core::model::ModelError;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_core::ScoreModel;
use scoreprobe_study::error::BoxError;
use scoreprobe_study::models::{ModelEntry, ModelGroup, ModelSource};
use scoreprobe_study::reference::Reference;
use scoreprobe_study::{MetricId, OnFailure, Study, StudyResults, StudySettings};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A synthetic model loaded as a "checkpoint", counting the rows it scores; NaN below `nan_below`.
struct Counting {
    inner: SyntheticModel,
    rows: Arc<AtomicUsize>,
    nan_below: f64,
}

impl ScoreModel for Counting {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        self.rows.fetch_add(x.nrows(), Ordering::SeqCst);
        let s = self.inner.score(x, t)?;
        Ok(if t < self.nan_below { s.mapv(|_| f64::NAN) } else { s })
    }
    fn describe(&self) -> String {
        "counting affine".into()
    }
}

const ALL: [MetricId; 6] = [
    MetricId::SiemProj,
    MetricId::SiemProjWindow,
    MetricId::SiemProjOrigin,
    MetricId::SiemProjOriginWindow,
    MetricId::SiemQuad,
    MetricId::SiemQuadWindow,
];
const N: usize = 100;
const STEPS: usize = 100;

fn spec(model: ModelSpec) -> ProblemSpec {
    ProblemSpec {
        target: TargetSpec::Gaussian { mean: vec![0.5, -1.0], cov: vec![vec![1.0, 0.3], vec![0.3, 0.5]] },
        schedule: Default::default(),
        model,
    }
}

/// The study of `metrics` on one affine "checkpoint" in `out`, and the rows the model scored.
fn study(metrics: &[MetricId], out: &Path) -> (StudyResults, usize) {
    study_failing_below(metrics, out, 0.0)
}

/// The same with the model's scores NaN at t < `nan_below` (failures recorded, not stopping).
fn study_failing_below(metrics: &[MetricId], out: &Path, nan_below: f64) -> (StudyResults, usize) {
    let rows = Arc::new(AtomicUsize::new(0));
    let affine = ModelSpec::AffineError { e: vec![vec![0.5, 0.2], vec![0.0, -0.3]], b: vec![0.3, -0.2] };
    let inner = spec(affine).synthetic_model().unwrap();
    let loader = |_: &Path| -> Result<Box<dyn ScoreModel>, BoxError> {
        Ok(Box::new(Counting { inner: inner.clone(), rows: Arc::clone(&rows), nan_below }))
    };
    let model = ModelSource::Checkpoint { path: "ckpt-1.safetensors".into() };
    let study = Study {
        reference: Reference::Target(spec(ModelSpec::Exact)),
        models: vec![ModelEntry {
            name: "ckpt-1".into(),
            group: ModelGroup::Checkpoint,
            step: Some(1.0),
            source: model,
        }],
        metrics: metrics.to_vec(),
        settings: StudySettings { n: N, steps: STEPS, ..Default::default() },
        out: out.to_path_buf(),
        loader: &loader,
        progress: false,
        on_failure: OnFailure::KeepGoing,
    };
    let r = study.run().expect("the study runs");
    (r, rows.load(Ordering::SeqCst))
}

/// Everything of a record but its seconds and the shared pass's note.
fn essence(r: &StudyResults, m: MetricId) -> (f64, Option<f64>, Option<f64>, serde_json::Value) {
    let rec = r.rows[0].1.get(m).unwrap_or_else(|| panic!("{m:?}"));
    let mut details = serde_json::to_value(rec.details.siem().expect("SIEM details")).unwrap();
    details["source"].as_object_mut().unwrap().remove("shared_pass");
    (rec.value, rec.se, rec.nfe, details)
}

#[test]
fn requested_together_the_projection_metrics_share_one_pass_with_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let (shared, shared_evals) = study(&ALL, &dir.path().join("shared"));
    let mut alone_evals = 0;
    for m in ALL {
        let (alone, evals) = study(&[m], &dir.path().join(m.name()));
        alone_evals += evals;
        assert_eq!(essence(&shared, m), essence(&alone, m), "{m:?}");
        let note = &alone.rows[0].1.get(m).unwrap().details.siem().unwrap().source;
        assert!(note.get("shared_pass").is_none(), "{m:?} alone: {note}");
    }
    // the full grid's 100 times once, against 3 × (100 + 10) times one metric at a time
    eprintln!("score evaluations: one metric at a time {alone_evals}, shared pass {shared_evals}");
    assert_eq!((shared_evals, alone_evals), (N * STEPS, N * 3 * (STEPS + 10)));
    // each record names the pass; the records' seconds add up to the pass's
    let (mut seconds, mut pass) = (0.0, 0.0);
    for m in ALL {
        let rec = shared.rows[0].1.get(m).unwrap();
        let note = &rec.details.siem().unwrap().source["shared_pass"];
        assert_eq!(note["score_evals"], N * STEPS, "{m:?}: {note}");
        assert_eq!(note["metrics"].as_array().unwrap().len(), 6);
        assert_eq!(rec.nfe, Some(if m.name().ends_with("window") { 10.0 } else { STEPS as f64 }));
        seconds += rec.seconds;
        pass = note["seconds"].as_f64().unwrap();
    }
    assert!(pass > 0.0 && (seconds - pass).abs() <= 1e-9 * pass, "{seconds} vs {pass}");
}

#[test]
fn cached_metrics_are_kept_and_the_rest_share_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    let (first, _) = study(&[MetricId::SiemProj], &out);
    let (all, evals) = study(&ALL, &out);
    // siem_proj came from the cache; the five others in one pass over the 100 times
    assert_eq!(evals, N * STEPS);
    assert_eq!(all.rows[0].1.get(MetricId::SiemProj), first.rows[0].1.get(MetricId::SiemProj));
    let note = &all.rows[0].1.get(MetricId::SiemQuad).unwrap().details.siem().unwrap().source["shared_pass"];
    assert_eq!(note["metrics"].as_array().unwrap().len(), 5, "{note}");
    let (fresh, _) = study(&ALL, &dir.path().join("fresh"));
    for m in ALL {
        assert_eq!(essence(&all, m), essence(&fresh, m), "{m:?}");
    }
}

/// A pass that fails on a time outside a metric's window does not fail that metric: the model
/// is NaN below t = 0.5, so the full-window metrics fail and the high-noise ones (t > 0.9) get
/// their values alone, the same as on a model without the fault.
#[test]
fn a_failure_of_the_pass_fails_only_the_metrics_it_belongs_to() {
    let dir = tempfile::tempdir().unwrap();
    let asked = [MetricId::SiemProj, MetricId::SiemQuadWindow, MetricId::SiemQuad, MetricId::SiemProjWindow];
    let (r, _) = study_failing_below(&asked, &dir.path().join("faulty"), 0.5);
    for m in [MetricId::SiemProj, MetricId::SiemQuad] {
        let f = r.failure("ckpt-1", m).unwrap_or_else(|| panic!("{m:?} fails"));
        assert!(f.cause.contains("non-finite"), "{m:?}: {}", f.cause);
    }
    for m in [MetricId::SiemQuadWindow, MetricId::SiemProjWindow] {
        assert!(r.failure("ckpt-1", m).is_none(), "{m:?}: {:?}", r.failure("ckpt-1", m));
        let (alone, _) = study(&[m], &dir.path().join(m.name()));
        assert_eq!(essence(&r, m), essence(&alone, m), "{m:?}");
    }
}
