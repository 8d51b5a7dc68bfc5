//! Integer kernels of the quantised-graph engine ([`crate::qnet`]): the uint8 matrix product
//! behind every full and 1×1 convolution, the depthwise convolution and the average pool, each
//! with XNNPACK's "fp32" requantisation fused into its epilogue.
//!
//! Why written here: no maintained Rust crate multiplies uint8 matrices with per-tensor zero
//! points and XNNPACK's requantisation (`gemm`, `matrixmultiply` and `faer` are floating point,
//! candle's quantised types are GGML blocks, tract's integer kernels re-scale in fixed point and
//! are ~15× slower here, and the crates that wrap LiteRT or ONNX Runtime need a C++ library
//! built or downloaded). Every step is integer and exact up to one `f32` product per output
//! (the requantisation), so each SIMD level gives the same bits: the portable loops (compiled
//! for the baseline, AVX2 and AVX-512 by [`scoreprobe_core::simd_dispatch!`]) and the AVX-512
//! VNNI matrix kernel (`vpdpbusd`, 64 multiply-adds per instruction), which the dispatch picks
//! when the processor has it.
//!
//! The matrix product takes the activations as they are stored (`x`, unsigned bytes) and the
//! weights shifted to signed bytes, `w − 128` (what `vpdpbusd` multiplies), and restores the exact
//! accumulator `Σ (x − zx)(w − zw) + bias = Σ x·(w − 128) + (128 − zw)·Σx + bias'` with a
//! per-row term (`Σx` of the row, [`row_sums`]) and a per-channel one
//! (`bias' = bias − zx·Σ(w − zw)`, folded when the weights are packed).

use scoreprobe_core::simd_dispatch;

/// `1.5·2²³`: for `|v| ≤ 2²²`, `(v + MAGIC) − MAGIC` in `f32` is `v` rounded to the nearest
/// integer, ties to even: the rounding of the tract graph this engine replaced, and of XNNPACK.
const MAGIC: f32 = 12_582_912.0;

/// Requantisation of one layer's int32 accumulators to stored bytes, as XNNPACK does it:
/// `clamp(acc·scale, lo, hi)` in `f32`, rounded half to even, plus the output zero point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Requant {
    /// `input_scale·weight_scale/output_scale`, in `f32` as XNNPACK computes it.
    pub scale: f32,
    /// Saturation bounds in integer units (stored value − zero point); integers, `|·| ≤ 2²²`.
    pub lo: f32,
    pub hi: f32,
    /// Output zero point.
    pub zo: i32,
}

impl Requant {
    /// The stored byte of an accumulator already multiplied by the scale (or not to be).
    #[inline(always)]
    pub fn of_scaled(&self, v: f32) -> u8 {
        let v = v.max(self.lo).min(self.hi);
        (((v + MAGIC) - MAGIC) as i32 + self.zo) as u8
    }

    /// The stored byte of an int32 accumulator.
    #[inline(always)]
    pub fn of_acc(&self, acc: i32) -> u8 {
        self.of_scaled(acc as f32 * self.scale)
    }
}

/// Weights of one matrix product packed for the kernels: `n` output channels padded to a
/// multiple of 16, `k` inputs padded to a multiple of 4, laid out
/// `[n/16][k/4][16 channels][4 inputs]` as signed bytes `w − 128` (0 in the padding), with the
/// per-channel accumulator offsets and the layer's requantisation.
#[derive(Clone, Debug)]
pub(crate) struct PackedGemm {
    pub k: usize,
    pub kp: usize,
    pub n: usize,
    pub np: usize,
    data: Vec<i8>,
    /// `bias − zx·Σ_k (w − zw)` per channel (`np` values, 0 in the padding).
    bias: Vec<i32>,
    /// `128 − zw`: the coefficient of each row's byte sum.
    row_coef: i32,
    pub rq: Requant,
}

