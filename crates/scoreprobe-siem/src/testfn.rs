//! Radial test functions φ(x) = ψ(|x − c|/h) (SPEC §7) and their analytic gradients.
//!
//! Every ψ here is smooth and even, so ∇φ(x) = ψ'(r)/r · (x − c)/h² with r = |x − c|/h, and
//! ψ'(r)/r is finite at r = 0. Hence ê·∇φ depends on x and ê only through the two scalars
//! ρ = |x − c| and a = ê·(x − c): the estimator records those per state and applies any
//! bandwidth afterwards (so the default bandwidth can be a median over the whole window at no
//! extra score evaluation).

use crate::error::SiemError;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use scoreprobe_core::options::OptionError;
use scoreprobe_core::{GaussianMixture, Purpose, SeedStream};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The radial profile ψ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RadialKind {
    /// ψ(r) = exp(−r²/2) (the default).
    Gaussian,
    /// Inverse multiquadric ψ(r) = (1 + r²)^(−1/2): heavy tails, never vanishes.
    Imq,
    /// Compactly supported bump ψ(r) = exp(1 − 1/(1 − r²)) for r < 1, 0 beyond (ψ(0) = 1).
    Bump,
}

impl RadialKind {
    pub const NAMES: &'static [&'static str] = &["gaussian", "imq", "bump"];

    pub fn name(&self) -> &'static str {
        match self {
            RadialKind::Gaussian => "gaussian",
            RadialKind::Imq => "imq",
            RadialKind::Bump => "bump",
        }
    }

    /// ψ(r), r ≥ 0.
    pub fn psi(&self, r: f64) -> f64 {
        match self {
            RadialKind::Gaussian => (-0.5 * r * r).exp(),
            RadialKind::Imq => 1.0 / (1.0 + r * r).sqrt(),
            RadialKind::Bump => {
                let u = 1.0 - r * r;
                if u <= 0.0 {
                    0.0
                } else {
                    (1.0 - 1.0 / u).exp()
                }
            }
        }
    }

    /// ψ'(r)/r, finite at r = 0.
    pub fn dpsi_over_r(&self, r: f64) -> f64 {
        match self {
            RadialKind::Gaussian => -(-0.5 * r * r).exp(),
            RadialKind::Imq => -(1.0 + r * r).powf(-1.5),
            RadialKind::Bump => {
                let p = self.psi(r);
                if p == 0.0 {
                    // beyond the support, or so close to its edge that ψ underflowed (ψ' → 0 there too)
                    0.0
                } else {
                    let u = 1.0 - r * r;
                    -2.0 * p / (u * u)
                }
            }
        }
    }
}

impl RadialKind {
    /// ψ''(r) + (d − 1) ψ'(r)/r: h² Δφ for φ(x) = ψ(|x − c|/h) in dimension d (r = |x − c|/h).
    /// Finite at r = 0, where it is d ψ''(0).
    pub fn laplacian_coef(&self, r: f64, d: usize) -> f64 {
        let d = d as f64;
        let r2 = r * r;
        match self {
            // ψ' = −r e, ψ'' = (r² − 1) e with e = exp(−r²/2)
            RadialKind::Gaussian => (r2 - d) * (-0.5 * r2).exp(),
            // ψ'/r = −(1 + r²)^(−3/2), ψ'' = −(1 + r²)^(−3/2) + 3r²(1 + r²)^(−5/2)
            RadialKind::Imq => {
                let u = 1.0 + r2;
                -d * u.powf(-1.5) + 3.0 * r2 * u.powf(-2.5)
            }
            // ψ'/r = −2ψ/u², ψ'' = ψ(−2/u² + 4r²/u⁴ − 8r²/u³) with u = 1 − r²
            RadialKind::Bump => {
                let p = self.psi(r);
                if p == 0.0 {
                    0.0
                } else {
                    let u = 1.0 - r2;
                    let u2 = u * u;
                    p * (-2.0 * d / u2 + 4.0 * r2 / (u2 * u2) - 8.0 * r2 / (u2 * u))
                }
            }
        }
    }
}

