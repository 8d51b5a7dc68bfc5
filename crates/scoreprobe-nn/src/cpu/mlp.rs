//! Hand-fused CPU passes of the time-conditioned MLP ([`crate::Mlp`]): forward, backward from an
//! output gradient (DSM training, the vector critic), and the x-gradient with its own parameter
//! gradient ("double backprop", the scalar critic).
//!
//! Why not candle's autograd here: at these sizes (a few hundred rows × 64–128 units) a candle
//! step is ~40 tensor ops forward and ~100 backward, each dispatched and allocated on its own, and
//! candle cannot differentiate an input gradient at all (the critic went through k stacked
//! tangents instead, k = d or 16 directions). Here the batch is cut into fixed blocks of
//! [`CHUNK`] rows, each block runs the whole pass with single-threaded gemm calls and
//! vectorised element-wise loops into the scratch workspace ([`super::scratch`]), and the blocks'
//! parameter gradients are summed in block order: one fork–join per pass, nothing allocated per
//! op, and results that do not depend on the number of threads. The parameters stay candle `Var`s (read in place), so
//! checkpoints, the optimiser and the candle paths (other devices, tests) are unchanged.
//!
//! Notation (rows are samples): e = SiLU(a₀), a₀ = emb(t)Tᵀ + b_T; z_l = h_l W_lᵀ + b_l + e P_lᵀ + c_l,
//! h_{l+1} = SiLU(z_l), h₀ = x; y = h_L W_outᵀ + b_out.

use super::scratch::{with_scratch as scratch, with_zeroed, Slot};
use super::simd::{
    add_assign, add_col_sums, fill_rows, gemm, is_cpu_f32, sigmoid_f32, silu_backward, silu_inplace, silu_save,
    sincos_f32, F32Views, Mat, SINCOS_MAX,
};
use crate::error::{ensure, Result};
use crate::params::ParamStore;
use crate::spec::MlpSpec;
use rayon::prelude::*;
use scoreprobe_core::simd_dispatch;

/// Rows per block of the fused passes (fixed, so that sums over blocks, and hence results, do not
/// depend on the number of threads).
pub const CHUNK: usize = 128;

/// Runs `f` on `len` zeroed floats of the blocks' partial gradients.
fn with_partial<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_zeroed(Slot::Partial, len, f)
}

/// Runs `f` on `len` floats of this thread's block scratch (contents unspecified).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    scratch(Slot::Block, len, f)
}

/// Splits `buf` into consecutive slices of the given lengths, and the rest.
pub(crate) fn carve<const N: usize>(mut buf: &mut [f32], lens: [usize; N]) -> ([&mut [f32]; N], &mut [f32]) {
    let parts = lens.map(|n| {
        let (a, b) = std::mem::take(&mut buf).split_at_mut(n);
        buf = b;
        a
    });
    (parts, buf)
}

/// Offsets of every parameter in the flat gradient (store order: time.{weight,bias}, then per
/// layer layer{l}.{weight,bias}, tproj{l}.{weight,bias}, then out.{weight,bias}).
#[derive(Clone, Debug)]
pub struct ParamLayout {
    pub offsets: Vec<usize>,
    pub sizes: Vec<usize>,
    pub total: usize,
}

impl ParamLayout {
    pub fn of(s: &MlpSpec) -> Self {
        let h = s.hidden;
        let mut sizes = vec![h * s.time_dim, h];
        for l in 0..s.depth {
            let fan_in = if l == 0 { s.dim } else { h };
            sizes.extend([h * fan_in, h, h * h, h]);
        }
        sizes.extend([s.out_dim * h, s.out_dim]);
        let mut offsets = Vec::with_capacity(sizes.len());
        let mut total = 0;
        for &n in &sizes {
            offsets.push(total);
            total += n;
        }
        Self { offsets, sizes, total }
    }
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i] + self.sizes[i]
    }
}

