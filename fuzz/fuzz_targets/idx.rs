//! IDX (MNIST format) images and labels, gzip or not.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scoreprobe_data::idx::parse_idx(data, std::path::Path::new("input.idx"));
    let p = scoreprobe_fuzz::scratch(data, "idx");
    let _ = scoreprobe_data::idx::read_idx_labels(&p);
    let _ = scoreprobe_data::idx::load_idx_pair(&p, Some(&p));
});
