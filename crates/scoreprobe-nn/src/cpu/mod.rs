//! The CPU engine: hand-written f32 passes of the networks beside candle's reference path.
//!
//! Why it exists: candle cannot differentiate an input gradient (the scalar critic's loss needs
//! ∇ₓχ's parameter gradient, a double backward), has no optimised CPU convolution backward, and at
//! the sizes of these networks its per-op dispatch and allocation, not arithmetic, dominated a
//! step (MLP / U-Net training went from 0.46× / 0.20× PyTorch CPU on candle to 2.0× / 1.1× here,
//! `docs/benchmarks-nn.md`). The parameters stay candle `Var`s, read in place, so checkpoints,
//! the optimiser and candle's path (other devices, the parity tests' reference) are unchanged.
//!
//! The seam: a network asks [`mlp`] or [`unet`] for its engine, the one place that decides
//! whether it runs here (f32 parameters on the CPU) or on candle; the kernels take the network's
//! spec and parameter store, find parameters by name, and use one scratch workspace
//! ([`scratch`]) and the workspace's one SIMD dispatch ([`scoreprobe_core::simd`]). Ops that fit
//! candle's `CustomOp` (convolution, GroupNorm, upsampling) stay candle ops ([`conv`], [`fused`]).

pub mod conv;
pub mod critic;
pub mod fused;
pub mod mlp;
pub(crate) mod optim;
mod scratch;
pub mod simd;
pub mod unet;
mod unet_ops;

pub use mlp::MlpKernel;
pub(crate) use scratch::{with_vec, Slot};
pub use unet::UnetKernel;

use crate::error::Result;
use crate::params::ParamStore;
use crate::spec::{MlpSpec, UnetSpec};
use candle_core::Tensor;
use simd::{is_cpu_f32, F32Views};

/// The MLP's engine on these parameters, `None` when the network runs on candle (parameters off
/// the CPU or not f32): the one dispatch point of the MLP.
pub fn mlp<'a>(spec: &'a MlpSpec, params: &'a ParamStore) -> Option<MlpKernel<'a>> {
    MlpKernel::new(spec, params)
}

/// The U-Net's engine on these parameters, `None` when it runs on candle: its one dispatch point.
pub fn unet<'a>(spec: &'a UnetSpec, params: &'a ParamStore) -> Option<UnetKernel<'a>> {
    UnetKernel::new(spec, params)
}

/// The f32 data of `tensors` when all are contiguous f32 CPU tensors (a batch the engine can
/// read in place), else `None`.
pub fn batch_views<'a, const N: usize>(tensors: [&'a Tensor; N]) -> Option<F32Views<'a>> {
    if !tensors.iter().all(|t| is_cpu_f32(t) && t.is_contiguous()) {
        return None;
    }
    F32Views::new(tensors).ok()
}

/// y (n, out) = forward(x (n, ·), t (n)) by `pass` when x and t are f32 CPU tensors.
fn eval_rows(
    x: &Tensor,
    t: &Tensor,
    out: usize,
    pass: impl FnOnce(&[f32], &[f32], &mut [f32]),
) -> Result<Option<Tensor>> {
    if !(is_cpu_f32(x) && is_cpu_f32(t)) {
        return Ok(None);
    }
    let (xc, tc) = (x.contiguous()?, t.contiguous()?);
    let views = F32Views::new([&xc, &tc])?;
    let n = t.dims1()?;
    let mut y = vec![0f32; n * out];
    pass(views.get(0), views.get(1), &mut y);
    Ok(Some(Tensor::from_vec(y, (n, out), x.device())?))
}

/// The MLP's output at x (n, d), t (n) by the engine, `None` where candle runs it.
pub fn mlp_eval(spec: &MlpSpec, params: &ParamStore, x: &Tensor, t: &Tensor) -> Result<Option<Tensor>> {
    let Some(k) = mlp(spec, params) else { return Ok(None) };
    eval_rows(x, t, spec.out_dim, |x, t, y| k.forward(x, t, y))
}

/// The U-Net's output at flattened images x (n, C·H·W), t (n) by the engine, `None` where candle
/// runs it.
pub fn unet_eval(spec: &UnetSpec, params: &ParamStore, x: &Tensor, t: &Tensor) -> Result<Option<Tensor>> {
    let Some(k) = unet(spec, params) else { return Ok(None) };
    eval_rows(x, t, spec.dim(), |x, t, y| k.forward(x, t, y))
}
