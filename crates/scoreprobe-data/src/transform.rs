//! The transform applied to a data set before training: which space the models live in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How stored data are transformed before a network is trained on them (the models' space),
/// recorded in every checkpoint sidecar and compared when a checkpoint is measured against data.
///
/// Serialised as the sentences checkpoint sidecars have always held, so sidecars written before
/// this type existed read unchanged and new ones are byte-identical; code compares variants,
/// never text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataTransform {
    /// Exact samples of a named target, used as drawn.
    #[serde(rename = "none (exact samples of the named target)")]
    TargetSamples,
    /// Rows used as stored (`.npy` matrices, rows given in memory).
    #[serde(rename = "none")]
    Identity,
    /// Image pixels in [0, 1] mapped to [−1, 1] by x ↦ 2x − 1.
    #[serde(rename = "pixels in [0,1] mapped to [-1,1] by x -> 2x - 1")]
    PixelsToSymmetric,
}

impl DataTransform {
    /// The sentence written into sidecars.
    pub fn sentence(self) -> &'static str {
        match self {
            DataTransform::TargetSamples => "none (exact samples of the named target)",
            DataTransform::Identity => "none",
            DataTransform::PixelsToSymmetric => "pixels in [0,1] mapped to [-1,1] by x -> 2x - 1",
        }
    }

    /// Whether values are rescaled (the models' space is not the data's own).
    pub fn rescales(self) -> bool {
        matches!(self, DataTransform::PixelsToSymmetric)
    }

    /// For image transforms, the model-space values of pixel intensities 0 and 1.
    pub fn pixel_range(self) -> Option<(f64, f64)> {
        match self {
            DataTransform::PixelsToSymmetric => Some((-1.0, 1.0)),
            DataTransform::TargetSamples | DataTransform::Identity => None,
        }
    }

    /// A stored value in the models' space.
    pub fn apply(self, v: f32) -> f32 {
        match self {
            DataTransform::PixelsToSymmetric => 2.0 * v - 1.0,
            DataTransform::TargetSamples | DataTransform::Identity => v,
        }
    }
}

impl fmt::Display for DataTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sentence())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_sidecar_sentences_read_as_variants_and_write_back_unchanged() {
        for (sentence, t) in [
            ("none (exact samples of the named target)", DataTransform::TargetSamples),
            ("none", DataTransform::Identity),
            ("pixels in [0,1] mapped to [-1,1] by x -> 2x - 1", DataTransform::PixelsToSymmetric),
        ] {
            let json = serde_json::to_string(sentence).unwrap();
            let read: DataTransform = serde_json::from_str(&json).unwrap();
            assert_eq!(read, t);
            assert_eq!(serde_json::to_string(&t).unwrap(), json);
            assert_eq!(t.to_string(), sentence);
        }
        assert!(serde_json::from_str::<DataTransform>("\"x -> 3x\"").is_err());
        assert_eq!(DataTransform::PixelsToSymmetric.apply(0.25), -0.5);
        assert!(DataTransform::PixelsToSymmetric.rescales() && !DataTransform::TargetSamples.rescales());
    }
}
