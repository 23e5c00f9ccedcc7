"""Benchmark of notebook 03's feature extractor (helpers.features). Prints numbers; not a test.

(a) Speed, MobileNetV2, the same synthetic 500x375 JPEGs, in one run:
    - the seed's per-image loop: keras.utils.load_img one image, model.predict on a batch of one, next image;
    - the project's extractor: helpers.features.extract_features (tf.data pipeline, parallel decoding, batches);
    - raw forward throughput: the same model fed pre-decoded, preprocessed tensors (no decoding at all).
    Targets: extractor >= 10x the per-image loop, and >= 80 % of raw forward throughput.
(b) Peak memory: extracting N synthetic 500x375 JPEGs with InceptionV3 through the feature cache
    (course.feature_cache.load_or_extract_features), in a fresh subprocess, peak RSS from
    resource.getrusage(RUSAGE_SELF).ru_maxrss. Target: under 2 GB for N = 8000. A small N is run too, to show
    that the peak does not grow with N (images are streamed, never all in memory).

Untrained weights (weights=None) are used throughout: a forward pass costs exactly the same as with ImageNet
weights, and nothing needs downloading.

    python benchmarks/bench_features.py            # (b) 8000 and 200 images, (a) 512 images; batch 32
    python benchmarks/bench_features.py --small    # a quick run: (b) 300 and 100 images, (a) 128 images

Part (b) runs first, while this process is still small (no TensorFlow imported yet).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from measurement import run_recorded

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make_jpegs(folder: Path, count: int, width: int = 500, height: int = 375, seed: int = 0) -> list[Path]:
    """Synthetic photo-like JPEGs: smooth colour gradients, a few shapes, sensor-like noise (about 40 KB each)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        a, b, c = rng.uniform(0, 1, 3)
        base = np.stack([x / width * 255 * a, y / height * 255 * b, (x + y) / (width + height) * 255 * c], -1)
        noise = rng.normal(0, 8, (height, width, 1))
        image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x0, y0 = rng.integers(0, width - 60), rng.integers(0, height - 60)
            draw.ellipse(
                [x0, y0, x0 + rng.integers(20, 150), y0 + rng.integers(20, 150)],
                fill=tuple(int(v) for v in rng.integers(0, 256, 3)),
            )
        files.append(folder / f"synthetic_{i:05d}.jpg")
        image.save(files[-1], quality=90)
    return files


def speed(files: list[Path], batch_size: int) -> dict:
    import keras
    import tensorflow as tf

    from helpers import features

    encoder = "mobilenet_v2"
    spec = features.encoder_spec(encoder)
    model = features.build_encoder(encoder, "none")
    preprocess = features.preprocess_function(encoder)

    def seed_loop():
        for path in files:
            image = keras.utils.load_img(path, target_size=(spec.image_size, spec.image_size))
            batch = preprocess(keras.utils.img_to_array(image)[None])
            model.predict(batch, verbose=0)

    def extractor():
        features.extract_features(model, files, encoder, batch_size=batch_size, progress=False)

    decoded = np.stack([preprocess(features.load_image(p, spec.image_size).numpy()) for p in files])
    batches = [tf.constant(decoded[i : i + batch_size]) for i in range(0, len(files), batch_size)]
    forward = features.forward_function(model, spec.image_size)

    def raw_forward():
        for batch in batches:
            forward(batch)

    # warm-up: trace the graphs, fill caches
    model.predict(batches[0][:1], verbose=0)
    features.extract_features(model, files[:batch_size], encoder, batch_size=batch_size, progress=False)
    forward(batches[0])

    results = {}
    for name, run in [
        ("seed per-image loop", seed_loop),
        ("project extractor", extractor),
        ("raw forward (pre-decoded)", raw_forward),
    ]:
        started = time.perf_counter()
        run()
        results[name] = len(files) / (time.perf_counter() - started)
    return results


RSS_CHILD = r"""
import json, resource, sys, time


def peak_mb():
    # VmHWM: this process's own peak. (ru_maxrss would include the parent's size at fork time on Linux.)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


from course import feature_cache
from helpers import features
images_dir, cache_root, count, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ids = [f"synthetic_{i:05d}.jpg" for i in range(count)]
weights = features.resolve_weights("inception_v3", "none")
model = features.build_encoder("inception_v3", weights, seed=0)
rss_model = peak_mb()
started = time.perf_counter()
result = feature_cache.load_or_extract_features(None, ids, images_dir, "inception_v3", weights, batch_size=batch_size, model=model,
                                           cache_root=cache_root, seed=0, progress=False)
seconds = time.perf_counter() - started
assert result.complete and len(result.table.image_ids) == count
print(json.dumps({"images": count, "peak_rss_mb": peak_mb(),
                  "rss_after_model_mb": rss_model, "images_per_s": count / seconds}))
"""


def peak_rss(images_dir: Path, count: int, batch_size: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_cache_") as cache_root:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(
            [sys.executable, "-c", RSS_CHILD, str(images_dir), cache_root, str(count), str(batch_size)],
            env=env,
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the peak-RSS subprocess failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a quick run (128 images for speed, 300/100 for memory)")
    parser.add_argument("--speed-images", type=int, help="images for the speed comparison (default 512)")
    parser.add_argument("--rss-images", type=int, help="images for the peak-memory run (default 8000)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (both parts)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)
    speed_images = args.speed_images or (128 if args.small else 512)
    rss_images = args.rss_images or (300 if args.small else 8000)
    rss_small = min(100 if args.small else 200, rss_images)

    folder = Path(tempfile.mkdtemp(prefix="bench_features_"))
    try:
        started = time.perf_counter()
        count = max(0 if args.skip_speed else speed_images, 0 if args.skip_memory else rss_images)
        make_jpegs(folder, count)
        print(
            f"made {count} synthetic 500x375 JPEGs in {time.perf_counter() - started:.0f} s "
            f"({sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.0f} MB) in {folder}"
        )
        print(f"CPU cores: {os.cpu_count()}; weights=None (same speed as ImageNet weights)\n")

        if not args.skip_memory:
            print(
                f"(b) InceptionV3 peak RSS (fresh subprocess, VmHWM), batch {args.batch_size}, through the feature cache"
            )
            print(f"    {'images':>7s} {'peak RSS MB':>12s} {'RSS after model built MB':>25s} {'images/s':>9s}")
            for count in dict.fromkeys([rss_small, rss_images]):
                row = peak_rss(folder, count, args.batch_size)
                print(
                    f"    {row['images']:7d} {row['peak_rss_mb']:12.0f} {row['rss_after_model_mb']:25.0f} "
                    f"{row['images_per_s']:9.1f}"
                )
            print("    target: peak RSS under 2048 MB for 8000 images, and about the same for few and many images\n")
        if not args.skip_speed:
            files = sorted(folder.iterdir())[:speed_images]
            results = speed(files, args.batch_size)
            print(f"(a) MobileNetV2, {speed_images} images of 500x375, batch {args.batch_size}")
            print(f"    {'method':30s} {'images/s':>9s}")
            for name, rate in results.items():
                print(f"    {name:30s} {rate:9.1f}")
            loop, ours, raw = results.values()
            print(f"    project extractor / seed loop     = {ours / loop:5.1f}x   (target >= 10x)")
            print(f"    project extractor / raw forward   = {ours / raw:5.0%}   (target >= 80 %)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(
        run_recorded(
            main,
            title="feature extraction: speed against the per-image loop and raw forward; peak memory against the number of images",
            target=">= 80 % of raw forward and >= 10x the loop; peak RSS < 2 GB whatever the number of images",
        )
    )
