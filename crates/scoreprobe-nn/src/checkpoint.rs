//! Checkpoints: `ckpt-<step>.safetensors` (raw weights, EMA weights, AdamW moments) plus a
//! `ckpt-<step>.json` sidecar (architecture, schedule, data, hyperparameters, step, loss, wall
//! time). Both are written atomically (temporary file + rename), tensors first, so a sidecar
//! only ever describes a complete tensor file.

use crate::config::TrainConfig;
use crate::data::{DataShape, DataTransform};
use crate::error::{NnError, Result};
use crate::net::{ArchSpec, Network};
use crate::score::NetScoreModel;
use candle_core::{Device, Tensor};
use scoreprobe_core::fsio::write_atomic;
use scoreprobe_core::schedule::ScheduleSpec;
use scoreprobe_core::ScoreModel;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "scoreprobe-nn/1";

/// Tensor-name prefixes inside a checkpoint.
pub const RAW: &str = "raw.";
pub const EMA: &str = "ema.";
pub const ADAM_M: &str = "adam_m.";
pub const ADAM_V: &str = "adam_v.";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub format: String,
    /// Tensor file, relative to the sidecar's folder.
    pub weights: String,
    pub arch: ArchSpec,
    pub schedule: ScheduleSpec,
    pub data: String,
    pub data_shape: DataShape,
    /// How data were transformed before training (the model's space).
    pub data_transform: DataTransform,
    /// Optimiser steps taken.
    pub step: u64,
    /// The file holds EMA weights (`ema.*`) beside the raw ones (`raw.*`).
    pub has_ema: bool,
    pub ema_decay: f64,
    /// Mean DSM loss (ε-MSE per coordinate) over the steps since the previous checkpoint.
    pub loss: f64,
    /// Training wall-clock seconds up to this step (summed over resumed sessions).
    pub wall_seconds: f64,
    pub num_params: usize,
    /// AdamW's update count (equals `step`).
    pub adam_t: u64,
    pub config: TrainConfig,
    /// The file holds only the weights a sampler loads (see [`slim`]): training cannot resume
    /// from it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sampling_only: bool,
}

/// `ckpt-<step>.safetensors` and `ckpt-<step>.json` in `dir`.
pub fn checkpoint_paths(dir: &Path, step: u64) -> (PathBuf, PathBuf) {
    (dir.join(format!("ckpt-{step}.safetensors")), dir.join(format!("ckpt-{step}.json")))
}

/// Saves named tensors and the sidecar for one step. Same tensors, same bytes: the file's hash
/// can serve as a cache key or a model fingerprint.
pub fn save(dir: &Path, sidecar: &Sidecar, tensors: &[(String, Tensor)]) -> Result<(PathBuf, PathBuf)> {
    let (wpath, jpath) = checkpoint_paths(dir, sidecar.step);
    let meta = BTreeMap::from([("format", FORMAT.to_string()), ("step", sidecar.step.to_string())]);
    let bytes = serialize_sorted(tensors, &meta).map_err(|e| NnError::checkpoint(&wpath, e))?;
    write_atomic(&wpath, &bytes)?;
    let json = serde_json::to_string_pretty(sidecar).expect("a sidecar serialises");
    write_atomic(&jpath, json.as_bytes())?;
    Ok((wpath, jpath))
}

