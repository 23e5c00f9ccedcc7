"""The ``tf.data`` extraction pipeline: image files -> header check -> decode -> resize -> preprocess ->
batch -> a compiled forward pass of the CNN, with bad images skipped and their reasons kept.

Taught in notebooks/03_feature_extraction.ipynb (see :mod:`helpers.features` for the whole picture).
"""

from __future__ import annotations

import logging
import os
import weakref
from pathlib import Path

import numpy as np

from helpers.encoders import encoder_spec, preprocess_function
from helpers.images import MAX_IMAGE_PIXELS, BadImageError, check_image, decode_error_message, decode_image
from helpers.images import load_image as _load_image

logger = logging.getLogger(__name__)

#: Bumped whenever decoding/resizing/preprocessing changes, so old caches are not reused.
#: 3: EXIF orientation is honoured (a turned phone photo is decoded upright).
PIPELINE_VERSION = 3


def load_image(path: str | Path, image_size: int, max_pixels: int = MAX_IMAGE_PIXELS):
    """Read one image file as a float32 RGB tensor ``(size, size, 3)`` in [0, 255].

    Grayscale, RGBA, palette, CMYK and 16-bit files come out as RGB. The same
    checks and decoding feed the extraction pipeline (:mod:`helpers.images`), so a
    test that checks this function checks what the course uses. A bad file raises
    :class:`helpers.images.BadImageError` naming the file and the problem."""
    return _load_image(path, image_size, max_pixels)


