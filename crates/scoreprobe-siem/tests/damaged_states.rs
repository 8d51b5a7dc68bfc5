//! State files that read (a valid checksum) but whose payload contradicts itself: the merges
//! refuse them instead of panicking. Each case is a committed fuzz seed (a tiny valid state of
//! the shard_state target) damaged as the inputs that made `scoreprobe merge` panic were.

use scoreprobe_core::state::{ShardSet, StateFile};
use serde_json::Value;
use std::path::PathBuf;

/// The states of a shard_state seed (mode byte, then NUL-separated files).
fn seed(bytes: &[u8]) -> Vec<Value> {
    bytes[1..].split(|&b| b == 0).map(|f| serde_json::from_slice(f).unwrap()).collect()
}

/// The set of `states` (in shard order), as `read_shards` gives it.
fn set(states: Vec<Value>) -> ShardSet {
    let states: Vec<(PathBuf, StateFile)> = states
        .into_iter()
        .enumerate()
        .map(|(i, v)| (PathBuf::from(format!("state{i}.json")), serde_json::from_value(v).unwrap()))
        .collect();
    let first = &states[0].1;
    ShardSet { kind: first.kind, units: first.units, settings: first.settings.clone(), states }
}

const RADIAL: &[u8] = include_bytes!("../../../fuzz/corpus/shard_state/seed-siem-radial-whole");
const PARTICLE: &[u8] = include_bytes!("../../../fuzz/corpus/shard_state/seed-siem-particle-whole");

#[test]
fn the_seeds_merge() {
    scoreprobe_siem::shard::merge_projection(&set(seed(RADIAL))).unwrap();
    scoreprobe_siem::particle_shard::merge_particle(&set(seed(PARTICLE))).unwrap();
}

/// A projection step whose K × K sums hold fewer entries: `m2` indexed past them (panicked).
#[test]
fn a_projection_step_with_sums_of_another_shape_is_refused() {
    for key in ["outer", "sum", "sum_cubic"] {
        let mut s = seed(RADIAL);
        let m = &mut s[0]["payload"]["state"]["radial"]["steps"][1]["moments"][key];
        m.as_array_mut().unwrap().truncate(1);
        let e = scoreprobe_siem::shard::merge_projection(&set(s)).unwrap_err().to_string();
        assert!(e.contains("projection state: step") && e.contains("test functions need"), "{key}: {e}");
    }
}

/// Shard 1 of 2 holding trajectories 4..0 (none; shard 0 all 4): the parts' sizes passed, the
/// run's size came out as 0 and the gathered states did not fit it (panicked).
#[test]
fn a_particle_part_with_a_reversed_range_is_refused() {
    let whole = seed(PARTICLE).remove(0);
    let (mut a, mut b) = (whole.clone(), whole);
    a["shard"] = "0/2".into();
    b["shard"] = "1/2".into();
    let part = &mut b["payload"]["part"];
    part["rows"] = serde_json::json!({"start": 4, "end": 0});
    for key in ["rho", "proj", "x_end"] {
        part[key] = Value::Array(vec![]);
    }
    let e = scoreprobe_siem::particle_shard::merge_particle(&set(vec![a, b])).unwrap_err().to_string();
    assert!(e.contains("trajectories 4..0 do not continue"), "{e}");
}

/// A configuration of 0 trajectories (divided by), or of other test functions than the parts
/// hold (indexed past them): refused, naming both.
#[test]
fn a_particle_configuration_that_does_not_describe_its_parts_is_refused() {
    let mut s = seed(PARTICLE);
    s[0]["payload"]["config"]["n"] = 0.into();
    let e = scoreprobe_siem::particle_shard::merge_particle(&set(s)).unwrap_err().to_string();
    assert!(e.contains("the configuration (0 trajectories"), "{e}");
    let mut s = seed(PARTICLE);
    let centers = s[0]["payload"]["config"]["centers"].as_array_mut().unwrap();
    centers.push(centers[0].clone());
    let e = scoreprobe_siem::particle_shard::merge_particle(&set(s)).unwrap_err().to_string();
    assert!(e.contains("2 test functions") && e.contains("1 test functions"), "{e}");
    let mut s = seed(PARTICLE);
    s[0]["payload"]["config"]["centers"][0].as_array_mut().unwrap().push(0.5.into());
    let e = scoreprobe_siem::particle_shard::merge_particle(&set(s)).unwrap_err().to_string();
    assert!(e.contains("in dimension 3") && e.contains("in dimension 2"), "{e}");
}

/// Counts near usize::MAX in a part (the score evaluations of the fit) saturate, never overflow.
#[test]
fn counts_that_would_overflow_saturate() {
    let mut s = seed(PARTICLE);
    s[0]["payload"]["part"]["eval_cost"] = u64::MAX.into();
    s[0]["payload"]["part"]["aux_evals"] = u64::MAX.into();
    let (r, _) = scoreprobe_siem::particle_shard::merge_particle(&set(s)).unwrap();
    assert_eq!(r.aux_evals, usize::MAX);
}

/// A saved error field whose sidecar lacks its `cost` (the critic_field fuzz target's crash:
/// the map was indexed and panicked): it loads, its cost unknown (0), and damaged bands refuse.
#[cfg(feature = "nn")]
#[test]
fn an_error_field_sidecar_without_its_cost_loads() {
    let dir = std::env::temp_dir().join(format!("scoreprobe-damaged-critic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sidecar: serde_json::Map<String, Value> =
        serde_json::from_slice(include_bytes!("../../../fuzz/seeds/critic.json")).unwrap();
    let tensors = include_bytes!("../../../fuzz/seeds/critic.safetensors");
    std::fs::write(dir.join("critic.safetensors"), tensors).unwrap();
    let load = |side: &serde_json::Map<String, Value>| {
        std::fs::write(dir.join("critic.json"), serde_json::to_vec(side).unwrap()).unwrap();
        scoreprobe_siem::critic_file::load(&dir.join("critic.safetensors"), &sidecar, &candle_core::Device::Cpu)
    };
    let whole = load(&sidecar).unwrap();
    assert!(whole.cost.score_evals > 0, "the seed records its cost");
    let mut costless = sidecar.clone();
    costless.remove("cost");
    let field = load(&costless).unwrap();
    assert_eq!((field.cost.score_evals, field.cost.aux_evals), (0, 0));
    assert_eq!(field.bands.len(), whole.bands.len());
    let mut bad_band = sidecar.clone();
    bad_band["bands"][0]["report"] = Value::Null;
    let e = load(&bad_band).err().expect("a band without its report is refused").to_string();
    assert!(e.contains("a band's report"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
