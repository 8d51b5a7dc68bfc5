//! `scoreprobe train --monitor`: the records' schema, paired differences, and a resume after a
//! kill that continues with the same draws and writes no step twice.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn train(data: &Path, out: &Path, steps: u64, extra: &[&str]) -> Output {
    train_n(data, out, steps, 16, extra)
}

fn train_n(data: &Path, out: &Path, steps: u64, n: usize, extra: &[&str]) -> Output {
    let (steps, n) = (steps.to_string(), n.to_string());
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--model",
        "mlp",
        "--steps",
        &steps,
        "--batch",
        "64",
        "--checkpoint-every",
        "10",
        "--monitor",
        "siem-projection",
        "--monitor-every",
        "5",
        "--monitor-n",
        &n,
        "--monitor-window",
        "980..999",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    // a tiny MLP's steps cost next to nothing: without a budget of 1 the spacing would widen
    if !extra.contains(&"--monitor-max-budget") {
        args.extend_from_slice(&["--monitor-max-budget", "1"]);
    }
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_scoreprobe")).args(&args).output().expect("the binary runs")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "train failed: {}", String::from_utf8_lossy(&o.stderr));
}

fn records(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("monitor.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn field(r: &Value, k: &str) -> f64 {
    r[k].as_f64().unwrap_or_else(|| panic!("{k} missing or not a number in {r}"))
}

#[test]
fn train_monitor_writes_paired_records_and_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.npy");
    let x = ndarray::Array2::from_shape_fn((400, 2), |(i, j)| ((i * 37 + j * 11) % 101) as f64 / 50.0 - 1.0);
    ndarray_npy::write_npy(&data, &x).unwrap();

    // uninterrupted
    let a = dir.path().join("a");
    ok(&train(&data, &a, 30, &[]));
    let ra = records(&a);
    let steps: Vec<u64> = ra.iter().map(|r| r["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![5, 10, 15, 20, 25, 30]);
    for (i, r) in ra.iter().enumerate() {
        for k in ["value", "se", "seconds", "best_value", "wall_time"] {
            assert!(field(r, k).is_finite(), "{k} in {r}");
        }
        assert_eq!(r["metric"], "siem-projection");
        assert_eq!(r["test_fn"], "gaussian", "d = 2: the radial default");
        assert_eq!((r["n"].as_u64(), r["window"].as_str()), (Some(16), Some("980..999")));
        if i == 0 {
            assert!(r["diff"].is_null() && r["diff_se"].is_null() && r["budget"].is_null(), "{r}");
        } else {
            let want = field(r, "value") - field(&ra[i - 1], "value");
            assert!((field(r, "diff") - want).abs() < 1e-12 * want.abs().max(1e-12), "{r}");
            assert!(field(r, "diff_se") > 0.0 && field(r, "budget") > 0.0, "{r}");
            // common random numbers: the paired SE is far below the unpaired one
            let unpaired = field(r, "se").hypot(field(&ra[i - 1], "se"));
            assert!(field(r, "diff_se") < 0.5 * unpaired, "paired {} vs unpaired {unpaired}", field(r, "diff_se"));
        }
        let best = ra[..=i].iter().min_by(|p, q| field(p, "value").total_cmp(&field(q, "value"))).unwrap();
        assert_eq!(r["best_step"], best["step"]);
    }

    // the study of the run copies its records, and the report draws the monitor's curve
    let study = dir.path().join("study");
    let o = Command::new(env!("CARGO_BIN_EXE_scoreprobe"))
        .args(["study", "--run", a.to_str().unwrap(), "--reference", data.to_str().unwrap(), "--metrics", "fd"])
        .args(["--n", "64", "--steps", "50", "--out", study.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(records(&study), ra);
    let html = std::fs::read_to_string(study.join("report.html")).unwrap();
    assert!(html.contains("training monitor"), "the report has no monitor curve");

    // the same run trained without the monitor, measured afterwards on its checkpoints: the values
    // of the live monitor at the checkpoint steps (same EMA weights, same draws)
    let c = dir.path().join("c");
    let plain = Command::new(env!("CARGO_BIN_EXE_scoreprobe"))
        .args(["train", "--data", data.to_str().unwrap(), "--model", "mlp", "--steps", "30", "--batch", "64"])
        .args(["--checkpoint-every", "10", "--out", c.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    ok(&plain);
    let after = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_scoreprobe"))
            .args(["monitor", "--run", c.to_str().unwrap(), "--n", "16", "--window", "980..999"])
            .args(extra)
            .output()
            .unwrap()
    };
    ok(&after(&["--every", "20"]));
    ok(&after(&[]));
    let rc = records(&c);
    assert_eq!(rc.iter().map(|r| r["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![20, 30]);
    for r in &rc {
        let live = ra.iter().find(|p| p["step"] == r["step"]).unwrap();
        assert_eq!((r["value"].as_f64(), r["se"].as_f64()), (live["value"].as_f64(), live["se"].as_f64()));
        assert!(r["budget"].is_null(), "no training between the evaluations of a backfill");
    }

    // --pick: the checkpoints a study with --pick 2 measures (first and last), whatever --every
    let c2 = dir.path().join("c2");
    std::fs::create_dir_all(&c2).unwrap();
    for step in [10, 20, 30] {
        for ext in ["safetensors", "json"] {
            std::fs::copy(c.join(format!("ckpt-{step}.{ext}")), c2.join(format!("ckpt-{step}.{ext}"))).unwrap();
        }
    }
    let o = Command::new(env!("CARGO_BIN_EXE_scoreprobe"))
        .args(["monitor", "--run", c2.to_str().unwrap(), "--n", "16", "--window", "980..999"])
        .args(["--every", "1000", "--pick", "2"])
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(records(&c2).iter().map(|r| r["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![10, 30]);

    // killed after the record of step 20 but before its checkpoint: the last checkpoint is 10
    let b = dir.path().join("b");
    ok(&train(&data, &b, 20, &[]));
    for ext in ["safetensors", "json"] {
        std::fs::remove_file(b.join(format!("ckpt-20.{ext}"))).unwrap();
    }
    let again = train(&data, &b, 30, &[]);
    assert!(!again.status.success(), "a folder with records needs --resume");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    ok(&train(&data, &b, 30, &["--resume"]));
    let rb = records(&b);
    assert_eq!(rb.len(), ra.len(), "no step written twice: {rb:?}");
    for (p, q) in ra.iter().zip(&rb) {
        assert_eq!(p["step"], q["step"]);
        for k in ["value", "se", "diff", "diff_se", "best_value"] {
            assert_eq!(p[k].as_f64(), q[k].as_f64(), "{k} at step {}: the same draws and weights", p["step"]);
        }
    }
    // another window would not be comparable: refused
    let o = train_n(&data, &b, 40, 32, &["--resume"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not be comparable"));
}

/// At the default --monitor-max-budget (2 %) a tiny MLP, whose 5 training steps cost far less than
/// an evaluation, makes the monitor widen its spacing: fewer records, each on the --monitor-every
/// grid, and a message saying so; the values at the steps kept are those of the unwidened run.
#[test]
fn an_evaluation_over_the_budget_widens_the_spacing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.npy");
    let x = ndarray::Array2::from_shape_fn((400, 2), |(i, j)| ((i * 37 + j * 11) % 101) as f64 / 50.0 - 1.0);
    ndarray_npy::write_npy(&data, &x).unwrap();
    let (thin, full) = (dir.path().join("thin"), dir.path().join("full"));
    let o = train(&data, &thin, 200, &["--monitor-max-budget", "0.02"]);
    ok(&o);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("evaluating every") && stderr.contains("--monitor-max-budget 0.02"), "{stderr}");
    let kept = records(&thin);
    let steps: Vec<u64> = kept.iter().map(|r| r["step"].as_u64().unwrap()).collect();
    assert!(steps.len() < 40 && steps[..2] == [5, 10], "{steps:?}");
    assert!(steps.iter().all(|s| s % 5 == 0), "{steps:?}");
    ok(&train(&data, &full, 200, &[]));
    let all = records(&full);
    assert_eq!(all.len(), 40);
    for r in &kept {
        let twin = all.iter().find(|a| a["step"] == r["step"]).unwrap();
        assert_eq!(field(r, "value"), field(twin, "value"), "step {}", r["step"]);
    }
    let bad = train(&data, &dir.path().join("bad"), 10, &["--monitor-max-budget", "0"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--monitor-max-budget"));
}
