//! What a training monitor needs from the projection form (issue 25, docs/monitor.md): the default
//! test family for the data's dimension, the per-draw influence terms of an estimate, the paired
//! difference of two estimates made on the same draws, and the record every monitor writes (one
//! JSON line of `monitor.jsonl`, the same keys from Python's `sp.Monitor` and `scoreprobe train
//! --monitor`).
//!
//! Pairing. With the same seed, the projection form draws the same data rows, times and noise for
//! every model (common random numbers, [`crate::projection`]), so two checkpoints' estimates are
//! functions of the same draws. The estimate is a weighted sum of U-statistics over the draw
//! index i (draw i at every window time); its jackknife leave-one-out values SIEM₍₋ᵢ₎ give the
//! per-draw influence terms ψᵢ = (n − 1)(SIEM − SIEM₍₋ᵢ₎) (Σψᵢ = 0; ψᵢ is, up to O(1/n), the
//! Hoeffding projection 2 Σ_t w_t (h₁(G_{t,i}) − θ_t) of draw i). Then
//! SE² = Σψᵢ²/(n(n − 1)) for one estimate, and for the difference of two estimates on the same
//! draws SE² = Σ(ψᵢᴬ − ψᵢᴮ)²/(n(n − 1)): the shared noise of the draws cancels. Both are the
//! jackknife (conservative at a zero signal: the degenerate part of the variance is overstated,
//! by at most a factor 2 in variance).

use crate::error::SiemError;
use crate::testfn::{RadialKind, TestFnKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest dimension whose default test family is radial (K = 8 Gaussian functions at seeded
/// data points); above it the default is the quadratic family. Radial functions see only the
/// radial part of the error about each centre, and that part shrinks as |x − c|/h concentrates
/// (relative spread ≈ 1/√(2d)): measured blind at d = 3072 (SPEC §7: 3e-7 of a generic affine
/// error's gradient energy), while at d = 64 (the 8×8 digits pilot) the radial default tracked FD
/// with Spearman 0.976 against 0.905 for the quadratic family. 64 is the largest dimension where
/// the radial default has been measured to work; the image sweeps may move the threshold.
pub const RADIAL_MAX_DIM: usize = 64;

/// The default test family of a monitor for data of dimension `d`: radial Gaussian up to
/// [`RADIAL_MAX_DIM`], quadratic above. (`siem` itself keeps its own default, `--test-fn gaussian`,
/// so that its numbers do not change; the monitor is new and starts with the rule.)
pub fn default_test_fn(d: usize) -> TestFnKind {
    if d <= RADIAL_MAX_DIM {
        TestFnKind::Radial(RadialKind::Gaussian)
    } else {
        TestFnKind::Quadratic
    }
}

/// The per-draw influence terms ψᵢ = (n − 1)(SIEM − SIEM₍₋ᵢ₎) of an estimate from its
/// leave-one-out values (which average to `siem`).
pub fn influence(siem: f64, leave_one_out: &[f64]) -> Vec<f64> {
    let m = leave_one_out.len() as f64 - 1.0;
    leave_one_out.iter().map(|l| m * (siem - l)).collect()
}

/// The standard error Σψᵢ²/(n(n − 1)) of an estimate from its influence terms.
pub fn influence_se(psi: &[f64]) -> f64 {
    let n = psi.len() as f64;
    (psi.iter().map(|v| v * v).sum::<f64>() / (n * (n - 1.0))).sqrt()
}

/// The difference of two estimates on the same draws, with its paired standard error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    /// current − previous.
    pub diff: f64,
    pub se: f64,
    /// diff / se (None when se is 0).
    pub z: Option<f64>,
}

/// current − previous with SE² = Σ(ψᵢ − ψ'ᵢ)²/(n(n − 1)) from both estimates' influence terms
/// (the same draws: the same seed, n and window).
pub fn paired_difference(
    current: f64,
    current_psi: &[f64],
    previous: f64,
    previous_psi: &[f64],
) -> Result<PairedDifference, SiemError> {
    let n = current_psi.len();
    if n < 2 || previous_psi.len() != n {
        return Err(SiemError::invalid(
            "paired difference",
            format!(
                "needs the influence terms of two estimates on the same n ≥ 2 draws, got {n} and {}",
                previous_psi.len()
            ),
        ));
    }
    let d: Vec<f64> = current_psi.iter().zip(previous_psi).map(|(a, b)| a - b).collect();
    let se = influence_se(&d);
    let diff = current - previous;
    Ok(PairedDifference { diff, se, z: (se > 0.0).then(|| diff / se) })
}

/// One line of `monitor.jsonl`. `step`, `value` and `se` are what the study's report plots
/// (`scoreprobe report`: the training monitor's curve); the rest says how the value was measured
/// and how it moved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorRecord {
    pub step: u64,
    /// The metric's name, e.g. `siem-projection`.
    pub metric: String,
    pub value: f64,
    pub se: f64,
    /// value − the previous evaluation's value, its paired SE and z (None at the first evaluation).
    pub diff: Option<f64>,
    pub diff_se: Option<f64>,
    pub diff_z: Option<f64>,
    /// The step with the lowest value so far (this one included), and that value.
    pub best_step: u64,
    pub best_value: f64,
    /// Seconds this evaluation took.
    pub seconds: f64,
    /// seconds / wall seconds since the previous evaluation (None at the first evaluation of a
    /// session: no interval to compare with).
    pub budget: Option<f64>,
    /// The settings that make the values comparable (same draws): window, n, seed, test family.
    pub window: String,
    pub n: usize,
    pub seed: u64,
    pub test_fn: String,
    pub wall_time: f64,
}

