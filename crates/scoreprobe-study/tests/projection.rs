//! The study's projection-form metrics (`siem_proj`, `siem_proj_window`, and the quadratic family's
//! `siem_quad`, `siem_quad_window`) on a 2-D Gaussian target:
//! the exact model is zero within its SE, an affine error is resolved, a solenoidal error is
//! invisible to the projection form while the particle form with the oracle field sees it, and
//! every SIEM record names its form; adjacent checkpoints get paired SEs. Tolerances are 4 of the
//! estimator's own SEs.

use scoreprobe_core::distribution::TargetSpec;
use scoreprobe_core::spec::{ModelSpec, ProblemSpec};
use scoreprobe_siem::{ErrorFieldKind, SiemForm};
use scoreprobe_study::models::{ModelEntry, ModelGroup, ModelSource};
use scoreprobe_study::reference::Reference;
use scoreprobe_study::report::{self, SeSource};
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
        metrics: vec![
            MetricId::SiemProj,
            MetricId::SiemProjWindow,
            MetricId::SiemQuad,
            MetricId::SiemQuadWindow,
            MetricId::SiemWindow,
        ],
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
    // K: 8 radial test functions, or the quadratic family's basis of d + d(d+1)/2 = 5
    for (m, k) in
        [(MetricId::SiemProj, 8), (MetricId::SiemProjWindow, 8), (MetricId::SiemQuad, 5), (MetricId::SiemQuadWindow, 5)]
    {
        let (v, se, d) = get(0, m);
        eprintln!("exact {m:?}: {v:.3e} ± {se:.2e}");
        assert_eq!((d.form, d.error_field, d.test_fn.k), (SiemForm::Projection, None, k));
        assert_eq!((d.test_fn.test_seed, d.test_fn.centers_hash.len()), (Some(0), 16));
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

/// Three "checkpoints" (affine errors shrinking along training): the report gives each SIEM
/// metric's differences between adjacent checkpoints with paired SEs, far below the unpaired ones
/// because every model sees the same draws, and resolving each step.
#[test]
fn adjacent_checkpoints_get_paired_standard_errors() {
    let dir = tempfile::tempdir().unwrap();
    let models = [1.0, 0.9, 0.8]
        .iter()
        .enumerate()
        .map(|(i, &l)| ModelEntry {
            name: format!("ckpt-{}", i + 1),
            group: ModelGroup::Checkpoint,
            step: Some((i + 1) as f64),
            source: ModelSource::Synthetic {
                model: ModelSpec::AffineError {
                    e: vec![vec![0.5 * l, 0.2 * l], vec![0.0, -0.3 * l]],
                    b: vec![0.3 * l, -0.2 * l],
                },
            },
        })
        .collect();
    let study = Study {
        reference: Reference::Target(ProblemSpec {
            target: TargetSpec::Gaussian { mean: vec![0.5, -1.0], cov: vec![vec![1.0, 0.3], vec![0.3, 0.5]] },
            schedule: Default::default(),
            model: ModelSpec::Exact,
        }),
        models,
        metrics: vec![MetricId::SiemProj, MetricId::Siem],
        settings: StudySettings { n: 500, steps: 200, ..Default::default() },
        out: dir.path().to_path_buf(),
        loader: &|p| Err(format!("no checkpoints here: {}", p.display()).into()),
        progress: false,
        on_failure: OnFailure::Stop,
    };
    let r = study.run().expect("the study runs");
    let summary = report::write(dir.path(), "t", "cmd", &r, &study.settings, &Default::default()).unwrap();
    for m in [MetricId::SiemProj, MetricId::Siem] {
        let diffs: Vec<_> = summary.paired.iter().filter(|d| d.metric == m).collect();
        assert_eq!(diffs.len(), 2, "{m:?}: {diffs:?}");
        for d in diffs {
            let (from, to) = (
                r.rows.iter().find(|x| x.0.name == d.from).unwrap(),
                r.rows.iter().find(|x| x.0.name == d.to).unwrap(),
            );
            let (a, b) = (from.1.get(m).unwrap(), to.1.get(m).unwrap());
            let unpaired = (a.se.unwrap().powi(2) + b.se.unwrap().powi(2)).sqrt();
            let se = d.se.unwrap();
            eprintln!(
                "{m:?} {} → {}: Δ {:.4e} ± {se:.2e} paired ({unpaired:.2e} unpaired)",
                d.from, d.to, d.difference
            );
            assert_eq!(d.se_source, Some(SeSource::PairedUnits));
            assert!((d.difference - (b.value - a.value)).abs() < 1e-15);
            assert!(se > 0.0 && se < 0.5 * unpaired, "{m:?}: paired {se} vs unpaired {unpaired}");
            // a smaller error is a smaller SIEM, resolved by the paired SE
            assert!(d.z().unwrap() < -4.0, "{m:?} {} → {}: z {:?}", d.from, d.to, d.z());
        }
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("## Adjacent checkpoints (paired differences)") && md.contains("| siem_proj | ckpt-1 | ckpt-2 |"),
        "{md}"
    );
}
