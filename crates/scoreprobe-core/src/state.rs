//! Mergeable state files: what a shard of a run writes (`--state-out PATH`) and `scoreprobe merge`
//! reads. A state is the estimator's sufficient statistic (sums, counts, moments), never its
//! result; the result is a pure function of the merged states.
//!
//! The file is one JSON object, written atomically:
//! ```json
//! {"format": "scoreprobe-state", "version": 1, "kind": "siem-projection", "shard": "2/4",
//!  "units": 100, "settings": {"seed": 0, "window": "900..999", ...},
//!  "payload": {...}, "checksum": "fnv1a64:..."}
//! ```
//! `settings` holds everything that makes two states compatible (model or spec fingerprint,
//! schedule, window, test functions and their seed, features, dimension, …): merging refuses
//! states whose settings differ and names the field. `units` is the number of units of work
//! (draw indices, window times, rows) the K shards partition. The checksum covers the payload, so
//! a truncated or damaged file is named rather than merged.

use crate::error::CoreError;
use crate::shard::Shard;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `format` of every state file.
pub const FORMAT: &str = "scoreprobe-state";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;

/// Which estimator a state belongs to (the payload's type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateKind {
    /// SIEM's projection form (radial test functions): per-time moments and per-draw sums.
    SiemProjection,
    /// The Fréchet distance between two feature sets: count, mean and scatter of each.
    MetricsFd,
    /// The metrics that need every point at once (KID, W2, PRDC, …): each shard's rows of both sets.
    MetricsPoints,
    /// The Hodge split: the per-time points of the shard's times.
    Hodge,
    /// The KL bounds: the points at the shard's quadrature nodes (shard 0: the prior's KL too).
    Bounds,
    /// A sampling run: the shard's samples (and recorded trajectory).
    Sample,
    /// SIEM's particle form: the radial summaries of the shard's trajectories.
    SiemParticle,
}

impl StateKind {
    /// The command whose output a merge of these states prints.
    pub fn command(self) -> &'static str {
        match self {
            StateKind::SiemProjection => "siem",
            StateKind::MetricsFd | StateKind::MetricsPoints => "metrics",
            StateKind::Hodge => "hodge",
            StateKind::Bounds => "bounds",
            StateKind::Sample => "sample",
            StateKind::SiemParticle => "siem",
        }
    }
}

/// Why states could not be read or merged. Every variant names the file (or the shard) at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("no state files given")]
    Empty,
    #[error("state {}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("state {}: truncated or corrupt (not a complete scoreprobe state file): {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("state {}: format version {found}, this scoreprobe reads version {VERSION}", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error(
        "states differ in {field}: {} has {first_value}, {} has {other_value}; only states of the same run merge",
        first.display(),
        other.display()
    )]
    Mismatch { field: String, first: PathBuf, first_value: String, other: PathBuf, other_value: String },
    #[error("shard {shard} is given twice: {} and {}", first.display(), second.display())]
    Duplicate { shard: Shard, first: PathBuf, second: PathBuf },
    #[error("missing shard{} {} of {count}: every shard 0/{count} to {}/{count} is needed", plural(.missing), list(.missing), count - 1)]
    Missing { missing: Vec<usize>, count: usize },
    #[error("state {}: {reason}", path.display())]
    Payload { path: PathBuf, reason: String },
    #[error(transparent)]
    Write(#[from] CoreError),
}

fn plural(v: &[usize]) -> &'static str {
    if v.len() == 1 {
        ""
    } else {
        "s"
    }
}

fn list(v: &[usize]) -> String {
    v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

/// What a state says of the model it measured: states of different models never merge.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelId {
    /// Identifies the model and the reference it is measured against (a spec: the fingerprint of
    /// its JSON, the same from the CLI and from Python; data rows add theirs).
    pub fingerprint: String,
    /// How the unsharded run names it in its output (the CLI: the spec's path); not compared.
    pub label: String,
}

