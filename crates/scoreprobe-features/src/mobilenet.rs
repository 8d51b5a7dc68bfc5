//! `mobilenet`: MobileNet-v1 1.0/224 quantised ImageNet embedding extractor (TFLite, Google
//! Coral test data), 1024-d output, run with tract-tflite.
//!
//! Preprocessing of each `(C, H, W)` image in `[0, 1]`: grayscale is replicated to RGB; the image
//! is resized to 224×224 bilinearly (half-pixel centres, clamped edges; see
//! [`crate::preprocess`]) in `f32`, then quantised to bytes `round(255·x)` and laid out
//! 1×224×224×3 (NHWC), the model's uint8 input. Images are run one per call (the graph has
//! batch 1), in parallel with rayon.
//!
//! Evaluation ([`MobileNetMode`]), and why this engine: the reference runtime is LiteRT, whose
//! CPU engine (XNNPACK) computes each quantised layer as an exact int32 accumulator
//! `Σ (x − zp_x)(w − zp_w) + bias`, scaled by one `f32` factor `s_x·s_w/s_out`, rounded half to
//! even, offset and saturated. By default the graph is rewritten to `f32` on *integer units*
//! (each activation is its stored byte minus its zero point; weights `q − zp`, biases as stored;
//! see [`crate::dequant`]): every accumulator is then an integer below 2²⁴, exact in `f32`
//! whatever the summation order, and the re-quantisation is XNNPACK's, so the features equal
//! LiteRT's on the same input bytes (measured: all values of 50 CIFAR-10 images identical;
//! `python/tests/test_litert_agreement.py`), at tract's `f32` speed. Dequantised weights in real
//! units (the previous rewrite) agreed within one output step for only 88 % of values, and
//! tract's integer kernels ([`MobileNetMode::Integer`], fixed-point re-scaling as in TFLite's
//! reference kernels, not XNNPACK's) for 87 %, ~15× slower: XNNPACK's arithmetic has to be
//! reproduced exactly for the two runtimes to agree. [`mobilenet_input_bytes`] gives another
//! runtime the same input bytes.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array4, Axis};
use rayon::prelude::*;
use scoreprobe_data::ImageSet;
use tract_onnx::prelude::{Framework, TractResult};
use tract_onnx::tract_core::internal::{ensure, TractErrorContext};

use crate::dequant::dequantize_model;
use crate::error::{FeaturesError, Result};
use crate::preprocess::{gray_to_rgb, resize_chw, to_byte};
use crate::runner::BatchedPlan;
use crate::FeatureExtractor;

/// Input side length.
const SIDE: usize = 224;

/// How the quantised network is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MobileNetMode {
    /// Dequantised weights, `f32` arithmetic with each layer's output re-quantised to the
    /// integer grid (fast; within a few output quantisation steps of the integer reference,
    /// relative L2 ≈ 0.02; see the module docs).
    #[default]
    Float,
    /// tract's integer kernels: the TFLite uint8 semantics, but ~30× slower on x86.
    Integer,
}

/// The MobileNet-v1 embedding feature space (1024-d).
pub struct MobileNet {
    plan: BatchedPlan,
    mode: MobileNetMode,
    /// Input zero point and scale: the float graph takes integer units, `byte − zp`.
    input_zp_scale: (f32, f32),
    path: PathBuf,
}

impl MobileNet {
    /// File name under `<data root>/models/`.
    pub const MODEL_FILE: &'static str = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite";

    /// Loads the model from a TFLite file, evaluated in [`MobileNetMode::Float`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_path_with_mode(path, MobileNetMode::Float)
    }

    /// Loads the model from a TFLite file, evaluated in the given mode.
    pub fn from_path_with_mode(path: impl AsRef<Path>, mode: MobileNetMode) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(FeaturesError::ModelFile { path, problem: "model file not found".into() });
        }
        let (plan, input_zp_scale) =
            Self::compile(&path, mode).map_err(|source| FeaturesError::Model { path: path.clone(), source })?;
        Ok(MobileNet { plan, mode, input_zp_scale, path })
    }

    fn compile(path: &Path, mode: MobileNetMode) -> TractResult<(BatchedPlan, (f32, f32))> {
        let label = path.display().to_string();
        let model =
            tract_tflite::tflite().model_for_path(path).with_context(|| format!("{label}: cannot load as TFLite"))?;
        let in_dt = model.input_fact(0)?.datum_type;
        ensure!(in_dt.size_of() == 1, "{label}: model input type {in_dt:?} is not a byte type");
        let (zp, scale) = in_dt.zp_scale();
        let model = match mode {
            MobileNetMode::Integer => model.into_optimized(),
            MobileNetMode::Float => dequantize_model(&model.into_decluttered()?)
                .with_context(|| format!("{label}: cannot convert the quantised graph to f32"))?
                .into_optimized(),
        }
        .with_context(|| format!("{label}: cannot optimise the model"))?;
        let plan = BatchedPlan::new(model, 1, label.clone())?;
        ensure!(
            plan.sample_shape == [SIDE, SIDE, 3],
            "{label}: model input per image is {:?}, expected [224, 224, 3]",
            plan.sample_shape
        );
        Ok((plan, (zp as f32, scale)))
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The evaluation mode.
    pub fn mode(&self) -> MobileNetMode {
        self.mode
    }
}

