//! Rewrites a quantised (uint8) TFLite graph, as decluttered by tract, into an `f32` graph with
//! the same weights, dequantised.
//!
//! Why: tract's integer matrix kernels on x86 are an order of magnitude slower than its `f32`
//! ones (MobileNet-v1: ~2 s per image against tens of milliseconds). The float graph computes
//! what the integer one approximates: weights `(q − zero_point)·scale`, biases
//! `bias·input_scale·weight_scale`, activations kept in `f32` instead of being re-quantised
//! after each layer. Its outputs therefore differ from the integer reference by a few
//! quantisation steps (measured in the tests).
//!
//! Handled ops: quantised `Conv` and `EinSum` (the 9-input forms: data, weights, bias, then
//! zero point / scale of the input, weights and output), constants (quantised ones are
//! dequantised), and any other op that works on `f32` unchanged (ReLU6 as Max/Min, SumPool,
//! reshapes). Per-channel weight scales are supported along the output-channel axis only
//! through scalar zero points and scales; anything else is an error.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::change_axes::InOut;
use tract_onnx::tract_core::ops::cnn::Conv;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::cnn::SumPool;
use tract_onnx::tract_core::ops::math::{add, max, min, mul, round_half_to_even};
use tract_onnx::tract_core::ops::source::TypedSource;

/// The constant value feeding `outlet`, or an error.
fn konst(model: &TypedModel, outlet: OutletId) -> Result<Arc<Tensor>> {
    model
        .outlet_fact(outlet)?
        .konst
        .clone()
        .with_context(|| format!("expected a constant at {outlet:?}"))
}

/// A scalar (or single-element) constant as `f32`.
fn scalar(model: &TypedModel, outlet: OutletId) -> Result<f32> {
    let t = konst(model, outlet)?;
    ensure!(
        t.len() == 1,
        "per-channel quantisation parameters are not supported (shape {:?})",
        t.shape()
    );
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
    f.to_plain_array_view_mut::<f32>()?
        .mapv_inplace(|q| (q - zp) * scale);
    Ok(f)
}

/// Bias `b·scale` as `f32`, same shape.
fn scaled_bias(t: &Tensor, scale: f32) -> Result<Tensor> {
    let mut f = raw_values(t)?;
    f.to_plain_array_view_mut::<f32>()?.mapv_inplace(|b| b * scale);
    Ok(f)
}

pub(crate) static TMP_NO_REQUANT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) static TMP_MAGIC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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
    Ok(new.add_const(name, t)?)
}

/// Re-quantisation of a float activation the way the integer graph stores it in `dt`
/// (zero point `zp`, scale `s`): `(clamp(round(y/s) + zp, qmin, qmax) − zp)·s`, rounding half
/// to even as tract does. With `prescaled`, `outlet` already holds `y/s` (the scale was folded
/// into the weights).
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
    if !prescaled {
        let inv = unit_const(new, format!("{name}.requant.inv_scale"), 1.0 / s, rank)?;
        x = new.wire_node(format!("{name}.requant.to_grid"), mul(), &[x, inv])?[0];
    }
    let lo = unit_const(new, format!("{name}.requant.lo"), qmin - zp as f32, rank)?;
    x = new.wire_node(format!("{name}.requant.max"), max(), &[x, lo])?[0];
    let hi = unit_const(new, format!("{name}.requant.hi"), qmax - zp as f32, rank)?;
    x = new.wire_node(format!("{name}.requant.min"), min(), &[x, hi])?[0];
    if TMP_MAGIC.load(std::sync::atomic::Ordering::SeqCst) {
        let m = unit_const(new, format!("{name}.requant.magic"), 12582912.0, rank)?;
        x = new.wire_node(format!("{name}.requant.round_up"), add(), &[x, m])?[0];
        let m = unit_const(new, format!("{name}.requant.unmagic"), -12582912.0, rank)?;
        x = new.wire_node(format!("{name}.requant.round_down"), add(), &[x, m])?[0];
    } else {
        x = new.wire_node(format!("{name}.requant.round"), round_half_to_even(), &[x])?[0];
    }
    let sc = unit_const(new, format!("{name}.requant.scale"), s, rank)?;
    Ok(new.wire_node(format!("{name}.requant.from_grid"), mul(), &[x, sc])?[0])
}

