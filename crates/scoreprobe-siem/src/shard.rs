//! SIEM's shards: the state a shard of a projection-form run writes (`--shard I/K --state-out
//! PATH`, Python `shard=`, `state_out=`) and the merge that gives back the unsharded report.
//!
//! The projection form's unit of work is a window time: each time's n draws come from a stream
//! keyed by (seed, step index) (`projection::draws`), so the times a shard computes are exactly
//! the whole run's. Shards split the window's times (contiguously, in sampling order) rather than
//! the draws, because the jackknife needs every draw's sum over all times (`draw_cross`), which
//! no draw-shard could compute without the other shards' sums. Merging concatenates the per-time
//! moments (SIEM, its standard error, the profile and the per-centre values are then bit-equal to
//! the single run's) and adds the per-draw sums (the jackknife equal up to rounding). The
//! quadratic family merges the same way: its per-time profile is concatenated, its running sums
//! (SIEM and its parts, their variances, the per-draw cross sums) are added (equal up to rounding).

use crate::error::SiemError;
use crate::options::{SiemOptions, SiemRun};
use crate::projection::moments::ProjectionState;
use crate::projection::{ProjectionReport, QuadraticState};
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
    pub state: ShardState,
}

/// A shard's part of the state, by test family.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShardState {
    /// Radial test functions: per-time moments and per-draw sums.
    Radial(ProjectionState),
    /// The quadratic family: the parts' sums, per-draw cross sums and the profile.
    Quadratic(QuadraticState),
}

/// The settings two projection states must share: every option but the shard's own, with the
/// resolved window, grid and test functions, the model's fingerprint and the dimension.
fn settings(opts: &SiemOptions, r: &ProjectionReport, model: &ModelId, dim: usize) -> BTreeMap<String, Value> {
    let mut map = crate::particle_shard::settings_base(opts, model, dim);
    let tf = &r.test_fn;
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

/// Writes the run's state when the options ask for one (`state_out`).
pub fn write_state(run: &SiemRun, opts: &SiemOptions, model: &ModelId, dim: usize) -> Result<(), SiemError> {
    let (shard, out) = opts.shard.checked()?;
    let Some(path) = out else { return Ok(()) };
    let r = match run {
        SiemRun::Projection(r) => r,
        SiemRun::Particle(r) => return crate::particle_shard::write_state(r, opts, model, dim, shard, path),
    };
    let state = match (&r.state, &r.quadratic_state) {
        (Some(s), _) => ShardState::Radial(s.clone()),
        (None, Some(q)) => ShardState::Quadratic(q.clone()),
        (None, None) => unreachable!("a projection-form report keeps its state"),
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
    let mut report = first.report.clone();
    report.seconds = shards.iter().map(|s| s.report.seconds).sum();
    let mismatch = |path: &std::path::Path| {
        SiemError::invalid(format!("state {}", path.display()), "holds another test family than shard 0")
    };
    let times = match &first.state {
        ShardState::Radial(_) => {
            let mut parts = vec![];
            for (s, (path, _)) in shards.iter().zip(&set.states) {
                let ShardState::Radial(p) = &s.state else { return Err(mismatch(path)) };
                parts.push((path.as_path(), p));
            }
            let state = merge_radial(&parts)?;
            let times = state.steps.len();
            report.finish_radial(state)?;
            times
        }
        ShardState::Quadratic(q0) => {
            let mut state = QuadraticState { cross: vec![0.0; q0.cross.len()], ..Default::default() };
            for (s, (path, _)) in shards.iter().zip(&set.states) {
                let ShardState::Quadratic(q) = &s.state else { return Err(mismatch(path)) };
                state.merge(q).map_err(|e| SiemError::invalid(format!("state {}", path.display()), e.to_string()))?;
            }
            let from_pilot = report.quadratic.as_ref().is_some_and(|q| q.center_from_pilot);
            report.finish_quadratic(&state, from_pilot);
            state.profile.len()
        }
    };
    if times != set.units {
        let why = format!("the shards hold {times} window times, the window has {}", set.units);
        return Err(SiemError::invalid("merge", why));
    }
    Ok((report, first.label.clone()))
}

/// The radial states of the shards (in shard order) as one: per-time moments concatenated,
/// per-draw sums added.
fn merge_radial(parts: &[(&std::path::Path, &ProjectionState)]) -> Result<ProjectionState, SiemError> {
    let n = parts.first().map_or(0, |(_, s)| s.draw_cross.len());
    let mut state = ProjectionState { steps: vec![], draw_cross: vec![0.0; n], draw_norm: vec![0.0; n] };
    for (path, s) in parts {
        if s.draw_cross.len() != n || s.draw_norm.len() != n {
            let why = format!("holds {} draws per time, shard 0 holds {n}", s.draw_cross.len());
            return Err(SiemError::invalid(format!("state {}", path.display()), why));
        }
        state.steps.extend(s.steps.iter().cloned());
        state.draw_cross.iter_mut().zip(&s.draw_cross).for_each(|(a, b)| *a += b);
        state.draw_norm.iter_mut().zip(&s.draw_norm).for_each(|(a, b)| *a += b);
    }
    Ok(state)
}
