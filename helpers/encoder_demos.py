"""Demos of notebook 03 that are not part of the pipeline: timing every encoder, ImageNet labels with
right and wrong preprocessing, pictures of nearest neighbours.

**This corner reads ``../shared``** (the course machines' copy of the MobileNetV2 classifier head and the
ImageNet labels, :data:`SHARED_KERAS_DIR`); without it :func:`imagenet_classifier` returns ``None`` and
the notebook skips that demo. Nothing else in ``helpers`` depends on this module.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from course import paths
from helpers.encoders import (
    ENCODERS,
    WeightsChoice,
    build_encoder,
    encoder_spec,
    keras_cache_dir,
    preprocess_function,
    resolve_weights,
)
from helpers.extraction import COMPILED_FORWARD, forward_function
from helpers.feature_table import FeatureTable, nearest_neighbours
from helpers.images import open_rgb


def measure_encoders(names: list[str] | None = None, batch_size: int = 8, repeats: int = 2) -> list[dict]:
    """Feature size, parameters and forward images/s of each encoder on this machine.

    Built with untrained weights (``weights=None``): the speed is the same as with
    ImageNet weights and nothing is downloaded. Measured on random [0, 255] batches
    of ``batch_size`` images, after one warm-up batch."""
    import gc

    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one tf.function per encoder is intended: no retracing warnings
    rows = []
    for name in names or list(ENCODERS):
        spec = encoder_spec(name)
        model = build_encoder(name, WeightsChoice("none", "none", None, "speed measurement"))
        forward = forward_function(model, spec.image_size)
        images = np.random.default_rng(0).uniform(0, 255, (batch_size, spec.image_size, spec.image_size, 3))
        images = preprocess_function(name)(images.astype(np.float32))
        forward(images)  # warm-up: traces the graph
        started = time.perf_counter()
        for _ in range(repeats):
            output = forward(images)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "encoder": name,
                "input": f"{spec.image_size}x{spec.image_size}",
                "features": int(output.shape[-1]),
                "parameters": int(model.count_params()),
                "images_per_s": batch_size * repeats / seconds,
                "preprocessing": "in the model" if spec.preprocessing_in_model else "preprocess_input",
            }
        )
        # the compiled forward pass holds the model: drop it from the cache too, or every
        # encoder measured stays in memory (seven of them pass Binder's 2 GB)
        COMPILED_FORWARD.pop(model, None)
        del model, forward, output
        keras.backend.clear_session()
        gc.collect()
    return rows


logger = logging.getLogger(__name__)

SHARED_KERAS_DIR = paths.REPO_ROOT.parent / "shared" / "keras"


PHOTOS_DIR = paths.REPO_ROOT / "data" / "photos"  # three public-domain photos for 03's demo (data/photos/README.md)
IMAGENET_CLASSIFIER_MISSING = (
    "this demo needs an ImageNet classifier, and none is available: keras.applications could not download "
    "MobileNetV2 with its classifier (no internet?), and ../shared/keras (the course machines' offline copy) is "
    "absent. Connect to the internet and run this cell again."
)


def imagenet_classifier(download: bool = True):
    """An ImageNet classifier for notebook 03's wrong-preprocessing demo, or ``None`` when there is none
    (:data:`IMAGENET_CLASSIFIER_MISSING` says why).

    Tried in order: MobileNetV2 with its classifier (``include_top=True``) from the Keras cache; the ImageNet
    MobileNetV2 backbone with the classifier head kept beside the course in ``../shared/keras``
    (``logits = features @ kernel + bias``, 1001 labels; the offline route of the course's CI); the same
    full model downloaded by ``keras.applications`` (Binder, Colab, a laptop online; ``download=False``
    skips it). Returns ``(model, head, labels)``: ``head`` is ``None`` for the full model, whose output is
    already the 1000 ImageNet probabilities. Use it with :func:`top_labels`."""
    full = keras_cache_dir() / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
    if full.exists():
        classifier = _keras_applications_classifier()
        if classifier is not None:
            return classifier
    head_file = SHARED_KERAS_DIR / "mobilenet_v2_1.0_224_imagenet_head.npz"
    labels_file = SHARED_KERAS_DIR / "imagenet_labels_1001.txt"
    weights_file = SHARED_KERAS_DIR / "models" / ENCODERS["mobilenet_v2"].weights_file
    cached = keras_cache_dir() / ENCODERS["mobilenet_v2"].weights_file
    source = cached if cached.exists() else weights_file
    if head_file.exists() and labels_file.exists() and source.exists():
        with np.load(head_file, allow_pickle=False) as head:
            kernel, bias = head["kernel"], head["bias"]
        encoder = build_encoder("mobilenet_v2", resolve_weights("mobilenet_v2", str(source)))
        return encoder, (kernel, bias), labels_file.read_text().splitlines()
    return _keras_applications_classifier() if download else None


def _keras_applications_classifier():
    """MobileNetV2 with its ImageNet classifier from ``keras.applications`` (downloaded once into the Keras
    cache, with the class names), or ``None`` when it cannot be had (offline)."""
    import json
    import socket

    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # offline, fail within seconds rather than hang
    try:
        model = keras.applications.MobileNetV2(weights="imagenet", include_top=True)
        index_file = keras.utils.get_file(
            "imagenet_class_index.json",
            "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
            cache_subdir="models",
            file_hash="c2c37ea517e94d9795004a39431a14cb",
        )
    except Exception as error:  # noqa: BLE001 - any download failure means: not available
        logger.info("no keras.applications ImageNet classifier: %s", error)
        return None
    finally:
        socket.setdefaulttimeout(previous)
    with open(index_file, encoding="utf-8") as file:
        index = json.load(file)
    labels = [index[str(i)][1].replace("_", " ") for i in range(len(index))]
    return model, None, labels


def top_labels(classifier, images, k: int = 3) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable ImageNet labels (with probabilities) of an already preprocessed batch."""
    model, head, labels = classifier
    output = np.asarray(model(images, training=False), dtype=np.float64)
    if head is None:
        probabilities = output  # the full model ends in its softmax
    else:
        kernel, bias = head
        logits = output @ kernel + bias
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
    return [[(labels[j], float(row[j])) for j in np.argsort(-row)[:k]] for row in probabilities]


def plot_nearest_neighbours(table: FeatureTable, images_dir: str | Path, query_ids: list[str], k: int = 5):
    """One row per query image: the query, then its nearest neighbours with their cosine similarity."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(query_ids), k + 1, figsize=(2.2 * (k + 1), 2.1 * len(query_ids)), squeeze=False)
    for row, query in zip(axes, query_ids):
        neighbours = [n for n in nearest_neighbours(table, query, k + 1) if n[0] != query][:k]
        for axis, (image_id, similarity) in zip(row, [(query, 1.0)] + neighbours):
            axis.imshow(open_rgb(Path(images_dir) / image_id))
            axis.set_title("query" if image_id == query else f"{similarity:.2f}", fontsize=9)
            axis.axis("off")
    figure.tight_layout()
    return figure
