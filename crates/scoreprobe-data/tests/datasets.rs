//! The named datasets on the real files. Skipped with a notice when the files are absent,
//! failures under `CI=true`.

use scoreprobe_data::{
    cifar10_test, fashion_mnist, fashion_mnist_from, load_dataset, mnist_test, mnist_test_from, require_fashion_mnist,
    require_shared_data, FashionSplit, ImageSet,
};

fn class_counts(set: &ImageSet, k: usize) -> Vec<usize> {
    let mut c = vec![0; k];
    for &l in set.labels.as_ref().expect("labels") {
        c[l as usize] += 1;
    }
    c
}

#[test]
fn mnist_test_set() {
    let Some(root) = require_shared_data() else {
        return;
    };
    let set = mnist_test(None).unwrap();
    assert_eq!(set.images.dim(), (10_000, 1, 28, 28));
    assert_eq!(class_counts(&set, 10), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    let (lo, hi) = set.images.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert_eq!((lo, hi), (0.0, 1.0));
    // first test digit is a 7
    assert_eq!(set.labels.as_ref().unwrap()[0], 7);
    // the same through a user path and through a name, with a limit
    let small = mnist_test_from(root.join("mnist"), Some(100)).unwrap();
    assert_eq!(small.len(), 100);
    assert_eq!(small.images, set.select(&(0..100).collect::<Vec<_>>()).images);
    assert_eq!(load_dataset("mnist", Some(7)).unwrap().len(), 7);
    let via_path = load_dataset(root.join("mnist/t10k-images-idx3-ubyte.gz").to_str().unwrap(), Some(10)).unwrap();
    assert_eq!(via_path.labels, small.labels.map(|l| l[..10].to_vec()));
}

#[test]
fn cifar10_test_set() {
    if require_shared_data().is_none() {
        return;
    }
    let set = cifar10_test(None).unwrap();
    assert_eq!(set.images.dim(), (10_000, 3, 32, 32));
    assert_eq!(class_counts(&set, 10), [1000; 10]);
    // interleaved order: every prefix of 10 holds one image per class
    assert_eq!(set.labels.as_ref().unwrap()[..20], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let mean = set.images.mean().unwrap();
    assert!((0.3..0.6).contains(&mean), "mean pixel {mean}");
    let small = load_dataset("cifar10-test", Some(25)).unwrap();
    assert_eq!(small.len(), 25);
    assert_eq!(small.images, set.select(&(0..25).collect::<Vec<_>>()).images);
}

#[test]
fn fashion_mnist_splits() {
    let Some(dir) = require_fashion_mnist() else {
        return;
    };
    let test = fashion_mnist(FashionSplit::Test, None).unwrap();
    assert_eq!(test.images.dim(), (10_000, 1, 28, 28));
    assert_eq!(class_counts(&test, 10), [1000; 10]);
    let train = fashion_mnist_from(&dir, FashionSplit::Train, None).unwrap();
    assert_eq!(train.images.dim(), (60_000, 1, 28, 28));
    assert_eq!(class_counts(&train, 10), [6000; 10]);
    assert_eq!(load_dataset("fashion-mnist:train", Some(3)).unwrap().len(), 3);
    assert_eq!(load_dataset("fashion-mnist", Some(5)).unwrap().labels, test.labels.map(|l| l[..5].to_vec()));
}