/// The entry of `monitor-state.json` for one metric: the step of its last evaluation and that
/// evaluation's per-draw influence terms, which the next value is paired with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateEntry {
    pub step: u64,
    pub influence: Vec<f64>,
}

/// `monitor-state.json`: the last evaluation of each metric.
pub type MonitorState = BTreeMap<String, StateEntry>;

/// Why the files of an earlier run cannot be resumed (the caller names the file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorFileError {
    /// A line of `monitor.jsonl` that is not a record (counted from 1).
    #[error("line {line}: {source}")]
    Line {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    /// `monitor-state.json` that does not parse.
    #[error("unreadable monitor state; delete it to restart the pairing: {0}")]
    State(#[source] serde_json::Error),
    /// A record of the same metric measured with other settings than the resuming run's.
    #[error(
        "step {step} was measured with window {window}, n {n}, seed {seed}, test_fn {test_fn}; this run asks for \
         {asked}: the values would not be comparable"
    )]
    Incomparable { step: u64, window: String, n: usize, seed: u64, test_fn: String, asked: String },
}

/// The length of the complete lines of `bytes`: a last line without its newline is a write cut
/// short, which a resuming monitor drops.
pub fn complete_lines(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// The records of `monitor.jsonl` (blank lines skipped); a line that is not one is named.
pub fn parse_records(text: &str) -> Result<Vec<MonitorRecord>, MonitorFileError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|source| MonitorFileError::Line { line: i + 1, source }))
        .collect()
}

/// `monitor-state.json` parsed.
pub fn parse_state(bytes: &[u8]) -> Result<MonitorState, MonitorFileError> {
    serde_json::from_slice(bytes).map_err(MonitorFileError::State)
}

/// The settings a monitor's values are comparable under (the same draws), and its metric.
#[derive(Clone, Copy, Debug)]
pub struct MonitorKey<'a> {
    pub metric: &'a str,
    pub window: &'a str,
    pub n: usize,
    pub seed: u64,
    pub test_fn: &'a str,
}

/// Where a resumed monitor continues from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resumed {
    /// The last recorded step of the metric (later steps only are evaluated).
    pub last_step: Option<u64>,
    /// The step with the lowest value so far, and that value.
    pub best: Option<(u64, f64)>,
    /// The last record's value and influence terms, when the state file holds that step's: the
    /// next value is paired with them.
    pub previous: Option<(f64, Vec<f64>)>,
}

