//! PNG and JPEG decoding as the image-folder loader does it (format guessed from the bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = scoreprobe_fuzz::scratch(data, "png");
    let _ = scoreprobe_data::images::load_image_files(&[p.clone(), p]);
});
