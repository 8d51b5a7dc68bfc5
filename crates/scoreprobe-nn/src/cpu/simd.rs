//! The engine's building blocks: zero-copy access to a candle tensor's f32 storage, a row-major
//! wrapper around the `gemm` crate (the gemm candle itself calls, with its AVX-512 kernels enabled
//! in this crate's manifest), and element-wise kernels compiled per SIMD level through the
//! workspace's one dispatch ([`scoreprobe_core::simd`]).
//!
//! Why by hand: candle allocates a tensor per element-wise op and dispatches every op on its own;
//! at the sizes of these networks (a few hundred rows) that overhead, not arithmetic, dominated a
//! step (`docs/benchmarks-nn.md`). The elementary exp/sigmoid below is vectorisable, unlike the
//! scalar libm call behind candle's `silu`.

use candle_core::{CpuStorage, DType, InplaceOp1, Layout, Storage, StorageRef, Tensor};
use scoreprobe_core::simd_dispatch;
use std::cell::RefCell;

/// The f32 values of a contiguous CPU storage (the custom ops' inputs); `what` names the op.
pub fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("scoreprobe {what}: f32 only");
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("scoreprobe {what}: contiguous inputs only");
    };
    Ok(&v[a..b])
}

/// Whether `t` lives on the CPU as f32 (the fused paths' precondition).
pub fn is_cpu_f32(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

fn contiguous<'a>(v: &'a [f32], l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("scoreprobe {what}: needs a contiguous tensor"),
    }
}

/// Read access to the f32 data of contiguous CPU tensors without copying.
pub struct F32Views<'a> {
    guards: Vec<(StorageRef<'a>, &'a Layout)>,
}

impl<'a> F32Views<'a> {
    pub fn new<I: IntoIterator<Item = &'a Tensor>>(tensors: I) -> candle_core::Result<Self> {
        let guards: Vec<_> = tensors.into_iter().map(|t| t.storage_and_layout()).collect();
        for (s, l) in &guards {
            match &**s {
                Storage::Cpu(CpuStorage::F32(_)) if l.is_contiguous() => {}
                _ => candle_core::bail!("scoreprobe fused path: needs contiguous f32 CPU tensors"),
            }
        }
        Ok(Self { guards })
    }

    pub fn get(&self, i: usize) -> &[f32] {
        let (s, l) = &self.guards[i];
        let Storage::Cpu(CpuStorage::F32(v)) = &**s else { unreachable!("checked in new") };
        let (a, b) = l.contiguous_offsets().expect("checked in new");
        &v[a..b]
    }

    pub fn len(&self) -> usize {
        self.guards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.guards.is_empty()
    }
}

/// Runs `f` on the f32 data of a contiguous CPU tensor, read-only, without copying.
pub fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let (s, l) = t.storage_and_layout();
    let Storage::Cpu(CpuStorage::F32(v)) = &*s else {
        candle_core::bail!("scoreprobe fused path: needs an f32 CPU tensor");
    };
    Ok(f(contiguous(v, l, "read")?))
}

struct MutF32<F>(RefCell<Option<F>>);

impl<F: FnOnce(&mut [f32])> InplaceOp1 for MutF32<F> {
    fn name(&self) -> &'static str {
        "scoreprobe-in-place"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> candle_core::Result<()> {
        let CpuStorage::F32(v) = s else {
            candle_core::bail!("scoreprobe in-place update: f32 only");
        };
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("scoreprobe in-place update: needs a contiguous tensor");
        };
        if let Some(f) = self.0.borrow_mut().take() {
            f(&mut v[a..b]);
        }
        Ok(())
    }
}

/// Runs `f` on the f32 data of a contiguous CPU tensor in place (every tensor sharing its
/// storage, e.g. a parameter's clones inside the layers, sees the change).
pub fn with_f32_mut<R>(t: &Tensor, f: impl FnOnce(&mut [f32]) -> R) -> candle_core::Result<R> {
    let mut out = None;
    t.inplace_op1(&MutF32(RefCell::new(Some(|v: &mut [f32]| out = Some(f(v))))))?;
    out.ok_or_else(|| candle_core::Error::Msg("scoreprobe in-place update did not run".into()))
}

/// A row-major matrix operand: `data[i * ld + j]` is element (i, j), or (j, i) when `trans`.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub ld: usize,
    pub trans: bool,
}

impl<'a> Mat<'a> {
    pub fn n(data: &'a [f32], ld: usize) -> Self {
        Self { data, ld, trans: false }
    }
    pub fn t(data: &'a [f32], ld: usize) -> Self {
        Self { data, ld, trans: true }
    }
    /// (row stride, column stride) of the logical matrix.
    fn strides(&self) -> (isize, isize) {
        if self.trans {
            (1, self.ld as isize)
        } else {
            (self.ld as isize, 1)
        }
    }
    /// Checks that the logical (rows × cols) matrix fits in `data`.
    fn check(&self, rows: usize, cols: usize) {
        if rows == 0 || cols == 0 {
            return;
        }
        let (r, c) = if self.trans { (cols, rows) } else { (rows, cols) };
        assert!(c <= self.ld && (r - 1) * self.ld + c <= self.data.len(), "gemm operand out of bounds");
    }
}