/// The safetensors encoding of `tensors` with every header key in sorted order.
///
/// `safetensors::serialize` takes the `__metadata__` map as a std `HashMap`, whose iteration
/// order is randomised per process, so two identical runs wrote different header bytes. The
/// layout is otherwise the crate's: tensors by descending dtype then name, data back to back, the
/// header padded with spaces to a multiple of 8 bytes.
pub fn serialize_sorted(
    tensors: &[(String, Tensor)],
    meta: &BTreeMap<&str, String>,
) -> std::result::Result<Vec<u8>, String> {
    use safetensors::View;
    let mut order: Vec<&(String, Tensor)> = tensors.iter().collect();
    order.sort_by(|(ln, lt), (rn, rt)| View::dtype(rt).cmp(&View::dtype(lt)).then(ln.cmp(rn)));
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!(meta));
    let mut offset = 0usize;
    for (name, t) in &order {
        let len = View::data_len(t);
        let dtype = serde_json::to_value(View::dtype(t)).map_err(|e| format!("tensor '{name}': {e}"))?;
        let info = serde_json::json!({"dtype": dtype, "shape": t.dims(), "data_offsets": [offset, offset + len]});
        if header.insert(name.clone(), info).is_some() {
            return Err(format!("tensor name '{name}' appears twice"));
        }
        offset += len;
    }
    // a `Map` is a BTreeMap (keys sorted) unless serde_json's `preserve_order` feature is on, when
    // it keeps the insertion order above, which is sorted too
    let mut head = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    head.resize(head.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + head.len() + offset);
    out.extend((head.len() as u64).to_le_bytes());
    out.extend(head);
    for (_, t) in order {
        out.extend(View::data(t).as_ref());
    }
    Ok(out)
}

/// Writes a sampling-only copy of the checkpoint at `path` into `dir`: the weights a sampler loads
/// (EMA where the checkpoint has them, else the raw ones), without the raw weights and AdamW
/// moments, a quarter of the size. For archiving or sharing a checkpoint sweep: every command that
/// samples or measures reads it as it reads the original; `train --resume` refuses it.
pub fn slim(path: &Path, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let (wpath, _) = pair_of(path);
    let mut side = read_sidecar(path)?;
    let keep = if side.has_ema { EMA } else { RAW };
    let tensors: Vec<(String, Tensor)> =
        read_tensors(&wpath, &Device::Cpu)?.into_iter().filter(|(name, _)| name.starts_with(keep)).collect();
    if tensors.is_empty() {
        return Err(NnError::checkpoint(&wpath, format!("holds no '{keep}*' tensors to keep")));
    }
    side.sampling_only = true;
    std::fs::create_dir_all(dir).map_err(|source| NnError::Io {
        path: dir.into(),
        action: "cannot create directory",
        source,
    })?;
    save(dir, &side, &tensors)
}

/// Accepts either file of a checkpoint pair and returns (tensor file, sidecar).
fn pair_of(path: &Path) -> (PathBuf, PathBuf) {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => (path.with_extension("safetensors"), path.to_path_buf()),
        _ => (path.to_path_buf(), path.with_extension("json")),
    }
}

pub fn read_sidecar(path: &Path) -> Result<Sidecar> {
    let (wpath, jpath) = pair_of(path);
    let text = std::fs::read_to_string(&jpath).map_err(|e| {
        NnError::checkpoint(
            &wpath,
            format!(
                "cannot read the checkpoint's sidecar {} ({e}); a checkpoint needs its .json sidecar to rebuild the architecture",
                jpath.display()
            ),
        )
    })?;
    let side: Sidecar =
        serde_json::from_str(&text).map_err(|source| NnError::Sidecar { path: jpath.clone(), source })?;
    if side.format != FORMAT {
        return Err(NnError::checkpoint(
            &jpath,
            format!("unsupported checkpoint format '{}' (expected {FORMAT})", side.format),
        ));
    }
    Ok(side)
}

/// Reads every tensor of a checkpoint file, with errors that name the file.
pub fn read_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|source| NnError::Io {
        path: path.into(),
        action: "cannot read checkpoint",
        source,
    })?;
    if let Err(source) = safetensors::SafeTensors::deserialize(&bytes) {
        return Err(NnError::Safetensors {
            path: path.into(),
            action: format!("truncated or corrupt safetensors file ({} bytes)", bytes.len()),
            source,
        });
    }
    candle_core::safetensors::load_buffer(&bytes, device)
        .map_err(|e| NnError::checkpoint(path, format!("cannot decode tensors: {e}")))
}

