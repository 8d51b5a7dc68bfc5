//! Named datasets, the shared data root, and [`load_dataset`].
//!
//! | name | files | order |
//! |---|---|---|
//! | `mnist` (`mnist-test`) | `<root>/mnist/t10k-{images-idx3,labels-idx1}-ubyte[.gz]` | file order |
//! | `cifar10-test` (`cifar10`) | `<root>/cifar10/test/<class>/*.jpg`, classes [`CIFAR10_CLASSES`] | interleaved by class |
//! | `fashion-mnist` (`fashion-mnist-test`, `fashion-mnist:test`) | `t10k-*` in [`FASHION_MNIST_DIR`] | file order |
//! | `fashion-mnist-train` (`fashion-mnist:train`) | `train-*` in [`FASHION_MNIST_DIR`] | file order |
//!
//! `<root>` is [`shared_data_root`]. Fashion-MNIST comes from the Debian package
//! `dataset-fashion-mnist` (`apt-get install -y dataset-fashion-mnist`); a copy under
//! `<root>/fashion-mnist/` takes precedence. Every loader has a `*_from` variant taking a folder.
//!
//! A `limit` keeps the first `limit` images of the order above. CIFAR-10 is ordered
//! `airplane/0000, automobile/0000, …, truck/0000, airplane/0001, …` so that every prefix is
//! class-balanced (its folders hold the classes one after another).

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

use crate::idx::load_idx_pair;
use crate::images::{list_image_files, load_image_files, load_image_folder};
use crate::npy::load_images_npy;
use crate::ImageSet;

/// CIFAR-10 class names; a class's label is its index here.
pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Where the Debian package `dataset-fashion-mnist` installs its files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Canonical dataset names understood by [`load_dataset`].
pub const DATASET_NAMES: [&str; 4] = ["mnist", "cifar10-test", "fashion-mnist", "fashion-mnist-train"];

/// Fashion-MNIST split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FashionSplit {
    /// 60,000 images (`train-*`).
    Train,
    /// 10,000 images (`t10k-*`).
    Test,
}

impl FashionSplit {
    fn prefix(self) -> &'static str {
        match self {
            FashionSplit::Train => "train",
            FashionSplit::Test => "t10k",
        }
    }
}

/// The shared data folder: `$SCOREPROBE_DATA` if set (returned even if it does not exist, so
/// that loaders report it), else the first existing folder among `../shared/data`,
/// `../../shared/data`, `../../../shared/data` relative to the current directory, then relative
/// to `$CARGO_MANIFEST_DIR` (at run time) and to this crate's source folder (at build time).
pub fn shared_data_root() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SCOREPROBE_DATA") {
        if !p.is_empty() {
            return Some(PathBuf::from(p));
        }
    }
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        bases.push(cwd);
    }
    if let Some(m) = std::env::var_os("CARGO_MANIFEST_DIR") {
        bases.push(PathBuf::from(m));
    }
    bases.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for base in bases {
        for up in ["..", "../..", "../../.."] {
            let cand = base.join(up).join("shared").join("data");
            if cand.is_dir() {
                return Some(cand);
            }
        }
    }
    None
}

fn ci_is_on() -> bool {
    std::env::var("CI")
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "true" || v == "1" || v == "yes"
        })
        .unwrap_or(false)
}

/// Test helper for missing inputs: panics loudly under `CI=true`, else prints a skip notice.
fn missing(what: &str, hint: &str) -> Option<PathBuf> {
    if ci_is_on() {
        panic!("\n\n*** CI=true but {what} is missing: {hint} ***\n\n");
    }
    eprintln!("SKIPPED: {what} is missing ({hint}); set CI=true to make this a failure");
    None
}

/// Test helper: the shared data root, or `None` after printing a skip notice when it is absent.
/// Under `CI=true` a missing root panics instead, so that CI cannot silently skip tests.
pub fn require_shared_data() -> Option<PathBuf> {
    match shared_data_root() {
        Some(p) if p.is_dir() => Some(p),
        Some(p) => missing("the shared data folder", &format!("SCOREPROBE_DATA={} is not a directory", p.display())),
        None => missing(
            "the shared data folder",
            "expected ../shared/data relative to the repository, or set SCOREPROBE_DATA",
        ),
    }
}

/// Test helper like [`require_shared_data`] for Fashion-MNIST: the folder holding its four IDX
/// files, or `None` with a skip notice (a panic under `CI=true`).
pub fn require_fashion_mnist() -> Option<PathBuf> {
    let dir = fashion_mnist_dir();
    if idx_file(&dir, "t10k-images-idx3-ubyte").is_ok() && idx_file(&dir, "train-images-idx3-ubyte").is_ok() {
        return Some(dir);
    }
    missing(
        "Fashion-MNIST",
        &format!("expected in {}; install it with `apt-get install -y dataset-fashion-mnist`", dir.display()),
    )
}

/// `dir/stem.gz` if present, else `dir/stem`.
fn idx_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{stem}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let raw = dir.join(stem);
    if raw.is_file() {
        return Ok(raw);
    }
    Err(DataError::format(gz, format!("file not found (nor {})", raw.display())))
}

fn root_or_err(dataset: &str) -> Result<PathBuf> {
    shared_data_root().ok_or_else(|| DataError::Missing {
        dataset: format!("dataset '{dataset}'"),
        how: "needs the shared data folder: none of ../shared/data, ../../shared/data, ../../../shared/data exists; \
              set SCOREPROBE_DATA or pass a path"
            .into(),
    })
}

fn limited(mut set: ImageSet, limit: Option<usize>) -> ImageSet {
    if let Some(n) = limit {
        set.truncate(n);
    }
    set
}