impl PackedGemm {
    /// Packs `weights` (`n × k` stored bytes, row-major: channel, then input), with the int32
    /// `bias`, the zero points of the input (`zx`) and weights (`zw`), and the requantisation.
    /// `None` when the sizes disagree or the accumulator could overflow int32.
    pub fn new(weights: &[u8], n: usize, k: usize, bias: &[i32], zx: i32, zw: i32, rq: Requant) -> Option<Self> {
        // |Σ x·(w − 128)| ≤ k·255·128 and the corrections stay within the same order: 2²⁴ inputs
        // would overflow; real layers have a few thousand
        let zps_ok = (0..=255).contains(&zx) && (0..=255).contains(&zw);
        if weights.len() != n * k || bias.len() != n || k == 0 || n == 0 || k > 1 << 15 || !zps_ok {
            return None;
        }
        let (kp, np) = (k.next_multiple_of(4), n.next_multiple_of(16));
        let mut data = vec![0i8; np * kp];
        let mut folded = vec![0i32; np];
        for c in 0..n {
            let row = &weights[c * k..(c + 1) * k];
            let (blk, lane) = (c / 16, c % 16);
            for (i, &w) in row.iter().enumerate() {
                data[blk * kp * 16 + (i / 4) * 64 + lane * 4 + i % 4] = (i32::from(w) - 128) as i8;
            }
            let wsum: i32 = row.iter().map(|&w| i32::from(w) - zw).sum();
            folded[c] = zx.checked_mul(wsum).and_then(|z| bias[c].checked_sub(z))?;
        }
        Some(PackedGemm { k, kp, n, np, data, bias: folded, row_coef: 128 - zw, rq })
    }
}

/// The activation side of a product: `rows` rows of `kp` readable bytes, `lda` apart (bytes
/// `k..kp` of each row must be 0).
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub a: &'a [u8],
    pub lda: usize,
    pub rows: usize,
}

/// Errors of the kernels' call boundary: a buffer too small for the shapes it comes with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: buffer sizes do not match the shapes")]
pub(crate) struct ShapeError(pub &'static str);

/// `out[r, c] = requant(Σ_k (a[r,k] − zx)(w[c,k] − zw) + bias[c])` for every row `r` of `a`
/// and channel `c < n`, written `ldc` bytes apart. `sums` is scratch for the row sums.
pub(crate) fn gemm(
    a: Rows<'_>,
    p: &PackedGemm,
    sums: &mut Vec<i32>,
    out: &mut [u8],
    ldc: usize,
) -> Result<(), ShapeError> {
    let Rows { a: abuf, lda, rows } = a;
    if rows == 0 {
        return Ok(());
    }
    let a_ok = lda >= p.kp && abuf.len() >= (rows - 1) * lda + p.kp;
    let out_ok = ldc >= p.n && out.len() >= (rows - 1) * ldc + p.n;
    let p_ok = p.data.len() == p.np * p.kp && p.bias.len() == p.np && p.kp.is_multiple_of(4) && p.np.is_multiple_of(16);
    if !(a_ok && out_ok && p_ok) {
        return Err(ShapeError("gemm"));
    }
    sums.clear();
    sums.resize(rows, 0);
    row_sums(abuf, lda, p.kp, p.row_coef, sums);
    gemm_checked(abuf, lda, sums, p, out, ldc);
    Ok(())
}

simd_dispatch!(fn row_sums(a: &[u8], lda: usize, kp: usize, coef: i32, sums: &mut [i32]) => row_sums_body);

/// `sums[r] = coef·Σ_{k<kp} a[r·lda + k]`.
#[inline(always)]
fn row_sums_body(a: &[u8], lda: usize, kp: usize, coef: i32, sums: &mut [i32]) {
    for (r, s) in sums.iter_mut().enumerate() {
        let row = &a[r * lda..r * lda + kp];
        let total: u32 = row.iter().map(|&v| u32::from(v)).sum();
        *s = coef * total as i32;
    }
}

simd_dispatch!(
    fn gemm_checked(a: &[u8], lda: usize, sums: &[i32], p: &PackedGemm, out: &mut [u8], ldc: usize) => gemm_portable,
    avx512 + "avx512vnni" => gemm_vnni
);

/// The portable product: one row and 16 channels at a time, the `k` loop innermost.
#[inline(always)]
fn gemm_portable(a: &[u8], lda: usize, sums: &[i32], p: &PackedGemm, out: &mut [u8], ldc: usize) {
    let kq = p.kp / 4;
    for (r, &corr) in sums.iter().enumerate() {
        let row = &a[r * lda..r * lda + p.kp];
        for blk in 0..p.np / 16 {
            let panel = &p.data[blk * kq * 64..(blk + 1) * kq * 64];
            let mut acc = [0i32; 16];
            for (x4, w) in row.chunks_exact(4).zip(panel.chunks_exact(64)) {
                for (j, a) in acc.iter_mut().enumerate() {
                    let w4 = &w[j * 4..j * 4 + 4];
                    *a += (0..4).map(|t| i32::from(x4[t]) * i32::from(w4[t])).sum::<i32>();
                }
            }
            let c0 = blk * 16;
            let width = 16.min(p.n - c0.min(p.n));
            let dst = &mut out[r * ldc + c0..r * ldc + c0 + width];
            for (j, d) in dst.iter_mut().enumerate() {
                // wrapping, as the SIMD lanes: only an absurd model's bias could overflow
                *d = p.rq.of_acc(acc[j].wrapping_add(p.bias[c0 + j]).wrapping_add(corr));
            }
        }
    }
}

/// Rows per register tile of the VNNI kernel, and 16-channel blocks per tile: 6×4 int32
/// accumulators, 4 weight registers and one broadcast fill 29 of the 32 registers.
#[cfg(target_arch = "x86_64")]
const MR: usize = 6;
#[cfg(target_arch = "x86_64")]
const NB: usize = 4;

/// The VNNI product. Rows are taken in blocks whose bytes stay in L1 while every panel of
/// 64 channels passes over them; each register tile is `MR` rows × `NB`·16 channels.
///
/// # Safety
/// The processor has AVX-512 F/BW and VNNI, and the buffers were checked by [`gemm`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn gemm_vnni(a: &[u8], lda: usize, sums: &[i32], p: &PackedGemm, out: &mut [u8], ldc: usize) {
    let rows = sums.len();
    let block = (6 * (8192 / p.kp.max(1))).clamp(MR, 768);
    let nblocks = p.np / 16;
    for r0 in (0..rows).step_by(block) {
        let r1 = rows.min(r0 + block);
        for b0 in (0..nblocks).step_by(NB) {
            let nb = NB.min(nblocks - b0);
            let mut r = r0;
            while r < r1 {
                let mr = MR.min(r1 - r);
                let t = Tile {
                    a: a.as_ptr().add(r * lda),
                    lda,
                    sums: sums.as_ptr().add(r),
                    p,
                    b0,
                    out: out.as_mut_ptr().add(r * ldc),
                    ldc,
                };
                dispatch_tile(&t, mr, nb);
                r += mr;
            }
        }
    }
}

