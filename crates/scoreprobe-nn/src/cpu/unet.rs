//! Hand-fused CPU forward and backward passes of the U-Net ([`crate::Unet`]), sample by sample.
//!
//! Why not candle's autograd here: the profile of a candle training step (`docs/benchmarks-nn.md`)
//! put ~70 % of it outside the convolutions' arithmetic: every tensor op allocates its output,
//! and candle's backward adds each node's gradient into a freshly zeroed tensor (`zeros_like` +
//! `add` per argument), so each of the ~40 large activations costs a few full passes over memory
//! and fresh pages per step. Every op of this network except the parameter-gradient sums acts on
//! one sample at a time (GroupNorm statistics are per sample), so here the batch is cut into fixed
//! blocks of [`SAMPLE_BLOCK`] samples run in parallel; a block runs the forward pass of its
//! samples into the scratch workspace ([`super::scratch`]), the DSM loss and the backward pass,
//! accumulating its own parameter gradient; the blocks' gradients are summed in block order
//! (results do not depend on the number of threads). One fork–join per step, activations of a few
//! samples per thread (cache-friendly), nothing allocated per op. The parameters stay candle `Var`s (read in place),
//! so checkpoints, the optimiser and the candle path (other devices, the tests' reference) are
//! unchanged. Building blocks: [`super::conv::Geometry`] (im2col + gemm per sample) and
//! [`super::unet_ops`] (GroupNorm, attention, upsampling).

use super::conv::Geometry;
use super::mlp::embed_rows;
use super::scratch::{with_acts, with_scratch, with_zeroed, Slot};
use super::simd::{add_assign, gemm, silu_backward, silu_save, F32Views, Mat};
use super::unet_ops::{
    attention, attention_backward, attention_tmp_len, group_norm, group_norm_backward, upsample2x, upsample2x_backward,
    AttnCache, AttnGrads, AttnView, AttnWeights, GroupStats,
};
use crate::params::ParamStore;
use crate::spec::UnetSpec;
use rayon::prelude::*;

/// Samples per block (fixed: parameter gradients are summed per block).
pub const SAMPLE_BLOCK: usize = 4;
const GN_EPS: f64 = 1e-5;

/// σ of each entry.
fn sigmoid_into(z: &[f32], s: &mut [f32]) {
    for (s, &z) in s.iter_mut().zip(z) {
        *s = super::simd::sigmoid_f32(z);
    }
}

fn take<'s, T>(rest: &mut &'s mut [T], n: usize) -> &'s mut [T] {
    let (a, b) = std::mem::take(rest).split_at_mut(n);
    *rest = b;
    a
}

/// A convolution's parameters (indices into the store) and shapes.
#[derive(Clone, Copy)]
struct Conv {
    w: usize,
    b: usize,
    geo: Geometry,
}

#[derive(Clone, Copy)]
struct Norm {
    w: usize,
    b: usize,
}

#[derive(Clone, Copy)]
struct Dense {
    w: usize,
    b: usize,
}

/// A residual block: GN+SiLU, conv3×3 (+ bias + time projection), GN+SiLU, conv3×3, + skip.
#[derive(Clone, Copy)]
struct Block {
    norm1: Norm,
    conv1: Conv,
    temb: Dense,
    norm2: Norm,
    conv2: Conv,
    skip: Option<Conv>,
    cin: usize,
    cout: usize,
    p: usize,
}

