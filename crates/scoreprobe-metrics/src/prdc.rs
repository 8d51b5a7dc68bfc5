//! Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020)
//! between a reference ("real") set R and a generated ("fake") set F, with k-nearest-neighbour
//! balls. r_k(x) is the distance from x to its k-th nearest neighbour in its own set (itself
//! excluded). Following the reference `prdc` package, all comparisons are strict (<):
//! - precision = (1/|F|) Σ_j 1[∃i: |f_j − r_i| < r_k(r_i)]            (k = 3 by default)
//! - recall    = (1/|R|) Σ_i 1[∃j: |r_i − f_j| < r_k(f_j)]            (k = 3)
//! - density   = (1/(k|F|)) Σ_j Σ_i 1[|f_j − r_i| < r_k(r_i)]         (k = 5)
//! - coverage  = (1/|R|) Σ_i 1[min_j |r_i − f_j| < r_k(r_i)]          (k = 5)
//!
//! Brute-force nearest neighbours: distances come block by block from one matrix product (rayon
//! over rows), so memory stays O(block · N) and no approximate index is involved.

use crate::error::{check_min_rows, check_pair, invalid, Result};
use crate::wasserstein::sq_dists;
use ndarray::{s, ArrayView2};
use rayon::prelude::*;

/// Rows of distances computed per block.
const BLOCK: usize = 512;

#[derive(Clone, Debug, PartialEq)]
pub struct PrdcOptions {
    /// Neighbourhood size for precision/recall (default 3).
    pub k_pr: usize,
    /// Neighbourhood size for density/coverage (default 5).
    pub k_dc: usize,
}

