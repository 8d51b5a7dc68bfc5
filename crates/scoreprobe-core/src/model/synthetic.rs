//! Synthetic score models with a controlled error around the exact score (SPEC §4).

use super::{ModelError, ScoreModel};
use crate::distribution::GaussianMixture;
use crate::error::CoreError;
use crate::schedule::Schedule;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// A time-independent potential V whose gradient perturbs the score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Potential {
    /// V(x) = ½ (x − c)ᵀ Q (x − c), Q symmetric; ∇V = Q(x − c).
    Quadratic {
        #[serde(rename = "Q")]
        q: Vec<Vec<f64>>,
        #[serde(default)]
        center: Option<Vec<f64>>,
    },
    /// V(x) = height · exp(−|x − c|² / (2 width²)).
    RadialBump {
        #[serde(default)]
        center: Option<Vec<f64>>,
        width: f64,
        #[serde(default = "one")]
        height: f64,
    },
}

fn one() -> f64 {
    1.0
}

/// The error e_t(x) = s_θ(x, t) − ∇log p_t(x) of a synthetic model.
#[derive(Clone, Debug)]
pub enum ErrorField {
    Exact,
    /// e_t(x) = E(x − m_t) + b, m_t the mean of p_t.
    Affine {
        e: Array2<f64>,
        b: Array1<f64>,
    },
    /// s = (I + λA)∇log p_t, A antisymmetric: e_t = λA∇log p_t, divergence-free under p_t.
    Solenoidal {
        a: Array2<f64>,
        lambda: f64,
    },
    /// e_t = λ∇V.
    Gradient {
        potential: PotentialField,
        lambda: f64,
    },
}

#[derive(Clone, Debug)]
pub enum PotentialField {
    Quadratic { q: Array2<f64>, center: Array1<f64> },
    RadialBump { center: Array1<f64>, width: f64, height: f64 },
}

impl PotentialField {
    pub fn from_spec(p: &Potential, d: usize) -> Result<Self, CoreError> {
        let center = |c: &Option<Vec<f64>>| -> Result<Array1<f64>, CoreError> {
            match c {
                None => Ok(Array1::zeros(d)),
                Some(v) if v.len() == d => Ok(Array1::from(v.clone())),
                Some(v) => Err(CoreError::invalid(
                    "model.potential.center",
                    format!("has {} entries, the target has dimension {d}", v.len()),
                )),
            }
        };
        match p {
            Potential::Quadratic { q, center: c } => {
                let q = crate::distribution::matrix_from_rows(q, "model.potential.Q")?;
                if q.dim() != (d, d) {
                    return Err(CoreError::invalid(
                        "model.potential.Q",
                        format!("must be {d}x{d}, got {}x{}", q.nrows(), q.ncols()),
                    ));
                }
                let asymmetry = crate::linalg::asymmetry(q.view());
                if asymmetry > 1e-9 {
                    return Err(CoreError::Matrix {
                        input: "model.potential.Q".into(),
                        problem: crate::error::MatrixProblem::NotSymmetric { asymmetry },
                    });
                }
                Ok(PotentialField::Quadratic { q, center: center(c)? })
            }
            Potential::RadialBump { center: c, width, height } => {
                if !(*width > 0.0 && width.is_finite()) {
                    return Err(CoreError::invalid("model.potential.width", format!("must be > 0, got {width}")));
                }
                Ok(PotentialField::RadialBump { center: center(c)?, width: *width, height: *height })
            }
        }
    }

    /// ∇V for each row.
    pub fn gradient(&self, x: ArrayView2<f64>) -> Array2<f64> {
        match self {
            PotentialField::Quadratic { q, center } => (&x - &center.view().insert_axis(Axis(0))).dot(q),
            PotentialField::RadialBump { center, width, height } => {
                let diff = &x - &center.view().insert_axis(Axis(0));
                let r2 = diff.mapv(|v| v * v).sum_axis(Axis(1));
                let w2 = width * width;
                let coef = r2.mapv(|r| -height / w2 * (-r / (2.0 * w2)).exp());
                diff * &coef.insert_axis(Axis(1))
            }
        }
    }
}

/// s_θ = ∇log p_t + e_t for a target with an exact score.
#[derive(Clone, Debug)]
pub struct SyntheticModel {
    pub target: GaussianMixture,
    pub schedule: Schedule,
    pub error: ErrorField,
}

