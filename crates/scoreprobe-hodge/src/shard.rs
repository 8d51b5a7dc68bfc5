//! The Hodge split's shards (`hodge --shard I/K --state-out PATH`, Python `shard=`,
//! `state_out=`): a shard computes a contiguous block of the times. Every time is estimated from
//! its own seed stream, keyed by (seed, index of the time in the whole list) (`Purpose::Time`),
//! with a fit (the critic's, the random features') and a held-out evaluation of its own; the
//! points of the K shards are therefore exactly the whole run's, and the merge concatenates them
//! in shard order (bit-equal to the single run). The state of a time is its point (values,
//! standard errors and sample counts); fitted critics are not kept.
//!
//! The KL bounds shard the same way over their quadrature nodes (each seeded by its index);
//! shard 0 also computes KL(p_T‖π) and the exact KL, and the merge integrates the whole set of
//! nodes (bit-equal to the single run).

use crate::bounds::{BoundsPart, BoundsReport};
use crate::error::HodgeError;
use crate::options::{BoundsOptions, HodgeOptions};
use crate::profile::HodgeProfile;
use scoreprobe_core::state::{ModelId, ShardSet, StateError, StateFile, StateKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What one shard keeps: its points and how the run names its model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HodgeShard {
    pub label: String,
    pub profile: HodgeProfile,
}

/// The settings two Hodge states must share: every option but the shard's own, the resolved
/// times and the model's fingerprint.
fn settings(opts: &HodgeOptions, model: &ModelId) -> Result<BTreeMap<String, Value>, HodgeError> {
    let mut map = option_settings(opts, model);
    map.insert("times".into(), serde_json::json!(opts.times()?));
    Ok(map)
}

/// One shard of the bounds: its quadrature nodes (shard 0 also the prior's and the exact KL).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BoundsShard {
    pub label: String,
    pub part: BoundsPart,
}

/// Options as settings: every option but the shard's own, and the model's fingerprint.
fn option_settings(opts: &impl Serialize, model: &ModelId) -> BTreeMap<String, Value> {
    let mut map: BTreeMap<String, Value> = match serde_json::to_value(opts) {
        Ok(Value::Object(o)) => o.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    map.remove("shard");
    map.remove("state_out");
    map.insert("model".into(), model.fingerprint.clone().into());
    map
}

/// Writes a bounds shard's state when the options ask for one (`state_out`); the units are the
/// quadrature nodes (panels + 1).
pub fn write_bounds_state(part: &BoundsPart, opts: &BoundsOptions, model: &ModelId) -> Result<(), HodgeError> {
    let (shard, out) = opts.shard.checked()?;
    let Some(path) = out else { return Ok(()) };
    let payload = BoundsShard { label: model.label.clone(), part: part.clone() };
    let units = opts.panels + 1;
    StateFile::new(StateKind::Bounds, shard, units, option_settings(opts, model), &payload)?.write(path)?;
    Ok(())
}

/// The whole run's bounds from its shards' states, with the model's label (shard 0's).
pub fn merge_bounds(set: &ShardSet) -> Result<(BoundsReport, String), HodgeError> {
    let shards: Vec<BoundsShard> = set.states.iter().map(|(p, s)| s.payload(p)).collect::<Result<_, _>>()?;
    let label = shards.first().ok_or(StateError::Empty)?.label.clone();
    let report = BoundsPart::merge(shards.into_iter().map(|s| s.part).collect())?.report()?;
    Ok((report, label))
}

/// Writes the shard's state when the options ask for one (`state_out`).
pub fn write_state(profile: &HodgeProfile, opts: &HodgeOptions, model: &ModelId) -> Result<(), HodgeError> {
    let (shard, out) = opts.shard.checked()?;
    let Some(path) = out else { return Ok(()) };
    let units = opts.times()?.len();
    let payload = HodgeShard { label: model.label.clone(), profile: profile.clone() };
    StateFile::new(StateKind::Hodge, shard, units, settings(opts, model)?, &payload)?.write(path)?;
    Ok(())
}

/// The whole run's profile from its shards' states, with the model's label (shard 0's).
pub fn merge_hodge(set: &ShardSet) -> Result<(HodgeProfile, String), HodgeError> {
    let shards: Vec<HodgeShard> = set.states.iter().map(|(p, s)| s.payload(p)).collect::<Result<_, _>>()?;
    let first = shards.first().ok_or(StateError::Empty)?;
    let mut merged = HodgeProfile { points: vec![], seconds: 0.0, samples: 0, ..first.profile.clone() };
    for s in &shards {
        merged.points.extend(s.profile.points.iter().cloned());
        merged.seconds += s.profile.seconds;
        // (counts from files: saturating, never an overflow)
        merged.samples = merged.samples.saturating_add(s.profile.samples);
    }
    if merged.points.len() != set.units {
        let why = format!("the shards hold {} times, the run has {}", merged.points.len(), set.units);
        return Err(HodgeError::invalid("merge", why));
    }
    if merged.points.is_empty() {
        // a run has at least one time (`profile` refuses none): such states are damaged
        return Err(HodgeError::invalid("merge", "the shards hold no times; a run has at least one"));
    }
    Ok((merged, first.label.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scoreprobe_core::shard::Shard;
    use std::path::PathBuf;

    /// A one-shard set of `units` times holding `points` (as JSON).
    fn hodge_set(units: usize, points: Value) -> ShardSet {
        let profile = serde_json::json!({
            "estimator": "critic", "model": "m", "points": points, "seconds": 0.0, "samples": 0,
        });
        let payload = serde_json::json!({"label": "spec.json", "profile": profile});
        let state = StateFile::new(StateKind::Hodge, Shard::WHOLE, units, BTreeMap::new(), &payload).unwrap();
        ShardSet {
            kind: StateKind::Hodge,
            units,
            settings: BTreeMap::new(),
            states: vec![(PathBuf::from("s.json"), state)],
        }
    }

    #[test]
    fn states_without_times_are_refused() {
        // found while writing the shard_state fuzz target: `scoreprobe merge` of such a state
        // panicked while printing the merged split (index 0 of its times' methods)
        let e = merge_hodge(&hodge_set(0, serde_json::json!([]))).unwrap_err().to_string();
        assert!(e.contains("no times"), "{e}");
        let e = merge_hodge(&hodge_set(2, serde_json::json!([]))).unwrap_err().to_string();
        assert!(e.contains("hold 0 times, the run has 2"), "{e}");
    }
}
