//! The critic objectives of [`crate::critic_fit`] on the fused MLP passes of [`super::mlp`].
//!
//! Scalar critic: ∇ₓχ comes from one reverse pass (not from d or k forward tangents), and the
//! parameter gradient of E[2w·∇χ − |∇χ|²] from the hand-written double backward of
//! [`MlpKernel::input_grad_loss_and_grad`]; the objective's per-row terms and their derivative in
//! ∇ₓχ are computed here. Above `exact_max_dim` the terms use k Rademacher directions per row,
//! (1/k)Σ_j [2(v_j·w)(v_j·∇χ) − (v_j·∇χ)²], drawn as one random bit per sign ([`Directions`]).
//! Vector critic: E[2w·h − |h|²] through the ordinary fused backward.

use super::mlp::{MlpKernel, CHUNK};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::simd_dispatch;
use std::ops::Range;

/// k Rademacher direction sets for n rows in d dimensions, one random bit per sign: direction j of
/// row i has v_l = +1 where bit l of its words is set, −1 elsewhere.
#[derive(Default)]
pub struct Directions {
    pub k: usize,
    pub n: usize,
    pub d: usize,
    words: usize,
    bits: Vec<u64>,
}

impl Directions {
    pub fn draw(k: usize, n: usize, d: usize, rng: &mut ChaCha8Rng) -> Self {
        let mut dirs = Self::default();
        dirs.redraw(k, n, d, rng);
        dirs
    }

    /// Draws new directions in place (reusing the storage).
    pub fn redraw(&mut self, k: usize, n: usize, d: usize, rng: &mut ChaCha8Rng) {
        let words = d.div_ceil(64);
        self.bits.resize(k * n * words, 0);
        rng.fill(&mut self.bits[..]);
        (self.k, self.n, self.d, self.words) = (k, n, d, words);
    }

    /// Direction j of row i as ±1.0 into `out` (length d).
    pub fn expand(&self, j: usize, i: usize, out: &mut [f32]) {
        let w = &self.bits[(j * self.n + i) * self.words..(j * self.n + i + 1) * self.words];
        expand_signs(w, out);
    }

    /// All directions as a (k, n, d) array of ±1.0 (for the candle path).
    pub fn to_vec(&self) -> Vec<f32> {
        let mut v = vec![0f32; self.k * self.n * self.d];
        for (c, out) in v.chunks_exact_mut(self.d).enumerate() {
            self.expand(c / self.n, c % self.n, out);
        }
        v
    }
}