impl SyntheticModel {
    pub fn exact(target: GaussianMixture, schedule: Schedule) -> Self {
        Self { target, schedule, error: ErrorField::Exact }
    }

    /// The error field e_t at the rows of `x`, given the exact score there.
    pub fn error_at(&self, x: ArrayView2<f64>, t: f64, exact_score: ArrayView2<f64>) -> Array2<f64> {
        match &self.error {
            ErrorField::Exact => Array2::zeros(x.raw_dim()),
            ErrorField::Affine { e, b } => {
                let (m, _) = self.target.moments_at(&self.schedule, t);
                (&x - &m.insert_axis(Axis(0))).dot(&e.t()) + b.view().insert_axis(Axis(0))
            }
            ErrorField::Solenoidal { a, lambda } => exact_score.dot(&a.t()) * *lambda,
            ErrorField::Gradient { potential, lambda } => potential.gradient(x) * *lambda,
        }
    }

    /// The exact error e_t(x) = s_θ − ∇log p_t.
    pub fn error(&self, x: ArrayView2<f64>, t: f64) -> Array2<f64> {
        let s = self.target.marginal(&self.schedule, t).score(x);
        self.error_at(x, t, s.view())
    }

    /// ‖e_t‖²_{L²(p_t)} by Monte Carlo over `n` draws from p_t: (estimate, standard error).
    pub fn l2_error_mc(&self, t: f64, n: usize, seed: u64) -> (f64, f64) {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x = self.target.sample_marginal(n, &self.schedule, t, &mut rng);
        let sq = self.error(x.view(), t).mapv(|v| v * v).sum_axis(Axis(1));
        let mean = sq.mean().unwrap_or(0.0);
        let se = if n > 1 { (sq.var(1.0) / n as f64).sqrt() } else { f64::NAN };
        (mean, se)
    }

    /// For a Gaussian target and an error affine in x, the model score is s(x, t) = K_t x + k_t;
    /// returns (K_t, k_t), or None when the score is not affine.
    pub fn affine_form(&self, t: f64) -> Option<(Array2<f64>, Array1<f64>)> {
        if !self.target.is_gaussian() {
            return None;
        }
        let d = self.target.dim();
        let (m, c) = self.target.moments_at(&self.schedule, t);
        let (p, _) = crate::linalg::spd_inverse_logdet(c.view(), "marginal covariance").ok()?;
        // exact score: −P(x − m)
        let (kk, k) = (-&p, p.dot(&m));
        match &self.error {
            ErrorField::Exact => Some((kk, k)),
            ErrorField::Affine { e, b } => Some((&kk + e, &k - &e.dot(&m) + b)),
            ErrorField::Solenoidal { a, lambda } => {
                let r = Array2::<f64>::eye(d) + a * *lambda;
                Some((r.dot(&kk), r.dot(&k)))
            }
            ErrorField::Gradient { potential: PotentialField::Quadratic { q, center }, lambda } => {
                Some((&kk + &(q * *lambda), &k - &(q.dot(center) * *lambda)))
            }
            ErrorField::Gradient { .. } => None,
        }
    }
}