/// What an earlier run's records and state leave for a monitor of `key` to continue with; a
/// record of the metric measured with other settings is refused.
pub fn resume(records: &[MonitorRecord], state: &MonitorState, key: &MonitorKey) -> Result<Resumed, MonitorFileError> {
    let mut r = Resumed::default();
    for rec in records.iter().filter(|rec| rec.metric == key.metric) {
        let mine = (key.window, key.n, key.seed, key.test_fn);
        if (rec.window.as_str(), rec.n, rec.seed, rec.test_fn.as_str()) != mine {
            return Err(MonitorFileError::Incomparable {
                step: rec.step,
                window: rec.window.clone(),
                n: rec.n,
                seed: rec.seed,
                test_fn: rec.test_fn.clone(),
                asked: format!("{mine:?}"),
            });
        }
        r.last_step = Some(r.last_step.map_or(rec.step, |s| s.max(rec.step)));
        if r.best.is_none_or(|(_, v)| rec.value < v) {
            r.best = Some((rec.step, rec.value));
        }
        r.previous = state.get(key.metric).filter(|e| e.step == rec.step).map(|e| (rec.value, e.influence.clone()));
    }
    Ok(r)
}

/// The spacing factor that brings a measured `budget` (an evaluation's share of the wall time
/// since the previous one ended, at spacing factor `stride`) under `max_budget`, never below
/// `stride`: the evaluation's cost is fixed, the training between evaluations scales with the
/// factor. `max_budget` ≥ 1 never widens. The rule of Python's `Monitor(max_budget=...)` too.
pub fn widened_stride(stride: u64, budget: f64, max_budget: f64) -> u64 {
    // a NaN budget (a clock that did not move) keeps the spacing
    if budget.is_nan() || budget <= max_budget || max_budget >= 1.0 {
        return stride;
    }
    // an evaluation is never more than the whole interval
    let b = budget.min(1.0 - 1e-9);
    let need = stride as f64 * b / (1.0 - b) * (1.0 - max_budget) / max_budget;
    // `as` saturates: a factor past u64 stays the largest one
    stride.max((need - 1e-9).ceil() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_widening_rule_brings_the_measured_cost_under_the_budget() {
        use super::widened_stride;
        assert_eq!((widened_stride(1, 0.02, 0.02), widened_stride(4, 0.01, 0.02)), (1, 4));
        assert_eq!(widened_stride(1, 0.5, 0.02), 49);
        assert_eq!(widened_stride(3, 0.04, 0.02), 7, "3 x 49 / 24 = 6.125");
        assert_eq!(widened_stride(2, 0.9, 1.0), 2, "a budget of 1 never widens");
        for (stride, budget, cap) in [(1u64, 0.3, 0.05), (5, 0.021, 0.02), (2, 0.9, 0.1)] {
            let k = widened_stride(stride, budget, cap) as f64;
            let per_train = budget / (1.0 - budget) * stride as f64;
            let share = |k: f64| per_train / k / (1.0 + per_train / k);
            assert!(share(k) <= cap + 1e-12 && share(k - 1.0) > cap, "{stride} {budget} {cap}: {k}");
        }
        assert!(widened_stride(1, 1.0, 0.02) > 1_000_000);
    }
    use super::*;
    use crate::projection::paired_jackknife_se;

    #[test]
    fn influence_se_is_the_jackknife_and_the_paired_se_cancels_shared_noise() {
        let loo_a = [1.0, 1.2, 0.9, 1.1, 0.8];
        let siem_a = loo_a.iter().sum::<f64>() / 5.0;
        let psi_a = influence(siem_a, &loo_a);
        assert!(psi_a.iter().sum::<f64>().abs() < 1e-12);
        let jack = paired_jackknife_se(&loo_a, &[0.0; 5]).unwrap();
        assert!((influence_se(&psi_a) - jack).abs() < 1e-12, "{} vs {jack}", influence_se(&psi_a));
        // b = a shifted by a constant per draw: the difference has no spread, whatever a's
        let loo_b: Vec<f64> = loo_a.iter().map(|v| v + 0.5).collect();
        let siem_b = siem_a + 0.5;
        let p = paired_difference(siem_b, &influence(siem_b, &loo_b), siem_a, &psi_a).unwrap();
        assert!((p.diff - 0.5).abs() < 1e-12 && p.se < 1e-12, "{p:?}");
        assert_eq!(paired_difference(1.0, &[0.0; 5], 0.5, &[0.0; 5]).unwrap().z, None, "no z without an SE");
        let loo_c = [1.0, 1.3, 0.9, 1.0, 0.8];
        let siem_c = loo_c.iter().sum::<f64>() / 5.0;
        let p = paired_difference(siem_c, &influence(siem_c, &loo_c), siem_a, &psi_a).unwrap();
        assert!((p.se - paired_jackknife_se(&loo_c, &loo_a).unwrap()).abs() < 1e-12);
        let e = paired_difference(1.0, &[0.0; 3], 0.0, &[0.0; 4]).unwrap_err().to_string();
        assert!(e.contains("paired difference") && e.contains("3 and 4"), "{e}");
    }

    fn line(step: u64, value: f64, n: usize) -> String {
        format!(
            r#"{{"step":{step},"metric":"siem-projection","value":{value},"se":0.1,"diff":null,"diff_se":null,"diff_z":null,"best_step":{step},"best_value":{value},"seconds":0.5,"budget":null,"window":"980..999","n":{n},"seed":0,"test_fn":"gaussian","wall_time":1.0}}"#
        )
    }

    #[test]
    fn an_earlier_run_resumes_with_its_best_step_and_the_pairing_of_its_last() {
        let text = format!("{}\n\n{}\n", line(5, 0.3, 8), line(10, 0.4, 8));
        let records = parse_records(&text).unwrap();
        let key = MonitorKey { metric: "siem-projection", window: "980..999", n: 8, seed: 0, test_fn: "gaussian" };
        let state = parse_state(br#"{"siem-projection": {"step": 10, "influence": [1.0, -1.0]}}"#).unwrap();
        let r = resume(&records, &state, &key).unwrap();
        assert_eq!(r, Resumed { last_step: Some(10), best: Some((5, 0.3)), previous: Some((0.4, vec![1.0, -1.0])) });
        // a state of an earlier step (a kill between the two writes): no pairing
        let old = parse_state(br#"{"siem-projection": {"step": 5, "influence": [1.0]}}"#).unwrap();
        assert_eq!(resume(&records, &old, &key).unwrap().previous, None);
        let e = resume(&records, &state, &MonitorKey { n: 16, ..key }).unwrap_err().to_string();
        assert!(e.contains("step 5 was measured with window 980..999, n 8") && e.contains("not be comparable"), "{e}");
        let e = parse_records(&format!("{}\n{{\"step\": 2", line(1, 0.5, 8))).unwrap_err().to_string();
        assert!(e.starts_with("line 2: "), "{e}");
        assert!(parse_state(b"{").unwrap_err().to_string().contains("delete it to restart the pairing"));
        assert_eq!((complete_lines(b"a\nb"), complete_lines(b"a\n"), complete_lines(b"ab")), (2, 2, 0));
    }

    #[test]
    fn the_default_family_is_radial_in_low_and_quadratic_in_high_dimension() {
        assert_eq!(default_test_fn(2), TestFnKind::Radial(RadialKind::Gaussian));
        assert_eq!(default_test_fn(RADIAL_MAX_DIM), TestFnKind::Radial(RadialKind::Gaussian));
        assert_eq!(default_test_fn(RADIAL_MAX_DIM + 1), TestFnKind::Quadratic);
        assert_eq!(default_test_fn(3072), TestFnKind::Quadratic);
    }
}
