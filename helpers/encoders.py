"""The CNN encoders of the course (``keras.applications``) and where their weights come from.

Taught in notebooks/03_feature_extraction.ipynb (the encoder table and ``WEIGHTS`` are described in
:mod:`helpers.features`). Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderSpec:
    """What the course needs to know about one ``keras.applications`` CNN."""

    name: str
    application: str  # attribute of keras.applications
    module: str  # keras.applications.<module>.preprocess_input
    image_size: int
    feature_dim: int
    weights_file: str  # file name Keras looks for in $KERAS_HOME/models/
    weights_url: str
    preprocessing_in_model: bool = False  # True: the model rescales itself, preprocess_input is a pass-through


_KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _spec(name, application, module, size, dim, weights_file, url_folder, in_model=False):
    return EncoderSpec(name, application, module, size, dim, weights_file, url_folder + weights_file, in_model)


ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in [
        _spec(
            "inception_v3",
            "InceptionV3",
            "inception_v3",
            299,
            2048,
            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
            _KERAS_BASE + "inception_v3/",
        ),
        _spec(
            "mobilenet",
            "MobileNet",
            "mobilenet",
            224,
            1024,
            "mobilenet_1_0_224_tf_no_top.h5",
            _KERAS_BASE + "mobilenet/",
        ),
        _spec(
            "mobilenet_v2",
            "MobileNetV2",
            "mobilenet_v2",
            224,
            1280,
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
            _KERAS_BASE + "mobilenet_v2/",
        ),
        _spec(
            "mobilenet_v3_small",
            "MobileNetV3Small",
            "mobilenet_v3",
            224,
            576,
            "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            _KERAS_BASE + "mobilenet_v3/",
            True,
        ),
        _spec(
            "mobilenet_v3_large",
            "MobileNetV3Large",
            "mobilenet_v3",
            224,
            960,
            "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
            _KERAS_BASE + "mobilenet_v3/",
            True,
        ),
        _spec(
            "efficientnet_b0",
            "EfficientNetB0",
            "efficientnet",
            224,
            1280,
            "efficientnetb0_notop.h5",
            "https://storage.googleapis.com/keras-applications/",
            True,
        ),
        _spec(
            "efficientnetv2_b0",
            "EfficientNetV2B0",
            "efficientnet_v2",
            224,
            1280,
            "efficientnetv2-b0_notop.h5",
            _KERAS_BASE + "efficientnet_v2/",
            True,
        ),
    ]
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
    kind: str  # "imagenet", "none" or "file"
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
            requested,
            "none",
            None,
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
        "<b>&#9888; The image features are UNTRAINED.</b> "
        + choice.reason.replace("<", "&lt;")
        + "<br>The course carries on so you can follow every step offline; for real captions provide the "
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
        include_top=False,
        weights=keras_weights,
        pooling="avg",
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