/// Where each parameter sits in the store, found by name (`time`, `layer{l}`, `tproj{l}`, `out`,
/// each `.weight` and `.bias`) when the kernel is built.
struct Index {
    time_w: usize,
    time_b: usize,
    layer_w: Vec<usize>,
    layer_b: Vec<usize>,
    tproj_w: Vec<usize>,
    tproj_b: Vec<usize>,
    out_w: usize,
    out_b: usize,
}

impl Index {
    fn of(spec: &MlpSpec, params: &ParamStore) -> Option<Self> {
        let vars = params.vars();
        let at = |name: String| vars.iter().position(|(n, _)| *n == name);
        let per_layer = |what: &str, part: &str| -> Option<Vec<usize>> {
            (0..spec.depth).map(|l| at(format!("{what}{l}.{part}"))).collect()
        };
        Some(Self {
            time_w: at("time.weight".into())?,
            time_b: at("time.bias".into())?,
            layer_w: per_layer("layer", "weight")?,
            layer_b: per_layer("layer", "bias")?,
            tproj_w: per_layer("tproj", "weight")?,
            tproj_b: per_layer("tproj", "bias")?,
            out_w: at("out.weight".into())?,
            out_b: at("out.bias".into())?,
        })
    }
}

/// Mutable views of one block's parameter gradient, by parameter index.
struct GradView<'a> {
    g: &'a mut [f32],
    layout: &'a ParamLayout,
}

impl GradView<'_> {
    fn get(&mut self, i: usize) -> &mut [f32] {
        let r = self.layout.range(i);
        &mut self.g[r]
    }
}

/// The fused passes over one MLP's parameters (its spec and parameter store, the `Var`s read in
/// place; parameters found by name).
pub struct MlpKernel<'a> {
    spec: &'a MlpSpec,
    w: F32Views<'a>,
    ix: Index,
    layout: ParamLayout,
    /// Per layer, the bias row b_l + c_l.
    bias_rows: Vec<Vec<f32>>,
    /// Sinusoid frequencies of the time embedding.
    freqs: Vec<f32>,
}

/// Activations of one block kept for the backward passes (slices of the thread's scratch).
struct Cache<'s> {
    r: usize,
    emb: &'s mut [f32],
    a0: &'s mut [f32],
    sa0: &'s mut [f32],
    e: &'s mut [f32],
    /// Per layer l: z_l, σ(z_l), h_{l+1} (r × H each), consecutive.
    z: &'s mut [f32],
    s: &'s mut [f32],
    h: &'s mut [f32],
}

impl<'a> MlpKernel<'a> {
    /// `None` when the parameters are not contiguous f32 CPU tensors (other devices use candle)
    /// or do not match `spec`.
    pub(crate) fn new(spec: &'a MlpSpec, params: &'a ParamStore) -> Option<Self> {
        let vars = params.vars();
        if !vars.iter().all(|(_, v)| is_cpu_f32(v.as_tensor())) {
            return None;
        }
        let w = F32Views::new(vars.iter().map(|(_, v)| v.as_tensor())).ok()?;
        let layout = ParamLayout::of(spec);
        let ix = Index::of(spec, params)?;
        if layout.sizes.len() != w.len() || (0..w.len()).any(|i| w.get(i).len() != layout.sizes[i]) {
            return None;
        }
        let bias_rows = (0..spec.depth)
            .map(|l| w.get(ix.layer_b[l]).iter().zip(w.get(ix.tproj_b[l])).map(|(a, b)| a + b).collect())
            .collect();
        let half = spec.time_dim / 2;
        // the same f32 expression as `layers::time_embedding`
        let freqs = (0..half).map(|i| (-(10000f32.ln()) * i as f32 / half as f32).exp()).collect();
        Some(Self { spec, w, ix, layout, bias_rows, freqs })
    }

    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    fn fan_in(&self, l: usize) -> usize {
        if l == 0 {
            self.spec.dim
        } else {
            self.spec.hidden
        }
    }

