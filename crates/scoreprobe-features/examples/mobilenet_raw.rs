//! MobileNet features of raw model-input bytes, in either evaluation mode, for comparing against
//! another runtime on the same bytes (bench/mobilenet_litert.py, issue 26).
//!
//! `cargo run -p scoreprobe-features --example mobilenet_raw -- MODE IN.u8 OUT.f32`
//!
//! MODE: `native`, `float` or `integer` ([`MobileNetMode`]); IN.u8: N × 224 × 224 × 3 bytes (NHWC, as
//! `scoreprobe.mobilenet_input` returns them, written with numpy's `tofile`); OUT.f32: N × 1024
//! little-endian f32 features. Prints images/s on stderr.

use anyhow::{bail, Context, Result};
use ndarray::Array4;
use scoreprobe_data::{shared_data_root, ImageSet};
use scoreprobe_features::{model_path, FeatureExtractor, MobileNet, MobileNetMode};
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, input, output] = &args[..] else {
        bail!("usage: mobilenet_raw native|float|integer IN.u8 OUT.f32");
    };
    let mode = match mode.as_str() {
        "native" => MobileNetMode::Native,
        "float" => MobileNetMode::Float,
        "integer" => MobileNetMode::Integer,
        other => bail!("MODE: expected native, float or integer, got '{other}'"),
    };
    let bytes = std::fs::read(input).with_context(|| format!("{input}: cannot read"))?;
    let per = 224 * 224 * 3;
    if bytes.is_empty() || bytes.len() % per != 0 {
        bail!("{input}: {} bytes is not a whole number of 224 × 224 × 3 images", bytes.len());
    }
    let n = bytes.len() / per;
    let nhwc = Array4::from_shape_vec((n, 224, 224, 3), bytes)?;
    // [0, 1] values whose `round(255·v)` is the byte again; 224 × 224 is not resized
    let images = nhwc.permuted_axes([0, 3, 1, 2]).mapv(|b| f32::from(b) / 255.0);
    let set = ImageSet { images, labels: None };
    let net = MobileNet::from_path_with_mode(model_path(MobileNet::MODEL_FILE, shared_data_root().as_deref())?, mode)?;
    let t = Instant::now();
    let f = net.extract(&set)?;
    eprintln!("{n} images in {:.2} s: {:.1} img/s", t.elapsed().as_secs_f64(), n as f64 / t.elapsed().as_secs_f64());
    let out: Vec<u8> = f.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect();
    std::fs::write(output, out).with_context(|| format!("{output}: cannot write"))?;
    Ok(())
}
