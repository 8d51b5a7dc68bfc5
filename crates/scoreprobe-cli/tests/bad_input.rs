//! The bad-input matrix of the command line: every subcommand that reads user input, against
//! every class of bad input. Each case must end with a non-zero exit that is not a panic (never
//! exit code 101, never "panicked at") and a message naming the input (the file or the flag).
//!
//! The matrix is written as markdown to `$SCOREPROBE_BAD_INPUT_REPORT` when set, else to
//! `<target>/tmp/bad-input-matrix-cli.md`; docs/reliability.md shows it.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Fixtures {
    dir: tempfile::TempDir,
}

impl Fixtures {
    fn new() -> Self {
        let f = Fixtures { dir: tempfile::tempdir().unwrap() };
        let pts = ndarray::Array2::from_shape_fn((40, 2), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0);
        ndarray_npy::write_npy(f.p("good.npy"), &pts).unwrap();
        let good = std::fs::read(f.p("good.npy")).unwrap();
        std::fs::write(f.p("empty.npy"), b"").unwrap();
        std::fs::write(f.p("truncated.npy"), &good[..good.len() / 2]).unwrap();
        std::fs::write(f.p("magic.npy"), b"this is not a numpy file, just text\n").unwrap();
        ndarray_npy::write_npy(f.p("vector.npy"), &ndarray::Array1::<f64>::zeros(10)).unwrap();
        ndarray_npy::write_npy(f.p("bools.npy"), &ndarray::Array2::<bool>::from_elem((4, 2), true)).unwrap();
        let mut nan = pts.clone();
        nan[[3, 1]] = f64::NAN;
        ndarray_npy::write_npy(f.p("nan.npy"), &nan).unwrap();
        let mut inf = pts.clone();
        inf[[5, 0]] = f64::INFINITY;
        ndarray_npy::write_npy(f.p("inf.npy"), &inf).unwrap();
        ndarray_npy::write_npy(f.p("three-d.npy"), &ndarray::Array2::<f64>::ones((40, 3))).unwrap();
        ndarray_npy::write_npy(f.p("no-rows.npy"), &ndarray::Array2::<f64>::zeros((0, 2))).unwrap();
        std::fs::write(f.p("empty.json"), b"").unwrap();
        std::fs::write(f.p("malformed.json"), br#"{"target": {"kind": "named", "name": "ring8""#).unwrap();
        std::fs::write(f.p("wrong-field.json"), br#"{"target": {"kind": "named", "name": "ring9"}}"#).unwrap();
        std::fs::write(f.p("magic.safetensors"), b"\xff\xff\xff\xff\xff\xff\xff\x7fnot a header").unwrap();
        std::fs::write(f.p("empty.npz"), b"").unwrap();
        std::fs::write(f.p("magic.npz"), b"PK but not really a zip archive").unwrap();
        std::fs::create_dir_all(f.p("empty-run")).unwrap();
        f
    }

    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.p(name).to_string_lossy().into_owned()
    }

    /// A trained checkpoint (20 steps on the good points) and its broken variants.
    fn checkpoints(&self) {
        let run = self.p("run");
        let o = Command::new(env!("CARGO_BIN_EXE_scoreprobe"))
            .args(["train", "--data", &self.s("good.npy"), "--steps", "4", "--batch", "16", "--quiet", "--out"])
            .arg(&run)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let bytes = std::fs::read(run.join("ckpt-4.safetensors")).unwrap();
        let side = std::fs::read(run.join("ckpt-4.json")).unwrap();
        std::fs::write(self.p("truncated.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(self.p("truncated.json"), &side).unwrap();
        std::fs::write(self.p("magic.json"), &side).unwrap();
        std::fs::write(self.p("zero-bytes.safetensors"), b"").unwrap();
        std::fs::write(self.p("zero-bytes.json"), &side).unwrap();
        std::fs::write(self.p("nosidecar.safetensors"), &bytes).unwrap();
        std::fs::write(self.p("badside.safetensors"), &bytes).unwrap();
        std::fs::write(self.p("badside.json"), b"{\"format\": ").unwrap();
    }
}

fn examples(name: &str) -> String {
    format!("{}/../../examples/specs/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// One row: the command, the class of bad input, the arguments and the text the message must
/// contain (the input's name).
struct Case {
    command: &'static str,
    class: &'static str,
    args: Vec<String>,
    names: String,
}

fn case(command: &'static str, class: &'static str, args: &[&str], names: &str) -> Case {
    let mut a = vec![command.to_string()];
    a.extend(args.iter().map(|s| s.to_string()));
    Case { command, class, args: a, names: names.to_string() }
}

fn metrics_cases(f: &Fixtures) -> Vec<Case> {
    let m = |class, b: &str, extra: &[&str], names: &str| {
        let good = f.s("good.npy");
        let mut args = vec!["--a", &good, "--b", b];
        args.extend(extra);
        case("metrics", class, &args, names)
    };
    vec![
        m("missing file", &f.s("absent.npy"), &[], "absent.npy"),
        m("empty file", &f.s("empty.npy"), &[], "empty.npy"),
        m("truncated file", &f.s("truncated.npy"), &[], "truncated.npy"),
        m("wrong magic", &f.s("magic.npy"), &[], "magic.npy"),
        m("wrong shape (1-d)", &f.s("vector.npy"), &[], "vector.npy"),
        m("wrong dtype (bool)", &f.s("bools.npy"), &[], "bools.npy"),
        m("NaN value", &f.s("nan.npy"), &[], "nan.npy"),
        m("Inf value", &f.s("inf.npy"), &["--metric", "w2"], "inf.npy"),
        m("dimension mismatch", &f.s("three-d.npy"), &[], "--b has 3"),
        m("no rows", &f.s("no-rows.npy"), &[], "no-rows.npy"),
        m("empty .npz", &f.s("empty.npz"), &[], "empty.npz"),
        m("wrong magic .npz", &f.s("magic.npz"), &[], "magic.npz"),
        m("unknown option value", &f.s("good.npy"), &["--metric", "fid-inf"], "fid-inf"),
        m("unknown features", &f.s("good.npy"), &["--features", "resnet"], "resnet"),
        m("non-positive n", &f.s("good.npy"), &["--metric", "kid", "--kid-subset-size", "0"], "subset"),
    ]
}

fn spec_cases(f: &Fixtures) -> Vec<Case> {
    let mut v = Vec::new();
    for cmd in ["sample", "exact", "siem", "hodge", "bounds"] {
        let out = f.s(&format!("{cmd}-out.npy"));
        let with_out = |args: &[&str]| {
            let mut a: Vec<&str> = args.to_vec();
            if cmd == "sample" {
                a.extend(["--out", &out]);
            }
            a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        };
        let c = |class, args: Vec<String>, names: &str| {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            case(cmd, class, &refs, names)
        };
        v.push(c("missing file", with_out(&["--spec", &f.s("absent.json")]), "absent.json"));
        v.push(c("empty file", with_out(&["--spec", &f.s("empty.json")]), "empty.json"));
        v.push(c("malformed JSON", with_out(&["--spec", &f.s("malformed.json")]), "malformed.json"));
        v.push(c("unknown field value", with_out(&["--spec", &f.s("wrong-field.json")]), "ring9"));
    }
    let spec = examples("ring8-exact.json");
    let out = f.s("sample-out.npy");
    v.push(case("sample", "non-positive n", &["--spec", &spec, "--n", "0", "--out", &out], "--n"));
    v.push(case("sample", "unknown option value", &["--spec", &spec, "--sampler", "rk9", "--out", &out], "rk9"));
    let traj = f.s("trajectory.npy");
    let window = ["--spec", &spec, "--steps", "100", "--trajectory-window", "60..50", "--trajectory-out", &traj];
    v.push(case("sample", "empty window", &[&window[..], &["--out", &out]].concat(), "60..50"));
    v.push(case("siem", "non-positive n", &["--spec", &spec, "--n", "0"], "--n"));
    v.push(case("siem", "empty window", &["--spec", &spec, "--steps", "100", "--window", "60..50"], "60..50"));
    v.push(case("siem", "unknown option value", &["--spec", &spec, "--test-fn", "cosine"], "cosine"));
    v.push(case("hodge", "non-positive n", &["--spec", &spec, "--n", "0"], "--n"));
    v.push(case("hodge", "unknown option value", &["--spec", &spec, "--estimator", "magic"], "magic"));
    v.push(case("bounds", "non-positive n", &["--spec", &spec, "--panels", "0"], "panels"));
    v.push(case("exact", "wrong model for exact", &["--spec", &spec], "ring8-exact.json"));
    v.push(case("exact", "unknown option value", &["--spec", &examples("gaussian-exact.json"), "--init", "x"], "x"));
    v
}

fn checkpoint_cases(f: &Fixtures) -> Vec<Case> {
    let mut v = Vec::new();
    let data = f.s("good.npy");
    for cmd in ["sample", "hodge", "bounds"] {
        let out = f.s(&format!("{cmd}-ck.npy"));
        for (class, file, names) in [
            ("missing file", "absent.safetensors", "absent"),
            ("empty file", "zero-bytes.safetensors", "zero-bytes.safetensors"),
            ("truncated file", "truncated.safetensors", "truncated.safetensors"),
            ("wrong magic", "magic.safetensors", "magic.safetensors"),
            ("missing sidecar", "nosidecar.safetensors", "nosidecar.json"),
            ("malformed JSON sidecar", "badside.safetensors", "badside.json"),
        ] {
            let ck = f.s(file);
            let mut args = vec!["--checkpoint", &ck];
            if cmd == "sample" {
                args.extend(["--n", "10", "--out", &out]);
            } else {
                args.extend(["--data", &data, "--n", "100"]);
            }
            v.push(case(cmd, class, &args, names));
        }
    }
    let ck = f.s("run/ckpt-4.safetensors");
    v.push(case("hodge", "dimension mismatch", &["--checkpoint", &ck, "--data", &f.s("three-d.npy")], "three-d.npy"));
    v.push(case("hodge", "NaN value", &["--checkpoint", &ck, "--data", &f.s("nan.npy")], "nan.npy"));
    v.push(case("bounds", "dimension mismatch", &["--checkpoint", &ck, "--data", &f.s("three-d.npy")], "three-d.npy"));
    v
}

fn train_and_study_cases(f: &Fixtures) -> Vec<Case> {
    let out = f.s("train-out");
    let t = |class, data: &str, extra: &[&str], names: &str| {
        let mut args = vec!["--data", data, "--steps", "2", "--quiet", "--out", &out];
        args.extend(extra);
        case("train", class, &args, names)
    };
    let study_out = f.s("study-out");
    let s = |class, extra: &[&str], names: &str| {
        let mut args = vec!["--quiet", "--out", &study_out];
        args.extend(extra);
        if !extra.contains(&"--reference") {
            args.extend(["--reference", "ring8"]);
        }
        case("study", class, &args, names)
    };
    let models = f.s("malformed.json");
    vec![
        t("missing file", &f.s("absent.npy"), &[], "absent.npy"),
        t("empty file", &f.s("empty.npy"), &[], "empty.npy"),
        t("truncated file", &f.s("truncated.npy"), &[], "truncated.npy"),
        t("wrong magic", &f.s("magic.npy"), &[], "magic.npy"),
        t("NaN value", &f.s("nan.npy"), &[], "nan.npy"),
        t("no rows", &f.s("no-rows.npy"), &[], "no-rows.npy"),
        t("unknown option value", "ring8", &["--model", "transformer"], "transformer"),
        t("unknown data set", "ring9", &[], "ring9"),
        t("non-positive n", "ring8", &["--batch", "0"], "batch"),
        t("unknown option value", "ring8", &["--monitor", "fid", "--monitor-every", "1"], "fid"),
        t(
            "non-positive n",
            "ring8",
            &["--monitor", "siem-projection", "--monitor-every", "1", "--monitor-n", "2"],
            "--monitor-n",
        ),
        t(
            "bad window",
            "ring8",
            &["--monitor", "siem-projection", "--monitor-every", "1", "--monitor-window", "900..2000"],
            "--monitor-window",
        ),
        t("missing option", "ring8", &["--monitor", "siem-projection"], "--monitor-every"),
        case("monitor", "empty run folder", &["--run", &f.s("empty-run")], "empty-run"),
        case("monitor", "missing folder", &["--run", &f.s("absent-run")], "absent-run"),
        case("monitor", "non-positive n", &["--run", &f.s("run"), "--n", "2"], "--n"),
        s("empty run folder", &["--run", &f.s("empty-run")], "empty-run"),
        s("missing folder", &["--run", &f.s("absent-run")], "absent-run"),
        s("malformed JSON", &["--models", &models], "malformed.json"),
        s("unknown option value", &["--models", &examples("ring8-exact.json"), "--metrics", "w3"], "w3"),
        s("non-positive n", &["--run", &f.s("run"), "--n", "0"], "n = 0"),
        s("unknown reference", &["--run", &f.s("run"), "--reference", "ring9"], "ring9"),
    ]
}

/// The first line of the message, shortened for the table, with the fixtures' folder and the
/// repository shown as `$TMP` and `.`.
fn first_line(err: &str, fixtures: &Path) -> String {
    let line = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().replace('|', "\\|");
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    let line = line.replace(fixtures.to_str().unwrap(), "$TMP").replace(repo, "");
    if line.chars().count() > 140 {
        line.chars().take(137).collect::<String>() + "..."
    } else {
        line
    }
}

#[test]
fn every_subcommand_refuses_every_class_of_bad_input_without_a_panic() {
    let f = Fixtures::new();
    f.checkpoints();
    let cases: Vec<Case> = [metrics_cases(&f), spec_cases(&f), checkpoint_cases(&f), train_and_study_cases(&f)]
        .into_iter()
        .flatten()
        .collect();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for c in &cases {
        let o = Command::new(env!("CARGO_BIN_EXE_scoreprobe")).args(&c.args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let code = o.status.code().unwrap_or(-1);
        let mut problems = Vec::new();
        if o.status.success() {
            problems.push("succeeded");
        }
        if code == 101 || err.contains("panicked at") {
            problems.push("PANIC");
        }
        if !err.contains(&c.names) {
            problems.push("message does not name the input");
        }
        let verdict = if problems.is_empty() { "ok".to_string() } else { problems.join(", ") };
        if !problems.is_empty() {
            failures.push(format!("{} [{}] {:?}: {verdict}\n{err}", c.command, c.class, c.args));
        }
        rows.push(format!(
            "| `{}` | {} | {code} | {} | {verdict} |",
            c.command,
            c.class,
            first_line(&err, f.dir.path())
        ));
    }
    let table = format!(
        "| command | bad input | exit | message (first line) | verdict |\n|---|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    let path = std::env::var("SCOREPROBE_BAD_INPUT_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad-input-matrix-cli.md"));
    std::fs::write(&path, &table).unwrap();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
