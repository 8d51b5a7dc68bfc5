//! The CIFAR-10 study's script cannot rot: `docs/studies/regenerate-cifar10.sh` runs end to end
//! in its tiny profile (64 images, a U-Net of widths 8/16, 2 checkpoints, 32 samples, 2 replicate
//! seeds) with this build's binary, and its outputs hold a finite value of every metric for both
//! checkpoints, a sample grid per checkpoint, the training monitor's records and a report. A
//! second run resumes from the caches and gives the same table; so does a third from the committed
//! archive alone. Killed in each of its stages (the whole process group, SIGKILL) and rerun, the
//! script ends with the numbers of an uninterrupted run.

mod common;

use common::{without_seconds_columns, Mix};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

fn script(tmp: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg(repo_root().join("docs/studies/regenerate-cifar10.sh"))
        .env("CIFAR_PROFILE", "tiny")
        .env("SCOREPROBE_BIN", env!("CARGO_BIN_EXE_scoreprobe"))
        .env("CIFAR_RUN", tmp.join("run"))
        .env("CIFAR_OUT", tmp.join("out"))
        .env("CIFAR_DOCS", tmp.join("docs"));
    c
}

fn run_script(tmp: &Path) -> std::process::Output {
    script(tmp).output().expect("bash runs the script")
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
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["ckpt-4", "ckpt-8", "rot-0", "rot-3"], "two checkpoints picked, the family on the last");
    for metric in [
        "fd",
        "kid",
        "siem_proj",
        "siem_proj_window",
        "siem_proj_origin",
        "siem_proj_origin_window",
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
    for (name, _) in rows.iter().filter(|(n, _)| n.starts_with("ckpt-")) {
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
    assert_eq!(html.matches("data:image/png;base64,").count(), 2, "one inline grid per checkpoint");
    // the family's λ = 0 member is the last checkpoint itself: same numbers
    let cell = |name: &str, metric: &str| {
        rows.iter().find(|(n, _)| n == name).unwrap().1.iter().find(|(c, _)| c == metric).unwrap().1.clone()
    };
    for metric in ["fd", "siem_proj", "l2"] {
        assert_eq!(cell("rot-0", metric), cell("ckpt-8", metric), "{metric}");
    }
    // the rotation adds λ²|s|²-sized error on paired coordinates: the L² error grows
    let l2 = |name: &str| cell(name, "l2").parse::<f64>().unwrap();
    assert!(l2("rot-3") > 2.0 * l2("rot-0"), "l2 {} vs {}", l2("rot-3"), l2("rot-0"));
    let replicates = std::fs::read_to_string(docs.join("replicates.md")).unwrap();
    assert!(replicates.contains("seeds [0, 1]") && replicates.contains("| ckpt-8 |"), "{replicates}");
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

    // the archive: the last checkpoint in full, the earlier kept one sampling-only and smaller
    let archive = docs.join("run");
    let side = |step: u32| std::fs::read_to_string(archive.join(format!("ckpt-{step}.json"))).unwrap();
    assert!(side(4).contains("\"sampling_only\": true"), "{}", side(4));
    assert!(!side(8).contains("sampling_only"), "{}", side(8));
    let size = |step: u32| std::fs::metadata(archive.join(format!("ckpt-{step}.safetensors"))).unwrap().len();
    assert!(size(4) * 3 < size(8), "slim {} vs full {} bytes", size(4), size(8));

    // a fresh machine keeps only the committed docs folder: the run is restored from the archive
    // and every metric recomputed from it gives the same table
    std::fs::remove_dir_all(tmp.path().join("run")).unwrap();
    std::fs::remove_dir_all(tmp.path().join("out")).unwrap();
    let restored = run_script(tmp.path());
    let stderr = String::from_utf8_lossy(&restored.stderr);
    assert!(restored.status.success(), "{stderr}");
    assert!(stderr.contains("restoring the archived run"), "{stderr}");
    assert_eq!(std::fs::read(docs.join("metrics.csv")).unwrap(), before);
}

/// The stage a killed run of the script was in: its last log line (`[regenerate-cifar10 …] k/4 …`).
fn stage_of(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let last = text.lines().rfind(|l| l.starts_with("[regenerate-cifar10"));
    last.and_then(|l| l.split_once("] ")).map_or("before the first stage".into(), |(_, s)| {
        s.split_whitespace().filter(|w| !w.starts_with('/')).take(5).collect::<Vec<_>>().join(" ")
    })
}

#[test]
fn the_cifar10_script_killed_in_each_stage_ends_with_the_numbers_of_an_uninterrupted_run() {
    if scoreprobe_data::datasets::require_shared_data().is_none() {
        return;
    }
    // each trial kills the script once inside one stage (its log line has appeared), at a seeded
    // moment in the stage's first half second, then reruns it to the end
    const STAGES: &[&str] = &[
        "1/4 training (resumable)",
        "1/4 training monitor",
        "2/4 study, replicate seed 0",
        "2/4 study, replicate seed 1",
        "3/4 sample grids",
        "4/4 reports",
    ];
    let reference = tempfile::tempdir().unwrap();
    let out = run_script(reference.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let numbers = |tmp: &Path| {
        let read = |f: &str| std::fs::read_to_string(tmp.join("docs").join(f)).unwrap();
        (without_seconds_columns(&read("metrics.csv")), without_seconds_columns(&read("metrics-seed-1.csv")))
    };
    let want = numbers(reference.path());
    let mut rng = Mix(22);
    let mut rows = Vec::new();
    for (trial, stage) in STAGES.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("killed.log");
        let mut child = script(tmp.path())
            .process_group(0) // the script and the binary it runs: one group, killed together
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let reached = wait_for_line(&log, stage, &mut child);
        std::thread::sleep(Duration::from_secs_f64(0.5 * rng.unit()));
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        child.wait().unwrap();
        assert!(reached, "trial {trial}: the script ended before stage '{stage}'");
        let landed = stage_of(&log);
        let done = run_script(tmp.path());
        assert!(
            done.status.success(),
            "trial {trial} after a kill in {landed}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
        assert!(numbers(tmp.path()) == want, "trial {trial}: numbers differ after a kill in {landed}");
        rows.push(format!("| {trial} | {stage} | {landed} | identical |"));
    }
    let table = format!(
        "| trial | stage aimed at | stage of the kill (last log line) | numbers vs uninterrupted run |\n|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    eprintln!("{table}");
    if let Ok(path) = std::env::var("SCOREPROBE_SCRIPT_KILL_REPORT") {
        std::fs::write(path, &table).unwrap();
    }
}

/// Polls `log` until a line containing `needle` appears (true) or `child` exits (false).
fn wait_for_line(log: &Path, needle: &str, child: &mut std::process::Child) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(600) {
        if std::fs::read_to_string(log).unwrap_or_default().contains(needle) {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
