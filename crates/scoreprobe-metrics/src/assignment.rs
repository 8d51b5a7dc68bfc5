//! Dense linear assignment in f64: shortest augmenting paths with dual potentials (the
//! Jonker–Volgenant family; this is the variant of Crouse 2016 that scipy's
//! `linear_sum_assignment` uses). O(n³) worst case, O(n²) memory; a few thousand points take
//! seconds.
//!
//! Hand-written because no well-kept crate solves real-valued assignment exactly:
//! `pathfinding::kuhn_munkres` needs integer weights (scaling squared distances to integers
//! would lose the exactness this solver exists for), and the `lapjv` crate (0.3) is a
//! single-maintainer port of the C LAPJV whose absolute-epsilon float comparisons are the source of
//! that code's known hangs/suboptimal answers on real-valued costs. The variant below has no
//! tolerances and is about a hundred lines.

use ndarray::ArrayView2;

/// Minimum-cost perfect matching of a square cost matrix. Returns `col_for_row` and the total cost.
/// Costs must be finite (checked by callers).
pub fn solve(cost: ArrayView2<f64>) -> (Vec<usize>, f64) {
    let n = cost.nrows();
    assert_eq!(n, cost.ncols(), "assignment: square cost matrix");
    let cost = cost.as_standard_layout();
    let c = cost.as_slice().expect("standard layout");
    const NONE: usize = usize::MAX;
    let mut u = vec![0.0f64; n]; // row potentials
    let mut v = vec![0.0f64; n]; // column potentials
    let mut col4row = vec![NONE; n];
    let mut row4col = vec![NONE; n];
    let mut path = vec![NONE; n];
    let mut spc = vec![f64::INFINITY; n]; // shortest path cost to each column
    let mut sr = vec![false; n];
    let mut sc = vec![false; n];
    let mut remaining = vec![0usize; n];

    for cur_row in 0..n {
        // Dijkstra over columns on reduced costs c_ij − u_i − v_j (all ≥ 0 by the dual invariants).
        spc.fill(f64::INFINITY);
        sr.fill(false);
        sc.fill(false);
        for (it, r) in remaining.iter_mut().enumerate() {
            *r = n - 1 - it;
        }
        let mut num_remaining = n;
        let mut min_val = 0.0f64;
        let mut i = cur_row;
        let sink;
        loop {
            sr[i] = true;
            let row = &c[i * n..(i + 1) * n];
            let mut lowest = f64::INFINITY;
            let mut index = NONE;
            for (it, &j) in remaining[..num_remaining].iter().enumerate() {
                let r = min_val + row[j] - u[i] - v[j];
                if r < spc[j] {
                    path[j] = i;
                    spc[j] = r;
                }
                if spc[j] < lowest || (spc[j] == lowest && row4col[j] == NONE) {
                    lowest = spc[j];
                    index = it;
                }
            }
            min_val = lowest;
            // Finite costs on a complete bipartite graph: a column is always reachable.
            let j = remaining[index];
            sc[j] = true;
            num_remaining -= 1;
            remaining[index] = remaining[num_remaining];
            if row4col[j] == NONE {
                sink = j;
                break;
            }
            i = row4col[j];
        }
        // Update the duals.
        u[cur_row] += min_val;
        for r in 0..n {
            if sr[r] && r != cur_row {
                u[r] += min_val - spc[col4row[r]];
            }
        }
        for j in 0..n {
            if sc[j] {
                v[j] -= min_val - spc[j];
            }
        }
        // Augment along the path back to cur_row.
        let mut j = sink;
        loop {
            let i = path[j];
            row4col[j] = i;
            std::mem::swap(&mut col4row[i], &mut j);
            if i == cur_row {
                break;
            }
        }
    }
    let total = (0..n).map(|i| c[i * n + col4row[i]]).sum();
    (col4row, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use rand::{Rng, SeedableRng};

    fn brute_force(c: &Array2<f64>) -> f64 {
        fn rec(c: &Array2<f64>, row: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
            let n = c.nrows();
            if row == n {
                *best = best.min(acc);
                return;
            }
            for j in 0..n {
                if !used[j] {
                    used[j] = true;
                    rec(c, row + 1, used, acc + c[[row, j]], best);
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        rec(c, 0, &mut vec![false; c.nrows()], 0.0, &mut best);
        best
    }

    #[test]
    fn optimal_on_small_random_and_tied_problems() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for n in 1..=7 {
            for _ in 0..20 {
                let c = Array2::from_shape_fn((n, n), |_| rng.random::<f64>() * 10.0 - 3.0);
                let (perm, total) = solve(c.view());
                let mut seen = perm.clone();
                seen.sort();
                assert_eq!(seen, (0..n).collect::<Vec<_>>());
                assert!((total - brute_force(&c)).abs() < 1e-12);
                // Integer costs with many ties.
                let c = c.mapv(|v| v.round().abs().min(2.0));
                assert!((solve(c.view()).1 - brute_force(&c)).abs() < 1e-12);
            }
        }
        let c = array![[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]];
        assert_eq!(solve(c.view()), (vec![1, 0, 2], 5.0));
    }
}
