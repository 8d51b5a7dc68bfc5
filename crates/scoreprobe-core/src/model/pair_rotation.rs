//! The impossibility family on any model: s_λ = (I + λA) s with A antisymmetric, pairing
//! coordinates 2k and 2k + 1 (A_{2k,2k+1} = 1 = −A_{2k+1,2k}). For images stored channel by
//! channel, row by row, with an even width, each pair is two horizontally neighbouring pixels of
//! one channel. For the exact score, ∇·(p_t A∇log p_t) = Σ_ij A_ij ∂_i∂_j p_t = 0: the added field
//! is p_t-solenoidal, so the generated law does not move while the L² error grows as λ².

use super::{ModelError, ScoreModel};
use ndarray::{Array2, ArrayView2};

pub struct PairRotated {
    inner: Box<dyn ScoreModel>,
    lambda: f64,
}

impl PairRotated {
    pub fn new(inner: Box<dyn ScoreModel>, lambda: f64) -> Self {
        Self { inner, lambda }
    }
}

impl ScoreModel for PairRotated {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn score(&self, x: ArrayView2<f64>, t: f64) -> Result<Array2<f64>, ModelError> {
        let mut s = self.inner.score(x, t)?;
        if self.lambda != 0.0 {
            for mut row in s.rows_mut() {
                // an odd last coordinate has no partner and stays as it is
                for pair in row.as_slice_mut().expect("a fresh score array is contiguous").chunks_exact_mut(2) {
                    let (a, b) = (pair[0], pair[1]);
                    pair[0] = a + self.lambda * b;
                    pair[1] = b - self.lambda * a;
                }
            }
        }
        Ok(s)
    }

    fn describe(&self) -> String {
        format!("(I + {}·A_pairs)·[{}]", self.lambda, self.inner.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    struct Fixed;
    impl ScoreModel for Fixed {
        fn dim(&self) -> usize {
            3
        }
        fn score(&self, x: ArrayView2<f64>, _t: f64) -> Result<Array2<f64>, ModelError> {
            Ok(x.to_owned())
        }
        fn describe(&self) -> String {
            "identity".into()
        }
    }

    #[test]
    fn pairs_rotate_and_an_odd_coordinate_stays() {
        let m = PairRotated::new(Box::new(Fixed), 2.0);
        let s = m.score(array![[1.0, 10.0, 5.0]].view(), 0.5).unwrap();
        assert_eq!(s, array![[21.0, 8.0, 5.0]]);
        // A is antisymmetric: the added field is orthogonal to the score, |s_λ|² = (1 + λ²)|s|²
        // on the paired coordinates
        let norm2 = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
        assert_eq!(norm2(&[s[[0, 0]], s[[0, 1]]]), (1.0 + 2.0 * 2.0) * norm2(&[1.0, 10.0]));
        assert_eq!(
            PairRotated::new(Box::new(Fixed), 0.0).score(array![[1.0, 10.0, 5.0]].view(), 0.5).unwrap(),
            array![[1.0, 10.0, 5.0]]
        );
    }
}
