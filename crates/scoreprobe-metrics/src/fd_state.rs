//! The Fréchet distance's mergeable state: the count, mean and centred scatter of each feature set
//! ([`MomentAccumulator`]), in the form a state file holds. Shards of the rows of both sets merge
//! by Chan's update in shard order, so the merged moments equal one pass over all rows up to
//! rounding (the FD to ~1e-13 relative).
//!
//! Memory and size: 2 × D² f64 per state (the scatter matrices): 64 MiB in memory at D = 2048
//! (Inception), about 2.5× that as JSON text.

use crate::error::{invalid, Result};
use crate::frechet::{frechet_distance_stats, TraceMethod};
use crate::moments::MomentAccumulator;
use ndarray::{Array1, Array2};
use scoreprobe_core::state::ShardSet;
use serde::{Deserialize, Serialize};
use serde_json::{json, Number, Value};

/// A [`MomentAccumulator`] as plain numbers: n, the mean (D) and M₂ (D × D, row-major; the
/// accumulator keeps only its lower triangle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MomentState {
    pub n: usize,
    pub mean: Vec<f64>,
    pub scatter: Vec<f64>,
}

impl From<&MomentAccumulator> for MomentState {
    fn from(acc: &MomentAccumulator) -> Self {
        MomentState { n: acc.count(), mean: acc.mean().to_vec(), scatter: acc.scatter().iter().copied().collect() }
    }
}

impl MomentState {
    /// The accumulator back (shapes and values checked).
    pub fn accumulator(&self) -> Result<MomentAccumulator> {
        let d = self.mean.len();
        if self.scatter.len() != d * d {
            return Err(invalid(format!("moments: {} scatter entries for dimension {d}", self.scatter.len())));
        }
        let m2 = Array2::from_shape_vec((d, d), self.scatter.clone()).expect("d × d entries");
        MomentAccumulator::from_parts(self.n, Array1::from(self.mean.clone()), m2)
    }
}

/// One shard's state of FD between sets a and b: the moments of its rows of each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FdState {
    pub a: MomentState,
    pub b: MomentState,
    /// Wall time of the shard.
    pub seconds: f64,
}

impl FdState {
    pub fn new(a: &MomentAccumulator, b: &MomentAccumulator, seconds: f64) -> Self {
        FdState { a: a.into(), b: b.into(), seconds }
    }

    /// The moments of all rows of a and of b: the shards' states merged in order.
    pub fn merge(states: &[FdState]) -> Result<(MomentAccumulator, MomentAccumulator)> {
        let first = states.first().ok_or_else(|| invalid("FD state: nothing to merge"))?;
        let (mut a, mut b) = (first.a.accumulator()?, first.b.accumulator()?);
        for s in &states[1..] {
            a.merge(&s.a.accumulator()?)?;
            b.merge(&s.b.accumulator()?)?;
        }
        Ok((a, b))
    }
}

/// What `scoreprobe metrics --metric fd --json` prints for two point sets, from their moments:
/// `features` names the feature space, `totals` the sets' sizes before any subsampling.
pub fn fd_report(
    a: &MomentAccumulator,
    b: &MomentAccumulator,
    features: &str,
    totals: (Option<usize>, Option<usize>),
) -> Result<Value> {
    let r = frechet_distance_stats(&a.stats()?, &b.stats()?, TraceMethod::default())?;
    let mut warnings: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    warnings.dedup();
    Ok(json!({
        "features": features, "cost": "|x-y|^2", "n_a": a.count(), "n_b": b.count(),
        "fd": Number::from_f64(r.fd).map_or(Value::Null, Value::Number),
        "warnings": warnings,
        "details": {
            "n_a_total": totals.0, "n_b_total": totals.1, "dim": a.dim(),
            "fd": {"method": r.method, "trace_sqrt_product": r.trace_sqrt_product},
        },
    }))
}

/// The FD report of a merged run from its shards' states (read and checked by
/// [`scoreprobe_core::state::read_shards`]): what the unsharded run prints with `--json`.
pub fn merge_fd(set: &ShardSet) -> Result<Value> {
    let states: Vec<FdState> = set.states.iter().map(|(p, s)| s.payload(p)).collect::<std::result::Result<_, _>>()?;
    let (a, b) = FdState::merge(&states)?;
    let total = |k: &str| set.settings.get(k).and_then(Value::as_u64).map(|v| v as usize);
    let features = set.settings.get("features").and_then(Value::as_str).unwrap_or("identity");
    fd_report(&a, &b, features, (total("n_a_total"), total("n_b_total")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn shards_merge_to_the_moments_of_all_rows() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let x =
            Array2::from_shape_fn((101, 3), |(_, j)| j as f64 + Distribution::<f64>::sample(&StandardNormal, &mut rng));
        let y = &x * 0.5;
        let whole = MomentAccumulator::from_points(x.view()).unwrap();
        let states: Vec<FdState> = [0..30, 30..30, 30..101]
            .into_iter()
            .map(|r| {
                let a = MomentAccumulator::from_points(x.slice(s![r.clone(), ..])).unwrap();
                let b = MomentAccumulator::from_points(y.slice(s![r, ..])).unwrap();
                // through JSON, as a state file carries it
                serde_json::from_str(&serde_json::to_string(&FdState::new(&a, &b, 0.0)).unwrap()).unwrap()
            })
            .collect();
        let (a, b) = FdState::merge(&states).unwrap();
        assert_eq!((a.count(), b.count()), (101, 101));
        let (ca, cw) = (a.covariance().unwrap(), whole.covariance().unwrap());
        assert!(ca.iter().zip(&cw).all(|(u, v)| (u - v).abs() <= 1e-13 * v.abs().max(1.0)), "{ca} vs {cw}");
        assert!(a.mean().iter().zip(whole.mean()).all(|(u, v)| (u - v).abs() <= 1e-14 * v.abs().max(1.0)));
        let bad = MomentState { n: 1, mean: vec![0.0; 2], scatter: vec![0.0; 3] };
        assert!(bad.accumulator().unwrap_err().to_string().contains("3 scatter entries"));
    }
}
