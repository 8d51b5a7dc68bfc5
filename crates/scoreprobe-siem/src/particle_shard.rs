//! The particle form's shards (`siem --form particle --shard I/K --state-out PATH`, Python
//! `shard=`, `state_out=`).
//!
//! The unit of work is a trajectory: trajectory i's prior draw and noise come from streams keyed
//! by (seed, i), so shard I's trajectories ([`scoreprobe_core::Shard::range`] of 0..n) are the
//! single run's. A shard keeps what SIEM is computed from ([`ParticlePart`]: the radial summaries
//! of every window state, the final states), because the default bandwidth is a median over
//! every trajectory's states: the merge puts the parts together in trajectory order and computes
//! the report as the single run does, so it is the single run's bit for bit (`seconds` is the
//! shards' sum; the source's details, e.g. a fitted field's training time, are shard 0's). Every
//! shard prepares the same error field (the critic is fitted from its own seeds, independently of
//! n); `--error-field-in` lets the shards load one fit instead.
//!
//! Size: 16·(n/K)·|W|·K_φ bytes per shard in memory (K_φ test functions), about 2.5 times that as
//! JSON: 4 MB for 1000 trajectories on the window 900..999 with one test function.

use crate::error::SiemError;
use crate::estimate::{finish_siem, ParticlePart, SiemConfig, SiemReport};
use crate::options::SiemOptions;
use crate::testfn::{BandwidthRule, RadialKind, TestFnSpec};
use ndarray::Array2;
use scoreprobe_core::sampler::SamplerKind;
use scoreprobe_core::shard::Shard;
use scoreprobe_core::state::ModelId;
use scoreprobe_core::state::{ShardSet, StateError, StateFile, StateKind};
use scoreprobe_core::window::Window;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The settings every SIEM state records: every option but the shard's own (and the files a run
/// reads or writes), the model's fingerprint and the dimension.
pub(crate) fn settings_base(opts: &SiemOptions, model: &ModelId, dim: usize) -> BTreeMap<String, Value> {
    let mut map: BTreeMap<String, Value> = match serde_json::to_value(opts) {
        Ok(Value::Object(o)) => o.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    // the shard's own options, and the files of a fitted field (a loaded field is the fitted one:
    // its sidecar has been checked against the run)
    for own in ["shard", "state_out", "error_field_in", "error_field_out"] {
        map.remove(own);
    }
    map.insert("model".into(), model.fingerprint.clone().into());
    map.insert("dim".into(), dim.into());
    map
}

/// What the merge needs to rebuild the run's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ParticleSettings {
    pub window: Window,
    pub steps: usize,
    pub t_min: f64,
    pub n: usize,
    pub seed: u64,
    pub sampler: SamplerKind,
    pub test_seed: u64,
    pub kind: RadialKind,
    pub bandwidth: BandwidthRule,
    pub centers: Vec<Vec<f64>>,
}

impl ParticleSettings {
    fn config(&self) -> Result<SiemConfig, SiemError> {
        let d = self.centers.first().map_or(0, Vec::len);
        let flat: Vec<f64> = self.centers.iter().flatten().copied().collect();
        let centers = Array2::from_shape_vec((self.centers.len(), d), flat)
            .map_err(|e| SiemError::invalid("state", format!("test-function centres: {e}")))?;
        let mut cfg = SiemConfig::new(d, self.steps, self.t_min, self.n, self.seed);
        cfg.window = self.window;
        cfg.sampler = self.sampler;
        cfg.test_seed = self.test_seed;
        cfg.test_fn = TestFnSpec { kind: self.kind, bandwidth: self.bandwidth, centers };
        Ok(cfg)
    }
}

/// What one shard of a particle-form run writes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ParticleShard {
    /// How the run names its model in its text output ([`ModelId::label`]).
    pub label: String,
    pub config: ParticleSettings,
    pub part: ParticlePart,
}

/// Writes a particle-form shard's state (its report keeps its part: see `run_siem`).
pub(crate) fn write_state(
    r: &SiemReport,
    opts: &SiemOptions,
    model: &ModelId,
    dim: usize,
    shard: Shard,
    path: &Path,
) -> Result<(), SiemError> {
    let part = r.part.as_deref().ok_or_else(|| SiemError::invalid("state_out", "the run kept no part"))?;
    let radial = r.test_fn.kind.parse::<RadialKind>().map_err(|e| SiemError::invalid("test_fn", e.to_string()))?;
    let bandwidth = match opts.bandwidth {
        Some(h) => BandwidthRule::Fixed(h),
        None => opts.bandwidth_rule.rule(),
    };
    let config = ParticleSettings {
        window: r
            .window
            .parse()
            .map_err(|e: scoreprobe_core::CoreError| SiemError::invalid("window", e.to_string()))?,
        steps: r.steps,
        t_min: r.t_min,
        n: opts.n,
        seed: r.seed,
        sampler: opts.sampler,
        test_seed: r.test_fn.test_seed,
        kind: radial,
        bandwidth,
        centers: r.test_fn.centers.clone(),
    };
    let mut settings = settings_base(opts, model, dim);
    settings.insert("form".into(), "particle".into());
    settings.insert("error_field".into(), r.error_field.clone().into());
    settings.insert("window".into(), r.window.clone().into());
    settings.insert("steps".into(), r.steps.into());
    settings.insert("t_min".into(), r.t_min.into());
    let tf = &r.test_fn;
    let test_functions = serde_json::json!({
        "kind": tf.kind, "k": tf.k, "centers": tf.centers_hash, "bandwidth_rule": tf.bandwidth_rule, "test_seed": tf.test_seed,
    });
    settings.insert("test_functions".into(), test_functions);
    let payload = ParticleShard { label: model.label.clone(), config, part: part.clone() };
    StateFile::new(StateKind::SiemParticle, shard, opts.n, settings, &payload)?.write(path)?;
    Ok(())
}

/// The report of the whole run from the states of its K shards, with the model's label.
pub fn merge_particle(set: &ShardSet) -> Result<(SiemReport, String), SiemError> {
    let shards: Vec<ParticleShard> = set.states.iter().map(|(p, s)| s.payload(p)).collect::<Result<_, _>>()?;
    let first = shards.first().ok_or(StateError::Empty)?;
    let (cfg, label) = (first.config.config()?, first.label.clone());
    let parts: Vec<ParticlePart> = shards.into_iter().map(|s| s.part).collect();
    let held = parts.iter().fold(0usize, |a, p| a.saturating_add(p.rows.len()));
    if held != set.units || parts[0].rows.start != 0 {
        let why = format!("the shards hold {held} trajectories, the run has {}", set.units);
        return Err(SiemError::invalid("merge", why));
    }
    // what the states' configuration says must be what their parts hold (a damaged file)
    let centers = &cfg.test_fn.centers;
    if cfg.n != set.units || cfg.n == 0 || parts[0].kc != centers.nrows() || parts[0].dim != centers.ncols() {
        let why = format!(
            "the configuration ({} trajectories, {} test functions in dimension {}) does not describe the parts \
             ({} trajectories, {} test functions in dimension {}; a run has at least one trajectory)",
            cfg.n,
            centers.nrows(),
            centers.ncols(),
            set.units,
            parts[0].kc,
            parts[0].dim
        );
        return Err(SiemError::invalid("merge", why));
    }
    Ok((finish_siem(&cfg, parts)?, label))
}
