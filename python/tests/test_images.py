"""Images and feature spaces, and the CLI's `metrics --features` on image folders and IDX files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import scoreprobe as sp
from conftest import rel_close


def write_idx_images(path, images_u8):
    """An uncompressed IDX image file (magic 0x00000803, big-endian sizes)."""
    n, h, w = images_u8.shape
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w))
        f.write(np.ascontiguousarray(images_u8, dtype=np.uint8).tobytes())


@pytest.fixture(scope="module")
def mnist(shared_data):
    path = shared_data / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not path.is_file():
        pytest.fail(f"{path} is missing from the shared data folder")
    return sp.load_images(path, limit=1200)


def test_load_images_reads_idx_and_npy_and_identity_features_are_the_pixels(tmp_path, mnist):
    assert mnist.shape == (1200, 1, 28, 28) and mnist.dtype == np.float32
    assert 0.0 <= mnist.min() and mnist.max() <= 1.0 and mnist.max() > 0.9
    u8 = np.rint(mnist[:50, 0] * 255).astype(np.uint8)
    write_idx_images(tmp_path / "x-images-idx3-ubyte", u8)
    back = sp.load_images(tmp_path / "x-images-idx3-ubyte")
    assert np.array_equal(back, mnist[:50])
    np.save(tmp_path / "x.npy", u8)  # (N, H, W) uint8
    assert np.array_equal(sp.load_images(tmp_path / "x.npy"), mnist[:50])
    feats = sp.extract_features(u8, "identity")
    assert feats.shape == (50, 784) and np.allclose(feats, mnist[:50].reshape(50, -1), atol=1e-7)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sp.extract_features(mnist[:5] * 2.0 - 1.0, "identity")
    with pytest.raises(FileNotFoundError):
        sp.load_images(tmp_path / "absent-folder")


def test_cli_fd_and_kid_between_two_mnist_idx_files_with_mnist_cnn(tmp_path, mnist, cli):
    u8 = np.rint(mnist[:, 0] * 255).astype(np.uint8)
    a, b = tmp_path / "a-images-idx3-ubyte", tmp_path / "b-images-idx3-ubyte"
    write_idx_images(a, u8[:600])
    write_idx_images(b, u8[600:1200])
    out = cli("metrics", "--a", a, "--b", b, "--features", "mnist-cnn", "--metric", "fd,kid", "--kid-subset-size", "200")
    fa = sp.extract_features(sp.load_images(a), "mnist-cnn")
    fb = sp.extract_features(str(b), "mnist-cnn")
    assert fa.shape == (600, 256)
    assert rel_close(out["fd"], sp.frechet_distance(fa, fb))
    mean, std = sp.kid(fa, fb, subset_size=200)
    assert rel_close(out["kid"]["mean"], mean) and rel_close(out["kid"]["std"], std)
    # two halves of MNIST are close in the CNN's space; digits against their negatives are not
    write_idx_images(tmp_path / "neg-images-idx3-ubyte", 255 - u8[600:1200])
    far = cli("metrics", "--a", a, "--b", tmp_path / "neg-images-idx3-ubyte", "--features", "mnist-cnn", "--metric", "fd")
    assert far["fd"] > 10 * out["fd"] > 0


def small_folder(src, dst, n):
    """The first n images of a class folder, linked (not copied) into dst."""
    dst.mkdir()
    for f in sorted(src.glob("*.jpg"))[:n]:
        (dst / f.name).symlink_to(f)
    return dst


def test_cli_fd_and_kid_between_two_cifar10_class_folders_with_mobilenet(shared_data, cli, tmp_path):
    test_dir = shared_data / "cifar10" / "test"
    if not (test_dir / "airplane").is_dir():
        pytest.fail(f"{test_dir}/airplane is missing from the shared data folder")
    planes = small_folder(test_dir / "airplane", tmp_path / "planes", 60)
    cars = small_folder(test_dir / "automobile", tmp_path / "cars", 60)
    out = cli("metrics", "--a", planes, "--b", cars, "--features", "mobilenet", "--metric", "fd,kid",
              "--kid-subset-size", "50")
    assert out["n_a"] == 60 and out["n_b"] == 60 and out["details"]["dim"] == 1024
    # the same pipeline from Python gives the same numbers
    fa = sp.extract_features(sp.load_images(planes), "mobilenet")
    fb = sp.extract_features(cars, "mobilenet")
    assert rel_close(out["fd"], sp.frechet_distance(fa, fb))
    mean, std = sp.kid(fa, fb, subset_size=50)
    assert rel_close(out["kid"]["mean"], mean) and rel_close(out["kid"]["std"], std)
    # planes against other planes are closer than planes against cars
    more_planes = tmp_path / "planes2"
    more_planes.mkdir()
    for f in sorted((test_dir / "airplane").glob("*.jpg"))[60:120]:
        (more_planes / f.name).symlink_to(f)
    same = cli("metrics", "--a", planes, "--b", more_planes, "--features", "mobilenet", "--metric", "fd")
    assert 0 < same["fd"] < out["fd"], (same["fd"], out["fd"])
    # --n subsamples the folders before extraction (seeded)
    sub = cli("metrics", "--a", test_dir / "airplane", "--b", cars, "--features", "mobilenet", "--metric", "fd",
              "--n", "30")
    assert sub["n_a"] == 30 and sub["details"]["n_a_total"] == 1000


def test_extract_features_matches_the_cli_pipeline_on_a_folder(shared_data, cli, tmp_path):
    folder = shared_data / "cifar10" / "test" / "cat"
    imgs = sp.load_images(folder, limit=40)
    np.save(tmp_path / "cats.npy", (imgs * 255).round().astype(np.uint8))  # (N, C, H, W) uint8
    f_folder = sp.extract_features(imgs, "mobilenet")
    f_npy = sp.extract_features(tmp_path / "cats.npy", "mobilenet")
    assert f_folder.shape == (40, 1024)
    assert np.allclose(f_folder, f_npy, rtol=0, atol=1e-9)
    other = sp.extract_features(sp.load_images(shared_data / "cifar10" / "test" / "ship", limit=40), "mobilenet")
    out = cli("metrics", "--a", tmp_path / "cats.npy", "--b", tmp_path / "cats.npy", "--features", "mobilenet",
              "--metric", "fd")
    assert abs(out["fd"]) < 1e-6
    assert sp.frechet_distance(f_folder, other) > 1.0