/// Activations of one sample (slices of the scratch workspace; the gradient buffer has the same
/// layout).
struct Acts<'s> {
    emb: &'s mut [f32],
    a1: &'s mut [f32],
    e1: &'s mut [f32],
    a2: &'s mut [f32],
    e: &'s mut [f32],
    /// Per residual block: conv1 bias + time projection (c_out).
    off: [&'s mut [f32]; 5],
    h0: &'s mut [f32],
    rb: [RbActs<'s>; 5],
    d: &'s mut [f32],
    gn: &'s mut [f32],
    qkv: &'s mut [f32],
    att: &'s mut [f32],
    o: &'s mut [f32],
    ma: &'s mut [f32],
    cat1: &'s mut [f32],
    v: &'s mut [f32],
    up: &'s mut [f32],
    cat0: &'s mut [f32],
    go: &'s mut [f32],
    out: &'s mut [f32],
}

/// A residual block's activations: GN1+SiLU output, conv1 output, GN2+SiLU output, block output.
struct RbActs<'s> {
    a: &'s mut [f32],
    h: &'s mut [f32],
    b: &'s mut [f32],
    y: &'s mut [f32],
}

/// GroupNorm statistics of one sample: two per residual block, attention, output head.
struct Stats<'s> {
    rb: [[&'s mut [GroupStats]; 2]; 5],
    attn: &'s mut [GroupStats],
    out: &'s mut [GroupStats],
}

const DOWN0: usize = 0;
const DOWN1: usize = 1;
const MID: usize = 2;
const UP1: usize = 3;
const UP0: usize = 4;

/// The fused passes over one U-Net's parameters (its spec and parameter store, the `Var`s read in
/// place; parameters found by name).
pub struct UnetKernel<'a> {
    spec: &'a UnetSpec,
    w: F32Views<'a>,
    offsets: Vec<usize>,
    sizes: Vec<usize>,
    total: usize,
    freqs: Vec<f32>,
    time1: Dense,
    time2: Dense,
    conv_in: Conv,
    blocks: [Block; 5],
    downsample: Conv,
    attn: Option<(Norm, Dense, Dense)>,
    upconv: Conv,
    norm_out: Norm,
    conv_out: Conv,
    p0: usize,
    p1: usize,
}

/// Gradient slices of one block of samples, by parameter index.
struct GradView<'g> {
    g: &'g mut [f32],
    offsets: &'g [usize],
    sizes: &'g [usize],
}

impl GradView<'_> {
    fn get(&mut self, i: usize) -> &mut [f32] {
        &mut self.g[self.offsets[i]..self.offsets[i] + self.sizes[i]]
    }
    /// Several parameters' gradients at once (indices in increasing store order).
    fn many<const N: usize>(&mut self, idx: [usize; N]) -> [&mut [f32]; N] {
        let mut rest: &mut [f32] = self.g;
        let mut pos = 0;
        idx.map(|i| {
            assert!(self.offsets[i] >= pos, "parameters out of order");
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(self.offsets[i] - pos);
            let (mine, tail) = tail.split_at_mut(self.sizes[i]);
            rest = tail;
            pos = self.offsets[i] + self.sizes[i];
            mine
        })
    }

    /// Two distinct parameters' gradients at once.
    fn pair(&mut self, i: usize, j: usize) -> (&mut [f32], &mut [f32]) {
        assert!(self.offsets[i] < self.offsets[j]);
        let (lo, hi) = self.g.split_at_mut(self.offsets[j]);
        (&mut lo[self.offsets[i]..self.offsets[i] + self.sizes[i]], &mut hi[..self.sizes[j]])
    }
}

