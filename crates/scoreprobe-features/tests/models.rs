//! The real feature models on the real data (skipped with a notice when the shared data folder
//! or Fashion-MNIST is absent; failures under `CI=true`).

use std::time::Instant;

use ndarray::{s, Array2, Axis};
use scoreprobe_data::{
    cifar10_test, fashion_mnist, mnist_test, require_fashion_mnist, require_shared_data, FashionSplit, ImageSet,
};
use scoreprobe_features::{
    extractor_from_name, model_path, FeatureExtractor, Identity, MnistCnn, MobileNet, MobileNetMode,
};
use scoreprobe_metrics::{frechet_distance_points, TraceMethod};

fn fd(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    frechet_distance_points(a.view(), b.view(), TraceMethod::default()).unwrap().fd
}

fn mnist_cnn() -> Option<MnistCnn> {
    let root = require_shared_data()?;
    Some(MnistCnn::from_path(model_path(MnistCnn::MODEL_FILE, Some(&root)).unwrap()).unwrap())
}

#[test]
fn mnist_cnn_reproduces_its_accuracy() {
    let Some(cnn) = mnist_cnn() else { return };
    let test = mnist_test(None).unwrap();
    let t = Instant::now();
    let pred = cnn.predict(&test).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let labels = test.labels.as_ref().unwrap();
    let correct = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
    let acc = correct as f64 / labels.len() as f64;
    eprintln!("mnist-cnn top-1 {acc:.4} on 10,000 MNIST test digits ({secs:.2} s)");
    assert!((acc - 0.989).abs() <= 0.003, "top-1 accuracy {acc}");
}

#[test]
fn mnist_cnn_features_are_the_gemm_input() {
    let Some(cnn) = mnist_cnn() else { return };
    assert_eq!(cnn.dim(), 256);
    assert_eq!(cnn.feature_node(), "Pooling160");
    // logits = features · W + b with the Gemm's own weights, read from the file: the 256 values
    // are exactly what the last layer sees (and batching/padding does not change them).
    let (w, b) = gemm_weights(cnn.path());
    let imgs = mnist_test(Some(70)).unwrap();
    let f = cnn.extract(&imgs).unwrap();
    let logits = cnn.logits(&imgs).unwrap();
    let recon = f.dot(&w) + &b;
    let err = (&recon - &logits).mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v));
    let scale = logits.mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v));
    assert!(err < 1e-5 * scale, "max |features·W + b − logits| = {err} (largest |logit| {scale})");
    // a single image gives the same features as inside a batch
    let one = cnn.extract(&imgs.select(&[69])).unwrap();
    assert_eq!(one.row(0), f.row(69));
}

/// The final Gemm's weight (256×10) and bias (10) from the ONNX file.
fn gemm_weights(path: &std::path::Path) -> (Array2<f64>, ndarray::Array1<f64>) {
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx().proto_model_for_path(path).unwrap();
    let graph = proto.graph.unwrap();
    let gemm = graph.node.iter().rev().find(|n| n.op_type == "Gemm").unwrap();
    let get = |name: &str| -> Vec<f64> {
        let t = graph.initializer.iter().find(|t| t.name == name).unwrap();
        if !t.float_data.is_empty() {
            t.float_data.iter().map(|&v| v as f64).collect()
        } else {
            t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect()
        }
    };
    let w = Array2::from_shape_vec((256, 10), get(&gemm.input[1])).unwrap();
    let b = ndarray::Array1::from(get(&gemm.input[2]));
    (w, b)
}

#[test]
fn mnist_cnn_fd_separates_digits_from_fashion() {
    let Some(cnn) = mnist_cnn() else { return };
    if require_fashion_mnist().is_none() {
        return;
    }
    let mnist = mnist_test(None).unwrap();
    let fashion = fashion_mnist(FashionSplit::Test, None).unwrap();
    let t = Instant::now();
    let fm = cnn.extract(&mnist).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let ff = cnn.extract(&fashion).unwrap();
    assert!(fm.iter().chain(ff.iter()).all(|v| v.is_finite()));
    // Halves by even / odd index: two samples of the same distribution.
    let halves = fd(&fm.slice(s![..;2, ..]).to_owned(), &fm.slice(s![1..;2, ..]).to_owned());
    // First / last 5,000: the MNIST test set's two writer populations (LeCun: the first half
    // is cleaner), a real but small shift.
    let first_last = fd(&fm.slice(s![..5000, ..]).to_owned(), &fm.slice(s![5000.., ..]).to_owned());
    let across = fd(&fm, &ff);
    eprintln!(
        "mnist-cnn features: 10,000 images in {secs:.2} s; FD(MNIST even, odd) = {halves:.0}, \
         FD(MNIST first 5k, last 5k) = {first_last:.0}, FD(MNIST, Fashion-MNIST) = {across:.0}"
    );
    assert!(halves > 0.0);
    assert!(halves < first_last, "FD even/odd {halves} vs first/last {first_last}");
    assert!(halves < 0.02 * across, "FD even/odd {halves} vs across {across}");
}