impl FromStr for RadialKind {
    type Err = SiemError;
    fn from_str(s: &str) -> Result<Self, SiemError> {
        match s {
            "gaussian" => Ok(RadialKind::Gaussian),
            "imq" => Ok(RadialKind::Imq),
            "bump" => Ok(RadialKind::Bump),
            other => Err(SiemError::Unknown { what: "test function", name: other.into(), known: Self::NAMES.to_vec() }),
        }
    }
}

/// The test-function family of a SIEM run, as the front ends name it (`--test-fn`, `test_fn=`):
/// radial functions with a profile ψ, or the quadratic family (SPEC §7: every test function of
/// degree ≤ 2 at once; projection form only). Spelled by [`TestFnKind::name`] in clap and serde.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestFnKind {
    Radial(RadialKind),
    Quadratic,
}

impl TestFnKind {
    pub const NAMES: &'static [&'static str] = &["gaussian", "imq", "bump", "quadratic"];

    pub fn name(&self) -> &'static str {
        match self {
            TestFnKind::Radial(k) => k.name(),
            TestFnKind::Quadratic => "quadratic",
        }
    }
}

impl clap::ValueEnum for TestFnKind {
    fn value_variants<'a>() -> &'a [Self] {
        use RadialKind::*;
        &[TestFnKind::Radial(Gaussian), TestFnKind::Radial(Imq), TestFnKind::Radial(Bump), TestFnKind::Quadratic]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl Serialize for TestFnKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TestFnKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for TestFnKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for TestFnKind {
    fn default() -> Self {
        TestFnKind::Radial(RadialKind::Gaussian)
    }
}

impl FromStr for TestFnKind {
    type Err = SiemError;
    fn from_str(s: &str) -> Result<Self, SiemError> {
        match s {
            "quadratic" => Ok(TestFnKind::Quadratic),
            other => other.parse::<RadialKind>().map(TestFnKind::Radial).map_err(|_| SiemError::Unknown {
                what: "test function",
                name: other.into(),
                known: Self::NAMES.to_vec(),
            }),
        }
    }
}

/// A short fingerprint of the test functions' centres (FNV-1a over their f64 bits, hex): two runs
/// with the same fingerprint used the same centres, so their values measure the same metric.
pub fn centers_hash(centers: ArrayView2<f64>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: u64| {
        for b in v.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(centers.nrows() as u64);
    eat(centers.ncols() as u64);
    centers.iter().for_each(|v| eat(v.to_bits()));
    format!("{h:016x}")
}

/// One radial test function φ(x) = ψ(|x − c|/h).
#[derive(Clone, Debug, PartialEq)]
pub struct RadialTestFn {
    pub kind: RadialKind,
    pub center: Array1<f64>,
    pub bandwidth: f64,
}

impl RadialTestFn {
    pub fn new(kind: RadialKind, center: Array1<f64>, bandwidth: f64) -> Result<Self, SiemError> {
        check_bandwidth(bandwidth)?;
        if center.iter().any(|v| !v.is_finite()) {
            return Err(SiemError::invalid("test function centre", "contains NaN or infinite entries"));
        }
        Ok(Self { kind, center, bandwidth })
    }

    /// φ at each row of `x`.
    pub fn value(&self, x: ArrayView2<f64>) -> Array1<f64> {
        radial_distances(x, self.center.view()).mapv(|rho| self.kind.psi(rho / self.bandwidth))
    }

    /// ∇φ at each row of `x`: ψ'(r)/r · (x − c)/h².
    pub fn gradient(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let diff = &x - &self.center.view().insert_axis(Axis(0));
        let h2 = self.bandwidth * self.bandwidth;
        let coef = diff
            .rows()
            .into_iter()
            .map(|r| self.kind.dpsi_over_r(r.dot(&r).sqrt() / self.bandwidth) / h2)
            .collect::<Array1<f64>>();
        diff * &coef.insert_axis(Axis(1))
    }

    /// ê·∇φ from the radial summary of one state: ρ = |x − c| and a = ê·(x − c).
    #[inline]
    pub fn directional(&self, rho: f64, a: f64) -> f64 {
        self.kind.dpsi_over_r(rho / self.bandwidth) * a / (self.bandwidth * self.bandwidth)
    }

    /// Δφ from ρ = |x − c| in dimension d.
    #[inline]
    pub fn laplacian(&self, rho: f64, d: usize) -> f64 {
        self.kind.laplacian_coef(rho / self.bandwidth, d) / (self.bandwidth * self.bandwidth)
    }

    /// Δφ at each row of `x`.
    pub fn laplacian_at(&self, x: ArrayView2<f64>) -> Array1<f64> {
        let d = x.ncols();
        radial_distances(x, self.center.view()).mapv(|rho| self.laplacian(rho, d))
    }

    /// |∇φ|² from ρ = |x − c|.
    #[inline]
    pub fn grad_norm2(&self, rho: f64) -> f64 {
        let g = self.kind.dpsi_over_r(rho / self.bandwidth) * rho / (self.bandwidth * self.bandwidth);
        g * g
    }
}

/// |x − c| for each row.
pub fn radial_distances(x: ArrayView2<f64>, c: ArrayView1<f64>) -> Array1<f64> {
    x.rows().into_iter().map(|r| r.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt()).collect()
}

pub(crate) fn check_bandwidth(h: f64) -> Result<(), SiemError> {
    if !(h > 0.0 && h.is_finite()) {
        return Err(OptionError::new("bandwidth", format!("must be a finite number > 0, got {h}")).into());
    }
    Ok(())
}

/// How the bandwidth h is chosen (per centre).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum BandwidthRule {
    Fixed(f64),
    /// Median of |X_t − c| pooled over a fixed reference grid (the default). The projection form
    /// (and the front ends) pool pilot draws of the forward-noised data over every time of the full
    /// grid, so a window's test functions are the full run's; the particle form's estimator, given
    /// this rule directly, pools the model's own states on the window.
    MedianPooled,
    /// Median of |X_t − c| at the highest-noise time only (projection form: the full grid's;
    /// particle form: the window's first observed states).
    MedianFirstStep,
}

impl BandwidthRule {
    pub fn name(&self) -> &'static str {
        match self {
            BandwidthRule::Fixed(_) => "fixed",
            BandwidthRule::MedianPooled => "median-pooled",
            BandwidthRule::MedianFirstStep => "median-first-step",
        }
    }
}

/// The median rules a front end may ask for (a fixed bandwidth is the `bandwidth` option).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MedianRule {
    MedianPooled,
    MedianFirstStep,
}

