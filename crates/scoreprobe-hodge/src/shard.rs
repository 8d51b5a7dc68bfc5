//! The Hodge split's shards (`hodge --shard I/K --state-out PATH`, Python `shard=`,
//! `state_out=`): a shard computes a contiguous block of the times. Every time is estimated from
//! its own seed stream, keyed by (seed, index of the time in the whole list) (`Purpose::Time`),
//! with a fit (the critic's, the random features') and a held-out evaluation of its own; the
//! points of the K shards are therefore exactly the whole run's, and the merge concatenates them
//! in shard order (bit-equal to the single run). The state of a time is its point (values,
//! standard errors and sample counts); fitted critics are not kept.

use crate::error::HodgeError;
use crate::options::HodgeOptions;
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
    let mut map: BTreeMap<String, Value> = match serde_json::to_value(opts) {
        Ok(Value::Object(o)) => o.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    map.remove("shard");
    map.remove("state_out");
    map.insert("times".into(), serde_json::json!(opts.times()?));
    map.insert("model".into(), model.fingerprint.clone().into());
    Ok(map)
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
        merged.samples += s.profile.samples;
    }
    if merged.points.len() != set.units {
        let why = format!("the shards hold {} times, the run has {}", merged.points.len(), set.units);
        return Err(HodgeError::invalid("merge", why));
    }
    Ok((merged, first.label.clone()))
}
