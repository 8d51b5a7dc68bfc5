//! Noise schedules (SPEC §1): the continuous VP-SDE and the discrete DDPM schedule.
//!
//! Both are exposed through one continuous-time interface on t ∈ [0, 1]: β(t), α_t, σ_t.
//! The DDPM schedule is embedded so that its grid times t = (k+1)/K carry exactly the discrete
//! ᾱ_k = ∏_{j≤k}(1−β_j); between grid points log ᾱ is linear in t, so β(t) = −d log ᾱ/dt is
//! piecewise constant and α_t = exp(−½∫β) holds exactly for both kinds.

use crate::error::CoreError;
use serde::{Deserialize, Serialize};

/// Total time horizon of every schedule.
pub const T_END: f64 = 1.0;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleSpec {
    Vp {
        #[serde(default = "default_beta_min")]
        beta_min: f64,
        #[serde(default = "default_beta_max")]
        beta_max: f64,
    },
    Ddpm {
        #[serde(default = "default_steps")]
        steps: usize,
        #[serde(default = "default_beta_start")]
        beta_start: f64,
        #[serde(default = "default_beta_end")]
        beta_end: f64,
    },
}

fn default_beta_min() -> f64 {
    0.1
}
fn default_beta_max() -> f64 {
    20.0
}
fn default_steps() -> usize {
    1000
}
fn default_beta_start() -> f64 {
    1e-4
}
fn default_beta_end() -> f64 {
    0.02
}

impl Default for ScheduleSpec {
    fn default() -> Self {
        ScheduleSpec::Vp { beta_min: 0.1, beta_max: 20.0 }
    }
}

#[derive(Clone, Debug)]
pub enum Schedule {
    /// β(t) = β_min + t(β_max − β_min).
    Vp { beta_min: f64, beta_max: f64 },
    /// Discrete linear β_k; `log_alpha_bar[k]` = log ᾱ_k, index 0 is nearly data.
    Ddpm { betas: Vec<f64>, log_alpha_bar: Vec<f64> },
}

impl Schedule {
    pub fn vp_default() -> Self {
        Schedule::Vp { beta_min: 0.1, beta_max: 20.0 }
    }

    pub fn from_spec(spec: &ScheduleSpec) -> Result<Self, CoreError> {
        match *spec {
            ScheduleSpec::Vp { beta_min, beta_max } => {
                if !(beta_min.is_finite() && beta_max.is_finite() && beta_min > 0.0 && beta_max >= beta_min) {
                    return Err(CoreError::invalid(
                        "schedule",
                        format!("need 0 < beta_min <= beta_max, got beta_min={beta_min}, beta_max={beta_max}"),
                    ));
                }
                Ok(Schedule::Vp { beta_min, beta_max })
            }
            ScheduleSpec::Ddpm { steps, beta_start, beta_end } => {
                if steps < 2 {
                    return Err(CoreError::invalid("schedule.steps", format!("need at least 2 steps, got {steps}")));
                }
                if !(beta_start > 0.0 && beta_end < 1.0 && beta_end >= beta_start) {
                    return Err(CoreError::invalid(
                        "schedule",
                        format!(
                            "need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
                        ),
                    ));
                }
                let betas: Vec<f64> =
                    (0..steps).map(|k| beta_start + (beta_end - beta_start) * k as f64 / (steps - 1) as f64).collect();
                let mut acc = 0.0;
                let log_alpha_bar = betas
                    .iter()
                    .map(|b| {
                        acc += (1.0 - b).ln();
                        acc
                    })
                    .collect();
                Ok(Schedule::Ddpm { betas, log_alpha_bar })
            }
        }
    }

    /// Number of discrete steps for DDPM, `None` for the continuous VP-SDE.
    pub fn discrete_steps(&self) -> Option<usize> {
        match self {
            Schedule::Vp { .. } => None,
            Schedule::Ddpm { betas, .. } => Some(betas.len()),
        }
    }

    /// Discrete β_k of the DDPM schedule (None for VP).
    pub fn ddpm_betas(&self) -> Option<&[f64]> {
        match self {
            Schedule::Vp { .. } => None,
            Schedule::Ddpm { betas, .. } => Some(betas),
        }
    }

    /// β(t), the instantaneous noise rate (g(t)² in SPEC §1).
    pub fn beta(&self, t: f64) -> f64 {
        match self {
            Schedule::Vp { beta_min, beta_max } => beta_min + t * (beta_max - beta_min),
            Schedule::Ddpm { log_alpha_bar, .. } => {
                let k = log_alpha_bar.len();
                let cell = ((t * k as f64).ceil() as usize).clamp(1, k) - 1;
                let prev = if cell == 0 { 0.0 } else { log_alpha_bar[cell - 1] };
                -(log_alpha_bar[cell] - prev) * k as f64
            }
        }
    }

