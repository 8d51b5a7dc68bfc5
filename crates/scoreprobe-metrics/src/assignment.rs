//! Dense linear assignment in f64, exact: shortest augmenting paths with dual potentials (the
//! Jonker–Volgenant family; the variant of Crouse 2016 that scipy's `linear_sum_assignment`
//! uses), warm-started by an ε-scaling auction (Bertsekas 1988). O(n³) worst case, O(n²) memory.
//!
//! The auction only supplies a starting point: prices that are nearly optimal duals and a partial
//! matching. Only the pairs that are exactly tight under the duals it implies are kept, so the
//! shortest-path phase starts from a dual-feasible, complementary-slack state and ends at an exact
//! optimum whatever the auction did (its tolerances never reach the answer). On squared-distance
//! costs this cuts the shortest-path work by two orders of magnitude: at n = 2000 the plain
//! solver finalises ~750 000 columns in its Dijkstra searches, the warm-started one ~20 000 (see
//! docs/benchmarks.md). The two inner loops (a Dijkstra relaxation over a cost row, and a bid's
//! best-two search) are written as lane-wise loops that the compiler vectorises; they are compiled
//! for AVX-512 and AVX2 too and chosen at run time.
//!
//! Hand-written because no well-kept crate solves real-valued assignment exactly:
//! `pathfinding::kuhn_munkres` needs integer weights (scaling squared distances to integers
//! would lose the exactness this solver exists for), and the `lapjv` crate (0.3) is a
//! single-maintainer port of the C LAPJV whose absolute-epsilon float comparisons are the source of
//! that code's known hangs/suboptimal answers on real-valued costs. Nothing below compares floats
//! with a tolerance.

use ndarray::ArrayView2;

const NONE: usize = usize::MAX;

/// Below this size the auction is not worth starting.
const AUCTION_MIN: usize = 64;
/// Final auction ε relative to the cost range, and its reduction factor per phase. The auction
/// stops early: tightening ε further costs more bids than the shortest-path phase it saves.
const AUCTION_EPS_FINAL: f64 = 1e-4;
const AUCTION_THETA: f64 = 4.0;
/// Bids allowed per row and phase before the auction hands over as it stands (a guard against
/// price wars on adversarial costs; the result stays exact).
const AUCTION_BIDS_PER_ROW: usize = 64;

/// Minimum-cost perfect matching of a square cost matrix. Returns `col_for_row` and the total cost.
/// Costs must be finite (checked by callers).
pub fn solve(cost: ArrayView2<f64>) -> (Vec<usize>, f64) {
    let n = cost.nrows();
    assert_eq!(n, cost.ncols(), "assignment: square cost matrix");
    let cost = cost.as_standard_layout();
    let c = cost.as_slice().expect("standard layout");
    let mut m = Matching::new(n);
    let todo: Vec<usize> = if n >= AUCTION_MIN { m.auction_warm_start(c) } else { (0..n).collect() };
    for row in todo {
        m.augment(c, row);
    }
    let total = (0..n).map(|i| c[i * n + m.col4row[i]]).sum();
    (m.col4row, total)
}

/// A partial matching with dual potentials u (rows), v (columns): every reduced cost
/// c_ij − u_i − v_j is ≥ 0 and matched pairs have reduced cost 0.
struct Matching {
    n: usize,
    u: Vec<f64>,
    v: Vec<f64>,
    col4row: Vec<usize>,
    row4col: Vec<usize>,
    // Scratch of the shortest-path search: tentative distances (−∞ once final), the search step
    // that set each one, final distances, the rows scanned and the columns finalised.
    dist: Vec<f64>,
    from: Vec<f64>,
    fin: Vec<f64>,
    rows_seen: Vec<usize>,
    done_cols: Vec<usize>,
}

