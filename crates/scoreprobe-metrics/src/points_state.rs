//! The mergeable state of the metrics that need every point at once (KID, exact, Sinkhorn and
//! sliced W2, Bures, PRDC; FD alongside them): each shard's rows of both sets in the feature
//! space, gathered by the merge in shard order. Sharding these spreads the expensive part, loading
//! and embedding the images, over machines; the metric itself is then computed once, on the
//! gathered rows, so the merge prints exactly what the unsharded run prints (the rows are the
//! same bits: JSON floats round-trip exactly).
//!
//! Memory and size: 8·D bytes per row in memory (2 × 10 000 MobileNet rows, D = 1024: 160 MiB at
//! the merge); the JSON text is about 2.5× that. A run that needs only FD writes the moments
//! instead ([`crate::fd_state`]), whose size does not grow with the number of rows.

use crate::error::{invalid, Result};
use crate::options::MetricsOptions;
use crate::report::points_report;
use ndarray::{Array2, ArrayView2, Axis};
use scoreprobe_core::shard::ShardOptions;
use scoreprobe_core::state::ShardSet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One shard's rows of sets a and b (row-major, `dim` columns each).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointsState {
    pub dim: usize,
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// Wall time of the shard.
    pub seconds: f64,
}

impl PointsState {
    pub fn new(a: ArrayView2<f64>, b: ArrayView2<f64>, seconds: f64) -> Self {
        let flat = |x: ArrayView2<f64>| x.iter().copied().collect();
        PointsState { dim: a.ncols(), a: flat(a), b: flat(b), seconds }
    }

    fn rows(&self, values: &[f64], set: &str) -> Result<Array2<f64>> {
        if self.dim == 0 || !values.len().is_multiple_of(self.dim) {
            return Err(invalid(format!(
                "points state: {} values of set {set} for dimension {}",
                values.len(),
                self.dim
            )));
        }
        Ok(Array2::from_shape_vec((values.len() / self.dim, self.dim), values.to_vec()).expect("checked shape"))
    }

    /// The rows of all shards of a and of b, in shard order.
    pub fn gather(states: &[PointsState]) -> Result<(Array2<f64>, Array2<f64>)> {
        let first = states.first().ok_or_else(|| invalid("points state: nothing to merge"))?;
        if let Some(s) = states.iter().find(|s| s.dim != first.dim) {
            return Err(invalid(format!("points state: dimensions {} and {} differ", first.dim, s.dim)));
        }
        let parts = |set: &str| -> Result<Array2<f64>> {
            let blocks: Vec<Array2<f64>> =
                states.iter().map(|s| s.rows(if set == "a" { &s.a } else { &s.b }, set)).collect::<Result<_>>()?;
            let views: Vec<ArrayView2<f64>> = blocks.iter().map(|x| x.view()).collect();
            Ok(ndarray::concatenate(Axis(0), &views).expect("equal widths"))
        };
        Ok((parts("a")?, parts("b")?))
    }
}

/// The options a points state records (the shard options dropped: they differ between shards).
pub fn recorded_options(opts: &MetricsOptions) -> Value {
    let mut o = opts.clone();
    o.shard = ShardOptions::default();
    serde_json::to_value(o).expect("options serialise")
}

/// The report of a merged run from its shards' points states (read and checked by
/// [`scoreprobe_core::state::read_shards`]): what the unsharded run prints with `--json`.
pub fn merge_points(set: &ShardSet) -> Result<Value> {
    let states: Vec<PointsState> =
        set.states.iter().map(|(p, s)| s.payload(p)).collect::<std::result::Result<_, _>>()?;
    let opts: MetricsOptions = set
        .settings
        .get("options")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| invalid(format!("points state: unreadable options: {e}")))?
        .ok_or_else(|| invalid("points state: the settings record no options"))?;
    let total = |k: &str| set.settings.get(k).and_then(Value::as_u64).map(|v| v as usize);
    let (a, b) = PointsState::gather(&states)?;
    Ok(points_report(a.view(), b.view(), &opts, (total("n_a_total"), total("n_b_total")))?.into_value())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Metric;
    use ndarray::s;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    #[test]
    fn gathered_shards_are_the_rows_of_the_whole_set_bit_for_bit() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let x = Array2::from_shape_fn((57, 4), |_| Distribution::<f64>::sample(&StandardNormal, &mut rng) / 3.0);
        let y = x.mapv(|v| v * 1.1 + 0.3);
        let states: Vec<PointsState> = [0..20, 20..20, 20..57]
            .into_iter()
            .map(|r| {
                let st = PointsState::new(x.slice(s![r.clone(), ..]), y.slice(s![r, ..]), 0.0);
                // through JSON, as a state file carries it
                serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap()
            })
            .collect();
        let (a, b) = PointsState::gather(&states).unwrap();
        assert!(a.iter().zip(&x).all(|(u, v)| u.to_bits() == v.to_bits()));
        assert!(b.iter().zip(&y).all(|(u, v)| u.to_bits() == v.to_bits()));
        let opts = MetricsOptions { metric: vec![Metric::Kid, Metric::W2Sliced], ..Default::default() };
        let whole = points_report(x.view(), y.view(), &opts, (None, None)).unwrap().into_value();
        let merged = points_report(a.view(), b.view(), &opts, (None, None)).unwrap().into_value();
        assert_eq!(whole, merged);
    }

    #[test]
    fn a_state_with_a_torn_row_is_refused() {
        let st = PointsState { dim: 3, a: vec![0.0; 7], b: vec![0.0; 6], seconds: 0.0 };
        let err = PointsState::gather(&[st]).unwrap_err().to_string();
        assert!(err.contains("7 values of set a"), "{err}");
    }
}
