//! Sharded runs (`--shard I/K --state-out PATH`) and `scoreprobe merge` (siem's projection form,
//! hodge and bounds with the critic, FD, the point-set metrics): for K = 1, 2, 4 and 7 shards the merge prints what the unsharded
//! run prints (numbers to 1e-12 relative, wall time
//! aside); mismatched, missing, duplicated and corrupt states are refused with the file named.

mod common;

use common::{bin, ok, stderr};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/specs/gaussian-affine.json");
const SIEM: [&str; 10] =
    ["--form", "projection", "--n", "40", "--steps", "100", "--window", "80..99", "--centers", "3"];

/// `a` and `b` agree: equal text, equal integers and booleans, numbers to `rel` relative (absolute
/// below 1e-300); `seconds` (wall time) is not compared.
fn close(a: &Value, b: &Value, rel: f64, at: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.keys().ne(y.keys()) {
                return Err(format!(
                    "{at}: keys {:?} vs {:?}",
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>()
                ));
            }
            x.iter().filter(|(k, _)| *k != "seconds").try_for_each(|(k, v)| close(v, &y[k], rel, &format!("{at}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().try_for_each(|(i, (u, v))| close(u, v, rel, &format!("{at}[{i}]")))
        }
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (u, v) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            let ok = (u - v).abs() <= rel * u.abs().max(v.abs()) || (u - v).abs() < 1e-300;
            ok.then_some(()).ok_or_else(|| format!("{at}: {u} vs {v}"))
        }
        _ => (a == b).then_some(()).ok_or_else(|| format!("{at}: {a} vs {b}")),
    }
}

fn json(o: Output) -> Value {
    serde_json::from_slice(&ok(o).stdout).unwrap()
}

fn merge(states: &[PathBuf], as_json: bool) -> Output {
    let mut c = bin();
    c.arg("merge").args(states);
    if as_json {
        c.arg("--json");
    }
    c.output().unwrap()
}

/// Runs `args` as K shards into `dir`, returns the state files.
fn shards(args: &[&str], k: usize, dir: &Path, tag: &str) -> Vec<PathBuf> {
    (0..k)
        .map(|i| {
            let path = dir.join(format!("{tag}-{i}-of-{k}.json"));
            ok(bin().args(args).args(["--shard", &format!("{i}/{k}"), "--state-out"]).arg(&path).output().unwrap());
            path
        })
        .collect()
}

/// The text output without its wall time (`…, 0.02 s`).
fn text_without_time(o: Output) -> String {
    let text = String::from_utf8(ok(o).stdout).unwrap();
    text.lines().map(|l| l.rsplit_once("), ").map_or(l, |(head, _)| head)).collect::<Vec<_>>().join("\n")
}

#[test]
fn siem_projection_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&str> = ["siem", "--spec", SPEC].iter().chain(&SIEM).copied().collect();
    let whole = json(bin().args(&args).arg("--json").output().unwrap());
    let whole_text = text_without_time(bin().args(&args).output().unwrap());
    assert!(whole["siem"].as_f64().unwrap().abs() > 0.0);
    for k in [1, 2, 4, 7] {
        let states = shards(&args, k, dir.path(), "siem");
        let merged = json(merge(&states, true));
        close(&whole, &merged, 1e-12, "siem").unwrap_or_else(|e| panic!("K = {k}: {e}"));
        // the per-time sums are not re-added: SIEM and its standard error are bit-equal
        assert_eq!(
            (&whole["siem"], &whole["siem_se"], &whole["profile"]),
            (&merged["siem"], &merged["siem_se"], &merged["profile"])
        );
        assert_eq!(text_without_time(merge(&states, false)), whole_text, "K = {k}");
    }
    // the check fails on a merge that lost a shard's times
    let states = shards(&args, 2, dir.path(), "half");
    let half: Value = serde_json::from_slice(&std::fs::read(&states[0]).unwrap()).unwrap();
    assert_eq!(half["units"], 20);
    assert!(close(&whole, &half["payload"]["report"], 1e-12, "half").is_err());
}