impl Matching {
    fn new(n: usize) -> Self {
        Self {
            n,
            u: vec![0.0; n],
            v: vec![0.0; n],
            col4row: vec![NONE; n],
            row4col: vec![NONE; n],
            dist: vec![0.0; n],
            from: vec![0.0; n],
            fin: vec![0.0; n],
            rows_seen: Vec::with_capacity(n),
            done_cols: Vec::with_capacity(n),
        }
    }

    /// Forward auction with ε-scaling in min-cost form (row i pays c_ij + p_j), then the duals it
    /// implies: v = −p, u_i = min_j (c_ij − v_j). Keeps the auction's pairs that are tight under
    /// them and returns the rows left free.
    fn auction_warm_start(&mut self, c: &[f64]) -> Vec<usize> {
        let n = self.n;
        let (lo, hi) = c.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        let range = hi - lo;
        let mut p = vec![0.0f64; n];
        let mut owner = vec![NONE; n]; // row holding each column
        if range > 0.0 {
            let eps_final = range * AUCTION_EPS_FINAL;
            let mut eps = range / AUCTION_THETA;
            let mut queue = std::collections::VecDeque::with_capacity(n);
            'phases: loop {
                owner.fill(NONE);
                queue.extend(0..n);
                let mut bids = 0usize;
                while let Some(i) = queue.pop_front() {
                    bids += 1;
                    if bids > AUCTION_BIDS_PER_ROW * n {
                        break 'phases;
                    }
                    let (b1, j1, b2) = kernels::best_two(&c[i * n..(i + 1) * n], &p);
                    // The bid: raise p_j1 until j1 is ε worse than the second best for row i.
                    p[j1] += (b2 - b1) + eps;
                    let prev = std::mem::replace(&mut owner[j1], i);
                    if prev != NONE {
                        queue.push_back(prev);
                    }
                }
                if eps <= eps_final {
                    break;
                }
                eps = (eps / AUCTION_THETA).max(eps_final);
            }
        }
        let mut free = Vec::new();
        for (j, (vj, pj)) in self.v.iter_mut().zip(&p).enumerate() {
            *vj = -pj;
            let i = owner[j];
            if i != NONE {
                self.col4row[i] = j;
            }
        }
        for i in 0..n {
            let row = &c[i * n..(i + 1) * n];
            let (ui, _, _) = kernels::best_two(row, &p);
            self.u[i] = ui;
            let j = std::mem::replace(&mut self.col4row[i], NONE);
            // Keep the pair only if exactly tight (the same sum that defined u_i).
            if j != NONE && row[j] + p[j] == ui {
                self.col4row[i] = j;
                self.row4col[j] = i;
            } else {
                free.push(i);
            }
        }
        free
    }

    /// Matches the free row `cur` along a shortest augmenting path (Dijkstra on reduced costs over
    /// all columns) and updates the duals so the invariants hold again.
    fn augment(&mut self, c: &[f64], cur: usize) {
        let n = self.n;
        self.dist.fill(f64::INFINITY);
        self.rows_seen.clear();
        self.done_cols.clear();
        let mut min_val = 0.0f64;
        let mut i = cur;
        let sink = loop {
            let step = self.rows_seen.len() as f64;
            self.rows_seen.push(i);
            let base = min_val - self.u[i];
            let (lowest, j) =
                kernels::relax(&c[i * n..(i + 1) * n], &self.v, &mut self.dist, &mut self.from, base, step);
            // Finite costs on a complete bipartite graph: a column is always reachable.
            min_val = lowest;
            self.fin[j] = lowest;
            self.dist[j] = f64::NEG_INFINITY;
            self.done_cols.push(j);
            if self.row4col[j] == NONE {
                break j;
            }
            i = self.row4col[j];
        };
        // Update the duals.
        self.u[cur] += min_val;
        for &r in &self.rows_seen[1..] {
            self.u[r] += min_val - self.fin[self.col4row[r]];
        }
        for &j in &self.done_cols {
            self.v[j] -= min_val - self.fin[j];
        }
        // Augment along the path back to cur.
        let mut j = sink;
        loop {
            let i = self.rows_seen[self.from[j] as usize];
            self.row4col[j] = i;
            std::mem::swap(&mut self.col4row[i], &mut j);
            if i == cur {
                break;
            }
        }
    }
}