/// The float version of `model` (see the module docs). Its input is the dequantised input,
/// `(byte − zero_point)·scale`, as `f32` with the same shape.
pub(crate) fn dequantize_model(model: &TypedModel) -> Result<TypedModel> {
    let mut new = TypedModel::default();
    let mut map: HashMap<OutletId, OutletId> = HashMap::new();
    for id in model.eval_order()? {
        let node = model.node(id);
        let wires: TVec<OutletId> = node
            .inputs
            .iter()
            .map(|o| map.get(o).copied().context("input not translated yet"))
            .collect::<Result<_>>()?;
        let name = node.name.as_str();
        let out_dt = node.outputs[0].fact.datum_type;
        let requantize = |new: &mut TypedModel, y: OutletId, prescaled: bool| -> Result<TVec<OutletId>> {
            ensure!(out_dt.is_quantized(), "{name}: output type {out_dt:?} is not quantised");
            if TMP_NO_REQUANT.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(tvec![y]);
            }
            Ok(tvec![wire_requantize(new, name, y, out_dt, prescaled)?])
        };
        let outs: TVec<OutletId> = if node.op_is::<TypedSource>() {
            let fact = model.outlet_fact(OutletId::new(id, 0))?;
            tvec![new.add_source(name, f32::fact(fact.shape.clone()))?]
        } else if let Some(k) = node.op_as::<Const>() {
            let t = k.val();
            let t = if t.datum_type().is_quantized() {
                t.cast_to::<f32>()?.into_owned()
            } else {
                (**t).clone()
            };
            tvec![new.add_const(name, t)?]
        } else if let Some(conv) = node.op_as::<Conv>().filter(|c| c.q_params.is_some()) {
            ensure!(node.inputs.len() == 9, "{name}: quantised Conv without 9 inputs");
            let out_scale = out_dt.zp_scale().1;
            let x_scale = scalar(model, node.inputs[4])?;
            let k0 = scalar(model, node.inputs[5])?;
            let k_scale = scalar(model, node.inputs[6])?;
            // the output scale is folded into the weights: the conv gives `y/s` directly
            let inv_out = 1.0 / out_scale;
            let kernel = dequantize(&*konst(model, node.inputs[1])?, k0, k_scale * inv_out)?;
            let bias = scaled_bias(&*konst(model, node.inputs[2])?, x_scale * k_scale * inv_out)?;
            let kw = new.add_const(format!("{name}.kernel_f32"), kernel)?;
            let bw = new.add_const(format!("{name}.bias_f32"), bias)?;
            let op = Conv {
                q_params: None,
                ..conv.clone()
            };
            let y = new.wire_node(name, op, &[wires[0], kw, bw])?[0];
            requantize(&mut new, y, true)?
        } else if let Some(es) = node.op_as::<EinSum>().filter(|e| e.q_params.is_some()) {
            ensure!(node.inputs.len() == 9, "{name}: quantised EinSum without 9 inputs");
            let a_scale = scalar(model, node.inputs[4])?;
            let b_scale = scalar(model, node.inputs[6])?;
            let inv_out = 1.0 / out_dt.zp_scale().1;
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
            let op = EinSum {
                axes,
                operating_dt: f32::datum_type(),
                q_params: None,
            };
            let mut out = new.wire_node(name, op, &operands)?[0];
            if !folded {
                let rank = new.outlet_fact(out)?.rank();
                let inv = unit_const(&mut new, format!("{name}.inv_out_scale"), inv_out, rank)?;
                out = new.wire_node(format!("{name}.to_grid"), mul(), &[out, inv])?[0];
            }
            // bias: rank 0 or 1, broadcast along the output axis it maps to
            let bias = scaled_bias(&*konst(model, node.inputs[2])?, a_scale * b_scale * inv_out)?;
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
            let bias = bias.into_shape(&shape)?;
            let bw = new.add_const(format!("{name}.bias_f32"), bias)?;
            let y = new.wire_node(format!("{name}.add_bias"), add(), &[out, bw])?[0];
            requantize(&mut new, y, true)?
        } else if node.op_is::<SumPool>() && out_dt.is_quantized() {
            // an average of grid values, re-quantised by the integer graph
            let y = new.wire_node(name, node.op.clone(), &wires)?[0];
            requantize(&mut new, y, false)?
        } else {
            new.wire_node(name, node.op.clone(), &wires)
                .with_context(|| format!("{name}: op {} does not run on f32", node.op.name()))?
        };
        for (i, o) in outs.iter().enumerate() {
            map.insert(OutletId::new(id, i), *o);
        }
    }
    let outputs: Vec<OutletId> = model
        .output_outlets()?
        .iter()
        .map(|o| map[o])
        .collect();
    new.select_output_outlets(&outputs)?;
    Ok(new)
}

