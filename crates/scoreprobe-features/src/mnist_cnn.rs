//! `mnist-cnn`: the ONNX model zoo MNIST classifier (opset 8), its 256-d activation before the
//! final Gemm as features, and its 10 logits for an accuracy check.
//!
//! Graph: Conv8-5×5 → ReLU → MaxPool → Conv16-5×5 → ReLU → MaxPool (`Pooling160`, 16×4×4) →
//! Reshape to `[1, 256]` (`Times212_reshape0`) → Gemm(10). The feature node is found, not named:
//! the data input of the last Gemm/MatMul. Because that Reshape hard-codes batch 1, features are
//! read from the Reshape's input (the pooled map, `(B, 16, 4, 4)`) and flattened row-major —
//! exactly what the Reshape does — so that the graph runs with a batch of 64. The logits run the
//! whole graph at batch 1. Inputs are 1×28×28 images in `[0, 1]`, fed as `255·x` (the model
//! expects 0..255).

use std::path::{Path, PathBuf};

use ndarray::Array2;
use scoreprobe_data::ImageSet;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{bail, ensure, TractErrorContext};

use crate::error::{FeaturesError, Result};
use crate::runner::BatchedPlan;
use crate::FeatureExtractor;

/// Batch size of the feature graph.
const BATCH: usize = 64;

/// The MNIST CNN feature space (256-d).
pub struct MnistCnn {
    features: BatchedPlan,
    logits: BatchedPlan,
    feature_node: String,
    path: PathBuf,
}

impl MnistCnn {
    /// File name under `<data root>/models/`.
    pub const MODEL_FILE: &'static str = "mnist-cnn.onnx";

    /// Loads the model from an ONNX file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(FeaturesError::ModelFile { path, problem: "model file not found".into() });
        }
        let (features, logits, feature_node) =
            Self::compile(&path).map_err(|source| FeaturesError::Model { path: path.clone(), source })?;
        Ok(MnistCnn { features, logits, feature_node, path })
    }

    /// The feature and classifier plans and the feature node's name.
    fn compile(path: &Path) -> TractResult<(BatchedPlan, BatchedPlan, String)> {
        let label = path.display().to_string();
        // Shapes recorded in the file (value_info) fix the batch at 1: ignore them.
        let model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true)
            .model_for_path(path)
            .with_context(|| format!("{label}: cannot load as ONNX"))?;
        let (feat_outlet, feature_node) =
            find_feature_outlet(&model).with_context(|| format!("{label}: not the expected MNIST CNN graph"))?;

        let feat_model = model
            .clone()
            .with_input_fact(0, f32::fact([BATCH, 1, 28, 28]).into())?
            .with_output_outlets(&[feat_outlet])?
            .eliminate_dead_branches()?
            .into_optimized()
            .with_context(|| format!("{label}: cannot build the feature graph"))?;
        let features = BatchedPlan::new(feat_model, BATCH, label.clone())?;
        let logit_model = model
            .with_input_fact(0, f32::fact([1, 1, 28, 28]).into())?
            .into_optimized()
            .with_context(|| format!("{label}: cannot build the classifier graph"))?;
        let logits = BatchedPlan::new(logit_model, 1, label.clone())?;
        ensure!(logits.out_dim == 10, "{label}: classifier output has {} values, expected 10", logits.out_dim);
        Ok((features, logits, feature_node))
    }

    /// Name of the tract node whose output is flattened into the features.
    pub fn feature_node(&self) -> &str {
        &self.feature_node
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_input(&self, images: &ImageSet) -> Result<()> {
        if images.is_empty() {
            return Err(FeaturesError::invalid("mnist-cnn", "the image set is empty"));
        }
        if !(images.channels() == 1 && images.height() == 28 && images.width() == 28) {
            return Err(FeaturesError::invalid(
                "mnist-cnn",
                format!(
                    "expects 1×28×28 grayscale images, got {}×{}×{}",
                    images.channels(),
                    images.height(),
                    images.width()
                ),
            ));
        }
        Ok(())
    }

    fn run(&self, plan: &BatchedPlan, images: &ImageSet) -> Result<Array2<f64>> {
        self.check_input(images)?;
        let imgs = images.images.as_standard_layout();
        let flat = imgs.as_slice().expect("standard layout");
        plan.run::<f32>(images.len(), |i, buf| {
            for (d, s) in buf.iter_mut().zip(&flat[i * 784..(i + 1) * 784]) {
                *d = s * 255.0;
            }
            Ok(())
        })
        .map_err(|source| FeaturesError::Inference { model: "mnist-cnn".into(), source })
    }

    /// The 10 class logits of each image, `(N, 10)`.
    pub fn logits(&self, images: &ImageSet) -> Result<Array2<f64>> {
        self.run(&self.logits, images)
    }

    /// The predicted class of each image (arg-max of the logits).
    pub fn predict(&self, images: &ImageSet) -> Result<Vec<u8>> {
        let l = self.logits(images)?;
        Ok(l.rows()
            .into_iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |best, (k, &v)| if v > best.1 { (k, v) } else { best })
                    .0 as u8
            })
            .collect())
    }
}

/// The outlet to read features from: the data input of the last Gemm/MatMul, or, when that
/// input is a Reshape/Flatten, the Reshape's own input (flattened later).
fn find_feature_outlet(model: &InferenceModel) -> TractResult<(OutletId, String)> {
    let order = model.eval_order()?;
    let Some(head) = order
        .iter()
        .rev()
        .map(|&i| model.node(i))
        .find(|n| matches!(n.op.name().as_ref(), "Gemm" | "MatMul" | "MatMulInference"))
    else {
        bail!("no Gemm/MatMul node found");
    };
    let src = head.inputs[0];
    let src_node = model.node(src.node);
    if matches!(src_node.op.name().as_ref(), "Reshape" | "Flatten") {
        let pre = src_node.inputs[0];
        Ok((pre, model.node(pre.node).name.clone()))
    } else {
        Ok((src, src_node.name.clone()))
    }
}

impl FeatureExtractor for MnistCnn {
    fn name(&self) -> String {
        "mnist-cnn".into()
    }

    fn dim(&self) -> usize {
        self.features.out_dim
    }

    fn extract(&self, images: &ImageSet) -> Result<Array2<f64>> {
        self.run(&self.features, images)
    }
}
