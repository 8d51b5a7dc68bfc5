//! What a study measures against: an exact-score target (a problem spec, e.g. `ring8`), or a
//! finite data set (images or `.npy` rows) with no exact score.
//!
//! A data-set reference holds the rows in the models' own space: the front end loads them with
//! the loader the networks were trained with (same pixel transform, e.g. images in [−1, 1],
//! flattened), so generated rows and reference rows are directly comparable. For image data the
//! reference also states how model-space values map back to pixel intensities, so that generated
//! rows become images for the feature extractors (`scoreprobe-features`).

use crate::error::{MetricError, StudyError};
use ndarray::{Array2, Array4, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use scoreprobe_core::schedule::ScheduleSpec;
use scoreprobe_core::spec::ProblemSpec;
use scoreprobe_data::ImageSet;
use scoreprobe_features::FeatureExtractor;
use serde::Serialize;
use std::sync::Arc;

/// The study's reference.
pub enum Reference {
    /// An exact-score target and its schedule (the spec's `model` is ignored).
    Target(ProblemSpec),
    /// A finite data set; `schedule` is the one the checkpoints were trained with.
    Data { data: DataReference, schedule: ScheduleSpec },
}

impl Reference {
    /// How the reference is named in messages.
    pub fn name(&self) -> String {
        match self {
            Reference::Target(spec) => serde_json::to_string(&spec.target).expect("serialisable"),
            Reference::Data { data, .. } => data.name.clone(),
        }
    }
}

/// Layout of image rows: `(C, H, W)` flattened row-major, and the model-space values of pixel
/// intensities 0 and 1 (the training transform, e.g. (−1, 1) for x ↦ 2x − 1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageLayout {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub pixel_range: (f64, f64),
}

/// A finite data set as the reference.
pub struct DataReference {
    /// The name or path as given (`fashion-mnist`, `data.npy`, …).
    pub name: String,
    /// Every row of the data set, in the models' space (training transform applied).
    pub rows: Arc<Array2<f64>>,
    /// `Some` for image data sets, `None` for vector data (`.npy` matrices).
    pub image: Option<ImageLayout>,
    /// The training transform, as stated by the loader and the checkpoint sidecars.
    pub transform: scoreprobe_data::DataTransform,
    /// Feature space of the reference metrics (fd, kid, w2): `identity`, `mnist-cnn`, `mobilenet`, …
    pub features: String,
}

impl DataReference {
    /// Values per row.
    pub fn dim(&self) -> usize {
        self.rows.ncols()
    }

    /// The data's shape in words, for error messages.
    pub fn shape_desc(&self) -> String {
        match &self.image {
            Some(l) => format!(
                "{} images of shape {}x{}x{} ({} values per row)",
                self.rows.nrows(),
                l.channels,
                l.height,
                l.width,
                self.dim()
            ),
            None => format!("{} rows of dimension {}", self.rows.nrows(), self.dim()),
        }
    }