#[cfg(test)]
mod tmp_debug {
    use super::*;
    use tract_onnx::prelude::Framework;

    fn path() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite")
    }

    fn stats(a: &[f32], b: &[f32]) -> (f64, f64, f64) {
        let (mut d, mut n, mut ab, mut aa, mut mx) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for (&x, &y) in a.iter().zip(b) {
            let (x, y) = (x as f64, y as f64);
            d += (x - y) * (x - y);
            n += y * y;
            ab += x * y;
            aa += x * x;
            mx = mx.max((x - y).abs());
        }
        ((d / n).sqrt(), ab / (aa.sqrt() * n.sqrt()), mx)
    }

    #[test]
    fn tmp_layers() {
        let model = tract_tflite::tflite().model_for_path(path()).unwrap();
        let dec = model.into_decluttered().unwrap();
        let taps: Vec<String> = dec
            .nodes()
            .iter()
            .filter(|n| n.name.ends_with(".relu6") || n.op.name() == "SumPool")
            .map(|n| n.name.clone())
            .collect();
        let (zp, scale) = dec.input_fact(0).unwrap().datum_type.zp_scale();
        let mut fm = dequantize_model(&dec).unwrap();
        let mut im = dec.clone();
        let outs_f: Vec<OutletId> =
            taps.iter().map(|t| OutletId::new(fm.node_id_by_name(t).unwrap(), 0)).collect();
        let outs_i: Vec<OutletId> =
            taps.iter().map(|t| OutletId::new(im.node_id_by_name(t).unwrap(), 0)).collect();
        fm.select_output_outlets(&outs_f).unwrap();
        im.select_output_outlets(&outs_i).unwrap();
        let fplan = fm.into_optimized().unwrap().into_runnable().unwrap();
        let iplan = im.into_optimized().unwrap().into_runnable().unwrap();
        let root = scoreprobe_data::require_shared_data().unwrap();
        let _ = root;
        let imgs = scoreprobe_data::cifar10_test(Some(2)).unwrap();
        for k in 0..2 {
            let mut bytes = vec![0u8; 224 * 224 * 3];
            crate::mobilenet::mobilenet_input(&imgs, k, &mut bytes);
            let fin: Vec<f32> = bytes.iter().map(|&b| (b as f32 - zp as f32) * scale).collect();
            let fin = Tensor::from_shape(&[1, 224, 224, 3], &fin).unwrap();
            let mut iin = Tensor::from_shape(&[1, 224, 224, 3], &bytes).unwrap();
            unsafe { iin.set_datum_type(dec.input_fact(0).unwrap().datum_type) };
            let fo = fplan.run(tvec![fin.into()]).unwrap();
            let io = iplan.run(tvec![iin.into()]).unwrap();
            for (t, (a, b)) in taps.iter().zip(fo.iter().zip(io.iter())) {
                let bf = b.cast_to::<f32>().unwrap();
                let a: Vec<f32> = a.to_plain_array_view::<f32>().unwrap().iter().copied().collect();
                let bs: Vec<f32> = bf.to_plain_array_view::<f32>().unwrap().iter().copied().collect();
                let (rel, cos, mx) = stats(&a, &bs);
                let sat = bs.iter().filter(|&&v| v >= 5.99).count() as f64 / bs.len() as f64;
                let short = t.split(';').next().unwrap();
                eprintln!("img {k} {short:60} rel {rel:.4} cos {cos:.5} max {mx:.4} sat {sat:.4} fmax {:.3} imean {:.3}",
                    a.iter().fold(0f32, |m, &v| m.max(v)), bs.iter().sum::<f32>() / bs.len() as f32);
            }
        }
    }

    /// Copy of `model` starting at node `start` (its output becomes the source), ending at `end`.
    fn cut(model: &TypedModel, start: &str, end: &str) -> TypedModel {
        let mut new = TypedModel::default();
        let mut map: HashMap<OutletId, OutletId> = HashMap::new();
        for id in model.eval_order().unwrap() {
            let node = model.node(id);
            if node.name == start {
                let mut fact = node.outputs[0].fact.clone();
                fact.konst = None;
                fact.uniform = None;
                let s = new.add_source("cut_input", fact).unwrap();
                map.insert(OutletId::new(id, 0), s);
                continue;
            }
            if node.op_is::<TypedSource>() {
                continue;
            }
            let Some(wires) = node.inputs.iter().map(|o| map.get(o).copied()).collect::<Option<TVec<_>>>() else {
                continue;
            };
            let outs = new.wire_node(&node.name, node.op.clone(), &wires).unwrap();
            for (i, o) in outs.iter().enumerate() {
                map.insert(OutletId::new(id, i), *o);
            }
            if node.name == end {
                new.select_output_outlets(&[outs[0]]).unwrap();
                break;
            }
        }
        new
    }

    #[test]
    fn tmp_single_layers() {
        let model = tract_tflite::tflite().model_for_path(path()).unwrap();
        let dec = model.into_decluttered().unwrap();
        let taps: Vec<String> = dec
            .nodes()
            .iter()
            .filter(|n| n.name.ends_with(".relu6") || n.op.name() == "SumPool")
            .map(|n| n.name.clone())
            .collect();
        let mut im = dec.clone();
        let outs_i: Vec<OutletId> =
            taps.iter().map(|t| OutletId::new(im.node_id_by_name(t).unwrap(), 0)).collect();
        im.select_output_outlets(&outs_i).unwrap();
        let iplan = im.into_optimized().unwrap().into_runnable().unwrap();
        let imgs = scoreprobe_data::cifar10_test(Some(1)).unwrap();
        let mut bytes = vec![0u8; 224 * 224 * 3];
        crate::mobilenet::mobilenet_input(&imgs, 0, &mut bytes);
        let mut iin = Tensor::from_shape(&[1, 224, 224, 3], &bytes).unwrap();
        unsafe { iin.set_datum_type(dec.input_fact(0).unwrap().datum_type) };
        let io = iplan.run(tvec![iin.into()]).unwrap();
        for k in 1..taps.len() {
            let sub = cut(&dec, &taps[k - 1], &taps[k]);
            let fsub = dequantize_model(&sub).unwrap();
            let isub_plan = sub.clone().into_optimized().unwrap().into_runnable().unwrap();
            let fsub_plan = fsub.into_optimized().unwrap().into_runnable().unwrap();
            let x = io[k - 1].clone().into_tensor();
            let xf = x.cast_to::<f32>().unwrap().into_owned();
            let yi = isub_plan.run(tvec![x.into()]).unwrap()[0].cast_to::<f32>().unwrap().into_owned();
            let yf = fsub_plan.run(tvec![xf.into()]).unwrap()[0].clone().into_tensor();
            let yfull = io[k].cast_to::<f32>().unwrap().into_owned();
            let a: Vec<f32> = yf.to_plain_array_view::<f32>().unwrap().iter().copied().collect();
            let b: Vec<f32> = yi.to_plain_array_view::<f32>().unwrap().iter().copied().collect();
            let c: Vec<f32> = yfull.to_plain_array_view::<f32>().unwrap().iter().copied().collect();
            let (rel, cos, mx) = stats(&a, &b);
            let (rel2, _, mx2) = stats(&b, &c);
            let shape = yf.shape().to_vec();
            let argmax = a.iter().zip(&b).enumerate().max_by(|x, y| ((x.1 .0 - x.1 .1).abs()).partial_cmp(&(y.1 .0 - y.1 .1).abs()).unwrap()).unwrap();
            let bigs = a.iter().zip(&b).filter(|(x, y)| (*x - *y).abs() > 0.05).count();
            let short = taps[k].split(';').next().unwrap();
            eprintln!("{short:55} single-layer rel {rel:.4} cos {cos:.6} max {mx:.4} (#>0.05: {bigs}) at {} of {shape:?} f {:.3} i {:.3} | int sub vs full rel {rel2:.4} max {mx2:.4}", argmax.0, argmax.1 .0, argmax.1 .1);
        }
    }

    #[test]
    fn tmp_timing() {
        let model = tract_tflite::tflite().model_for_path(path()).unwrap();
        let dec = model.clone().into_decluttered().unwrap();
        let (zp, scale) = dec.input_fact(0).unwrap().datum_type.zp_scale();
        let newf = dequantize_model(&dec).unwrap().into_optimized().unwrap().into_runnable().unwrap();
        TMP_NO_REQUANT.store(true, std::sync::atomic::Ordering::SeqCst);
        let noreq = dequantize_model(&dec).unwrap().into_optimized().unwrap().into_runnable().unwrap();
        TMP_NO_REQUANT.store(false, std::sync::atomic::Ordering::SeqCst);
        TMP_MAGIC.store(true, std::sync::atomic::Ordering::SeqCst);
        let oldf = dequantize_model(&dec).unwrap().into_optimized().unwrap();
        for n in oldf.nodes().iter().take(20) { eprintln!("magic graph: {} [{}]", n.name.rsplit('.').next().unwrap(), n.op.name()); }
        let oldf = oldf.into_runnable().unwrap();
        TMP_MAGIC.store(false, std::sync::atomic::Ordering::SeqCst);
        let int = model.into_optimized().unwrap().into_runnable().unwrap();
        let imgs = scoreprobe_data::cifar10_test(Some(1)).unwrap();
        let mut bytes = vec![0u8; 224 * 224 * 3];
        crate::mobilenet::mobilenet_input(&imgs, 0, &mut bytes);
        let fin: Vec<f32> = bytes.iter().map(|&b| (b as f32 - zp as f32) * scale).collect();
        let fin = Tensor::from_shape(&[1, 224, 224, 3], &fin).unwrap();
        let mut iin = Tensor::from_shape(&[1, 224, 224, 3], &bytes).unwrap();
        unsafe { iin.set_datum_type(dec.input_fact(0).unwrap().datum_type) };
        let a = newf.run(tvec![fin.clone().into()]).unwrap()[0].clone().into_tensor();
        let b = oldf.run(tvec![fin.clone().into()]).unwrap()[0].clone().into_tensor();
        eprintln!("round vs magic identical: {}", a == b);
        let mut tx = vec![];
        let reps = 20;
        let (mut tn, mut to, mut ti) = (vec![], vec![], vec![]);
        for r in 0..reps {
            let t = std::time::Instant::now();
            newf.run(tvec![fin.clone().into()]).unwrap();
            tn.push(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            oldf.run(tvec![fin.clone().into()]).unwrap();
            to.push(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            noreq.run(tvec![fin.clone().into()]).unwrap();
            tx.push(t.elapsed().as_secs_f64());
            if r % 5 == 0 {
                let t = std::time::Instant::now();
                int.run(tvec![iin.clone().into()]).unwrap();
                ti.push(t.elapsed().as_secs_f64());
            }
        }
        let med = |v: &mut Vec<f64>| { v.sort_by(|a, b| a.partial_cmp(b).unwrap()); (v[0], v[v.len() / 2]) };
        eprintln!("single thread, per image (min, median): float+requant {:?}, magic-round {:?}, no requant {:?}, integer {:?}", med(&mut tn), med(&mut to), med(&mut tx), med(&mut ti));
    }

    #[test]
    fn tmp_dump_opt() {
        let model = tract_tflite::tflite().model_for_path(path()).unwrap();
        let dec = model.clone().into_decluttered().unwrap();
        let f = dequantize_model(&dec).unwrap().into_optimized().unwrap();
        for id in f.eval_order().unwrap().into_iter().take(40) {
            let n = f.node(id);
            let short: String = n.name.split(';').next().unwrap().chars().collect();
            eprintln!("{id} {short} ... {} [{}] {:?}", n.name.rsplit(".").next().unwrap(), n.op.name(), n.outputs[0].fact.shape);
        }
    }
}
