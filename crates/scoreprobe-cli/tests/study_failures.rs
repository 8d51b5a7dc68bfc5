//! `scoreprobe study` on a run holding a corrupt checkpoint: without `--keep-going` it stops with
//! an error naming the file; with it, it measures every other model, writes the report with that
//! checkpoint's metrics marked failed (not "did not apply"), and still exits non-zero.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scoreprobe")).args(args).output().expect("the scoreprobe binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_corrupt_checkpoint_stops_the_study_or_is_marked_failed_with_keep_going() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let run_dir_s = run_dir.to_str().unwrap();
    let o = run(&[
        "train",
        "--data",
        "ring8",
        "--model",
        "mlp",
        "--steps",
        "20",
        "--checkpoint-every",
        "10",
        "--batch",
        "64",
        "--out",
        run_dir_s,
        "--quiet",
    ]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    // a torn copy: the tensor file cut in half, its sidecar intact
    let broken = run_dir.join("ckpt-20.safetensors");
    let bytes = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();

    let study = |out: &str, keep_going: bool| {
        let mut args = vec![
            "study",
            "--run",
            run_dir_s,
            "--reference",
            "ring8",
            "--metrics",
            "w2,siem_window,exact_kl",
            "--n",
            "50",
            "--steps",
            "20",
            "--out",
            out,
            "--quiet",
        ];
        if keep_going {
            args.push("--keep-going");
        }
        run(&args)
    };

    let out = dir.path().join("stop");
    let o = study(out.to_str().unwrap(), false);
    let err = stderr(&o);
    assert!(!o.status.success(), "a corrupt checkpoint must fail the study: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("model 'ckpt-20'") && err.contains("ckpt-20.safetensors"), "{err}");
    assert!(!out.join("report.md").exists(), "no report after a stop");

    let out = dir.path().join("keep-going");
    let o = study(out.to_str().unwrap(), true);
    let err = stderr(&o);
    assert!(!o.status.success(), "keep-going still reports the failure in its exit status: {err}");
    assert!(err.contains("3 metric(s) failed on 1 model(s)") && err.contains("ckpt-20.safetensors"), "{err}");
    let md = std::fs::read_to_string(out.join("report.md")).expect("the report is written");
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let models = table["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    // the good checkpoint is measured
    assert_eq!(models[0]["name"], "ckpt-10");
    assert!(models[0]["metrics"]["w2"]["value"].as_f64().is_some_and(f64::is_finite), "{table}");
    assert!(models[0]["metrics"]["siem_window"]["value"].as_f64().is_some_and(f64::is_finite), "{table}");
    // the corrupt one: every metric failed, none "did not apply"
    assert!(models[1]["metrics"].as_object().unwrap().is_empty(), "{table}");
    let failed: Vec<(String, String)> = table["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap().to_string(), f[1].as_str().unwrap().to_string()))
        .collect();
    let expected: Vec<(String, String)> =
        ["w2", "siem_window", "exact_kl"].iter().map(|m| ("ckpt-20".to_string(), m.to_string())).collect();
    assert_eq!(failed, expected);
    let skipped = table["skipped"].as_array().unwrap();
    assert!(skipped.iter().all(|s| s[0] != "ckpt-20"), "a failure listed as not applicable: {skipped:?}");
    assert!(md.contains("| ckpt-20 | checkpoint | 20 | **failed** | **failed** | **failed** |"), "{md}");
    assert!(
        md.contains("## Metrics that failed\n\n- ckpt-20 · w2: model 'ckpt-20': cannot load the checkpoint"),
        "{md}"
    );
}
