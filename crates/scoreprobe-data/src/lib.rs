//! Data loaders for scoreprobe.
//!
//! Everything loads into an [`ImageSet`]: an `(N, C, H, W)` array of `f32` in `[0, 1]` with
//! optional `u8` class labels. Feature matrices (`(N, D)`, one row per sample) load as
//! `Array2<f64>` with [`npy::load_matrix`].
//!
//! - [`idx`]: IDX files (MNIST, Fashion-MNIST), gzip-compressed or not;
//! - [`npy`]: `.npy` matrices and image arrays: the workspace's one `.npy` reader and atomic writer;
//! - [`images`]: a folder of PNG/JPEG files (recursive, sorted paths, decoded in parallel);
//! - [`datasets`]: named datasets (`mnist`, `cifar10-test`, `fashion-mnist`), the shared data
//!   root, and [`load_dataset`], which dispatches names and paths.
//!
//! Every error is a value whose message names the offending file.

use ndarray::{Array4, Axis};

pub mod datasets;
pub mod error;
pub mod grid;
pub mod idx;
pub mod images;
pub mod npy;
pub mod transform;

pub use datasets::{
    cifar10_test, cifar10_test_from, fashion_mnist, fashion_mnist_from, load_dataset, mnist_test, mnist_test_from,
    require_fashion_mnist, require_shared_data, shared_data_root, FashionSplit, CIFAR10_CLASSES, DATASET_NAMES,
    FASHION_MNIST_DIR,
};
pub use error::DataError;
pub use images::load_image_folder;
pub use npy::{images_from_array, load_images_npy, load_matrix, read_npy, save_matrix_f32, write_npy, NpyDtype};
pub use transform::DataTransform;

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
