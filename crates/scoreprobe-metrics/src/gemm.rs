//! Matrix products through faer's blocked, multi-threaded kernels. ndarray's `dot` is
//! single-threaded; for the 2048-wide covariances of FD the products dominate the run time, and the
//! symmetric ones only need one triangle. Inputs are borrowed without copying when they are in
//! row- or column-major layout.

use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::{Accum, Mat, MatMut, MatRef};
use ndarray::{Array2, ArrayView2};
use scoreprobe_core::linalg::with_faer;

fn par() -> faer::Par {
    faer::get_global_parallelism()
}

/// Fills the upper triangle from the lower one (cache-blocked transpose copy; small tiles, since
/// the column stride is often a power of two and wider tiles would thrash one L1 set).
pub(crate) fn mirror_lower(c: &mut Array2<f64>) {
    const B: usize = 8;
    let n = c.nrows();
    assert_eq!(n, c.ncols(), "mirror_lower: square matrix");
    let s = c.as_slice_mut().expect("standard layout");
    for ib in (0..n).step_by(B) {
        for jb in (0..=ib).step_by(B) {
            for i in ib..(ib + B).min(n) {
                for j in jb..(jb + B).min(i) {
                    s[j * n + i] = s[i * n + j];
                }
            }
        }
    }
}

/// Mutable faer view of a freshly allocated (contiguous) ndarray matrix.
fn dst_mut(c: &mut Array2<f64>) -> MatMut<'_, f64> {
    let (m, n) = c.dim();
    MatMut::from_row_major_slice_mut(c.as_slice_mut().expect("fresh array is contiguous"), m, n)
}

/// A · B.
pub(crate) fn matmul(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    assert_eq!(a.ncols(), b.nrows(), "matmul: inner dimensions");
    let mut c = Array2::<f64>::zeros((a.nrows(), b.ncols()));
    with_faer(a, |fa| {
        with_faer(b, |fb| {
            faer::linalg::matmul::matmul(dst_mut(&mut c), Accum::Replace, fa, fb, 1.0, par());
        })
    });
    c
}