    /// Scratch floats of one block's forward cache.
    fn cache_len(&self, r: usize) -> usize {
        let (h, td, dp) = (self.spec.hidden, self.spec.time_dim, self.spec.depth);
        r * (td + 3 * h + 3 * dp * h)
    }

    fn split_cache<'s>(&self, r: usize, buf: &'s mut [f32]) -> (Cache<'s>, &'s mut [f32]) {
        let (h, td, dp) = (self.spec.hidden, self.spec.time_dim, self.spec.depth);
        let ([emb, a0, sa0, e, z, s, hh], rest) =
            carve(buf, [r * td, r * h, r * h, r * h, dp * r * h, dp * r * h, dp * r * h]);
        (Cache { r, emb, a0, sa0, e, z, s, h: hh }, rest)
    }

    /// Sinusoidal embedding rows of the times t into emb (|t| × time_dim).
    fn embed(&self, t: &[f32], emb: &mut [f32]) {
        embed_rows(t, &self.freqs, emb)
    }

    /// Forward pass of one block: x (r × d), t (r); fills the cache.
    fn forward_block(&self, x: &[f32], t: &[f32], c: &mut Cache) {
        let (r, hd, td) = (c.r, self.spec.hidden, self.spec.time_dim);
        self.embed(t, c.emb);
        fill_rows(c.a0, self.w.get(self.ix.time_b));
        gemm(r, hd, td, c.a0, hd, true, Mat::n(c.emb, td), Mat::t(self.w.get(self.ix.time_w), td));
        silu_out(c.a0, c.e, c.sa0);
        let rh = r * hd;
        for l in 0..self.spec.depth {
            let fan_in = self.fan_in(l);
            let z = &mut c.z[l * rh..(l + 1) * rh];
            fill_rows(z, &self.bias_rows[l]);
            let (h_prev, h_rest) = c.h.split_at_mut(l * rh);
            let input: &[f32] = if l == 0 { x } else { &h_prev[(l - 1) * rh..] };
            gemm(r, hd, fan_in, z, hd, true, Mat::n(input, fan_in), Mat::t(self.w.get(self.ix.layer_w[l]), fan_in));
            gemm(r, hd, hd, z, hd, true, Mat::n(c.e, hd), Mat::t(self.w.get(self.ix.tproj_w[l]), hd));
            silu_out(z, &mut h_rest[..rh], &mut c.s[l * rh..(l + 1) * rh]);
        }
    }

    /// Output rows y (r × out) from a filled cache.
    fn output_block(&self, c: &Cache, y: &mut [f32]) {
        let (r, hd, od) = (c.r, self.spec.hidden, self.spec.out_dim);
        let last = &c.h[(self.spec.depth - 1) * r * hd..self.spec.depth * r * hd];
        fill_rows(y, self.w.get(self.ix.out_b));
        gemm(r, od, hd, y, od, true, Mat::n(last, hd), Mat::t(self.w.get(self.ix.out_w), hd));
    }

    /// y = f(x, t) for x (n × d), t (n); y (n × out).
    pub fn forward(&self, x: &[f32], t: &[f32], y: &mut [f32]) {
        let (d, od) = (self.spec.dim, self.spec.out_dim);
        y.par_chunks_mut(CHUNK * od).zip(x.par_chunks(CHUNK * d)).zip(t.par_chunks(CHUNK)).for_each(
            |((yb, xb), tb)| {
                let r = tb.len();
                if tb.iter().all(|v| v.to_bits() == tb[0].to_bits()) {
                    self.forward_shared_time(xb, tb[0], yb);
                    return;
                }
                with_scratch(self.cache_len(r), |buf| {
                    let (mut c, _) = self.split_cache(r, buf);
                    self.forward_block(xb, tb, &mut c);
                    self.output_block(&c, yb);
                })
            },
        );
    }

    /// The forward pass of a block whose rows share one time (a sampler's call): the time path
    /// and each layer's e P_lᵀ + b_l + c_l are one row, computed once, so each layer is one gemm.
    fn forward_shared_time(&self, x: &[f32], t: f32, y: &mut [f32]) {
        let (hd, td, od, depth) = (self.spec.hidden, self.spec.time_dim, self.spec.out_dim, self.spec.depth);
        let r = y.len() / od;
        with_scratch(td + 3 * hd + depth * hd + 2 * r * hd, |buf| {
            let ([emb, e, sig, bias, h0, h1], _) = carve(buf, [td, hd, hd, depth * hd, r * hd, r * hd]);
            self.embed(&[t], emb);
            e.copy_from_slice(self.w.get(self.ix.time_b));
            gemm(1, hd, td, e, hd, true, Mat::n(emb, td), Mat::t(self.w.get(self.ix.time_w), td));
            silu_save(e, sig);
            for l in 0..depth {
                let bl = &mut bias[l * hd..(l + 1) * hd];
                bl.copy_from_slice(&self.bias_rows[l]);
                gemm(1, hd, hd, bl, hd, true, Mat::n(e, hd), Mat::t(self.w.get(self.ix.tproj_w[l]), hd));
            }
            let (mut cur, mut next) = (h0, h1);
            for l in 0..depth {
                let fan_in = self.fan_in(l);
                fill_rows(next, &bias[l * hd..(l + 1) * hd]);
                let input: &[f32] = if l == 0 { x } else { cur };
                gemm(
                    r,
                    hd,
                    fan_in,
                    next,
                    hd,
                    true,
                    Mat::n(input, fan_in),
                    Mat::t(self.w.get(self.ix.layer_w[l]), fan_in),
                );
                silu_inplace(next);
                std::mem::swap(&mut cur, &mut next);
            }
            fill_rows(y, self.w.get(self.ix.out_b));
            gemm(r, od, hd, y, od, true, Mat::n(cur, hd), Mat::t(self.w.get(self.ix.out_w), hd));
        })
    }

    /// Backward pass of one block from dy (r × out) into the block's gradient `g` (accumulated).
    fn backward_block(&self, x: &[f32], c: &mut Cache, dy: &[f32], g: &mut GradView, work: &mut [f32]) {
        let (r, hd, od, td) = (c.r, self.spec.hidden, self.spec.out_dim, self.spec.time_dim);
        let rh = r * hd;
        let depth = self.spec.depth;
        let ([dh, dh2, de, colsum], _) = carve(work, [rh, rh, rh, hd]);
        let ow = self.ix.out_w;
        let last = &c.h[(depth - 1) * rh..depth * rh];
        gemm(od, hd, r, g.get(ow), hd, true, Mat::t(dy, od), Mat::n(last, hd));
        add_col_sums(g.get(self.ix.out_b), dy);
        gemm(r, hd, od, dh, hd, false, Mat::n(dy, od), Mat::n(self.w.get(ow), hd));
        de.fill(0.0);
        let (mut cur, mut next) = (dh, dh2);
        for l in (0..depth).rev() {
            let fan_in = self.fan_in(l);
            silu_backward(cur, &c.z[l * rh..(l + 1) * rh], &c.s[l * rh..(l + 1) * rh]);
            let input: &[f32] = if l == 0 { x } else { &c.h[(l - 1) * rh..l * rh] };
            gemm(hd, fan_in, r, g.get(self.ix.layer_w[l]), fan_in, true, Mat::t(cur, hd), Mat::n(input, fan_in));
            colsum.fill(0.0);
            add_col_sums(colsum, cur);
            add_assign(g.get(self.ix.layer_b[l]), colsum);
            add_assign(g.get(self.ix.tproj_b[l]), colsum);
            gemm(hd, hd, r, g.get(self.ix.tproj_w[l]), hd, true, Mat::t(cur, hd), Mat::n(c.e, hd));
            gemm(r, hd, hd, de, hd, true, Mat::n(cur, hd), Mat::n(self.w.get(self.ix.tproj_w[l]), hd));
            if l > 0 {
                gemm(r, hd, hd, next, hd, false, Mat::n(cur, hd), Mat::n(self.w.get(self.ix.layer_w[l]), fan_in));
                std::mem::swap(&mut cur, &mut next);
            }
        }
        silu_backward(de, c.a0, c.sa0);
        gemm(hd, td, r, g.get(self.ix.time_w), td, true, Mat::t(de, hd), Mat::n(c.emb, td));
        add_col_sums(g.get(self.ix.time_b), de);
    }

    /// Loss and flat parameter gradient for per-row upstream gradients: `upstream(block_rows,
    /// y_block, dy_block) -> block loss` gets the block's rows (a range of the batch) and its output
    /// y (r × out), writes ∂loss/∂y into dy and returns the block's share of the loss. Blocks run in
    /// parallel; their losses and gradients are summed in block order into `grad` (overwritten).
    pub fn loss_and_grad<F>(&self, x: &[f32], t: &[f32], upstream: F, grad: &mut [f32]) -> f64
    where
        F: Fn(std::ops::Range<usize>, &[f32], &mut [f32]) -> f64 + Sync,
    {
        let (n, d, od) = (t.len(), self.spec.dim, self.spec.out_dim);
        let blocks = n.div_ceil(CHUNK);
        let p = self.layout.total;
        with_partial(blocks * p, |partial| {
            let losses: Vec<f64> = partial
                .par_chunks_mut(p)
                .enumerate()
                .map(|(b, gp)| {
                    let (lo, hi) = (b * CHUNK, ((b + 1) * CHUNK).min(n));
                    let r = hi - lo;
                    let xb = &x[lo * d..hi * d];
                    let hd = self.spec.hidden;
                    with_scratch(self.cache_len(r) + 2 * r * od + 3 * r * hd + hd, |buf| {
                        let (mut c, rest) = self.split_cache(r, buf);
                        let ([y, dy, work], _) = carve(rest, [r * od, r * od, 3 * r * hd + hd]);
                        self.forward_block(xb, &t[lo..hi], &mut c);
                        self.output_block(&c, y);
                        let loss = upstream(lo..hi, y, dy);
                        let mut gv = GradView { g: gp, layout: &self.layout };
                        self.backward_block(xb, &mut c, dy, &mut gv, work);
                        loss
                    })
                })
                .collect();
            reduce_blocks(partial, grad);
            losses.iter().sum()
        })
    }
}

