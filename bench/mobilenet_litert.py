"""scoreprobe's MobileNet extractor against LiteRT (ai-edge-litert, XNNPACK) on the same .tflite and
the same input bytes (issue 26): throughput back to back, agreement, and what it does to FD.

    PYTHON bench/mobilenet_litert.py [--n 2000] [--threads 2] [--data ../shared/data] [--bin PATH]

Prints, for the first N CIFAR-10 test images (class-balanced: N/10 per class) and the next N
(disjoint): images/s of each runtime on the same bytes with the same thread count (both run the
whole set; RAYON_NUM_THREADS is set to --threads) and their ratio; the share of output values
within one output quantisation step of LiteRT; FD(scoreprobe features, LiteRT features) of the
same N images beside FD between the two disjoint N-image halves (LiteRT features both), the
scale against which the first should be read; and `uptime`'s load. Needs the scoreprobe module
and ai-edge-litert. With --bin (a release build of the `mobilenet_raw` example), scoreprobe's side
is that program on the same bytes (its own timer: extraction only, as LiteRT's loop), for a
release-built extractor when the Python module at hand is a dev build.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--bin", type=Path, default=None, help="release mobilenet_raw example to time instead")
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    import scoreprobe as sp  # after RAYON_NUM_THREADS
    from ai_edge_litert.interpreter import Interpreter

    per = 2 * args.n // len(CLASSES)
    imgs = [sp.load_images(args.data / "cifar10" / "test" / c, limit=per) for c in CLASSES]
    first = np.concatenate([x[: per // 2] for x in imgs])
    second = np.concatenate([x[per // 2 :] for x in imgs])
    bytes_a, bytes_b = sp.mobilenet_input(first), sp.mobilenet_input(second)
    model = args.data / "models" / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
    it = Interpreter(model_path=str(model), num_threads=args.threads)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    step, zero = out["quantization"]

    def litert(nhwc):
        feats = []
        for img in nhwc:
            it.set_tensor(inp["index"], img[None])
            it.invoke()
            feats.append((it.get_tensor(out["index"]).reshape(-1).astype(np.float64) - zero) * step)
        return np.stack(feats)

    t0 = time.perf_counter()
    ref_a = litert(bytes_a)
    t_ref = time.perf_counter() - t0
    if args.bin is None:
        t0 = time.perf_counter()
        ours_a = sp.extract_features(np.ascontiguousarray(bytes_a.transpose(0, 3, 1, 2)), "mobilenet")
        t_ours = time.perf_counter() - t0
    else:
        ours_a, t_ours = run_bin(args.bin, bytes_a, args.data)
    ref_b = litert(bytes_b)
    n = len(bytes_a)
    within = float(np.mean(np.abs(ours_a - ref_a) <= step * (1 + 1e-6)))
    print(f"images: {n} (+{len(bytes_b)} disjoint), threads {args.threads}")
    print(f"scoreprobe timed: {'the Python module' if args.bin is None else args.bin}")
    print(f"throughput: scoreprobe {n / t_ours:.1f} img/s, LiteRT {n / t_ref:.1f} img/s, ratio {t_ref / t_ours:.3f}")
    print(f"agreement: {within:.4%} of values within one output step ({step:.6f})")
    print(f"FD(scoreprobe, LiteRT) same {n} images: {sp.frechet_distance(ours_a, ref_a):.6g}")
    print(f"FD(LiteRT half A, LiteRT half B), disjoint {n}-image halves: {sp.frechet_distance(ref_a, ref_b):.6g}")
    print(f"load average: {os.getloadavg()}")


def run_bin(binary, nhwc, data):
    """Features and seconds of the `mobilenet_raw native` program on the same bytes."""
    import re
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.u8", Path(tmp) / "out.f32"
        np.ascontiguousarray(nhwc).tofile(src)
        env = dict(os.environ, SCOREPROBE_DATA=str(data))
        run = subprocess.run([str(binary), "native", str(src), str(dst)], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(run.stderr)
        secs = float(re.search(r"images in ([0-9.]+) s", run.stderr).group(1))
        return np.fromfile(dst, dtype=np.float32).reshape(len(nhwc), -1).astype(np.float64), secs


if __name__ == "__main__":
    main()
