//! Rewrites a quantised (uint8) TFLite graph, as decluttered by tract, into an `f32` graph on
//! *integer units* that computes what LiteRT's CPU engine (XNNPACK) computes.
//!
//! Why: tract's integer matrix kernels on x86 are an order of magnitude slower than its `f32`
//! ones, and they re-scale in fixed point as TFLite's reference kernels do, while LiteRT runs
//! XNNPACK, which re-scales in `f32`: the two disagree by an output step for ~13 % of
//! MobileNet-v1's outputs. Here every activation is its stored byte minus its zero point (an
//! integer, as `f32`), weights are `q − zero_point`, biases their int32 values: a layer's
//! accumulator is the integer graph's int32 one, exact in `f32` while below 2²⁴ (whatever order
//! tract sums in). It is then re-quantised as XNNPACK does (see [`wire_requantize`]): multiplied
//! by the `f32` scale `input_scale·weight_scale/output_scale`, rounded half to even, saturated to
//! the storage range (`[0 − zp, 255 − zp]` for uint8; this is also where TFLite puts a fused
//! ReLU/ReLU6). The graph's quantised outputs are turned back into real values, `(q − zp)·scale`.
//!
//! History: the first rewrite worked in real units with dequantised weights (`(q − zp)·scale`,
//! output scale folded in): each product was then rounded, flips at rounding boundaries
//! propagated, and only 88 % of the outputs were within one output step of LiteRT's.
//!
//! Handled ops: quantised `Conv` and `EinSum` (the 9-input forms: data, weights, bias, then
//! zero point / scale of the input, weights and output), quantised `SumPool` (average pooling, re-quantised), constants (quantised ones in
//! integer units), and any other op that works on `f32` unchanged and keeps values on the grid
//! (ReLU6 as Max/Min with integer-unit constants, reshapes). Only scalar zero points and scales are
//! supported (per-tensor quantisation); per-channel ones are an error.

use std::collections::HashMap;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{bail, ensure, TractErrorContext};
use tract_onnx::tract_core::ops::change_axes::InOut;
use tract_onnx::tract_core::ops::cnn::Conv;
use tract_onnx::tract_core::ops::cnn::SumPool;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::math::{add, max, min, mul};
use tract_onnx::tract_core::ops::source::TypedSource;

/// Tract's error type (an `anyhow::Error`): this module only rewrites tract graphs.
type Result<T> = TractResult<T>;

/// The constant value feeding `outlet`, or an error.
fn konst(model: &TypedModel, outlet: OutletId) -> Result<Arc<Tensor>> {
    model.outlet_fact(outlet)?.konst.clone().with_context(|| format!("expected a constant at {outlet:?}"))
}

/// A scalar (or single-element) constant as `f32`.
fn scalar(model: &TypedModel, outlet: OutletId) -> Result<f32> {
    let t = konst(model, outlet)?;
    ensure!(t.len() == 1, "per-channel quantisation parameters are not supported (shape {:?})", t.shape());
    let f = t.cast_to::<f32>()?;
    let v = f.to_plain_array_view::<f32>()?;
    Ok(*v.iter().next().expect("one element"))
}

/// Raw integer values of a (possibly quantised) tensor, as `f32`.
fn raw_values(t: &Tensor) -> Result<Tensor> {
    let mut raw = t.clone();
    if raw.datum_type().is_quantized() {
        let plain = raw.datum_type().unquantized();
        // SAFETY: a quantised type and its unquantised counterpart share the storage type.
        unsafe { raw.set_datum_type(plain) };
    }
    Ok(raw.cast_to::<f32>()?.into_owned())
}

/// `q − zp` (integer units) of a quantised weight tensor, as `f32`.
fn integer_units(t: &Tensor, zp: f32) -> Result<Tensor> {
    let mut f = raw_values(t)?;
    f.to_plain_array_view_mut::<f32>()?.mapv_inplace(|q| q - zp);
    Ok(f)
}

