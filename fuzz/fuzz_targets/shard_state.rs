//! The state files `scoreprobe merge` (and Python's `merge`) reads, of every kind: one to three
//! files (the input's bytes after the first, split at NUL bytes) through `read_shards`, and what
//! reads through the merge of its kind. The first byte picks the mode: with its high bit clear,
//! each file's `checksum` is recomputed (and, for bits 0-2 below 7, its `kind` replaced), so the
//! fuzzer reaches the payload parsers and the merges rather than the checksum check; with it set,
//! the files are read as they are. What merges must merge again, and from the files in reverse
//! order, to the same result (wall times aside).
#![no_main]
use libfuzzer_sys::fuzz_target;
use scoreprobe_core::state::{fingerprint, read_shards, ShardSet, StateKind};
use serde_json::Value;
use std::path::PathBuf;

const KINDS: [&str; 7] =
    ["sample", "siem-projection", "siem-particle", "metrics-fd", "metrics-points", "hodge", "bounds"];

/// Points states hold every row and the merge runs every metric on them (cubic in the rows for
/// the exact W2, linear in the KID subsets and sliced projections the options ask for): larger
/// ones are legitimate but slow, not what this target hunts.
const MAX_POINTS_VALUES: usize = 512;
const MAX_POINTS_WORK: u64 = 1000;

/// A state as the fuzzer means it: the checksum of its payload recomputed, its kind replaced.
fn fix_up(bytes: &[u8], kind: Option<&str>) -> Vec<u8> {
    let Ok(Value::Object(mut o)) = serde_json::from_slice::<Value>(bytes) else { return bytes.to_vec() };
    if let Some(k) = kind {
        o.insert("kind".into(), k.into());
    }
    if let Some(p) = o.get("payload") {
        let sum = fingerprint(p.to_string().as_bytes());
        o.insert("checksum".into(), sum.into());
    }
    serde_json::to_vec(&o).expect("a JSON object serialises")
}

/// The merged result as text, with the wall times (measured by the merge itself) dropped.
fn merge(set: &ShardSet) -> Option<String> {
    let value = |v: Result<Value, String>| -> Option<String> {
        let mut v = v.ok()?;
        if let Some(o) = v.as_object_mut() {
            o.remove("seconds");
        }
        Some(v.to_string())
    };
    let json = |r: serde_json::Result<Value>| r.map_err(|e| e.to_string());
    match set.kind {
        StateKind::Sample => {
            let m = scoreprobe_core::sample_state::merge(set).ok()?;
            assert_eq!(m.x.nrows(), set.units, "a merged sample has the run's rows");
            let bits = |a: &ndarray::Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let traj = m.trajectory.as_ref().map(|(s, t)| (s.iter().map(bits).collect::<Vec<_>>(), t.clone()));
            Some(format!("{:?} {:?} {:?} {}", m.x.dim(), bits(&m.x), traj, m.report))
        }
        StateKind::SiemProjection => {
            let (r, label) = scoreprobe_siem::shard::merge_projection(set).ok()?;
            value(json(serde_json::to_value(&r))).map(|v| format!("{label} {v}"))
        }
        StateKind::SiemParticle => {
            let (r, label) = scoreprobe_siem::particle_shard::merge_particle(set).ok()?;
            value(json(serde_json::to_value(&r))).map(|v| format!("{label} {v}"))
        }
        StateKind::MetricsFd => value(scoreprobe_metrics::fd_state::merge_fd(set).map_err(|e| e.to_string())),
        StateKind::MetricsPoints => {
            let held: usize = set
                .states
                .iter()
                .map(|(_, s)| ["a", "b"].iter().map(|k| s.payload[k].as_array().map_or(0, Vec::len)).sum::<usize>())
                .sum();
            let options = set.settings.get("options");
            let work = ["kid_subsets", "kid_subset_size", "projections"]
                .iter()
                .map(|k| options.and_then(|o| o.get(k)).and_then(Value::as_u64).unwrap_or(0))
                .max()
                .unwrap_or(0);
            if held > MAX_POINTS_VALUES || work > MAX_POINTS_WORK {
                return None;
            }
            value(scoreprobe_metrics::points_state::merge_points(set).map_err(|e| e.to_string()))
        }
        StateKind::Bounds => {
            let (r, label) = scoreprobe_hodge::shard::merge_bounds(set).ok()?;
            value(json(serde_json::to_value(&r))).map(|v| format!("{label} {v}"))
        }
        StateKind::Hodge => {
            let (p, label) = scoreprobe_hodge::shard::merge_hodge(set).ok()?;
            let report = p.report();
            assert_eq!(report.times.len(), set.units, "a merged Hodge split has the run's times");
            value(json(serde_json::to_value(&report))).map(|v| format!("{label} {v}"))
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let kind = (mode & 0x80 == 0).then(|| KINDS.get((mode & 7) as usize).copied());
    let paths: Vec<PathBuf> = rest
        .split(|&b| b == 0)
        .take(3)
        .enumerate()
        .map(|(i, file)| {
            let bytes = match kind {
                Some(k) => fix_up(file, k),
                None => file.to_vec(),
            };
            scoreprobe_fuzz::scratch(&bytes, &format!("state{i}.json"))
        })
        .collect();
    let Ok(set) = read_shards(&paths) else { return };
    let first = merge(&set);
    assert_eq!(first, merge(&set), "merging the same states twice gives two results");
    let reversed: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    let set = read_shards(&reversed).expect("the same files in another order read");
    assert_eq!(first, merge(&set), "the order of the state files changes the merge");
});
