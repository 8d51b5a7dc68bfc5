//! The quantised (uint8) TFLite graph run on the crate's own integer kernels
//! ([`crate::qkernels`]): the MobileNet extractor's engine.
//!
//! Why this engine: LiteRT, the reference runtime, runs the model with XNNPACK's uint8 kernels:
//! exact int32 accumulators, re-scaled by one `f32` product per output. tract's integer kernels
//! re-scale in fixed point (87 % of the values agree with LiteRT) and are ~15× slower; its `f32`
//! kernels on integer units (the previous engine, [`crate::dequant`], kept as
//! `MobileNetMode::Float`) reproduce XNNPACK bit for bit but reach only half of LiteRT's speed,
//! doing `f32` work where XNNPACK does byte work and re-scaling in separate passes. No maintained
//! Rust crate has uint8 convolutions with XNNPACK's requantisation (see [`crate::qkernels`]), so
//! the graph is run here on byte kernels (AVX-512 VNNI where the processor has it) with the
//! requantisation fused into each kernel, images batched through each layer, batches in parallel:
//! the same bits as the `f32` graph (tested), at LiteRT's speed or better.
//!
//! tract still reads the file: the graph it declutters must be a chain of quantised `Conv`
//! (full or depthwise), 1×1 `EinSum` (pointwise convolutions), element-wise `Max`/`Min` with
//! constants (TFLite's fused ReLU/ReLU6: folded into the previous layer's saturation), and a
//! final average `SumPool`; anything else, or per-channel quantisation, is refused with the
//! node's name, and the caller falls back to the tract engine.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{bail, ensure, TractErrorContext};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::cnn::{Conv, PaddingSpec, PoolSpec, SumPool};
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::source::TypedSource;

use crate::qkernels::{
    avg_pool, depthwise, gemm, im2col, AvgPool, Depthwise, PackedGemm, Requant, Rows, ShapeError, Window,
};

/// Tract's error type: building the engine reads tract graphs.
type Result<T> = TractResult<T>;

/// One layer of the chain.
#[derive(Clone, Debug)]
enum Layer {
    /// A full convolution: im2col rows of one image at a time, then the matrix product.
    Conv {
        win: Window,
        gemm: PackedGemm,
        zx: u8,
    },
    /// A 1×1 convolution: the activations are the matrix product's rows as they are stored.
    Pointwise {
        gemm: PackedGemm,
    },
    Depthwise(Depthwise),
    AvgPool(AvgPool),
}

/// Height, width, channels of one image's activations (HWC, bytes).
type Hwc = (usize, usize, usize);

/// A compiled chain (see the module docs) with its input and output geometry.
#[derive(Clone, Debug)]
pub(crate) struct QNet {
    layers: Vec<(Layer, Hwc)>,
    input: Hwc,
    /// Largest activation and im2col buffer of one image, in bytes.
    max_act: usize,
    max_cols: usize,
    /// The output's zero point and scale: features are `(q − zp)·scale`.
    out_zp: i32,
    out_scale: f32,
}

/// Per-thread buffers, reused across batches.
#[derive(Default)]
pub(crate) struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
    cols: Vec<u8>,
    sums: Vec<i32>,
    acc: Vec<i32>,
}

impl QNet {
    /// Values per input image (`h·w·c` bytes, HWC).
    pub fn input_len(&self) -> usize {
        self.input.0 * self.input.1 * self.input.2
    }

    /// The input's `(h, w, c)`.
    pub fn input_shape(&self) -> Hwc {
        self.input
    }

    /// Values per output image.
    pub fn output_len(&self) -> usize {
        let (h, w, c) = self.layers.last().map_or(self.input, |l| l.1);
        h * w * c
    }

    /// Runs `n` images (`input`: `n` × [`input_len`](Self::input_len) bytes) into `out`
    /// (`n` × [`output_len`](Self::output_len) features).
    pub fn run(&self, input: &[u8], n: usize, s: &mut Scratch, out: &mut [f32]) -> std::result::Result<(), ShapeError> {
        if input.len() != n * self.input_len() || out.len() != n * self.output_len() {
            return Err(ShapeError("quantised network input/output"));
        }
        s.a.clear();
        s.a.extend_from_slice(input);
        s.b.resize(n * self.max_act, 0);
        s.cols.resize(n * self.max_cols, 0);
        let mut shape = self.input;
        for (layer, out_shape) in &self.layers {
            let (h, w, c) = *out_shape;
            s.b.resize(n * h * w * c, 0);
            self.layer(layer, shape, n, s)?;
            std::mem::swap(&mut s.a, &mut s.b);
            shape = *out_shape;
        }
        for (f, &q) in out.iter_mut().zip(&s.a) {
            *f = (i32::from(q) - self.out_zp) as f32 * self.out_scale;
        }
        Ok(())
    }

