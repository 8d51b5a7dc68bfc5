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

pub mod datasets;
pub mod error;
pub mod grid;
pub mod idx;
mod image_set;
pub mod images;
pub mod npy;
pub mod transform;

pub use datasets::{
    cifar10_test, cifar10_test_from, fashion_mnist, fashion_mnist_from, load_dataset, mnist_test, mnist_test_from,
    require_fashion_mnist, require_shared_data, shared_data_root, FashionSplit, CIFAR10_CLASSES, DATASET_NAMES,
    FASHION_MNIST_DIR,
};
pub use error::DataError;
pub use image_set::ImageSet;
pub use images::load_image_folder;
pub use npy::{
    images_from_array, images_from_u8, load_images_npy, load_matrix, read_npy, save_matrix_f32, write_npy, NpyDtype,
};
pub use transform::DataTransform;