/// One register tile's operands: `a` and `out` point at its first row, `sums` at that row's
/// correction, `b0` is its first 16-channel block.
#[cfg(target_arch = "x86_64")]
struct Tile<'p> {
    a: *const u8,
    lda: usize,
    sums: *const i32,
    p: &'p PackedGemm,
    b0: usize,
    out: *mut u8,
    ldc: usize,
}

/// Calls the tile kernel compiled for `mr` rows and `nb` blocks.
///
/// # Safety
/// As [`gemm_vnni`]; `1 ≤ mr ≤ MR` rows and `1 ≤ nb ≤ NB` blocks from the tile's origin exist.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dispatch_tile(t: &Tile<'_>, mr: usize, nb: usize) {
    macro_rules! by_nb {
        ($m:literal) => {
            match nb {
                1 => tile::<$m, 1>(t),
                2 => tile::<$m, 2>(t),
                3 => tile::<$m, 3>(t),
                _ => tile::<$m, 4>(t),
            }
        };
    }
    match mr {
        1 => by_nb!(1),
        2 => by_nb!(2),
        3 => by_nb!(3),
        4 => by_nb!(4),
        5 => by_nb!(5),
        _ => by_nb!(6),
    }
}

/// `M` rows × `N`·16 channels: `vpdpbusd` over the `k/4` steps, then the fused epilogue.
///
/// # Safety
/// As [`dispatch_tile`] with `mr = M`, `nb = N`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn tile<const M: usize, const N: usize>(t: &Tile<'_>) {
    use std::arch::x86_64::*;
    let p = t.p;
    let kq = p.kp / 4;
    let panel = p.data.as_ptr().add(t.b0 * kq * 64);
    let mut acc = [[_mm512_setzero_si512(); N]; M];
    for s in 0..kq {
        let mut w = [_mm512_setzero_si512(); N];
        for (j, wj) in w.iter_mut().enumerate() {
            *wj = _mm512_loadu_si512(panel.add((j * kq + s) * 64) as *const _);
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            let x = _mm512_set1_epi32((t.a.add(i * t.lda + 4 * s) as *const i32).read_unaligned());
            for (acc_ij, wj) in acc_i.iter_mut().zip(&w) {
                *acc_ij = _mm512_dpbusd_epi32(*acc_ij, x, *wj);
            }
        }
    }
    epilogue::<M, N>(t, &acc);
}

