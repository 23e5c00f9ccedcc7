"""Visual attention: a decoder that looks at a different part of the image for every word.

Taught in notebooks/10_visual_attention.ipynb.

Average pooling (notebook 03) turns the CNN's last feature map — a grid of
``H x W`` positions (7 x 7 for MobileNetV2 at 224 px, 8 x 8 for InceptionV3 at
299 px), each a ``C``-dimensional vector describing its patch of the image —
into one vector, and with it throws away *where* things are. This module keeps
the grid (:func:`load_or_extract_spatial_features`, ``spatial_features.npz`` in
the run folder, float16 when the values survive it) and decodes it with soft additive attention, as in
Show, Attend and Tell (Xu et al., ICML 2015)::

    grid (B, N = H*W, C) --Dropout--Dense(units, relu)--> a (B, N, D)
    h0, c0 = 0 (default), or tanh(Dense(mean over N of a)) as in the paper (image_state=True)
    for every word position t:
        e_i   = v . tanh(W_a a_i + W_h h_{t-1} + b)          Bahdanau (additive) score of position i
        alpha = softmax(e)                                    (B, N): where to look, sums to 1
        z_t   = sigmoid(W_beta h_{t-1}) * sum_i alpha_i a_i   the context, gated ("beta" in the paper)
        h_t, c_t = LSTM([word_t ; z_t], h_{t-1}, c_t-1)
        P(next word) = softmax(Dense(tanh(Dense([h_t ; z_t ; word_t]))))   the "deep output"

The model has the same inputs and outputs as the merge model of notebook 05 —
``[image grid (B, N, C), caption so far (B, L)] -> (B, L, vocabulary)`` — so it
trains with the same teacher-forcing pipeline, loss (padding ignored),
checkpoints and early stopping (:mod:`helpers.training`) and decodes with
:mod:`helpers.decoding` (greedy and beam search). ``L`` is free (the caption
input has shape ``(None,)``): one model reads captions of any length. The
doubly stochastic penalty ``penalty * sum_i (1 - sum_t alpha_ti)^2`` (Xu et al.,
eq. 14: every position gets looked at about once over the caption) is an option
(``penalty``; 0 = off).

Why the LSTM starts blind by default: started from the average of the grid (the
paper's choice), it already holds the pooled picture, which on the sample says
everything a caption needs — attention then has nothing to find and its maps
land anywhere (measured on the sample: 0.02x the shape's share of the area, i.e.
it looked *away* from the shapes, at equal scores). Started from zeros, the image
reaches the decoder only through attention, and the maps land on the shapes
(about 3x their share). ``image_state=True`` gives the paper's variant.

Custom layers (:class:`BahdanauAttention`, :class:`AttentionDecoder`) are
registered with Keras, so a saved model reloads in safe mode (no Lambda layers).

On the bundled sample, ``data/sample/boxes.json`` knows every shape's bounding
box, so the attention maps can be *checked*: :func:`box_attention_ratios` measures,
for each generated colour or shape word naming the one shape of an image, the
attention mass inside that shape's box divided by the box's share of the image
(1 = no better than looking everywhere).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from helpers import model as _course_model  # noqa: F401  (registers ImageAtEveryPosition: merge/inject reload)
from helpers import paths
from helpers.run import ATTENTION_CAPTIONS_FILE, ATTENTION_DIR, SPATIAL_FEATURES_FILE  # noqa: F401
from helpers.run import ATTENTION_COMPARISON_FILE as COMPARISON_FILE  # noqa: F401
from helpers.vocabulary import PAD_ID, UNKNOWN_ID, Vocabulary

BOXES_FILE = "boxes.json"  # beside the sample's captions (data/make_sample.py)
SPATIAL_VERSION = 1  # bumped if the spatial cache's content changes

# Words of the sample's captions that name a colour or a shape (synonyms included), and what they name.
COLOUR_WORDS = {
    "red": "red",
    "green": "green",
    "blue": "blue",
    "yellow": "yellow",
    "purple": "purple",
    "violet": "purple",
    "orange": "orange",
}
SHAPE_WORDS = {
    "circle": "circle",
    "circles": "circle",
    "disc": "circle",
    "discs": "circle",
    "dot": "circle",
    "dots": "circle",
    "square": "square",
    "squares": "square",
    "box": "square",
    "boxes": "square",
    "triangle": "triangle",
    "triangles": "triangle",
}


# --------------------------------------------------------------------------------------------------------------
# Spatial features: the encoder's last feature map, kept.


def spatial_encoder(encoder: str = "mobilenet_v2", weights="auto", seed: int | None = None):
    """The CNN of notebook 03 (:func:`helpers.features.build_encoder`) without its pooling:
    image batch -> feature map ``(batch, H, W, C)``."""
    from helpers import features

    pooled = features.build_encoder(encoder, weights, seed=seed)
    grid = pooled.layers[-1].input  # the input of the final GlobalAveragePooling2D
    if len(grid.shape) != 4:
        raise ValueError(f"{encoder}: the layer before pooling gives shape {grid.shape}, not a feature map")
    return keras.Model(pooled.inputs, grid, name=f"{encoder}_grid")


@dataclass
class SpatialFeatures:
    """Feature maps of a list of images: ``grid[i]`` ``(H * W, C)`` belongs to ``image_ids[i]``."""

    image_ids: list[str]
    grid: np.ndarray  # (images, H * W, C), float16 by default
    grid_shape: tuple[int, int]  # (H, W)
    encoder: str
    weights: str
    image_size: int

    def __post_init__(self):
        self.row = {image_id: i for i, image_id in enumerate(self.image_ids)}

    def matrix(self, image_ids: list[str]) -> np.ndarray:
        """Rows for ``image_ids``, in that order."""
        return self.grid[[self.row[i] for i in image_ids]]

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.row

    @property
    def positions(self) -> int:
        return int(self.grid.shape[1])

    @property
    def channels(self) -> int:
        return int(self.grid.shape[2])


def save_spatial_features(path: str | Path, table: SpatialFeatures) -> Path:
    """Save atomically as a plain ``.npz`` (no pickle)."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial.npz")
    np.savez(
        temporary,
        image_ids=np.array(table.image_ids, dtype=str),
        grid=table.grid,
        grid_shape=np.array(table.grid_shape),
        encoder=np.array(table.encoder),
        weights=np.array(table.weights),
        image_size=np.array(table.image_size),
    )
    temporary.replace(path)
    return path


