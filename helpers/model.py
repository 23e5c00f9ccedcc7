"""The merge model: image features and the caption so far -> the next word, at every position.

Taught in notebooks/05_merge_lstm_model.ipynb.

::

    image features --Dropout--Dense(units, relu)-----------.
                                                            (+)--Dense(units, relu)--Dense(vocab, softmax)
    caption so far --Embedding--Dropout--LSTM(units)-------'

The image never enters the LSTM: the LSTM only reads words, and the two
summaries are *merged* (added) just before the word is predicted — the "merge"
architecture of Tanti et al. (2018). The LSTM returns its state after *every*
word, so one call on ``startseq w1 w2 ... wn`` gives the next-word distribution
after ``startseq``, after ``startseq w1``, ... at once (output ``(batch, length,
vocabulary)``). The LSTM reads left to right only, so position ``t`` sees tokens
``0..t`` and nothing after: padding after ``t`` cannot change it. That is what
lets training use every position of a caption in one step (teacher forcing, see
``helpers.training``), and decoding feed one word at a time, carrying the
LSTM state (``helpers.decoding``).

The "inject" variant (:func:`build_inject_model`) puts the image *into* the
LSTM instead, as its initial state; same inputs, same outputs.

Both models read captions of *any* length (their word input has shape
``(batch, None)``): training pads each batch only to its own longest caption
(``helpers.training``), and the image vector is copied to as many positions as
the batch has (:class:`ImageAtEveryPosition`, a small registered layer, so the
saved model reloads in Keras' safe mode). Generation does not re-read the caption
at all: it carries the LSTM state from word to word (``helpers.decoding``).

The loss is categorical cross-entropy over the vocabulary; the targets are word
ids (Keras' *sparse* categorical cross-entropy: the same loss without building
one-hot vectors) with id 0, padding, ignored; optimised with Adam.
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.vocabulary import PAD_ID

ARCHITECTURES = ("merge", "inject")


@keras.saving.register_keras_serializable(package="captioning_course")
class ImageAtEveryPosition(keras.layers.Layer):
    """``[image (batch, units), words (batch, n)] -> (batch, n, units)``: the image vector
    copied to every position of the caption, however long the batch's captions are
    (``RepeatVector`` would fix ``n`` when the model is built). Registered, so a saved
    model reloads in safe mode once ``helpers.model`` is imported. It makes no mask: the
    words' mask reaches the output through the LSTM branch."""

    def call(self, inputs):
        image, words = inputs
        shape = keras.ops.shape(image)
        return keras.ops.broadcast_to(keras.ops.expand_dims(image, 1), (shape[0], keras.ops.shape(words)[1], shape[1]))

    def compute_output_shape(self, input_shapes):
        image_shape, words_shape = input_shapes
        return (image_shape[0], words_shape[1], image_shape[1])

    def compute_mask(self, inputs, mask=None):
        return None


def check_embedding_matrix(vocab_size: int, embedding_dim: int, embedding_matrix):
    """The embedding size: ``embedding_dim``, or the width of ``embedding_matrix`` (checked against the vocabulary)."""
    if embedding_matrix is None:
        return embedding_dim
    if embedding_matrix.ndim != 2 or embedding_matrix.shape[0] != vocab_size:
        raise ValueError(
            f"embedding matrix has shape {embedding_matrix.shape}, expected ({vocab_size}, dim) "
            f"for a vocabulary of {vocab_size} words"
        )
    return embedding_matrix.shape[1]


def _word_inputs(vocab_size, embedding_dim, dropout, train_embeddings):
    import keras
    from keras import layers

    caption = keras.Input(shape=(None,), dtype="int32", name="caption_so_far")  # any length: each batch its own
    words = layers.Embedding(
        vocab_size, embedding_dim, mask_zero=True, trainable=train_embeddings, name="word_embedding"
    )(caption)
    words = layers.Dropout(dropout, name="word_dropout")(words)
    return caption, words


def _finish(model, embedding_matrix, learning_rate):
    if embedding_matrix is not None:
        # set_weights, not a Constant initializer: that would copy the whole matrix into the saved config
        model.get_layer("word_embedding").set_weights([np.asarray(embedding_matrix, dtype="float32")])
    return compile_model(model, learning_rate)