impl MedianRule {
    pub fn rule(self) -> BandwidthRule {
        match self {
            MedianRule::MedianPooled => BandwidthRule::MedianPooled,
            MedianRule::MedianFirstStep => BandwidthRule::MedianFirstStep,
        }
    }
}

/// The test functions of one SIEM run: one profile, a bandwidth rule, and K ≥ 1 centres (rows).
/// K = 1 with the centre at 0 and a Gaussian ψ is the paper's metric; K > 1 is the multi-centre
/// variant (the metric is averaged over the K test functions).
#[derive(Clone, Debug, PartialEq)]
pub struct TestFnSpec {
    pub kind: RadialKind,
    pub bandwidth: BandwidthRule,
    /// K × d centres.
    pub centers: Array2<f64>,
}

impl TestFnSpec {
    /// The paper's metric: Gaussian ψ centred at 0, bandwidth the pooled median of |X_t| on the window.
    pub fn paper(dim: usize) -> Self {
        Self { kind: RadialKind::Gaussian, bandwidth: BandwidthRule::MedianPooled, centers: Array2::zeros((1, dim)) }
    }

    /// One test function at `center`.
    pub fn single(kind: RadialKind, center: Array1<f64>, bandwidth: BandwidthRule) -> Self {
        Self { kind, bandwidth, centers: center.insert_axis(Axis(0)) }
    }

