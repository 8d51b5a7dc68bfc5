"""scoreprobe's MobileNet features against the reference runtime, LiteRT (``ai-edge-litert``), on the
same input bytes (``sp.mobilenet_input``): at least 99 % of the output values must agree within one
output quantisation step (issue 26). Skipped when ``ai_edge_litert`` is not importable."""

from __future__ import annotations

import numpy as np
import pytest

import scoreprobe as sp

litert = pytest.importorskip("ai_edge_litert.interpreter")

MODEL = "models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def litert_features(model_path, nhwc_bytes, threads=2):
    """LiteRT's dequantised output for each image of (N, 224, 224, 3) uint8, and the output step."""
    it = litert.Interpreter(model_path=str(model_path), num_threads=threads)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    scale, zero = out["quantization"]
    feats = []
    for img in nhwc_bytes:
        it.set_tensor(inp["index"], img[None])
        it.invoke()
        feats.append((it.get_tensor(out["index"]).reshape(-1).astype(np.float64) - zero) * scale)
    return np.stack(feats), scale


@pytest.fixture(scope="module")
def both(shared_data):
    """(scoreprobe's features, LiteRT's, the output step) of 50 CIFAR-10 images on the same bytes."""
    model = shared_data / MODEL
    if not model.is_file():
        pytest.fail(f"{model} is missing from the shared data folder")
    images = np.concatenate([sp.load_images(shared_data / "cifar10" / "test" / c, limit=5) for c in CLASSES])
    nhwc = sp.mobilenet_input(images)
    assert nhwc.dtype == np.uint8 and nhwc.shape == (len(images), 224, 224, 3)
    ours = sp.extract_features(images, "mobilenet")
    # the bytes fed back (224 × 224 already: no resize) give the same features: the same input
    again = sp.extract_features(np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2)), "mobilenet")
    np.testing.assert_array_equal(ours, again)
    ref, step = litert_features(model, nhwc)
    return ours, ref, step


def share_within(both, steps):
    ours, ref, step = both
    return float(np.mean(np.abs(ours - ref) <= steps * step * (1 + 1e-6)))


def test_mobilenet_agrees_with_litert_within_one_output_step(both):
    # measured 2026-12-07: every value identical (the float graph reproduces XNNPACK's integer
    # arithmetic); the bar is the issue's, one output step for 99 % of the values
    within = share_within(both, 1)
    print(f"within one output step of LiteRT: {within:.4%}; identical: {share_within(both, 1e-3):.4%}")
    assert within >= 0.99, f"only {within:.2%} of values within one output step of LiteRT"