/// A · Bᵀ.
pub(crate) fn matmul_nt(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Array2<f64> {
    matmul(a, b.t())
}

/// Lower triangle of `c` (d × d, standard layout) set to, or with `accumulate` increased by,
/// Xᵀ X for X (m × d): a symmetric rank-m update (BLAS syrk). The strict upper triangle of `c` is
/// not touched.
///
/// The triangle is cut once, at h = d/2, into four pieces of equal work: the two diagonal
/// triangles (faer's triangular matmul) and the two column halves of the square below them (its
/// rectangular matmul). The pieces run as independent single-threaded products on rayon's pool,
/// so the threads synchronise once per call: faer's parallel triangular matmul forks and joins at
/// every level of its recursion and scaled poorly to 2 threads (0.70× `np.cov`'s dsyrk, issue 26),
/// while single-threaded it needed less CPU time than OpenBLAS's. (Thin row bands over the
/// rectangular matmul were tried too: ~10 % more CPU time, from re-packing X for every band.)
/// Each output entry is one dot product over the m rows by one sequential kernel call, in an
/// order fixed by the shapes alone, so the result does not depend on the thread count.
pub(crate) fn syrk_lower_t(c: &mut Array2<f64>, x: ArrayView2<'_, f64>, accumulate: bool) {
    let d = x.ncols();
    assert_eq!(c.dim(), (d, d), "syrk: output shape");
    let accum = if accumulate { Accum::Add } else { Accum::Replace };
    let (h, q) = (d / 2, d / 4);
    with_faer(x, |fx| {
        let (top, bottom) = dst_mut(c).split_at_row_mut(h);
        let top_left = top.submatrix_mut(0, 0, h, h);
        let (below, bottom_right) = bottom.split_at_col_mut(h);
        let (below_a, below_b) = below.split_at_col_mut(q);
        let (xa, xb) = (fx.subcols(0, h), fx.subcols(h, d - h));
        let tri = |dst: MatMut<'_, f64>, x: MatRef<'_, f64>| {
            let (lower, rect) = (BlockStructure::TriangularLower, BlockStructure::Rectangular);
            tri_matmul(dst, lower, accum, x.transpose(), rect, x, rect, 1.0, faer::Par::Seq);
        };
        let rect = |dst: MatMut<'_, f64>, cols: MatRef<'_, f64>| {
            faer::linalg::matmul::matmul(dst, accum, xb.transpose(), cols, 1.0, faer::Par::Seq);
        };
        rayon::join(
            || rayon::join(|| tri(top_left, xa), || tri(bottom_right, xb)),
            || rayon::join(|| rect(below_a, xa.subcols(0, q)), || rect(below_b, xa.subcols(q, h - q))),
        );
    });
}

/// Lower triangle of `c` set to (or increased by) X Xᵀ; see [`syrk_lower_t`].
pub(crate) fn syrk_lower(c: &mut Array2<f64>, x: ArrayView2<'_, f64>, accumulate: bool) {
    syrk_lower_t(c, x.t(), accumulate)
}

/// Xᵀ X (symmetric; only the lower triangle is computed, then mirrored).
#[cfg(test)]
pub(crate) fn gram_t(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let d = x.ncols();
    let mut c = Array2::<f64>::zeros((d, d));
    syrk_lower_t(&mut c, x, false);
    mirror_lower(&mut c);
    c
}

/// X Xᵀ (symmetric; lower triangle computed, then mirrored).
#[cfg(test)]
pub(crate) fn gram(x: ArrayView2<'_, f64>) -> Array2<f64> {
    gram_t(x.t())
}

/// dst = A · B on faer views.
pub(crate) fn matmul_faer(dst: MatMut<'_, f64>, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
    faer::linalg::matmul::matmul(dst, Accum::Replace, a, b, 1.0, par());
}

/// Lower triangle of Lᵀ S L for symmetric S (the strict upper triangle of the result is 0). With
/// `l_lower` the lower-triangular structure of L is exploited (S·L and Lᵀ·(SL) each cost half a
/// dense product). S enters as Sᵀ (equal, and row-major when S is column-major) so that both
/// products read their operands along the summed dimension, faer's fastest layout.
pub(crate) fn congruence_faer(l: MatRef<'_, f64>, s: MatRef<'_, f64>, l_lower: bool) -> Mat<f64> {
    let n = l.ncols();
    let (ls, lt) = if l_lower {
        (BlockStructure::TriangularLower, BlockStructure::TriangularUpper)
    } else {
        (BlockStructure::Rectangular, BlockStructure::Rectangular)
    };
    let mut sl = Mat::<f64>::zeros(s.nrows(), n);
    tri_matmul(
        sl.as_mut(),
        BlockStructure::Rectangular,
        Accum::Replace,
        s.transpose(),
        BlockStructure::Rectangular,
        l,
        ls,
        1.0,
        par(),
    );
    let mut out = Mat::<f64>::zeros(n, n);
    tri_matmul(
        out.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        l.transpose(),
        lt,
        sl.as_ref(),
        BlockStructure::Rectangular,
        1.0,
        par(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn products_match_ndarray() {
        let a = array![[1.0, 2.0, -1.0], [0.5, -3.0, 2.0], [4.0, 0.0, 1.0], [1.0, 1.0, 1.0]];
        let b = array![[2.0, 1.0], [0.0, -1.0], [3.0, 0.5]];
        let close = |x: &Array2<f64>, y: &Array2<f64>| (x - y).iter().all(|v| v.abs() < 1e-12);
        assert!(close(&matmul(a.view(), b.view()), &a.dot(&b)));
        assert!(close(&matmul(a.t(), a.view()), &a.t().dot(&a)));
        assert!(close(&gram_t(a.view()), &a.t().dot(&a)));
        assert!(close(&gram(a.view()), &a.dot(&a.t())));
        assert!(close(&matmul_nt(a.view(), a.view()), &a.dot(&a.t())));
        let l = array![[2.0, 0.0, 0.0], [1.0, 3.0, 0.0], [-1.0, 0.5, 1.0]];
        let s = array![[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.7]];
        let want = l.t().dot(&s).dot(&l);
        let fl = MatRef::from_row_major_slice(l.as_slice().unwrap(), 3, 3);
        let fs = MatRef::from_row_major_slice(s.as_slice().unwrap(), 3, 3);
        for lower in [true, false] {
            let got = congruence_faer(fl, fs, lower);
            for i in 0..3 {
                for j in 0..3 {
                    let expected = if j <= i { want[[i, j]] } else { 0.0 };
                    assert!((got[(i, j)] - expected).abs() < 1e-12, "{lower} ({i},{j})");
                }
            }
        }
        let mut c = Array2::<f64>::zeros((3, 3));
        syrk_lower_t(&mut c, a.view(), false);
        syrk_lower_t(&mut c, a.view(), true);
        let want = a.t().dot(&a) * 2.0;
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(c[[i, j]] == 0.0, j > i);
                if j <= i {
                    assert!((c[[i, j]] - want[[i, j]]).abs() < 1e-12);
                }
            }
        }
        let sliced = a.slice(ndarray::s![..;2, ..]);
        assert!(close(&gram_t(sliced), &sliced.t().dot(&sliced)));
    }

    #[test]
    fn blocked_syrk_matches_the_plain_product_whatever_the_thread_count() {
        // d odd (uneven halves and quarters), accumulating onto a non-zero lower triangle
        let (m, d) = (37, 203);
        let x = Array2::from_shape_fn((m, d), |(i, j)| ((i * 31 + j * 17) % 23) as f64 - 11.0 + 1e-3 * j as f64);
        let want = x.t().dot(&x) * 2.0;
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut c = Array2::<f64>::zeros((d, d));
                syrk_lower_t(&mut c, x.view(), false);
                syrk_lower_t(&mut c, x.view(), true);
                c
            })
        };
        let one = run(1);
        assert_eq!(one, run(3), "the thread count changed the result");
        let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for i in 0..d {
            for j in 0..d {
                if j > i {
                    assert_eq!(one[[i, j]], 0.0, "upper triangle written at ({i},{j})");
                } else {
                    assert!((one[[i, j]] - want[[i, j]]).abs() <= 1e-12 * scale, "({i},{j})");
                }
            }
        }
    }
}