/// Adds the offsets, requantises (as [`Requant::of_acc`]) and stores the tile's bytes, masking
/// the channels past `n`.
///
/// # Safety
/// As [`tile`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn epilogue<const M: usize, const N: usize>(t: &Tile<'_>, acc: &[[std::arch::x86_64::__m512i; N]; M]) {
    use std::arch::x86_64::*;
    let p = t.p;
    let rq = RequantX16::new(&p.rq);
    for j in 0..N {
        let c0 = (t.b0 + j) * 16;
        let bias = _mm512_loadu_si512(p.bias.as_ptr().add(c0) as *const _);
        let mask = lane_mask(c0, p.n);
        for (i, acc_i) in acc.iter().enumerate() {
            let v = _mm512_add_epi32(_mm512_add_epi32(acc_i[j], bias), _mm512_set1_epi32(*t.sums.add(i)));
            rq.store(v, mask, t.out.add(i * t.ldc + c0));
        }
    }
}

/// [`Requant`] on 16 int32 lanes.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct RequantX16 {
    scale: std::arch::x86_64::__m512,
    lo: std::arch::x86_64::__m512,
    hi: std::arch::x86_64::__m512,
    magic: std::arch::x86_64::__m512,
    zo: std::arch::x86_64::__m512i,
}

#[cfg(target_arch = "x86_64")]
impl RequantX16 {
    /// # Safety
    /// The processor has AVX-512 F.
    #[inline(always)]
    unsafe fn new(rq: &Requant) -> Self {
        use std::arch::x86_64::*;
        RequantX16 {
            scale: _mm512_set1_ps(rq.scale),
            lo: _mm512_set1_ps(rq.lo),
            hi: _mm512_set1_ps(rq.hi),
            magic: _mm512_set1_ps(MAGIC),
            zo: _mm512_set1_epi32(rq.zo),
        }
    }

    /// Requantises 16 accumulators (as [`Requant::of_acc`]) and stores the bytes of the lanes in
    /// `mask` at `dst`.
    ///
    /// # Safety
    /// AVX-512 F/BW, and the masked bytes of `dst` are writable.
    #[inline(always)]
    unsafe fn store(&self, acc: std::arch::x86_64::__m512i, mask: u16, dst: *mut u8) {
        use std::arch::x86_64::*;
        let f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), self.scale);
        let f = _mm512_min_ps(_mm512_max_ps(f, self.lo), self.hi);
        let f = _mm512_sub_ps(_mm512_add_ps(f, self.magic), self.magic);
        let q = _mm512_add_epi32(_mm512_cvttps_epi32(f), self.zo);
        _mm512_mask_cvtusepi32_storeu_epi8(dst as *mut i8, mask, q);
    }
}

/// The lanes of a 16-channel block starting at `c0` that lie below `n`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lane_mask(c0: usize, n: usize) -> u16 {
    match n.saturating_sub(c0) {
        w if w >= 16 => 0xffff,
        w => (1u16 << w) - 1,
    }
}

/// Geometry of a 2-D window op on one `h × w × c` (HWC) image: kernel, stride, padding before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub pad: (usize, usize),
    pub ho: usize,
    pub wo: usize,
}

impl Window {
    /// Input rows (or columns) under output `o` along an axis: `lo..hi` of the kernel taps that
    /// land inside `0..len` (padding taps are skipped: they contribute 0).
    #[inline(always)]
    fn taps(o: usize, stride: usize, pad: usize, k: usize, len: usize) -> (usize, usize) {
        let start = (o * stride) as isize - pad as isize;
        let lo = (-start).max(0) as usize;
        let hi = (len as isize - start).clamp(0, k as isize) as usize;
        (lo.min(hi), hi)
    }

