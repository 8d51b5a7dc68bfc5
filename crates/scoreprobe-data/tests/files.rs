//! Loader behaviour on files built in the test: good, truncated, malformed.

use std::io::Write;
use std::path::Path;

use ndarray::{array, Array2, Array3, Array4};
use ndarray_npy::WriteNpyExt;
use scoreprobe_data::{idx, images, load_dataset, load_images_npy, load_matrix, save_matrix_f32};

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write_npy<A: ndarray_npy::WritableElement, D: ndarray::Dimension>(path: &Path, a: &ndarray::Array<A, D>) {
    let f = std::fs::File::create(path).unwrap();
    a.write_npy(f).unwrap();
}

#[test]
fn idx_round_trip_plain_and_gzip_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..2 * 3 * 4).map(|v| (v * 10) as u8).collect();
    let img = dir.path().join("x-images-idx3-ubyte");
    std::fs::write(&img, idx_bytes(&[2, 3, 4], &data)).unwrap();
    std::fs::write(dir.path().join("x-labels-idx1-ubyte.gz"), gzip(&idx_bytes(&[2], &[7, 3]))).unwrap();
    let set = load_dataset(img.to_str().unwrap(), None).unwrap();
    assert_eq!(set.images.dim(), (2, 1, 3, 4));
    assert_eq!(set.labels.as_deref(), Some(&[7u8, 3][..]));
    assert!((set.images[[1, 0, 2, 3]] - 230.0 / 255.0).abs() < 1e-6);
    let gz = dir.path().join("y.gz");
    std::fs::write(&gz, gzip(&idx_bytes(&[2, 3, 4], &data))).unwrap();
    let a = idx::read_idx_images(&gz).unwrap();
    assert_eq!(a, set.images);
}

#[test]
fn truncated_idx_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let full = idx_bytes(&[10, 28, 28], &vec![1u8; 10 * 784]);
    let raw = dir.path().join("short-images-idx3-ubyte");
    std::fs::write(&raw, &full[..full.len() - 100]).unwrap();
    let e = format!("{:#}", idx::read_idx_images(&raw).unwrap_err());
    assert!(e.contains("short-images-idx3-ubyte") && e.contains("truncated"), "{e}");

    let gz = gzip(&full);
    let gzp = dir.path().join("short.gz");
    std::fs::write(&gzp, &gz[..gz.len() / 2]).unwrap();
    let e = format!("{:#}", idx::read_idx_images(&gzp).unwrap_err());
    assert!(e.contains("short.gz"), "{e}");

    let notidx = dir.path().join("text.idx");
    std::fs::write(&notidx, b"hello world").unwrap();
    let e = format!("{:#}", idx::read_idx_images(&notidx).unwrap_err());
    assert!(e.contains("text.idx") && e.contains("magic"), "{e}");

    let lab = dir.path().join("lab");
    std::fs::write(&lab, idx_bytes(&[3], &[1, 2, 3])).unwrap();
    let full_img = dir.path().join("img");
    std::fs::write(&full_img, &full).unwrap();
    let e = format!("{:#}", idx::load_idx_pair(&full_img, Some(&lab)).unwrap_err());
    assert!(e.contains("3 labels") && e.contains("10 images"), "{e}");
}

#[test]
fn npy_matrices_in_f32_f64_u8() {
    let dir = tempfile::tempdir().unwrap();
    let m64 = array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.5]];
    let p = dir.path().join("m64.npy");
    write_npy(&p, &m64);
    assert_eq!(load_matrix(&p).unwrap(), m64);
    let p = dir.path().join("m32.npy");
    write_npy(&p, &m64.mapv(|v| v as f32));
    assert_eq!(load_matrix(&p).unwrap(), m64);
    let p = dir.path().join("m8.npy");
    write_npy(&p, &array![[1u8, 255]]);
    assert_eq!(load_matrix(&p).unwrap(), array![[1.0, 255.0]]);
}

#[test]
fn bad_npy_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let msg = |p: &Path| format!("{:#}", load_matrix(p).unwrap_err());

    let p = dir.path().join("truncated.npy");
    let mut bytes = Vec::new();
    Array2::<f64>::ones((50, 4)).write_npy(&mut bytes).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 17]).unwrap();
    let e = msg(&p);
    assert!(e.contains("truncated.npy") && e.contains("truncated"), "{e}");

    let p = dir.path().join("nan.npy");
    let mut m = Array2::<f32>::zeros((6, 3));
    m[[4, 1]] = f32::NAN;
    write_npy(&p, &m);
    let e = msg(&p);
    assert!(e.contains("nan.npy") && e.contains("row 4"), "{e}");

    let p = dir.path().join("empty.npy");
    write_npy(&p, &Array2::<f64>::zeros((0, 5)));
    let e = msg(&p);
    assert!(e.contains("empty.npy") && e.contains("empty"), "{e}");

    let p = dir.path().join("three_d.npy");
    write_npy(&p, &Array3::<f64>::zeros((2, 2, 2)));
    let e = msg(&p);
    assert!(e.contains("three_d.npy") && e.contains("2-D"), "{e}");

    let p = dir.path().join("i64.npy");
    write_npy(&p, &array![[1i64, 2]]);
    let e = msg(&p);
    assert!(e.contains("i64.npy") && e.contains("dtype"), "{e}");

    let p = dir.path().join("garbage.npy");
    std::fs::write(&p, b"\x93NUMPY garbage").unwrap();
    assert!(msg(&p).contains("garbage.npy"));

    let e = msg(&dir.path().join("missing.npy"));
    assert!(e.contains("missing.npy"), "{e}");
}

