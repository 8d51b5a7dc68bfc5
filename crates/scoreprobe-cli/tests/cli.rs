//! The binary as a user runs it: end-to-end commands on small problems, and bad input that must
//! end with a clear message naming the input and a non-zero exit (never a panic trace).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scoreprobe"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the scoreprobe binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure with a message containing every `needle`, and no panic.
fn assert_fails_with(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected a failure, got success; stderr: {err}");
    assert!(!err.contains("panicked"), "panic instead of an error message: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks '{n}': {err}");
    }
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "command failed: {}", stderr(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn examples(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/specs").join(name).to_string_lossy().into_owned()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn exact_reports_zero_kl_for_the_exact_model_and_positive_for_an_affine_error() {
    let exact = json(&run(&["exact", "--spec", &examples("gaussian-exact.json"), "--json"]));
    let affine = json(&run(&["exact", "--spec", &examples("gaussian-affine.json"), "--json"]));
    let kl0 = exact["reverse_sde"]["kl"].as_f64().expect("kl");
    let kl1 = affine["reverse_sde"]["kl"].as_f64().expect("kl");
    // the exact score generates p_tmin up to the prior mismatch KL(p_T‖π), which is ~1e-5 here
    assert!(kl0.abs() < 1e-3, "exact model KL {kl0}");
    assert!(kl1 > 10.0 * kl0.abs().max(1e-4), "affine error KL {kl1} vs exact {kl0}");
}

#[test]
fn sample_writes_an_npy_whose_moments_match_the_target() {
    let dir = tmp();
    let out = dir.path().join("x.npy");
    let o = run(&[
        "sample",
        "--spec",
        &examples("gaussian-exact.json"),
        "--n",
        "4000",
        "--sampler",
        "ode-heun",
        "--steps",
        "200",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let x: ndarray::Array2<f32> = ndarray_npy::read_npy(&out).unwrap();
    assert_eq!(x.dim(), (4000, 2));
    // against FD between the samples and the target itself, via the metrics command on a target draw
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(examples("gaussian-exact.json")).unwrap()).unwrap();
    let mean: Vec<f64> = spec["target"]["mean"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    for (j, m) in mean.iter().enumerate() {
        let col = x.column(j).mapv(|v| v as f64);
        let mu = col.mean().unwrap();
        let sd = col.std(1.0);
        // 5 standard errors of the mean (the Heun discretisation bias is far smaller at 200 steps)
        assert!((mu - m).abs() < 5.0 * sd / (4000f64).sqrt(), "column {j}: mean {mu} vs {m}");
    }
}

#[test]
fn sample_reports_the_mean_of_vectors_and_only_its_size_in_high_dimension() {
    let dir = tmp();
    let sample = |spec: &str, out: &str| {
        json(&run(&["sample", "--spec", spec, "--n", "200", "--steps", "20", "--out", out, "--seed", "1"]))
    };
    let low = sample(&examples("gaussian-exact.json"), dir.path().join("a.npy").to_str().unwrap());
    assert_eq!(low["mean"].as_array().map(Vec::len), Some(2), "{low}");
    assert!(low.get("mean_rms").is_none(), "{low}");
    // a standard Gaussian in 100 dimensions: the mean's RMS over coordinates is about 1/√n
    let d = 100;
    let eye: Vec<Vec<f64>> = (0..d).map(|i| (0..d).map(|j| f64::from(u8::from(i == j))).collect()).collect();
    let spec = serde_json::json!({"target": {"kind": "gaussian", "mean": vec![0.0; d], "cov": eye}});
    let spec = write(dir.path(), "d100.json", &spec.to_string());
    let x = dir.path().join("b.npy");
    let high = sample(&spec, x.to_str().unwrap());
    assert!(high["mean"].is_null(), "every coordinate printed: {}", high["mean"]);
    let rms = high["mean_rms"].as_f64().unwrap();
    let x: ndarray::Array2<f32> = ndarray_npy::read_npy(&x).unwrap();
    let m = x.mapv(f64::from).mean_axis(ndarray::Axis(0)).unwrap();
    assert!((rms - (m.mapv(|v| v * v).sum() / d as f64).sqrt()).abs() < 1e-6, "{rms}");
    assert!(rms > 0.02 && rms < 0.2, "{rms} vs 1/√200 = 0.07");
}

#[test]
fn metrics_on_identical_sets_are_zero_and_shapes_are_checked() {
    let dir = tmp();
    let a = dir.path().join("a.npy");
    let x = ndarray::Array2::from_shape_fn((300, 3), |(i, j)| ((i * 7 + j * 13) % 17) as f64 / 17.0 + j as f64);
    ndarray_npy::write_npy(&a, &x).unwrap();
    let v =
        json(&run(&["metrics", "--a", a.to_str().unwrap(), "--b", a.to_str().unwrap(), "--metric", "fd,w2", "--json"]));
    assert!(v["fd"].as_f64().unwrap().abs() < 1e-9, "{v}");
    // W2 is the square root of the optimal cost, so a 1e-18 round-off cost shows as ~1e-9
    assert!(v["w2"].as_f64().unwrap().abs() < 1e-6, "{v}");
    assert_eq!(v["n_a"].as_u64(), Some(300));

    let b = dir.path().join("b.npy");
    ndarray_npy::write_npy(&b, &ndarray::Array2::<f64>::zeros((300, 4))).unwrap();
    let o = run(&["metrics", "--a", a.to_str().unwrap(), "--b", b.to_str().unwrap(), "--metric", "fd", "--json"]);
    assert_fails_with(&o, &["3", "4"]);
}

#[test]
fn truncated_and_missing_files_are_named() {
    let dir = tmp();
    let a = dir.path().join("a.npy");
    ndarray_npy::write_npy(&a, &ndarray::Array2::<f64>::zeros((100, 2))).unwrap();
    let bytes = std::fs::read(&a).unwrap();
    let cut = dir.path().join("cut.npy");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = run(&["metrics", "--a", a.to_str().unwrap(), "--b", cut.to_str().unwrap(), "--metric", "fd"]);
    assert_fails_with(&o, &["cut.npy"]);
    let o = run(&["sample", "--spec", "/nonexistent/spec.json", "--n", "10", "--out", "/tmp/never.npy"]);
    assert_fails_with(&o, &["/nonexistent/spec.json"]);
}

#[test]
fn bad_specs_name_the_field() {
    let dir = tmp();
    let nan =
        write(dir.path(), "nan.json", r#"{"target": {"kind": "gaussian", "mean": [0, 0], "cov": [[1, 0], [0, -1]]}}"#);
    assert_fails_with(&run(&["exact", "--spec", &nan, "--json"]), &["cov"]);
    let shape = write(
        dir.path(),
        "shape.json",
        r#"{"target": {"kind": "gaussian", "mean": [0, 0, 0], "cov": [[1, 0], [0, 1]]}}"#,
    );
    assert_fails_with(&run(&["exact", "--spec", &shape, "--json"]), &["mean"]);
    let kind = write(dir.path(), "kind.json", r#"{"target": {"kind": "named", "name": "ring9"}}"#);
    assert_fails_with(&run(&["exact", "--spec", &kind, "--json"]), &["ring9"]);
    let ckpt = write(dir.path(), "ckpt.safetensors", "not a safetensors file");
    let spec = write(
        dir.path(),
        "ckpt.json",
        &format!(
            r#"{{"target": {{"kind": "named", "name": "ring8"}}, "model": {{"kind": "checkpoint", "path": "{ckpt}"}}}}"#
        ),
    );
    let out = dir.path().join("x.npy");
    assert_fails_with(&run(&["sample", "--spec", &spec, "--n", "10", "--out", out.to_str().unwrap()]), &["ckpt"]);
}

#[test]
fn unknown_options_are_refused() {
    assert_fails_with(
        &run(&[
            "sample",
            "--spec",
            &examples("gaussian-exact.json"),
            "--sampler",
            "rk45",
            "--n",
            "5",
            "--out",
            "/tmp/x.npy",
        ]),
        &["rk45"],
    );
    assert_fails_with(&run(&["metrics", "--a", "x.npy", "--b", "y.npy", "--metric", "fid-inf"]), &["fid-inf"]);
}

#[test]
fn siem_refuses_bad_windows_and_bandwidths_and_is_zero_for_the_exact_model() {
    let spec = examples("gaussian-exact.json");
    let o = run(&["siem", "--spec", &spec, "--steps", "100", "--window", "90..150", "--n", "50"]);
    assert_fails_with(&o, &["150"]);
    let o = run(&["siem", "--spec", &spec, "--steps", "100", "--bandwidth", "-1", "--n", "50"]);
    assert_fails_with(&o, &["bandwidth"]);
    let v = json(&run(&["siem", "--spec", &spec, "--steps", "100", "--n", "100", "--json"]));
    assert_eq!(v["siem"].as_f64(), Some(0.0), "{v}");
    let g = json(&run(&["siem", "--spec", &examples("ring8-bump.json"), "--steps", "100", "--n", "100", "--json"]));
    assert!(g["siem"].as_f64().unwrap() > 0.0, "{g}");
    assert_eq!(g["error_field"], "oracle");
}

/// `--form`: the particle form stays the default for spec models (their exact score is known);
/// the projection form names itself, is zero within its SE for the exact model, resolves an affine
/// error, is blind to a solenoidal one, and refuses the particle form's options.
#[test]
fn siem_form_projection_names_itself_and_refuses_particle_options() {
    let base = ["--steps", "100", "--window", "90..99", "--n", "400", "--json"];
    let proj = |spec: &str| {
        let mut args = vec!["siem", "--spec", spec, "--form", "projection"];
        args.extend(base);
        json(&run(&args))
    };
    let exact = proj(&examples("gaussian-exact.json"));
    assert_eq!(exact["form"], "projection", "{exact}");
    assert_eq!(exact["test_fn"]["k"], 8, "K = 8 by default in the projection form");
    let (v, se) = (exact["siem"].as_f64().unwrap(), exact["siem_se"].as_f64().unwrap());
    assert!(se > 0.0 && v.abs() <= 4.0 * se, "exact: {v} ± {se}");
    let affine = proj(&examples("gaussian-affine.json"));
    let (v, se) = (affine["siem"].as_f64().unwrap(), affine["siem_se"].as_f64().unwrap());
    assert!(v > 4.0 * se, "affine: {v} ± {se}");
    let sol = proj(&examples("gaussian-solenoidal.json"));
    let (v, se) = (sol["siem"].as_f64().unwrap(), sol["siem_se"].as_f64().unwrap());
    assert!(v.abs() <= 4.0 * se, "solenoidal: {v} ± {se}");

    let spec = examples("gaussian-exact.json");
    let mut args = vec!["siem", "--spec", &spec];
    args.extend(base);
    let particle = json(&run(&args));
    assert_eq!((&particle["form"], &particle["error_field"]), (&"particle".into(), &"oracle".into()), "{particle}");

    let o = run(&["siem", "--spec", &spec, "--form", "projection", "--error-field", "oracle", "--n", "10"]);
    assert_fails_with(&o, &["--error-field", "projection form"]);
    let o = run(&["siem", "--spec", &spec, "--form", "projection", "--sampler", "ancestral", "--n", "10"]);
    assert_fails_with(&o, &["--sampler"]);
    let o = run(&["siem", "--spec", &spec, "--form", "both", "--n", "10"]);
    assert_fails_with(&o, &["--form", "both"]);
    let o = run(&["siem", "--spec", &spec, "--form", "projection", "--n", "3"]);
    assert_fails_with(&o, &["at least 4 draws"]);
    // options checked in the libraries are named as the flags the user typed
    let o = run(&["siem", "--spec", &spec, "--window", "990..1005", "--n", "10"]);
    assert_fails_with(&o, &["--window", "990..1005"]);
    let o = run(&["siem", "--spec", &spec, "--test-fn", "cosine", "--n", "10"]);
    assert_fails_with(&o, &["--test-fn", "cosine"]);
}

/// `--center C` alone is one test function at C (K = 1) in the projection form; `--test-fn
/// quadratic` runs the quadratic family (picking the projection form) and reports its two parts;
/// the test functions follow `--test-seed`, not `--seed`.
#[test]
fn siem_center_alone_quadratic_family_and_test_seed() {
    let spec = examples("gaussian-affine.json");
    let base = ["siem", "--spec", &spec, "--steps", "100", "--window", "90..99", "--n", "200", "--json"];
    let with = |extra: &[&str]| json(&run(&[&base[..], extra].concat()));
    let one = with(&["--form", "projection", "--center", "0.5,-1"]);
    assert_eq!((&one["test_fn"]["k"], &one["test_fn"]["centers"]), (&1.into(), &serde_json::json!([[0.5, -1.0]])));
    let quad = with(&["--test-fn", "quadratic"]);
    assert_eq!((&quad["form"], &quad["test_fn"]["kind"]), (&"projection".into(), &"quadratic".into()), "{quad}");
    let (v, se) = (quad["siem"].as_f64().unwrap(), quad["siem_se"].as_f64().unwrap());
    let parts = quad["quadratic"]["mean_part"].as_f64().unwrap() + quad["quadratic"]["cov_part"].as_f64().unwrap();
    assert!(v > 4.0 * se && (parts - v).abs() < 1e-9 * v, "affine: {v} ± {se}, parts {parts}");
    let proj = |extra: &[&str]| with(&[&["--form", "projection"][..], extra].concat());
    let (a, b, c) = (proj(&["--seed", "1"]), proj(&["--seed", "2"]), proj(&["--seed", "1", "--test-seed", "3"]));
    assert_eq!(a["test_fn"], b["test_fn"], "the sampling seed does not move the test functions");
    assert_ne!(a["test_fn"]["centers_hash"], c["test_fn"]["centers_hash"]);
    let o = run(&[&base[..], &["--test-fn", "quadratic", "--centers", "4"]].concat());
    assert_fails_with(&o, &["--test-fn", "quadratic"]);
}

#[test]
fn study_refuses_empty_runs_and_unknown_metrics_and_resumes() {
    let dir = tmp();
    let empty = dir.path().join("empty-run");
    std::fs::create_dir_all(&empty).unwrap();
    let out = dir.path().join("report");
    let o = run(&[
        "study",
        "--run",
        empty.to_str().unwrap(),
        "--reference",
        "ring8",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_fails_with(&o, &["checkpoint"]);

    let models = write(
        dir.path(),
        "models.json",
        r#"[{"name": "exact", "model": {"kind": "exact"}},
            {"name": "bump", "model": {"kind": "gradient", "lambda": 1.0,
              "potential": {"kind": "radial_bump", "width": 1.0, "height": 1.0}}}]"#,
    );
    let o = run(&[
        "study",
        "--models",
        &models,
        "--reference",
        "ring8",
        "--metrics",
        "w2,siem,nonsense",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_fails_with(&o, &["nonsense", "siem"]);

    let args = [
        "study",
        "--models",
        &models,
        "--reference",
        "ring8",
        "--metrics",
        "w2,siem",
        "--n",
        "100",
        "--steps",
        "50",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let text = table.to_string();
    assert!(text.contains("bump") && text.contains("siem"), "{text}");
    // a second run finds every value cached: identical table, and the cache files are untouched
    let cache = out.join("cache");
    let stamp =
        |p: &Path| std::fs::read_dir(p).unwrap().map(|e| e.unwrap().metadata().unwrap().modified().unwrap()).max();
    let before = stamp(&cache);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stamp(&cache), before, "cached results were recomputed");
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(table["models"], again["models"]);

    // `report` rebuilds both reports from the records; a folder that is not a study, or a
    // truncated record, fails naming it, non-zero, writing nothing
    let prov = std::fs::read_to_string(out.join("provenance.json")).unwrap();
    assert!(prov.contains("--metrics w2,siem") && prov.contains("scoreprobe_version"), "{prov}");
    std::fs::remove_file(out.join("report.html")).unwrap();
    let o = run(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("data-section=\"claims\"") && html.contains("rebuilt from the study"));
    assert_fails_with(&run(&["report", empty.to_str().unwrap()]), &["empty-run is not a study folder"]);
    let json_text = std::fs::read_to_string(out.join("metrics.json")).unwrap();
    std::fs::write(out.join("metrics.json"), &json_text[..json_text.len() / 3]).unwrap();
    std::fs::remove_file(out.join("report.html")).unwrap();
    assert_fails_with(&run(&["report", out.to_str().unwrap()]), &["metrics.json: truncated"]);
    assert!(!out.join("report.html").exists(), "nothing written on bad input");
}

#[test]
fn hodge_and_bounds_run_on_a_checkpoint_against_a_data_set() {
    let dir = tmp();
    let data = dir.path().join("data.npy");
    let x = ndarray::Array2::from_shape_fn((400, 2), |(i, j)| ((i * 37 + j * 11) % 101) as f64 / 50.0 - 1.0);
    ndarray_npy::write_npy(&data, &x).unwrap();
    let run_dir = dir.path().join("run");
    let o = run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--model",
        "mlp",
        "--steps",
        "20",
        "--batch",
        "64",
        "--checkpoint-every",
        "10",
        "--out",
        run_dir.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ckpt = run_dir.join("ckpt-20.safetensors");
    let v = json(&run(&[
        "hodge",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--estimator",
        "random-features",
        "--times",
        "0.5",
        "--n",
        "2000",
        "--json",
    ]));
    // a 20-step network is far from the data's score: a clearly positive L² error, finite everything
    let l2 = v["l2"][0].as_f64().expect("l2");
    let g = v["gradient"][0].as_f64().expect("gradient");
    assert!(l2 > 0.0 && l2.is_finite() && g.is_finite(), "{v}");
    let b = json(&run(&[
        "bounds",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--estimator",
        "random-features",
        "--panels",
        "4",
        "--n",
        "1000",
        "--json",
    ]));
    assert!(b["exact_kl"].is_null(), "no exact KL on data: {b}");
    assert!(b["girsanov"].as_f64().unwrap() >= b["prior_kl"].as_f64().unwrap(), "{b}");

    let wide = dir.path().join("wide.npy");
    ndarray_npy::write_npy(&wide, &ndarray::Array2::<f64>::zeros((50, 3))).unwrap();
    let o = run(&["hodge", "--checkpoint", ckpt.to_str().unwrap(), "--data", wide.to_str().unwrap()]);
    assert_fails_with(&o, &["wide.npy", "3", "2"]);
    let o = run(&["hodge", "--checkpoint", ckpt.to_str().unwrap()]);
    assert_fails_with(&o, &["--data"]);
}