    pub fn in_len(&self) -> usize {
        self.h * self.w * self.c
    }

    pub fn out_len(&self) -> usize {
        self.ho * self.wo * self.c
    }
}

/// Depthwise weights: `taps[t·c + ch] = w − zw` (tap `t = ky·kw + kx`), the int32 bias, the input
/// zero point and the requantisation.
#[derive(Clone, Debug)]
pub(crate) struct Depthwise {
    pub win: Window,
    pub taps: Vec<i32>,
    pub bias: Vec<i32>,
    pub zx: i32,
    pub rq: Requant,
}

/// Depthwise convolution of one image (`x`: `h × w × c` bytes) into `out` (`ho × wo × c`);
/// `acc` is scratch.
pub(crate) fn depthwise(d: &Depthwise, x: &[u8], out: &mut [u8], acc: &mut Vec<i32>) -> Result<(), ShapeError> {
    let win = d.win;
    let ok = x.len() == win.in_len()
        && out.len() == win.out_len()
        && d.taps.len() == win.kh * win.kw * win.c
        && d.bias.len() == win.c;
    if !ok {
        return Err(ShapeError("depthwise"));
    }
    acc.clear();
    acc.resize(win.c, 0);
    depthwise_kernel(d, x, out, acc);
    Ok(())
}

simd_dispatch!(
    fn depthwise_kernel(d: &Depthwise, x: &[u8], out: &mut [u8], acc: &mut [i32]) => depthwise_body,
    avx512 => depthwise_avx512
);

/// Per output pixel: the bias, plus each tap inside the image over all channels, requantised.
#[inline(always)]
fn depthwise_body(d: &Depthwise, x: &[u8], out: &mut [u8], acc: &mut [i32]) {
    let win = d.win;
    let c = win.c;
    for oy in 0..win.ho {
        let (ky0, ky1) = Window::taps(oy, win.stride.0, win.pad.0, win.kh, win.h);
        for ox in 0..win.wo {
            let (kx0, kx1) = Window::taps(ox, win.stride.1, win.pad.1, win.kw, win.w);
            acc.copy_from_slice(&d.bias);
            for ky in ky0..ky1 {
                let iy = oy * win.stride.0 + ky - win.pad.0;
                for kx in kx0..kx1 {
                    let ix = ox * win.stride.1 + kx - win.pad.1;
                    let xs = &x[(iy * win.w + ix) * c..][..c];
                    let ws = &d.taps[(ky * win.kw + kx) * c..][..c];
                    for ((a, &xv), &wv) in acc.iter_mut().zip(xs).zip(ws) {
                        *a = a.wrapping_add((i32::from(xv) - d.zx).wrapping_mul(wv));
                    }
                }
            }
            let o = &mut out[(oy * win.wo + ox) * c..][..c];
            for (q, &a) in o.iter_mut().zip(acc.iter()) {
                *q = d.rq.of_acc(a);
            }
        }
    }
}

/// The AVX-512 depthwise convolution: per output pixel, up to 64 channels in registers, the taps
/// inside the image accumulated as `(x − zx)·w` in int32 lanes, then requantised in registers.
///
/// # Safety
/// The processor has AVX-512 F/BW, and the buffers were checked by [`depthwise`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn depthwise_avx512(d: &Depthwise, x: &[u8], out: &mut [u8], _acc: &mut [i32]) {
    let win = d.win;
    let rq = RequantX16::new(&d.rq);
    for oy in 0..win.ho {
        let ky = Window::taps(oy, win.stride.0, win.pad.0, win.kh, win.h);
        for ox in 0..win.wo {
            let kx = Window::taps(ox, win.stride.1, win.pad.1, win.kw, win.w);
            let px =
                DwPixel { d, x: x.as_ptr(), oy, ox, ky, kx, out: out.as_mut_ptr().add((oy * win.wo + ox) * win.c) };
            for c0 in (0..win.c).step_by(64) {
                match (win.c - c0).div_ceil(16) {
                    1 => px.channels::<1>(c0, &rq),
                    2 => px.channels::<2>(c0, &rq),
                    3 => px.channels::<3>(c0, &rq),
                    _ => px.channels::<4>(c0, &rq),
                }
            }
        }
    }
}