    pub fn validate(&self, dim: usize) -> Result<(), SiemError> {
        if self.centers.nrows() == 0 {
            return Err(SiemError::invalid("test functions", "need at least one centre"));
        }
        if self.centers.ncols() != dim {
            return Err(SiemError::invalid(
                "test function centre",
                format!("has {} coordinates, the model has dimension {dim}", self.centers.ncols()),
            ));
        }
        if let Some(row) = self.centers.rows().into_iter().position(|c| c.iter().any(|v| !v.is_finite())) {
            return Err(SiemError::invalid(
                "test function centre",
                format!("centre {row} contains NaN or infinite entries"),
            ));
        }
        if let BandwidthRule::Fixed(h) = self.bandwidth {
            check_bandwidth(h)?;
        }
        Ok(())
    }

    /// The test functions, given the bandwidth chosen for each centre.
    pub fn build(&self, bandwidths: &[f64]) -> Result<Vec<RadialTestFn>, SiemError> {
        self.centers
            .rows()
            .into_iter()
            .zip(bandwidths)
            .map(|(c, h)| RadialTestFn::new(self.kind, c.to_owned(), *h))
            .collect()
    }
}

/// K data points of the target drawn with `seed` (pass the test seed), as centres of the
/// multi-centre variant.
pub fn centers_from_target(target: &GaussianMixture, k: usize, seed: u64) -> Array2<f64> {
    target.sample(k, &mut SeedStream::new(seed).rng(Purpose::SiemCenters))
}

