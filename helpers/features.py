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

**The feature cache** (:func:`course.feature_cache.load_or_extract_features`, course machinery): features are kept on
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

**Where the code lives** (this module gathers the lesson's public names; the cache is
:mod:`course.feature_cache`):

==============================  =========================================================================
:mod:`helpers.encoders`         the encoder table, ``WEIGHTS`` resolution, building the CNN, preprocessing
:mod:`helpers.extraction`       the ``tf.data`` pipeline and the compiled forward pass
:mod:`helpers.feature_table`    ``features.npz``, :class:`FeatureTable`, nearest neighbours
:mod:`helpers.encoder_demos`    notebook 03's demos (encoder timings, ImageNet labels; reads ``../shared``)
==============================  =========================================================================
"""

from __future__ import annotations

from helpers.encoder_demos import (
    IMAGENET_CLASSIFIER_MISSING,
    PHOTOS_DIR,
    SHARED_KERAS_DIR,
    imagenet_classifier,
    measure_encoders,
    plot_nearest_neighbours,
    top_labels,
)
from helpers.encoders import (
    ENCODERS,
    EncoderSpec,
    WeightsChoice,
    build_encoder,
    encoder_spec,
    keras_cache_dir,
    preprocess_function,
    resolve_weights,
    weights_banner,
)
from helpers.extraction import (
    FORWARD_CHUNK,
    PIPELINE_VERSION,
    check_images,
    extract_features,
    forward_function,
    image_dataset,
    iter_features,
    load_image,
    pipeline_order,
)
from helpers.feature_table import FeatureTable, captions_with_features, load_features, nearest_neighbours, save_features
from helpers.images import MAX_IMAGE_PIXELS, BadImageError

__all__ = [
    "BadImageError",
    "ENCODERS",
    "EncoderSpec",
    "FORWARD_CHUNK",
    "FeatureTable",
    "MAX_IMAGE_PIXELS",
    "IMAGENET_CLASSIFIER_MISSING",
    "PHOTOS_DIR",
    "PIPELINE_VERSION",
    "SHARED_KERAS_DIR",
    "WeightsChoice",
    "build_encoder",
    "captions_with_features",
    "check_images",
    "encoder_spec",
    "extract_features",
    "forward_function",
    "image_dataset",
    "imagenet_classifier",
    "iter_features",
    "keras_cache_dir",
    "load_features",
    "load_image",
    "measure_encoders",
    "nearest_neighbours",
    "pipeline_order",
    "plot_nearest_neighbours",
    "preprocess_function",
    "resolve_weights",
    "save_features",
    "top_labels",
    "weights_banner",
]