    /// Runs one layer from `s.a` (`n` images of `shape`) into `s.b`.
    fn layer(&self, layer: &Layer, shape: Hwc, n: usize, s: &mut Scratch) -> std::result::Result<(), ShapeError> {
        let in_len = shape.0 * shape.1 * shape.2;
        match layer {
            Layer::Conv { win, gemm: g, zx } => {
                let rows = win.ho * win.wo;
                let cols = &mut s.cols[..n * rows * g.kp];
                for (x, c) in s.a.chunks_exact(in_len).zip(cols.chunks_exact_mut(rows * g.kp)) {
                    im2col(win, x, *zx, g.kp, c)?;
                }
                gemm(Rows { a: cols, lda: g.kp, rows: n * rows }, g, &mut s.sums, &mut s.b, g.n)
            }
            Layer::Pointwise { gemm: g } => {
                let rows = n * shape.0 * shape.1;
                gemm(Rows { a: &s.a, lda: g.k, rows }, g, &mut s.sums, &mut s.b, g.n)
            }
            Layer::Depthwise(d) => {
                let out_len = d.win.out_len();
                for (x, o) in s.a.chunks_exact(in_len).zip(s.b.chunks_exact_mut(out_len)) {
                    depthwise(d, x, o, &mut s.acc)?;
                }
                Ok(())
            }
            Layer::AvgPool(p) => {
                let out_len = p.win.out_len();
                for (x, o) in s.a.chunks_exact(in_len).zip(s.b.chunks_exact_mut(out_len)) {
                    avg_pool(p, x, o)?;
                }
                Ok(())
            }
        }
    }

    /// Compiles a decluttered quantised TFLite graph (see the module docs).
    pub fn from_model(model: &TypedModel) -> Result<QNet> {
        let inputs = model.input_outlets()?;
        let outputs = model.output_outlets()?;
        ensure!(inputs.len() == 1 && outputs.len() == 1, "one input and one output expected");
        let src = model.node(inputs[0].node);
        ensure!(src.op_is::<TypedSource>(), "the input is not a source");
        let in_fact = model.outlet_fact(inputs[0])?;
        let in_shape = concrete(&in_fact.shape)?;
        ensure!(in_shape.len() == 4 && in_shape[0] == 1, "input shape {in_shape:?} is not 1×H×W×C");
        let input = (in_shape[1], in_shape[2], in_shape[3]);
        let mut b = Builder {
            net: QNet { layers: vec![], input, max_act: 0, max_cols: 0, out_zp: 0, out_scale: 1.0 },
            dt: in_fact.datum_type,
            shape: input,
            at: inputs[0],
        };
        b.net.max_act = input.0 * input.1 * input.2;
        for id in model.eval_order()? {
            let node = model.node(id);
            if node.op_is::<Const>() || id == src.id {
                continue;
            }
            b.node(model, node).with_context(|| format!("node {} ({})", node.name, node.op.name()))?;
        }
        ensure!(b.at == outputs[0], "the output is not the end of the chain");
        ensure!(
            b.dt.unquantized() == DatumType::U8 && b.dt.is_quantized(),
            "output type {:?} is not quantised uint8",
            b.dt
        );
        let (zp, scale) = b.dt.zp_scale();
        b.net.out_zp = zp;
        b.net.out_scale = scale;
        Ok(b.net)
    }
}

/// A shape with known dimensions.
fn concrete(shape: &ShapeFact) -> Result<Vec<usize>> {
    Ok(shape.as_concrete().context("shape is not concrete")?.to_vec())
}

/// A scalar constant as `f32`; per-channel (vector) parameters are refused.
fn scalar(model: &TypedModel, outlet: OutletId) -> Result<f32> {
    let k = model.outlet_fact(outlet)?.konst.clone().context("expected a constant")?;
    ensure!(k.len() == 1, "per-channel quantisation parameters are not supported (shape {:?})", k.shape());
    let f = k.cast_to::<f32>()?;
    Ok(*f.to_plain_array_view::<f32>()?.iter().next().context("empty constant")?)
}

