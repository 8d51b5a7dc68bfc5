//! The study's projection-form metrics (`siem_proj`, `siem_proj_window`) on a 2-D Gaussian target:
//! the exact model is zero within its SE, an affine error is resolved, a solenoidal error is
//! invisible to the projection form while the particle form with the oracle field sees it, and
//! every SIEM record names its form. Tolerances are 4 of the estimator's own SEs.

use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_core::target::TargetSpec;
use scoreprobe_siem::{ErrorFieldKind, SiemForm};
use scoreprobe_study::models::{ModelEntry, ModelGroup, ModelSource};
use scoreprobe_study::reference::Reference;
use scoreprobe_study::{MetricId, OnFailure, Study, StudySettings};

fn entry(name: &str, group: ModelGroup, model: ModelSpec) -> ModelEntry {
    ModelEntry { name: name.into(), group, step: None, source: ModelSource::Synthetic { model } }
}

#[test]
fn projection_metrics_see_gradient_errors_only_and_name_their_form() {
    let dir = tempfile::tempdir().unwrap();
    let models = vec![
        entry("exact", ModelGroup::Exact, ModelSpec::Exact),
        entry(
            "affine",
            ModelGroup::Affine,
            ModelSpec::AffineError { e: vec![vec![0.5, 0.2], vec![0.0, -0.3]], b: vec![0.3, -0.2] },
        ),
        entry(
            "solenoidal",
            ModelGroup::Solenoidal,
            ModelSpec::Solenoidal { a: vec![vec![0.0, 1.0], vec![-1.0, 0.0]], lambda: 1.0 },
        ),
    ];
    let study = Study {
        reference: Reference::Target(ProblemSpec {
            target: TargetSpec::Gaussian { mean: vec![0.5, -1.0], cov: vec![vec![1.0, 0.3], vec![0.3, 0.5]] },
            schedule: Default::default(),
            model: ModelSpec::Exact,
        }),
        models,
        metrics: vec![MetricId::SiemProj, MetricId::SiemProjWindow, MetricId::SiemWindow],
        settings: StudySettings { n: 400, steps: 200, ..Default::default() },
        out: dir.path().to_path_buf(),
        loader: &|p| Err(format!("no checkpoints here: {}", p.display()).into()),
        progress: false,
        on_failure: OnFailure::Stop,
    };
    let r = study.run().expect("the study runs");
    let get = |model: usize, m: MetricId| {
        let rec = r.rows[model].1.get(m).unwrap_or_else(|| panic!("{m:?} of model {model}"));
        (rec.value, rec.se.expect("SIEM has an SE"), rec.details.siem().expect("SIEM details").clone())
    };
    for m in [MetricId::SiemProj, MetricId::SiemProjWindow] {
        let (v, se, d) = get(0, m);
        eprintln!("exact {m:?}: {v:.3e} ± {se:.2e}");
        assert_eq!((d.form, d.error_field, d.test_fn.k), (SiemForm::Projection, None, 8));
        assert!(se > 0.0 && v.abs() <= 4.0 * se, "exact {m:?}: {v} ± {se}");
        let (v, se, _) = get(1, m);
        eprintln!("affine {m:?}: {v:.3e} ± {se:.2e}");
        assert!(v > 4.0 * se, "affine {m:?}: {v} ± {se}");
        let (v, se, _) = get(2, m);
        eprintln!("solenoidal {m:?}: {v:.3e} ± {se:.2e}");
        assert!(v.abs() <= 4.0 * se, "solenoidal {m:?}: {v} ± {se}");
    }
    let (v, se, d) = get(2, MetricId::SiemWindow);
    eprintln!("solenoidal particle oracle window: {v:.3e} ± {se:.2e}");
    assert_eq!((d.form, d.error_field), (SiemForm::Particle, Some(ErrorFieldKind::Oracle)));
    assert!(v > 10.0 * se, "the particle form with the oracle sees the solenoidal error: {v} ± {se}");
    // the projection form's cost: one score per draw and window time, 10 % of the grid on the window
    let proj = r.rows[0].1.get(MetricId::SiemProjWindow).unwrap();
    assert_eq!(proj.nfe, Some(20.0));
    // the cached record names its form
    let cached = std::fs::read_to_string(dir.path().join("cache/exact.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&cached).unwrap();
    assert_eq!(json["metrics"]["siem_proj"]["details"]["form"], "projection", "{json}");
    assert_eq!(json["metrics"]["siem_window"]["details"]["form"], "particle", "{json}");
}
