//! Rewrites a quantised (uint8) TFLite graph, as decluttered by tract, into an `f32` graph with
//! the same weights, dequantised, that reproduces the integer graph's re-quantisation.
//!
//! Why: tract's integer matrix kernels on x86 are an order of magnitude slower than its `f32`
//! ones (MobileNet-v1: ~2 s per image against tens of milliseconds). The float graph computes
//! the integer one in `f32`: weights `(q − zero_point)·scale`, biases
//! `bias·input_scale·weight_scale`, and after each quantised op the output is re-quantised the
//! way the integer graph stores it — divided by the output scale, rounded half to even,
//! saturated to the storage range (`[0 − zp, 255 − zp]` for uint8; this is also where TFLite
//! puts a fused ReLU/ReLU6) and multiplied back (see [`wire_requantize`]).
//!
//! The rounding matters, not only the saturation: without it (activations kept in `f32`
//! between layers), every layer matches the integer one to half an output step, but the
//! network amplifies the differences: MobileNet-v1's features then ended 0.14–0.26 away from
//! the integer ones in relative L2 (cosine 0.974 on a CIFAR-10 image, 66 output steps at
//! worst). With it, the two graphs agree exactly at first; what is left comes from `f32`
//! accumulation against the integer kernels' fixed-point re-scaling, which at rounding
//! boundaries flips a value by one step now and then, and those flips propagate: relative L2
//! ≈ 0.02, cosine ≈ 0.9998, at most a few output steps on MobileNet-v1 (measured in the
//! tests).
//!
//! Handled ops: quantised `Conv` and `EinSum` (the 9-input forms: data, weights, bias, then
//! zero point / scale of the input, weights and output; the output scale is folded into the
//! weights), quantised `SumPool` (average pooling, re-quantised), constants (quantised ones are
//! dequantised), and any other op that works on `f32` unchanged and keeps values on the grid
//! (ReLU6 as Max/Min with grid constants, reshapes). Only scalar zero points and scales are
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

/// `(q − zp)·scale` of a quantised weight tensor.
fn dequantize(t: &Tensor, zp: f32, scale: f32) -> Result<Tensor> {
    let mut f = raw_values(t)?;
    f.to_plain_array_view_mut::<f32>()?.mapv_inplace(|q| (q - zp) * scale);
    Ok(f)
}