def load_spatial_features(path: str | Path) -> SpatialFeatures:
    """Load a ``spatial_features.npz`` written by :func:`save_spatial_features`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist. It is written by notebooks/10_visual_attention.ipynb.")
    with np.load(path, allow_pickle=False) as data:
        return SpatialFeatures(
            [str(i) for i in data["image_ids"]],
            data["grid"],
            tuple(int(v) for v in data["grid_shape"]),
            str(data["encoder"]),
            str(data["weights"]),
            int(data["image_size"]),
        )


def float16_fits(values: np.ndarray, tolerance: float = 1e-3) -> bool:
    """Whether ``values`` survive float16 (largest error at most ``tolerance`` of the largest value, no overflow).

    ImageNet features do (values up to ~10, three significant digits kept); an untrained network's
    can be ~1e-13, below float16's smallest number: they would all become 0."""
    values = np.asarray(values, dtype=np.float32)
    largest = float(np.abs(values).max()) if values.size else 0.0
    if largest == 0.0 or largest > 6e4:
        return largest == 0.0
    return float(np.abs(values.astype(np.float16).astype(np.float32) - values).max()) <= tolerance * largest


def extract_spatial_features(
    model,
    image_paths: list[str | Path],
    encoder: str,
    batch_size: int = 32,
    *,
    dtype: str = "auto",
    progress: bool = True,
) -> tuple[np.ndarray, tuple[int, int]]:
    """Feature maps ``(len(image_paths), H * W, C)`` of ``model`` (:func:`spatial_encoder`) through the
    course's image pipeline (:func:`helpers.features.iter_features`). Every image must work (these are
    images notebook 03 already read); a bad one raises naming the file and the problem.

    ``dtype``: ``"float16"``, ``"float32"`` or ``"auto"``: float16 (half the memory) when the first
    image's grid survives it (:func:`float16_fits`), float32 otherwise."""
    from helpers import features
    from helpers.images import BadImageError

    height, width, channels = (int(v) for v in model.output_shape[1:])
    grid = None
    for index, vector, reason in features.iter_features(
        model, image_paths, encoder, batch_size, progress=progress, desc=f"{encoder} feature maps"
    ):
        if reason is not None:
            raise BadImageError(f"{image_paths[index]}: {reason}")
        if grid is None:
            chosen = dtype if dtype != "auto" else ("float16" if float16_fits(vector) else "float32")
            grid = np.zeros((len(image_paths), height * width, channels), dtype=chosen)
        grid[index] = vector.reshape(height * width, channels)
    if grid is None:
        grid = np.zeros((0, height * width, channels), dtype="float32" if dtype == "auto" else dtype)
    return grid, (height, width)


