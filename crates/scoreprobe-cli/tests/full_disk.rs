//! A full disk (issue 27, item 3): `train`, `sample` and `study` writing into a small tmpfs that
//! fills up stop with a clear error naming the file (no panic), and leave no truncated file where
//! the next run would read it; once space is freed the next run ends where an undisturbed run
//! ends. Mounting needs root: where it is impossible each test says so and is skipped.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tmpfs of `kib` KiB mounted on a fresh temporary folder, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(kib: u64) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let size = format!("size={kib}k");
        let st = Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(dir.path()).output();
        match st {
            Ok(o) if o.status.success() => Some(Self { dir }),
            Ok(o) => skip(&String::from_utf8_lossy(&o.stderr)),
            Err(e) => skip(&e.to_string()),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Frees space the way a user would: a bigger disk under the same path.
    fn grow(&self, kib: u64) {
        let size = format!("remount,size={kib}k");
        let st = Command::new("mount").args(["-o", &size]).arg(self.path()).status().unwrap();
        assert!(st.success(), "remount of {} failed", self.path().display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn skip(why: &str) -> Option<Tmpfs> {
    eprintln!("skipped: cannot mount a small tmpfs here (needs root): {}", why.trim());
    None
}

/// A failure the user can act on: non-zero exit, no panic, the disk's own words and the file.
fn assert_disk_full_error(o: &Output, names: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "succeeded on a full disk");
    assert_ne!(o.status.code(), Some(101), "panicked: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("No space left on device"), "no disk-full message: {err}");
    assert!(err.contains(names), "the message does not name {names}: {err}");
}

/// Every file under `dir` (recursively) with its name.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// No temporary file survives a failed write (they would fill the disk for the next run).
fn assert_no_temporaries(dir: &Path) {
    let tmp: Vec<_> = all_files(dir).into_iter().filter(|p| p.extension().is_some_and(|x| x == "tmp")).collect();
    assert!(tmp.is_empty(), "temporary files left behind: {tmp:?}");
}

#[test]
fn training_on_a_full_disk_stops_cleanly_and_resumes_to_the_bytes_of_an_undisturbed_run() {
    // a checkpoint of the tiny MLP is ~1.5 MB: 6 MiB holds a few of the run's 30
    let Some(disk) = Tmpfs::mount(6 * 1024) else { return };
    let reference = tempfile::tempdir().unwrap();
    ok(train(reference.path(), false).output().unwrap());
    let out = disk.path().join("run");
    let o = train(&out, false).output().unwrap();
    assert_disk_full_error(&o, "ckpt-");
    assert_no_temporaries(&out);
    // what is there is whole: every tensor file has its sidecar and equals the undisturbed run's
    let want = files_of(reference.path());
    let got = files_of(&out);
    assert!(got.len() >= 2, "not even one checkpoint fitted: {:?}", got.keys());
    for (name, bytes) in &got {
        if name.ends_with(".safetensors") {
            assert!(got.contains_key(&name.replace(".safetensors", ".json")), "{name} without its sidecar");
            assert!(*bytes == want[name], "{name} is not the undisturbed run's");
        }
    }
    disk.grow(64 * 1024);
    ok(train(&out, true).output().unwrap());
    assert_same_files(reference.path(), &out, "");
}

#[test]
fn sampling_onto_a_full_disk_leaves_no_file_behind() {
    let Some(disk) = Tmpfs::mount(16) else { return };
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/specs/ring8-exact.json");
    let npy = disk.path().join("samples.npy");
    // 4000 × 2 float64 values: 64 kB, four times the disk
    let o = bin()
        .args(["sample", "--spec", spec.to_str().unwrap(), "--n", "4000", "--steps", "10", "--out"])
        .arg(&npy)
        .output()
        .unwrap();
    assert_disk_full_error(&o, "samples.npy");
    assert!(all_files(disk.path()).is_empty(), "left behind: {:?}", all_files(disk.path()));
}

#[test]
fn a_study_on_a_full_disk_leaves_only_whole_records_and_reruns_to_the_same_numbers() {
    let run = tempfile::tempdir().unwrap();
    ok(train(run.path(), false).output().unwrap());
    let study = |out: &Path| {
        let mut c = bin();
        c.args(["study", "--run"]).arg(run.path());
        c.args(["--reference", "ring8", "--metrics", "w2,fd", "--n", "100", "--steps", "20", "--pick", "4"]);
        c.args(["--quiet", "--out"]).arg(out);
        c
    };
    let reference = tempfile::tempdir().unwrap();
    ok(study(reference.path()).output().unwrap());
    // the records fit in 64 KiB, the figures and the report (~1 MB) do not
    let Some(disk) = Tmpfs::mount(64) else { return };
    let out = disk.path().join("study");
    let o = study(&out).output().unwrap();
    assert_disk_full_error(&o, &out.display().to_string());
    assert_no_temporaries(&out);
    for p in all_files(&out).into_iter().filter(|p| p.extension().is_some_and(|x| x == "json")) {
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{} is torn", p.display());
    }
    disk.grow(16 * 1024);
    ok(study(&out).output().unwrap());
    for only in ["cache", "metrics.json"] {
        assert_same_files_in(reference.path(), &out, only, run.path(), run.path());
    }
}