#[test]
fn hodge_critic_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["hodge", "--spec", SPEC, "--estimator", "critic", "--critic-steps", "20", "--n", "128", "--n-times", "7"];
    let whole = json(bin().args(args).arg("--json").output().unwrap());
    assert!(whole["gradient"].as_array().unwrap().iter().all(|g| g.as_f64().unwrap() > 0.0));
    for k in [1, 2, 4, 7] {
        let merged = json(merge(&shards(&args, k, dir.path(), "hodge"), true));
        close(&whole, &merged, 1e-12, "hodge").unwrap_or_else(|e| panic!("K = {k}: {e}"));
        // every time is estimated whole by one shard: the points are bit-equal
        assert_eq!((&whole["gradient"], &whole["l2_se"]), (&merged["gradient"], &merged["l2_se"]));
    }
    // another seed's shard is refused, naming the option
    let mut states = shards(&args, 2, dir.path(), "hodge");
    let other: Vec<&str> = args.iter().copied().chain(["--seed", "3"]).collect();
    states[0] = shards(&other, 2, dir.path(), "seed3").remove(0);
    let e = stderr(&merge(&states, false));
    assert!(e.contains("states differ in seed:") && e.contains("seed3-0-of-2.json"), "{e}");
}

#[test]
fn bounds_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["bounds", "--spec", SPEC, "--estimator", "critic", "--critic-steps", "20", "--n", "128", "--panels", "8"];
    let whole = json(bin().args(args).arg("--json").output().unwrap());
    assert!(whole["girsanov"].as_f64().unwrap() > whole["exact_kl"].as_f64().unwrap());
    for k in [1, 2, 4, 7] {
        let merged = json(merge(&shards(&args, k, dir.path(), "bounds"), true));
        close(&whole, &merged, 1e-12, "bounds").unwrap_or_else(|e| panic!("K = {k}: {e}"));
        assert_eq!((&whole["girsanov"], &whole["marginal_se"]), (&merged["girsanov"], &merged["marginal_se"]));
    }
}

fn points(dir: &Path) -> (PathBuf, PathBuf) {
    use ndarray_npy::write_npy;
    let a = ndarray::Array2::from_shape_fn((203, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 3.0 + (i as f64).sin());
    let b = ndarray::Array2::from_shape_fn((151, 4), |(i, j)| {
        ((i * 5 + j) % 13) as f64 / 4.0 + (j as f64 * i as f64).cos()
    });
    let (pa, pb) = (dir.join("a.npy"), dir.join("b.npy"));
    write_npy(&pa, &a).unwrap();
    write_npy(&pb, &b).unwrap();
    (pa, pb)
}

#[test]
fn fd_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = points(dir.path());
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let args = ["metrics", "--a", a, "--b", b, "--metric", "fd", "--n", "180"];
    let whole = json(bin().args(args).arg("--json").output().unwrap());
    assert!(whole["fd"].as_f64().unwrap() > 0.1 && whole["n_a"] == 180 && whole["n_b"] == 151);
    for k in [1, 2, 4, 7] {
        let merged = json(merge(&shards(&args, k, dir.path(), "fd"), true));
        close(&whole, &merged, 1e-12, "metrics").unwrap_or_else(|e| panic!("K = {k}: {e}"));
    }
    // a shard of another subsample does not merge
    let mut states = shards(&args, 2, dir.path(), "fd");
    let other = ["metrics", "--a", a, "--b", b, "--metric", "fd", "--n", "100"];
    states[1] = shards(&other, 2, dir.path(), "other").remove(1);
    let e = stderr(&merge(&states, false));
    assert!(e.contains("states differ in n:") && e.contains("other-1-of-2.json"), "{e}");
}

#[test]
fn point_set_metrics_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = points(dir.path());
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let args = ["metrics", "--a", a, "--b", b, "--metric", "fd,kid,w2,w2-sliced,bures,prdc", "--n", "150"];
    let args: Vec<&str> =
        args.iter().chain(&["--kid-subsets", "7", "--kid-subset-size", "60", "--seed", "3"]).copied().collect();
    let whole = json(bin().args(&args).arg("--json").output().unwrap());
    assert!(whole["kid"]["se"].as_f64().unwrap() > 0.0 && whole["w2"].as_f64().unwrap() > 0.1);
    let whole_text = String::from_utf8(ok(bin().args(&args).output().unwrap()).stdout).unwrap();
    for k in [1, 2, 4, 7] {
        let states = shards(&args, k, dir.path(), "points");
        // the metric runs once on the gathered rows: the same bits, not only 1e-12
        assert_eq!(whole, json(merge(&states, true)), "K = {k}");
        assert_eq!(whole_text, String::from_utf8(ok(merge(&states, false)).stdout).unwrap(), "K = {k}");
    }
    // a shard of another KID setting does not merge
    let mut states = shards(&args, 2, dir.path(), "points");
    let other: Vec<&str> = args.iter().map(|&x| if x == "7" { "8" } else { x }).collect();
    states[1] = shards(&other, 2, dir.path(), "other").remove(1);
    let e = stderr(&merge(&states, false));
    assert!(e.contains("states differ in options") && e.contains("other-1-of-2.json"), "{e}");
}