/// ±1.0 for the eight bits of a byte, lowest bit first.
static SIGNS: [[f32; 8]; 256] = {
    let mut t = [[0f32; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut q = 0;
        while q < 8 {
            t[b][q] = if (b >> q) & 1 == 1 { 1.0 } else { -1.0 };
            q += 1;
        }
        b += 1;
    }
    t
};

/// The signs of `words` (bit l of the sequence → out[l]) as ±1.0, a byte at a time.
fn expand_signs(words: &[u64], out: &mut [f32]) {
    let byte = |i: usize| (words[i / 8] >> (8 * (i % 8))) as u8 as usize;
    let full = out.len() / 8;
    let mut chunks = out.chunks_exact_mut(8);
    for (i, o) in (&mut chunks).enumerate() {
        let o: &mut [f32; 8] = o.try_into().expect("chunks of 8");
        *o = SIGNS[byte(i)];
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        rest.copy_from_slice(&SIGNS[byte(full)][..rest.len()]);
    }
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    // sixteen partial sums, so that the loop vectorises (LLVM does not reassociate f32 additions)
    let mut acc = [0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for q in 0..16 {
            acc[q] += x[q] * y[q];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

simd_dispatch!(fn dot(a: &[f32], b: &[f32]) -> f32 => dot_body);

#[inline(always)]
fn axpy_body(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

simd_dispatch!(fn axpy(y: &mut [f32], a: f32, x: &[f32]) => axpy_body);

/// The scalar critic's objective on a batch: targets w (n × d, x-space), the standardisation
/// scale s (∇ₓχ = ∇_yχ / s), and random directions above the exact dimension.
pub struct ScalarObjective<'a> {
    pub w: &'a [f32],
    pub d: usize,
    pub scale: f32,
    pub dirs: Option<&'a Directions>,
}

impl ScalarObjective<'_> {
    /// Term of row i (global index) from ∇_yχ of that row; with `dterm`, also ∂term/∂(∇_yχ).
    pub fn row(&self, i: usize, gy: &[f32], gx: &mut [f32], v: &mut [f32], dterm: Option<&mut [f32]>) -> f64 {
        let d = self.d;
        let w = &self.w[i * d..(i + 1) * d];
        let inv_s = 1.0 / self.scale;
        for (a, &b) in gx.iter_mut().zip(gy) {
            *a = b * inv_s;
        }
        match self.dirs {
            None => {
                let mut term = 0f64;
                for (&wl, &gl) in w.iter().zip(gx.iter()) {
                    term += (2.0 * wl * gl - gl * gl) as f64;
                }
                if let Some(dt) = dterm {
                    for ((o, &wl), &gl) in dt.iter_mut().zip(w).zip(gx.iter()) {
                        *o = 2.0 * (wl - gl) * inv_s;
                    }
                }
                term
            }
            Some(dirs) => {
                let k = dirs.k;
                let mut term = 0f64;
                let mut dt = dterm;
                if let Some(dt) = dt.as_deref_mut() {
                    dt.fill(0.0);
                }
                for j in 0..k {
                    dirs.expand(j, i, v);
                    let (vw, vg) = (dot(v, w), dot(v, gx));
                    term += (2.0 * vw * vg - vg * vg) as f64;
                    if let Some(dt) = dt.as_deref_mut() {
                        axpy(dt, 2.0 * (vw - vg) * inv_s / k as f32, v);
                    }
                }
                term / k as f64
            }
        }
    }

    /// Upstream of [`MlpKernel::input_grad_loss_and_grad`]: loss = −mean over the n rows of the
    /// terms; writes ∂loss/∂(∇_yχ) into `gbar`.
    pub fn upstream(&self, n: usize) -> impl Fn(Range<usize>, &[f32], &mut [f32]) -> f64 + Sync + '_ {
        move |rows, gy, gbar| {
            let d = self.d;
            let mut bufs = vec![0f32; 2 * d];
            let (gx, v) = bufs.split_at_mut(d);
            let mut total = 0f64;
            for (r, i) in rows.enumerate() {
                let out = &mut gbar[r * d..(r + 1) * d];
                total += self.row(i, &gy[r * d..(r + 1) * d], gx, v, Some(out));
                out.iter_mut().for_each(|o| *o *= -1.0 / n as f32);
            }
            -total / n as f64
        }
    }

    /// The per-row terms of rows x (n × d standardised), t (n).
    pub fn terms(&self, kernel: &MlpKernel, x: &[f32], t: &[f32]) -> Vec<f64> {
        use rayon::prelude::*;
        let (n, d) = (t.len(), self.d);
        let mut gy = vec![0f32; n * d];
        kernel.input_grad(x, t, &mut gy);
        let mut out = vec![0f64; n];
        out.par_chunks_mut(CHUNK).zip(gy.par_chunks(CHUNK * d)).enumerate().for_each(|(b, (o, g))| {
            let mut bufs = vec![0f32; 2 * d];
            let (gx, v) = bufs.split_at_mut(d);
            for (r, term) in o.iter_mut().enumerate() {
                *term = self.row(b * CHUNK + r, &g[r * d..(r + 1) * d], gx, v, None);
            }
        });
        out
    }
}

/// The vector critic's loss −mean_i (2w_i·h_i − |h_i|²) and ∂loss/∂h, for
/// [`MlpKernel::loss_and_grad`].
pub fn vector_upstream(w: &[f32], d: usize, n: usize) -> impl Fn(Range<usize>, &[f32], &mut [f32]) -> f64 + Sync + '_ {
    move |rows, h, dh| {
        let w = &w[rows.start * d..rows.end * d];
        let mut total = 0f64;
        for ((dh, &h), &w) in dh.iter_mut().zip(h).zip(w) {
            total += (2.0 * w * h - h * h) as f64;
            *dh = -2.0 * (w - h) / n as f32;
        }
        -total / n as f64
    }
}