def load_or_extract_spatial_features(
    path: str | Path | None,
    image_ids: list[str],
    images_dir: str | Path,
    encoder: str,
    weights,
    *,
    cache_root: str | Path | None = None,
    seed: int | None = None,
    batch_size: int = 32,
    dtype: str = "auto",
    progress: bool = True,
) -> SpatialFeatures:
    """Feature maps of ``image_ids`` through a cache of their own.

    The cache folder is keyed like notebook 03's (images folder, encoder, weights,
    seed of untrained weights, input size — :func:`helpers.features.cache_key`) plus
    ``"kind": "spatial"`` and the dtype asked for, so it never mixes with pooled features. ``dtype="auto"``
    keeps float16 (half the memory) unless the values do not survive it (:func:`float16_fits`).
    Images already cached are reused; the others are extracted and the cache is
    rewritten (atomically). The result is also saved to ``path`` when given."""
    from helpers import features

    choice = weights if isinstance(weights, features.WeightsChoice) else features.resolve_weights(encoder, weights)
    spec = features.encoder_spec(encoder)
    images_dir = Path(images_dir)
    if path is not None and Path(path).exists():  # this run folder's own grids, from an earlier run of notebook 10
        saved = load_spatial_features(path)
        if (
            (saved.encoder, saved.weights) == (encoder, choice.label)
            and dtype in ("auto", str(saved.grid.dtype))
            and all(i in saved for i in image_ids)
        ):
            return SpatialFeatures(
                list(image_ids), saved.matrix(list(image_ids)), saved.grid_shape, encoder, choice.label, spec.image_size
            )
    key = {
        **features.cache_key(images_dir, encoder, choice, seed),
        "kind": "spatial",
        "dtype": dtype,
        "spatial_version": SPATIAL_VERSION,
    }
    folder = features.cache_folder(cache_root or paths.FEATURE_CACHE_DIR, key)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "key.json").exists():
        paths.write_json_atomic(folder / "key.json", key)
    cache_file = folder / SPATIAL_FEATURES_FILE
    cached = load_spatial_features(cache_file) if cache_file.exists() else None
    todo = [i for i in image_ids if cached is None or i not in cached]
    if todo:
        model = spatial_encoder(encoder, choice, seed=seed)
        grid, grid_shape = extract_spatial_features(
            model, [images_dir / i for i in todo], encoder, batch_size, dtype=dtype, progress=progress
        )
        del model
        if cached is not None:
            grid = np.concatenate([cached.grid, grid.astype(cached.grid.dtype)])
            todo = cached.image_ids + todo
        cached = SpatialFeatures(todo, grid, grid_shape, encoder, choice.label, spec.image_size)
        save_spatial_features(cache_file, cached)
    table = SpatialFeatures(
        list(image_ids), cached.matrix(list(image_ids)), cached.grid_shape, encoder, choice.label, spec.image_size
    )
    if path is not None:
        save_spatial_features(path, table)
    return table


# --------------------------------------------------------------------------------------------------------------
# The layers.