/// The raw stored values of a constant (quantised or not) as `i32`.
fn raw_i32(t: &Tensor) -> Result<Vec<i32>> {
    let mut raw = t.clone();
    if raw.datum_type().is_quantized() {
        let plain = raw.datum_type().unquantized();
        // SAFETY: a quantised type and its unquantised counterpart share the storage type.
        unsafe { raw.set_datum_type(plain) };
    }
    Ok(raw.cast_to::<i32>()?.to_plain_array_view::<i32>()?.iter().copied().collect())
}

/// The parameters every quantised 9-input op carries: weights (raw bytes), int32 bias, input,
/// weight and output zero points, and the requantisation scale `s_x·s_w/s_out` (in `f32`, in
/// that order, as the `f32` graph computes it).
struct QParams {
    weights: Tensor,
    bias: Vec<i32>,
    zx: i32,
    zw: i32,
    scale: f32,
}

fn qparams(model: &TypedModel, node: &TypedNode) -> Result<QParams> {
    ensure!(node.inputs.len() == 9, "a quantised op without its 9 inputs");
    let weights = (*model.outlet_fact(node.inputs[1])?.konst.clone().context("weights are not constant")?).clone();
    ensure!(weights.datum_type().unquantized() == DatumType::U8, "weights of type {:?}", weights.datum_type());
    let bias_t = model.outlet_fact(node.inputs[2])?.konst.clone().context("bias is not constant")?;
    let out_scale = node.outputs[0].fact.datum_type.zp_scale().1;
    let (x_scale, w_scale) = (scalar(model, node.inputs[4])?, scalar(model, node.inputs[6])?);
    Ok(QParams {
        weights,
        bias: raw_i32(&bias_t)?,
        zx: scalar(model, node.inputs[3])? as i32,
        zw: scalar(model, node.inputs[5])? as i32,
        scale: x_scale * w_scale / out_scale,
    })
}

/// Walks the chain node by node.
struct Builder {
    net: QNet,
    /// Type (zero point, scale) and shape of the current activations, and their outlet.
    dt: DatumType,
    shape: Hwc,
    at: OutletId,
}

impl Builder {
    fn node(&mut self, model: &TypedModel, node: &TypedNode) -> Result<()> {
        ensure!(
            node.inputs.first() == Some(&self.at),
            "not a chain: input {:?}, expected {:?}",
            node.inputs.first(),
            self.at
        );
        ensure!(node.outputs.len() == 1, "{} outputs", node.outputs.len());
        let out_dt = node.outputs[0].fact.datum_type;
        if let Some(op) = node.op_as::<TypedBinOp>() {
            self.clamp(model, node, op)?;
        } else if let Some(conv) = node.op_as::<Conv>() {
            self.conv(model, node, conv)?;
        } else if let Some(es) = node.op_as::<EinSum>() {
            self.einsum(model, node, es)?;
        } else if let Some(pool) = node.op_as::<SumPool>() {
            self.pool(node, pool)?;
        } else {
            bail!("op not supported by the integer engine");
        }
        self.dt = out_dt;
        self.at = OutletId::new(node.id, 0);
        Ok(())
    }

    /// The input zero point this op declares must be the one its activations are stored with.
    fn input_zp(&self, zx: i32) -> Result<()> {
        ensure!((0..=255).contains(&zx), "input zero point {zx} outside the byte range");
        ensure!(
            self.dt.is_quantized() && self.dt.unquantized() == DatumType::U8,
            "input type {:?} is not quantised uint8",
            self.dt
        );
        ensure!(self.dt.zp_scale().0 == zx, "input zero point {zx} differs from the stored {}", self.dt.zp_scale().0);
        Ok(())
    }

    /// The requantisation to this node's output type, scaled by `scale` (`None`: not scaled).
    fn requant(node: &TypedNode, scale: f32) -> Result<Requant> {
        let dt = node.outputs[0].fact.datum_type;
        ensure!(dt.is_quantized() && dt.unquantized() == DatumType::U8, "output type {dt:?} is not quantised uint8");
        let zo = dt.zp_scale().0;
        ensure!((0..=255).contains(&zo), "output zero point {zo} outside the byte range");
        Ok(Requant { scale, lo: (0 - zo) as f32, hi: (255 - zo) as f32, zo })
    }

