//! The engine's one scratch workspace: per thread, a few growable buffers kept between passes, so
//! that a step allocates nothing once the buffers have reached their size.
//!
//! Each use has its own slot (they nest: a U-Net sample holds its activations while its gradients
//! are carved, a training step holds the flat gradient while the kernel sums its blocks' partials);
//! a slot already borrowed on this thread (never expected) falls back to a fresh buffer.

use super::unet_ops::GroupStats;
use std::cell::RefCell;

/// The workspace's f32 buffers.
#[derive(Clone, Copy)]
pub(crate) enum Slot {
    /// One block's forward cache and work space (MLP).
    Block,
    /// The blocks' partial parameter gradients, kept by the calling thread (MLP, U-Net).
    Partial,
    /// One sample's activations (U-Net).
    Acts,
    /// One sample's activation gradients and temporaries (U-Net).
    Grads,
    /// One sample's im2col columns (convolution).
    Cols,
    /// A training step's flat parameter gradient.
    Step,
}

const SLOTS: usize = 6;

struct Workspace {
    f32s: [RefCell<Vec<f32>>; SLOTS],
    /// GroupNorm statistics of one sample (U-Net), beside [`Slot::Acts`].
    stats: RefCell<Vec<GroupStats>>,
}

thread_local! {
    static WORKSPACE: Workspace = const {
        Workspace {
            f32s: [const { RefCell::new(Vec::new()) }; SLOTS],
            stats: RefCell::new(Vec::new()),
        }
    };
}

/// Runs `f` on this thread's buffer of `slot` (its length as the last use left it).
pub(crate) fn with_vec<R>(slot: Slot, f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    WORKSPACE.with(|w| match w.f32s[slot as usize].try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut Vec::new()),
    })
}

/// Runs `f` on `len` floats of `slot` (contents unspecified: what the last use left).
pub(crate) fn with_scratch<R>(slot: Slot, len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_vec(slot, |buf| f(grow(buf, len)))
}

/// Runs `f` on `len` zeroed floats of `slot`.
pub(crate) fn with_zeroed<R>(slot: Slot, len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_vec(slot, |buf| {
        buf.clear();
        buf.resize(len, 0.0);
        f(&mut buf[..])
    })
}

/// Runs `f` on `len` floats of [`Slot::Acts`] and `stats` GroupNorm statistics (contents
/// unspecified).
pub(crate) fn with_acts<R>(len: usize, stats: usize, f: impl FnOnce(&mut [f32], &mut [GroupStats]) -> R) -> R {
    WORKSPACE.with(|w| {
        let mut s = w.stats.try_borrow_mut().ok();
        let mut fresh = Vec::new();
        let sbuf = match s.as_deref_mut() {
            Some(v) => grow(v, stats),
            None => grow(&mut fresh, stats),
        };
        with_scratch(Slot::Acts, len, |buf| f(buf, sbuf))
    })
}

/// The first `len` entries of `v`, grown (never shrunk) to hold them.
fn grow<T: Clone + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}
