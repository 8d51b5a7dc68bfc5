//! Throughput of feature extraction (images/s) on this machine.
//!
//! `cargo run --release -p scoreprobe-features --example feature_speed -- [MOBILENET_N] [REPEATS]`
//!
//! mnist-cnn on the 10,000 MNIST test digits; mobilenet on the first MOBILENET_N (default 500)
//! CIFAR-10 test images (32×32 resized to 224×224). Each is timed REPEATS times (default 3;
//! best and median reported) after one warm-up; loading and decoding are not timed.

use std::time::Instant;

use anyhow::Result;
use scoreprobe_data::{cifar10_test, mnist_test, shared_data_root, ImageSet};
use scoreprobe_features::{model_path, FeatureExtractor, MnistCnn, MobileNet};

fn time(ex: &dyn FeatureExtractor, set: &ImageSet, repeats: usize) -> Result<(f64, f64)> {
    ex.extract(&set.select(&(0..set.len().min(16)).collect::<Vec<_>>()))?; // warm-up
    let mut rates = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let f = ex.extract(set)?;
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(f.nrows(), set.len());
        rates.push(set.len() as f64 / secs);
    }
    rates.sort_by(|a, b| b.total_cmp(a));
    Ok((rates[0], rates[rates.len() / 2]))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mobilenet_n: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let repeats: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3).max(1);
    let root = shared_data_root();
    println!(
        "rayon threads: {}, cores: {}",
        rayon::current_num_threads(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let t = Instant::now();
    let cnn = MnistCnn::from_path(model_path(MnistCnn::MODEL_FILE, root.as_deref())?)?;
    let load_cnn = t.elapsed().as_secs_f64();
    let mnist = mnist_test(None)?;
    let (best, med) = time(&cnn, &mnist, repeats)?;
    println!(
        "mnist-cnn  (256-d, {} images): best {best:.0} img/s, median {med:.0} img/s; model load {load_cnn:.3} s",
        mnist.len()
    );
    let t = Instant::now();
    cnn.logits(&mnist)?;
    println!("mnist-cnn  logits (batch 1): {:.0} img/s", mnist.len() as f64 / t.elapsed().as_secs_f64());

    let t = Instant::now();
    let net = MobileNet::from_path(model_path(MobileNet::MODEL_FILE, root.as_deref())?)?;
    let load_net = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let cifar = cifar10_test(Some(mobilenet_n))?;
    let decode = t.elapsed().as_secs_f64();
    let (best, med) = time(&net, &cifar, repeats)?;
    println!(
        "mobilenet  (1024-d, {} CIFAR-10 images 32→224): best {best:.1} img/s, median {med:.1} img/s; model load {load_net:.3} s; JPEG decode {:.0} img/s",
        cifar.len(),
        cifar.len() as f64 / decode
    );
    Ok(())
}