    /// What the cached values depend on (the data is identified by name/path, size and transform).
    pub fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({"data": self.name, "rows": self.rows.nrows(), "dim": self.dim(),
            "image": self.image, "transform": self.transform, "features": self.features})
    }

    /// The feature extractor named by `features` (vector data accepts `identity` only).
    pub fn extractor(&self) -> Result<Box<dyn FeatureExtractor>, StudyError> {
        let e = scoreprobe_features::extractor_from_name(&self.features, None)
            .map_err(|e| StudyError::Extractor { features: self.features.clone(), source: e.into() })?;
        if self.image.is_none() && e.name() != "identity" {
            return Err(StudyError::FeaturesOnVectors {
                features: self.features.clone(),
                reference: self.name.clone(),
                shape: self.shape_desc(),
            });
        }
        Ok(e)
    }

    /// Rows in the models' space → images with intensities in [0, 1] (values outside the pixel
    /// range are clipped, as when generated images are saved).
    pub fn to_images(&self, x: &Array2<f64>) -> Result<ImageSet, MetricError> {
        let not_images = |why: String| MetricError::Features { features: self.features.clone(), source: why.into() };
        let l = self.image.as_ref().ok_or_else(|| not_images(format!("'{}' is not an image data set", self.name)))?;
        if x.ncols() != l.channels * l.height * l.width {
            return Err(not_images(format!(
                "rows of dimension {} are not {}x{}x{} images",
                x.ncols(),
                l.channels,
                l.height,
                l.width
            )));
        }
        let (lo, hi) = l.pixel_range;
        let flat: Vec<f32> = x.iter().map(|&v| ((v - lo) / (hi - lo)).clamp(0.0, 1.0) as f32).collect();
        let images = Array4::from_shape_vec((x.nrows(), l.channels, l.height, l.width), flat)
            .map_err(|e| MetricError::Features { features: self.features.clone(), source: e.into() })?;
        Ok(ImageSet { images, labels: None })
    }

    /// Features of rows in the models' space: through images for image data, the rows
    /// themselves for vector data.
    pub fn features_of(&self, extractor: &dyn FeatureExtractor, x: &Array2<f64>) -> Result<Array2<f64>, MetricError> {
        let features = match &self.image {
            Some(_) => extractor.extract(&self.to_images(x)?),
            None => extractor.extract_matrix(x),
        };
        features.map_err(|e| MetricError::Features { features: self.features.clone(), source: e.into() })
    }

    /// `min(n, rows)` distinct rows, a seeded choice (the reference sample of fd/kid/w2).
    pub fn subset(&self, n: usize, seed: u64) -> Array2<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let m = n.min(self.rows.nrows());
        let idx = rand::seq::index::sample(&mut rng, self.rows.nrows(), m).into_vec();
        self.rows.select(Axis(0), &idx)
    }

    /// Draws rows uniformly with replacement: the data sampler of the classifier and critic
    /// error fields.
    pub fn sampler(&self) -> scoreprobe_siem::classifier::DataSampler {
        let rows = Arc::clone(&self.rows);
        Box::new(move |n: usize, rng: &mut ChaCha8Rng| {
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..rows.nrows())).collect();
            rows.select(Axis(0), &idx)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_ref() -> DataReference {
        let rows = Array2::from_shape_fn((5, 4), |(i, j)| -1.0 + 0.5 * ((i + j) % 5) as f64);
        DataReference {
            name: "toy".into(),
            rows: Arc::new(rows),
            image: Some(ImageLayout { channels: 1, height: 2, width: 2, pixel_range: (-1.0, 1.0) }),
            transform: scoreprobe_data::DataTransform::PixelsToSymmetric,
            features: "identity".into(),
        }
    }

    #[test]
    fn image_rows_map_back_to_unit_pixels_and_clip() {
        let r = image_ref();
        let x = ndarray::array![[-1.0, 0.0, 1.0, 3.0]];
        let img = r.to_images(&x).unwrap();
        assert_eq!(img.images.shape(), &[1, 1, 2, 2]);
        assert_eq!(img.images.iter().copied().collect::<Vec<f32>>(), vec![0.0, 0.5, 1.0, 1.0]);
        assert!(r.to_images(&ndarray::array![[0.0, 0.0, 0.0]]).is_err());
    }

    #[test]
    fn subsets_are_seeded_and_capped_and_the_sampler_draws_reference_rows() {
        let r = image_ref();
        assert_eq!(r.subset(3, 7), r.subset(3, 7));
        assert_eq!(r.subset(100, 7).nrows(), 5);
        let mut s = r.sampler();
        let x = s(10, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(x.dim(), (10, 4));
        assert!(x.rows().into_iter().all(|row| r.rows.rows().into_iter().any(|ref_row| ref_row == row)));
        assert!(r.fingerprint().to_string().contains("toy"));
    }
}
