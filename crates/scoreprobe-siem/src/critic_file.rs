//! Fit once, evaluate everywhere: the `critic` error field saved after its fit
//! (`--error-field-out PATH`, Python `error_field_out=`) and loaded instead of fitted
//! (`--error-field-in PATH`, `error_field_in=`), so one fit serves every shard of a run.
//!
//! PATH holds the network (safetensors, [`ScalarCritic::save`]); beside it, PATH with the
//! extension `.json`, a sidecar records what makes the fit compatible with a run (the kind, the
//! dimension, the model's description, the schedule, the window and grid, the seeds, the fit's
//! settings), what the fit cost and its report. A run that loads a field checks every entry and
//! refuses one that differs, naming it; it reports the fit's cost and details as the fitting run
//! did, so its report is the fitting run's. Both files are written atomically.

use crate::error::SiemError;
use crate::source::{AuxCost, PrepareContext};
use candle_core::Device;
use scoreprobe_core::options::OptionError;
use scoreprobe_core::Schedule;
use scoreprobe_nn::critic_fit::ScalarCritic;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The sidecar's `format`.
const FORMAT: &str = "scoreprobe-error-field";
/// The entries of the sidecar a loading run compares with its own, in the order they are checked.
const COMPATIBLE: [&str; 10] =
    ["kind", "dim", "model", "schedule", "window", "steps", "t_min", "seed", "sampler_seed", "fit"];

/// A fitted critic as a run uses it: the network (none when the zero field was kept), its report
/// and what its fit cost.
pub struct LoadedCritic {
    pub net: Option<ScalarCritic>,
    pub details: Value,
    pub cost: AuxCost,
}

/// The sidecar of the field at `path` (`option` names the option in the error).
fn sidecar(path: &Path, option: &str) -> Result<PathBuf, SiemError> {
    let side = path.with_extension("json");
    if side == path {
        let why =
            format!("{}: give the network's file (e.g. critic.safetensors); its sidecar is PATH.json", path.display());
        return Err(OptionError::new(option, why).into());
    }
    Ok(side)
}

/// A schedule as text: equal texts, equal schedules.
fn schedule_id(s: &Schedule) -> String {
    match s {
        Schedule::Vp { beta_min, beta_max } => format!("vp(beta_min={beta_min:?}, beta_max={beta_max:?})"),
        Schedule::Ddpm { betas, .. } => {
            let bytes: Vec<u8> = betas.iter().flat_map(|b| b.to_le_bytes()).collect();
            format!("ddpm({} steps, betas {})", betas.len(), scoreprobe_core::state::fingerprint(&bytes))
        }
    }
}

/// What makes a critic fitted for the run of `ctx` usable by another run.
pub fn compatibility(ctx: &PrepareContext, seed: u64, fit: String) -> Map<String, Value> {
    let window = ctx.sampler.window.map(|w| w.to_string());
    let entries = json!({
        "kind": "critic", "dim": ctx.model.dim(), "model": ctx.model.describe(),
        "schedule": schedule_id(ctx.schedule), "window": window, "steps": ctx.sampler.steps,
        "t_min": ctx.sampler.t_min, "seed": seed, "sampler_seed": ctx.sampler.seed, "fit": fit,
    });
    entries.as_object().cloned().unwrap_or_default()
}

/// Saves a fitted critic (`net`: None when its held-out objective chose the zero field) with its
/// sidecar.
pub fn save(
    path: &Path,
    net: Option<&ScalarCritic>,
    mut compat: Map<String, Value>,
    details: &Value,
    cost: &AuxCost,
) -> Result<(), SiemError> {
    let side = sidecar(path, "error_field_out")?;
    let net = net.ok_or_else(|| {
        let why = "the critic's held-out objective is <= 0, so the zero field is used: there is no network to save";
        OptionError::new("error_field_out", why)
    })?;
    net.save(path).map_err(SiemError::network("critic"))?;
    compat.insert("format".into(), FORMAT.into());
    compat.insert("version".into(), 1.into());
    compat.insert("weights".into(), path.file_name().map(|f| f.to_string_lossy().to_string()).into());
    compat.insert("cost".into(), json!({"score_evals": cost.score_evals, "aux_evals": cost.aux_evals}));
    compat.insert("details".into(), details.clone());
    let text = serde_json::to_string_pretty(&compat).expect("a sidecar serialises");
    scoreprobe_core::fsio::write_atomic(&side, text.as_bytes())?;
    Ok(())
}

/// Loads the critic at `path`, refusing one whose sidecar differs from `compat` (the run's own).
pub fn load(path: &Path, compat: &Map<String, Value>, device: &Device) -> Result<LoadedCritic, SiemError> {
    let side = sidecar(path, "error_field_in")?;
    let refuse = |why: String| -> SiemError { OptionError::new("error_field_in", why).into() };
    let text = std::fs::read_to_string(&side).map_err(|e| refuse(format!("cannot read {}: {e}", side.display())))?;
    let saved: Map<String, Value> = serde_json::from_str(&text)
        .map_err(|e| refuse(format!("{}: not an error-field sidecar: {e}", side.display())))?;
    if saved.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(refuse(format!("{}: not an error-field sidecar (its format is not '{FORMAT}')", side.display())));
    }
    for field in COMPATIBLE {
        let (mine, theirs) = (compat.get(field).unwrap_or(&Value::Null), saved.get(field).unwrap_or(&Value::Null));
        if mine != theirs {
            return Err(refuse(format!(
                "{} was fitted with {field} {theirs}, this run has {field} {mine}; fit the field for this run",
                side.display()
            )));
        }
    }
    let net = ScalarCritic::load(path, device).map_err(SiemError::network("critic"))?;
    let count = |key: &str| saved["cost"][key].as_u64().unwrap_or(0) as usize;
    let cost = AuxCost { score_evals: count("score_evals"), aux_evals: count("aux_evals"), seconds: 0.0 };
    Ok(LoadedCritic { net: Some(net), details: saved.get("details").cloned().unwrap_or(Value::Null), cost })
}
