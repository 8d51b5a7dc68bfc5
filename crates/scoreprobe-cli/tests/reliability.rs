//! Reliability of what `scoreprobe` writes, with the binary as a user runs it.
//!
//! * Same seed, same bytes: two uninterrupted runs write byte-identical tensor, `.npy` and `.npz`
//!   files, and JSON files that differ only in the fields that record measured wall time
//!   (`seconds`, `wall_seconds`, ...).
//! * Kill and resume: `scoreprobe train` killed with SIGKILL at seeded pseudo-random moments (some
//!   during a checkpoint write) and resumed with `--resume` ends with the bytes of an
//!   uninterrupted run. The trials are written as markdown to `$SCOREPROBE_KILL_REPORT` when set
//!   (docs/reliability.md shows them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scoreprobe"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "command failed ({}): {}", o.status, stderr(&o));
    o
}

/// A tiny training run: the default MLP on ring8, a checkpoint every other step so that many
/// kills land in or near a checkpoint write.
const STEPS: u64 = 60;

fn train(out: &Path, resume: bool) -> Command {
    let mut c = bin();
    let steps = STEPS.to_string();
    c.args(["train", "--data", "ring8", "--model", "mlp", "--steps", &steps, "--batch", "32"]);
    c.args(["--checkpoint-every", "2", "--seed", "3", "--quiet", "--out"]).arg(out);
    if resume {
        c.arg("--resume");
    }
    c
}

/// Every file under `dir` by relative path, temporaries of interrupted writes excluded.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.extension().is_none_or(|x| x != "tmp") {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A JSON document with every field that records measured wall time removed, and the run's own
/// folder `root` (recorded in paths) replaced by a placeholder.
fn timeless(bytes: &[u8], root: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| !k.ends_with("seconds"));
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(bytes).replace(root.to_str().unwrap(), "$RUN");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("a JSON file");
    strip(&mut v);
    v
}

/// Asserts two folders hold the same files: binary ones byte for byte, JSON ones up to the
/// measured times. `only` restricts the comparison to paths with that prefix; paths inside JSON
/// files are compared relative to the run folders `root_a` and `root_b`.
fn assert_same_files_in(a: &Path, b: &Path, only: &str, root_a: &Path, root_b: &Path) {
    let (fa, fb) = (files_of(a), files_of(b));
    let pick = |f: &BTreeMap<String, Vec<u8>>| f.keys().filter(|k| k.starts_with(only)).cloned().collect::<Vec<_>>();
    assert_eq!(pick(&fa), pick(&fb), "different file lists in {} and {}", a.display(), b.display());
    assert!(!pick(&fa).is_empty(), "no files under {only} in {}", a.display());
    for name in pick(&fa) {
        let (x, y) = (&fa[&name], &fb[&name]);
        if name.ends_with(".json") {
            let same = timeless(x, root_a) == timeless(y, root_b);
            assert!(same, "{name} differs beyond its measured times and run folders");
        } else {
            assert!(x == y, "{name} differs between {} and {}", a.display(), b.display());
        }
    }
}

fn assert_same_files(a: &Path, b: &Path, only: &str) {
    assert_same_files_in(a, b, only, a, b);
}

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

/// splitmix64: the kill schedule's seeded pseudo-random stream.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
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
