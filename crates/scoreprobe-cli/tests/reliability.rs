//! Reliability of what `scoreprobe` writes, with the binary as a user runs it.
//!
//! * Same seed, same bytes: two uninterrupted runs write byte-identical tensor, `.npy` and `.npz`
//!   files, and JSON files that differ only in the fields that record measured wall time
//!   (`seconds`, `wall_seconds`, ...).
//! * Kill and resume: `scoreprobe train` killed with SIGKILL at seeded pseudo-random moments (some
//!   during a checkpoint write) and resumed with `--resume` ends with the bytes of an
//!   uninterrupted run. The trials are written as markdown to `$SCOREPROBE_KILL_REPORT` when set
//!   (docs/reliability.md shows them).
//! * The same for `scoreprobe study`, killed mid-model and rerun: the same numbers as an
//!   uninterrupted study (`$SCOREPROBE_STUDY_KILL_REPORT`).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_same_seed_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let run = |k: &str| dir.path().join(k);
    for k in ["a", "b"] {
        ok(train(&run(k).join("train"), false).output().unwrap());
        let npy = run(k).join("samples.npy");
        let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/specs/ring8-exact.json");
        ok(bin()
            .args(["sample", "--spec", spec.to_str().unwrap(), "--n", "200", "--steps", "20", "--seed", "5", "--out"])
            .arg(&npy)
            .output()
            .unwrap());
        let study = run(k).join("study");
        ok(bin()
            .args(["study", "--run"])
            .arg(run(k).join("train"))
            .args(["--reference", "ring8", "--metrics", "w2,fd", "--n", "100", "--steps", "20", "--quiet", "--out"])
            .arg(&study)
            .output()
            .unwrap());
    }
    // the checkpoints' tensor files: identical bytes (the header's keys used to come out in a
    // per-process random order)
    assert_same_files(&run("a").join("train"), &run("b").join("train"), "");
    assert_same_files(&run("a"), &run("b"), "samples.npy");
    // the study records each checkpoint's path: compared relative to the run folders
    for only in ["cache", "metrics.json"] {
        assert_same_files_in(&run("a").join("study"), &run("b").join("study"), only, &run("a"), &run("b"));
    }
}

/// Where a kill landed, read from what it left in the run folder.
fn landed(dir: &Path, finished: bool) -> &'static str {
    let names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let torn = names.iter().any(|n| n.ends_with(".tmp"));
    let unpaired = names.iter().filter(|n| n.ends_with(".safetensors")).any(|n| {
        let side = n.trim_end_matches(".safetensors").to_string() + ".json";
        !names.contains(&side)
    });
    match () {
        _ if finished => "after the run finished",
        _ if torn => "during a checkpoint write (temporary file left)",
        _ if unpaired => "between a tensor file and its sidecar",
        _ if !names.iter().any(|n| n.ends_with(".json")) => "before the first checkpoint",
        _ => "between checkpoints",
    }
}

/// Clears the temporaries of the previous kill so that each kill's landing is read on its own.
fn clear_temporaries(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tmp") {
            std::fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn training_killed_at_random_moments_resumes_to_the_bytes_of_an_uninterrupted_run() {
    const TRIALS: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let t0 = Instant::now();
    ok(train(&reference, false).output().unwrap());
    // kills are spread over a little more than one uninterrupted run (process start included)
    let span = t0.elapsed().as_secs_f64() * 1.2;
    let want = files_of(&reference);
    let mut rng = Mix(27);
    let mut rows = Vec::new();
    for trial in 0..TRIALS {
        let out: PathBuf = dir.path().join(format!("trial-{trial}"));
        let kills = 1 + (rng.next() % 3) as usize;
        let mut where_ = Vec::new();
        for _ in 0..kills {
            clear_temporaries(&out);
            let mut child = train(&out, true).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
            std::thread::sleep(Duration::from_secs_f64(rng.unit() * span));
            let finished = child.try_wait().unwrap().is_some_and(|s| s.success());
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            where_.push(landed(&out, finished));
        }
        ok(train(&out, true).output().unwrap());
        let got = files_of(&out);
        let last = format!("ckpt-{STEPS}.safetensors");
        assert!(got[&last] == want[&last], "trial {trial}: the final checkpoint differs after kills {where_:?}");
        assert_same_files(&reference, &out, "");
        rows.push(format!("| {trial} | {kills} | {} | identical |", where_.join("; ")));
    }
    let table = format!(
        "| trial | kills | where each kill landed | final checkpoint vs uninterrupted run |\n|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    eprintln!("{table}");
    if let Ok(path) = std::env::var("SCOREPROBE_KILL_REPORT") {
        std::fs::write(path, &table).unwrap();
    }
}

/// A small study of the tiny run: six checkpoints, three metrics, a few seconds in a debug build.
const STUDY_MODELS: usize = 6;

fn study(run: &Path, out: &Path) -> Command {
    let mut c = bin();
    c.args(["study", "--run"]).arg(run);
    c.args(["--reference", "ring8", "--metrics", "w2,fd,siem_proj", "--n", "200", "--steps", "50"]);
    c.args(["--pick", &STUDY_MODELS.to_string(), "--quiet", "--out"]).arg(out);
    c
}

/// Where a kill of the study landed: how many models it had finished (their cache records).
fn study_landed(out: &Path, finished: bool) -> String {
    let done = std::fs::read_dir(out.join("cache"))
        .map(|r| r.filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))).count())
        .unwrap_or(0);
    match () {
        _ if finished => "after the study finished".into(),
        _ if done == STUDY_MODELS => "after the last model, while writing the report".into(),
        _ => format!("during model {} of {STUDY_MODELS}", done + 1),
    }
}

#[test]
fn a_study_killed_at_random_moments_resumes_to_the_numbers_of_an_uninterrupted_one() {
    const TRIALS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    ok(train(&run, false).output().unwrap());
    let reference = dir.path().join("reference");
    let t0 = Instant::now();
    ok(study(&run, &reference).output().unwrap());
    let span = t0.elapsed().as_secs_f64() * 1.2;
    let mut rng = Mix(31);
    let mut rows = Vec::new();
    for trial in 0..TRIALS {
        let out = dir.path().join(format!("study-{trial}"));
        let kills = 1 + (rng.next() % 3) as usize;
        let mut where_ = Vec::new();
        for _ in 0..kills {
            let mut child = study(&run, &out).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
            std::thread::sleep(Duration::from_secs_f64(rng.unit() * span));
            let finished = child.try_wait().unwrap().is_some_and(|s| s.success());
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            where_.push(study_landed(&out, finished));
        }
        ok(study(&run, &out).output().unwrap());
        // the per-model records, the table of numbers and the JSON report: as uninterrupted
        for only in ["cache", "metrics.json", "correlations.json"] {
            assert_same_files_in(&reference, &out, only, dir.path(), dir.path());
        }
        let csv = |d: &Path| without_seconds_columns(&std::fs::read_to_string(d.join("metrics.csv")).unwrap());
        assert_eq!(csv(&reference), csv(&out), "trial {trial}: metrics.csv differs after kills {where_:?}");
        rows.push(format!("| {trial} | {kills} | {} | identical |", where_.join("; ")));
    }
    let table = format!(
        "| trial | kills | where each kill landed | numbers vs uninterrupted study |\n|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    eprintln!("{table}");
    if let Ok(path) = std::env::var("SCOREPROBE_STUDY_KILL_REPORT") {
        std::fs::write(path, &table).unwrap();
    }
}