@keras.saving.register_keras_serializable(package="captioning")
class BahdanauAttention(layers.Layer):
    """Soft additive attention: ``(grid (B, N, D), hidden (B, H)) -> (context (B, D), weights (B, N))``.

    ``score_i = v . tanh(W_a grid_i + W_h hidden + b)``; ``weights = softmax(score)``
    over the ``N`` positions; ``context = sum_i weights_i grid_i``."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.grid_projection = layers.Dense(units, use_bias=False, name="grid_projection")
        self.hidden_projection = layers.Dense(units, name="hidden_projection")
        self.score = layers.Dense(1, use_bias=False, name="score")

    def build(self, input_shape):
        grid_shape, hidden_shape = input_shape
        self.grid_projection.build(grid_shape)
        self.hidden_projection.build(hidden_shape)
        self.score.build((None, None, self.units))

    def attend(self, grid, projected_grid, hidden):
        """The same, with ``W_a grid`` computed once per caption (it does not change between words)."""
        scores = self.score(keras.ops.tanh(projected_grid + self.hidden_projection(hidden)[:, None, :]))[..., 0]
        weights = keras.ops.softmax(scores, axis=-1)
        context = keras.ops.sum(weights[..., None] * grid, axis=1)
        return context, weights

    def call(self, inputs):
        grid, hidden = inputs
        return self.attend(grid, self.grid_projection(grid), hidden)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="captioning")
class AttentionDecoder(layers.Layer):
    """The LSTM that attends: ``[words (B, L, E), grid (B, N, D), caption ids (B, L)]`` ->
    ``[hidden (B, L, units), context (B, L, D), attention (B, L, N)]``.

    Position ``t`` reads words ``0..t`` only (left to right); padding (id 0) leaves
    the state unchanged. ``penalty`` > 0 adds the doubly stochastic loss."""

    def __init__(self, units: int, attention_units: int, penalty: float = 0.0, image_state: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.attention_units, self.penalty = units, attention_units, float(penalty)
        self.image_state = bool(image_state)
        self.attention = BahdanauAttention(attention_units, name="attention")
        if self.image_state:
            self.init_h = layers.Dense(units, activation="tanh", name="init_h")
            self.init_c = layers.Dense(units, activation="tanh", name="init_c")
        self.gate = layers.Dense(1, activation="sigmoid", name="context_gate")
        self.cell = layers.LSTMCell(units, name="lstm_cell")

    def build(self, input_shape):
        words_shape, grid_shape, _ = input_shape
        grid_dim = grid_shape[-1]
        self.attention.build([grid_shape, (None, self.units)])
        if self.image_state:
            self.init_h.build((None, grid_dim))
            self.init_c.build((None, grid_dim))
        self.gate.build((None, self.units))
        self.cell.build((None, words_shape[-1] + grid_dim))

    def call(self, inputs, training=False):
        import tensorflow as tf

        words, grid, caption = inputs
        mask = tf.cast(tf.not_equal(caption, PAD_ID), words.dtype)  # (B, L)
        batch = tf.shape(words)[0]
        if self.image_state:  # Xu et al.: the LSTM starts from the whole (average) picture
            mean_grid = tf.reduce_mean(grid, axis=1)
            state = (self.init_h(mean_grid), self.init_c(mean_grid))
        else:  # blind: everything it learns of the image comes through attention
            state = (tf.zeros([batch, self.units], words.dtype), tf.zeros([batch, self.units], words.dtype))
        projected = self.attention.grid_projection(grid)

        def step(carry, inputs_t):
            h, c, _, _ = carry
            word_t, mask_t = inputs_t
            context, weights = self.attention.attend(grid, projected, h)
            context = self.gate(h) * context  # beta: how much image this word needs
            _, (new_h, new_c) = self.cell(tf.concat([word_t, context], axis=-1), (h, c), training=training)
            keep = mask_t[:, None]
            return (keep * new_h + (1 - keep) * h, keep * new_c + (1 - keep) * c, context, weights)

        initial = (
            state[0],
            state[1],
            tf.zeros([batch, tf.shape(grid)[2]], words.dtype),
            tf.zeros([batch, tf.shape(grid)[1]], words.dtype),
        )
        length = words.shape[1]
        if length is not None:  # a known length (training, notebook calls): unrolled, faster on a CPU
            carry, steps = initial, []
            for t in range(length):
                carry = step(carry, (words[:, t], mask[:, t]))
                steps.append(carry)
            hidden, contexts, weights = (tf.stack([s[k] for s in steps], axis=1) for k in (0, 2, 3))
        else:  # any length: a loop inside the graph
            hidden, _, contexts, weights = tf.scan(
                step, (tf.transpose(words, [1, 0, 2]), tf.transpose(mask)), initializer=initial
            )
            hidden, contexts, weights = (tf.transpose(x, [1, 0, 2]) for x in (hidden, contexts, weights))
        if self.penalty > 0:
            looked = tf.reduce_sum(weights * mask[:, :, None], axis=1)  # (B, N): attention summed over words
            self.add_loss(self.penalty * tf.reduce_mean(tf.reduce_sum(tf.square(1.0 - looked), axis=1)))
        return hidden, contexts, weights

    def compute_output_shape(self, input_shape):
        words_shape, grid_shape, _ = input_shape
        batch, length = words_shape[0], words_shape[1]
        return ((batch, length, self.units), (batch, length, grid_shape[-1]), (batch, length, grid_shape[1]))

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "attention_units": self.attention_units,
            "penalty": self.penalty,
            "image_state": self.image_state,
        }


# --------------------------------------------------------------------------------------------------------------
# The model.


def build_attention_model(
    vocab_size: int,
    positions: int,
    channels: int,
    *,
    length: int | None = None,
    embedding_dim: int = 100,
    units: int = 256,
    attention_units: int = 256,
    dropout: float = 0.5,
    penalty: float = 0.0,
    image_state: bool = False,
    embedding_matrix: np.ndarray | None = None,
    train_embeddings: bool = True,
    learning_rate: float = 1e-3,
):
    """Build and compile the attention captioner.

    Inputs ``image_grid`` ``(batch, positions, channels)`` (the feature map,
    flattened) and ``caption_so_far`` ``(batch, length)`` (``None``: any length);
    output ``(batch, length, vocab_size)`` like the merge model. Compiled with
    :func:`helpers.model.compile_model` (padding ignored, Adam)."""
    from helpers.model import _check_embedding_matrix, compile_model

    embedding_dim = _check_embedding_matrix(vocab_size, embedding_dim, embedding_matrix)
    image_grid = keras.Input(shape=(positions, channels), name="image_grid")
    grid = layers.Dropout(dropout, name="grid_dropout")(image_grid)
    grid = layers.Dense(units, activation="relu", name="grid_dense")(grid)  # (B, N, D = units)

    caption = keras.Input(shape=(length,), dtype="int32", name="caption_so_far")
    words = layers.Embedding(vocab_size, embedding_dim, trainable=train_embeddings, name="word_embedding")(caption)
    words = layers.Dropout(dropout, name="word_dropout")(words)

    hidden, context, _ = AttentionDecoder(units, attention_units, penalty, image_state, name="attention_decoder")(
        [words, grid, caption]
    )
    merged = layers.Concatenate(name="deep_output_inputs")([hidden, context, words])
    merged = layers.Dropout(dropout, name="decoder_dropout")(merged)
    merged = layers.Dense(units, activation="tanh", name="decoder_dense")(merged)
    next_word = layers.Dense(vocab_size, activation="softmax", name="next_word")(merged)
    model = keras.Model([image_grid, caption], next_word, name="attention_captioner")
    if embedding_matrix is not None:
        model.get_layer("word_embedding").set_weights([np.asarray(embedding_matrix, dtype="float32")])
    return compile_model(model, learning_rate)


def attention_map_model(model):
    """The same model with a second output: the attention weights ``(batch, length, positions)``."""
    weights = model.get_layer("attention_decoder").output[2]
    return keras.Model(model.inputs, [model.output, weights], name="attention_captioner_with_maps")


def load_attention_model(run_dir: str | Path):
    """``(model, history)`` from ``<run>/attention/`` (Keras safe mode)."""
    folder = Path(run_dir) / ATTENTION_DIR
    model = keras.saving.load_model(paths.require(folder / paths.MODEL_FILE), safe_mode=True)
    history_path = folder / paths.HISTORY_FILE
    return model, (paths.read_json(history_path) if history_path.exists() else {})


TRAINED_FILE = "trained.json"  # beside a model trained by train_once: its settings and peak memory


def train_once(build, train_dataset, dev_dataset, *, folder: str | Path, settings: dict, epochs: int, patience: int):
    """Train ``build()`` with :func:`helpers.training.train` into ``folder`` — unless ``folder``
    already holds a model trained with exactly these ``settings`` (a second run of the notebook,
    or its solutions): then that model is reused. Returns ``(best model, history, peak memory in MB,
    reused)``; the memory is ``{"peak_mb", "growth_mb"}``: the process's highest resident memory while it
    trained, and how far that is above where it started (measured then: in one process, memory held by
    earlier work counts in the peak, not in the growth)."""
    from helpers import training

    folder = Path(folder)
    record_path = folder / TRAINED_FILE
    if record_path.exists() and (folder / paths.MODEL_FILE).exists() and (folder / paths.HISTORY_FILE).exists():
        record = paths.read_json(record_path)
        if record.get("settings") == settings:
            model = keras.saving.load_model(folder / paths.MODEL_FILE, safe_mode=True)
            return model, paths.read_json(folder / paths.HISTORY_FILE), record["memory"], True
    record_path.unlink(missing_ok=True)
    with PeakMemory() as memory:
        history = training.train(
            build(), train_dataset, dev_dataset, epochs=epochs, run_dir=folder, patience=patience, verbose=0
        )
    used = {"peak_mb": memory.megabytes, "growth_mb": memory.growth_megabytes}
    paths.write_json_atomic(record_path, {"settings": settings, "memory": used})
    model = keras.saving.load_model(folder / paths.MODEL_FILE, safe_mode=True)  # the best epoch, in safe mode
    return model, history, used, False


def count_parameters(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.weights))


# --------------------------------------------------------------------------------------------------------------
# Decoding: helpers.decoding's greedy and beam search, through a compiled call that never picks <unk>.


class DecodingModel:
    """What :mod:`helpers.decoding` calls: the model, compiled once (``tf.function``), fed
    float32 grids, with the probability of ``<unk>`` set to 0 (padding and start are
    excluded by :mod:`helpers.decoding` itself)."""

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        self.inputs = model.inputs
        self._call = tf.function(lambda grid, words: model([grid, words], training=False), reduce_retracing=True)

    def __call__(self, inputs, training=False):
        grid, words = inputs
        probabilities = np.array(self._call(np.asarray(grid, np.float32), np.asarray(words, np.int32)))
        probabilities[..., UNKNOWN_ID] = 0.0
        return probabilities


def greedy_captions(model, grid: np.ndarray, vocabulary: Vocabulary, max_length: int) -> list[str]:
    from helpers import decoding

    return decoding.greedy_captions(_decoding_model(model), grid, vocabulary, max_length, batch_size=64)


def beam_search_captions(
    model, grid: np.ndarray, vocabulary: Vocabulary, max_length: int, width: int = 3, alpha: float | None = None
) -> list[str]:
    from helpers import decoding

    alpha = decoding.DEFAULT_ALPHA if alpha is None else alpha
    return decoding.beam_search_captions(
        _decoding_model(model), grid, vocabulary, max_length, width, alpha=alpha, batch_size=32
    )


def _decoding_model(model):
    return model if isinstance(model, DecodingModel) else DecodingModel(model)


# --------------------------------------------------------------------------------------------------------------
# Where the model looks.


def caption_attention(
    map_model, grid: np.ndarray, vocabulary: Vocabulary, captions: list[str], grid_shape: tuple[int, int]
) -> list[tuple[list[str], np.ndarray]]:
    """For each image and its (generated) caption: ``(words, maps)``, where ``words`` is
    the caption's words plus ``endseq`` and ``maps[k]`` ``(H, W)`` the attention the
    model paid while choosing ``words[k]`` (teacher-forced on the caption: the same maps
    as while it wrote it, since position ``t`` sees only the words before)."""
    stop = vocabulary.words[vocabulary.stop_id]
    word_lists = [caption.split() + [stop] for caption in captions]
    length = max(len(w) for w in word_lists)
    rows = np.zeros((len(captions), length), np.int32)
    for row, words in zip(rows, word_lists):
        ids = [vocabulary.start_id] + [vocabulary.index.get(w, UNKNOWN_ID) for w in words[:-1]]
        row[: len(ids)] = ids
    results = []
    for start in range(0, len(captions), 64):
        _, weights = map_model(
            [np.asarray(grid[start : start + 64], np.float32), rows[start : start + 64]], training=False
        )
        weights = np.asarray(weights)
        for k, words in enumerate(word_lists[start : start + 64]):
            results.append((words, weights[k, : len(words)].reshape(len(words), *grid_shape)))
    return results


def average_word_map(attention: list[tuple[list[str], np.ndarray]], word: str) -> tuple[np.ndarray | None, int]:
    """The mean attention map of ``word`` over every time it was generated, and how many times."""
    maps = [maps[k] for words, maps in attention for k, w in enumerate(words) if w == word]
    return (np.mean(maps, axis=0) if maps else None), len(maps)


def plot_caption_attention(
    image_path: str | Path, words: list[str], maps: np.ndarray, *, columns: int = 5, title: str | None = None
):
    """The image once per word, with that word's attention map upsampled (bilinear) and laid over it."""
    import matplotlib.pyplot as plt

    image = plt.imread(image_path)
    rows = -(-len(words) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.5 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    height, width = image.shape[:2]
    for axis, word, attention_map in zip(axes.ravel(), words, maps):
        axis.imshow(image)
        axis.imshow(attention_map, cmap="inferno", alpha=0.55, interpolation="bilinear", extent=(0, width, height, 0))
        axis.set_title(word, fontsize=11)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_average_map(attention_map: np.ndarray, word: str, count: int):
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(3.4, 3))
    shown = axis.imshow(attention_map, cmap="inferno", interpolation="nearest")
    axis.set_title(f"'{word}': mean attention over {count} uses")
    axis.set_xticks([]), axis.set_yticks([])
    figure.colorbar(shown, ax=axis, fraction=0.046)
    return figure