    /// log ᾱ(t) = −∫₀ᵗ β = 2 log α_t.
    pub fn log_alpha_bar(&self, t: f64) -> f64 {
        match self {
            Schedule::Vp { beta_min, beta_max } => -(beta_min * t + 0.5 * t * t * (beta_max - beta_min)),
            Schedule::Ddpm { log_alpha_bar, .. } => {
                let k = log_alpha_bar.len();
                let s = (t * k as f64).clamp(0.0, k as f64);
                let cell = (s.ceil() as usize).clamp(1, k) - 1;
                let prev = if cell == 0 { 0.0 } else { log_alpha_bar[cell - 1] };
                let frac = s - cell as f64;
                prev + frac * (log_alpha_bar[cell] - prev)
            }
        }
    }

    /// ∫_{t0}^{t1} β(s) ds.
    pub fn beta_integral(&self, t0: f64, t1: f64) -> f64 {
        self.log_alpha_bar(t0) - self.log_alpha_bar(t1)
    }

    /// ᾱ_t = α_t².
    pub fn alpha_bar(&self, t: f64) -> f64 {
        self.log_alpha_bar(t).exp()
    }

    /// Signal scale α_t of the perturbation kernel X_t | X_0 ~ N(α_t X_0, σ_t² I).
    pub fn alpha(&self, t: f64) -> f64 {
        (0.5 * self.log_alpha_bar(t)).exp()
    }

    /// σ_t² = 1 − α_t², computed without cancellation for small t.
    pub fn sigma2(&self, t: f64) -> f64 {
        -(self.log_alpha_bar(t)).exp_m1()
    }

    pub fn sigma(&self, t: f64) -> f64 {
        self.sigma2(t).sqrt()
    }

    /// Score from an ε-prediction: s = −ε/σ_t.
    pub fn eps_to_score(&self, eps: f64, t: f64) -> f64 {
        -eps / self.sigma(t)
    }

    /// ε-prediction from a score: ε = −σ_t s.
    pub fn score_to_eps(&self, score: f64, t: f64) -> f64 {
        -score * self.sigma(t)
    }

    /// Default end time of sampling: 1e-3 for VP (Song et al.), 0 for DDPM (its grid reaches x₀).
    pub fn default_t_min(&self) -> f64 {
        match self {
            Schedule::Vp { .. } => 1e-3,
            Schedule::Ddpm { .. } => 0.0,
        }
    }

    /// Default number of sampler steps: K for DDPM, 1000 for VP.
    pub fn default_steps(&self) -> usize {
        self.discrete_steps().unwrap_or(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ddpm() -> Schedule {
        Schedule::from_spec(&ScheduleSpec::Ddpm { steps: 1000, beta_start: 1e-4, beta_end: 0.02 }).unwrap()
    }

    #[test]
    fn vp_closed_forms() {
        let s = Schedule::vp_default();
        for &t in &[0.0, 1e-3, 0.3, 1.0] {
            let int = 0.1 * t + 0.5 * t * t * 19.9;
            assert!((s.alpha(t) - (-0.5 * int).exp()).abs() < 1e-14);
            assert!((s.sigma2(t) - (1.0 - (-int).exp())).abs() < 1e-14);
            assert!((s.alpha(t).powi(2) + s.sigma2(t) - 1.0).abs() < 1e-14);
            // β = −d log ᾱ / dt by central differences
            let h = 1e-6;
            let fd = -(s.log_alpha_bar(t + h) - s.log_alpha_bar((t - h).max(0.0))) / (t + h - (t - h).max(0.0));
            // one-sided at t = 0: O(h β') = 2e-5
            assert!((fd - s.beta(t)).abs() < 2e-5, "t={t} fd={fd} beta={}", s.beta(t));
        }
    }

    #[test]
    fn ddpm_grid_matches_discrete_product() {
        let s = ddpm();
        let betas: Vec<f64> = (0..1000).map(|k| 1e-4 + (0.02 - 1e-4) * k as f64 / 999.0).collect();
        let mut prod = 1.0;
        for (k, b) in betas.iter().enumerate() {
            prod *= 1.0 - b;
            let t = (k + 1) as f64 / 1000.0;
            assert!((s.alpha_bar(t) - prod).abs() < 1e-12 * prod.max(1e-300) + 1e-15, "k={k}");
        }
        // β(t) integrates to −log ᾱ across a cell
        let t0 = 0.4995;
        let t1 = 0.5;
        let int = s.beta(0.4998) * (t1 - t0);
        assert!((int - s.beta_integral(t0, t1)).abs() < 1e-12);
    }

    #[test]
    fn eps_score_round_trip() {
        let s = ddpm();
        let t = 0.37;
        let e = 0.81;
        assert!((s.score_to_eps(s.eps_to_score(e, t), t) - e).abs() < 1e-14);
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(Schedule::from_spec(&ScheduleSpec::Vp { beta_min: -1.0, beta_max: 20.0 }).is_err());
        assert!(Schedule::from_spec(&ScheduleSpec::Ddpm { steps: 1, beta_start: 1e-4, beta_end: 0.02 }).is_err());
        assert!(Schedule::from_spec(&ScheduleSpec::Ddpm { steps: 10, beta_start: 0.1, beta_end: 1.5 }).is_err());
    }
}