/// dst (m × n, row-major, leading dimension `ldd`) = [dst +] a (m × k) · b (k × n), single-threaded
/// (callers parallelise over independent blocks, which keeps results independent of the thread
/// count). `accumulate` adds to dst instead of overwriting it.
#[allow(clippy::too_many_arguments)]
pub fn gemm(m: usize, n: usize, k: usize, dst: &mut [f32], ldd: usize, accumulate: bool, a: Mat, b: Mat) {
    gemm_par(m, n, k, dst, ldd, accumulate, a, b, 1)
}

/// [`gemm`] with up to `threads` threads (the gemm crate splits rows and columns, never the inner
/// dimension, so the result does not depend on `threads`).
#[allow(clippy::too_many_arguments)]
pub fn gemm_par(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    ldd: usize,
    accumulate: bool,
    a: Mat,
    b: Mat,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(n <= ldd && (m - 1) * ldd + n <= dst.len(), "gemm destination out of bounds");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * ldd..i * ldd + n].fill(0.0);
            }
        }
        return;
    }
    gemm_raw(m, n, k, dst, (ldd as isize, 1), accumulate, a, b, threads)
}

/// dst (m × n, column-major: element (i, j) at `dst[j * ldd + i]`) = [dst +] a · b, single-threaded.
/// A column-major destination lets the gemm crate use a row-major left operand whose rows are
/// long (g in g·colsᵀ) without repacking the much larger right one.
#[allow(clippy::too_many_arguments)]
pub fn gemm_cm(m: usize, n: usize, k: usize, dst: &mut [f32], ldd: usize, accumulate: bool, a: Mat, b: Mat) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(m <= ldd && (n - 1) * ldd + m <= dst.len(), "gemm destination out of bounds");
    if k == 0 {
        if !accumulate {
            for j in 0..n {
                dst[j * ldd..j * ldd + m].fill(0.0);
            }
        }
        return;
    }
    gemm_raw(m, n, k, dst, (1, ldd as isize), accumulate, a, b, 1)
}

#[allow(clippy::too_many_arguments)]
fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    (drs, dcs): (isize, isize),
    accumulate: bool,
    a: Mat,
    b: Mat,
    threads: usize,
) {
    a.check(m, k);
    b.check(k, n);
    let (ars, acs) = a.strides();
    let (brs, bcs) = b.strides();
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: every operand was checked to hold its logical matrix with the given strides, and
    // dst does not alias a or b (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dcs,
            drs,
            accumulate,
            a.data.as_ptr(),
            acs,
            ars,
            b.data.as_ptr(),
            bcs,
            brs,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// The integer value of an integral f32 with |k| < 2²² (through the bits of k + 1.5·2²³, which
/// vectorises, unlike the saturating `as i32`).
#[inline(always)]
pub fn float_to_int(k: f32) -> i32 {
    (k + 12_582_912.0).to_bits() as i32 - 0x4B40_0000
}

/// e^x for f32 without a libm call, so loops over it vectorise: x = k·ln2 + r, |r| ≤ ln2/2,
/// e^r by a degree-6 polynomial (Cephes `expf`, relative error ≈ 2 ulp), 2^k through the
/// exponent bits; saturates to 0 below −87.3 and to +inf above 88.7.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-87.336_55, 88.722_83);
    let k = (xc * LOG2E + 0.5).floor();
    let r = (xc - k * LN2_HI) - k * LN2_LO;
    let p = 1.987_569_1e-4f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = (p * r * r) + r + 1.0;
    // 2^k with k in [-126, 128]: build the exponent in two halves so k = 128 does not overflow
    let ki = float_to_int(k);
    let h = ki >> 1;
    let s1 = f32::from_bits(((h + 127) as u32) << 23);
    let s2 = f32::from_bits(((ki - h + 127) as u32) << 23);
    let y = er * s1 * s2;
    if x > 88.722_83 {
        f32::INFINITY
    } else if x < -87.336_55 {
        0.0
    } else {
        y
    }
}

/// (sin x, cos x) for f32 without libm calls (Cephes `sinf`/`cosf`: reduction by π/4 in three
/// parts, exact for |x| < 8192, then degree-7 / degree-8 polynomials; error ≈ 1 ulp). Callers
/// use libm beyond |x| = [`SINCOS_MAX`].
#[inline(always)]
pub fn sincos_f32(x: f32) -> (f32, f32) {
    const FOPI: f32 = 1.273_239_5; // 4/π
    const DP1: f32 = 0.785_156_25;
    const DP2: f32 = 2.418_756_5e-4;
    const DP3: f32 = 3.774_895e-8;
    let ax = x.abs();
    let mut j = float_to_int((ax * FOPI).floor());
    j += j & 1; // even octant
    let y = j as f32;
    let z = ((ax - y * DP1) - y * DP2) - y * DP3;
    let zz = z * z;
    let ps = ((-1.951_529_6e-4 * zz + 8.332_161e-3) * zz - 1.666_665_5e-1) * zz * z + z;
    let pc = ((2.443_315_7e-5 * zz - 1.388_731_6e-3) * zz + 4.166_664_6e-2) * zz * zz - 0.5 * zz + 1.0;
    let j = j & 7;
    // octants 2 and 6 swap the polynomials; sin changes sign in octants 4, 6 (and with x), cos in 2, 4
    let swap = (j & 2) != 0;
    let (s, c) = if swap { (pc, ps) } else { (ps, pc) };
    let s_neg = (j & 4 != 0) != (x < 0.0);
    let c_neg = (j == 2) || (j == 4);
    (if s_neg { -s } else { s }, if c_neg { -c } else { c })
}

