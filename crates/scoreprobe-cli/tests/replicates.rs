//! `scoreprobe replicates`: three studies of one affine family on ring8 under seeds 0, 1, 2 are
//! combined. The means are the replicates' means, the SE their spread, and the Spearman rows of
//! the family carry the per-replicate values; incompatible studies are refused, naming the folder.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scoreprobe")).args(args).output().expect("the scoreprobe binary runs")
}

fn study(dir: &Path, models: &Path, seed: u64, n: &str) -> String {
    let out = dir.join(format!("seed-{seed}-n{n}"));
    let seed = seed.to_string();
    let o = run(&[
        "study",
        "--reference",
        "ring8",
        "--models",
        models.to_str().unwrap(),
        "--metrics",
        "w2,siem_proj",
        "--n",
        n,
        "--steps",
        "40",
        "--seed",
        &seed,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "study failed: {}", String::from_utf8_lossy(&o.stderr));
    out.to_str().unwrap().to_string()
}

fn value(dir: &str, model: &str, metric: &str) -> f64 {
    let table: Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(dir).join("metrics.json")).unwrap()).unwrap();
    let m = table["models"].as_array().unwrap().iter().find(|m| m["name"] == model).unwrap();
    m["metrics"][metric]["value"].as_f64().unwrap()
}

#[test]
fn replicate_studies_combine_into_means_spreads_and_rank_cis() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models.json");
    let family: Vec<Value> = [0.1, 0.3, 0.6, 1.0]
        .iter()
        .map(|b| {
            serde_json::json!({"name": format!("shift-{b}"), "step": b,
            "model": {"kind": "affine_error", "E": [[0.0, 0.0], [0.0, 0.0]], "b": [b, 0.0]}})
        })
        .collect();
    std::fs::write(&models, serde_json::to_string(&family).unwrap()).unwrap();
    let studies: Vec<String> = (0..3).map(|s| study(dir.path(), &models, s, "300")).collect();
    let out = dir.path().join("combined");
    let mut args = vec!["replicates"];
    args.extend(studies.iter().map(String::as_str));
    args.extend(["--out", out.to_str().unwrap()]);
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("replicates.json")).unwrap()).unwrap();
    assert_eq!(r["seeds"], serde_json::json!([0, 1, 2]));
    let values = r["values"].as_array().unwrap();
    assert_eq!(values.len(), 8, "4 models × 2 metrics");
    for v in values {
        let (model, metric) = (v["model"].as_str().unwrap(), v["metric"].as_str().unwrap());
        let each: Vec<f64> = studies.iter().map(|s| value(s, model, metric)).collect();
        let mean = each.iter().sum::<f64>() / 3.0;
        let sd = (each.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((v["mean"].as_f64().unwrap() - mean).abs() <= 1e-12 * mean.abs().max(1.0), "{v}");
        assert!((v["se_between"].as_f64().unwrap() - sd / 3f64.sqrt()).abs() <= 1e-12, "{v}");
        assert!(sd > 0.0, "{model} {metric}: replicate seeds gave identical values {each:?}");
    }
    let ranks = r["ranks"].as_array().unwrap();
    let rank = ranks.iter().find(|k| k["cheap"] == "siem_proj" && k["reference"] == "w2").expect("siem_proj vs w2");
    assert_eq!(rank["group"], "affine");
    assert_eq!(rank["models"], 4);
    let per: Vec<f64> = rank["per_replicate"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(per.len(), 3);
    let (lo, hi, mean) =
        (rank["ci_low"].as_f64().unwrap(), rank["ci_high"].as_f64().unwrap(), rank["mean"].as_f64().unwrap());
    assert!(lo <= mean && mean <= hi && (-1.0..=1.0).contains(&lo) && hi <= 1.0, "{rank}");
    assert!(std::fs::read_to_string(out.join("replicates.md")).unwrap().contains("| affine | siem_proj | w2 | 4 |"));

    // the same seed twice, or other settings, is refused naming the folder
    let o = run(&["replicates", &studies[0], &studies[0], "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("seed 0 appears twice"), "{err}");
    let other_n = study(dir.path(), &models, 5, "200");
    let o = run(&["replicates", &studies[0], &other_n, "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("settings other than the seed") && err.contains(&other_n), "{err}");
}
