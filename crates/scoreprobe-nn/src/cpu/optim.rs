//! The optimiser's in-place updates on f32 CPU parameters: AdamW (with its gradient scaling and,
//! optionally, the EMA in the same pass over memory) and the EMA alone. They use the same f32
//! operations in the same order as the composed candle ops they replaced (so the same bits),
//! without the ~15 allocating tensor ops per parameter those cost.

use super::simd::{is_cpu_f32, with_f32, with_f32_mut};
use candle_core::{Tensor, Var};
use scoreprobe_core::simd_dispatch;

/// Gradients for an update, in store order: one tensor per parameter, or one flat buffer with the
/// parameters' gradients concatenated (what the fused MLP kernels produce).
#[derive(Clone, Copy)]
pub enum Grads<'a> {
    Tensors(&'a [Tensor]),
    Flat(&'a [f32]),
}

/// The f32 constants of one update (each rounded from f64 exactly as candle's `affine` does).
#[derive(Clone, Copy)]
pub(crate) struct Coefficients {
    pub(crate) scale: f32,
    pub(crate) b1: f32,
    pub(crate) one_minus_b1: f32,
    pub(crate) b2: f32,
    pub(crate) one_minus_b2: f32,
    pub(crate) inv_bc2: f32,
    pub(crate) eps: f32,
    pub(crate) step: f32,
    pub(crate) decay: f32,
    /// EMA decay d and 1 − d (unused without an EMA).
    pub(crate) ema_d: f32,
    pub(crate) ema_1md: f32,
}

#[inline(always)]
fn adamw_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &Coefficients) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g * c.scale;
        let mi = *m * c.b1 + g * c.one_minus_b1;
        let vi = *v * c.b2 + (g * g) * c.one_minus_b2;
        let denom = (vi * c.inv_bc2).sqrt() + c.eps;
        *p = *p * c.decay - (mi * c.step) / denom;
        *m = mi;
        *v = vi;
    }
}

#[inline(always)]
fn adamw_ema_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], e: &mut [f32], c: &Coefficients) {
    for ((((p, &g), m), v), e) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()).zip(e.iter_mut()) {
        let g = g * c.scale;
        let mi = *m * c.b1 + g * c.one_minus_b1;
        let vi = *v * c.b2 + (g * g) * c.one_minus_b2;
        let denom = (vi * c.inv_bc2).sqrt() + c.eps;
        let pi = *p * c.decay - (mi * c.step) / denom;
        *p = pi;
        *m = mi;
        *v = vi;
        *e = *e * c.ema_d + pi * c.ema_1md;
    }
}

simd_dispatch!(fn adamw_kernel(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: &Coefficients) => adamw_body);
simd_dispatch!(
    fn adamw_ema_kernel(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], e: &mut [f32], c: &Coefficients) => adamw_ema_body
);

/// Σ g² in f64.
pub(crate) fn sum_sq(g: &[f32]) -> f64 {
    // sequential f64 accumulation, as candle's sum of the f64-converted squares
    g.iter().map(|&v| (v as f64) * (v as f64)).sum()
}

fn flat<T>(r: candle_core::Result<candle_core::Result<T>>) -> candle_core::Result<T> {
    r?
}

fn all_cpu_f32(ts: &[Tensor]) -> bool {
    ts.iter().all(is_cpu_f32)
}

/// Whether the update runs here: every tensor it touches is f32 on the CPU (else candle's ops).
pub(crate) fn runs_here(
    vars: &[(String, Var)],
    m: &[Tensor],
    v: &[Tensor],
    shadow: Option<&[Tensor]>,
    grads: Grads,
) -> bool {
    vars.iter().all(|(_, v)| is_cpu_f32(v.as_tensor()))
        && all_cpu_f32(m)
        && all_cpu_f32(v)
        && shadow.is_none_or(all_cpu_f32)
        && match grads {
            Grads::Tensors(g) => all_cpu_f32(g),
            Grads::Flat(_) => true,
        }
}

/// Σ g² over every gradient (f64), `None` unless all are f32 CPU tensors.
pub(crate) fn sum_of_squares(grads: &[Tensor]) -> candle_core::Result<Option<f64>> {
    if !all_cpu_f32(grads) {
        return Ok(None);
    }
    let mut s = 0.0f64;
    for g in grads {
        s += with_f32(&g.contiguous()?, sum_sq)?;
    }
    Ok(Some(s))
}

/// One AdamW update in one pass over each parameter's memory ([`runs_here`] holds), the EMA's with
/// it when `shadow` is given; `sizes` are the parameters' element counts.
pub(crate) fn adamw_update(
    vars: &[(String, Var)],
    sizes: &[usize],
    grads: Grads,
    (m, v): (&[Tensor], &[Tensor]),
    shadow: Option<&[Tensor]>,
    co: &Coefficients,
) -> candle_core::Result<()> {
    let mut off = 0;
    for (i, (_, var)) in vars.iter().enumerate() {
        let n = sizes[i];
        let run = |g: &[f32]| -> candle_core::Result<()> {
            flat(with_f32_mut(var.as_tensor(), |p| {
                flat(with_f32_mut(&m[i], |m| {
                    flat(with_f32_mut(&v[i], |v| match shadow {
                        Some(sh) => with_f32_mut(&sh[i], |e| adamw_ema_kernel(p, g, m, v, e, co)),
                        None => {
                            adamw_kernel(p, g, m, v, co);
                            Ok(())
                        }
                    }))
                }))
            }))
        };
        match grads {
            Grads::Tensors(g) => flat(with_f32(&g[i].contiguous()?, run))?,
            Grads::Flat(fl) => run(&fl[off..off + n])?,
        }
        off += n;
    }
    Ok(())
}

#[inline(always)]
fn ema_body(s: &mut [f32], p: &[f32], d: f32, one_minus_d: f32) {
    for (s, &p) in s.iter_mut().zip(p) {
        *s = *s * d + p * one_minus_d;
    }
}

simd_dispatch!(fn ema_kernel(s: &mut [f32], p: &[f32], d: f32, one_minus_d: f32) => ema_body);

/// shadow ← d·shadow + (1 − d)·param in place; `false` (nothing done) unless both are f32 CPU
/// tensors.
pub(crate) fn ema_update(shadow: &Tensor, param: &Tensor, d: f64) -> candle_core::Result<bool> {
    if !(is_cpu_f32(shadow) && is_cpu_f32(param)) {
        return Ok(false);
    }
    let (df, omd) = (d as f32, (1.0 - d) as f32);
    with_f32(param, |p| with_f32_mut(shadow, |sh| ema_kernel(sh, p, df, omd)))??;
    Ok(true)
}
