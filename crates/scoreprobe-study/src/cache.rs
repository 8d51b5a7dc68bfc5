//! Per-model results cached as JSON, written atomically after every metric, so an interrupted
//! study resumes without recomputing what it finished.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One metric's value for one model, with its cost.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub value: f64,
    /// Monte-Carlo standard error where the metric has one.
    pub se: Option<f64>,
    /// Score evaluations per sample (network forward passes per row), including auxiliary nets.
    pub nfe: Option<f64>,
    pub seconds: f64,
    /// Metric-specific extras (e.g. a SIEM profile, a bound's parts).
    #[serde(default)]
    pub details: serde_json::Value,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelResults {
    /// Fingerprint of the study settings the results were computed under.
    pub fingerprint: String,
    pub metrics: BTreeMap<String, Record>,
}

pub struct Cache {
    dir: PathBuf,
    fingerprint: String,
}

impl Cache {
    pub fn new(dir: &Path, fingerprint: String) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create cache directory {}", dir.display()))?;
        Ok(Self { dir: dir.to_path_buf(), fingerprint })
    }

    fn path(&self, model: &str) -> PathBuf {
        self.dir.join(format!("{model}.json"))
    }

    /// Cached results of a model, or empty ones when absent or computed under other settings.
    pub fn load(&self, model: &str) -> ModelResults {
        let fresh = ModelResults { fingerprint: self.fingerprint.clone(), metrics: BTreeMap::new() };
        let Ok(text) = std::fs::read_to_string(self.path(model)) else { return fresh };
        match serde_json::from_str::<ModelResults>(&text) {
            Ok(r) if r.fingerprint == self.fingerprint => r,
            _ => fresh,
        }
    }

    /// Writes a model's results atomically (temp file + rename).
    pub fn store(&self, model: &str, results: &ModelResults) -> Result<()> {
        Ok(scoreprobe_core::fsio::write_atomic(&self.path(model), serde_json::to_string_pretty(results)?.as_bytes())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_only_under_the_same_settings() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), "a".into()).unwrap();
        let mut r = cache.load("m1");
        assert!(r.metrics.is_empty());
        r.metrics.insert(
            "w2".into(),
            Record { value: 1.5, se: None, nfe: Some(10.0), seconds: 0.1, details: serde_json::Value::Null },
        );
        cache.store("m1", &r).unwrap();
        assert_eq!(cache.load("m1"), r);
        let other = Cache::new(dir.path(), "b".into()).unwrap();
        assert!(other.load("m1").metrics.is_empty());
        // a torn write (garbage) is treated as absent, never as an error
        std::fs::write(dir.path().join("m2.json"), b"{\"fingerp").unwrap();
        assert!(cache.load("m2").metrics.is_empty());
    }
}
