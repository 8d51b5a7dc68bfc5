//! A fitted scalar critic as a file: its weights and standardisation in one safetensors file, so
//! that one fit serves many runs (the SIEM shards of `--error-field-in`). The caller keeps what
//! makes a fit compatible with a run in its own sidecar; this file holds only the network.

use super::{ScalarCritic, Standardize};
use crate::checkpoint::{read_tensors, serialize_sorted};
use crate::error::{NnError, Result};
use crate::jvp::JvpMlp;
use crate::mlp::MlpSpec;
use candle_core::{DType, Device, Tensor};
use ndarray::Array1;
use std::collections::BTreeMap;
use std::path::Path;

/// The `format` entry of a critic file's metadata.
const FORMAT: &str = "scoreprobe-scalar-critic-1";
/// The tensor names of the standardisation (the network's own are prefixed with `net.`).
const CENTER: &str = "standardize.center";

impl ScalarCritic {
    /// Writes the critic to `path` (safetensors, atomically): the network's parameters, the input
    /// standardisation and the evaluation settings, in the header's metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (name, var) in self.net.mlp().params().vars() {
            tensors.push((format!("net.{name}"), var.as_tensor().detach().copy()?));
        }
        let center = self.st.center.to_vec();
        tensors.push((CENTER.into(), Tensor::from_vec(center, &[self.dim()], &Device::Cpu)?));
        let spec = serde_json::to_string(self.net.spec()).expect("a spec serialises");
        let meta = BTreeMap::from([
            ("format", FORMAT.to_string()),
            ("spec", spec),
            ("scale", format!("{:?}", self.st.scale)),
            ("exact_max_dim", self.exact_max_dim.to_string()),
            ("directions", self.directions.to_string()),
        ]);
        let bytes = serialize_sorted(&tensors, &meta).map_err(|e| NnError::checkpoint(path, e))?;
        scoreprobe_core::fsio::write_atomic(path, &bytes)
            .map_err(|e| NnError::checkpoint(path, format!("cannot write: {e}")))?;
        Ok(())
    }

    /// Reads a critic written by [`ScalarCritic::save`] onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<ScalarCritic> {
        let meta = read_metadata(path)?;
        let bad = |why: String| NnError::checkpoint(path, why);
        let get = |key: &str| meta.get(key).cloned().ok_or_else(|| bad(format!("its metadata has no '{key}'")));
        if get("format")? != FORMAT {
            return Err(bad(format!("is not a scalar critic file (format '{}', expected '{FORMAT}')", get("format")?)));
        }
        let spec: MlpSpec = serde_json::from_str(&get("spec")?).map_err(|e| bad(format!("spec: {e}")))?;
        let number = |key: &str| get(key)?.parse::<f64>().map_err(|e| bad(format!("{key}: {e}")));
        let (scale, exact_max_dim, directions) =
            (number("scale")?, number("exact_max_dim")? as usize, number("directions")? as usize);
        let net = JvpMlp::new(&spec, 0, device)?;
        let tensors = read_tensors(path, device)?;
        let file = path.display().to_string();
        let values = net.mlp().params().take_from(&tensors, "net.", &file)?;
        net.mlp().params().assign(&values)?;
        let center = tensors.get(CENTER).ok_or_else(|| bad(format!("tensor '{CENTER}' is missing")))?;
        let center: Vec<f64> = center.to_dtype(DType::F64)?.to_vec1()?;
        if center.len() != spec.dim {
            return Err(bad(format!(
                "'{CENTER}' has {} entries, the network's dimension is {}",
                center.len(),
                spec.dim
            )));
        }
        let st = Standardize { center: Array1::from(center), scale };
        Ok(ScalarCritic { net, st, device: device.clone(), exact_max_dim, directions })
    }
}

/// The `__metadata__` of a safetensors file.
fn read_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|source| NnError::Io {
        path: path.into(),
        action: "cannot read critic",
        source,
    })?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| NnError::checkpoint(path, format!("truncated or corrupt safetensors file: {e}")))?;
    Ok(header.metadata().clone().unwrap_or_default().into_iter().collect())
}