impl<'a> UnetKernel<'a> {
    /// `None` when the parameters are not contiguous f32 CPU tensors (other devices use candle)
    /// or do not match `spec`.
    pub(crate) fn new(spec: &'a UnetSpec, params: &'a ParamStore) -> Option<Self> {
        let vars = params.vars();
        if !vars.iter().all(|(_, v)| super::simd::is_cpu_f32(v.as_tensor())) {
            return None;
        }
        let w = F32Views::new(vars.iter().map(|(_, v)| v.as_tensor())).ok()?;
        let sizes: Vec<usize> = vars.iter().map(|(_, v)| v.elem_count()).collect();
        let mut offsets = Vec::with_capacity(sizes.len());
        let mut total = 0;
        for &n in &sizes {
            offsets.push(total);
            total += n;
        }
        let idx = |name: &str| vars.iter().position(|(n, _)| n == name);
        let [c0, c1] = spec.widths;
        let (h0, w0) = (spec.height, spec.width);
        let (h1, w1) = (h0 / 2, w0 / 2);
        let conv = |name: &str, cin: usize, k: usize, stride: usize, h: usize, wd: usize| -> Option<Conv> {
            Some(Conv {
                w: idx(&format!("{name}.weight"))?,
                b: idx(&format!("{name}.bias"))?,
                geo: Geometry::new(cin, h, wd, k, stride, k / 2),
            })
        };
        let norm = |name: &str| -> Option<Norm> {
            Some(Norm { w: idx(&format!("{name}.weight"))?, b: idx(&format!("{name}.bias"))? })
        };
        let dense = |name: &str| -> Option<Dense> {
            Some(Dense { w: idx(&format!("{name}.weight"))?, b: idx(&format!("{name}.bias"))? })
        };
        let td = spec.time_dim;
        let block = |name: &str, cin: usize, cout: usize, h: usize, wd: usize| -> Option<Block> {
            Some(Block {
                norm1: norm(&format!("{name}.norm1"))?,
                conv1: conv(&format!("{name}.conv1"), cin, 3, 1, h, wd)?,
                temb: dense(&format!("{name}.temb"))?,
                norm2: norm(&format!("{name}.norm2"))?,
                conv2: conv(&format!("{name}.conv2"), cout, 3, 1, h, wd)?,
                skip: if cin != cout { Some(conv(&format!("{name}.skip"), cin, 1, 1, h, wd)?) } else { None },
                cin,
                cout,
                p: h * wd,
            })
        };
        let half = td / 2;
        let freqs = (0..half).map(|i| (-(10000f32.ln()) * i as f32 / half as f32).exp()).collect();
        let attn =
            if spec.attention { Some((norm("attn.norm")?, dense("attn.qkv")?, dense("attn.proj")?)) } else { None };
        Some(Self {
            spec,
            time1: dense("time1")?,
            time2: dense("time2")?,
            conv_in: conv("conv_in", spec.channels, 3, 1, h0, w0)?,
            blocks: [
                block("down0", c0, c0, h0, w0)?,
                block("down1", c0, c1, h1, w1)?,
                block("mid", c1, c1, h1, w1)?,
                block("up1", 2 * c1, c1, h1, w1)?,
                block("up0", c0 + c1, c0, h0, w0)?,
            ],
            downsample: conv("downsample", c0, 3, 2, h0, w0)?,
            attn,
            upconv: conv("upconv", c1, 3, 1, h1, w1)?,
            norm_out: norm("norm_out")?,
            conv_out: conv("conv_out", c0, 3, 1, h0, w0)?,
            w,
            offsets,
            sizes,
            total,
            freqs,
            p0: h0 * w0,
            p1: h1 * w1,
        })
    }

    /// Number of parameters (the flat gradient's length, store order).
    pub fn num_params(&self) -> usize {
        self.total
    }

    fn p(&self, i: usize) -> &[f32] {
        self.w.get(i)
    }

    /// Floats of one sample's activations (and of its gradients).
    fn acts_len(&self) -> usize {
        let ([c0, c1], td, ch) = (self.spec.widths, self.spec.time_dim, self.spec.channels);
        let (p0, p1) = (self.p0, self.p1);
        let rb: usize = self.blocks.iter().map(|b| b.cin * b.p + 3 * b.cout * b.p).sum();
        let attn = if self.attn.is_some() { c1 * p1 + 3 * c1 * p1 + p1 * p1 + c1 * p1 } else { 0 };
        5 * td
            + (2 * c0 + 3 * c1)
            + c0 * p0
            + rb
            + c0 * p1
            + attn
            + c1 * p1
            + 2 * c1 * p1
            + c1 * p1
            + c1 * p0
            + (c0 + c1) * p0
            + c0 * p0
            + ch * p0
    }

