//! The type every loader returns (a leaf: the loaders depend on it, never the other way).

use ndarray::{Array4, Axis};

/// A set of images: `images` is `(N, C, H, W)` with values in `[0, 1]` (`C` is 1 for grayscale,
/// 3 for RGB); `labels`, when known, holds one class index per image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pub images: Array4<f32>,
    pub labels: Option<Vec<u8>>,
}

impl ImageSet {
    /// Number of images `N`.
    pub fn len(&self) -> usize {
        self.images.len_of(Axis(0))
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Channels `C` (1 = grayscale, 3 = RGB).
    pub fn channels(&self) -> usize {
        self.images.len_of(Axis(1))
    }

    /// Height `H` in pixels.
    pub fn height(&self) -> usize {
        self.images.len_of(Axis(2))
    }

    /// Width `W` in pixels.
    pub fn width(&self) -> usize {
        self.images.len_of(Axis(3))
    }

    /// Keeps at most the first `n` images (and labels).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.images = self.images.slice_axis(Axis(0), (0..n).into()).to_owned();
            if let Some(l) = self.labels.as_mut() {
                l.truncate(n);
            }
        }
    }

    /// The images at `indices`, in that order (labels follow). Panics if an index is out of
    /// range, like slice indexing.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        ImageSet {
            images: self.images.select(Axis(0), indices),
            labels: self.labels.as_ref().map(|l| indices.iter().map(|&i| l[i]).collect()),
        }
    }

    /// The same set with 3 channels: grayscale is replicated, RGB returned as is. Any other
    /// channel count is kept unchanged (loaders only produce 1 or 3).
    pub fn to_rgb(self) -> ImageSet {
        if self.channels() != 1 {
            return self;
        }
        let (n, h, w) = (self.len(), self.height(), self.width());
        let images = self.images.broadcast((n, 3, h, w)).expect("a 1-channel axis broadcasts to 3").to_owned();
        ImageSet { images, labels: self.labels }
    }

    /// The images as an `(N, C·H·W)` matrix of `f64` (row-major flattening of each image).
    pub fn to_matrix(&self) -> ndarray::Array2<f64> {
        let n = self.len();
        let d = self.channels() * self.height() * self.width();
        let flat = self.images.as_standard_layout();
        ndarray::Array2::from_shape_vec((n, d), flat.iter().map(|&v| v as f64).collect())
            .expect("shape matches by construction")
    }
}
