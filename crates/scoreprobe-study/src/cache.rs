//! Per-model results cached as JSON, written atomically after every metric, so an interrupted
//! study resumes without recomputing what it finished.
//!
//! The file format is the one of earlier versions (metric names as keys, each record's details as
//! a plain object), so caches written before the typed registry are read as they are. A file that
//! cannot be read back (a torn write, another format, other settings) is recomputed, never an
//! error. Failures are never cached: a re-run tries a failed metric again.

use crate::error::StudyError;
use crate::id::MetricId;
use crate::record::{Record, StoredRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A model's results, with the fingerprint of the settings they were computed under.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "StoredResults")]
pub struct ModelResults {
    pub fingerprint: String,
    pub metrics: BTreeMap<MetricId, Record>,
}

impl ModelResults {
    pub fn get(&self, id: MetricId) -> Option<&Record> {
        self.metrics.get(&id)
    }
}

#[derive(Deserialize)]
struct StoredResults {
    fingerprint: String,
    metrics: BTreeMap<MetricId, StoredRecord>,
}

impl TryFrom<StoredResults> for ModelResults {
    type Error = serde_json::Error;
    fn try_from(s: StoredResults) -> Result<Self, Self::Error> {
        let metrics = s.metrics.into_iter().map(|(id, r)| Ok((id, r.decode(id)?))).collect::<Result<_, _>>()?;
        Ok(ModelResults { fingerprint: s.fingerprint, metrics })
    }
}

pub struct Cache {
    dir: PathBuf,
    fingerprint: String,
}

impl Cache {
    pub fn new(dir: &Path, fingerprint: String) -> Result<Self, StudyError> {
        std::fs::create_dir_all(dir).map_err(|e| StudyError::Write { path: dir.to_path_buf(), source: Box::new(e) })?;
        Ok(Self { dir: dir.to_path_buf(), fingerprint })
    }

    fn path(&self, model: &str) -> PathBuf {
        self.dir.join(format!("{model}.json"))
    }

    /// Cached results of a model, or empty ones when absent, unreadable or computed under other
    /// settings.
    pub fn load(&self, model: &str) -> ModelResults {
        let fresh = ModelResults { fingerprint: self.fingerprint.clone(), metrics: BTreeMap::new() };
        let Ok(text) = std::fs::read_to_string(self.path(model)) else { return fresh };
        match serde_json::from_str::<ModelResults>(&text) {
            Ok(r) if r.fingerprint == self.fingerprint => r,
            _ => fresh,
        }
    }

    /// Writes a model's results atomically (temp file + rename).
    pub fn store(&self, model: &str, results: &ModelResults) -> Result<(), StudyError> {
        let path = self.path(model);
        let text = serde_json::to_string_pretty(results)
            .map_err(|source| StudyError::Json { what: "cached results", source })?;
        scoreprobe_core::fsio::write_atomic(&path, text.as_bytes())
            .map_err(|e| StudyError::Write { path, source: e.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::SampleDetails;
    use crate::record::Details;

    fn w2(value: f64) -> Record {
        Record {
            value,
            se: None,
            nfe: Some(10.0),
            seconds: 0.1,
            details: Details::Sample(SampleDetails {
                cost: Some("|x-y|^2".into()),
                n: Some(100),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn resumes_only_under_the_same_settings() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), "a".into()).unwrap();
        let mut r = cache.load("m1");
        assert!(r.metrics.is_empty());
        r.metrics.insert(MetricId::W2, w2(1.5));
        cache.store("m1", &r).unwrap();
        assert_eq!(cache.load("m1"), r);
        let other = Cache::new(dir.path(), "b".into()).unwrap();
        assert!(other.load("m1").metrics.is_empty());
        // a torn write (garbage) is treated as absent, never as an error
        std::fs::write(dir.path().join("m2.json"), b"{\"fingerp").unwrap();
        assert!(cache.load("m2").metrics.is_empty());
    }

    /// A resumed study must give the numbers of an uninterrupted one, bit for bit: every f64 a
    /// record holds reads back exactly (serde_json's `float_roundtrip`; its default parser may be
    /// 1 ULP off on 17-digit numbers, e.g. 0.020394821903485294 of a ring8 FD).
    #[test]
    fn values_read_back_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), "a".into()).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut values: Vec<f64> = vec![0.020394821903485294, 1.4798367834221823e-13, 15.948065120999999];
        values.extend((0..2000).map(|_| f64::from_bits(rng.random::<u64>() >> 2)).filter(|v| v.is_finite()));
        let mut r = cache.load("m");
        r.metrics.insert(MetricId::W2, Record { se: Some(values[1]), seconds: values[2], ..w2(values[0]) });
        cache.store("m", &r).unwrap();
        assert_eq!(cache.load("m"), r);
        for (i, v) in values.iter().enumerate() {
            r.metrics.insert(MetricId::Fd, Record { se: Some(values[(i + 1) % values.len()]), ..w2(*v) });
            let back: ModelResults = serde_json::from_str(&serde_json::to_string_pretty(&r).unwrap()).unwrap();
            assert_eq!(back.get(MetricId::Fd).unwrap().value.to_bits(), v.to_bits(), "{v:e}");
            assert_eq!(back, r);
        }
    }

    /// A cache file as the untyped runner wrote it (details as free JSON objects) reads back with
    /// typed details: caches of earlier studies stay valid.
    #[test]
    fn caches_written_before_the_typed_registry_are_read() {
        let old = r#"{
  "fingerprint": "f",
  "metrics": {
    "exact_kl": {"value": 0.5, "se": null, "nfe": null, "seconds": 0.2,
      "details": {"reference": "KL(p_tmin || q_tmin), continuous reverse SDE from N(0,I)"}},
    "fd": {"value": 0.01, "se": null, "nfe": 200.0, "seconds": 0.3, "details": {"features": "identity"}},
    "girsanov": {"value": 0.3, "se": 0.001, "nfe": null, "seconds": 1.0,
      "details": {"estimator": "grid", "exact_kl": null, "girsanov_quad_err": 1e-4, "marginal_quad_err": 2e-4,
                  "prior_kl": 1e-5, "quadrature": "composite Simpson in ln t, 8 panels", "t_min": 0.001}},
    "siem_window": {"value": 2e-5, "se": 1e-6, "nfe": 20.0, "seconds": 0.5,
      "details": {"empirical_qv": 0.1, "error_field": "oracle", "nfe_full": 200,
        "profile": [{"beta2": 400.0, "dt": 0.005, "index": 199, "mean_sq": 1e-3, "t": 1.0}],
        "source": {"exact_error": "s_theta - grad log p_t"},
        "test_fn": {"bandwidth_rule": "median-pooled", "bandwidths": [1.2], "centers": [[0.0, 0.0]], "k": 1,
                    "kind": "gaussian"},
        "window": "180..199"}}
  }
}"#;
        let r: ModelResults = serde_json::from_str(old).unwrap();
        assert_eq!(r.metrics.len(), 4);
        let g = r.get(MetricId::Girsanov).unwrap().details.bounds().expect("bounds details");
        assert_eq!((g.girsanov_quad_err, g.marginal_quad_err, g.exact_kl), (1e-4, 2e-4, None));
        let s = r.get(MetricId::SiemWindow).unwrap().details.siem().expect("siem details");
        assert_eq!(s.profile[0].beta2 * s.profile[0].mean_sq, 0.4);
        assert_eq!(s.window, "180..199");
        assert_eq!(s.form, scoreprobe_siem::SiemForm::Particle, "records before the projection form are particle");
        // written back, the same JSON object, with the SIEM record's form named
        let again: serde_json::Value = serde_json::to_value(&r).unwrap();
        let mut old: serde_json::Value = serde_json::from_str(old).unwrap();
        old["metrics"]["siem_window"]["details"]["form"] = "particle".into();
        assert_eq!(again, old);
    }
}
