//! Feature spaces for scoreprobe's reference metrics (Fréchet distance, KID, precision/recall…).
//!
//! Every feature space implements [`FeatureExtractor`]; [`extractor_from_name`] builds one from
//! its name:
//!
//! | name | what | input | output |
//! |---|---|---|---|
//! | `identity` | flattened pixels (or the rows of a raw `(N, D)` matrix) | any | `C·H·W` (or `D`) |
//! | `mnist-cnn` | ONNX-zoo MNIST CNN, activation before its last Gemm | 1×28×28 | 256 |
//! | `mobilenet` | MobileNet-v1 1.0/224 quantised embedding extractor (TFLite) | any size, gray or RGB | 1024 |
//! | `inception:PATH` | user-supplied ONNX Inception-v3, its first output (pool3) | any size, gray or RGB | 2048 |
//!
//! Models run on the CPU, batches in parallel with rayon: with tract (pure Rust), except `mobilenet`,
//! which tract reads and the crate's own uint8 kernels run (see the `mobilenet` module). Model files
//! for `mnist-cnn` and `mobilenet` are found under the shared data root
//! (`scoreprobe_data::shared_data_root()`, `models/…`) or a root given explicitly.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use scoreprobe_data::ImageSet;

mod dequant;
pub mod error;
mod extractor;
mod inception;
mod mnist_cnn;
mod mobilenet;
pub mod preprocess;
mod qkernels;
mod qnet;
mod runner;

pub use error::FeaturesError;
pub use extractor::FeatureExtractor;
pub use inception::{Inception, InceptionInput};

use error::Result;
pub use mnist_cnn::MnistCnn;
pub use mobilenet::{mobilenet_input_bytes, MobileNet, MobileNetMode};

/// Names accepted by [`extractor_from_name`].
pub const EXTRACTOR_NAMES: [&str; 6] =
    ["identity", "mnist-cnn", "mobilenet", "inception:PATH", "inception01:PATH", "inception255:PATH"];

/// Flattened pixels (`C·H·W` per image, row-major) or raw coordinates, unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl FeatureExtractor for Identity {
    fn name(&self) -> String {
        "identity".into()
    }

    fn dim(&self) -> usize {
        0
    }

    fn extract(&self, images: &ImageSet) -> Result<Array2<f64>> {
        if images.is_empty() {
            return Err(FeaturesError::invalid("identity", "the image set is empty"));
        }
        Ok(images.to_matrix())
    }

    fn extract_matrix(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(FeaturesError::invalid(
                "identity",
                format!("the matrix is empty ({}x{})", x.nrows(), x.ncols()),
            ));
        }
        if let Some(i) = x.rows().into_iter().position(|r| r.iter().any(|v| !v.is_finite())) {
            return Err(FeaturesError::invalid("identity", format!("row {i} contains a non-finite value")));
        }
        Ok(x.clone())
    }
}

/// Where a model file lives: `<root>/models/<file>`, with `root` given or found by
/// `scoreprobe_data::shared_data_root()`.
pub fn model_path(file: &str, data_root: Option<&Path>) -> Result<PathBuf> {
    let root = match data_root {
        Some(r) => r.to_path_buf(),
        None => scoreprobe_data::shared_data_root().ok_or_else(|| FeaturesError::ModelFile {
            path: Path::new("models").join(file),
            problem: "needs the shared data folder: none of ../shared/data, ../../shared/data, \
                      ../../../shared/data exists; set SCOREPROBE_DATA"
                .into(),
        })?,
    };
    let p = root.join("models").join(file);
    if !p.is_file() {
        return Err(FeaturesError::ModelFile { path: p, problem: "model file not found".into() });
    }
    Ok(p)
}

/// Builds a feature extractor from its name: `identity`, `mnist-cnn`, `mobilenet`, or
/// `inception:PATH` (see [`InceptionInput`] for `inception01:` / `inception255:`). Model files
/// for `mnist-cnn` / `mobilenet` are looked up under `data_root` (or the shared data root when
/// `None`); they may also be given as `mnist-cnn:PATH` / `mobilenet:PATH`.
pub fn extractor_from_name(name: &str, data_root: Option<&Path>) -> Result<Box<dyn FeatureExtractor>> {
    let (kind, arg) = match name.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (name, None),
    };
    let need_path = |what: &str| -> Result<PathBuf> {
        match arg {
            Some(a) if !a.is_empty() => Ok(PathBuf::from(a)),
            _ => Err(FeaturesError::invalid(
                format!("feature space '{what}'"),
                format!("needs a model file: write '{what}:PATH'"),
            )),
        }
    };
    Ok(match kind.to_ascii_lowercase().as_str() {
        "identity" | "pixels" => {
            if arg.is_some() {
                return Err(FeaturesError::invalid("feature space 'identity'", "takes no argument"));
            }
            Box::new(Identity)
        }
        "mnist-cnn" => {
            let p = match arg {
                Some(a) => PathBuf::from(a),
                None => model_path(MnistCnn::MODEL_FILE, data_root)?,
            };
            Box::new(MnistCnn::from_path(p)?)
        }
        "mobilenet" => {
            let p = match arg {
                Some(a) => PathBuf::from(a),
                None => model_path(MobileNet::MODEL_FILE, data_root)?,
            };
            Box::new(MobileNet::from_path(p)?)
        }
        "inception" => Box::new(Inception::from_path(need_path("inception")?, InceptionInput::MinusOneToOne)?),
        "inception01" => Box::new(Inception::from_path(need_path("inception01")?, InceptionInput::ZeroToOne)?),
        "inception255" => Box::new(Inception::from_path(need_path("inception255")?, InceptionInput::Bytes)?),
        _ => {
            return Err(FeaturesError::invalid(
                "feature space",
                format!("unknown feature space '{name}'; valid names: {}", EXTRACTOR_NAMES.join(", ")),
            ))
        }
    })
}