def check_images(image_paths: list[str | Path], max_pixels: int = MAX_IMAGE_PIXELS) -> list:
    """:func:`helpers.images.check_image` of every file (headers only, in parallel threads)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda path: check_image(path, max_pixels), image_paths, chunksize=64))


def pipeline_order(checks: list) -> list[int]:
    """The order in which :func:`image_dataset` delivers the good images: grouped by decoder, then by position."""
    return sorted((i for i, check in enumerate(checks) if check.ok), key=lambda i: (checks[i].route, i))


def image_dataset(image_paths: list[str | Path], encoder: str, batch_size: int = 32, checks: list | None = None):
    """tf.data pipeline of ``(indices, images)`` batches: read -> decode -> resize ->
    preprocess -> batch, decoded in parallel and prefetched while the CNN runs.

    ``indices`` are positions in ``image_paths``, delivered in :func:`pipeline_order`.
    Files refused by their header check (``checks``, made here when not given) are
    not read at all. A file that fails to decode is dropped (``ignore_errors``); its
    index is then missing from the output, which is how :func:`iter_features`
    knows which file failed."""
    import tensorflow as tf

    spec = encoder_spec(encoder)
    preprocess = preprocess_function(encoder)
    checks = check_images(image_paths) if checks is None else checks
    order = pipeline_order(checks)
    dataset = None
    for route in sorted({checks[i].route for i in order}):  # one decoder per map: no branching in the graph
        indices = [i for i in order if checks[i].route == route]
        files = tf.data.Dataset.from_tensor_slices(
            (np.array(indices, np.int64), [str(image_paths[i]) for i in indices])
        )
        part = files.map(
            lambda index, path, route=route: (
                index,
                preprocess(decode_image(tf.io.read_file(path), route, spec.image_size)),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        ).ignore_errors()
        dataset = part if dataset is None else dataset.concatenate(part)
    if dataset is None:
        dataset = tf.data.Dataset.from_tensor_slices(
            (np.zeros(0, np.int64), np.zeros((0, spec.image_size, spec.image_size, 3), np.float32))
        )
    # tf.data's own thread pool, one thread per core: with the shared default pool, decoding slowed to half
    # speed after other TensorFlow work in the same process (measured: 49 -> 98 images/s on 2 cores)
    options = tf.data.Options()
    options.threading.private_threadpool_size = os.cpu_count() or 1
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


COMPILED_FORWARD: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

# The CNN sees at most this many images per call, whatever BATCH_SIZE the pipeline
# batches: on a CPU a bigger forward batch is no faster, and its activations cost far
# more memory (measured: docs/benchmarks.md; mybinder.org's memory is small).
FORWARD_CHUNK = 16


def forward_function(model, image_size: int | None = None, chunk: int = FORWARD_CHUNK):
    """``images -> float32 NumPy features``: a Keras model is called through one
    ``tf.function`` (traced once for any batch size), ``chunk`` images at a time;
    anything else is called as is."""
    import keras
    import tensorflow as tf

    if isinstance(model, keras.Model):
        size = image_size or model.input_shape[1]
        compiled = COMPILED_FORWARD.get(model)
        if compiled is None:  # traced once per model, not once per call (tracing takes seconds)
            compiled = tf.function(
                lambda images: model(images, training=False),
                reduce_retracing=True,
                input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)],
            )
            COMPILED_FORWARD[model] = compiled

        def forward(images):
            if len(images) <= chunk:
                return np.asarray(compiled(images), dtype=np.float32)
            return np.concatenate(
                [
                    np.asarray(compiled(images[start : start + chunk]), dtype=np.float32)
                    for start in range(0, len(images), chunk)
                ]
            )

        return forward
    return lambda images: np.asarray(model(images, training=False), dtype=np.float32)


def iter_features(
    model,
    image_paths: list[str | Path],
    encoder: str,
    batch_size: int = 32,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    progress: bool = True,
    desc: str | None = None,
):
    """Yield ``(index, vector, None)`` for every image that works and ``(index, None, reason)``
    for every image that does not (indices are positions in ``image_paths``).

    Headers are checked first (cheap, no decoding). The reason of a decoding
    failure (dropped by ``ignore_errors``, which does not say why) comes from
    decoding that one file again, alone, and catching the error: only bad files
    are ever decoded twice."""
    import tensorflow as tf
    from tqdm.auto import tqdm

    spec = encoder_spec(encoder)
    preprocess = preprocess_function(encoder)
    forward = forward_function(model, spec.image_size)
    checks = check_images(image_paths, max_pixels)
    order = pipeline_order(checks)

    def failure(index: int):
        path = str(image_paths[index])
        try:  # decode the one file that failed again, this time to learn why
            image = _load_image(path, spec.image_size, max_pixels)
        except BadImageError as error:
            return index, None, str(error).removeprefix(f"{path}: ")
        except Exception as error:
            return index, None, decode_error_message(error)
        return index, forward(tf.expand_dims(preprocess(image), 0))[0], None  # it worked on its own after all

    with tqdm(total=len(image_paths), unit="img", desc=desc or f"{encoder} features", disable=not progress) as bar:
        for index, check in enumerate(checks):
            if not check.ok:
                yield index, None, check.reason
        bar.update(len(image_paths) - len(order))
        position = 0  # in order: every index before the one delivered that was not delivered failed to decode
        for indices, images in image_dataset(image_paths, encoder, batch_size, checks):
            vectors = forward(images)
            for index, vector in zip(indices.numpy().tolist(), vectors):
                while order[position] != index:
                    yield failure(order[position])
                    position += 1
                yield index, vector, None
                position += 1
            bar.update(len(image_paths) - len(order) + position - bar.n)
        for index in order[position:]:
            yield failure(index)
        bar.update(len(image_paths) - bar.n)


def extract_features(
    model,
    image_paths: list[str | Path],
    encoder: str,
    batch_size: int = 32,
    progress: bool = True,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Feature matrix ``(len(image_paths), feature_dim)`` in the order of ``image_paths``.

    Every image must work: a missing file raises ``FileNotFoundError`` and a bad one
    :class:`helpers.images.BadImageError`, naming the files and the problems. (For a
    dataset, where bad files are skipped and results cached, use
    :func:`load_or_extract_features`.)"""
    missing = [str(p) for p in image_paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image files are missing, first: {missing[0]}")
    rows: list[np.ndarray | None] = [None] * len(image_paths)
    problems = []
    for index, vector, reason in iter_features(
        model, image_paths, encoder, batch_size, max_pixels=max_pixels, progress=progress
    ):
        if reason is not None:
            problems.append(f"{image_paths[index]}: {reason}")
        rows[index] = vector
    if problems:
        raise BadImageError(f"{len(problems)} images cannot be used: " + "; ".join(problems))
    if not rows:
        dim = model.output_shape[-1] if hasattr(model, "output_shape") else encoder_spec(encoder).feature_dim
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack(rows).astype(np.float32)