impl ScoreModel for SyntheticModel {
    fn dim(&self) -> usize {
        self.target.dim()
    }

    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        if x.ncols() != self.dim() {
            return Err(ModelError::InputDimension { model: self.describe(), got: x.ncols(), expected: self.dim() });
        }
        let s = self.target.marginal(&self.schedule, t).score(x);
        let e = self.error_at(x, t, s.view());
        Ok(s + e)
    }

    fn describe(&self) -> String {
        match &self.error {
            ErrorField::Exact => "exact".into(),
            ErrorField::Affine { .. } => "affine_error".into(),
            ErrorField::Solenoidal { lambda, .. } => format!("solenoidal(lambda={lambda})"),
            ErrorField::Gradient { lambda, .. } => format!("gradient(lambda={lambda})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::named_target;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// ∇·(p_t e_t) by central differences of the flux p_t e_t.
    fn divergence_of_flux(model: &SyntheticModel, x: &Array1<f64>, t: f64, h: f64) -> (f64, f64) {
        let marg = model.target.marginal(&model.schedule, t);
        let flux = |y: &Array1<f64>| {
            let row = y.view().insert_axis(Axis(0));
            let p = marg.log_density(row).mapv(f64::exp)[0];
            model.error(row, t).row(0).to_owned() * p
        };
        let mut div = 0.0;
        let mut scale = 0.0f64;
        for j in 0..x.len() {
            let mut xp = x.clone();
            let mut xm = x.clone();
            xp[j] += h;
            xm[j] -= h;
            let (fp, fm) = (flux(&xp), flux(&xm));
            let term = (fp[j] - fm[j]) / (2.0 * h);
            div += term;
            scale = scale.max(term.abs());
        }
        (div, scale)
    }

    #[test]
    fn solenoidal_error_has_zero_weighted_divergence() {
        // holds for any p_t (Gaussian or mixture): ∇·(p A∇log p) = ∇·(A∇p) = Σ A_ij ∂_i∂_j p = 0
        let sched = Schedule::vp_default();
        for target in [
            named_target("ring8").unwrap(),
            GaussianMixture::from_vecs(&[1.0], &[vec![0.3, -0.2]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t")
                .unwrap(),
        ] {
            let model = SyntheticModel {
                target,
                schedule: sched.clone(),
                error: ErrorField::Solenoidal { a: array![[0.0, 1.0], [-1.0, 0.0]], lambda: 3.0 },
            };
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let xs = model.target.sample_marginal(10, &sched, 0.3, &mut rng);
            for x in xs.rows() {
                let (div, scale) = divergence_of_flux(&model, &x.to_owned(), 0.3, 1e-4);
                // the individual terms ∂_j(p e_j) are O(scale) and must cancel: central differences
                // leave O(h²) truncation and O(ε/h) round-off, far below 1e-6 of the terms
                assert!(scale > 1e-6 && div.abs() < 1e-6 * scale, "div={div} scale={scale}");
            }
            // a gradient error, by contrast, has a clearly non-zero divergence
            let grad = SyntheticModel {
                error: ErrorField::Gradient {
                    potential: PotentialField::RadialBump { center: Array1::zeros(2), width: 0.7, height: 1.0 },
                    lambda: 1.0,
                },
                ..model.clone()
            };
            let (div, scale) = divergence_of_flux(&grad, &xs.row(0).to_owned(), 0.3, 1e-4);
            assert!(div.abs() > 1e-2 * scale, "gradient error should not be divergence-free: {div} vs {scale}");
        }
    }

    #[test]
    fn affine_form_matches_pointwise_score() {
        let target =
            GaussianMixture::from_vecs(&[1.0], &[vec![0.5, -1.0]], &[vec![vec![1.0, 0.3], vec![0.3, 0.5]]], "t")
                .unwrap();
        let sched = Schedule::vp_default();
        let errors = vec![
            ErrorField::Exact,
            ErrorField::Affine { e: array![[0.2, -0.1], [0.4, 0.3]], b: array![0.1, -0.2] },
            ErrorField::Solenoidal { a: array![[0.0, 1.0], [-1.0, 0.0]], lambda: 2.0 },
            ErrorField::Gradient {
                potential: PotentialField::Quadratic { q: array![[0.5, 0.1], [0.1, 0.2]], center: array![1.0, 0.0] },
                lambda: 0.7,
            },
        ];
        let x = array![[0.3, 0.2], [-1.0, 2.0], [0.0, 0.0]];
        for error in errors {
            let m = SyntheticModel { target: target.clone(), schedule: sched.clone(), error };
            for &t in &[0.05, 0.5, 0.95] {
                let (kk, k) = m.affine_form(t).unwrap();
                let want = m.score(x.view(), t).unwrap();
                let got = x.dot(&kk.t()) + k.view().insert_axis(Axis(0));
                assert!((&got - &want).iter().all(|v| v.abs() < 1e-10), "{}", m.describe());
            }
        }
    }

    #[test]
    fn bump_gradient_matches_finite_differences() {
        let p = PotentialField::RadialBump { center: array![0.5, -0.5], width: 0.8, height: 2.0 };
        let v = |x: &Array1<f64>| 2.0 * (-(x - &array![0.5, -0.5]).mapv(|a| a * a).sum() / (2.0 * 0.64)).exp();
        let x = array![0.1, 0.4];
        let g = p.gradient(x.view().insert_axis(Axis(0)));
        for j in 0..2 {
            let mut xp = x.clone();
            let mut xm = x.clone();
            xp[j] += 1e-6;
            xm[j] -= 1e-6;
            assert!(((v(&xp) - v(&xm)) / 2e-6 - g[[0, j]]).abs() < 1e-8);
        }
    }
}