#[test]
fn quadratic_family_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["siem", "--spec", SPEC, "--form", "projection", "--test-fn", "quadratic"];
    let args: Vec<&str> = args.iter().chain(&SIEM[2..8]).copied().collect();
    let whole = json(bin().args(&args).arg("--json").output().unwrap());
    assert!(whole["quadratic"]["cov_part"].as_f64().unwrap() > 0.0);
    for k in [1, 2, 4, 7] {
        let merged = json(merge(&shards(&args, k, dir.path(), "quad"), true));
        close(&whole, &merged, 1e-12, "quadratic").unwrap_or_else(|e| panic!("K = {k}: {e}"));
        assert_eq!(whole["profile"], merged["profile"], "K = {k}");
    }
}

#[test]
fn missing_duplicated_mismatched_and_corrupt_states_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<&str> = ["siem", "--spec", SPEC].iter().chain(&SIEM).copied().collect();
    let states = shards(&args, 4, dir.path(), "s");
    let refused = |paths: Vec<PathBuf>| {
        let o = merge(&paths, true);
        assert!(!o.status.success() && o.stdout.is_empty());
        let e = stderr(&o);
        assert!(!e.contains("panicked"), "{e}");
        e
    };
    let e = refused(vec![states[0].clone(), states[1].clone(), states[3].clone()]);
    assert!(e.contains("missing shard 2 of 4"), "{e}");
    let e =
        refused(vec![states[0].clone(), states[1].clone(), states[1].clone(), states[2].clone(), states[3].clone()]);
    assert!(e.contains("shard 1/4 is given twice"), "{e}");
    let mut other: Vec<&str> = args.clone();
    other.extend(["--test-seed", "5"]);
    let e = refused(vec![
        states[0].clone(),
        shards(&other, 4, dir.path(), "t").remove(1),
        states[2].clone(),
        states[3].clone(),
    ]);
    assert!(e.contains("states differ in test_functions") || e.contains("states differ in test_seed"), "{e}");
    assert!(e.contains("t-1-of-4.json"), "{e}");
    let text = std::fs::read(&states[2]).unwrap();
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &text[..text.len() - 40]).unwrap();
    let e = refused(vec![states[0].clone(), states[1].clone(), cut, states[3].clone()]);
    assert!(e.contains("cut.json: truncated or corrupt"), "{e}");
    let e = refused(vec![states[0].clone(), dir.path().join("absent.json")]);
    assert!(e.contains("absent.json: cannot read"), "{e}");
}

#[test]
fn bad_shards_are_named() {
    for (shard, why) in [("5/4", "out of range"), ("0/0", "at least 1"), ("x/2", "index 'x'"), ("2", "expected I/K")] {
        let o = bin()
            .args(["metrics", "--a", "a.npy", "--b", "b.npy", "--shard", shard, "--state-out", "s.json"])
            .output()
            .unwrap();
        let e = stderr(&o);
        assert!(!o.status.success() && e.contains(&format!("shard '{shard}'")) && e.contains(why), "{shard}: {e}");
    }
    let o = bin().args(["siem", "--spec", SPEC, "--shard", "1/2"]).output().unwrap();
    assert!(stderr(&o).contains("--state-out"), "{}", stderr(&o));
    // a particle-form shard needs at least one trajectory
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.json");
    let o = bin()
        .args(["siem", "--spec", SPEC, "--form", "particle", "--n", "3", "--steps", "20", "--window", "15..19"])
        .args(["--shard", "0/4", "--state-out"])
        .arg(&state)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("--shard") && e.contains("at least one"), "{e}");
    assert!(!state.exists());
}

/// The report of a `sample` run without what names its own files or times it.
fn sample_report(o: Output) -> Value {
    let mut v = json(o);
    for key in ["out", "seconds"] {
        v.as_object_mut().unwrap().remove(key);
    }
    if let Some(t) = v["trajectory"].as_object_mut() {
        t.remove("path");
    }
    v
}

