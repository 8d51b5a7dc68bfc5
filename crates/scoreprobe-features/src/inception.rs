//! `inception:PATH`: a user-supplied ONNX Inception-v3 for FID (the weights are not shipped).
//!
//! Contract for the file: one input of shape `N×3×299×299` `f32` (the batch axis symbolic or
//! fixed), and as *first* output the pool3 activations, `N×2048` or `N×2048×1×1` (flattened).
//! Other output sizes are accepted and reported by [`FeatureExtractor::dim`].
//!
//! Preprocessing of each `(C, H, W)` image in `[0, 1]`: grayscale replicated to RGB, bilinear
//! resize to 299×299 (half-pixel centres, as pytorch-fid's `F.interpolate(...,
//! align_corners=False)`; see [`crate::preprocess`]), then scaled per [`InceptionInput`]:
//!
//! - `inception:PATH` → `2x − 1` in `[-1, 1]`: what the FID Inception network sees after its own
//!   normalisation (TF FID graph, pytorch-fid `InceptionV3(normalize_input=False)` exports);
//! - `inception01:PATH` → `x` in `[0, 1]`: exports that normalise internally (pytorch-fid
//!   `InceptionV3(normalize_input=True)`, the default);
//! - `inception255:PATH` → `255x` in `[0, 255]`: exports taking raw pixel values
//!   (torch-fidelity / clean-fid style `FeatureExtractorInceptionV3`, cast to float).
//!
//! The graph is compiled for batches of 8 when its input allows it, else batch 1.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Axis};
use scoreprobe_data::ImageSet;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::TractErrorContext;

use crate::error::{FeaturesError, Result};
use crate::preprocess::{gray_to_rgb, resize_chw};
use crate::runner::BatchedPlan;
use crate::FeatureExtractor;

const SIDE: usize = 299;
const BATCH: usize = 8;

/// How pixel values in `[0, 1]` are mapped before entering the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InceptionInput {
    /// `2x − 1`, in `[-1, 1]` (name `inception:PATH`).
    MinusOneToOne,
    /// `x`, in `[0, 1]` (name `inception01:PATH`).
    ZeroToOne,
    /// `255x`, in `[0, 255]` (name `inception255:PATH`).
    Bytes,
}

impl InceptionInput {
    fn apply(self, x: f32) -> f32 {
        match self {
            InceptionInput::MinusOneToOne => 2.0 * x - 1.0,
            InceptionInput::ZeroToOne => x,
            InceptionInput::Bytes => 255.0 * x,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            InceptionInput::MinusOneToOne => "inception",
            InceptionInput::ZeroToOne => "inception01",
            InceptionInput::Bytes => "inception255",
        }
    }
}

/// A user-supplied ONNX Inception-v3 feature space (pool3, normally 2048-d).
pub struct Inception {
    plan: BatchedPlan,
    input: InceptionInput,
    path: PathBuf,
}

impl Inception {
    /// Loads an ONNX Inception-v3 (see the module docs for the expected graph).
    pub fn from_path(path: impl AsRef<Path>, input: InceptionInput) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(FeaturesError::ModelFile { path, problem: "Inception ONNX file not found".into() });
        }
        let plan = Self::compile(&path).map_err(|source| FeaturesError::Model { path: path.clone(), source })?;
        Ok(Inception { plan, input, path })
    }

    fn compile(path: &Path) -> TractResult<BatchedPlan> {
        let label = path.display().to_string();
        // Shapes recorded in the file (value_info) may fix the batch: ignore them.
        let model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true)
            .model_for_path(path)
            .with_context(|| format!("{label}: cannot load as ONNX"))?;
        let compile = |b: usize| -> TractResult<BatchedPlan> {
            let typed = model.clone().with_input_fact(0, f32::fact([b, 3, SIDE, SIDE]).into())?.into_optimized()?;
            BatchedPlan::new(typed, b, label.clone())
        };
        compile(BATCH)
            .or_else(|_| compile(1))
            .with_context(|| format!("{label}: cannot run as an Inception-v3 with input N×3×299×299 f32"))
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Batch size the graph was compiled for.
    pub fn batch(&self) -> usize {
        self.plan.batch
    }
}

impl FeatureExtractor for Inception {
    fn name(&self) -> String {
        format!("{}:{}", self.input.prefix(), self.path.display())
    }

    fn dim(&self) -> usize {
        self.plan.out_dim
    }

    fn extract(&self, images: &ImageSet) -> Result<Array2<f64>> {
        if images.is_empty() {
            return Err(FeaturesError::invalid("inception", "the image set is empty"));
        }
        if !(images.channels() == 1 || images.channels() == 3) {
            return Err(FeaturesError::invalid(
                "inception",
                format!("expects grayscale or RGB images, got {} channels", images.channels()),
            ));
        }
        let input = self.input;
        self.plan
            .run::<f32>(images.len(), |i, buf| {
                let img = images.images.index_axis(Axis(0), i);
                let r = resize_chw(gray_to_rgb(img).view(), SIDE, SIDE);
                for (d, s) in buf.iter_mut().zip(r.iter()) {
                    *d = input.apply(*s);
                }
                Ok(())
            })
            .map_err(|source| FeaturesError::Inference { model: self.name(), source })
    }
}