/// One image as 224×224×3 bytes (HWC).
pub(crate) fn mobilenet_input(images: &ImageSet, i: usize, buf: &mut [u8]) {
    let img = images.images.index_axis(Axis(0), i);
    let rgb = gray_to_rgb(img);
    let r = resize_chw(rgb.view(), SIDE, SIDE);
    for ((c, y, x), v) in r.indexed_iter() {
        buf[(y * SIDE + x) * 3 + c] = to_byte(*v);
    }
}

/// The model's input bytes for every image of `images`: `(N, 224, 224, 3)` uint8 (NHWC), exactly
/// what [`MobileNet`] feeds the network (see the module docs), so that another runtime (LiteRT)
/// can be given the same bytes.
pub fn mobilenet_input_bytes(images: &ImageSet) -> Result<Array4<u8>> {
    check_images(images)?;
    let mut out = Array4::<u8>::zeros((images.len(), SIDE, SIDE, 3));
    out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(i, mut img)| {
        let buf = img.as_slice_mut().expect("standard layout");
        mobilenet_input(images, i, buf);
    });
    Ok(out)
}

/// Refuses empty sets and channel counts other than 1 or 3.
fn check_images(images: &ImageSet) -> Result<()> {
    if images.is_empty() {
        return Err(FeaturesError::invalid("mobilenet", "the image set is empty"));
    }
    if !(images.channels() == 1 || images.channels() == 3) {
        return Err(FeaturesError::invalid(
            "mobilenet",
            format!("expects grayscale or RGB images, got {} channels", images.channels()),
        ));
    }
    Ok(())
}

impl FeatureExtractor for MobileNet {
    fn name(&self) -> String {
        "mobilenet".into()
    }

    fn dim(&self) -> usize {
        self.plan.out_dim
    }

    fn extract(&self, images: &ImageSet) -> Result<Array2<f64>> {
        check_images(images)?;
        let run = match self.mode {
            MobileNetMode::Integer => self.plan.run::<u8>(images.len(), |i, buf| {
                mobilenet_input(images, i, buf);
                Ok(())
            }),
            MobileNetMode::Float => {
                let zp = self.input_zp_scale.0;
                self.plan.run::<f32>(images.len(), |i, buf| {
                    let mut bytes = vec![0u8; buf.len()];
                    mobilenet_input(images, i, &mut bytes);
                    for (d, &b) in buf.iter_mut().zip(&bytes) {
                        *d = b as f32 - zp; // integer units, as the float graph takes them
                    }
                    Ok(())
                })
            }
        };
        run.map_err(|source| FeaturesError::Inference { model: self.name(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};
    use tract_onnx::prelude::*;

    /// Where the time of one image goes, per op kind of the optimised float graph (issue 26:
    /// measure before choosing an engine). Ignored: it times, and needs the shared data.
    /// `SCOREPROBE_DATA=… cargo test -p scoreprobe-features --lib profile -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn profile_per_op_kind() {
        let root = scoreprobe_data::shared_data_root();
        let net = MobileNet::from_path(crate::model_path(MobileNet::MODEL_FILE, root.as_deref()).unwrap()).unwrap();
        let input = Tensor::from_shape(&[1, SIDE, SIDE, 3], &vec![3.0f32; SIDE * SIDE * 3]).unwrap();
        let mut per_kind: BTreeMap<String, (Duration, usize)> = BTreeMap::new();
        let reps = 20;
        let mut state = TypedSimpleState::new(&net.plan.plan).unwrap();
        let t0 = Instant::now();
        for _ in 0..reps {
            state
                .run_plan_with_eval(tvec![input.clone().into()], |ctx, st, node, inputs| {
                    let t = Instant::now();
                    let r = tract_onnx::tract_core::plan::eval(ctx, st, node, inputs);
                    let e = per_kind.entry(node.op.name().to_string()).or_default();
                    e.0 += t.elapsed();
                    e.1 += 1;
                    r
                })
                .unwrap();
        }
        let total = t0.elapsed().as_secs_f64() / reps as f64;
        eprintln!("one image, one thread: {:.1} ms", total * 1e3);
        let mut rows: Vec<_> = per_kind.into_iter().collect();
        rows.sort_by_key(|b| std::cmp::Reverse(b.1 .0));
        for (kind, (d, n)) in rows {
            let ms = d.as_secs_f64() * 1e3 / reps as f64;
            eprintln!("{kind:30} {:>4} nodes {ms:8.2} ms {:5.1} %", n / reps, 100.0 * ms / (total * 1e3));
        }
    }
}