/// Integer range `[min, max]` of a quantised type's storage.
fn storage_range(dt: DatumType) -> Result<(f32, f32)> {
    Ok(match dt.unquantized() {
        DatumType::U8 => (0.0, 255.0),
        DatumType::I8 => (-128.0, 127.0),
        other => bail!("quantised activations stored as {other:?} are not supported"),
    })
}

/// A constant of `value` with `rank` unit axes (binary ops need equal ranks).
fn unit_const(new: &mut TypedModel, name: String, value: f32, rank: usize) -> Result<OutletId> {
    let t = tensor0(value).broadcast_into_rank(rank)?;
    new.add_const(name, t)
}

/// `1.5·2²³`: for `|x| ≤ 2²²`, `(x + MAGIC) − MAGIC` in `f32` is `x` rounded to the nearest
/// integer, ties to even (the sum's ulp is 1). Two scalar adds, unlike a `Round` op, join the
/// element-wise chain tract fuses after each layer, which saves one pass over the activations.
const ROUNDING_MAGIC: f32 = 12_582_912.0;

/// Re-quantisation of an accumulator the way XNNPACK (LiteRT's CPU engine) stores it in `dt`
/// (zero point `zp`): `clamp(round(acc·m), qmin − zp, qmax − zp)` in integer units (the stored
/// byte minus its zero point), `m` the requantisation scale in `f32` as XNNPACK computes it
/// (`input_scale·weight_scale/output_scale`), rounding half to even as XNNPACK's `lrintf` /
/// magic-number rounding does. The clamp is the saturation to the storage range (how TFLite
/// fuses ReLU/ReLU6 into the output range); it commutes with the rounding because its bounds are
/// integers, and bounds `|q| ≤ 2²²` as the rounding trick needs. `m = None`: already scaled.
fn wire_requantize(
    new: &mut TypedModel,
    name: &str,
    outlet: OutletId,
    dt: DatumType,
    m: Option<f32>,
) -> Result<OutletId> {
    let zp = dt.zp_scale().0;
    let (qmin, qmax) = storage_range(dt)?;
    let rank = new.outlet_fact(outlet)?.rank();
    let mut x = outlet;
    let mut step = |new: &mut TypedModel, what: &str, op: Box<dyn TypedOp>, value: f32| {
        let c = unit_const(new, format!("{name}.requant.{what}_const"), value, rank)?;
        x = new.wire_node(format!("{name}.requant.{what}"), op, &[x, c])?[0];
        Ok::<_, TractError>(())
    };
    if let Some(m) = m {
        step(new, "to_grid", Box::new(mul()), m)?;
    }
    step(new, "lo", Box::new(max()), qmin - zp as f32)?;
    step(new, "hi", Box::new(min()), qmax - zp as f32)?;
    step(new, "round_up", Box::new(add()), ROUNDING_MAGIC)?;
    step(new, "round_down", Box::new(add()), -ROUNDING_MAGIC)?;
    Ok(x)
}

/// The float version of `model` (see the module docs). Its input is the dequantised input,
/// `(byte − zero_point)·scale`, as `f32` with the same shape.
pub(crate) fn dequantize_model(model: &TypedModel) -> Result<TypedModel> {
    let mut new = TypedModel::default();
    let mut map: HashMap<OutletId, OutletId> = HashMap::new();
    for id in model.eval_order()? {
        let wires: TVec<OutletId> = model
            .node(id)
            .inputs
            .iter()
            .map(|o| map.get(o).copied().context("input not translated yet"))
            .collect::<Result<_>>()?;
        let outs = translate_node(model, &mut new, model.node(id), &wires)?;
        for (i, o) in outs.iter().enumerate() {
            map.insert(OutletId::new(id, i), *o);
        }
    }
    let mut outputs = Vec::new();
    for (k, o) in model.output_outlets()?.iter().enumerate() {
        let dt = model.outlet_fact(*o)?.datum_type;
        let mut y = map[o];
        if dt.is_quantized() {
            // integer units to real values: `(q − zp)·scale`
            let rank = new.outlet_fact(y)?.rank();
            let s = unit_const(&mut new, format!("output{k}.scale_const"), dt.zp_scale().1, rank)?;
            y = new.wire_node(format!("output{k}.to_real"), mul(), &[y, s])?[0];
        }
        outputs.push(y);
    }
    new.select_output_outlets(&outputs)?;
    Ok(new)
}

