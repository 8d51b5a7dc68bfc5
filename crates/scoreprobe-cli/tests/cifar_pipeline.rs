//! The CIFAR-10 study's script cannot rot: `docs/studies/regenerate-cifar10.sh` runs end to end
//! in its tiny profile (64 images, a U-Net of widths 8/16, 2 checkpoints, 32 samples, 2 replicate
//! seeds) with this build's binary, and its outputs hold a finite value of every metric for both
//! checkpoints, a sample grid per checkpoint, the training monitor's records and a report. A second run resumes from the caches
//! and gives the same table.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

fn run_script(tmp: &Path) -> std::process::Output {
    Command::new("bash")
        .arg(repo_root().join("docs/studies/regenerate-cifar10.sh"))
        .env("CIFAR_PROFILE", "tiny")
        .env("SCOREPROBE_BIN", env!("CARGO_BIN_EXE_scoreprobe"))
        .env("CIFAR_RUN", tmp.join("run"))
        .env("CIFAR_OUT", tmp.join("out"))
        .env("CIFAR_DOCS", tmp.join("docs"))
        .output()
        .expect("bash runs the script")
}

/// The rows of a metrics.csv as (name, column → value).
fn table(path: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().expect("a header").split(',').map(String::from).collect();
    lines
        .map(|l| {
            let cells: Vec<String> = l.split(',').map(String::from).collect();
            (cells[0].clone(), header.iter().cloned().zip(cells).collect())
        })
        .collect()
}

#[test]
fn the_cifar10_study_script_runs_end_to_end_and_resumes() {
    if scoreprobe_data::datasets::require_shared_data().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = run_script(tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the script failed:\n{stderr}");

    let docs = tmp.path().join("docs");
    let rows = table(&docs.join("metrics.csv"));
    assert_eq!(rows.len(), 2, "two checkpoints picked: {rows:?}");
    for metric in [
        "fd",
        "kid",
        "siem_proj",
        "siem_proj_window",
        "siem_quad",
        "siem_quad_window",
        "siem_critic_window",
        "l2",
        "gradient",
    ] {
        for (name, cells) in &rows {
            let cell = cells.iter().find(|(c, _)| c == metric).map(|(_, v)| v.as_str());
            let value: f64 = cell.and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
            assert!(value.is_finite(), "{name}: {metric} = {cell:?}");
        }
    }
    for (name, _) in &rows {
        let png = docs.join("figures").join(format!("samples-{name}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{} is not a PNG", png.display());
    }
    for seed in [0, 1] {
        assert!(docs.join(format!("metrics-seed-{seed}.csv")).is_file(), "replicate seed {seed}");
    }
    // replicate seeds draw different samples: FD differs between them
    let fd = |seed: u32| table(&docs.join(format!("metrics-seed-{seed}.csv")))[0].1[3..].to_vec();
    assert_ne!(fd(0), fd(1), "replicate seeds gave identical tables");
    let report = std::fs::read_to_string(docs.join("report.md")).unwrap();
    assert!(report.contains("fd") && report.contains("siem"), "{report}");
    // the HTML report carries every checkpoint's sample grid inline
    let html = std::fs::read_to_string(docs.join("report.html")).unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), rows.len(), "one inline grid per checkpoint");
    // the training monitor measured every checkpoint of the run (4 and 8), and the report draws it
    let monitor = std::fs::read_to_string(docs.join("monitor.jsonl")).unwrap();
    let steps: Vec<u64> = monitor
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![4, 8], "{monitor}");
    assert!(html.contains("training monitor"), "the report has no monitor curve");

    // a second run finds everything cached and done: the same table, byte for byte
    let before = std::fs::read(docs.join("metrics.csv")).unwrap();
    let again = run_script(tmp.path());
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(std::fs::read(docs.join("metrics.csv")).unwrap(), before);
}
