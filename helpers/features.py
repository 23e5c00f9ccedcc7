"""Image features from a pretrained CNN (``keras.applications``).

Taught in notebooks/03_feature_extraction.ipynb.

The classifier head of the CNN is dropped (``include_top=False``) and the last
feature map is averaged over space (``pooling="avg"``): every image becomes one
vector (1280 numbers for MobileNetV2, 2048 for InceptionV3). Each network is fed
exactly what it was trained on: its own input size and its own
``preprocess_input`` (MobileNetV2 and InceptionV3 scale pixels to [-1, 1]).

``WEIGHTS`` says where the CNN's weights come from:

``"imagenet"``  ImageNet weights, downloaded once into the Keras cache
                (``$KERAS_HOME/models/``, default ``~/.keras/models/``); an error
                naming the exact cache file when they cannot be had.
``"none"``      untrained (random) weights: the course still runs, captions are poor.
``<path>``      that weights file (``.h5`` or ``.weights.h5``).
``"auto"``      (default) ImageNet weights if cached or downloadable, otherwise
                untrained weights with a visible banner saying why.

Features are written to the run folder as ``features.npz`` (``image_ids``, a
float32 ``features`` matrix and the ``encoder``/``weights``/``image_size`` they
were made with); plain NumPy arrays, loaded without pickle.
"""

from __future__ import annotations

import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


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


_KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"

ENCODERS: dict[str, EncoderSpec] = {
    "mobilenet_v2": EncoderSpec(
        "mobilenet_v2", "MobileNetV2", "mobilenet_v2", 224, 1280,
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        _KERAS_BASE + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
    ),
    "inception_v3": EncoderSpec(
        "inception_v3", "InceptionV3", "inception_v3", 299, 2048,
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        _KERAS_BASE + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
}


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


def build_encoder(encoder: str = "mobilenet_v2", weights: str | WeightsChoice = "auto"):
    """The CNN without its classifier, average-pooled: image batch -> feature vectors."""
    import keras

    spec = encoder_spec(encoder)
    choice = weights if isinstance(weights, WeightsChoice) else resolve_weights(encoder, weights)
    constructor = getattr(keras.applications, spec.application)
    keras_weights = {"imagenet": "imagenet", "none": None}.get(choice.kind, str(choice.path))
    model = constructor(
        include_top=False, weights=keras_weights, pooling="avg",
        input_shape=(spec.image_size, spec.image_size, 3),
    )
    logger.info("%s encoder: %s", encoder, choice.reason)
    return model


def preprocess_function(encoder: str):
    """The encoder's own ``keras.applications.<module>.preprocess_input``."""
    import importlib

    return importlib.import_module(f"keras.applications.{encoder_spec(encoder).module}").preprocess_input


def load_image(path: str | Path, image_size: int):
    """Read one image file as a float32 RGB tensor ``(size, size, 3)`` in [0, 255].

    Grayscale and RGBA files are converted to RGB. The same function feeds the
    extraction pipeline, so a test that checks it checks what the course uses."""
    import tensorflow as tf

    data = tf.io.read_file(str(path) if isinstance(path, (str, Path)) else path)
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.image.resize(image, (image_size, image_size), method="bilinear", antialias=True)
    return tf.cast(image, tf.float32)


def image_dataset(image_paths: list[str | Path], encoder: str, batch_size: int = 32):
    """tf.data pipeline: read -> decode -> resize -> preprocess -> batch, decoded in parallel."""
    import tensorflow as tf

    spec = encoder_spec(encoder)
    preprocess = preprocess_function(encoder)
    paths_ds = tf.data.Dataset.from_tensor_slices([str(p) for p in image_paths])
    return (
        paths_ds.map(lambda p: preprocess(load_image(p, spec.image_size)), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def extract_features(model, image_paths: list[str | Path], encoder: str, batch_size: int = 32,
                     progress: bool = True) -> np.ndarray:
    """Feature matrix ``(len(image_paths), feature_dim)`` in the order of ``image_paths``."""
    from tqdm.auto import tqdm

    missing = [str(p) for p in image_paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image files are missing, first: {missing[0]}")
    batches = []
    with tqdm(total=len(image_paths), unit="img", desc=f"{encoder} features", disable=not progress) as bar:
        for images in image_dataset(image_paths, encoder, batch_size):
            batches.append(np.asarray(model(images, training=False), dtype=np.float32))
            bar.update(len(batches[-1]))
    if not batches:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(batches)


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


def load_or_extract_features(path: str | Path, image_ids: list[str], images_dir: str | Path, encoder: str,
                             weights: WeightsChoice, batch_size: int = 32, model=None) -> "FeatureTable":
    """Features of ``image_ids`` from ``path`` when it holds them for the same encoder,
    weights and image size; otherwise extract them with ``model`` (built from
    ``encoder`` and ``weights`` when not given) and save them."""
    path = Path(path)
    spec = encoder_spec(encoder)
    if path.exists():
        table = load_features(path)
        if (table.encoder, table.weights, table.image_size, sorted(table.image_ids)) == \
                (encoder, weights.label, spec.image_size, sorted(image_ids)):
            logger.info("reusing %s", path)
            return table
    if model is None:
        model = build_encoder(encoder, weights)
    matrix = extract_features(model, [Path(images_dir) / i for i in image_ids], encoder, batch_size=batch_size)
    save_features(path, image_ids, matrix, encoder=encoder, weights=weights.label, image_size=spec.image_size)
    return load_features(path)


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