/// One output pixel of a depthwise convolution: its position, the kernel rows and columns inside
/// the image, and where its bytes go.
#[cfg(target_arch = "x86_64")]
struct DwPixel<'d> {
    d: &'d Depthwise,
    x: *const u8,
    oy: usize,
    ox: usize,
    ky: (usize, usize),
    kx: (usize, usize),
    out: *mut u8,
}

#[cfg(target_arch = "x86_64")]
impl DwPixel<'_> {
    /// Channels `c0 .. c0 + 16·N` (those below `c`).
    ///
    /// # Safety
    /// As [`depthwise_avx512`]; `c0 < c`.
    #[inline(always)]
    unsafe fn channels<const N: usize>(&self, c0: usize, rq: &RequantX16) {
        use std::arch::x86_64::*;
        let (d, win) = (self.d, self.d.win);
        let zx = _mm512_set1_epi32(d.zx);
        let mut acc = [_mm512_setzero_si512(); N];
        let masks: [u16; N] = std::array::from_fn(|j| lane_mask(c0 + 16 * j, win.c));
        for (j, a) in acc.iter_mut().enumerate() {
            *a = _mm512_maskz_loadu_epi32(masks[j], d.bias.as_ptr().add(c0 + 16 * j));
        }
        for ky in self.ky.0..self.ky.1 {
            let iy = self.oy * win.stride.0 + ky - win.pad.0;
            for kx in self.kx.0..self.kx.1 {
                let ix = self.ox * win.stride.1 + kx - win.pad.1;
                let xp = self.x.add((iy * win.w + ix) * win.c + c0);
                let wp = d.taps.as_ptr().add((ky * win.kw + kx) * win.c + c0);
                for (j, a) in acc.iter_mut().enumerate() {
                    let xv = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(masks[j], xp.add(16 * j) as *const i8));
                    let wv = _mm512_maskz_loadu_epi32(masks[j], wp.add(16 * j));
                    *a = _mm512_add_epi32(*a, _mm512_mullo_epi32(_mm512_sub_epi32(xv, zx), wv));
                }
            }
        }
        for (j, a) in acc.iter().enumerate() {
            rq.store(*a, masks[j], self.out.add(c0 + 16 * j));
        }
    }
}

/// Average pooling of one image as tract computes it on the integer-unit graph: the exact sum of
/// `x − zx` over the taps inside the image, times `1/count` in `f32`, times `rescale` when the
/// input and output scales differ, then requantised.
#[derive(Clone, Debug)]
pub(crate) struct AvgPool {
    pub win: Window,
    pub zx: i32,
    pub rescale: Option<f32>,
    pub rq: Requant,
}

/// Average pooling of one image (`x`: `h × w × c` bytes) into `out` (`ho × wo × c`).
pub(crate) fn avg_pool(p: &AvgPool, x: &[u8], out: &mut [u8]) -> Result<(), ShapeError> {
    let win = p.win;
    if x.len() != win.in_len() || out.len() != win.out_len() {
        return Err(ShapeError("average pool"));
    }
    let c = win.c;
    let mut acc = vec![0i32; c];
    for oy in 0..win.ho {
        let (ky0, ky1) = Window::taps(oy, win.stride.0, win.pad.0, win.kh, win.h);
        for ox in 0..win.wo {
            let (kx0, kx1) = Window::taps(ox, win.stride.1, win.pad.1, win.kw, win.w);
            acc.fill(0);
            for ky in ky0..ky1 {
                let iy = oy * win.stride.0 + ky - win.pad.0;
                for kx in kx0..kx1 {
                    let ix = ox * win.stride.1 + kx - win.pad.1;
                    for (a, &xv) in acc.iter_mut().zip(&x[(iy * win.w + ix) * c..][..c]) {
                        *a += i32::from(xv) - p.zx;
                    }
                }
            }
            let count = ((ky1 - ky0) * (kx1 - kx0)) as f32;
            let recip = count.recip();
            let o = &mut out[(oy * win.wo + ox) * c..][..c];
            for (q, &a) in o.iter_mut().zip(&acc) {
                let mean = a as f32 * recip;
                *q = p.rq.of_scaled(p.rescale.map_or(mean, |m| mean * m));
            }
        }
    }
    Ok(())
}