/// The float counterpart of one node of `model`, wired into `new` on the translated inputs
/// `wires`; returns its outputs.
fn translate_node(
    model: &TypedModel,
    new: &mut TypedModel,
    node: &TypedNode,
    wires: &[OutletId],
) -> Result<TVec<OutletId>> {
    let name = node.name.as_str();
    let out_dt = node.outputs[0].fact.datum_type;
    let requantize = |new: &mut TypedModel, y: OutletId, m: Option<f32>| -> Result<TVec<OutletId>> {
        if !out_dt.is_quantized() {
            // not stored as bytes (and scale 1 was folded): nothing to re-quantise
            return Ok(tvec![y]);
        }
        Ok(tvec![wire_requantize(new, name, y, out_dt, m)?])
    };
    Ok(if node.op_is::<TypedSource>() {
        let fact = model.outlet_fact(OutletId::new(node.id, 0))?;
        tvec![new.add_source(name, f32::fact(fact.shape.clone()))?]
    } else if let Some(k) = node.op_as::<Const>() {
        let t = k.val();
        // quantised constants (e.g. ReLU6 bounds) in integer units, like the activations
        let t = if t.datum_type().is_quantized() {
            integer_units(t, t.datum_type().zp_scale().0 as f32)?
        } else {
            (**t).clone()
        };
        tvec![new.add_const(name, t)?]
    } else if let Some(conv) = node.op_as::<Conv>().filter(|c| c.q_params.is_some()) {
        let (y, m) = float_conv(model, new, node, conv, wires)?;
        requantize(new, y, Some(m))?
    } else if let Some(es) = node.op_as::<EinSum>().filter(|e| e.q_params.is_some()) {
        let (y, m) = float_einsum(model, new, node, es, wires)?;
        requantize(new, y, Some(m))?
    } else if node.op_is::<SumPool>() && out_dt.is_quantized() {
        // an average of integer units, re-quantised by the integer graph
        let y = new.wire_node(name, node.op.clone(), wires)?[0];
        let in_scale = model.outlet_fact(node.inputs[0])?.datum_type.zp_scale().1;
        let out_scale = out_dt.zp_scale().1;
        requantize(new, y, (in_scale != out_scale).then(|| in_scale / out_scale))?
    } else {
        new.wire_node(name, node.op.clone(), wires)
            .with_context(|| format!("{name}: op {} does not run on f32", node.op.name()))?
    })
}

/// A quantised `Conv` as a float one on integer units: weights `q − zp`, the int32 bias as is,
/// so the accumulator is TFLite's exact int32 one (while below 2²⁴); returns it and the
/// requantisation scale `input_scale·weight_scale/output_scale`.
fn float_conv(
    model: &TypedModel,
    new: &mut TypedModel,
    node: &TypedNode,
    conv: &Conv,
    wires: &[OutletId],
) -> Result<(OutletId, f32)> {
    let name = node.name.as_str();
    ensure!(node.inputs.len() == 9, "{name}: quantised Conv without 9 inputs");
    let out_scale = node.outputs[0].fact.datum_type.zp_scale().1;
    let x_scale = scalar(model, node.inputs[4])?;
    let k0 = scalar(model, node.inputs[5])?;
    let k_scale = scalar(model, node.inputs[6])?;
    let kernel = integer_units(&*konst(model, node.inputs[1])?, k0)?;
    let bias = raw_values(&*konst(model, node.inputs[2])?)?;
    let kw = new.add_const(format!("{name}.kernel_f32"), kernel)?;
    let bw = new.add_const(format!("{name}.bias_f32"), bias)?;
    let op = Conv { q_params: None, ..conv.clone() };
    Ok((new.wire_node(name, op, &[wires[0], kw, bw])?[0], x_scale * k_scale / out_scale))
}

