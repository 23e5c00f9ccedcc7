"""Image features from a pretrained CNN (``keras.applications``), extracted at scale.

Taught in notebooks/03_feature_extraction.ipynb.

The classifier head of the CNN is dropped (``include_top=False``) and the last
feature map is averaged over space (``pooling="avg"``): every image becomes one
vector. Each network is fed exactly what it was trained on: its own input size
and its own ``preprocess_input``:

=====================  =====  ========  ===============================================
``ENCODER``            input  features  preprocessing
=====================  =====  ========  ===============================================
``inception_v3``       299    2048      ``preprocess_input``: pixels to [-1, 1]
``mobilenet``  (v1)    224    1024      ``preprocess_input``: pixels to [-1, 1]
``mobilenet_v2``       224    1280      ``preprocess_input``: pixels to [-1, 1]
``mobilenet_v3_small`` 224    576       inside the model (``Rescaling``); fed [0, 255]
``mobilenet_v3_large`` 224    960       inside the model (``Rescaling``); fed [0, 255]
``efficientnet_b0``    224    1280      inside the model (``Rescaling`` + ``Normalization``)
``efficientnetv2_b0``  224    1280      inside the model (``Rescaling``); fed [0, 255]
=====================  =====  ========  ===============================================

For the last four Keras puts the preprocessing in the model and their
``preprocess_input`` returns its input unchanged, so the pipeline feeds them raw
[0, 255] pixels (scaling them again would be wrong; a test checks both kinds).

``WEIGHTS`` says where the CNN's weights come from:

``"imagenet"``  ImageNet weights, downloaded once into the Keras cache
                (``$KERAS_HOME/models/``, default ``~/.keras/models/``); an error
                naming the exact cache file when they cannot be had.
``"none"``      untrained (random) weights: the course still runs, captions are poor.
                Made reproducible by ``seed`` (notebook 03 passes ``SEED``).
``<path>``      that weights file (``.h5`` or ``.weights.h5``).
``"auto"``      (default) ImageNet weights if cached or downloadable, otherwise
                untrained weights with a visible banner saying why.

**The pipeline** (:func:`iter_features`): list files -> header check
(:func:`helpers.images.check_image`) -> read -> decode -> resize -> preprocess ->
batch -> predict, a ``tf.data`` pipeline that decodes in parallel while the CNN
runs, with a tqdm progress bar. Bad images (missing, empty, not an image, over
:data:`helpers.images.MAX_IMAGE_PIXELS`, truncated or corrupt) are skipped, each
with its reason; see :mod:`helpers.images`.

**The feature cache** (:func:`load_or_extract_features`): features are kept on
disk under ``runs/feature_cache/`` (or ``FEATURE_CACHE``) in a folder whose name
ends in a hash of the *cache key*: the images folder (resolved path), the
encoder, the weights (label, and the content hash of a weights file or the seed
of untrained weights), the input size and the pipeline version. Changing any of
them gives another folder, so stale features are never reused. Inside, features
are written as **float32** (exactly what the CNN produced) in chunks of
``chunk_size`` images, each chunk a plain ``.npz`` written atomically (temporary
file + rename), holding each image's file size and modification time: a killed
extraction resumes without redoing finished chunks, and an image file that has
changed since is extracted again. Skipped images are cached with their reason
(and retried if their file changes). Shards (``num_shards``/``shard_index``)
split the images by a hash of their id into disjoint parts that several machines
extract into the same folder; whoever reads the folder gets the union.

The run folder gets ``features.npz`` (``image_ids``, a float32 ``features``
matrix and the ``encoder``/``weights``/``image_size`` they were made with) for
the images that have features, and ``skipped_images.json`` (image id -> reason);
plain NumPy arrays and JSON, loaded without pickle.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import urllib.request
import uuid
import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers import paths
from helpers.images import MAX_IMAGE_PIXELS, BadImageError, check_image, decode_error_message, decode_image
from helpers.images import load_image as _load_image

logger = logging.getLogger(__name__)

#: Bumped whenever decoding/resizing/preprocessing changes, so old caches are not reused.
PIPELINE_VERSION = 2


@dataclass(frozen=True)
class EncoderSpec:
    """What the course needs to know about one ``keras.applications`` CNN."""

    name: str
    application: str           # attribute of keras.applications
    module: str                # keras.applications.<module>.preprocess_input
    image_size: int
    feature_dim: int
    weights_file: str          # file name Keras looks for in $KERAS_HOME/models/
    weights_url: str
    preprocessing_in_model: bool = False   # True: the model rescales itself, preprocess_input is a pass-through


_KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _spec(name, application, module, size, dim, weights_file, url_folder, in_model=False):
    return EncoderSpec(name, application, module, size, dim, weights_file, url_folder + weights_file, in_model)


ENCODERS: dict[str, EncoderSpec] = {spec.name: spec for spec in [
    _spec("inception_v3", "InceptionV3", "inception_v3", 299, 2048,
          "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", _KERAS_BASE + "inception_v3/"),
    _spec("mobilenet", "MobileNet", "mobilenet", 224, 1024,
          "mobilenet_1_0_224_tf_no_top.h5", _KERAS_BASE + "mobilenet/"),
    _spec("mobilenet_v2", "MobileNetV2", "mobilenet_v2", 224, 1280,
          "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", _KERAS_BASE + "mobilenet_v2/"),
    _spec("mobilenet_v3_small", "MobileNetV3Small", "mobilenet_v3", 224, 576,
          "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5", _KERAS_BASE + "mobilenet_v3/", True),
    _spec("mobilenet_v3_large", "MobileNetV3Large", "mobilenet_v3", 224, 960,
          "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5", _KERAS_BASE + "mobilenet_v3/", True),
    _spec("efficientnet_b0", "EfficientNetB0", "efficientnet", 224, 1280,
          "efficientnetb0_notop.h5", "https://storage.googleapis.com/keras-applications/", True),
    _spec("efficientnetv2_b0", "EfficientNetV2B0", "efficientnet_v2", 224, 1280,
          "efficientnetv2-b0_notop.h5", _KERAS_BASE + "efficientnet_v2/", True),
]}


def encoder_spec(name: str) -> EncoderSpec:
    try:
        return ENCODERS[name]
    except KeyError:
        raise ValueError(f"ENCODER={name!r} is not known; choose one of {sorted(ENCODERS)}.") from None


def keras_cache_dir() -> Path:
    """Where Keras caches downloaded weights: ``$KERAS_HOME/models`` or ``~/.keras/models``.

    Like Keras, falls back to ``/tmp/.keras`` when the home folder is not writable."""
    home = Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())
    if not os.access(home if home.exists() else home.parent, os.W_OK):
        home = Path(tempfile.gettempdir()) / ".keras"
    return home / "models"


@dataclass(frozen=True)
class WeightsChoice:
    """The weights actually used, and why."""

    requested: str
    kind: str                  # "imagenet", "none" or "file"
    path: Path | None
    reason: str

    @property
    def pretrained(self) -> bool:
        return self.kind != "none"

    @property
    def label(self) -> str:
        return {"imagenet": "imagenet", "none": "none"}.get(self.kind, str(self.path))


def _can_download(url: str, timeout: float = 5.0) -> tuple[bool, str]:
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout):
            return True, "reachable"
    except Exception as error:  # no network, DNS failure, proxy, HTTP error
        return False, f"{type(error).__name__}: {error}"


def resolve_weights(encoder: str, weights: str = "auto", *, allow_download: bool = True) -> WeightsChoice:
    """Decide which weights ``WEIGHTS`` means for ``ENCODER`` (see the module doc)."""
    spec = encoder_spec(encoder)
    cached = keras_cache_dir() / spec.weights_file
    requested = str(weights)
    key = requested.lower()
    if key == "none":
        return WeightsChoice(requested, "none", None, "WEIGHTS='none': untrained weights were asked for")
    if key in ("imagenet", "auto"):
        if cached.exists():
            return WeightsChoice(requested, "imagenet", cached, f"ImageNet weights found in the Keras cache ({cached})")
        reachable, why = _can_download(spec.weights_url) if allow_download else (False, "downloads disabled")
        if reachable:
            return WeightsChoice(requested, "imagenet", None, f"ImageNet weights will be downloaded once into {cached}")
        if key == "imagenet":
            raise FileNotFoundError(
                f"WEIGHTS='imagenet' for {encoder}: the weights are not in the Keras cache and cannot be "
                f"downloaded ({why}). Keras looks for the file {cached}. Download {spec.weights_url} on a "
                f"machine with internet and copy it there (or set KERAS_HOME before starting Python), "
                f"or pass the file's path as WEIGHTS."
            )
        return WeightsChoice(
            requested, "none", None,
            f"ImageNet weights for {encoder} are not in the Keras cache ({cached}) and cannot be downloaded "
            f"({why}); using UNTRAINED weights, so the features carry little meaning and captions will be poor.",
        )
    path = Path(requested).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"WEIGHTS={requested!r}: not 'auto', 'imagenet' or 'none', and no such file.")
    return WeightsChoice(requested, "file", path.resolve(), f"weights loaded from {path}")


def weights_banner(choice: WeightsChoice):
    """A loud notebook banner when the features are untrained (an empty string otherwise)."""
    if choice.pretrained:
        return None
    from IPython.display import HTML

    return HTML(
        '<div style="border:3px solid #c00;background:#fee;padding:10px;font-size:1.1em">'
        "<b>&#9888; The image features are UNTRAINED.</b> " + choice.reason.replace("<", "&lt;") +
        "<br>The course carries on so you can follow every step offline; for real captions provide the "
        "ImageNet weights (see notebooks/03_feature_extraction.ipynb) and rerun from this notebook.</div>"
    )


def build_encoder(encoder: str = "mobilenet_v2", weights: str | WeightsChoice = "auto", seed: int | None = None):
    """The CNN without its classifier, average-pooled: image batch -> feature vectors.

    With untrained weights and a ``seed``, the random weights are the same every
    time (``keras.utils.set_random_seed(seed)`` is called first), so an
    interrupted extraction can resume and features can be reproduced."""
    import keras

    spec = encoder_spec(encoder)
    choice = weights if isinstance(weights, WeightsChoice) else resolve_weights(encoder, weights)
    constructor = getattr(keras.applications, spec.application)
    keras_weights = {"imagenet": "imagenet", "none": None}.get(choice.kind, str(choice.path))
    if choice.kind == "none" and seed is not None:
        keras.utils.set_random_seed(seed)
    model = constructor(
        include_top=False, weights=keras_weights, pooling="avg",
        input_shape=(spec.image_size, spec.image_size, 3),
    )
    logger.info("%s encoder: %s", encoder, choice.reason)
    return model


def preprocess_function(encoder: str):
    """The encoder's own ``keras.applications.<module>.preprocess_input``.

    For encoders whose preprocessing is inside the model (MobileNetV3, EfficientNet)
    Keras' function returns its input unchanged: they are fed [0, 255] pixels."""
    import importlib

    return importlib.import_module(f"keras.applications.{encoder_spec(encoder).module}").preprocess_input


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
    for route in sorted({checks[i].route for i in order}):   # one decoder per map: no branching in the graph
        indices = [i for i in order if checks[i].route == route]
        files = tf.data.Dataset.from_tensor_slices((np.array(indices, np.int64), [str(image_paths[i]) for i in indices]))
        part = files.map(lambda index, path, route=route: (
            index, preprocess(decode_image(tf.io.read_file(path), route, spec.image_size))),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
        dataset = part if dataset is None else dataset.concatenate(part)
    if dataset is None:
        dataset = tf.data.Dataset.from_tensor_slices((np.zeros(0, np.int64), np.zeros((0, spec.image_size, spec.image_size, 3), np.float32)))
    # tf.data's own thread pool, one thread per core: with the shared default pool, decoding slowed to half
    # speed after other TensorFlow work in the same process (measured: 49 -> 98 images/s on 2 cores)
    options = tf.data.Options()
    options.threading.private_threadpool_size = os.cpu_count() or 1
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

# The CNN sees at most this many images per call, whatever BATCH_SIZE the pipeline
# batches: on a CPU a bigger forward batch is no faster, and its activations cost far
# more memory (MobileNetV2 on the sample: peak 1.75 GB at 64 images, 0.9 GB at 16 —
# mybinder.org gives about 2 GB).
FORWARD_CHUNK = 16


def forward_function(model, image_size: int | None = None, chunk: int = FORWARD_CHUNK):
    """``images -> float32 NumPy features``: a Keras model is called through one
    ``tf.function`` (traced once for any batch size), ``chunk`` images at a time;
    anything else is called as is."""
    import keras
    import tensorflow as tf

    if isinstance(model, keras.Model):
        size = image_size or model.input_shape[1]
        compiled = _COMPILED.get(model)
        if compiled is None:   # traced once per model, not once per call (tracing takes seconds)
            compiled = tf.function(lambda images: model(images, training=False), reduce_retracing=True,
                                   input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
            _COMPILED[model] = compiled

        def forward(images):
            if len(images) <= chunk:
                return np.asarray(compiled(images), dtype=np.float32)
            return np.concatenate([np.asarray(compiled(images[start:start + chunk]), dtype=np.float32)
                                   for start in range(0, len(images), chunk)])
        return forward
    return lambda images: np.asarray(model(images, training=False), dtype=np.float32)


def iter_features(model, image_paths: list[str | Path], encoder: str, batch_size: int = 32, *,
                  max_pixels: int = MAX_IMAGE_PIXELS, progress: bool = True, desc: str | None = None):
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
        try:    # decode the one file that failed again, this time to learn why
            image = _load_image(path, spec.image_size, max_pixels)
        except BadImageError as error:
            return index, None, str(error).removeprefix(f"{path}: ")
        except Exception as error:
            return index, None, decode_error_message(error)
        return index, forward(tf.expand_dims(preprocess(image), 0))[0], None   # it worked on its own after all

    with tqdm(total=len(image_paths), unit="img", desc=desc or f"{encoder} features", disable=not progress) as bar:
        for index, check in enumerate(checks):
            if not check.ok:
                yield index, None, check.reason
        bar.update(len(image_paths) - len(order))
        position = 0   # in order: every index before the one delivered that was not delivered failed to decode
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


def extract_features(model, image_paths: list[str | Path], encoder: str, batch_size: int = 32,
                     progress: bool = True, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
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
    for index, vector, reason in iter_features(model, image_paths, encoder, batch_size, max_pixels=max_pixels,
                                               progress=progress):
        if reason is not None:
            problems.append(f"{image_paths[index]}: {reason}")
        rows[index] = vector
    if problems:
        raise BadImageError(f"{len(problems)} images cannot be used: " + "; ".join(problems))
    if not rows:
        dim = model.output_shape[-1] if hasattr(model, "output_shape") else encoder_spec(encoder).feature_dim
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack(rows).astype(np.float32)


# ----------------------------------------------------------------------------- the feature cache

def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(images_dir: str | Path, encoder: str, weights: WeightsChoice, seed: int | None = None) -> dict:
    """Everything the features depend on. Two extractions share cached features only
    when their keys are equal.

    Untrained weights without a seed are random every time: their key gets a
    random nonce, so such features are never reused."""
    spec = encoder_spec(encoder)
    key = {"images_dir": str(Path(images_dir).expanduser().resolve()), "encoder": encoder,
           "weights": weights.label, "image_size": spec.image_size, "pipeline": PIPELINE_VERSION}
    if weights.kind == "file":
        key["weights_sha256"] = _file_sha256(weights.path)
    elif weights.kind == "imagenet":
        key["weights_file"] = spec.weights_file
    else:
        key["seed"] = seed if seed is not None else f"unseeded-{uuid.uuid4().hex}"
    return key


def cache_folder(cache_root: str | Path, key: dict) -> Path:
    """``<cache_root>/<images folder>-<encoder>-<weights>-<size>px-<hash of the key>``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    weights_name = Path(key["weights"]).stem if key["weights"] not in ("imagenet", "none") else key["weights"]
    readable = paths._slug(f"{Path(key['images_dir']).name}-{key['encoder']}-{weights_name}-{key['image_size']}px")
    return Path(cache_root) / f"{readable}-{digest}"


def shard_of(image_id: str, num_shards: int) -> int:
    """The shard an image belongs to: a stable hash of its id (the same on every machine)."""
    return zlib.crc32(image_id.encode("utf-8")) % num_shards


def _stamp(path: Path) -> tuple[int, int]:
    """(size in bytes, modification time in whole seconds); (-1, -1) for a missing file."""
    try:
        status = path.stat()
    except OSError:
        return -1, -1
    return status.st_size, int(status.st_mtime)


def _write_chunk(folder: Path, shard: str, ids, vectors, stamps, skipped, dim: int) -> Path:
    """One chunk of the cache, atomically: a temporary file in the same folder, then a rename."""
    name = f"chunk-{shard}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.npz"
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    os.close(fd)
    skipped_ids = [s[0] for s in skipped]
    try:
        np.savez(
            tmp_name,
            image_ids=np.array(ids, dtype=str),
            features=np.array(vectors, dtype=np.float32).reshape(len(ids), dim),
            stamps=np.array([stamps[i] for i in ids], dtype=np.int64).reshape(len(ids), 2),
            skipped_ids=np.array(skipped_ids, dtype=str),
            skipped_reasons=np.array([s[1] for s in skipped], dtype=str),
            skipped_stamps=np.array([stamps[i] for i in skipped_ids], dtype=np.int64).reshape(len(skipped), 2),
        )
        os.replace(tmp_name, folder / name)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return folder / name


def read_cache(folder: str | Path, stamps: dict[str, tuple[int, int]]) -> tuple[dict[str, tuple[Path, int]], dict[str, str]]:
    """The union of every chunk in ``folder`` (all shards), for the image ids in ``stamps``
    whose cached entry was made from the file as it is now: ``(located, skipped)`` where
    ``located`` maps an image id to its (chunk file, row) and ``skipped`` to its reason.
    Only ids and stamps are read here, not the features (see :func:`gather_features`)."""
    located: dict[str, tuple[Path, int]] = {}
    skipped: dict[str, str] = {}
    for chunk in sorted(Path(folder).glob("chunk-*.npz")):
        try:
            with np.load(chunk, allow_pickle=False) as data:
                ids, row_stamps = data["image_ids"].tolist(), data["stamps"].tolist()
                skipped_rows = zip(data["skipped_ids"].tolist(), data["skipped_reasons"].tolist(),
                                   data["skipped_stamps"].tolist())
                skipped_rows = list(skipped_rows)
        except Exception as error:  # e.g. a chunk cut short while being copied: its images are redone
            logger.warning("ignoring unreadable feature-cache chunk %s (%s)", chunk, error)
            continue
        for row, (image_id, stamp) in enumerate(zip(ids, row_stamps)):
            if image_id in stamps and image_id not in located and tuple(stamp) == stamps[image_id]:
                located[image_id] = (chunk, row)
        for image_id, reason, stamp in skipped_rows:
            if image_id in stamps and tuple(stamp) == stamps[image_id]:
                skipped[image_id] = reason
    for image_id in located:
        skipped.pop(image_id, None)
    return located, skipped


def gather_features(located: dict[str, tuple[Path, int]], image_ids: list[str], dim: int) -> np.ndarray:
    """The float32 matrix of ``image_ids``' cached features, filled chunk by chunk (one
    chunk in memory at a time besides the result)."""
    matrix = np.empty((len(image_ids), dim), dtype=np.float32)
    by_chunk: dict[Path, list[tuple[int, int]]] = {}
    for position, image_id in enumerate(image_ids):
        chunk, row = located[image_id]
        by_chunk.setdefault(chunk, []).append((position, row))
    for chunk, pairs in by_chunk.items():
        with np.load(chunk, allow_pickle=False) as data:
            chunk_features = data["features"]
        positions, rows = zip(*pairs)
        matrix[list(positions)] = chunk_features[list(rows)]
    return matrix


@dataclass
class FeatureExtraction:
    """What :func:`load_or_extract_features` did and found."""

    table: "FeatureTable"                 # the images that have features, in the order asked for
    skipped: dict[str, str]               # image id -> why it has no features
    missing: list[str]                    # not in the cache yet (other shards still to run)
    extracted: int                        # images this call put through the CNN (or skipped anew)
    reused: int                           # images found in the cache
    cache_dir: Path
    key: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.missing


def load_or_extract_features(path: str | Path | None, image_ids: list[str], images_dir: str | Path, encoder: str,
                             weights: WeightsChoice, batch_size: int = 32, model=None, *,
                             cache_root: str | Path | None = None, seed: int | None = None,
                             num_shards: int = 1, shard_index: int = 0, chunk_size: int = 512,
                             max_pixels: int = MAX_IMAGE_PIXELS, progress: bool = True) -> FeatureExtraction:
    """Features of ``image_ids`` (files in ``images_dir``) through the feature cache.

    Images already in the cache (any shard) are reused; this shard's other images
    are extracted with ``model`` (built from ``encoder``, ``weights`` and ``seed``
    only if there is work to do) and written chunk by chunk. When every image is
    either extracted or skipped, the features of the good ones are saved to
    ``path`` (when given) with :func:`save_features`. See the module doc."""
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"SHARD_INDEX={shard_index} must be between 0 and NUM_SHARDS-1={num_shards - 1}")
    spec = encoder_spec(encoder)
    images_dir = Path(images_dir)
    key = cache_key(images_dir, encoder, weights, seed)
    folder = cache_folder(cache_root or paths.FEATURE_CACHE_DIR, key)
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "key.json"
    if not key_file.exists():
        paths.write_json_atomic(key_file, key)
    elif paths.read_json(key_file) != key:
        raise RuntimeError(f"{key_file} does not match the features asked for; delete {folder} and rerun.")

    stamps = {image_id: _stamp(images_dir / image_id) for image_id in image_ids}
    located, skipped = read_cache(folder, stamps)
    reused = len(located) + len(skipped)
    todo = [i for i in image_ids if i not in located and i not in skipped and shard_of(i, num_shards) == shard_index]
    if todo:
        logger.info("%s: %d images in the cache, %d to extract (shard %d of %d) into %s",
                    encoder, reused, len(todo), shard_index, num_shards, folder)
        if model is None:
            model = build_encoder(encoder, weights, seed=seed)
        shard = f"{shard_index}of{num_shards}"
        ids, rows, bad = [], [], []

        def flush():
            if ids or bad:
                _write_chunk(folder, shard, ids, rows, stamps, bad, spec.feature_dim)
                ids.clear(), rows.clear(), bad.clear()

        try:
            for index, vector, reason in iter_features(model, [images_dir / i for i in todo], encoder, batch_size,
                                                       max_pixels=max_pixels, progress=progress,
                                                       desc=f"{encoder} features ({reused} cached)"):
                if reason is None:
                    ids.append(todo[index]), rows.append(vector.copy())   # a copy: the batch's array can go
                else:
                    logger.warning("skipping %s: %s", images_dir / todo[index], reason)
                    bad.append((todo[index], reason))
                if len(ids) + len(bad) >= chunk_size:
                    flush()
        finally:
            flush()   # on an interruption too: the rows done so far are complete and worth keeping
        located, skipped = read_cache(folder, stamps)

    missing = [i for i in image_ids if i not in located and i not in skipped]
    good = [i for i in image_ids if i in located]
    matrix = gather_features(located, good, spec.feature_dim)
    table = FeatureTable(good, matrix, encoder, weights.label, spec.image_size)
    if path is not None and not missing:
        save_features(path, good, matrix, encoder=encoder, weights=weights.label, image_size=spec.image_size)
    return FeatureExtraction(table, {i: skipped[i] for i in image_ids if i in skipped}, missing,
                             len(todo), reused, folder, key)


def save_features(path: str | Path, image_ids: list[str], features: np.ndarray, *, encoder: str,
                  weights: str, image_size: int) -> Path:
    """Save features atomically (temporary file, then rename) as a plain ``.npz``."""
    path = Path(path)
    if len(image_ids) != len(features):
        raise ValueError(f"{len(image_ids)} ids but {len(features)} feature rows")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp_name, image_ids=np.array(image_ids, dtype=str), features=features.astype(np.float32),
                 encoder=np.array(encoder), weights=np.array(weights), image_size=np.array(image_size))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


@dataclass
class FeatureTable:
    image_ids: list[str]
    features: np.ndarray
    encoder: str
    weights: str
    image_size: int

    def __post_init__(self):
        self.row = {image_id: i for i, image_id in enumerate(self.image_ids)}

    def __getitem__(self, image_id: str) -> np.ndarray:
        return self.features[self.row[image_id]]

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.row

    def matrix(self, image_ids: list[str]) -> np.ndarray:
        """Rows for ``image_ids``, in that order."""
        return self.features[[self.row[i] for i in image_ids]]

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])


def load_features(path: str | Path) -> FeatureTable:
    """Load a ``features.npz`` written by :func:`save_features` (no pickle)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist. It is written by notebooks/03_feature_extraction.ipynb.")
    with np.load(path, allow_pickle=False) as data:
        return FeatureTable([str(i) for i in data["image_ids"]], data["features"], str(data["encoder"]),
                            str(data["weights"]), int(data["image_size"]))


def captions_with_features(lookup_table: dict[str, dict[str, list[str]]], table: FeatureTable) -> dict[str, dict[str, list[str]]]:
    """The lookup table restricted to images that have a feature vector.

    Notebook 03 skips images it cannot read (their reasons are in
    ``skipped_images.json``); their captions are left out of training (06) and
    evaluation (07, 08), and this says how many, split by split."""
    kept: dict[str, dict[str, list[str]]] = {}
    for split, captions_by_image in lookup_table.items():
        kept[split] = {i: c for i, c in captions_by_image.items() if i in table}
        missing = [i for i in captions_by_image if i not in table]
        if missing:
            n_captions = sum(len(captions_by_image[i]) for i in missing)
            message = (f"{split}: {len(missing)} images have no features (skipped by notebook 03); "
                       f"their {n_captions} captions are left out, first: {missing[0]}")
            logger.warning(message)
            print(message)
    return kept


# ----------------------------------------------------------------------------- for the lesson (notebook 03)

def measure_encoders(names: list[str] | None = None, batch_size: int = 8, repeats: int = 2) -> list[dict]:
    """Feature size, parameters and forward images/s of each encoder on this machine.

    Built with untrained weights (``weights=None``): the speed is the same as with
    ImageNet weights and nothing is downloaded. Measured on random [0, 255] batches
    of ``batch_size`` images, after one warm-up batch."""
    import gc

    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")   # one tf.function per encoder is intended: no retracing warnings
    rows = []
    for name in names or list(ENCODERS):
        spec = encoder_spec(name)
        model = build_encoder(name, WeightsChoice("none", "none", None, "speed measurement"))
        forward = forward_function(model, spec.image_size)
        images = np.random.default_rng(0).uniform(0, 255, (batch_size, spec.image_size, spec.image_size, 3))
        images = preprocess_function(name)(images.astype(np.float32))
        forward(images)   # warm-up: traces the graph
        started = time.perf_counter()
        for _ in range(repeats):
            output = forward(images)
        seconds = time.perf_counter() - started
        rows.append({"encoder": name, "input": f"{spec.image_size}x{spec.image_size}", "features": int(output.shape[-1]),
                     "parameters": int(model.count_params()), "images_per_s": batch_size * repeats / seconds,
                     "preprocessing": "in the model" if spec.preprocessing_in_model else "preprocess_input"})
        # the compiled forward pass holds the model: drop it from the cache too, or every
        # encoder measured stays in memory (seven of them pass Binder's 2 GB)
        _COMPILED.pop(model, None)
        del model, forward, output
        keras.backend.clear_session()
        gc.collect()
    return rows


SHARED_KERAS_DIR = paths.REPO_ROOT.parent / "shared" / "keras"


PHOTOS_DIR = paths.REPO_ROOT / "data" / "photos"  # three public-domain photos for 03's demo (data/photos/README.md)
IMAGENET_CLASSIFIER_MISSING = (
    "this demo needs an ImageNet classifier, and none is available: keras.applications could not download "
    "MobileNetV2 with its classifier (no internet?), and ../shared/keras (the course machines' offline copy) is "
    "absent. Connect to the internet and run this cell again.")


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
            cache_subdir="models", file_hash="c2c37ea517e94d9795004a39431a14cb")
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


def nearest_neighbours(table: FeatureTable, image_id: str, k: int = 5,
                       candidates: list[str] | None = None) -> list[tuple[str, float]]:
    """The ``k`` images whose features are most similar (cosine) to ``image_id``'s, itself first."""
    ids = candidates or table.image_ids
    matrix = table.matrix(ids)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms > 0, norms, 1)     # exact cosine, even for tiny (untrained) features
    query_norm = np.linalg.norm(table[image_id])
    query = table[image_id] / (query_norm if query_norm > 0 else 1)
    similarity = unit @ query
    order = np.argsort(-similarity, kind="stable")[:k]
    return [(ids[i], float(similarity[i])) for i in order]


def plot_nearest_neighbours(table: FeatureTable, images_dir: str | Path, query_ids: list[str], k: int = 5):
    """One row per query image: the query, then its nearest neighbours with their cosine similarity."""
    import matplotlib.pyplot as plt
    from PIL import Image

    figure, axes = plt.subplots(len(query_ids), k + 1, figsize=(2.2 * (k + 1), 2.1 * len(query_ids)), squeeze=False)
    for row, query in zip(axes, query_ids):
        neighbours = [n for n in nearest_neighbours(table, query, k + 1) if n[0] != query][:k]
        for axis, (image_id, similarity) in zip(row, [(query, 1.0)] + neighbours):
            with Image.open(Path(images_dir) / image_id) as image:
                axis.imshow(image.convert("RGB"))
            axis.set_title("query" if image_id == query else f"{similarity:.2f}", fontsize=9)
            axis.axis("off")
    figure.tight_layout()
    return figure
