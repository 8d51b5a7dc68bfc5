//! The JSON problem spec, then everything built from it (schedule, target, model).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(spec) = scoreprobe_core::spec::ProblemSpec::from_json(text, "fuzz") else { return };
    let _ = spec.schedule();
    let _ = spec.target();
    let _ = spec.synthetic_model();
});