/// Median of a non-empty slice (mean of the two middle values for even length); NaN for empty.
pub fn median(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let (_, hi, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let hi = *hi;
    if n % 2 == 1 {
        hi
    } else {
        let lo = values[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lo + hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn gradients_match_finite_differences() {
        let pts = array![[0.3, -0.2, 0.1], [1.1, 0.4, -0.7], [0.5, 0.5, 0.5], [0.52, 0.48, 0.5], [2.0, -1.0, 0.3]];
        for kind in [RadialKind::Gaussian, RadialKind::Imq, RadialKind::Bump] {
            let f = RadialTestFn::new(kind, array![0.5, 0.5, 0.5], 0.9).unwrap();
            let g = f.gradient(pts.view());
            let eps = 1e-6;
            for (i, x) in pts.rows().into_iter().enumerate() {
                for j in 0..3 {
                    let (mut xp, mut xm) = (x.to_owned(), x.to_owned());
                    xp[j] += eps;
                    xm[j] -= eps;
                    let fd = (f.value(xp.view().insert_axis(Axis(0)))[0] - f.value(xm.view().insert_axis(Axis(0)))[0])
                        / (2.0 * eps);
                    // central differences: O(ε²) truncation + O(1e-16/ε) round-off
                    assert!((fd - g[[i, j]]).abs() < 1e-8, "{kind:?} row {i} coord {j}: fd {fd} vs {}", g[[i, j]]);
                }
                // the radial summary gives the same ê·∇φ as the explicit gradient
                let e = array![0.7, -1.3, 0.25];
                let diff = &x - &f.center;
                let via_radial = f.directional(diff.dot(&diff).sqrt(), e.dot(&diff));
                assert!((via_radial - e.dot(&g.row(i))).abs() < 1e-14);
                assert!((f.grad_norm2(diff.dot(&diff).sqrt()) - g.row(i).dot(&g.row(i))).abs() < 1e-14);
            }
            // the row at distance 2.0+ lies outside the bump's support (h = 0.9)
            if kind == RadialKind::Bump {
                assert_eq!(g.row(4).iter().map(|v| v.abs()).sum::<f64>(), 0.0);
            }
        }
    }

    #[test]
    fn laplacians_match_finite_differences() {
        // second central differences of φ along each axis, in d = 1, 3 and 5
        for d in [1usize, 3, 5] {
            let center = Array1::from_iter((0..d).map(|j| 0.1 * j as f64 - 0.2));
            let pts: Vec<Array1<f64>> = vec![
                Array1::from_iter((0..d).map(|j| 0.3 + 0.2 * j as f64)),
                Array1::from_iter((0..d).map(|j| -0.4 + 0.05 * j as f64)),
                center.clone(),
            ];
            for kind in [RadialKind::Gaussian, RadialKind::Imq, RadialKind::Bump] {
                let f = RadialTestFn::new(kind, center.clone(), 1.3).unwrap();
                let phi = |x: &Array1<f64>| f.value(x.view().insert_axis(Axis(0)))[0];
                for x in &pts {
                    let eps = 1e-4;
                    let fd: f64 = (0..d)
                        .map(|j| {
                            let (mut xp, mut xm) = (x.clone(), x.clone());
                            xp[j] += eps;
                            xm[j] -= eps;
                            (phi(&xp) - 2.0 * phi(x) + phi(&xm)) / (eps * eps)
                        })
                        .sum();
                    let got = f.laplacian_at(x.view().insert_axis(Axis(0)))[0];
                    // O(ε²) truncation + O(1e-16/ε²) = 1e-8 round-off
                    assert!((fd - got).abs() < 1e-6, "{kind:?} d={d} at {x}: fd {fd} vs {got}");
                }
            }
        }
    }

    #[test]
    fn profiles_are_normalised_and_decreasing() {
        for kind in [RadialKind::Gaussian, RadialKind::Imq, RadialKind::Bump] {
            assert_eq!(kind.psi(0.0), 1.0);
            assert!(kind.dpsi_over_r(0.0) < 0.0 && kind.dpsi_over_r(0.0).is_finite());
            assert!(kind.psi(0.5) > kind.psi(0.9));
            assert!(kind.dpsi_over_r(1.0 - 1e-9).is_finite());
            assert_eq!(kind.name().parse::<RadialKind>().unwrap(), kind);
        }
        assert!("cosine".parse::<RadialKind>().unwrap_err().to_string().contains("gaussian, imq, bump"));
        for k in [TestFnKind::Radial(RadialKind::Imq), TestFnKind::Quadratic] {
            assert_eq!(k.name().parse::<TestFnKind>().unwrap(), k);
        }
        assert!("cosine".parse::<TestFnKind>().unwrap_err().to_string().contains("bump, quadratic"));
    }

    #[test]
    fn the_centres_hash_tells_centre_sets_apart() {
        let a = array![[0.0, 1.0], [2.0, 3.0]];
        assert_eq!(centers_hash(a.view()), centers_hash(a.clone().view()));
        assert_ne!(centers_hash(a.view()), centers_hash(array![[0.0, 1.0], [2.0, 3.0000001]].view()));
        assert_ne!(centers_hash(a.view()), centers_hash(array![[0.0, 1.0, 2.0, 3.0]].view()));
        assert_eq!(centers_hash(a.view()).len(), 16);
    }

    #[test]
    fn bad_bandwidths_and_centres_are_refused() {
        for h in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(RadialTestFn::new(RadialKind::Gaussian, array![0.0], h)
                .unwrap_err()
                .to_string()
                .contains("bandwidth"));
            let spec = TestFnSpec::single(RadialKind::Gaussian, array![0.0], BandwidthRule::Fixed(h));
            assert!(spec.validate(1).unwrap_err().to_string().contains("bandwidth"));
        }
        assert!(TestFnSpec::paper(2).validate(3).unwrap_err().to_string().contains("dimension 3"));
        let spec = TestFnSpec::single(RadialKind::Gaussian, array![f64::NAN, 0.0], BandwidthRule::MedianPooled);
        assert!(spec.validate(2).unwrap_err().to_string().contains("NaN"));
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