/// Largest |x| for [`sincos_f32`].
pub const SINCOS_MAX: f32 = 8192.0;

/// σ(z) = 1/(1 + e^{−z}).
#[inline(always)]
pub fn sigmoid_f32(z: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-z))
}

#[inline(always)]
fn silu_rows_body(z: &mut [f32], sig: &mut [f32]) {
    for (v, s) in z.iter_mut().zip(sig.iter_mut()) {
        let q = sigmoid_f32(*v);
        *s = q;
        *v *= q;
    }
}

simd_dispatch!(
    /// In place z ← SiLU(z) = z·σ(z), saving σ(z) in `sig` (same length) for the backward pass.
    pub fn silu_save(z: &mut [f32], sig: &mut [f32]) => silu_rows_body
);

#[inline(always)]
fn silu_body(z: &mut [f32]) {
    for v in z.iter_mut() {
        *v *= sigmoid_f32(*v);
    }
}

simd_dispatch!(
    /// In place z ← SiLU(z).
    pub fn silu_inplace(z: &mut [f32]) => silu_body
);

#[inline(always)]
fn silu_grad_body(g: &mut [f32], z: &[f32], sig: &[f32]) {
    for ((g, &z), &s) in g.iter_mut().zip(z).zip(sig) {
        *g *= s * (1.0 + z * (1.0 - s));
    }
}

simd_dispatch!(
    /// In place g ← g ⊙ SiLU'(z), SiLU'(z) = σ(1 + z(1 − σ)) from the saved σ = σ(z).
    pub fn silu_backward(g: &mut [f32], z: &[f32], sig: &[f32]) => silu_grad_body
);

#[inline(always)]
fn fill_rows_body(dst: &mut [f32], row: &[f32]) {
    for chunk in dst.chunks_exact_mut(row.len()) {
        chunk.copy_from_slice(row);
    }
}

/// Every row of `dst` (row length `row.len()`) set to `row`.
pub fn fill_rows(dst: &mut [f32], row: &[f32]) {
    fill_rows_body(dst, row)
}

#[inline(always)]
fn col_sums_body(acc: &mut [f32], m: &[f32]) {
    for r in m.chunks_exact(acc.len()) {
        for (a, &v) in acc.iter_mut().zip(r) {
            *a += v;
        }
    }
}

simd_dispatch!(
    /// acc[j] += Σ_i m[i, j] (m row-major with rows of `acc.len()`).
    pub fn add_col_sums(acc: &mut [f32], m: &[f32]) => col_sums_body
);

#[inline(always)]
fn sum_body(x: &[f32]) -> f32 {
    // sixteen partial sums, so that the loop vectorises (LLVM does not reassociate f32 additions)
    let mut acc = [0f32; 16];
    let mut it = x.chunks_exact(16);
    for c in &mut it {
        for q in 0..16 {
            acc[q] += c[q];
        }
    }
    acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
}

simd_dispatch!(
    /// Σ x.
    pub fn sum_f32(x: &[f32]) -> f32 => sum_body
);

#[inline(always)]
fn add_body(acc: &mut [f32], x: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a += v;
    }
}

simd_dispatch!(
    /// acc += x.
    pub fn add_assign(acc: &mut [f32], x: &[f32]) => add_body
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_to_a_few_ulp() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp_f32(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 4.0 * f32::EPSILON, "worst relative error {worst}");
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(exp_f32(200.0), f32::INFINITY);
        assert!((sigmoid_f32(0.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn sincos_matches_libm() {
        let mut worst = 0f32;
        let mut x = -1000.0f32;
        while x < 1000.0 {
            let (s, c) = sincos_f32(x);
            worst = worst.max((s - x.sin()).abs()).max((c - x.cos()).abs());
            x += 0.0173;
        }
        assert!(worst < 3e-7, "worst absolute error {worst}");
    }

    #[test]
    fn gemm_wrapper_matches_a_naive_product_in_every_transposition() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let mut want = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum::<f32>() + 1.0;
            }
        }
        for (am, bm) in [
            (Mat::n(&a, k), Mat::n(&b, n)),
            (Mat::t(&at, m), Mat::n(&b, n)),
            (Mat::n(&a, k), Mat::t(&bt, k)),
            (Mat::t(&at, m), Mat::t(&bt, k)),
        ] {
            let mut c = vec![1f32; m * n];
            gemm(m, n, k, &mut c, n, true, am, bm);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
        }
    }
}
