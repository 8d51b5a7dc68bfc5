//! A study's settings (a leaf below the runner: the metrics read them through their context).

use crate::error::StudyError;
use scoreprobe_core::sampler::SamplerKind;
use scoreprobe_core::window::Window;
use scoreprobe_hodge::critic::CriticFitConfig;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StudySettings {
    /// Generated samples (and SIEM trajectories) per model; target samples for the references.
    pub n: usize,
    /// Sampler steps on [t_min, 1]; the high-noise window is the top 10% of them.
    pub steps: usize,
    pub t_min: f64,
    pub seed: u64,
    /// Test functions of the multi-centre SIEM.
    pub siem_centers: usize,
    /// Seed of SIEM's test functions (centres, pilot bandwidth): part of the metric, independent
    /// of `seed`, so every model and replicate seed is measured with the same test functions.
    pub test_seed: u64,
    /// Simpson panels in ln t of the KL bounds.
    pub bound_panels: usize,
    /// Resolution of the grid Hodge solve behind the bounds (d ≤ 2): cells per smallest
    /// component std of p_t, and the cap per axis.
    pub grid_cells_per_std: f64,
    pub grid_max_cells: usize,
    /// Critic fits (the `siem_critic*` error field; the bounds on a data-set reference): optimiser
    /// steps, a fixed pool of draws instead of fresh ones per step, and held-out draws. None: the
    /// estimators' defaults (1000 steps of 512 fresh draws; 16 384 held out for SIEM, 40 000 for
    /// the bounds). Image models need a pool: fresh draws cost one network call per row per step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_steps: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_pool: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_holdout: Option<usize>,
    /// Critic fits: rows per optimiser step, and random tangent directions per row above 64
    /// dimensions (the fit's cost grows with both; None: 512 and 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic_directions: Option<usize>,
    /// The sampler of the generated samples (fd/kid/w2/prdc). Written only when it is not the
    /// default (Euler–Maruyama), and read as the default when absent (settings of older studies).
    #[serde(default = "em", skip_serializing_if = "is_em")]
    pub sampler: SamplerKind,
}

fn em() -> SamplerKind {
    SamplerKind::Em
}

fn is_em(kind: &SamplerKind) -> bool {
    *kind == SamplerKind::Em
}

impl Default for StudySettings {
    fn default() -> Self {
        Self {
            n: 1000,
            steps: 1000,
            t_min: 1e-3,
            seed: 0,
            siem_centers: 8,
            test_seed: 0,
            bound_panels: 16,
            grid_cells_per_std: 8.0,
            grid_max_cells: 640,
            critic_steps: None,
            critic_pool: None,
            critic_holdout: None,
            critic_batch: None,
            critic_directions: None,
            sampler: SamplerKind::Em,
        }
    }
}

impl StudySettings {
    /// The critic fit options with this study's overrides.
    pub fn critic_fit(&self) -> CriticFitConfig {
        let d = CriticFitConfig::default();
        CriticFitConfig {
            steps: self.critic_steps.unwrap_or(d.steps),
            pool: self.critic_pool.or(d.pool),
            batch: self.critic_batch.unwrap_or(d.batch),
            directions: self.critic_directions.unwrap_or(d.directions),
            ..d
        }
    }

    /// The high-noise window: the first 10% of sampling steps from noise (`900..999` for 1000 steps).
    pub fn high_noise_window(&self) -> Window {
        Window { lo: self.steps - (self.steps / 10).max(1), hi: self.steps - 1 }
    }

    pub fn validate(&self) -> Result<(), StudyError> {
        if self.n < 10 || self.steps < 10 {
            return Err(StudyError::Setting {
                setting: "n, steps",
                message: format!("must be at least 10 (got n = {}, steps = {})", self.n, self.steps),
            });
        }
        if self.bound_panels == 0 || !self.bound_panels.is_multiple_of(4) {
            return Err(StudyError::Setting {
                setting: "bound panels",
                message: format!("must be a positive multiple of 4 (composite Simpson), got {}", self.bound_panels),
            });
        }
        self.critic_fit().validate().map_err(|e| StudyError::CriticFit { source: e.into() })?;
        if self.critic_holdout.is_some_and(|h| h < 2) {
            return Err(StudyError::Setting { setting: "critic held-out draws", message: "must be at least 2".into() });
        }
        Ok(())
    }
}