# --------------------------------------------------------------------------------------------------------------
# The check with bounding boxes.


def read_boxes(path: str | Path) -> dict:
    """``boxes.json`` of the sample: ``{"image_size": 128, "boxes": {image id: [{"colour", "shape", "size", "box"}]}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["boxes"], data["image_size"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a boxes file written by data/make_sample.py ({error})") from None
    return data


def box_coverage(box: list[float], image_size: tuple[int, int] | int, grid_shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)``: the fraction of each grid cell covered by ``box`` ``[x0, y0, x1, y1]`` (pixels;
    the grid cuts the whole image into ``H x W`` equal cells, as the resized image reaches the CNN)."""
    image_height, image_width = (image_size, image_size) if np.ndim(image_size) == 0 else image_size
    grid_height, grid_width = grid_shape
    x0, y0, x1, y1 = box

    def overlap(low, high, size, cells):
        edges = np.arange(cells + 1) * size / cells
        return np.clip(np.minimum(edges[1:], high) - np.maximum(edges[:-1], low), 0, None) / (size / cells)

    return np.outer(overlap(y0, y1, image_height, grid_height), overlap(x0, x1, image_width, grid_width))


def box_attention_ratios(attention: dict[str, tuple[list[str], np.ndarray]], boxes: dict) -> list[dict]:
    """For every generated word naming a colour or shape that exactly one shape of the image has:
    ``{"image", "word", "mass", "share", "ratio"}`` — ``mass``: the attention inside that shape's box
    (each cell weighted by the fraction of it the box covers), ``share``: the box's share of the grid,
    ``ratio = mass / share`` (1: no better than attending uniformly)."""
    records = []
    for image_id, (words, maps) in attention.items():
        shapes = boxes["boxes"].get(image_id)
        if not shapes:
            continue
        for word, attention_map in zip(words, maps):
            if word in COLOUR_WORDS:
                matching = [s for s in shapes if s["colour"] == COLOUR_WORDS[word]]
            elif word in SHAPE_WORDS:
                matching = [s for s in shapes if s["shape"] == SHAPE_WORDS[word]]
            else:
                continue
            if len(matching) != 1:
                continue
            coverage = box_coverage(matching[0]["box"], boxes["image_size"], attention_map.shape)
            mass = float((attention_map * coverage).sum() / attention_map.sum())
            share = float(coverage.sum() / coverage.size)
            records.append({"image": image_id, "word": word, "mass": mass, "share": share, "ratio": mass / share})
    return records