def build_merge_model(
    vocab_size: int,
    length: int,
    feature_dim: int,
    *,
    embedding_dim: int = 100,
    units: int = 256,
    dropout: float = 0.5,
    embedding_matrix: np.ndarray | None = None,
    train_embeddings: bool = True,
    learning_rate: float = 1e-3,
):
    """Build and compile the merge model (Keras functional API).

    Inputs: ``image_features`` ``(batch, feature_dim)`` and ``caption_so_far``
    ``(batch, n)`` word ids, padded with 0 after the words. ``n`` may be anything:
    the longest caption of the batch minus one in training, up to ``length``
    (the caption's maximum length minus one: the last word is never an input;
    kept so every builder has the same arguments — the model itself fixes no
    length). Output ``(batch, n, vocab_size)``: at position ``t`` the probability
    of every word being the one after ``caption_so_far[:, :t + 1]``.
    """
    import keras
    from keras import layers

    embedding_dim = check_embedding_matrix(vocab_size, embedding_dim, embedding_matrix)
    image_features = keras.Input(shape=(feature_dim,), name="image_features")
    image = layers.Dropout(dropout, name="image_dropout")(image_features)
    image = layers.Dense(units, activation="relu", name="image_dense")(image)

    caption, words = _word_inputs(vocab_size, embedding_dim, dropout, train_embeddings)
    words = layers.LSTM(units, return_sequences=True, name="lstm")(words)
    # (batch, units) -> (batch, n, units): the image joins at every position, as many as the batch has
    image = ImageAtEveryPosition(name="image_at_every_position")([image, caption])

    merged = layers.Add(name="merge")([image, words])
    merged = layers.Dense(units, activation="relu", name="decoder_dense")(merged)
    next_word = layers.Dense(vocab_size, activation="softmax", name="next_word")(merged)
    model = keras.Model([image_features, caption], next_word, name="merge_captioner")
    return _finish(model, embedding_matrix, learning_rate)


def build_inject_model(
    vocab_size: int,
    length: int,
    feature_dim: int,
    *,
    embedding_dim: int = 100,
    units: int = 256,
    dropout: float = 0.5,
    embedding_matrix: np.ndarray | None = None,
    train_embeddings: bool = True,
    learning_rate: float = 1e-3,
):
    """The "init-inject" variant: the image, through Dense(units), is the LSTM's
    initial state (both ``h`` and ``c``), so the LSTM reads words *knowing* the
    image; its outputs go through Dense(units, relu) to the softmax. Same inputs
    and outputs as :func:`build_merge_model`."""
    import keras
    from keras import layers

    embedding_dim = check_embedding_matrix(vocab_size, embedding_dim, embedding_matrix)
    image_features = keras.Input(shape=(feature_dim,), name="image_features")
    image = layers.Dropout(dropout, name="image_dropout")(image_features)
    image = layers.Dense(units, activation="relu", name="image_dense")(image)

    caption, words = _word_inputs(vocab_size, embedding_dim, dropout, train_embeddings)
    words = layers.LSTM(units, return_sequences=True, name="lstm")(words, initial_state=[image, image])

    hidden = layers.Dense(units, activation="relu", name="decoder_dense")(words)
    next_word = layers.Dense(vocab_size, activation="softmax", name="next_word")(hidden)
    model = keras.Model([image_features, caption], next_word, name="inject_captioner")
    return _finish(model, embedding_matrix, learning_rate)


def build_model(architecture: str, vocab_size: int, length: int, feature_dim: int, **options):
    """``"merge"`` or ``"inject"`` (the notebook's ``MODEL`` parameter)."""
    builders = {"merge": build_merge_model, "inject": build_inject_model}
    if architecture not in builders:
        raise ValueError(f"unknown model {architecture!r}: choose one of {', '.join(ARCHITECTURES)}")
    return builders[architecture](vocab_size, length, feature_dim, **options)


def input_length(model) -> int | None:
    """How many word ids the model reads per caption (its second input's length):
    ``None`` for the models built here, which read captions of any length."""
    length = model.inputs[1].shape[1]
    return None if length is None else int(length)


def compile_model(model, learning_rate: float = 1e-3):
    """Sparse categorical cross-entropy ignoring padding targets (id 0), and Adam —
    used again by notebook 06 after loading the untrained model, with a fresh optimizer."""
    import keras

    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=PAD_ID),
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
    )
    return model


def draw_model(model, path) -> str:
    """A diagram of the model: ``keras.utils.plot_model`` into ``path`` when pydot
    and graphviz's ``dot`` work; otherwise (or also) a text diagram.

    Returns the text diagram, one layer a line: its name, type, output shape and
    the layers it reads from; the caller prints it when no picture was made
    (``Path(path).exists()`` says which)."""
    from pathlib import Path

    import keras

    path = Path(path)
    path.unlink(missing_ok=True)
    try:
        keras.utils.plot_model(model, to_file=str(path), show_shapes=True, show_layer_names=True)
    except (ImportError, OSError, RuntimeError, FileNotFoundError):
        pass  # no graphviz: plot_model raises outside Jupyter and only prints a message inside it
    return model_text_diagram(model)


