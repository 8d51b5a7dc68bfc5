//! Image preprocessing shared by the network feature spaces.
//!
//! Resizing is bilinear with half-pixel centres and clamped edges, i.e. PyTorch's
//! `F.interpolate(mode="bilinear", align_corners=False)` and TF2's `tf.image.resize(...,
//! "bilinear")` when enlarging (both as used by pytorch-fid and the TF FID code). It is done by
//! `image::imageops::resize` with `FilterType::Triangle` on `f32` pixels, one channel at a time.
//! When shrinking, the triangle filter widens with the scale factor (an antialiased resize,
//! like PIL's bilinear), unlike PyTorch's default. Pixel values are clamped to `[0, 1]`.

use image::{imageops, ImageBuffer, Luma};
use ndarray::{Array3, ArrayView3};

/// Resizes one `(C, H, W)` image to `(C, h, w)` (see the module docs for the filter).
pub fn resize_chw(img: ArrayView3<'_, f32>, h: usize, w: usize) -> Array3<f32> {
    let (c, h0, w0) = img.dim();
    if (h0, w0) == (h, w) {
        return img.to_owned();
    }
    let mut out = Array3::<f32>::zeros((c, h, w));
    for ch in 0..c {
        let plane: Vec<f32> = img.index_axis(ndarray::Axis(0), ch).iter().copied().collect();
        let buf: ImageBuffer<Luma<f32>, Vec<f32>> =
            ImageBuffer::from_raw(w0 as u32, h0 as u32, plane).expect("plane has H·W values");
        let resized = imageops::resize(&buf, w as u32, h as u32, imageops::FilterType::Triangle);
        let mut dst = out.index_axis_mut(ndarray::Axis(0), ch);
        for (d, s) in dst.iter_mut().zip(resized.as_raw()) {
            *d = *s;
        }
    }
    out
}

/// `(C, H, W)` with `C` = 1 or 3 as 3 channels (grayscale replicated).
pub fn gray_to_rgb(img: ArrayView3<'_, f32>) -> Array3<f32> {
    let (c, h, w) = img.dim();
    if c == 3 {
        return img.to_owned();
    }
    img.broadcast((3, h, w)).expect("a single channel broadcasts to 3").to_owned()
}

/// A `[0, 1]` value as a byte: `round(255·v)`, clamped.
pub fn to_byte(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn bilinear_matches_pytorch_align_corners_false() {
        // torch.nn.functional.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False)
        // for x = [[0, 1], [2, 3]] / 3 (the image crate clamps f32 pixels to [0, 1])
        let x = array![[[0.0f32, 1.0], [2.0, 3.0]]] / 3.0;
        let y = resize_chw(x.view(), 4, 4);
        let expect =
            array![[0.0f32, 0.25, 0.75, 1.0], [0.5, 0.75, 1.25, 1.5], [1.5, 1.75, 2.25, 2.5], [2.0, 2.25, 2.75, 3.0]];
        for (a, b) in y.index_axis(ndarray::Axis(0), 0).iter().zip(expect.iter()) {
            assert!((a - b / 3.0).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn gray_is_replicated() {
        let x = array![[[0.5f32, 1.0]]];
        let y = gray_to_rgb(x.view());
        assert_eq!(y.dim(), (3, 1, 2));
        assert_eq!(y[[2, 0, 1]], 1.0);
        assert_eq!(to_byte(0.5), 128);
        assert_eq!(to_byte(1.2), 255);
    }
}