/// The two inner loops, written lane by lane (8 f64 lanes, f64-only arithmetic) so that the
/// compiler vectorises them, and compiled three times: for AVX-512, for AVX2 and for the baseline
/// target, the widest the processor supports chosen at run time.
mod kernels {
    const L: usize = 8;

    /// Dijkstra relaxation from one row: dist_j ← min(dist_j, base + row_j − v_j), with `from_j`
    /// set to `step` where it improved (final columns hold dist = −∞ and are skipped). Returns the
    /// smallest tentative distance and its (first) column.
    #[inline(always)]
    fn relax_impl(row: &[f64], v: &[f64], dist: &mut [f64], from: &mut [f64], base: f64, step: f64) -> (f64, usize) {
        let n = row.len();
        let (v, dist, from) = (&v[..n], &mut dist[..n], &mut from[..n]);
        let mut lo = [f64::INFINITY; L];
        let mut at = [0.0f64; L];
        let mut idx: [f64; L] = std::array::from_fn(|l| l as f64);
        let whole = n / L * L;
        for k in (0..whole).step_by(L) {
            let (r, vv) = (&row[k..k + L], &v[k..k + L]);
            let (d, f) = (&mut dist[k..k + L], &mut from[k..k + L]);
            for l in 0..L {
                let x = base + r[l] - vv[l];
                let better = x < d[l];
                d[l] = if better { x } else { d[l] };
                f[l] = if better { step } else { f[l] };
                let key = if d[l] == f64::NEG_INFINITY { f64::INFINITY } else { d[l] };
                let lower = key < lo[l];
                lo[l] = if lower { key } else { lo[l] };
                at[l] = if lower { idx[l] } else { at[l] };
                idx[l] += L as f64;
            }
        }
        let (mut best, mut best_j) = (f64::INFINITY, usize::MAX);
        for l in 0..L {
            let j = at[l] as usize;
            if lo[l] < best || (lo[l] == best && j < best_j) {
                (best, best_j) = (lo[l], j);
            }
        }
        for j in whole..n {
            let x = base + row[j] - v[j];
            if x < dist[j] {
                dist[j] = x;
                from[j] = step;
            }
            if dist[j] != f64::NEG_INFINITY && dist[j] < best {
                (best, best_j) = (dist[j], j);
            }
        }
        (best, best_j)
    }

    /// min_j (row_j + p_j), its (first) column, and the second smallest value (ties count twice).
    #[inline(always)]
    fn best_two_impl(row: &[f64], p: &[f64]) -> (f64, usize, f64) {
        let n = row.len();
        let p = &p[..n];
        let mut m1 = [f64::INFINITY; L];
        let mut m2 = [f64::INFINITY; L];
        let mut at = [0.0f64; L];
        let mut idx: [f64; L] = std::array::from_fn(|l| l as f64);
        let whole = n / L * L;
        for k in (0..whole).step_by(L) {
            let (r, pp) = (&row[k..k + L], &p[k..k + L]);
            for l in 0..L {
                let x = r[l] + pp[l];
                let lt = x < m1[l];
                m2[l] = if lt { m1[l] } else { m2[l].min(x) };
                m1[l] = if lt { x } else { m1[l] };
                at[l] = if lt { idx[l] } else { at[l] };
                idx[l] += L as f64;
            }
        }
        let mut best = (f64::INFINITY, usize::MAX, f64::INFINITY);
        let mut push = |x: f64, j: usize, second: f64| {
            let (b1, j1, b2) = best;
            best = if x < b1 || (x == b1 && j < j1) { (x, j, b1.min(second)) } else { (b1, j1, b2.min(x)) };
        };
        for l in 0..L {
            push(m1[l], at[l] as usize, m2[l]);
        }
        for j in whole..n {
            push(row[j] + p[j], j, f64::INFINITY);
        }
        best
    }

