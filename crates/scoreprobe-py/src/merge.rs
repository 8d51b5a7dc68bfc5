//! `scoreprobe.merge(states)`: the states of a sharded run (`shard=`, `state_out=`, or the CLI's
//! `--shard I/K --state-out PATH`) merged into the dict the unsharded run returns.

use crate::convert::json_to_py;
use crate::errors::msg_to_py;
use numpy::PyArray2;
use pyo3::prelude::*;
use scoreprobe_core::state::{read_shards, ShardSet, StateKind};
use std::path::PathBuf;

/// The merged report of the K shards' state files (any order), as the unsharded run's dict
/// (`siem`'s for projection-form states; `scoreprobe metrics --json`'s for metrics states);
/// for `sample` states, the unsharded run's (n, dim) array.
#[pyfunction]
pub fn merge<'py>(py: Python<'py>, states: Vec<PathBuf>) -> PyResult<Bound<'py, PyAny>> {
    match py.detach(|| merged(&states)).map_err(msg_to_py)? {
        Merged::Report(value) => json_to_py(py, &value),
        Merged::Samples(x) => Ok(PyArray2::from_owned_array(py, x).into_any()),
    }
}

/// What a merge returns to Python.
enum Merged {
    Report(serde_json::Value),
    Samples(ndarray::Array2<f64>),
}

fn merged(states: &[PathBuf]) -> Result<Merged, String> {
    let set = read_shards(states).map_err(|e| e.to_string())?;
    match set.kind {
        StateKind::Sample => {
            Ok(Merged::Samples(scoreprobe_core::sample_state::merge(&set).map_err(|e| e.to_string())?.x))
        }
        _ => merged_report(&set).map(Merged::Report),
    }
}

fn merged_report(set: &ShardSet) -> Result<serde_json::Value, String> {
    match set.kind {
        StateKind::SiemProjection => {
            let (report, _) = scoreprobe_siem::shard::merge_projection(set).map_err(|e| e.to_string())?;
            serde_json::to_value(&report).map_err(|e| e.to_string())
        }
        StateKind::SiemParticle => {
            let (report, _) = scoreprobe_siem::particle_shard::merge_particle(set).map_err(|e| e.to_string())?;
            serde_json::to_value(&report).map_err(|e| e.to_string())
        }
        StateKind::MetricsFd => scoreprobe_metrics::fd_state::merge_fd(set).map_err(|e| e.to_string()),
        StateKind::MetricsPoints => scoreprobe_metrics::points_state::merge_points(set).map_err(|e| e.to_string()),
        StateKind::Bounds => {
            let (report, _) = scoreprobe_hodge::shard::merge_bounds(set).map_err(|e| e.to_string())?;
            serde_json::to_value(report).map_err(|e| e.to_string())
        }
        StateKind::Hodge => {
            let (profile, _) = scoreprobe_hodge::shard::merge_hodge(set).map_err(|e| e.to_string())?;
            serde_json::to_value(profile.report()).map_err(|e| e.to_string())
        }
        StateKind::Sample => unreachable!("sample states merge to an array"),
    }
}
