//! A saved error field (`--error-field-out`, scoreprobe_siem::critic_file): the first byte picks
//! which file is fuzzed, the sidecar (`critic.json`) or the network (`critic.safetensors`); the
//! other one is a valid tiny field (one band). The run loading it is the one the seed was fitted
//! for (its sidecar's entries), so a sidecar that passes the checks reaches the networks, and a
//! loaded field is evaluated at a few points.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ndarray::Array2;
use serde_json::{Map, Value};

const TENSORS: &[u8] = include_bytes!("../seeds/critic.safetensors");
const SIDECAR: &[u8] = include_bytes!("../seeds/critic.json");

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let (tensors, sidecar) = if which & 1 == 0 { (rest, SIDECAR) } else { (TENSORS, rest) };
    let dir = scoreprobe_fuzz::scratch_dir();
    std::fs::write(dir.join("critic.safetensors"), tensors).expect("the scratch folder is writable");
    std::fs::write(dir.join("critic.json"), sidecar).expect("the scratch folder is writable");
    let compat: Map<String, Value> = serde_json::from_slice(SIDECAR).expect("the seed sidecar parses");
    let device = candle_core::Device::Cpu;
    let Ok(field) = scoreprobe_siem::critic_file::load(&dir.join("critic.safetensors"), &compat, &device) else {
        return;
    };
    for (net, _) in &field.bands {
        let Some(net) = net else { continue };
        let d = net.dim();
        if d == 0 || d > 64 {
            continue;
        }
        let x = Array2::from_shape_fn((3, d), |(i, j)| i as f64 - j as f64 * 0.5);
        if let Ok(g) = net.gradient(x.view(), &[0.1, 0.5, 0.9]) {
            assert_eq!(g.dim(), (3, d), "a critic's gradient has the shape of its points");
        }
    }
});
