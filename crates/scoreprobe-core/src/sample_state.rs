//! The mergeable state of a sharded sampling run (`sample --shard I/K --state-out PATH`, Python
//! `sample(..., shard=, state_out=)`).
//!
//! A sample's randomness is keyed by (seed, index) ([`crate::sampler`]), so shard I's rows
//! ([`crate::Shard::range`] of 0..n) are exactly the unsharded run's rows. The state keeps them in
//! f64 (JSON round-trips f64 exactly), and the merge concatenates them in shard order: the merged
//! samples, and everything computed from them in the same order (the `.npy`, the mean), are
//! bit-equal to the single run's. Size: 8·rows·d bytes in memory, ~20 bytes per number as JSON
//! (a recorded trajectory multiplies that by its number of states).

use crate::error::CoreError;
use crate::sampler::SampleOptions;
use crate::shard::Shard;
use crate::state::{ShardSet, StateError, StateFile, StateKind};
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

/// The recorded states of a shard's rows on the window (`--trajectory-window`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrajectoryPart {
    pub times: Vec<f64>,
    /// times × rows × d, row-major.
    pub states: Vec<f64>,
}

/// What one shard of a sampling run writes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SampleShard {
    /// The trajectory indices of this shard's rows: `start..end` of 0..n.
    pub rows: Range<usize>,
    pub dim: usize,
    /// rows × d, row-major, in f64.
    pub x: Vec<f64>,
    pub trajectory: Option<TrajectoryPart>,
    /// The front end's report of the run without what depends on all rows (the CLI's `out`,
    /// `nfe`, ...; Python: nothing); the merge returns shard 0's.
    pub report: Value,
    pub seconds: f64,
}

/// Recorded states (each n × d) and their times.
pub type RecordedStates = (Vec<Array2<f64>>, Vec<f64>);

/// The merged run.
#[derive(Clone, Debug)]
pub struct MergedSample {
    pub x: Array2<f64>,
    /// The recorded states (each n × d) and their times.
    pub trajectory: Option<RecordedStates>,
    pub report: Value,
    /// The shards' wall times added.
    pub seconds: f64,
}