/// Bias `b·scale` as `f32`, same shape.
fn scaled_bias(t: &Tensor, scale: f32) -> Result<Tensor> {
    let mut f = raw_values(t)?;
    f.to_plain_array_view_mut::<f32>()?.mapv_inplace(|b| b * scale);
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

/// Re-quantisation of a float activation `y` the way the integer graph stores it in `dt` (zero
/// point `zp`, scale `s`): `(clamp(round(y/s) + zp, qmin, qmax) − zp)·s`, rounding half to even
/// as tract's integer kernels and casts do (here in grid units, before the zero point is added;
/// only exact ties could tell the two apart). The clamp is the saturation to the storage range
/// (how TFLite fuses ReLU/ReLU6 into the output range); it commutes with the rounding because
/// its bounds are integers, and bounds `|q| ≤ 2²²` as the rounding trick needs. With
/// `prescaled`, `outlet` already holds `y/s` (the scale was folded into the weights).
fn wire_requantize(
    new: &mut TypedModel,
    name: &str,
    outlet: OutletId,
    dt: DatumType,
    prescaled: bool,
) -> Result<OutletId> {
    let (zp, s) = dt.zp_scale();
    let (qmin, qmax) = storage_range(dt)?;
    let rank = new.outlet_fact(outlet)?.rank();
    let mut x = outlet;
    let mut step = |new: &mut TypedModel, what: &str, op: Box<dyn TypedOp>, value: f32| {
        let c = unit_const(new, format!("{name}.requant.{what}_const"), value, rank)?;
        x = new.wire_node(format!("{name}.requant.{what}"), op, &[x, c])?[0];
        Ok::<_, TractError>(())
    };
    if !prescaled {
        step(new, "to_grid", Box::new(mul()), 1.0 / s)?;
    }
    step(new, "lo", Box::new(max()), qmin - zp as f32)?;
    step(new, "hi", Box::new(min()), qmax - zp as f32)?;
    step(new, "round_up", Box::new(add()), ROUNDING_MAGIC)?;
    step(new, "round_down", Box::new(add()), -ROUNDING_MAGIC)?;
    step(new, "from_grid", Box::new(mul()), s)?;
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
    let outputs: Vec<OutletId> = model.output_outlets()?.iter().map(|o| map[o]).collect();
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
    let requantize = |new: &mut TypedModel, y: OutletId, prescaled: bool| -> Result<TVec<OutletId>> {
        if !out_dt.is_quantized() {
            // not stored as bytes (and scale 1 was folded): nothing to re-quantise
            return Ok(tvec![y]);
        }
        Ok(tvec![wire_requantize(new, name, y, out_dt, prescaled)?])
    };
    Ok(if node.op_is::<TypedSource>() {
        let fact = model.outlet_fact(OutletId::new(node.id, 0))?;
        tvec![new.add_source(name, f32::fact(fact.shape.clone()))?]
    } else if let Some(k) = node.op_as::<Const>() {
        let t = k.val();
        let t = if t.datum_type().is_quantized() { t.cast_to::<f32>()?.into_owned() } else { (**t).clone() };
        tvec![new.add_const(name, t)?]
    } else if let Some(conv) = node.op_as::<Conv>().filter(|c| c.q_params.is_some()) {
        let y = float_conv(model, new, node, conv, wires)?;
        requantize(new, y, true)?
    } else if let Some(es) = node.op_as::<EinSum>().filter(|e| e.q_params.is_some()) {
        let y = float_einsum(model, new, node, es, wires)?;
        requantize(new, y, true)?
    } else if node.op_is::<SumPool>() && out_dt.is_quantized() {
        // an average of grid values, re-quantised by the integer graph
        let y = new.wire_node(name, node.op.clone(), wires)?[0];
        requantize(new, y, false)?
    } else {
        new.wire_node(name, node.op.clone(), wires)
            .with_context(|| format!("{name}: op {} does not run on f32", node.op.name()))?
    })
}

/// A quantised `Conv` as a float one giving `y/s` (the output scale folded into the weights).
fn float_conv(
    model: &TypedModel,
    new: &mut TypedModel,
    node: &TypedNode,
    conv: &Conv,
    wires: &[OutletId],
) -> Result<OutletId> {
    let name = node.name.as_str();
    ensure!(node.inputs.len() == 9, "{name}: quantised Conv without 9 inputs");
    let out_scale = node.outputs[0].fact.datum_type.zp_scale().1;
    let x_scale = scalar(model, node.inputs[4])?;
    let k0 = scalar(model, node.inputs[5])?;
    let k_scale = scalar(model, node.inputs[6])?;
    // the output scale is folded into the weights: the conv gives `y/s` directly
    let inv_out = 1.0 / out_scale;
    let kernel = dequantize(&*konst(model, node.inputs[1])?, k0, k_scale * inv_out)?;
    let bias = scaled_bias(&*konst(model, node.inputs[2])?, x_scale * k_scale * inv_out)?;
    let kw = new.add_const(format!("{name}.kernel_f32"), kernel)?;
    let bw = new.add_const(format!("{name}.bias_f32"), bias)?;
    let op = Conv { q_params: None, ..conv.clone() };
    Ok(new.wire_node(name, op, &[wires[0], kw, bw])?[0])
}

/// A quantised 9-input `EinSum` as a float one plus its bias, giving `y/s`.
fn float_einsum(
    model: &TypedModel,
    new: &mut TypedModel,
    node: &TypedNode,
    es: &EinSum,
    wires: &[OutletId],
) -> Result<OutletId> {
    let name = node.name.as_str();
    ensure!(node.inputs.len() == 9, "{name}: quantised EinSum without 9 inputs");
    let a_scale = scalar(model, node.inputs[4])?;
    let b_scale = scalar(model, node.inputs[6])?;
    let inv_out = 1.0 / node.outputs[0].fact.datum_type.zp_scale().1;
    let mut operands = tvec![];
    let mut folded = false;
    for (slot, (zp_ix, scale_ix)) in [(3, 4), (5, 6)].into_iter().enumerate() {
        let input = node.inputs[slot];
        if let Some(k) = model.outlet_fact(input)?.konst.clone() {
            let zp = scalar(model, node.inputs[zp_ix])?;
            let mut sc = scalar(model, node.inputs[scale_ix])?;
            if !folded {
                // the output scale is folded into the weights: the product is `y/s`
                sc *= inv_out;
                folded = true;
            }
            let w = dequantize(&k, zp, sc)?;
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
    let mut out = new.wire_node(name, op, &operands)?[0];
    if !folded {
        let rank = new.outlet_fact(out)?.rank();
        let inv = unit_const(new, format!("{name}.inv_out_scale"), inv_out, rank)?;
        out = new.wire_node(format!("{name}.to_grid"), mul(), &[out, inv])?[0];
    }
    let bias = scaled_bias(&*konst(model, node.inputs[2])?, a_scale * b_scale * inv_out)?;
    let bw = new.add_const(format!("{name}.bias_f32"), einsum_bias_shaped(es, bias, name)?)?;
    Ok(new.wire_node(format!("{name}.add_bias"), add(), &[out, bw])?[0])
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
    /// like the integer graph (guards the rounding trick against an optimiser that would fold
    /// the two additions away).
    #[test]
    fn requantize_rounds_half_to_even_and_saturates() {
        let dt = u8::datum_type().with_zp_scale(3, 0.5);
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, 9])).unwrap();
        let y = wire_requantize(&mut model, "r", x, dt, false).unwrap();
        model.select_output_outlets(&[y]).unwrap();
        let plan = model.into_optimized().unwrap().into_runnable().unwrap();
        // in grid units (y/0.5): 0.5, 1.5, 2.5 (ties, to even), 1.52, −1.4, then −3.5 and −9
        // (below 0 − zp = −3: saturate), 300 (above 255 − zp = 252: saturates), 10.49
        let input = [0.25f32, 0.75, 1.25, 0.76, -0.7, -1.75, -4.5, 150.0, 5.245];
        let expected = [0.0f32, 1.0, 1.0, 1.0, -0.5, -1.5, -1.5, 126.0, 5.0];
        let out = plan.run(tvec![tensor1(&input).into_shape(&[1, 9]).unwrap().into()]).unwrap();
        let got: Vec<f32> = out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
        assert_eq!(got, expected);
    }
}
