//! `.npy` readers: generic arrays, point matrices, image stacks.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = scoreprobe_fuzz::scratch(data, "npy");
    let _ = scoreprobe_data::read_npy(&p);
    let _ = scoreprobe_data::load_matrix(&p);
    let _ = scoreprobe_data::load_images_npy(&p);
    let _ = scoreprobe_metrics::stats_io::read_points_npy(&p);
});
