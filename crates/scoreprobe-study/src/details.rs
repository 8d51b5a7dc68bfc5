//! The plain records each kind of metric keeps beside its value (a leaf: records, the cache and
//! the report read them without depending on the metrics that compute them).

use scoreprobe_siem::{ErrorFieldKind, SiemForm};
use serde::{Deserialize, Serialize};

/// Details of w2, fd and kid. Every field is optional: which ones are written depends on the
/// metric and on the reference (the same objects earlier versions wrote).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleDetails {
    /// w2: the ground cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
    /// w2: reference samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// The feature space (`identity` for fd/kid on an exact-score target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<String>,
    /// Data-set references: the feature dimension, the data set and its sample size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_dim: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_reference: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactKlDetails {
    /// What the value is.
    pub reference: String,
}

/// What the four records of one bounds run share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundsDetails {
    pub estimator: String,
    pub prior_kl: f64,
    pub t_min: f64,
    pub quadrature: String,
    /// |fine − coarse| of the quadrature's halving rule, per bound.
    pub girsanov_quad_err: f64,
    pub marginal_quad_err: f64,
    /// KL(p_tmin‖q_tmin) where known.
    pub exact_kl: Option<f64>,
}

/// The test functions as reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestFnDetails {
    pub kind: String,
    pub bandwidth_rule: String,
    /// One bandwidth per centre.
    pub bandwidths: Vec<f64>,
    pub centers: Vec<Vec<f64>>,
    /// Fingerprint of `centers` and the seed they were drawn with (absent in earlier records).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub centers_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_seed: Option<u64>,
    pub k: usize,
}

/// One step of SIEM's per-step profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileStep {
    pub index: usize,
    pub t: f64,
    pub dt: f64,
    pub beta2: f64,
    /// The rate's expectation: particle form E_{q_t}[(ê·∇φ)²], projection form (1/K) Σ_c m̂_c(t)²
    /// (both averaged over the test functions).
    pub mean_sq: f64,
}

/// What the per-unit values of a SIEM record are, which decides how a paired SE is formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// Per-trajectory sums S_i (particle form; SIEM = their mean): i.i.d. over trajectories, paired
    /// SE = sd(S^a − S^b)/√n.
    Trajectories,
    /// Leave-one-draw-out values (projection form; their mean is SIEM): the jackknife of the
    /// difference, √((n−1)/n Σ (D₍₋ᵢ₎ − D̄)²), D = a − b (conservative near m = 0).
    LeaveOneOut,
}

/// Per-unit values of one SIEM run. Every model of a study is run on the same random numbers, so
/// unit i of two models shares its draws and their difference is paired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedUnits {
    pub kind: UnitKind,
    pub values: Vec<f64>,
}

impl PairedUnits {
    /// The paired SE of (self − other), or None when the units do not pair (other kinds or
    /// counts, fewer than 2).
    pub fn paired_se(&self, other: &PairedUnits) -> Option<f64> {
        if self.kind != other.kind || self.values.len() != other.values.len() || self.values.len() < 2 {
            return None;
        }
        match self.kind {
            UnitKind::LeaveOneOut => scoreprobe_siem::projection::paired_jackknife_se(&self.values, &other.values),
            UnitKind::Trajectories => {
                let d: Vec<f64> = self.values.iter().zip(&other.values).map(|(a, b)| a - b).collect();
                let n = d.len() as f64;
                let mean = d.iter().sum::<f64>() / n;
                Some((d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0) / n).sqrt())
            }
        }
    }
}

/// What a SIEM record keeps of the estimator's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiemDetails {
    /// Projection or particle (records written before the projection form are particle).
    #[serde(default = "particle_form")]
    pub form: SiemForm,
    pub window: String,
    /// NFE of a full sampling run, for the cost ratio of a window.
    pub nfe_full: usize,
    /// The particle form's error field (none for the projection form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_field: Option<ErrorFieldKind>,
    pub test_fn: TestFnDetails,
    pub profile: Vec<ProfileStep>,
    /// Particle form only: the empirical QV diagnostic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empirical_qv: Option<f64>,
    /// The error source's own facts (e.g. the classifier's held-out accuracy), shown as they are.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub source: serde_json::Value,
    /// Per-unit values for paired comparisons between models (absent in records of earlier
    /// versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<PairedUnits>,
}

fn particle_form() -> SiemForm {
    SiemForm::Particle
}