/// Scalar networks (out = 1): the input gradient and the parameter gradient of an objective of it.
impl MlpKernel<'_> {
    /// Reverse pass of one block for the input gradient: `u` = [u₀ (r × d) | u₁ … u_L (r × H)]
    /// with u_l = ∂f/∂h_l (u₀ = ∇ₓf), `delta` = [δ₀ … δ_{L−1}] with δ_l = ∂f/∂z_l.
    fn input_grad_block(&self, c: &Cache, u: &mut [f32], delta: &mut [f32]) {
        let (r, hd, d, depth) = (c.r, self.spec.hidden, self.spec.dim, self.spec.depth);
        let rh = r * hd;
        let (u0, uh) = u.split_at_mut(r * d);
        fill_rows(&mut uh[(depth - 1) * rh..depth * rh], self.w.get(self.ix.out_w));
        for l in (0..depth).rev() {
            let fan_in = self.fan_in(l);
            let dl = &mut delta[l * rh..(l + 1) * rh];
            dl.copy_from_slice(&uh[l * rh..(l + 1) * rh]);
            silu_backward(dl, &c.z[l * rh..(l + 1) * rh], &c.s[l * rh..(l + 1) * rh]);
            let ul: &mut [f32] = if l == 0 { u0 } else { &mut uh[(l - 1) * rh..l * rh] };
            gemm(r, fan_in, hd, ul, fan_in, false, Mat::n(dl, hd), Mat::n(self.w.get(self.ix.layer_w[l]), fan_in));
        }
    }

    fn input_grad_len(&self, r: usize) -> usize {
        let (hd, d, depth) = (self.spec.hidden, self.spec.dim, self.spec.depth);
        r * d + 2 * depth * r * hd
    }

    /// ∇ₓf (n × d) of a scalar network at x (n × d), t (n).
    pub fn input_grad(&self, x: &[f32], t: &[f32], grad: &mut [f32]) {
        let d = self.spec.dim;
        debug_assert_eq!(self.spec.out_dim, 1);
        grad.par_chunks_mut(CHUNK * d).zip(x.par_chunks(CHUNK * d)).zip(t.par_chunks(CHUNK)).for_each(
            |((gb, xb), tb)| {
                let r = tb.len();
                with_scratch(self.cache_len(r) + self.input_grad_len(r), |buf| {
                    let (mut c, rest) = self.split_cache(r, buf);
                    let ([u, delta], _) = carve(
                        rest,
                        [r * d + self.spec.depth * r * self.spec.hidden, self.spec.depth * r * self.spec.hidden],
                    );
                    self.forward_block(xb, tb, &mut c);
                    self.input_grad_block(&c, u, delta);
                    gb.copy_from_slice(&u[..r * d]);
                })
            },
        );
    }

    /// Parameter gradient of one block's loss through the input gradient, from
    /// `ubar0` = ∂loss/∂(∇ₓf) (r × d), accumulated into `g`.
    #[allow(clippy::too_many_arguments)]
    fn double_backward_block(
        &self,
        x: &[f32],
        c: &Cache,
        u: &[f32],
        delta: &[f32],
        ubar0: &[f32],
        g: &mut GradView,
        work: &mut [f32],
    ) {
        let (r, hd, d, td, depth) = (c.r, self.spec.hidden, self.spec.dim, self.spec.time_dim, self.spec.depth);
        let rh = r * hd;
        let ([b1, b2, zbar, hbar, ebar, colsum], _) = carve(work, [rh, rh, depth * rh, rh, rh, hd]);
        let uh = &u[r * d..];
        // adjoint of the reverse chain u_l = δ_l W_l, δ_l = u_{l+1} ⊙ SiLU'(z_l), u_L = w_out
        let (mut ubar, mut dbar) = (b1, b2);
        for l in 0..depth {
            let fan_in = self.fan_in(l);
            let ub: &[f32] = if l == 0 { ubar0 } else { ubar };
            let wl = self.w.get(self.ix.layer_w[l]);
            gemm(r, hd, fan_in, dbar, hd, false, Mat::n(ub, fan_in), Mat::t(wl, fan_in));
            gemm(
                hd,
                fan_in,
                r,
                g.get(self.ix.layer_w[l]),
                fan_in,
                true,
                Mat::t(&delta[l * rh..(l + 1) * rh], hd),
                Mat::n(ub, fan_in),
            );
            let (z, s) = (&c.z[l * rh..(l + 1) * rh], &c.s[l * rh..(l + 1) * rh]);
            silu_second(&mut zbar[l * rh..(l + 1) * rh], dbar, &uh[l * rh..(l + 1) * rh], z, s);
            silu_backward(dbar, z, s);
            std::mem::swap(&mut ubar, &mut dbar);
        }
        add_col_sums(g.get(self.ix.out_w), ubar);
        // adjoint of the forward chain (the loss depends on h_L only through the u's)
        ebar.fill(0.0);
        for l in (0..depth).rev() {
            let fan_in = self.fan_in(l);
            let zt = &mut zbar[l * rh..(l + 1) * rh];
            if l + 1 < depth {
                add_silu_backward(zt, hbar, &c.z[l * rh..(l + 1) * rh], &c.s[l * rh..(l + 1) * rh]);
            }
            let input: &[f32] = if l == 0 { x } else { &c.h[(l - 1) * rh..l * rh] };
            gemm(hd, fan_in, r, g.get(self.ix.layer_w[l]), fan_in, true, Mat::t(zt, hd), Mat::n(input, fan_in));
            colsum.fill(0.0);
            add_col_sums(colsum, zt);
            add_assign(g.get(self.ix.layer_b[l]), colsum);
            add_assign(g.get(self.ix.tproj_b[l]), colsum);
            gemm(hd, hd, r, g.get(self.ix.tproj_w[l]), hd, true, Mat::t(zt, hd), Mat::n(c.e, hd));
            gemm(r, hd, hd, ebar, hd, true, Mat::n(zt, hd), Mat::n(self.w.get(self.ix.tproj_w[l]), hd));
            if l > 0 {
                gemm(r, hd, hd, hbar, hd, false, Mat::n(zt, hd), Mat::n(self.w.get(self.ix.layer_w[l]), fan_in));
            }
        }
        silu_backward(ebar, c.a0, c.sa0);
        gemm(hd, td, r, g.get(self.ix.time_w), td, true, Mat::t(ebar, hd), Mat::n(c.emb, td));
        add_col_sums(g.get(self.ix.time_b), ebar);
    }

    /// Loss of the input gradient and its flat parameter gradient: `upstream(block_rows, g_block,
    /// gbar_block) -> block loss` gets ∇ₓf of the block's rows (r × d), writes ∂loss/∂(∇ₓf) into
    /// gbar and returns the block's share of the loss. Blocks as in [`Self::loss_and_grad`].
    pub fn input_grad_loss_and_grad<F>(&self, x: &[f32], t: &[f32], upstream: F, grad: &mut [f32]) -> f64
    where
        F: Fn(std::ops::Range<usize>, &[f32], &mut [f32]) -> f64 + Sync,
    {
        let (n, d, hd, depth) = (t.len(), self.spec.dim, self.spec.hidden, self.spec.depth);
        debug_assert_eq!(self.spec.out_dim, 1);
        let blocks = n.div_ceil(CHUNK);
        let p = self.layout.total;
        with_partial(blocks * p, |partial| {
            let losses: Vec<f64> = partial
                .par_chunks_mut(p)
                .enumerate()
                .map(|(b, gp)| {
                    let (lo, hi) = (b * CHUNK, ((b + 1) * CHUNK).min(n));
                    let r = hi - lo;
                    let xb = &x[lo * d..hi * d];
                    let rh = r * hd;
                    let work = 4 * rh + depth * rh + hd;
                    with_scratch(self.cache_len(r) + self.input_grad_len(r) + r * d + work, |buf| {
                        let (mut c, rest) = self.split_cache(r, buf);
                        let ([u, delta, ubar0, wk], _) = carve(rest, [r * d + depth * rh, depth * rh, r * d, work]);
                        self.forward_block(xb, &t[lo..hi], &mut c);
                        self.input_grad_block(&c, u, delta);
                        let loss = upstream(lo..hi, &u[..r * d], ubar0);
                        let mut gv = GradView { g: gp, layout: &self.layout };
                        self.double_backward_block(xb, &c, u, delta, ubar0, &mut gv, wk);
                        loss
                    })
                })
                .collect();
            reduce_blocks(partial, grad);
            losses.iter().sum()
        })
    }
}