/// One state file (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub format: String,
    pub version: u32,
    pub kind: StateKind,
    pub shard: Shard,
    /// Units of work of the whole run that the shards partition.
    pub units: usize,
    /// What makes states compatible, compared field by field.
    pub settings: BTreeMap<String, Value>,
    pub payload: Value,
    pub checksum: String,
}

/// FNV-1a (64 bit) of `bytes`, as text: a fingerprint that detects a changed input or a damaged
/// payload (not an adversary).
pub fn fingerprint(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    format!("fnv1a64:{hash:016x}")
}

/// The fingerprint of the payload's compact JSON.
fn checksum(payload: &Value) -> String {
    fingerprint(payload.to_string().as_bytes())
}

impl StateFile {
    /// A state of `kind` for `shard` of a run of `units` units of work.
    pub fn new(
        kind: StateKind,
        shard: Shard,
        units: usize,
        settings: BTreeMap<String, Value>,
        payload: &impl Serialize,
    ) -> Result<Self, CoreError> {
        let payload =
            serde_json::to_value(payload).map_err(|e| CoreError::invalid("state", format!("cannot serialise: {e}")))?;
        let checksum = checksum(&payload);
        Ok(StateFile { format: FORMAT.into(), version: VERSION, kind, shard, units, settings, payload, checksum })
    }

    /// Writes the state to `path` atomically (a killed shard leaves no partial file).
    pub fn write(&self, path: &Path) -> Result<(), CoreError> {
        let text = serde_json::to_vec(self).map_err(|e| CoreError::invalid("state", e.to_string()))?;
        crate::fsio::write_atomic(path, &text)
    }

    /// Reads and checks one state file (format, version, checksum).
    pub fn read(path: &Path) -> Result<Self, StateError> {
        let bytes = std::fs::read(path).map_err(|source| StateError::Io { path: path.into(), source })?;
        let corrupt = |reason: String| StateError::Corrupt { path: path.into(), reason };
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(corrupt(format!("its \"format\" is not \"{FORMAT}\"")));
        }
        let found = value.get("version").and_then(Value::as_u64).unwrap_or(0) as u32;
        if found != VERSION {
            return Err(StateError::Version { path: path.into(), found });
        }
        let state: StateFile = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        if checksum(&state.payload) != state.checksum {
            return Err(corrupt("its payload does not match its checksum".into()));
        }
        Ok(state)
    }

    /// The payload as `T` (`path` names the file in the error).
    pub fn payload<T: DeserializeOwned>(&self, path: &Path) -> Result<T, StateError> {
        T::deserialize(&self.payload)
            .map_err(|e| StateError::Payload { path: path.into(), reason: format!("{:?} payload: {e}", self.kind) })
    }
}

/// The states of one run, in shard order.
#[derive(Debug)]
pub struct ShardSet {
    pub kind: StateKind,
    pub units: usize,
    pub settings: BTreeMap<String, Value>,
    /// (file, state) for shards 0, 1, …, K − 1.
    pub states: Vec<(PathBuf, StateFile)>,
}