/// MNIST test set (10,000 digits, labels) from a folder holding
/// `t10k-{images-idx3,labels-idx1}-ubyte[.gz]`.
pub fn mnist_test_from(dir: impl AsRef<Path>, limit: Option<usize>) -> Result<ImageSet> {
    let dir = dir.as_ref();
    let images = idx_file(dir, "t10k-images-idx3-ubyte")?;
    let labels = idx_file(dir, "t10k-labels-idx1-ubyte")?;
    Ok(limited(load_idx_pair(images, Some(&labels))?, limit))
}

/// MNIST test set from `<shared data root>/mnist`.
pub fn mnist_test(limit: Option<usize>) -> Result<ImageSet> {
    mnist_test_from(root_or_err("mnist")?.join("mnist"), limit)
}

/// CIFAR-10 test set from a folder holding one sub-folder per class ([`CIFAR10_CLASSES`]);
/// labels are class indices; order interleaved by class (see the module docs); always RGB.
pub fn cifar10_test_from(dir: impl AsRef<Path>, limit: Option<usize>) -> Result<ImageSet> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(DataError::format(
            dir,
            format!("not a directory (expected CIFAR-10 class folders {})", CIFAR10_CLASSES.join(", ")),
        ));
    }
    let mut per_class = Vec::with_capacity(CIFAR10_CLASSES.len());
    for class in CIFAR10_CLASSES {
        let files = list_image_files(dir.join(class))?;
        if files.is_empty() {
            return Err(DataError::format(dir.join(class), "CIFAR-10 class folder holds no image"));
        }
        per_class.push(files);
    }
    let longest = per_class.iter().map(Vec::len).max().unwrap_or(0);
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    'outer: for i in 0..longest {
        for (c, files) in per_class.iter().enumerate() {
            if let Some(p) = files.get(i) {
                if limit.is_some_and(|n| paths.len() >= n) {
                    break 'outer;
                }
                paths.push(p.clone());
                labels.push(c as u8);
            }
        }
    }
    if paths.is_empty() {
        return Err(DataError::invalid("limit", format!("0 leaves no image of {}", dir.display())));
    }
    let mut set = load_image_files(&paths)?.to_rgb();
    set.labels = Some(labels);
    Ok(set)
}

/// CIFAR-10 test set from `<shared data root>/cifar10/test`.
pub fn cifar10_test(limit: Option<usize>) -> Result<ImageSet> {
    cifar10_test_from(root_or_err("cifar10-test")?.join("cifar10").join("test"), limit)
}

/// Fashion-MNIST split from a folder holding `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`.
pub fn fashion_mnist_from(dir: impl AsRef<Path>, split: FashionSplit, limit: Option<usize>) -> Result<ImageSet> {
    let dir = dir.as_ref();
    let images = idx_file(dir, &format!("{}-images-idx3-ubyte", split.prefix())).map_err(|e| DataError::Missing {
        dataset: "Fashion-MNIST".into(),
        how: format!("not found ({e}); install it with `apt-get install -y dataset-fashion-mnist`"),
    })?;
    let labels = idx_file(dir, &format!("{}-labels-idx1-ubyte", split.prefix()))?;
    Ok(limited(load_idx_pair(images, Some(&labels))?, limit))
}

/// The Fashion-MNIST folder: `<shared data root>/fashion-mnist` if it exists, else
/// [`FASHION_MNIST_DIR`].
fn fashion_mnist_dir() -> PathBuf {
    if let Some(r) = shared_data_root() {
        let d = r.join("fashion-mnist");
        if d.is_dir() {
            return d;
        }
    }
    PathBuf::from(FASHION_MNIST_DIR)
}

/// Fashion-MNIST split from `<shared data root>/fashion-mnist` or [`FASHION_MNIST_DIR`].
pub fn fashion_mnist(split: FashionSplit, limit: Option<usize>) -> Result<ImageSet> {
    fashion_mnist_from(fashion_mnist_dir(), split, limit)
}

/// Loads a dataset by name (see the module docs; names are case-insensitive) or by path:
/// a directory is an image folder (recursive PNG/JPEG), a `.npy` file an image array
/// ([`load_images_npy`]), any other file an IDX image file (gzip or not; with its labels when a
/// sibling `…labels-idx1-ubyte[.gz]` exists). `limit` keeps the first images.
pub fn load_dataset(name_or_path: &str, limit: Option<usize>) -> Result<ImageSet> {
    match name_or_path.to_ascii_lowercase().as_str() {
        "mnist" | "mnist-test" => return mnist_test(limit),
        "cifar10-test" | "cifar10" | "cifar-10" => return cifar10_test(limit),
        "fashion-mnist" | "fashion-mnist-test" | "fashion-mnist:test" => {
            return fashion_mnist(FashionSplit::Test, limit)
        }
        "fashion-mnist-train" | "fashion-mnist:train" => return fashion_mnist(FashionSplit::Train, limit),
        _ => {}
    }
    let path = Path::new(name_or_path);
    if path.is_dir() {
        return load_image_folder(path, limit);
    }
    if !path.is_file() {
        return Err(DataError::invalid(
            format!("'{name_or_path}'"),
            format!("neither a dataset name ({}) nor an existing file or folder", DATASET_NAMES.join(", ")),
        ));
    }
    let is_npy = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if is_npy {
        return Ok(limited(load_images_npy(path)?, limit));
    }
    let labels = sibling_labels(path);
    Ok(limited(load_idx_pair(path, labels.as_deref())?, limit))
}

/// For `…/X-images-idx3-ubyte[.gz]`, the sibling `…/X-labels-idx1-ubyte[.gz]` if it exists.
fn sibling_labels(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    if !name.contains("images-idx3") {
        return None;
    }
    let stem = name.trim_end_matches(".gz").replace("images-idx3", "labels-idx1");
    idx_file(images.parent()?, &stem).ok()
}