#[inline(always)]
fn silu_second_body(zbar: &mut [f32], dbar: &[f32], u: &[f32], z: &[f32], s: &[f32]) {
    for ((((zb, &db), &u), &z), &s) in zbar.iter_mut().zip(dbar).zip(u).zip(z).zip(s) {
        *zb = db * u * (s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s)));
    }
}

simd_dispatch!(
    /// zbar = dbar ⊙ u ⊙ SiLU''(z), SiLU'' = σ(1 − σ)(2 + z(1 − 2σ)), from the saved σ.
    fn silu_second(zbar: &mut [f32], dbar: &[f32], u: &[f32], z: &[f32], s: &[f32]) => silu_second_body
);

#[inline(always)]
fn add_silu_backward_body(acc: &mut [f32], g: &[f32], z: &[f32], s: &[f32]) {
    for (((a, &g), &z), &s) in acc.iter_mut().zip(g).zip(z).zip(s) {
        *a += g * (s * (1.0 + z * (1.0 - s)));
    }
}

simd_dispatch!(
    /// acc += g ⊙ SiLU'(z).
    fn add_silu_backward(acc: &mut [f32], g: &[f32], z: &[f32], s: &[f32]) => add_silu_backward_body
);

/// grad = Σ_b partial_b, in block order.
fn reduce_blocks(partial: &[f32], grad: &mut [f32]) {
    let p = grad.len();
    grad.copy_from_slice(&partial[..p]);
    for b in partial.chunks_exact(p).skip(1) {
        add_assign(grad, b);
    }
}

