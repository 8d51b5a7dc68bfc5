//! A grid of images as one PNG (for looking at samples).

use crate::error::{DataError, Result};
use std::path::Path;

/// Pixels between images and around the grid.
const BORDER: usize = 2;

/// The grid's (width, height) in pixels for `n` images of `height`×`width` in `cols` columns,
/// or an error where it would overflow or exceed what a PNG holds (2³¹ − 1 per side).
fn grid_size(n: usize, (height, width): (usize, usize), cols: usize) -> Result<(u32, u32)> {
    let rows = n.div_ceil(cols);
    let side = |count: usize, len: usize| {
        count.checked_mul(len.checked_add(BORDER)?)?.checked_add(BORDER).filter(|&s| s <= i32::MAX as usize)
    };
    match (side(cols.min(n), width), side(rows, height)) {
        (Some(w), Some(h)) => Ok((w as u32, h as u32)),
        _ => Err(DataError::invalid(
            "png grid",
            format!("{n} images of {height}x{width} in {cols} columns exceed a PNG's 2^31 - 1 pixels per side"),
        )),
    }
}

/// Writes `images` (row-major (n, channels·height·width), CHW per image, values in
/// [`lo`, `hi`], clamped; NaN as `lo`) as a `cols`-wide grid PNG with a 2-pixel border,
/// grayscale for 1 channel, RGB for 3. The file is written atomically.
pub fn write_png_grid(
    path: &Path,
    images: &[f32],
    (channels, height, width): (usize, usize, usize),
    cols: usize,
    (lo, hi): (f32, f32),
) -> Result<()> {
    if !(channels == 1 || channels == 3) {
        return Err(DataError::invalid("png grid", format!("1 or 3 channels, got {channels}")));
    }
    let d = height.checked_mul(width).and_then(|p| p.checked_mul(channels)).unwrap_or(0);
    if !(d > 0 && !images.is_empty() && images.len().is_multiple_of(d)) {
        return Err(DataError::invalid(
            "png grid",
            format!("{} values are not a whole number of {channels}x{height}x{width} images", images.len()),
        ));
    }
    if !(cols > 0 && hi > lo && lo.is_finite() && hi.is_finite()) {
        return Err(DataError::invalid(
            "png grid",
            format!("need columns > 0 and finite lo < hi, got {cols}, [{lo}, {hi}]"),
        ));
    }
    let n = images.len() / d;
    let (gw, gh) = grid_size(n, (height, width), cols)?;
    let bytes = (gw as usize).checked_mul(gh as usize).and_then(|p| p.checked_mul(channels)).ok_or_else(|| {
        DataError::invalid("png grid", format!("a {gw}x{gh} grid of {channels} channels does not fit in memory"))
    })?;
    let cols = cols.min(n);
    let mut buf = vec![0u8; bytes];
    for (i, img) in images.chunks(d).enumerate() {
        let (y0, x0) = (BORDER + (i / cols) * (height + BORDER), BORDER + (i % cols) * (width + BORDER));
        for ch in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let v = (img[(ch * height + y) * width + x] - lo) / (hi - lo);
                    // `as u8` saturates and maps NaN to 0
                    buf[((y0 + y) * gw as usize + x0 + x) * channels + ch] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
    }
    let color = if channels == 1 { image::ExtendedColorType::L8 } else { image::ExtendedColorType::Rgb8 };
    let mut png = Vec::new();
    image::ImageEncoder::write_image(image::codecs::png::PngEncoder::new(&mut png), &buf, gw, gh, color)
        .map_err(|source| DataError::Image { path: path.into(), action: "write", source })?;
    scoreprobe_core::fsio::write_atomic(path, &png)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_that_overflow_are_refused_not_wrapped() {
        assert_eq!(grid_size(3, (28, 28), 8).unwrap(), (3 * 30 + 2, 30 + 2));
        assert_eq!(grid_size(16, (32, 32), 8).unwrap(), (8 * 34 + 2, 2 * 34 + 2));
        for (n, hw, cols) in
            [(1, (usize::MAX, 1), 1), (1, (1, usize::MAX - 1), 1), (usize::MAX, (1, 1), 1), (4, (1 << 30, 1), 1)]
        {
            let e = grid_size(n, hw, cols).unwrap_err().to_string();
            assert!(e.contains("exceed a PNG"), "{e}");
        }
        let huge = write_png_grid(Path::new("/nonexistent/g.png"), &[0.0; 4], (1, 1 << 62, 1 << 62), 1, (0.0, 1.0));
        assert!(huge.unwrap_err().to_string().contains("not a whole number"));
    }

    #[test]
    fn a_grid_round_trips_its_pixels() {
        let dir = std::env::temp_dir().join(format!("scoreprobe-grid-{}", std::process::id()));
        let path = dir.join("g.png");
        // two 1x2 RGB images: the first red then green, the second NaN (black) then white (clamped)
        let images = [1.0, -1.0, -1.0, 1.0, -1.0, -1.0, f32::NAN, 5.0, f32::NAN, 5.0, f32::NAN, 5.0];
        write_png_grid(&path, &images, (3, 1, 2), 8, (-1.0, 1.0)).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (2 * 4 + 2, 1 + 4));
        let px = |x, y| img.get_pixel(x, y).0;
        assert_eq!((px(2, 2), px(3, 2)), ([255, 0, 0], [0, 255, 0]));
        assert_eq!((px(6, 2), px(7, 2)), ([0, 0, 0], [255, 255, 255]));
        assert_eq!(px(0, 0), [0, 0, 0], "the border");
        std::fs::remove_dir_all(&dir).ok();
    }
}