    fn push(&mut self, layer: Layer, out: Hwc, cols: usize) {
        self.net.max_act = self.net.max_act.max(out.0 * out.1 * out.2);
        self.net.max_cols = self.net.max_cols.max(cols);
        self.net.layers.push((layer, out));
        self.shape = out;
    }

    /// The geometry of a convolution or pool on the current activations.
    fn window(&self, spec: &PoolSpec, c_out: usize) -> Result<Window> {
        ensure!(spec.kernel_shape.len() == 2, "not a 2-D window");
        let dil = spec.dilations.clone().unwrap_or_else(|| tvec![1, 1]);
        let strides = spec.strides.clone().unwrap_or_else(|| tvec![1, 1]);
        ensure!(dil.iter().all(|&d| d == 1), "dilated windows are not supported");
        let (h, w, c) = self.shape;
        let ks = &spec.kernel_shape;
        let dims: Vec<_> = [h, w]
            .iter()
            .enumerate()
            .map(|(ax, &len)| PaddingSpec::compute_one(&spec.padding, ax, &len, ks[ax], 1, strides[ax]))
            .collect();
        let win = Window {
            h,
            w,
            c,
            kh: ks[0],
            kw: ks[1],
            stride: (strides[0], strides[1]),
            pad: (dims[0].pad_before, dims[1].pad_before),
            ho: dims[0].convoluted,
            wo: dims[1].convoluted,
        };
        ensure!(c == spec.input_channels && c_out == spec.output_channels, "channel counts disagree");
        Ok(win)
    }

    fn conv(&mut self, model: &TypedModel, node: &TypedNode, conv: &Conv) -> Result<()> {
        ensure!(conv.q_params.is_some(), "a float convolution");
        let q = qparams(model, node)?;
        self.input_zp(q.zx)?;
        let c_out = conv.pool_spec.output_channels;
        let win = self.window(&conv.pool_spec, c_out)?;
        // [group, out per group, in per group, kh·kw]
        let g = conv.kernel_fmt.kernel_as_group_o_i_hw(&q.weights, conv.group)?;
        let gw = raw_i32(&g)?;
        let taps = win.kh * win.kw;
        let rq = Self::requant(node, q.scale)?;
        if conv.group == win.c && c_out == win.c {
            ensure!(g.shape() == [win.c, 1, 1, taps], "depthwise kernel shape {:?}", g.shape());
            let mut w = vec![0i32; taps * win.c];
            for ch in 0..win.c {
                for t in 0..taps {
                    w[t * win.c + ch] = gw[ch * taps + t] - q.zw;
                }
            }
            let d = Depthwise { win, taps: w, bias: q.bias, zx: q.zx, rq };
            self.push(Layer::Depthwise(d), (win.ho, win.wo, win.c), 0);
            return Ok(());
        }
        ensure!(conv.group == 1, "grouped convolutions are not supported");
        ensure!(g.shape() == [1, c_out, win.c, taps], "kernel shape {:?}", g.shape());
        // rows of the matrix product in im2col order: (ky, kx, channel)
        let k = taps * win.c;
        let mut w = vec![0u8; c_out * k];
        for o in 0..c_out {
            for i in 0..win.c {
                for t in 0..taps {
                    w[o * k + t * win.c + i] = gw[(o * win.c + i) * taps + t] as u8;
                }
            }
        }
        let gemm = PackedGemm::new(&w, c_out, k, &q.bias, q.zx, q.zw, rq).context("cannot pack the weights")?;
        let cols = win.ho * win.wo * gemm.kp;
        self.push(Layer::Conv { win, gemm, zx: q.zx as u8 }, (win.ho, win.wo, c_out), cols);
        Ok(())
    }

