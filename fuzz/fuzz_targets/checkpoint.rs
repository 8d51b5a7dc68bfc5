//! A checkpoint pair: the first byte picks which file is fuzzed, the other one is a valid seed
//! (a tiny MLP), so the fuzzer reaches both the parsers and the shape checks between them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use scoreprobe_nn::checkpoint::{load_score_model, LoadOptions};

const TENSORS: &[u8] = include_bytes!("../seeds/ckpt-1.safetensors");
const SIDECAR: &[u8] = include_bytes!("../seeds/ckpt-1.json");

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let (tensors, sidecar) = if which & 1 == 0 { (rest, SIDECAR) } else { (TENSORS, rest) };
    let w = scoreprobe_fuzz::scratch(tensors, "safetensors");
    scoreprobe_fuzz::scratch(sidecar, "json");
    let opts = LoadOptions { use_ema: which & 2 == 0, device: candle_core::Device::Cpu };
    let _ = scoreprobe_nn::checkpoint::read_tensors(&w, &candle_core::Device::Cpu);
    let _ = load_score_model(&w, &opts);
});