    fn carve<'s>(&self, mut buf: &'s mut [f32]) -> Acts<'s> {
        let ([c0, c1], td, ch) = (self.spec.widths, self.spec.time_dim, self.spec.channels);
        let (p0, p1) = (self.p0, self.p1);
        let r = &mut buf;
        let (emb, a1, e1, a2, e) = (take(r, td), take(r, td), take(r, td), take(r, td), take(r, td));
        let off = self.blocks.map(|b| b.cout).map(|n| take(r, n));
        let h0 = take(r, c0 * p0);
        let rb = self.blocks.map(|b| RbActs {
            a: take(r, b.cin * b.p),
            h: take(r, b.cout * b.p),
            b: take(r, b.cout * b.p),
            y: take(r, b.cout * b.p),
        });
        let d = take(r, c0 * p1);
        let a = if self.attn.is_some() { 1 } else { 0 };
        let (gn, qkv, att, o) =
            (take(r, a * c1 * p1), take(r, a * 3 * c1 * p1), take(r, a * p1 * p1), take(r, a * c1 * p1));
        let ma = take(r, c1 * p1);
        let cat1 = take(r, 2 * c1 * p1);
        let v = take(r, c1 * p1);
        let up = take(r, c1 * p0);
        let cat0 = take(r, (c0 + c1) * p0);
        let go = take(r, c0 * p0);
        let out = take(r, ch * p0);
        Acts { emb, a1, e1, a2, e, off, h0, rb, d, gn, qkv, att, o, ma, cat1, v, up, cat0, go, out }
    }

    fn stats_len(&self) -> usize {
        12 * self.spec.groups
    }

    fn carve_stats<'s>(&self, mut buf: &'s mut [GroupStats]) -> Stats<'s> {
        let g = self.spec.groups;
        let r = &mut buf;
        let rb = [(); 5].map(|_| [take(r, g), take(r, g)]);
        Stats { rb, attn: take(r, g), out: take(r, g) }
    }

    /// Time path and per-block offsets of one sample.
    fn time_forward(&self, t: f32, a: &mut Acts) {
        let td = self.spec.time_dim;
        embed_rows(&[t], &self.freqs, a.emb);
        let mut sig = [0f32; 1024];
        let sig = &mut sig[..td.min(1024)];
        a.a1.copy_from_slice(self.p(self.time1.b));
        gemm(1, td, td, a.a1, td, true, Mat::n(a.emb, td), Mat::t(self.p(self.time1.w), td));
        a.e1.copy_from_slice(a.a1);
        silu_save(a.e1, sig);
        a.a2.copy_from_slice(self.p(self.time2.b));
        gemm(1, td, td, a.a2, td, true, Mat::n(a.e1, td), Mat::t(self.p(self.time2.w), td));
        a.e.copy_from_slice(a.a2);
        silu_save(a.e, sig);
        for (blk, off) in self.blocks.iter().zip(a.off.iter_mut()) {
            off.copy_from_slice(self.p(blk.temb.b));
            add_assign(off, self.p(blk.conv1.b));
            gemm(1, blk.cout, td, off, blk.cout, true, Mat::n(a.e, td), Mat::t(self.p(blk.temb.w), td));
        }
    }

    /// The attention's parameters (forward and backward read the same).
    fn attn_weights(&self, norm: &Norm, qkv: &Dense, proj: &Dense) -> AttnWeights<'_> {
        AttnWeights {
            gamma: self.p(norm.w),
            beta: self.p(norm.b),
            qkv_w: self.p(qkv.w),
            qkv_b: self.p(qkv.b),
            proj_w: self.p(proj.w),
            proj_b: self.p(proj.b),
        }
    }

    fn conv(&self, c: &Conv, x: &[f32], bias: &[f32], y: &mut [f32]) {
        c.geo.forward_sample(x, self.p(c.w), bias, y, false, 1);
    }

    /// Residual block forward of one sample: x (cin, p) → r.y (cout, p).
    fn block_forward(&self, blk: &Block, x: &[f32], off: &[f32], r: &mut RbActs, st: &mut [&mut [GroupStats]; 2]) {
        let p = blk.p;
        group_norm(x, p, GN_EPS, self.p(blk.norm1.w), self.p(blk.norm1.b), true, r.a, st[0]);
        self.conv(&blk.conv1, r.a, off, r.h);
        group_norm(r.h, p, GN_EPS, self.p(blk.norm2.w), self.p(blk.norm2.b), true, r.b, st[1]);
        self.conv(&blk.conv2, r.b, self.p(blk.conv2.b), r.y);
        match &blk.skip {
            Some(s) => s.geo.forward_sample(x, self.p(s.w), self.p(s.b), r.y, true, 1),
            None => add_assign(r.y, x),
        }
    }

    /// Forward pass of one sample x (C, H, W) at time t into `a` (the output is `a.out`).
    fn sample_forward(&self, x: &[f32], t: f32, a: &mut Acts, st: &mut Stats) {
        let ([c0, c1], p0, p1) = (self.spec.widths, self.p0, self.p1);
        self.time_forward(t, a);
        self.conv(&self.conv_in, x, self.p(self.conv_in.b), a.h0);
        let [r0, r1, rm, ru1, ru0] = &mut a.rb;
        let [s0, s1, sm, su1, su0] = &mut st.rb;
        self.block_forward(&self.blocks[DOWN0], a.h0, a.off[DOWN0], r0, s0);
        self.conv(&self.downsample, r0.y, self.p(self.downsample.b), a.d);
        self.block_forward(&self.blocks[DOWN1], a.d, a.off[DOWN1], r1, s1);
        self.block_forward(&self.blocks[MID], r1.y, a.off[MID], rm, sm);
        match &self.attn {
            Some((norm, qkv, proj)) => {
                let w = self.attn_weights(norm, qkv, proj);
                let mut cache = AttnCache { gn: a.gn, stats: st.attn, qkv: a.qkv, att: a.att, o: a.o };
                attention(rm.y, c1, p1, GN_EPS, &w, &mut cache, a.ma);
            }
            None => a.ma.copy_from_slice(rm.y),
        }
        a.cat1[..c1 * p1].copy_from_slice(a.ma);
        a.cat1[c1 * p1..].copy_from_slice(r1.y);
        self.block_forward(&self.blocks[UP1], a.cat1, a.off[UP1], ru1, su1);
        self.conv(&self.upconv, ru1.y, self.p(self.upconv.b), a.v);
        upsample2x(a.v, self.spec.height / 2, self.spec.width / 2, a.up);
        a.cat0[..c1 * p0].copy_from_slice(a.up);
        a.cat0[c1 * p0..].copy_from_slice(r0.y);
        self.block_forward(&self.blocks[UP0], a.cat0, a.off[UP0], ru0, su0);
        group_norm(ru0.y, p0, GN_EPS, self.p(self.norm_out.w), self.p(self.norm_out.b), true, a.go, st.out);
        let _ = c0;
        self.conv(&self.conv_out, a.go, self.p(self.conv_out.b), a.out);
    }

    /// ε̂ for x (n, C·H·W) at times t (n) into y (n, C·H·W): samples in parallel.
    pub fn forward(&self, x: &[f32], t: &[f32], y: &mut [f32]) {
        let dim = self.spec.dim();
        y.par_chunks_mut(dim).zip(x.par_chunks(dim)).zip(t.par_iter()).for_each(|((ys, xs), &ts)| {
            with_acts(self.acts_len(), self.stats_len(), |buf, sbuf| {
                let mut a = self.carve(buf);
                let mut st = self.carve_stats(sbuf);
                self.sample_forward(xs, ts, &mut a, &mut st);
                ys.copy_from_slice(a.out);
            })
        });
    }

    /// DSM loss mean((ε̂ − ε)²) over the batch and its flat parameter gradient (store order,
    /// overwritten into `grad`).
    pub fn dsm_loss_and_grad(&self, x: &[f32], t: &[f32], eps: &[f32], grad: &mut [f32]) -> f64 {
        let (n, dim) = (t.len(), self.spec.dim());
        let blocks = n.div_ceil(SAMPLE_BLOCK);
        let p = self.total;
        let scale = 2.0 / (n * dim) as f32;
        with_zeroed(Slot::Partial, blocks * p, |partial| {
            let losses: Vec<f64> = partial
                .par_chunks_mut(p)
                .enumerate()
                .map(|(bi, gp)| {
                    let mut gv = GradView { g: gp, offsets: &self.offsets, sizes: &self.sizes };
                    let mut loss = 0f64;
                    for s in bi * SAMPLE_BLOCK..((bi + 1) * SAMPLE_BLOCK).min(n) {
                        let (xs, es) = (&x[s * dim..(s + 1) * dim], &eps[s * dim..(s + 1) * dim]);
                        loss += self.sample_step(xs, t[s], es, scale, &mut gv);
                    }
                    loss
                })
                .collect();
            grad.copy_from_slice(&partial[..p]);
            for part in partial.chunks_exact(p).skip(1) {
                add_assign(grad, part);
            }
            losses.iter().sum::<f64>() / (n * dim) as f64
        })
    }

    /// Forward, loss and backward of one sample; returns Σ(ε̂ − ε)².
    fn sample_step(&self, x: &[f32], t: f32, eps: &[f32], scale: f32, g: &mut GradView) -> f64 {
        with_acts(self.acts_len(), self.stats_len(), |buf, sbuf| {
            let mut a = self.carve(buf);
            let mut st = self.carve_stats(sbuf);
            self.sample_forward(x, t, &mut a, &mut st);
            let len = self.acts_len();
            with_scratch(Slot::Grads, 2 * len + self.tmp_len(), |gbuf| {
                let (dbuf, tmp) = gbuf.split_at_mut(len);
                let mut da = self.carve(dbuf);
                let mut loss = 0f64;
                for ((d, &o), &e) in da.out.iter_mut().zip(a.out.iter()).zip(eps) {
                    let diff = o - e;
                    loss += (diff as f64) * (diff as f64);
                    *d = scale * diff;
                }
                self.sample_backward(x, &a, &st, &mut da, g, tmp);
                loss
            })
        })
    }

    /// Scratch of the backward pass (GroupNorm and attention temporaries, skip outputs).
    fn tmp_len(&self) -> usize {
        let [c0, c1] = self.spec.widths;
        let gn = (c0 + c1).max(2 * c1) * self.p0.max(self.p1);
        let attn = if self.attn.is_some() { attention_tmp_len(c1, self.p1) } else { 0 };
        gn.max(attn) + self.spec.time_dim * 2
    }

    /// Residual block backward of one sample: from dy = ∂L/∂y (cout, p) accumulate dx (cin, p)
    /// (write it unless `acc`) and the parameter gradients; `doff` (cout) receives the gradient
    /// of the conv1 offset.
    #[allow(clippy::too_many_arguments)]
    fn block_backward(
        &self,
        blk: &Block,
        x: &[f32],
        r: &RbActs,
        st: &[&mut [GroupStats]; 2],
        dy: &[f32],
        dr: &mut RbActs,
        dx: &mut [f32],
        acc: bool,
        doff: &mut [f32],
        g: &mut GradView,
        tmp: &mut [f32],
    ) {
        let p = blk.p;
        // y = conv2(b) + skip(x) (or x)
        let (dw, db) = g.pair(blk.conv2.w, blk.conv2.b);
        blk.conv2.geo.backward_sample(r.b, self.p(blk.conv2.w), dy, dw, db, Some(dr.b), false);
        match &blk.skip {
            Some(s) => {
                let (dw, db) = g.pair(s.w, s.b);
                s.geo.backward_sample(x, self.p(s.w), dy, dw, db, Some(dx), acc);
            }
            None if acc => add_assign(dx, dy),
            None => dx.copy_from_slice(dy),
        }
        // b = SiLU(GN2(h))
        let (dgam, dbet) = g.pair(blk.norm2.w, blk.norm2.b);
        group_norm_backward(
            r.h,
            p,
            self.p(blk.norm2.w),
            self.p(blk.norm2.b),
            true,
            st[1],
            dr.b,
            dr.h,
            false,
            dgam,
            dbet,
            tmp,
        );
        // h = conv1(a) + off
        doff.fill(0.0);
        let dw = g.get(blk.conv1.w);
        blk.conv1.geo.backward_sample(r.a, self.p(blk.conv1.w), dr.h, dw, doff, Some(dr.a), false);
        // a = SiLU(GN1(x))
        let (dgam, dbet) = g.pair(blk.norm1.w, blk.norm1.b);
        group_norm_backward(
            x,
            p,
            self.p(blk.norm1.w),
            self.p(blk.norm1.b),
            true,
            st[0],
            dr.a,
            dx,
            true,
            dgam,
            dbet,
            tmp,
        );
    }

    /// ∂L/∂m (into `dm`) from ∂L/∂ma (`dma`), ma = attention(m), or ma = m without attention.
    #[allow(clippy::too_many_arguments)]
    fn attention_backward_sample(
        &self,
        a: &Acts,
        st: &Stats,
        m: &[f32],
        dma: &[f32],
        dm: &mut [f32],
        g: &mut GradView,
        tmp: &mut [f32],
    ) {
        let ([_, c1], p1) = (self.spec.widths, self.p1);
        match &self.attn {
            Some((norm, qkv, proj)) => {
                let w = self.attn_weights(norm, qkv, proj);
                let [gg, gb, qw, qb, pw, pb] = g.many([norm.w, norm.b, qkv.w, qkv.b, proj.w, proj.b]);
                let mut ag = AttnGrads { gamma: gg, beta: gb, qkv_w: qw, qkv_b: qb, proj_w: pw, proj_b: pb };
                let view = AttnView { gn: a.gn, stats: st.attn, qkv: a.qkv, att: a.att, o: a.o };
                attention_backward(m, c1, p1, &w, &view, dma, dm, false, &mut ag, tmp);
            }
            None => dm.copy_from_slice(dma),
        }
    }

    /// The time embedding's gradients, from the blocks' offsets back to the sinusoidal input.
    fn time_embedding_backward(&self, a: &Acts, da: &mut Acts, g: &mut GradView, tmp: &mut [f32]) {
        let td = self.spec.time_dim;
        // the blocks' offsets: off = conv1.b + temb.b + temb.w e
        da.e.fill(0.0);
        for (blk, doff) in self.blocks.iter().zip(da.off.iter()) {
            add_assign(g.get(blk.conv1.b), doff);
            add_assign(g.get(blk.temb.b), doff);
            gemm(blk.cout, td, 1, g.get(blk.temb.w), td, true, Mat::n(doff, 1), Mat::n(a.e, td));
            gemm(1, td, blk.cout, da.e, td, true, Mat::n(doff, blk.cout), Mat::n(self.p(blk.temb.w), td));
        }
        // e = SiLU(a2), a2 = time2(e1), e1 = SiLU(a1), a1 = time1(emb)
        let sig = &mut tmp[..td];
        sigmoid_into(a.a2, sig);
        silu_backward(da.e, a.a2, sig);
        add_assign(g.get(self.time2.b), da.e);
        gemm(td, td, 1, g.get(self.time2.w), td, true, Mat::n(da.e, 1), Mat::n(a.e1, td));
        gemm(1, td, td, da.e1, td, false, Mat::n(da.e, td), Mat::n(self.p(self.time2.w), td));
        sigmoid_into(a.a1, sig);
        silu_backward(da.e1, a.a1, sig);
        add_assign(g.get(self.time1.b), da.e1);
        gemm(td, td, 1, g.get(self.time1.w), td, true, Mat::n(da.e1, 1), Mat::n(a.emb, td));
    }

    /// Backward pass of one sample from da.out = ∂L/∂ε̂.
    fn sample_backward(&self, x: &[f32], a: &Acts, st: &Stats, da: &mut Acts, g: &mut GradView, tmp: &mut [f32]) {
        let ([_, c1], p0, p1) = (self.spec.widths, self.p0, self.p1);
        let (h1, w1) = (self.spec.height / 2, self.spec.width / 2);
        // out = conv_out(go); go = SiLU(GN(u0))
        let (dw, db) = g.pair(self.conv_out.w, self.conv_out.b);
        self.conv_out.geo.backward_sample(a.go, self.p(self.conv_out.w), da.out, dw, db, Some(da.go), false);
        let [r0, r1, rm, ru1, ru0] = &a.rb;
        let [dr0, dr1, drm, dru1, dru0] = &mut da.rb;
        let (dgam, dbet) = g.pair(self.norm_out.w, self.norm_out.b);
        group_norm_backward(
            ru0.y,
            p0,
            self.p(self.norm_out.w),
            self.p(self.norm_out.b),
            true,
            st.out,
            da.go,
            dru0.y,
            false,
            dgam,
            dbet,
            tmp,
        );
        // up0 on cat0 = [up | s0]
        let dy = std::mem::take(&mut dru0.y);
        self.block_backward(&self.blocks[UP0], a.cat0, ru0, &st.rb[UP0], dy, dru0, da.cat0, false, da.off[UP0], g, tmp);
        dr0.y.copy_from_slice(&da.cat0[c1 * p0..]);
        upsample2x_backward(&da.cat0[..c1 * p0], h1, w1, da.v);
        // v = upconv(u1)
        let (dw, db) = g.pair(self.upconv.w, self.upconv.b);
        self.upconv.geo.backward_sample(ru1.y, self.p(self.upconv.w), da.v, dw, db, Some(dru1.y), false);
        // up1 on cat1 = [ma | s1]
        let dy = std::mem::take(&mut dru1.y);
        self.block_backward(&self.blocks[UP1], a.cat1, ru1, &st.rb[UP1], dy, dru1, da.cat1, false, da.off[UP1], g, tmp);
        dr1.y.copy_from_slice(&da.cat1[c1 * p1..]);
        // ma = attention(m)
        self.attention_backward_sample(a, st, rm.y, &da.cat1[..c1 * p1], drm.y, g, tmp);
        // mid on s1 (dr1.y already holds the skip connection's share)
        let dy = std::mem::take(&mut drm.y);
        self.block_backward(&self.blocks[MID], r1.y, rm, &st.rb[MID], dy, drm, dr1.y, true, da.off[MID], g, tmp);
        // down1 on d
        let dy = std::mem::take(&mut dr1.y);
        self.block_backward(&self.blocks[DOWN1], a.d, r1, &st.rb[DOWN1], dy, dr1, da.d, false, da.off[DOWN1], g, tmp);
        // d = downsample(s0); dr0.y holds the skip connection's share
        let (dw, db) = g.pair(self.downsample.w, self.downsample.b);
        self.downsample.geo.backward_sample(r0.y, self.p(self.downsample.w), da.d, dw, db, Some(dr0.y), true);
        // down0 on h0
        let dy = std::mem::take(&mut dr0.y);
        self.block_backward(&self.blocks[DOWN0], a.h0, r0, &st.rb[DOWN0], dy, dr0, da.h0, false, da.off[DOWN0], g, tmp);
        // h0 = conv_in(x)
        let (dw, db) = g.pair(self.conv_in.w, self.conv_in.b);
        self.conv_in.geo.backward_sample(x, self.p(self.conv_in.w), da.h0, dw, db, None, false);
        self.time_embedding_backward(a, da, g, tmp);
    }
}