#[test]
fn sample_shards_merge_to_the_single_run_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (sampler, init) in [("em", "prior"), ("ancestral", "marginal"), ("ode-heun", "prior")] {
        let args = |out: &Path, traj: &Path| -> Vec<String> {
            let mut v: Vec<String> = ["sample", "--spec", SPEC, "--n", "23", "--steps", "40", "--seed", "5"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            v.extend(["--sampler", sampler, "--init", init, "--trajectory-window", "30..39"].map(String::from));
            v.extend([
                "--out".into(),
                out.display().to_string(),
                "--trajectory-out".into(),
                traj.display().to_string(),
            ]);
            v
        };
        let (out, traj) = (d.join(format!("{sampler}.npy")), d.join(format!("{sampler}-traj.npy")));
        let whole = sample_report(bin().args(args(&out, &traj)).output().unwrap());
        for k in [1, 2, 4, 7] {
            let (m_out, m_traj) = (d.join(format!("{sampler}-{k}.npy")), d.join(format!("{sampler}-{k}-traj.npy")));
            let a = args(&m_out, &m_traj);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let states = shards(&a, k, d, &format!("sample-{sampler}"));
            // a shard of several writes its state, not --out (the merge does)
            assert_eq!(m_out.exists(), k == 1);
            let merged = sample_report(merge(&states, false));
            assert_eq!(whole, merged, "{sampler}, K = {k}");
            assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&m_out).unwrap(), "{sampler}, K = {k}: samples");
            assert_eq!(
                std::fs::read(&traj).unwrap(),
                std::fs::read(&m_traj).unwrap(),
                "{sampler}, K = {k}: trajectory"
            );
        }
    }
}

/// The particle form's report without what the shards measure on their own (wall times).
fn particle_report(o: Output) -> Value {
    let mut v = json(o);
    v.as_object_mut().unwrap().remove("seconds");
    if let Some(s) = v["source"].as_object_mut() {
        s.remove("train_seconds");
    }
    v
}

#[test]
fn siem_particle_shards_merge_to_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["siem", "--spec", SPEC, "--form", "particle", "--n", "23", "--steps", "60", "--window", "45..59"];
    let critic = ["--error-field", "critic", "--seed", "2"];
    // three bands (55..59, 50..54, 45..49), each band's critic in full blocks
    let bands = ["--error-field", "critic", "--seed", "2", "--critic-band-steps", "5"];
    // the classifier's floor is integrated from each part's floor projections
    let classifier = ["--error-field", "classifier", "--classifier-steps", "20", "--seed", "2"];
    for (field, extra) in [
        ("oracle", &[][..]),
        ("oracle-8", &["--centers", "8"][..]),
        ("critic", &critic[..]),
        ("critic-bands", &bands[..]),
        ("classifier", &classifier[..]),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let whole = particle_report(bin().args(&args).arg("--json").output().unwrap());
        assert!(whole["siem"].as_f64().unwrap() > 0.0, "{field}: {whole}");
        match field {
            "critic-bands" => assert_eq!(whole["bands"].as_array().map(Vec::len), Some(3), "{whole}"),
            "classifier" => assert!(whole["floor"]["siem"].as_f64().is_some(), "{whole}"),
            _ => {}
        }
        let whole_text = text_without_time(bin().args(&args).output().unwrap());
        // (every shard fits the bands or the classifier and its floor again: two shards for them)
        let ks: &[usize] = if matches!(field, "critic-bands" | "classifier") { &[2] } else { &[1, 2, 4, 7] };
        for &k in ks {
            let states = shards(&args, k, dir.path(), &format!("particle-{field}"));
            let merged = particle_report(merge(&states, true));
            close(&whole, &merged, 1e-12, field).unwrap_or_else(|e| panic!("{field}, K = {k}: {e}"));
            if field == "classifier" {
                // (the classifier is not evaluated in full blocks: equal up to rounding, floor included)
                continue;
            }
            // the parts are the single run's states (the critic is evaluated in full blocks): bit for bit
            assert_eq!(whole, merged, "{field}, K = {k}");
            if !field.starts_with("critic") {
                // (the critic's text prints its training time)
                assert_eq!(text_without_time(merge(&states, false)), whole_text, "{field}, K = {k}");
            }
        }
    }
}