/// A quantised 9-input `EinSum` as a float one plus its bias, giving `y/s`.
fn float_einsum(
    model: &TypedModel,
    new: &mut TypedModel,
    node: &TypedNode,
    es: &EinSum,
    wires: &[OutletId],
) -> Result<(OutletId, f32)> {
    let name = node.name.as_str();
    ensure!(node.inputs.len() == 9, "{name}: quantised EinSum without 9 inputs");
    let a_scale = scalar(model, node.inputs[4])?;
    let b_scale = scalar(model, node.inputs[6])?;
    let out_scale = node.outputs[0].fact.datum_type.zp_scale().1;
    let mut operands = tvec![];
    for (slot, zp_ix) in [(0, 3), (1, 5)] {
        let input = node.inputs[slot];
        if let Some(k) = model.outlet_fact(input)?.konst.clone() {
            // a constant operand in integer units, `q − zp`
            let w = integer_units(&k, scalar(model, node.inputs[zp_ix])?)?;
            operands.push(new.add_const(format!("{name}.operand{slot}_f32"), w)?);
        } else {
            operands.push(wires[slot]);
        }
    }
    let mut axes = es.axes.clone();
    for slot in (2..9).rev() {
        axes = axes.remove_slot(InOut::In(slot))?;
    }
    let op = EinSum { axes, operating_dt: f32::datum_type(), q_params: None };
    let out = new.wire_node(name, op, &operands)?[0];
    let bias = raw_values(&*konst(model, node.inputs[2])?)?;
    let bw = new.add_const(format!("{name}.bias_f32"), einsum_bias_shaped(es, bias, name)?)?;
    let y = new.wire_node(format!("{name}.add_bias"), add(), &[out, bw])?[0];
    Ok((y, a_scale * b_scale / out_scale))
}

/// An `EinSum` bias (rank 0 or 1) shaped to broadcast along the output axis it maps to.
fn einsum_bias_shaped(es: &EinSum, bias: Tensor, name: &str) -> Result<Tensor> {
    let out_rank = es.axes.rank(InOut::Out(0));
    let mut shape = vec![1usize; out_rank];
    if bias.rank() == 1 {
        let pos = es
            .axes
            .axis((InOut::In(2), 0))?
            .interface(InOut::Out(0))
            .first()
            .copied()
            .with_context(|| format!("{name}: bias axis not in the output"))?;
        shape[pos] = bias.len();
    } else if bias.rank() > 1 {
        bail!("{name}: bias of rank {}", bias.rank());
    }
    bias.into_shape(&shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The re-quantisation chain, once optimised by tract, rounds half to even and saturates
    /// like the integer graph (results in integer units) (guards the rounding trick against an optimiser that would fold
    /// the two additions away).
    #[test]
    fn requantize_rounds_half_to_even_and_saturates() {
        let dt = u8::datum_type().with_zp_scale(3, 0.5);
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, 9])).unwrap();
        let y = wire_requantize(&mut model, "r", x, dt, Some(2.0)).unwrap();
        model.select_output_outlets(&[y]).unwrap();
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        // in grid units (y/0.5): 0.5, 1.5, 2.5 (ties, to even), 1.52, −1.4, then −3.5 and −9
        // (below 0 − zp = −3: saturate), 300 (above 255 − zp = 252: saturates), 10.49
        let input = [0.25f32, 0.75, 1.25, 0.76, -0.7, -1.75, -4.5, 150.0, 5.245];
        let expected = [0.0f32, 2.0, 2.0, 2.0, -1.0, -3.0, -3.0, 252.0, 10.0];
        let out = plan.run(tvec![tensor1(&input).into_shape(&[1, 9]).unwrap().into()]).unwrap();
        let got: Vec<f32> = out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
        assert_eq!(got, expected);
    }
}
