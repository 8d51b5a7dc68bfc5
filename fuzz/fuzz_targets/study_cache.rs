//! A study cache record: what parses must write back and parse to the same results (a resumed
//! study reports the numbers of an uninterrupted one).
#![no_main]
use libfuzzer_sys::fuzz_target;
use scoreprobe_study::cache::ModelResults;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = serde_json::from_slice::<ModelResults>(data) else { return };
    let text = serde_json::to_string_pretty(&r).expect("parsed results serialise");
    let back: ModelResults = serde_json::from_str(&text).expect("written results parse");
    assert_eq!(r, back, "a cache record does not survive a write and a read");
});