#[test]
fn a_saved_critic_serves_every_shard_and_a_mismatched_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let field = dir.path().join("critic.safetensors");
    let base = ["siem", "--spec", SPEC, "--form", "particle", "--n", "23", "--steps", "60", "--window", "45..59"];
    let args: Vec<&str> = base.iter().chain(&["--error-field", "critic", "--seed", "2"]).copied().collect();
    let fitted =
        particle_report(bin().args(&args).arg("--error-field-out").arg(&field).arg("--json").output().unwrap());
    assert!(field.exists() && dir.path().join("critic.json").exists());
    let loaded = particle_report(bin().args(&args).arg("--error-field-in").arg(&field).arg("--json").output().unwrap());
    // the loaded field is the fitted one, and the report is the fitting run's (its cost included)
    assert_eq!(fitted, loaded);
    let with_field: Vec<String> =
        args.iter().map(|s| s.to_string()).chain(["--error-field-in".into(), field.display().to_string()]).collect();
    let with_field: Vec<&str> = with_field.iter().map(String::as_str).collect();
    for k in [2, 7] {
        let merged = particle_report(merge(&shards(&with_field, k, dir.path(), "loaded"), true));
        assert_eq!(fitted, merged, "K = {k}");
    }
    // a field fitted for another window (or seed) is refused, naming the entry
    for (window, seed, entry) in [("40..59", "2", "window"), ("45..59", "3", "seed")] {
        let other = ["siem", "--spec", SPEC, "--form", "particle", "--n", "23", "--steps", "60", "--window", window];
        let o = bin()
            .args(other)
            .args(["--error-field", "critic", "--seed", seed, "--error-field-in"])
            .arg(&field)
            .output()
            .unwrap();
        let e = stderr(&o);
        assert!(!o.status.success() && e.contains("--error-field-in") && e.contains(&format!("with {entry} ")), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}

#[test]
fn a_saved_band_wise_critic_holds_every_band_and_serves_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    let field = dir.path().join("critic.safetensors");
    let base = ["siem", "--spec", SPEC, "--form", "particle", "--n", "23", "--steps", "60", "--window", "45..59"];
    let args: Vec<&str> =
        base.iter().chain(&["--error-field", "critic", "--seed", "2", "--critic-band-steps", "5"]).copied().collect();
    let fitted =
        particle_report(bin().args(&args).arg("--error-field-out").arg(&field).arg("--json").output().unwrap());
    let bands = fitted["bands"].as_array().expect("bands").clone();
    assert_eq!(bands.len(), 3, "{fitted}");
    let side: Value = serde_json::from_slice(&std::fs::read(dir.path().join("critic.json")).unwrap()).unwrap();
    assert_eq!(side["band_steps"], 5, "{side}");
    // every kept band's network in its own file, a dropped band with none
    for (band, entry) in bands.iter().zip(side["bands"].as_array().unwrap()) {
        let steps = band["steps"].as_str().unwrap();
        assert_eq!(&entry["report"], band, "{side}");
        let file = dir.path().join(format!("critic.{}.safetensors", steps.replace("..", "-")));
        assert_eq!(band["kept"].as_bool().unwrap(), file.exists(), "{steps}: {side}");
        assert_eq!(entry["weights"].is_string(), file.exists(), "{steps}: {side}");
    }
    let loaded = particle_report(bin().args(&args).arg("--error-field-in").arg(&field).arg("--json").output().unwrap());
    assert_eq!(fitted, loaded);
    let with_field: Vec<String> =
        args.iter().map(|s| s.to_string()).chain(["--error-field-in".into(), field.display().to_string()]).collect();
    let with_field: Vec<&str> = with_field.iter().map(String::as_str).collect();
    for k in [2, 7] {
        let merged = particle_report(merge(&shards(&with_field, k, dir.path(), "loaded-bands"), true));
        assert_eq!(fitted, merged, "K = {k}");
    }
    // a field fitted with other bands is refused, naming the entry
    let other: Vec<&str> =
        base.iter().chain(&["--error-field", "critic", "--seed", "2", "--error-field-in"]).copied().collect();
    let o = bin().args(other).arg(&field).output().unwrap();
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("--error-field-in") && e.contains("with band_steps 5"), "{e}");
}

/// A Hodge state whose shards hold no times (units 0, no points; its checksum valid) is refused,
/// naming the merge, instead of panicking while the merged split is printed (found while writing
/// the shard_state fuzz target).
#[test]
fn a_hodge_state_without_times_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["hodge", "--spec", SPEC, "--estimator", "critic", "--critic-steps", "5", "--n", "16", "--n-times", "1"];
    let path = shards(&args, 1, dir.path(), "hodge").remove(0);
    let mut state: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["units"] = 0.into();
    state["payload"]["profile"]["points"] = Value::Array(vec![]);
    state["checksum"] = scoreprobe_core::state::fingerprint(state["payload"].to_string().as_bytes()).into();
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    for as_json in [false, true] {
        let o = merge(std::slice::from_ref(&path), as_json);
        let e = stderr(&o);
        assert!(!o.status.success() && !e.contains("panicked"), "{e}");
        assert!(e.contains("no times"), "{e}");
    }
}
