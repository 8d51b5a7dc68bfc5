//! Helpers shared by the CLI's reliability tests: the binary as a user runs it, a tiny seeded
//! training run, and folder comparisons that ignore measured wall time.
#![allow(dead_code)] // each test crate uses its own subset

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scoreprobe"))
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn ok(o: Output) -> Output {
    assert!(o.status.success(), "command failed ({}): {}", o.status, stderr(&o));
    o
}

/// A tiny training run: the default MLP on ring8, a checkpoint every other step so that many
/// kills land in or near a checkpoint write.
pub const STEPS: u64 = 60;

pub fn train(out: &Path, resume: bool) -> Command {
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
pub fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
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
pub fn timeless(bytes: &[u8], root: &Path) -> serde_json::Value {
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
pub fn assert_same_files_in(a: &Path, b: &Path, only: &str, root_a: &Path, root_b: &Path) {
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

pub fn assert_same_files(a: &Path, b: &Path, only: &str) {
    assert_same_files_in(a, b, only, a, b);
}

/// splitmix64: the kill schedule's seeded pseudo-random stream.
pub struct Mix(pub u64);

impl Mix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// metrics.csv without its `*_seconds` columns (measured wall time).
pub fn without_seconds_columns(csv: &str) -> Vec<Vec<String>> {
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let keep: Vec<usize> = (0..rows[0].len()).filter(|&j| !rows[0][j].ends_with("_seconds")).collect();
    rows.iter().map(|r| keep.iter().map(|&j| r[j].to_string()).collect()).collect()
}
