//! `.npz` readers: pytorch-fid statistics and mergeable moments.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = scoreprobe_fuzz::scratch(data, "npz");
    let _ = scoreprobe_metrics::read_stats_npz(&p);
    let _ = scoreprobe_metrics::read_moments_npz(&p);
});