impl Default for PrdcOptions {
    fn default() -> Self {
        Self { k_pr: 3, k_dc: 5 }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prdc {
    pub precision: f64,
    pub recall: f64,
    pub density: f64,
    pub coverage: f64,
}

/// Squared distance to the k-th nearest neighbour of each row of `x` within `x` (self excluded),
/// for each k in `ks`.
fn knn_radii_sq(x: ArrayView2<f64>, ks: &[usize]) -> Vec<Vec<f64>> {
    let n = x.nrows();
    let mut out = vec![Vec::with_capacity(n); ks.len()];
    for start in (0..n).step_by(BLOCK) {
        let end = (start + BLOCK).min(n);
        let d = sq_dists(x.slice(s![start..end, ..]), x, false);
        let radii: Vec<Vec<f64>> = d
            .outer_iter()
            .into_par_iter()
            .enumerate()
            .map(|(r, row)| {
                let me = start + r;
                let mut others: Vec<f64> = row.iter().enumerate().filter(|&(j, _)| j != me).map(|(_, &v)| v).collect();
                ks.iter()
                    .map(|&k| {
                        let (_, kth, _) = others.select_nth_unstable_by(k - 1, f64::total_cmp);
                        *kth
                    })
                    .collect()
            })
            .collect();
        for r in radii {
            for (slot, v) in out.iter_mut().zip(r) {
                slot.push(v);
            }
        }
    }
    out
}

/// Precision, recall, density and coverage of `fake` against `real` (both (N, D)).
pub fn prdc(real: ArrayView2<f64>, fake: ArrayView2<f64>, opts: &PrdcOptions) -> Result<Prdc> {
    check_pair(real, fake, "PRDC")?;
    if opts.k_pr == 0 || opts.k_dc == 0 {
        return Err(invalid("PRDC: k must be >= 1"));
    }
    let kmax = opts.k_pr.max(opts.k_dc);
    check_min_rows(real, kmax + 1, "PRDC: real (first) set")?;
    check_min_rows(fake, opts.k_pr + 1, "PRDC: fake (second) set")?;
    let rr = knn_radii_sq(real, &[opts.k_pr, opts.k_dc]);
    let (real_pr, real_dc) = (&rr[0], &rr[1]);
    let fake_pr = &knn_radii_sq(fake, &[opts.k_pr])[0];

    let (nr, nf) = (real.nrows(), fake.nrows());
    let mut fake_in_pr = vec![false; nf];
    let mut fake_density = vec![0usize; nf];
    let mut real_recalled = vec![false; nr];
    let mut real_covered = vec![false; nr];
    for start in (0..nr).step_by(BLOCK) {
        let end = (start + BLOCK).min(nr);
        let d = sq_dists(real.slice(s![start..end, ..]), fake, false);
        // Per real row: recall (inside some fake ball) and coverage (nearest fake inside own ball).
        let per_real: Vec<(bool, bool)> = d
            .outer_iter()
            .into_par_iter()
            .enumerate()
            .map(|(r, row)| {
                let i = start + r;
                let recalled = row.iter().zip(fake_pr).any(|(&dij, &rf)| dij < rf);
                let nearest = row.iter().fold(f64::INFINITY, |m, &v| m.min(v));
                (recalled, nearest < real_dc[i])
            })
            .collect();
        for (r, (rec, cov)) in per_real.into_iter().enumerate() {
            real_recalled[start + r] = rec;
            real_covered[start + r] = cov;
        }
        // Per fake column: inside some real k_pr ball (precision), number of real k_dc balls (density).
        fake_in_pr.par_iter_mut().zip(fake_density.par_iter_mut()).enumerate().for_each(|(j, (inside, count))| {
            for r in 0..(end - start) {
                let dij = d[[r, j]];
                if dij < real_pr[start + r] {
                    *inside = true;
                }
                if dij < real_dc[start + r] {
                    *count += 1;
                }
            }
        });
    }
    let frac = |v: &[bool]| v.iter().filter(|&&b| b).count() as f64 / v.len() as f64;
    Ok(Prdc {
        precision: frac(&fake_in_pr),
        recall: frac(&real_recalled),
        density: fake_density.iter().sum::<usize>() as f64 / (opts.k_dc * nf) as f64,
        coverage: frac(&real_covered),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn cloud(n: usize, d: usize, scale: f64, shift: f64, seed: u64) -> Array2<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_fn((n, d), |_| {
            shift
                + scale * {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    z
                }
        })
    }

    /// Direct O(N²D) evaluation of the definitions with exact distances.
    fn brute(real: &Array2<f64>, fake: &Array2<f64>, kp: usize, kd: usize) -> Prdc {
        let dist = |a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>| (&a - &b).mapv(|v| v * v).sum();
        let radius = |x: &Array2<f64>, i: usize, k: usize| {
            let mut d: Vec<f64> = (0..x.nrows()).filter(|&j| j != i).map(|j| dist(x.row(i), x.row(j))).collect();
            d.sort_by(f64::total_cmp);
            d[k - 1]
        };
        let rp: Vec<f64> = (0..real.nrows()).map(|i| radius(real, i, kp)).collect();
        let rd: Vec<f64> = (0..real.nrows()).map(|i| radius(real, i, kd)).collect();
        let fp: Vec<f64> = (0..fake.nrows()).map(|j| radius(fake, j, kp)).collect();
        let d = Array2::from_shape_fn((real.nrows(), fake.nrows()), |(i, j)| dist(real.row(i), fake.row(j)));
        let (nr, nf) = (real.nrows() as f64, fake.nrows() as f64);
        let precision = (0..fake.nrows()).filter(|&j| (0..real.nrows()).any(|i| d[[i, j]] < rp[i])).count() as f64 / nf;
        let recall = (0..real.nrows()).filter(|&i| (0..fake.nrows()).any(|j| d[[i, j]] < fp[j])).count() as f64 / nr;
        let dens: usize = (0..fake.nrows()).map(|j| (0..real.nrows()).filter(|&i| d[[i, j]] < rd[i]).count()).sum();
        let coverage =
            (0..real.nrows()).filter(|&i| d.row(i).iter().fold(f64::INFINITY, |m, &v| m.min(v)) < rd[i]).count() as f64
                / nr;
        Prdc { precision, recall, density: dens as f64 / (kd as f64 * nf), coverage }
    }

    #[test]
    fn matches_brute_force_across_blocks() {
        // 700 real points: two distance blocks. Generic continuous data has no distance ties, so the
        // blocked Gram-matrix distances must reproduce the exact counts.
        let real = cloud(700, 4, 1.0, 0.0, 1);
        let fake = cloud(300, 4, 1.3, 0.4, 2);
        let got = prdc(real.view(), fake.view(), &PrdcOptions::default()).unwrap();
        let want = brute(&real, &fake, 3, 5);
        assert_eq!(got, want);
        assert!(got.precision < 1.0 && got.recall < 1.0 && got.coverage < 1.0);
    }

    #[test]
    fn identical_and_disjoint_sets() {
        let x = cloud(200, 3, 1.0, 0.0, 3);
        let same = prdc(x.view(), x.view(), &PrdcOptions::default()).unwrap();
        assert_eq!((same.precision, same.recall, same.coverage), (1.0, 1.0, 1.0));
        let far = cloud(200, 3, 1.0, 100.0, 4);
        let r = prdc(x.view(), far.view(), &PrdcOptions::default()).unwrap();
        assert_eq!(r, Prdc { precision: 0.0, recall: 0.0, density: 0.0, coverage: 0.0 });
    }

    #[test]
    fn refuses_bad_input() {
        let x = cloud(5, 3, 1.0, 0.0, 5);
        assert!(prdc(x.view(), x.view(), &PrdcOptions::default()).is_err()); // needs > k_dc points
        let y = cloud(10, 3, 1.0, 0.0, 6);
        assert!(prdc(y.view(), cloud(10, 2, 1.0, 0.0, 7).view(), &PrdcOptions::default()).is_err());
        assert!(prdc(y.view(), y.view(), &PrdcOptions { k_pr: 0, k_dc: 5 }).is_err());
    }
}