#[inline(always)]
fn embed_body(t: &[f32], freqs: &[f32], emb: &mut [f32]) {
    let (half, td) = (freqs.len(), 2 * freqs.len());
    for (row, &ti) in emb.chunks_exact_mut(td).zip(t) {
        let tt = ti * 1000.0;
        let (sin, cos) = row.split_at_mut(half);
        // the frequencies are at most 1: beyond the polynomial's range (|t| > 8.192), libm
        if tt.abs() <= SINCOS_MAX {
            for ((s, c), &f) in sin.iter_mut().zip(cos.iter_mut()).zip(freqs) {
                (*s, *c) = sincos_f32(tt * f);
            }
        } else {
            for ((s, c), &f) in sin.iter_mut().zip(cos.iter_mut()).zip(freqs) {
                (*s, *c) = ((tt * f).sin(), (tt * f).cos());
            }
        }
    }
}

simd_dispatch!(
    /// emb rows [sin(1000 t f_j), cos(1000 t f_j)] (as `layers::time_embedding`).
    pub(crate) fn embed_rows(t: &[f32], freqs: &[f32], emb: &mut [f32]) => embed_body
);

#[inline(always)]
fn silu_out_body(z: &[f32], h: &mut [f32], s: &mut [f32]) {
    for ((&z, h), s) in z.iter().zip(h.iter_mut()).zip(s.iter_mut()) {
        let q = sigmoid_f32(z);
        *s = q;
        *h = z * q;
    }
}