/// Completed checkpoints (both files present) in `dir`, sorted by step.
pub fn list_checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let io = |source| NnError::Io { path: dir.into(), action: "cannot list", source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let p = entry.map_err(io)?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if let Some(step) =
            name.strip_prefix("ckpt-").and_then(|s| s.strip_suffix(".safetensors")).and_then(|s| s.parse::<u64>().ok())
        {
            if p.with_extension("json").exists() {
                out.push((step, p));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Load the EMA weights (default) rather than the raw ones.
    pub use_ema: bool,
    pub device: Device,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { use_ema: true, device: crate::default_device() }
    }
}

/// Rebuilds a checkpoint as a concrete [`NetScoreModel`] and returns its sidecar.
pub fn load_score_model(path: &Path, opts: &LoadOptions) -> Result<(NetScoreModel, Sidecar)> {
    let (wpath, _) = pair_of(path);
    let side = read_sidecar(path)?;
    let net: Network = side
        .arch
        .build(0, &opts.device)
        .map_err(|e| NnError::checkpoint(&wpath, format!("sidecar architecture: {e}")))?;
    let tensors = read_tensors(&wpath, &opts.device)?;
    let prefix = if opts.use_ema && side.has_ema { EMA } else { RAW };
    let file = wpath.display().to_string();
    let values = net.params().take_from(&tensors, prefix, &file)?;
    net.params().assign(&values)?;
    let which = if prefix == EMA { "ema" } else { "raw" };
    let desc = format!(
        "{} on {} at step {} ({which} weights, {})",
        side.arch.describe(),
        side.data,
        side.step,
        wpath.display()
    );
    let model = NetScoreModel::new(net, side.arch.clone(), side.schedule.clone(), desc)?;
    Ok((model, side))
}

/// Loads a checkpoint (either file of the pair) as a core `ScoreModel`, EMA weights by default.
pub fn load_checkpoint(path: &Path) -> Result<Box<dyn ScoreModel>> {
    load_checkpoint_with(path, &LoadOptions::default())
}

pub fn load_checkpoint_with(path: &Path, opts: &LoadOptions) -> Result<Box<dyn ScoreModel>> {
    Ok(Box::new(load_score_model(path, opts)?.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors() -> Vec<(String, Tensor)> {
        let t = |v: Vec<f32>, n: usize| Tensor::from_vec(v, n, &Device::Cpu).unwrap();
        vec![("raw.b".into(), t(vec![1.0, 2.0, 3.0], 3)), ("ema.a".into(), t(vec![-4.5], 1))]
    }

    #[test]
    fn serialised_bytes_ignore_input_order_and_parse_back() {
        let meta = BTreeMap::from([("step", "7".to_string()), ("format", FORMAT.to_string())]);
        let a = serialize_sorted(&tensors(), &meta).unwrap();
        let mut rev = tensors();
        rev.reverse();
        assert_eq!(a, serialize_sorted(&rev, &meta).unwrap());
        let n = u64::from_le_bytes(a[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let head = std::str::from_utf8(&a[8..8 + n]).unwrap();
        assert!(head.starts_with(r#"{"__metadata__":{"format":"scoreprobe-nn/1","step":"7"},"ema.a":"#), "{head}");
        let (_, parsed) = safetensors::SafeTensors::read_metadata(&a).unwrap();
        assert_eq!(parsed.metadata().as_ref().unwrap()["step"], "7");
        let back = candle_core::safetensors::load_buffer(&a, &Device::Cpu).unwrap();
        assert_eq!(back["raw.b"].to_vec1::<f32>().unwrap(), [1.0, 2.0, 3.0]);
        assert_eq!(back["ema.a"].to_vec1::<f32>().unwrap(), [-4.5]);
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut t = tensors();
        t.push(t[0].clone());
        let err = serialize_sorted(&t, &BTreeMap::new()).unwrap_err();
        assert!(err.contains("raw.b"), "{err}");
    }
}
