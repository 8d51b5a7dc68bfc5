//! Mean and standard error of i.i.d. terms: the one routine every Monte-Carlo estimate in the
//! workspace reports with (SIEM over trajectories, Hodge and bounds over draws, the L² error).

use serde::Serialize;

/// A Monte-Carlo mean with its standard error sd/√n and the number of terms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeanSe {
    pub mean: f64,
    /// Standard error of the mean (NaN with fewer than 2 terms).
    pub se: f64,
    pub n: usize,
}

/// Mean and standard error of `values`: two passes (the sum, then the squared deviations from
/// the mean), summed in order, sample variance with n − 1.
pub fn mean_se(values: &[f64]) -> MeanSe {
    let n = values.len();
    if n == 0 {
        return MeanSe { mean: f64::NAN, se: f64::NAN, n };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let se = if n > 1 {
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
        (var / n as f64).sqrt()
    } else {
        f64::NAN
    };
    MeanSe { mean, se, n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let r = mean_se(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(r.mean, 2.5);
        // sample variance 5/3, SE = √(5/12)
        assert!((r.se - (5.0f64 / 12.0).sqrt()).abs() < 1e-15);
        assert_eq!(r.n, 4);
        assert!(mean_se(&[3.0]).se.is_nan() && mean_se(&[3.0]).mean == 3.0);
        assert!(mean_se(&[]).mean.is_nan());
        // large offsets do not cancel (two passes)
        let big = mean_se(&[1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0]);
        assert!((big.se - (1.0f64 / 3.0).sqrt()).abs() < 1e-9);
    }
}
