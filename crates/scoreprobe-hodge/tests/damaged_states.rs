//! Bounds and Hodge states that read (a valid checksum) but whose payload contradicts itself:
//! the merges refuse them (or saturate their counts) instead of panicking. Each case is a
//! committed fuzz seed (a tiny valid state of the shard_state target), damaged.

use scoreprobe_core::state::{ShardSet, StateFile};
use scoreprobe_hodge::shard::{merge_bounds, merge_hodge};
use serde_json::Value;
use std::path::PathBuf;

fn seed(bytes: &[u8]) -> Vec<Value> {
    bytes[1..].split(|&b| b == 0).map(|f| serde_json::from_slice(f).unwrap()).collect()
}

fn set(states: Vec<Value>) -> ShardSet {
    let states: Vec<(PathBuf, StateFile)> = states
        .into_iter()
        .enumerate()
        .map(|(i, v)| (PathBuf::from(format!("state{i}.json")), serde_json::from_value(v).unwrap()))
        .collect();
    let first = &states[0].1;
    ShardSet { kind: first.kind, units: first.units, settings: first.settings.clone(), states }
}

const BOUNDS: &[u8] = include_bytes!("../../../fuzz/corpus/shard_state/seed-bounds-whole");
const HODGE: &[u8] = include_bytes!("../../../fuzz/corpus/shard_state/seed-hodge-two");

#[test]
fn the_seeds_merge() {
    merge_bounds(&set(seed(BOUNDS))).unwrap();
    merge_hodge(&set(seed(HODGE))).unwrap();
}

/// 2⁶² panels (a multiple of 4): the quadrature rule was built before the nodes were counted, and
/// its allocation panicked (capacity overflow; ~2³² panels abort for lack of memory).
#[test]
fn bounds_of_more_panels_than_their_nodes_are_refused() {
    for panels in [1u64 << 62, 1 << 32, 8] {
        let mut s = seed(BOUNDS);
        s[0]["payload"]["part"]["panels"] = panels.into();
        let e = merge_bounds(&set(s)).unwrap_err().to_string();
        assert!(e.contains(&format!("5 of the {} quadrature nodes are computed", panels + 1)), "{e}");
    }
    let mut s = seed(BOUNDS);
    s[0]["payload"]["part"]["half_beta"].as_array_mut().unwrap().pop();
    assert!(merge_bounds(&set(s)).unwrap_err().to_string().contains("4 of the 5 quadrature nodes"));
}

/// Sample counts near usize::MAX add up saturated (they overflowed: a panic with overflow checks).
#[test]
fn counts_that_would_overflow_saturate() {
    let mut s = seed(HODGE);
    s[0]["payload"]["profile"]["samples"] = u64::MAX.into();
    let (p, _) = merge_hodge(&set(s)).unwrap();
    assert_eq!(p.samples, usize::MAX);
    let mut s = seed(BOUNDS);
    s[0]["payload"]["part"]["points"][0]["samples"] = u64::MAX.into();
    assert_eq!(merge_bounds(&set(s)).unwrap().0.samples, usize::MAX);
}