#[test]
fn mnist_cnn_rejects_wrong_image_sizes() {
    let Some(cnn) = mnist_cnn() else { return };
    let rgb = ImageSet { images: ndarray::Array4::zeros((2, 3, 28, 28)), labels: None };
    let e = cnn.extract(&rgb).unwrap_err().to_string();
    assert!(e.contains("1×28×28"), "{e}");
}

#[test]
fn mobilenet_features_are_finite_and_deterministic() {
    let Some(root) = require_shared_data() else {
        return;
    };
    let net = MobileNet::from_path(model_path(MobileNet::MODEL_FILE, Some(&root)).unwrap()).unwrap();
    assert_eq!(net.dim(), 1024);
    let imgs = cifar10_test(Some(6)).unwrap();
    let twice = imgs.select(&[0, 1, 2, 3, 4, 5, 0, 3]);
    let t = Instant::now();
    let f = net.extract(&twice).unwrap();
    eprintln!("mobilenet: 8 images in {:.2} s (test profile)", t.elapsed().as_secs_f64());
    assert_eq!(f.dim(), (8, 1024));
    assert!(f.iter().all(|v| v.is_finite()));
    assert!(f.iter().any(|&v| v != 0.0));
    assert_eq!(f.row(6), f.row(0));
    assert_eq!(f.row(7), f.row(3));
    assert_ne!(f.row(0), f.row(1));
    // different classes are further apart than the same image re-run (which is 0)
    let d01: f64 = (&f.row(0) - &f.row(1)).mapv(|v| v * v).sum();
    assert!(d01 > 0.0);
    // grayscale input (replicated to RGB) gives finite features too
    let gray = ImageSet { images: imgs.images.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1)), labels: None };
    let g = net.extract(&gray.select(&[0, 1])).unwrap();
    assert!(g.iter().all(|v| v.is_finite()));

    // The default float evaluation (XNNPACK's arithmetic, equal to LiteRT: python/tests/
    // test_litert_agreement.py) stays close to tract's integer kernels (TFLite's fixed-point re-scaling).
    let int = MobileNet::from_path_with_mode(net.path(), MobileNetMode::Integer).unwrap();
    let three = imgs.select(&[0, 1, 2]);
    let t = Instant::now();
    let fi = int.extract(&three).unwrap();
    eprintln!("mobilenet integer mode: 3 images in {:.2} s (test profile)", t.elapsed().as_secs_f64());
    let step = 0.023528477; // output quantisation step
    for k in 0..3 {
        let (a, b) = (f.row(k), fi.row(k));
        let diff = (&a - &b).mapv(|v| v * v).sum().sqrt();
        let norm = b.mapv(|v| v * v).sum().sqrt();
        let cos = a.dot(&b) / (a.dot(&a).sqrt() * norm);
        let max_abs = (&a - &b).mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v));
        eprintln!(
            "image {k}: float vs integer: relative L2 {:.4}, cosine {cos:.5}, max |Δ| {max_abs:.4} \
             ({:.1} output steps), |f| {norm:.2}",
            diff / norm,
            max_abs / step
        );
        assert!(diff / norm < 0.05, "relative L2 {}", diff / norm);
        assert!(cos > 0.998, "cosine {cos}");
    }
    // and the two differ from each other far less than two different images do
    let between = (&fi.row(0) - &fi.row(1)).mapv(|v| v * v).sum().sqrt();
    let within = (&f.row(0) - &fi.row(0)).mapv(|v| v * v).sum().sqrt();
    assert!(within < 0.2 * between, "float/int gap {within} vs image gap {between}");
}

#[test]
fn names_and_identity() {
    let e = format!("{:#}", extractor_from_name("vgg", None).err().unwrap());
    assert!(e.contains("vgg") && e.contains("mnist-cnn") && e.contains("inception:PATH"), "{e}");
    let e = format!("{:#}", extractor_from_name("mnist-cnn:/nonexistent/model.onnx", None).err().unwrap());
    assert!(e.contains("/nonexistent/model.onnx"), "{e}");
    let id = extractor_from_name("identity", None).unwrap();
    let set = ImageSet {
        images: ndarray::Array4::from_shape_fn((2, 1, 2, 3), |(i, _, y, x)| (i * 6 + y * 3 + x) as f32 / 16.0),
        labels: None,
    };
    let f = id.extract(&set).unwrap();
    assert_eq!(f.dim(), (2, 6));
    assert_eq!(f[[1, 4]], 10.0 / 16.0);
    let m = ndarray::array![[1.0, 2.0], [3.0, f64::NAN]];
    assert!(Identity.extract_matrix(&m).unwrap_err().to_string().contains("row 1"));
    assert!(Identity.extract_matrix(&m.slice(s![..1, ..]).to_owned()).is_ok());
    if let Some(root) = require_shared_data() {
        let cnn = extractor_from_name("mnist-cnn", Some(&root)).unwrap();
        assert!(cnn.extract_matrix(&m).is_err());
        assert_eq!(cnn.dim(), 256);
    }
}