def model_text_diagram(model) -> str:
    """A text diagram of a functional model: ``inputs -> layer (Type) -> output shape``."""
    names = {layer.name for layer in model.layers}
    lines = []
    for layer in model.layers:
        sources = []
        for node in getattr(layer, "_inbound_nodes", []):
            for tensor in node.input_tensors:
                history = getattr(tensor, "_keras_history", None)
                if history is not None and history[0].name in names:  # not Keras' hidden mask ops
                    sources.append(history[0].name)
        shape = tuple(layer.output.shape) if hasattr(layer, "output") else "?"
        arrow = " + ".join(dict.fromkeys(sources)) if sources else "(input)"
        lines.append(f"{arrow:>34} -> {layer.name} ({layer.__class__.__name__}) {shape}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Comparing two architectures (notebook 05 checks its hand-written model against the builders with it).


def _layer_sources(model) -> dict[str, list[str]]:
    """``{layer name: [names of the layers it reads from]}`` (Keras' hidden mask ops left out)."""
    names = {layer.name for layer in model.layers}
    sources: dict[str, list[str]] = {}
    for layer in model.layers:
        found = []
        for node in getattr(layer, "_inbound_nodes", []):
            for tensor in node.input_tensors:
                history = getattr(tensor, "_keras_history", None)
                if history is not None and history[0].name in names:
                    found.append(history[0].name)
        sources[layer.name] = found
    return sources


def _shape(layer) -> tuple:
    output = getattr(layer, "output", None)
    return tuple(output.shape) if output is not None else ()


def _config(layer) -> dict:
    """The layer's config without its name (and, for an input, without the name Keras derives from it)."""
    config = dict(layer.get_config())
    config.pop("name", None)
    return config


def _describe(model) -> list[dict]:
    """Each layer as ``{"type", "shape", "config", "reads"}`` ordered by depth from the inputs, then by a
    description that does not depend on names, so two models built in a different order line up."""
    sources = _layer_sources(model)
    by_name = {layer.name: layer for layer in model.layers}
    depth: dict[str, int] = {}

    def depth_of(name):
        if name not in depth:
            depth[name] = 1 + max((depth_of(s) for s in sources[name]), default=-1)
        return depth[name]

    rows = []
    for layer in model.layers:
        reads = sorted(by_name[s].__class__.__name__ for s in sources[layer.name])
        rows.append(
            {
                "name": layer.name,
                "type": layer.__class__.__name__,
                "shape": _shape(layer),
                "config": _config(layer),
                "reads": reads,
                "depth": depth_of(layer.name),
            }
        )
    return sorted(
        rows, key=lambda r: (r["depth"], r["type"], str(r["shape"]), r["reads"], sorted(map(str, r["config"].items())))
    )


def _same_shape(a: tuple, b: tuple) -> bool:
    """Equal shapes; ``None`` (any size: the batch, or a variable caption length) matches any size."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def architecture_differences(model, other) -> list[str]:
    """What differs between two Keras functional models' architectures; ``[]`` when they are the same.

    Compared: the number of layers and their types, each layer's output shape (``None``, a batch or a
    variable length, matches any size), its config without the layer's name (units, activation, dropout
    rate, ``mask_zero``, ``return_sequences``, ...), the types of the layers it reads from (the wiring), and
    the parameter count. Names are ignored, so a model written by hand with other names matches the
    builder's. Each difference is one line, ``model`` first ("here") and ``other`` second ("there").
    Taught in notebooks/05_merge_lstm_model.ipynb."""
    differences = []
    mine, theirs = _describe(model), _describe(other)
    count_mine, count_theirs = (
        {t: [r["type"] for r in rows].count(t) for t in {r["type"] for r in rows}} for rows in (mine, theirs)
    )
    for layer_type in sorted(set(count_mine) | set(count_theirs)):
        here, there = count_mine.get(layer_type, 0), count_theirs.get(layer_type, 0)
        if here != there:
            differences.append(f"{layer_type} layers: {here} here, {there} there")
    if not differences:
        for row, other_row in zip(mine, theirs):
            label = f"{row['type']} {row['name']!r} (vs {other_row['name']!r})"
            if row["type"] != other_row["type"]:
                differences.append(f"{label}: at this place there is a {other_row['type']}")
                continue
            if not _same_shape(row["shape"], other_row["shape"]):
                differences.append(f"{label}: output shape {row['shape']} here, {other_row['shape']} there")
            if row["reads"] != other_row["reads"]:
                differences.append(
                    f"{label}: reads from {row['reads'] or 'nothing'} here, {other_row['reads'] or 'nothing'} there"
                )
            for key in sorted(set(row["config"]) | set(other_row["config"])):
                here, there = row["config"].get(key), other_row["config"].get(key)
                if key in ("batch_shape", "shape", "n") and isinstance(here, (list, tuple, int)):
                    # an input's or RepeatVector's length: None (variable) matches any length
                    as_tuple = lambda v: tuple(v) if isinstance(v, (list, tuple)) else (v,)  # noqa: E731
                    if _same_shape(as_tuple(here), as_tuple(there) if there is not None else (None,)):
                        continue
                if here != there:
                    differences.append(f"{label}: {key} = {here!r} here, {there!r} there")
    if model.count_params() != other.count_params():
        differences.append(f"parameters: {model.count_params():,} here, {other.count_params():,} there")
    return differences