    scoreprobe_core::simd_dispatch!(
        pub(super) fn relax(row: &[f64], v: &[f64], dist: &mut [f64], from: &mut [f64], base: f64, step: f64) -> (f64, usize)
            => relax_impl
    );
    scoreprobe_core::simd_dispatch!(pub(super) fn best_two(row: &[f64], p: &[f64]) -> (f64, usize, f64) => best_two_impl);
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

    /// The plain shortest-augmenting-path solver (no auction), for comparison.
    fn plain(c: &Array2<f64>) -> (Vec<usize>, f64) {
        let n = c.nrows();
        let s = c.as_slice().unwrap();
        let mut m = Matching::new(n);
        for row in 0..n {
            m.augment(s, row);
        }
        let total = (0..n).map(|i| s[i * n + m.col4row[i]]).sum();
        (m.col4row, total)
    }

    #[test]
    fn auction_warm_start_keeps_the_optimum() {
        // Sizes past AUCTION_MIN (and not multiples of the 8 lanes): the warm-started solver and
        // the plain one are both exact, so their optimal totals agree to rounding; each answer is
        // a permutation whose cost is the total reported.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for (n, kind) in [(64, 0), (101, 1), (257, 2), (300, 0), (333, 3)] {
            let c = Array2::from_shape_fn((n, n), |(i, j)| match kind {
                0 => rng.random::<f64>(),
                // Integer costs: many ties.
                1 => (rng.random::<f64>() * 5.0).floor(),
                // Squared distances between shifted 2-D clouds (the W2 case).
                2 => {
                    let (a, b) = ((i as f64 * 0.37).sin(), (j as f64 * 0.11).cos() + 0.5);
                    (a - b) * (a - b) + ((i * j) % 7) as f64 * 1e-3
                }
                // Negative and huge costs.
                _ => (rng.random::<f64>() - 0.5) * 1e12,
            });
            let (perm, total) = solve(c.view());
            let (_, want) = plain(&c);
            let mut seen = perm.clone();
            seen.sort();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
            let recomputed: f64 = perm.iter().enumerate().map(|(i, &j)| c[[i, j]]).sum();
            assert_eq!(recomputed, total);
            let scale = c.iter().fold(0.0f64, |m, v| m.max(v.abs())) * n as f64;
            assert!((total - want).abs() <= 1e-12 * scale, "n={n} kind={kind}: {total} vs {want}");
        }
    }

    #[test]
    fn kernels_match_scalar_definitions() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for n in [1usize, 7, 8, 9, 64, 77] {
            let row: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
            let p: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
            let (b1, j1, b2) = kernels::best_two(&row, &p);
            let mut sums: Vec<f64> = row.iter().zip(&p).map(|(a, b)| a + b).collect();
            assert_eq!(sums[j1], b1);
            sums.sort_by(f64::total_cmp);
            assert_eq!((b1, b2), (sums[0], sums.get(1).copied().unwrap_or(f64::INFINITY)));
            let mut dist: Vec<f64> = (0..n).map(|j| if j % 5 == 0 { f64::NEG_INFINITY } else { 0.7 }).collect();
            let mut from = vec![-1.0; n];
            let (lo, j) = kernels::relax(&row, &p, &mut dist, &mut from, 0.3, 2.0);
            for k in 0..n {
                let x = 0.3 + row[k] - p[k];
                if k % 5 == 0 {
                    assert_eq!((dist[k], from[k]), (f64::NEG_INFINITY, -1.0));
                } else {
                    assert_eq!(dist[k], x.min(0.7));
                    assert_eq!(from[k], if x < 0.7 { 2.0 } else { -1.0 });
                }
            }
            let live = (0..n).filter(|k| k % 5 != 0);
            let want = live.clone().map(|k| dist[k]).fold(f64::INFINITY, f64::min);
            assert_eq!(lo, want);
            if want.is_finite() {
                assert_eq!(j, live.clone().find(|&k| dist[k] == want).unwrap());
            }
        }
    }
}
