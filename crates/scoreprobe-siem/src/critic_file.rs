//! Fit once, evaluate everywhere: the `critic` error field saved after its fit
//! (`--error-field-out PATH`, Python `error_field_out=`) and loaded instead of fitted
//! (`--error-field-in PATH`, `error_field_in=`), so one fit serves every shard of a run.
//!
//! The field is fitted band-wise (one critic per time band, `--critic-band-steps`), and saved so:
//! with one band, PATH holds its network (safetensors, [`ScalarCritic::save`]); with several, each
//! kept band's network is in PATH's stem with the band's steps (`critic.900-999.safetensors`).
//! Beside them, PATH with the extension `.json`, a sidecar records what makes the fit compatible
//! with a run (the kind, the dimension, the model's description, the schedule, the window and grid,
//! `band_steps`, the seeds, the fit's settings), what the fit cost, its report and every band's
//! report with its network's file (null for a dropped band: its field is zero). A run that loads a
//! field checks every entry and refuses one that differs, naming it; it reports the fit's cost,
//! details and bands as the fitting run did, so its report is the fitting run's. Every file is
//! written atomically.

use crate::error::SiemError;
use crate::source::{AuxCost, PrepareContext, SourceBand};
use candle_core::Device;
use scoreprobe_core::options::OptionError;
use scoreprobe_core::Schedule;
use scoreprobe_nn::critic_fit::ScalarCritic;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// The sidecar's `format`.
const FORMAT: &str = "scoreprobe-error-field";
/// The entries of the sidecar a loading run compares with its own, in the order they are checked.
const COMPATIBLE: [&str; 11] =
    ["kind", "dim", "model", "schedule", "window", "steps", "t_min", "band_steps", "seed", "sampler_seed", "fit"];
/// The sidecar's `version` (2: band-wise; 1, one network without bands, is refused by its entries).
const VERSION: u64 = 2;

/// A fitted critic as a run uses it: each band's network (none where the band was dropped) with
/// the band's report, in sampling order, the source's report and what its fit cost.
pub struct LoadedCritic {
    pub bands: Vec<(Option<ScalarCritic>, SourceBand)>,
    pub details: Value,
    pub cost: AuxCost,
}

/// One band of a fit to save: its network (None: dropped) and its report.
pub struct SavedBand<'a> {
    pub net: Option<&'a ScalarCritic>,
    pub report: &'a SourceBand,
}

/// The file of band `steps` (`900..999`) of the field at `path` when there are several bands.
fn band_file(path: &Path, steps: &str) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{}.{}", steps.replace("..", "-"), ext.to_string_lossy()),
        None => format!("{stem}.{}", steps.replace("..", "-")),
    };
    path.with_file_name(name)
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
pub fn compatibility(ctx: &PrepareContext, seed: u64, band_steps: usize, fit: String) -> Map<String, Value> {
    let window = ctx.sampler.window.map(|w| w.to_string());
    let entries = json!({
        "kind": "critic", "dim": ctx.model.dim(), "model": ctx.model.describe(),
        "schedule": schedule_id(ctx.schedule), "window": window, "steps": ctx.sampler.steps,
        "t_min": ctx.sampler.t_min, "band_steps": band_steps, "seed": seed, "sampler_seed": ctx.sampler.seed, "fit": fit,
    });
    entries.as_object().cloned().unwrap_or_default()
}

/// Saves a band-wise fitted critic (a band's `net`: None where it was dropped) with its sidecar.
pub fn save(
    path: &Path,
    bands: &[SavedBand],
    mut compat: Map<String, Value>,
    details: &Value,
    cost: &AuxCost,
) -> Result<(), SiemError> {
    let side = sidecar(path, "error_field_out")?;
    let mut entries = Vec::with_capacity(bands.len());
    for band in bands {
        let weights = match band.net {
            Some(net) => {
                let file = if bands.len() == 1 { path.to_path_buf() } else { band_file(path, &band.report.steps) };
                net.save(&file).map_err(SiemError::network("critic"))?;
                file.file_name().map(|f| f.to_string_lossy().to_string())
            }
            None => None,
        };
        entries.push(json!({"weights": weights, "report": band.report}));
    }
    compat.insert("format".into(), FORMAT.into());
    compat.insert("version".into(), VERSION.into());
    compat.insert("bands".into(), Value::Array(entries));
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
    if saved.get("version").and_then(Value::as_u64) != Some(VERSION) {
        return Err(refuse(format!("{}: not a version {VERSION} (band-wise) error field", side.display())));
    }
    let entries = saved.get("bands").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut bands = Vec::with_capacity(entries.len());
    for entry in entries {
        let report: SourceBand = serde_json::from_value(entry["report"].clone())
            .map_err(|e| refuse(format!("{}: a band's report: {e}", side.display())))?;
        let net = match entry["weights"].as_str() {
            Some(file) => {
                Some(ScalarCritic::load(&path.with_file_name(file), device).map_err(SiemError::network("critic"))?)
            }
            None => None,
        };
        bands.push((net, report));
    }
    // a sidecar without its cost (hand-written, older) loads with the cost unknown (0), never a panic
    let count = |key: &str| saved.get("cost").and_then(|c| c.get(key)).and_then(Value::as_u64).unwrap_or(0) as usize;
    let cost = AuxCost { score_evals: count("score_evals"), aux_evals: count("aux_evals"), seconds: 0.0 };
    Ok(LoadedCritic { bands, details: saved.get("details").cloned().unwrap_or(Value::Null), cost })
}