simd_dispatch!(
    /// h = SiLU(z), s = σ(z).
    fn silu_out(z: &[f32], h: &mut [f32], s: &mut [f32]) => silu_out_body
);

/// The DSM loss mean((y − ε)²) over all n·out entries, and its gradient, for [`MlpKernel::loss_and_grad`].
pub fn dsm_upstream(
    eps: &[f32],
    n_total: usize,
    od: usize,
) -> impl Fn(std::ops::Range<usize>, &[f32], &mut [f32]) -> f64 + Sync + '_ {
    let scale = 2.0 / (n_total * od) as f32;
    let inv = 1.0 / (n_total * od) as f64;
    move |rows, y, dy| {
        let e = &eps[rows.start * od..rows.end * od];
        let mut s = 0f64;
        for ((dy, &y), &e) in dy.iter_mut().zip(y).zip(e) {
            let diff = y - e;
            s += (diff as f64) * (diff as f64);
            *dy = scale * diff;
        }
        s * inv
    }
}

/// Checks the shapes of a batch for the kernels.
pub fn check_batch(spec: &MlpSpec, x: &[f32], t: &[f32]) -> Result<()> {
    ensure!(x.len() == t.len() * spec.dim, "mlp: {} inputs for {} rows of dimension {}", x.len(), t.len(), spec.dim);
    Ok(())
}