# --------------------------------------------------------------------------------------------------------------
# Measuring: peak memory while something runs.


def _rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process(os.getpid()).memory_info().rss)
    except ImportError:  # Linux without psutil
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """``with PeakMemory() as peak: ...`` then ``peak.megabytes``: the highest resident memory of this
    process while the block ran (sampled every 20 ms)."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = self.start = _rss_bytes()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def megabytes(self) -> float:
        return self.peak / 2**20

    @property
    def growth_megabytes(self) -> float:
        return (self.peak - self.start) / 2**20


# --------------------------------------------------------------------------------------------------------------
# The comparison table of notebook 10.

COMPARISON_METRICS = [
    ("bleu1", "BLEU-1"),
    ("bleu2", "BLEU-2"),
    ("bleu3", "BLEU-3"),
    ("bleu4", "BLEU-4"),
    ("meteor", "METEOR"),
    ("cider", "CIDEr-D"),
]


def release_freed_memory() -> None:
    """Collect garbage and hand memory the process freed back to the system (glibc's ``malloc_trim``, where
    there is one): freed memory otherwise stays in the process's resident size, which counts against Binder's 2 GB."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to trim
        pass


def model_row(
    model,
    inputs,
    image_ids: list[str],
    *,
    vocabulary: Vocabulary,
    max_length: int,
    width: int,
    alpha: float,
    seconds_per_epoch: float,
    memory: dict | None,
    captions: tuple[dict, dict] | None = None,
) -> dict:
    """One model's row of notebook 10's comparison, before scoring (:func:`score_rows`): its greedy and
    beam captions of ``image_ids`` (decoded here from ``inputs``, one row of features or grid per image, unless
    ``captions=(greedy, beam)`` are given), its parameter count, seconds per epoch and memory while training
    (``{"peak_mb", "growth_mb"}``, or ``None`` where it was not measured)."""
    if captions is None:
        greedy = greedy_captions(model, inputs, vocabulary, max_length)
        beam = beam_search_captions(model, inputs, vocabulary, max_length, width=width, alpha=alpha)
        captions = (dict(zip(image_ids, greedy)), dict(zip(image_ids, beam)))
    return {
        "captions": {"greedy": captions[0], "beam": captions[1]},
        "parameters": count_parameters(model),
        "seconds_per_epoch": float(seconds_per_epoch),
        "memory": memory,
    }


