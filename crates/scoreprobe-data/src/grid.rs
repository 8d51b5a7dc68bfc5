//! A grid of images as one PNG (for looking at samples).

use crate::error::{DataError, Result};
use std::path::Path;

/// Writes `images` (row-major (n, channels·height·width), CHW per image, values in
/// [`lo`, `hi`], clamped) as a `cols`-wide grid PNG with a 2-pixel border, grayscale for 1
/// channel, RGB for 3.
pub fn write_png_grid(
    path: &Path,
    images: &[f32],
    (channels, height, width): (usize, usize, usize),
    cols: usize,
    (lo, hi): (f32, f32),
) -> Result<()> {
    let d = channels * height * width;
    if !(channels == 1 || channels == 3) {
        return Err(DataError::invalid("png grid", format!("1 or 3 channels, got {channels}")));
    }
    if !(d > 0 && !images.is_empty() && images.len().is_multiple_of(d)) {
        return Err(DataError::invalid(
            "png grid",
            format!("{} values are not a whole number of {channels}x{height}x{width} images", images.len()),
        ));
    }
    if !(cols > 0 && hi > lo) {
        return Err(DataError::invalid("png grid", format!("need columns > 0 and lo < hi, got {cols}, [{lo}, {hi}]")));
    }
    let n = images.len() / d;
    let rows = n.div_ceil(cols);
    let b = 2;
    let (gw, gh) = (cols * (width + b) + b, rows * (height + b) + b);
    let mut buf = vec![0u8; gw * gh * channels];
    for (i, img) in images.chunks(d).enumerate() {
        let (r, c) = (i / cols, i % cols);
        let (y0, x0) = (b + r * (height + b), b + c * (width + b));
        for ch in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let v = (img[(ch * height + y) * width + x] - lo) / (hi - lo);
                    let v = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                    buf[((y0 + y) * gw + x0 + x) * channels + ch] = v;
                }
            }
        }
    }
    let color = if channels == 1 { image::ExtendedColorType::L8 } else { image::ExtendedColorType::Rgb8 };
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| DataError::Io {
            path: dir.into(),
            action: "cannot create directory",
            source,
        })?;
    }
    image::save_buffer_with_format(path, &buf, gw as u32, gh as u32, color, image::ImageFormat::Png)
        .map_err(|source| DataError::Image { path: path.into(), action: "write", source })
}