/// Reads `paths` and checks that they are the K shards of one run: the same kind, settings, shard
/// count and units; no shard twice; none missing.
pub fn read_shards(paths: &[PathBuf]) -> Result<ShardSet, StateError> {
    let mut states = paths.iter().map(|p| StateFile::read(p).map(|s| (p.clone(), s))).collect::<Result<Vec<_>, _>>()?;
    let Some((first_path, first)) = states.first().cloned() else { return Err(StateError::Empty) };
    let describe = |s: &StateFile, field: &str| -> String {
        match field {
            "kind" => format!("{:?}", s.kind),
            "shard count" => s.shard.count.to_string(),
            "units" => s.units.to_string(),
            key => s.settings.get(key).map_or("nothing".to_string(), |v| v.to_string()),
        }
    };
    for (path, s) in &states[1..] {
        // the settings first: they name the option that differs (units follow from them)
        let mut fields: Vec<&str> = vec!["kind"];
        fields.extend(first.settings.keys().chain(s.settings.keys()).map(String::as_str));
        fields.extend(["shard count", "units"]);
        if let Some(field) = fields.into_iter().find(|f| describe(&first, f) != describe(s, f)) {
            return Err(StateError::Mismatch {
                field: field.to_string(),
                first: first_path.clone(),
                first_value: describe(&first, field),
                other: path.clone(),
                other_value: describe(s, field),
            });
        }
    }
    states.sort_by_key(|(_, s)| s.shard.index);
    if let Some(w) = states.windows(2).find(|w| w[0].1.shard == w[1].1.shard) {
        return Err(StateError::Duplicate { shard: w[0].1.shard, first: w[0].0.clone(), second: w[1].0.clone() });
    }
    let count = first.shard.count;
    let missing: Vec<usize> = (0..count).filter(|i| !states.iter().any(|(_, s)| s.shard.index == *i)).collect();
    if !missing.is_empty() {
        return Err(StateError::Missing { missing, count });
    }
    Ok(ShardSet { kind: first.kind, units: first.units, settings: first.settings, states })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(seed: u64) -> BTreeMap<String, Value> {
        BTreeMap::from([("seed".to_string(), Value::from(seed)), ("window".to_string(), Value::from("9..9"))])
    }

    fn write(dir: &Path, name: &str, shard: Shard, seed: u64) -> PathBuf {
        let p = dir.join(name);
        StateFile::new(StateKind::MetricsFd, shard, 10, settings(seed), &vec![1.5, shard.index as f64])
            .unwrap()
            .write(&p)
            .unwrap();
        p
    }

    #[test]
    fn shards_are_read_in_order_and_every_fault_is_named() {
        let dir = std::env::temp_dir().join(format!("scoreprobe-state-{}", std::process::id()));
        let s = |i| Shard::new(i, 3).unwrap();
        let (a, b, c) = (write(&dir, "a", s(2), 0), write(&dir, "b", s(0), 0), write(&dir, "c", s(1), 0));
        let set = read_shards(&[a.clone(), b.clone(), c.clone()]).unwrap();
        let order: Vec<usize> = set.states.iter().map(|(_, s)| s.shard.index).collect();
        assert_eq!(order, [0, 1, 2]);
        assert_eq!(set.states[2].1.payload::<Vec<f64>>(&a).unwrap(), [1.5, 2.0]);
        let err = |paths: &[PathBuf]| read_shards(paths).unwrap_err().to_string();
        let e = err(&[b.clone(), c.clone()]);
        assert!(e.contains("missing shard 2 of 3"), "{e}");
        let e = err(&[a.clone(), b.clone(), c.clone(), write(&dir, "d", s(1), 0)]);
        assert!(e.contains("shard 1/3 is given twice") && e.contains("/c") && e.contains("/d"), "{e}");
        let e = err(&[a.clone(), b.clone(), write(&dir, "e", s(1), 7)]);
        assert!(e.starts_with("states differ in seed:") && e.contains("has 7"), "{e}");
        let e = err(&[a.clone(), write(&dir, "f", Shard::new(0, 2).unwrap(), 0)]);
        assert!(e.starts_with("states differ in shard count:"), "{e}");
        // a truncated file, a damaged payload, another version, a missing file
        let text = std::fs::read_to_string(&c).unwrap();
        std::fs::write(dir.join("cut"), &text[..text.len() / 2]).unwrap();
        let e = err(&[a.clone(), dir.join("cut")]);
        assert!(e.contains("cut: truncated or corrupt"), "{e}");
        std::fs::write(dir.join("bent"), text.replace("1.5", "1.25")).unwrap();
        assert!(err(&[dir.join("bent")]).contains("does not match its checksum"));
        std::fs::write(dir.join("old"), text.replace("\"version\":1", "\"version\":0")).unwrap();
        assert!(err(&[dir.join("old")]).contains("format version 0"));
        assert!(err(&[dir.join("absent")]).contains("absent: cannot read"));
        assert!(matches!(read_shards(&[]), Err(StateError::Empty)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