def score_rows(rows: dict[str, dict], references: dict[str, list[str]]) -> dict[str, dict]:
    """Replace each row's ``captions`` by their ``scores`` (:func:`helpers.evaluation.caption_scores`),
    with one METEOR Java process for every row (:func:`helpers.evaluation.meteor_session`), started after
    the models were trained and decoded. Returns ``rows``."""
    from helpers import evaluation

    release_freed_memory()  # the models deleted before this call: METEOR's Java process starts beside less
    with evaluation.meteor_session():
        for row in rows.values():
            captions = row.pop("captions")
            row["scores"] = {
                decoder: evaluation.caption_scores(references, captions[decoder], say=None)["scores"]
                for decoder in ("greedy", "beam")
            }
    return rows


def comparison_markdown(rows: dict[str, dict], beam_width: int = 3) -> str:
    """``{model: {"scores": {"greedy": {...}, "beam": {...}}, "parameters", "seconds_per_epoch",
    "memory": {"peak_mb", "growth_mb"} or None}}`` as a Markdown table: one line per model and decoder,
    scores x100 (``—`` where a metric or figure is missing, e.g. METEOR without Java)."""
    header = (
        "| model | decoding | "
        + " | ".join(label for _, label in COMPARISON_METRICS)
        + " | parameters | s / epoch | peak memory, MB (growth while training) |"
    )
    lines = [header, "|---|---|" + "---:|" * (len(COMPARISON_METRICS) + 3)]
    for name, row in rows.items():
        for decoder in ("greedy", "beam"):
            scores = row["scores"].get(decoder) or {}
            cells = [f"{100 * scores[key]:.1f}" if key in scores else "—" for key, _ in COMPARISON_METRICS]
            label = "greedy" if decoder == "greedy" else f"beam {beam_width}"
            extra = [
                f"{row['parameters']:,}",
                f"{row['seconds_per_epoch']:.1f}",
                "—"
                if not row.get("memory")
                else f"{row['memory']['peak_mb']:,.0f} (+{row['memory']['growth_mb']:,.0f})",
            ]
            lines.append(
                f"| {name} | {label} | "
                + " | ".join(cells)
                + " | "
                + (" | ".join(extra) if decoder == "greedy" else "| |")
                + " |"
            )
    return "\n".join(lines)
