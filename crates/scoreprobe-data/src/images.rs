//! A folder of PNG / JPEG images.
//!
//! Files are found recursively (extensions `png`, `jpg`, `jpeg`, any case; hidden files and
//! folders are skipped) and ordered by sorted full path, like pytorch-fid's sorted file list.
//! All images must have the same size. If every image is grayscale the set has one channel;
//! otherwise every image is converted to RGB (grayscale replicated, alpha dropped). Decoding runs
//! in parallel with rayon.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use image::DynamicImage;
use ndarray::{Array4, Axis};
use rayon::prelude::*;

use crate::ImageSet;

/// File extensions recognised as images (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn is_image_file(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
        .unwrap_or(false)
}

/// All image files under `dir`, recursively, sorted by path.
pub fn list_image_files(dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(DataError::format(dir, "not a directory (expected a folder of PNG/JPEG images)"));
    }
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|source| DataError::Walk { path: dir.into(), source })?;
        if entry.file_type().is_file() && is_image_file(entry.path()) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    Ok(files)
}

/// Decodes one image file; the error names the file.
pub fn decode_image(path: &Path) -> Result<DynamicImage> {
    image::ImageReader::open(path)
        .map_err(|source| DataError::Io { path: path.into(), action: "cannot open image", source })?
        .with_guessed_format()
        .map_err(|source| DataError::Io { path: path.into(), action: "cannot read image", source })?
        .decode()
        .map_err(|source| DataError::Image { path: path.into(), action: "decode", source })
}

/// Decodes `paths` (in parallel) into one [`ImageSet`] without labels. All images must share
/// the size of the first; the error names the first file of another size.
pub fn load_image_files(paths: &[PathBuf]) -> Result<ImageSet> {
    if paths.is_empty() {
        return Err(DataError::invalid("image files", "no image files to load"));
    }
    let decoded: Vec<Result<DynamicImage>> = paths.par_iter().map(|p| decode_image(p)).collect();
    let mut imgs = Vec::with_capacity(decoded.len());
    for d in decoded {
        imgs.push(d?);
    }
    let (w, h) = (imgs[0].width(), imgs[0].height());
    if !(w > 0 && h > 0) {
        return Err(DataError::format(&paths[0], format!("image has zero size {w}×{h}")));
    }
    for (p, img) in paths.iter().zip(&imgs) {
        if (img.width(), img.height()) != (w, h) {
            return Err(DataError::format(
                p,
                format!(
                    "image is {}×{} (width×height) but {} is {w}×{h}; all images must have the same size",
                    img.width(),
                    img.height(),
                    paths[0].display()
                ),
            ));
        }
    }
    let color = imgs.iter().any(|i| i.color().has_color());
    let c = if color { 3 } else { 1 };
    let (h, w) = (h as usize, w as usize);
    let mut out = Array4::<f32>::zeros((imgs.len(), c, h, w));
    out.axis_iter_mut(Axis(0)).into_par_iter().zip(imgs.par_iter()).for_each(|(mut dst, img)| {
        if color {
            let rgb = img.to_rgb32f();
            for (x, y, px) in rgb.enumerate_pixels() {
                for ch in 0..3 {
                    dst[[ch, y as usize, x as usize]] = px.0[ch].clamp(0.0, 1.0);
                }
            }
        } else {
            let g = img.to_luma32f();
            for (x, y, px) in g.enumerate_pixels() {
                dst[[0, y as usize, x as usize]] = px.0[0].clamp(0.0, 1.0);
            }
        }
    });
    Ok(ImageSet { images: out, labels: None })
}

/// Loads every PNG/JPEG under `dir` (recursive, sorted paths); `limit` keeps the first files.
pub fn load_image_folder(dir: impl AsRef<Path>, limit: Option<usize>) -> Result<ImageSet> {
    let dir = dir.as_ref();
    let mut files = list_image_files(dir)?;
    if files.is_empty() {
        return Err(DataError::format(
            dir,
            format!("no image files ({}) found in this folder or below", IMAGE_EXTENSIONS.join(", ")),
        ));
    }
    if let Some(n) = limit {
        files.truncate(n);
    }
    load_image_files(&files)
}
