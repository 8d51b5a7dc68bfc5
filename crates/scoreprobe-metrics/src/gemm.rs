//! Matrix products through faer's blocked, multi-threaded kernels. ndarray's `dot` is
//! single-threaded; for the 2048-wide covariances of FD the products dominate the run time, and the
//! symmetric ones only need one triangle. Inputs are borrowed without copying when they are in
//! row- or column-major layout.

use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::{Accum, MatMut, MatRef};
use ndarray::{Array2, ArrayView2};
use scoreprobe_core::linalg::with_faer;

fn par() -> faer::Par {
    faer::get_global_parallelism()
}

/// Fills the upper triangle from the lower one.
fn mirror_lower(c: &mut Array2<f64>) {
    let n = c.nrows();
    for i in 0..n {
        for j in 0..i {
            c[[j, i]] = c[[i, j]];
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

/// Xᵀ X (symmetric; only the lower triangle is computed, then mirrored).
pub(crate) fn gram_t(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let d = x.ncols();
    let mut c = Array2::<f64>::zeros((d, d));
    with_faer(x, |fx| {
        tri_matmul(
            dst_mut(&mut c),
            BlockStructure::TriangularLower,
            Accum::Replace,
            fx.transpose(),
            BlockStructure::Rectangular,
            fx,
            BlockStructure::Rectangular,
            1.0,
            par(),
        );
    });
    mirror_lower(&mut c);
    c
}

/// X Xᵀ (symmetric; lower triangle computed, then mirrored).
pub(crate) fn gram(x: ArrayView2<'_, f64>) -> Array2<f64> {
    gram_t(x.t())
}

/// Lᵀ S L for symmetric S. With `l_lower` the lower-triangular structure of L is exploited
/// (S·L and Lᵀ·(SL) each cost half a dense product).
pub(crate) fn congruence(l: ArrayView2<'_, f64>, s: ArrayView2<'_, f64>, l_lower: bool) -> Array2<f64> {
    let n = l.ncols();
    let (ls, lt) = if l_lower {
        (BlockStructure::TriangularLower, BlockStructure::TriangularUpper)
    } else {
        (BlockStructure::Rectangular, BlockStructure::Rectangular)
    };
    let mut sl = Array2::<f64>::zeros((s.nrows(), n));
    let mut out = Array2::<f64>::zeros((n, n));
    with_faer(l, |fl| {
        with_faer(s, |fs| {
            tri_matmul(
                dst_mut(&mut sl),
                BlockStructure::Rectangular,
                Accum::Replace,
                fs,
                BlockStructure::Rectangular,
                fl,
                ls,
                1.0,
                par(),
            );
        });
        let fsl = MatRef::from_row_major_slice(sl.as_slice().expect("contiguous"), s.nrows(), n);
        tri_matmul(
            dst_mut(&mut out),
            BlockStructure::TriangularLower,
            Accum::Replace,
            fl.transpose(),
            lt,
            fsl,
            BlockStructure::Rectangular,
            1.0,
            par(),
        );
    });
    mirror_lower(&mut out);
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
        assert!(close(&congruence(l.view(), s.view(), true), &want));
        assert!(close(&congruence(l.view(), s.view(), false), &want));
        let sliced = a.slice(ndarray::s![..;2, ..]);
        assert!(close(&gram_t(sliced), &sliced.t().dot(&sliced)));
    }
}
