//! SIEM's shards: the state a shard of a projection-form run writes (`--shard I/K --state-out
//! PATH`, Python `shard=`, `state_out=`) and the merge that gives back the unsharded report.
//!
//! The projection form's unit of work is a window time: each time's n draws come from a stream
//! keyed by (seed, step index) (`projection::draws`), so the times a shard computes are exactly
//! the whole run's. Shards split the window's times (contiguously, in sampling order) rather than
//! the draws, because the jackknife needs every draw's sum over all times (`draw_cross`), which
//! no draw-shard could compute without the other shards' sums. Merging concatenates the per-time
//! moments (SIEM, its standard error, the profile and the per-centre values are then bit-equal to
//! the single run's) and adds the per-draw sums (the jackknife equal up to rounding).

use crate::error::SiemError;
use crate::options::{SiemOptions, SiemRun};
use crate::projection::moments::ProjectionState;
use crate::projection::ProjectionReport;
use scoreprobe_core::options::OptionError;
pub use scoreprobe_core::state::ModelId;
use scoreprobe_core::state::{ShardSet, StateFile, StateKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What one shard of a projection-form run keeps: its report (the run's settings, test functions
/// and costs) and its part of the state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProjectionShard {
    /// How the run names its model in its text output ([`ModelId::label`]).
    pub label: String,
    pub report: ProjectionReport,
    pub state: ProjectionState,
}

/// The settings two projection states must share: every option but the shard's own, with the
/// resolved window, grid and test functions, the model's fingerprint and the dimension.
fn settings(opts: &SiemOptions, r: &ProjectionReport, model: &ModelId, dim: usize) -> BTreeMap<String, Value> {
    let mut map: BTreeMap<String, Value> = match serde_json::to_value(opts) {
        Ok(Value::Object(o)) => o.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    map.remove("shard");
    map.remove("state_out");
    let tf = &r.test_fn;
    map.insert("model".into(), model.fingerprint.clone().into());
    map.insert("dim".into(), dim.into());
    map.insert("form".into(), "projection".into());
    map.insert("window".into(), r.window.clone().into());
    map.insert("steps".into(), r.steps.into());
    map.insert("t_min".into(), r.t_min.into());
    let test_functions = serde_json::json!({
        "kind": tf.kind, "k": tf.k, "centers": tf.centers_hash, "bandwidths": tf.bandwidths, "test_seed": tf.test_seed,
    });
    map.insert("test_functions".into(), test_functions);
    map
}

/// Writes the run's state when the options ask for one (`state_out`). The particle form has no
/// state yet.
pub fn write_state(run: &SiemRun, opts: &SiemOptions, model: &ModelId, dim: usize) -> Result<(), SiemError> {
    let (shard, out) = opts.shard.checked()?;
    let Some(path) = out else { return Ok(()) };
    let r = match run {
        SiemRun::Projection(r) => r,
        SiemRun::Particle(_) => {
            let why = "the particle form has no mergeable state yet; use the projection form";
            return Err(OptionError::new("state_out", why).into());
        }
    };
    let Some(state) = r.state.clone() else {
        let why = "the quadratic family has no mergeable state (its Gram statistics need every draw at once)";
        return Err(OptionError::new("state_out", why).into());
    };
    let payload = ProjectionShard { label: model.label.clone(), report: r.clone(), state };
    let units = r.nfe; // one score evaluation per draw and window time: |W|
    StateFile::new(StateKind::SiemProjection, shard, units, settings(opts, r, model, dim), &payload)?.write(path)?;
    Ok(())
}

/// The report of the whole run from the states of its K shards (read and checked by
/// [`scoreprobe_core::state::read_shards`]), with the model's label (shard 0's).
pub fn merge_projection(set: &ShardSet) -> Result<(ProjectionReport, String), SiemError> {
    let shards: Vec<ProjectionShard> = set.states.iter().map(|(p, s)| s.payload(p)).collect::<Result<_, _>>()?;
    let first = shards.first().ok_or(scoreprobe_core::state::StateError::Empty)?;
    let n = first.state.draw_cross.len();
    let mut state = ProjectionState { steps: vec![], draw_cross: vec![0.0; n], draw_norm: vec![0.0; n] };
    for (s, (path, _)) in shards.iter().zip(&set.states) {
        if s.state.draw_cross.len() != n || s.state.draw_norm.len() != n {
            let why = format!("holds {} draws per time, shard 0 holds {n}", s.state.draw_cross.len());
            return Err(SiemError::invalid(format!("state {}", path.display()), why));
        }
        state.steps.extend(s.state.steps.iter().cloned());
        state.draw_cross.iter_mut().zip(&s.state.draw_cross).for_each(|(a, b)| *a += b);
        state.draw_norm.iter_mut().zip(&s.state.draw_norm).for_each(|(a, b)| *a += b);
    }
    if state.steps.len() != set.units {
        let why = format!("the shards hold {} window times, the window has {}", state.steps.len(), set.units);
        return Err(SiemError::invalid("merge", why));
    }
    let mut report = first.report.clone();
    report.seconds = shards.iter().map(|s| s.report.seconds).sum();
    report.finish_radial(state)?;
    Ok((report, first.label.clone()))
}
