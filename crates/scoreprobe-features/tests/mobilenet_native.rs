//! The native MobileNet engine (the crate's uint8 kernels) against the tract `f32` graph on integer
//! units (the engine it replaced, equal to LiteRT: python/tests/test_litert_agreement.py), on real
//! CIFAR-10 images: the same bits at every SIMD level the processor has, whatever the batch size
//! and thread count. Its own test binary: the SIMD level is process-wide, and no other test may
//! change it while this one runs. Skipped with a notice without the shared data (fails in CI).

use ndarray::Array2;
use scoreprobe_core::simd::{detected, force, Level};
use scoreprobe_data::{cifar10_test, require_shared_data, ImageSet};
use scoreprobe_features::{model_path, FeatureExtractor, MobileNet, MobileNetMode};

/// Features in a rayon pool of `threads` threads.
fn extract_with(net: &MobileNet, images: &ImageSet, threads: usize) -> Array2<f64> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| net.extract(images)).unwrap()
}

/// The first value where two feature sets differ, for the failure message.
fn first_difference(a: &Array2<f64>, b: &Array2<f64>) -> String {
    match a.indexed_iter().find(|(ix, v)| b[*ix] != **v) {
        Some((ix, v)) => format!("first difference at {ix:?}: {v} vs {}", b[ix]),
        None => "no difference".into(),
    }
}

#[test]
fn native_engine_equals_the_float_graph_at_every_level_batch_and_thread_count() {
    let Some(root) = require_shared_data() else { return };
    let path = model_path(MobileNet::MODEL_FILE, Some(&root)).unwrap();
    let native = MobileNet::from_path(&path).unwrap();
    assert_eq!(native.mode(), MobileNetMode::Native, "the shared MobileNet must run on the native engine");
    let float = MobileNet::from_path_with_mode(&path, MobileNetMode::Float).unwrap();
    assert_eq!(float.mode(), MobileNetMode::Float);
    // 7 images from several classes (the folder order is class by class), a grayscale one too
    let all = cifar10_test(Some(3000)).unwrap();
    let mut images = all.select(&[0, 1, 999, 1500, 2001, 2999, 10]);
    images.images.index_axis_mut(ndarray::Axis(0), 6).map_inplace(|v| *v = (*v * 0.8).min(1.0));
    let want = float.extract(&images).unwrap();
    assert!(want.iter().any(|&v| v != 0.0));

    let levels: Vec<Level> = Level::ALL.into_iter().filter(|&l| l <= detected()).collect();
    eprintln!("SIMD levels on this processor: {levels:?}");
    for &level in &levels {
        assert!(force(level));
        for (batch, threads) in [(8, 2), (1, 1), (3, 2)] {
            let net = MobileNet::from_path(&path).unwrap().with_batch(batch);
            let got = extract_with(&net, &images, threads);
            assert!(
                got == want,
                "{level:?}, batch {batch}, {threads} threads: native features differ from the float graph's; {}",
                first_difference(&got, &want)
            );
        }
    }
    assert!(force(detected()));
}