#[test]
fn save_matrix_is_atomic_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("feat.npy");
    let m = array![[0.5f64, -1.25], [3.0, 1e-3]];
    save_matrix_f32(&p, &m).unwrap();
    save_matrix_f32(&p, &(&m * 2.0)).unwrap(); // overwrite in place
    let back = load_matrix(&p).unwrap();
    assert!((back[[1, 1]] - 2e-3).abs() < 1e-9);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("feat.npy")]);
    let e = save_matrix_f32(&p, &array![[1e300f64]]).unwrap_err();
    assert!(e.to_string().contains("feat.npy") && e.to_string().contains("row 0"));
    // the failed save left the old file intact
    assert_eq!(load_matrix(&p).unwrap().dim(), (2, 2));
}

#[test]
fn npy_images_layouts_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gray.npy");
    write_npy(&p, &Array3::<u8>::from_elem((4, 5, 6), 255));
    let s = load_images_npy(&p).unwrap();
    assert_eq!(s.images.dim(), (4, 1, 5, 6));
    assert_eq!(s.images[[3, 0, 4, 5]], 1.0);

    let p = dir.path().join("nhwc.npy");
    let mut a = Array4::<f32>::zeros((2, 8, 8, 3));
    a[[1, 2, 3, 2]] = 0.75;
    write_npy(&p, &a);
    let s = load_images_npy(&p).unwrap();
    assert_eq!(s.images.dim(), (2, 3, 8, 8));
    assert_eq!(s.images[[1, 2, 2, 3]], 0.75);

    let p = dir.path().join("pm1.npy");
    write_npy(&p, &Array4::<f32>::from_elem((2, 3, 4, 4), -1.0));
    let e = format!("{:#}", load_images_npy(&p).unwrap_err());
    assert!(e.contains("pm1.npy") && e.contains("[0, 1]"), "{e}");
}

fn save_png(path: &Path, w: u32, h: u32, rgb: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if rgb {
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 * 10, y as u8 * 10, 200])).save(path).unwrap();
    } else {
        image::GrayImage::from_fn(w, h, |x, _| image::Luma([x as u8 * 20])).save(path).unwrap();
    }
}

#[test]
fn image_folder_recursive_sorted_gray_and_rgb() {
    let dir = tempfile::tempdir().unwrap();
    save_png(&dir.path().join("b/2.png"), 5, 4, false);
    save_png(&dir.path().join("a.png"), 5, 4, false);
    save_png(&dir.path().join("b/1.PNG"), 5, 4, false);
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    let files = images::list_image_files(dir.path()).unwrap();
    let rel: Vec<_> = files.iter().map(|p| p.strip_prefix(dir.path()).unwrap().to_str().unwrap().to_string()).collect();
    assert_eq!(rel, ["a.png", "b/1.PNG", "b/2.png"]);
    let s = load_dataset(dir.path().to_str().unwrap(), None).unwrap();
    assert_eq!(s.images.dim(), (3, 1, 4, 5));
    assert!((s.images[[0, 0, 1, 2]] - 40.0 / 255.0).abs() < 1e-6);

    save_png(&dir.path().join("c.png"), 5, 4, true);
    let s = images::load_image_folder(dir.path(), None).unwrap();
    assert_eq!(s.images.dim(), (4, 3, 4, 5));
    assert_eq!(s.images[[0, 1, 1, 2]], s.images[[0, 0, 1, 2]]); // gray replicated
    assert!((s.images[[3, 2, 0, 0]] - 200.0 / 255.0).abs() < 1e-6);
    assert_eq!(images::load_image_folder(dir.path(), Some(2)).unwrap().len(), 2);
}

#[test]
fn image_folder_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    save_png(&dir.path().join("00.png"), 8, 8, true);
    save_png(&dir.path().join("01.png"), 8, 8, true);
    save_png(&dir.path().join("02_odd.png"), 8, 9, true);
    let e = format!("{:#}", images::load_image_folder(dir.path(), None).unwrap_err());
    assert!(e.contains("02_odd.png") && e.contains("same size"), "{e}");

    std::fs::remove_file(dir.path().join("02_odd.png")).unwrap();
    std::fs::write(dir.path().join("03_broken.jpg"), b"\xff\xd8\xff not really").unwrap();
    let e = format!("{:#}", images::load_image_folder(dir.path(), None).unwrap_err());
    assert!(e.contains("03_broken.jpg"), "{e}");

    let empty = tempfile::tempdir().unwrap();
    let e = format!("{:#}", images::load_image_folder(empty.path(), None).unwrap_err());
    assert!(e.contains("no image files"), "{e}");
}

#[test]
fn unknown_dataset_lists_the_names() {
    let e = format!("{:#}", load_dataset("no-such-dataset", None).unwrap_err());
    assert!(e.contains("no-such-dataset") && e.contains("cifar10-test"), "{e}");
}