    /// A pointwise (1×1) convolution as tract declutters it: `…I,OI,O,…->…O`.
    fn einsum(&mut self, model: &TypedModel, node: &TypedNode, es: &EinSum) -> Result<()> {
        ensure!(es.q_params.is_some(), "a float EinSum");
        let (ins, outs) = es.axes.to_strs();
        let ok = ins.len() == 9
            && ins[0].ends_with('I')
            && ins[1] == "OI"
            && ins[2] == "O"
            && outs.len() == 1
            && outs[0].ends_with('O')
            && ins[0].trim_start_matches('N') == outs[0].trim_start_matches('N').replace('O', "I");
        ensure!(ok, "EinSum {} is not a 1×1 convolution", es.axes);
        let q = qparams(model, node)?;
        self.input_zp(q.zx)?;
        let (h, w, c) = self.shape;
        let [n_out, k] = *q.weights.shape() else { bail!("weights of shape {:?}", q.weights.shape()) };
        ensure!(k == c, "{k} inputs for {c} channels");
        let out_shape = concrete(&node.outputs[0].fact.shape)?;
        ensure!(out_shape.iter().product::<usize>() == h * w * n_out, "output shape {out_shape:?}");
        let bytes: Vec<u8> = raw_i32(&q.weights)?.into_iter().map(|v| v as u8).collect();
        let rq = Self::requant(node, q.scale)?;
        let gemm = PackedGemm::new(&bytes, n_out, k, &q.bias, q.zx, q.zw, rq).context("cannot pack the weights")?;
        if gemm.kp != k {
            // the rows are read as stored: a channel count that is not a multiple of 4 goes
            // through im2col (a 1×1 window) instead
            let win = Window { h, w, c, kh: 1, kw: 1, stride: (1, 1), pad: (0, 0), ho: h, wo: w };
            let cols = h * w * gemm.kp;
            self.push(Layer::Conv { win, gemm, zx: q.zx as u8 }, (h, w, n_out), cols);
        } else {
            self.push(Layer::Pointwise { gemm }, (h, w, n_out), 0);
        }
        Ok(())
    }

    /// Element-wise `Max`/`Min` with a constant integer (TFLite's fused activations): narrows the
    /// previous layer's saturation bounds.
    fn clamp(&mut self, model: &TypedModel, node: &TypedNode, op: &TypedBinOp) -> Result<()> {
        ensure!(node.inputs.len() == 2, "a binary op without two inputs");
        let k = model.outlet_fact(node.inputs[1])?.konst.clone().context("the second operand is not a constant")?;
        ensure!(k.len() == 1, "a non-scalar operand");
        ensure!(k.datum_type() == self.dt, "the constant's type {:?} differs from the activations'", k.datum_type());
        let v = (raw_i32(&k)?[0] - self.dt.zp_scale().0) as f32;
        let rq = match self.net.layers.last_mut() {
            Some((Layer::Conv { gemm, .. } | Layer::Pointwise { gemm }, _)) => &mut gemm.rq,
            Some((Layer::Depthwise(d), _)) => &mut d.rq,
            Some((Layer::AvgPool(p), _)) => &mut p.rq,
            None => bail!("a clamp of the input"),
        };
        match op.0.name() {
            "Max" => rq.lo = rq.lo.max(v),
            "Min" => rq.hi = rq.hi.min(v),
            other => bail!("element-wise {other} is not supported"),
        }
        ensure!(rq.lo <= rq.hi, "empty saturation range");
        Ok(())
    }

    fn pool(&mut self, node: &TypedNode, pool: &SumPool) -> Result<()> {
        ensure!(pool.normalize && !pool.count_include_pad, "only averages over the taps inside the image");
        let c = self.shape.2;
        let win = self.window(&pool.pool_spec, c)?;
        let zx = self.dt.zp_scale().0;
        self.input_zp(zx)?;
        let (in_scale, out_scale) = (self.dt.zp_scale().1, node.outputs[0].fact.datum_type.zp_scale().1);
        let rq = Self::requant(node, 1.0)?;
        let rescale = (in_scale != out_scale).then(|| in_scale / out_scale);
        self.push(Layer::AvgPool(AvgPool { win, zx, rescale, rq }), (win.ho, win.wo, c), 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::math::max;

    /// Graphs outside the handled chain are refused with a reason, never a panic (the caller
    /// then falls back to the tract engine).
    #[test]
    fn refuses_graphs_it_does_not_handle() {
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([1, 4, 4, 3])).unwrap();
        m.select_output_outlets(&[x]).unwrap();
        let e = format!("{:#}", QNet::from_model(&m).unwrap_err());
        assert!(e.contains("not quantised uint8"), "{e}");

        let c = m.add_const("c", tensor0(0f32).broadcast_into_rank(4).unwrap()).unwrap();
        let y = m.wire_node("relu", max(), &[x, c]).unwrap()[0];
        m.select_output_outlets(&[y]).unwrap();
        let e = format!("{:#}", QNet::from_model(&m).unwrap_err());
        assert!(e.contains("relu"), "{e}");
    }
}