/// The settings two sample states must share: every option but the shard's own, and what the
/// front end adds (`extra`: the model's fingerprint, the dimension, the initial distribution, the
/// outputs, the resolved grid).
pub fn settings(opts: &SampleOptions, extra: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut map: BTreeMap<String, Value> = match serde_json::to_value(opts) {
        Ok(Value::Object(o)) => o.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    map.remove("shard");
    map.remove("state_out");
    map.extend(extra);
    map
}

/// Writes shard `shard`'s state of a run of `n` samples to `path`.
pub fn write(
    path: &Path,
    shard: Shard,
    n: usize,
    settings: BTreeMap<String, Value>,
    part: &SampleShard,
) -> Result<(), CoreError> {
    StateFile::new(StateKind::Sample, shard, n, settings, part)?.write(path)
}

/// The rows of `x` (n × d) as a shard's flat part.
pub fn flat(x: &Array2<f64>) -> Vec<f64> {
    x.iter().copied().collect()
}

/// The whole run from its K shards (read and checked by [`crate::state::read_shards`]).
pub fn merge(set: &ShardSet) -> Result<MergedSample, StateError> {
    let parts: Vec<(&Path, SampleShard)> =
        set.states.iter().map(|(p, s)| s.payload(p).map(|v| (p.as_path(), v))).collect::<Result<_, _>>()?;
    let Some((_, first)) = parts.first() else { return Err(StateError::Empty) };
    let (d, mut next) = (first.dim, 0usize);
    let bad = |p: &Path, reason: String| StateError::Payload { path: p.into(), reason };
    let mut blocks = Vec::with_capacity(parts.len());
    for (p, s) in &parts {
        if s.rows.start != next
            || s.rows.start > s.rows.end
            || s.dim != d
            || Some(s.x.len()) != s.rows.len().checked_mul(d)
        {
            let why =
                format!("holds rows {:?} of dimension {}; expected rows from {next} of dimension {d}", s.rows, s.dim);
            return Err(bad(p, why));
        }
        next = s.rows.end;
        blocks.push(Array2::from_shape_vec((s.rows.len(), d), s.x.clone()).map_err(|e| bad(p, e.to_string()))?);
    }
    if next != set.units {
        return Err(bad(
            parts[parts.len() - 1].0,
            format!("the shards hold {next} samples, the run has {}", set.units),
        ));
    }
    let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
    let x = ndarray::concatenate(Axis(0), &views).map_err(|e| bad(parts[0].0, e.to_string()))?;
    let trajectory = merge_trajectories(&parts, d)?;
    let seconds = parts.iter().map(|(_, s)| s.seconds).sum();
    Ok(MergedSample { x, trajectory, report: first.report.clone(), seconds })
}

/// The shards' recorded states, each time's rows concatenated in shard order.
fn merge_trajectories(parts: &[(&Path, SampleShard)], d: usize) -> Result<Option<RecordedStates>, StateError> {
    let Some(times) = parts[0].1.trajectory.as_ref().map(|t| t.times.clone()) else { return Ok(None) };
    let mut states: Vec<Vec<f64>> = vec![Vec::new(); times.len()];
    let mut n = 0;
    for (p, s) in parts {
        let rows = s.rows.len();
        let t = match &s.trajectory {
            Some(t) if t.times == times && t.states.len() == times.len() * rows * d => t,
            _ => {
                let why = "holds another recorded trajectory than shard 0 (times or shape)".to_string();
                return Err(StateError::Payload { path: (*p).into(), reason: why });
            }
        };
        for (j, state) in states.iter_mut().enumerate() {
            state.extend_from_slice(&t.states[j * rows * d..(j + 1) * rows * d]);
        }
        n += rows;
    }
    let states = states.into_iter().map(|v| Array2::from_shape_vec((n, d), v).expect("n rows of d")).collect();
    Ok(Some((states, times)))
}

/// A recorded trajectory (states each rows × d) as a shard's flat part.
pub fn trajectory_part(states: &[Array2<f64>], times: &[f64]) -> TrajectoryPart {
    TrajectoryPart { times: times.to_vec(), states: states.iter().flat_map(|s| s.iter().copied()).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn state(shard: Shard, units: usize, rows: Range<usize>, x: Vec<f64>) -> (PathBuf, StateFile) {
        let part = SampleShard { rows, dim: 1, x, trajectory: None, report: Value::Null, seconds: 0.0 };
        let s = StateFile::new(StateKind::Sample, shard, units, BTreeMap::new(), &part).unwrap();
        (PathBuf::from(format!("{shard}")), s)
    }

    /// Shard 1 of 2 holding rows 6..2 (none) after shard 0's 0..6, in a run of 2 samples: the
    /// rows ended where the run does and the merge returned 6 samples for it (found while writing
    /// the shard_state fuzz target, which checks that a merged sample has the run's rows).
    #[test]
    fn a_part_with_a_reversed_range_is_refused() {
        let s = |i| Shard::new(i, 2).unwrap();
        let states = vec![state(s(0), 2, 0..6, vec![0.5; 6]), state(s(1), 2, Range { start: 6, end: 2 }, vec![])];
        let set = ShardSet { kind: StateKind::Sample, units: 2, settings: BTreeMap::new(), states };
        let e = merge(&set).unwrap_err().to_string();
        assert!(e.contains("holds rows 6..2"), "{e}");
        let states = vec![state(s(0), 8, 0..6, vec![0.5; 6]), state(s(1), 8, 6..8, vec![1.0; 2])];
        let set = ShardSet { kind: StateKind::Sample, units: 8, settings: BTreeMap::new(), states };
        assert_eq!(merge(&set).unwrap().x.nrows(), 8);
    }
}