/// The im2col rows of a full convolution of one image: for each output pixel, the `kh·kw·c`
/// input bytes under the kernel (order `ky, kx, channel`), `zx` where the kernel overhangs the
/// image (an integer-unit zero), then 0 up to `kp`.
pub(crate) fn im2col(win: &Window, x: &[u8], zx: u8, kp: usize, out: &mut [u8]) -> Result<(), ShapeError> {
    let k = win.kh * win.kw * win.c;
    if x.len() != win.in_len() || kp < k || out.len() != win.ho * win.wo * kp {
        return Err(ShapeError("im2col"));
    }
    let c = win.c;
    for (pix, row) in out.chunks_exact_mut(kp).enumerate() {
        let (oy, ox) = (pix / win.wo, pix % win.wo);
        row[k..].iter_mut().for_each(|d| *d = 0);
        for ky in 0..win.kh {
            for kx in 0..win.kw {
                let dst = &mut row[(ky * win.kw + kx) * c..][..c];
                let iy = (oy * win.stride.0 + ky).checked_sub(win.pad.0).filter(|&v| v < win.h);
                let ix = (ox * win.stride.1 + kx).checked_sub(win.pad.1).filter(|&v| v < win.w);
                match (iy, ix) {
                    // byte by byte: a call to memcpy per tap of 3 channels costs more than the copy
                    (Some(iy), Some(ix)) => {
                        dst.iter_mut().zip(&x[(iy * win.w + ix) * c..][..c]).for_each(|(d, v)| *d = *v)
                    }
                    _ => dst.iter_mut().for_each(|d| *d = zx),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scoreprobe_core::simd::{detected, force, Level};
    use std::sync::Mutex;

    /// The SIMD level is process-wide: the tests that force it take turns.
    static LEVELS: Mutex<()> = Mutex::new(());

    /// A deterministic byte stream (xorshift).
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    /// The definition: `requant(Σ (x − zx)(w − zw) + bias)` with plain integer loops.
    fn reference(
        a: &[u8],
        w: &[u8],
        (rows, k, n): (usize, usize, usize),
        bias: &[i32],
        (zx, zw): (i32, i32),
        rq: Requant,
    ) -> Vec<u8> {
        let mut out = vec![0u8; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let acc: i32 = (0..k).map(|i| (i32::from(a[r * k + i]) - zx) * (i32::from(w[c * k + i]) - zw)).sum();
                out[r * n + c] = rq.of_acc(acc + bias[c]);
            }
        }
        out
    }

    /// Every shape class the tiles have (rows not a multiple of 6, channels not of 16 or 64,
    /// inputs not of 4) gives the definition's bytes at every SIMD level the processor has.
    #[test]
    fn gemm_equals_the_definition_at_every_level() {
        let rq = Requant { scale: 0.0021, lo: -3.0, hi: 252.0, zo: 3 };
        for &(rows, k, n) in &[(1usize, 4usize, 16usize), (7, 27, 32), (13, 64, 72), (25, 130, 200), (50, 512, 64)] {
            let kp = k.next_multiple_of(4);
            let a = bytes(rows * k, (rows * 31 + k) as u64);
            let w = bytes(n * k, (n * 7 + k) as u64);
            let bias: Vec<i32> = (0..n as i32).map(|c| c * 37 - 900).collect();
            let p = PackedGemm::new(&w, n, k, &bias, 5, 121, rq).unwrap();
            let mut padded = vec![0u8; rows * kp];
            for r in 0..rows {
                padded[r * kp..r * kp + k].copy_from_slice(&a[r * k..(r + 1) * k]);
            }
            let want = reference(&a, &w, (rows, k, n), &bias, (5, 121), rq);
            let _turn = LEVELS.lock().unwrap_or_else(|e| e.into_inner());
            for level in Level::ALL.into_iter().filter(|&l| l <= detected()) {
                assert!(force(level));
                let mut out = vec![0u8; rows * n];
                gemm(Rows { a: &padded, lda: kp, rows }, &p, &mut Vec::new(), &mut out, n).unwrap();
                assert_eq!(out, want, "{rows}×{k}×{n} at {level:?}");
            }
            assert!(force(detected()));
        }
    }

    #[test]
    fn gemm_refuses_short_buffers() {
        let rq = Requant { scale: 1.0, lo: 0.0, hi: 255.0, zo: 0 };
        let p = PackedGemm::new(&[1; 32], 4, 8, &[0; 4], 0, 0, rq).unwrap();
        let mut out = vec![0u8; 8];
        assert!(gemm(Rows { a: &[0; 15], lda: 8, rows: 2 }, &p, &mut Vec::new(), &mut out, 4).is_err());
        assert!(gemm(Rows { a: &[0; 16], lda: 8, rows: 2 }, &p, &mut Vec::new(), &mut out[..7], 4).is_err());
        assert!(gemm(Rows { a: &[0; 16], lda: 8, rows: 2 }, &p, &mut Vec::new(), &mut out, 4).is_ok());
        assert!(PackedGemm::new(&[1; 31], 4, 8, &[0; 4], 0, 0, rq).is_none());
    }

    /// The depthwise kernel against the definition (padding taps are `x = zx`) for channel
    /// counts with and without a tail, both strides, at every level.
    #[test]
    fn depthwise_equals_the_definition_at_every_level() {
        let rq = Requant { scale: 0.013, lo: -2.0, hi: 250.0, zo: 2 };
        for &(h, w, c, stride) in &[(5usize, 7usize, 37usize, 1usize), (6, 5, 64, 2), (3, 3, 16, 1), (7, 6, 100, 2)] {
            let (kh, kw) = (3, 3);
            let (ho, wo) = (h.div_ceil(stride), w.div_ceil(stride));
            let pad = |len: usize, out: usize| ((out - 1) * stride + 3).saturating_sub(len) / 2;
            let win = Window { h, w, c, kh, kw, stride: (stride, stride), pad: (pad(h, ho), pad(w, wo)), ho, wo };
            let x = bytes(h * w * c, (h * 13 + c) as u64);
            let taps: Vec<i32> = bytes(9 * c, c as u64).into_iter().map(|v| i32::from(v) - 120).collect();
            let bias: Vec<i32> = (0..c as i32).map(|i| 50 * i - 1000).collect();
            let d = Depthwise { win, taps, bias, zx: 7, rq };
            let mut want = vec![0u8; ho * wo * c];
            for (oy, ox, ch) in grid(ho, wo, c) {
                let mut acc = d.bias[ch];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let iy = (oy * stride + ky) as isize - win.pad.0 as isize;
                        let ix = (ox * stride + kx) as isize - win.pad.1 as isize;
                        let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                        let xv = if inside { i32::from(x[(iy as usize * w + ix as usize) * c + ch]) } else { d.zx };
                        acc += (xv - d.zx) * d.taps[(ky * kw + kx) * c + ch];
                    }
                }
                want[(oy * wo + ox) * c + ch] = rq.of_acc(acc);
            }
            let _turn = LEVELS.lock().unwrap_or_else(|e| e.into_inner());
            for level in Level::ALL.into_iter().filter(|&l| l <= detected()) {
                assert!(force(level));
                let mut out = vec![0u8; ho * wo * c];
                depthwise(&d, &x, &mut out, &mut Vec::new()).unwrap();
                assert_eq!(out, want, "{h}×{w}×{c} stride {stride} at {level:?}");
            }
            assert!(force(detected()));
        }
    }

    fn grid(a: usize, b: usize, c: usize) -> impl Iterator<Item = (usize, usize, usize)> {
        (0..a).flat_map(move |i| (0..b).flat_map(move |j| (0..c).map(move |k| (i, j, k))))
    }

    #[test]
    fn requant_rounds_half_to_even_and_saturates() {
        let rq = Requant { scale: 0.5, lo: -3.0, hi: 252.0, zo: 3 };
        let got: Vec<u8> = [1, 3, 5, -1, -3, -7, -100, 1000].iter().map(|&a| rq.of_acc(a)).collect();
        assert_eq!(got, [3, 5, 5, 3, 1, 0, 0, 255]);
    }
}
