"""The step of every decoding strategy: ``(features, words so far) -> log P(next word)``, for either model shape.

Taught in notebooks/07_caption_generation.ipynb (with :mod:`helpers.decoding`, which chooses the words).
For the course's merge and inject models a :class:`StepModel` carries the LSTM state from word to word
(one position per call); a wrapper with a ``cached_step()`` brings a step of its own (notebook 11's Transformer,
``helpers.transformer.CachedDecodingModel``); any other model re-reads the whole prefix at every step.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref

import numpy as np

from helpers.vocabulary import PAD_ID, Vocabulary


def model_sequence_length(model, max_length: int) -> int:
    """Length ``L`` of the model's token input, or ``max_length`` when it takes any length or does not say."""
    try:
        length = model.inputs[1].shape[1]
    except (AttributeError, IndexError, TypeError):
        length = None
    return int(length) if length else int(max_length)


def next_word_log_probabilities(
    model, features: np.ndarray, sequences: np.ndarray, lengths: np.ndarray, vocabulary: Vocabulary
) -> np.ndarray:
    """``log P(next word | image, sequence)`` ``(B, V)`` for rows holding ``lengths`` tokens each.

    ``sequences`` ``(B, L)`` are word ids padded with 0 after the words. Works for
    models returning ``(B, V)`` and for models returning ``(B, L, V)``. The
    padding and start tokens are excluded (log-probability ``-inf``). This re-reads
    the whole sequence; the strategies use a :class:`StepModel` when they can."""
    output = model([np.asarray(features, dtype=np.float32), np.asarray(sequences, dtype=np.int32)], training=False)
    probabilities = np.asarray(output, dtype=np.float64)
    if probabilities.ndim == 3:
        probabilities = probabilities[np.arange(len(sequences)), np.asarray(lengths) - 1]
    elif probabilities.ndim != 2:
        raise ValueError(
            f"the model returns shape {probabilities.shape}; expected (batch, vocabulary) "
            "or (batch, length, vocabulary)"
        )
    return _excluded(probabilities, vocabulary)


def _model_input(sequences: np.ndarray, width: int) -> np.ndarray:
    """The first ``width`` columns of ``sequences`` (0-padded if it is narrower)."""
    if sequences.shape[1] >= width:
        return sequences[:, :width]
    return np.pad(sequences, ((0, 0), (0, width - sequences.shape[1])))


def _steps(model, max_length: int) -> tuple[int, int]:
    """``(input width L, number of words that can be generated)``.

    A caption holds at most ``max_length`` tokens (start and stop included) and
    the model can read at most ``L`` of them."""
    width = model_sequence_length(model, max_length)
    return width, max(0, min(max_length, width + 1) - 1)


def _excluded(probabilities: np.ndarray, vocabulary: Vocabulary) -> np.ndarray:
    """Log of ``probabilities`` (float64) with the padding and start tokens at ``-inf``."""
    log_probabilities = np.array(probabilities, dtype=np.float64)
    with np.errstate(divide="ignore"):
        np.log(log_probabilities, out=log_probabilities)
    log_probabilities[:, PAD_ID] = -np.inf
    log_probabilities[:, vocabulary.start_id] = -np.inf
    return log_probabilities


@contextlib.contextmanager
def _no_mask_warning():
    """The Embedding's padding mask means nothing for the one word of a step (never padding):
    silence Keras' warning that the LSTM cell drops it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not support masking.*")
        yield


class StepModel:
    """One step of the LSTM at a time: ``(features, previous word, state) -> (probabilities, new state)``.

    Built from the layers of a trained merge or inject model (``helpers.model``):
    the same ``image_dense``, ``word_embedding``, LSTM cell, ``decoder_dense`` and
    ``next_word`` layers, so the same weights — nothing is retrained or copied.
    (Dropout does nothing outside training, so it is left out.)

    * :meth:`initial_state` ``features (B, F) -> [h, c]``: zeros for merge, the
      image for inject (its LSTM starts from the image);
    * :meth:`step` ``features (B, F), previous word ids (B,), [h, c] ->
      (probabilities (B, V), [h, c])``: the next-word distribution after the
      previous word, and the state that has read it.

    Feeding ``startseq w1 ... wt`` one word at a time gives at the last step what
    the whole model gives at position ``t`` (:func:`step_model` checks it)."""

    def __init__(self, model):
        import keras
        import tensorflow as tf

        names = {layer.name for layer in model.layers}
        needed = {"image_dense", "word_embedding", "lstm", "decoder_dense", "next_word"}
        if not needed <= names:
            raise ValueError(
                f"{model.name}: not a merge or inject model of helpers.model (it lacks the layers "
                f"{', '.join(sorted(needed - names))})"
            )
        self.architecture = "merge" if "merge" in names else "inject"
        image_dense, embedding = model.get_layer("image_dense"), model.get_layer("word_embedding")
        cell, decoder_dense = model.get_layer("lstm").cell, model.get_layer("decoder_dense")
        next_word = model.get_layer("next_word")
        self.units = int(cell.units)
        feature_dim = int(model.inputs[0].shape[-1])

        features = keras.Input((feature_dim,), name="image_features")
        previous = keras.Input((), dtype="int32", name="previous_word")
        h, c = keras.Input((self.units,), name="lstm_h"), keras.Input((self.units,), name="lstm_c")
        image = image_dense(features)
        with _no_mask_warning():
            output, (new_h, new_c) = cell(embedding(previous), [h, c])
        hidden = decoder_dense(output + image if self.architecture == "merge" else output)
        self.model = keras.Model(
            [features, previous, h, c], [next_word(hidden), new_h, new_c], name=f"{model.name}_step"
        )
        start = image if self.architecture == "inject" else keras.ops.zeros_like(image)
        self.start_model = keras.Model(features, [start, start], name=f"{model.name}_start")
        signature = [
            tf.TensorSpec([None, feature_dim], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, self.units], tf.float32),
            tf.TensorSpec([None, self.units], tf.float32),
        ]
        # one traced graph for every batch size: eager Keras calls would cost more than the step itself

        def step(features, previous, h, c):
            with _no_mask_warning():
                return self.model([features, previous, h, c], training=False)

        self._step = tf.function(step, input_signature=signature)
        self._start = tf.function(lambda f: self.start_model(f, training=False), input_signature=signature[:1])

    def initial_state(self, features: np.ndarray) -> list[np.ndarray]:
        h, c = self._start(np.asarray(features, dtype=np.float32))
        return [np.array(h), np.array(c)]

    def step(self, features: np.ndarray, previous_words: np.ndarray, state: list[np.ndarray]):
        probabilities, h, c = self._step(
            np.asarray(features, dtype=np.float32),
            np.asarray(previous_words, dtype=np.int32),
            np.asarray(state[0], dtype=np.float32),
            np.asarray(state[1], dtype=np.float32),
        )
        return np.asarray(probabilities), [np.array(h), np.array(c)]


_STEP_MODELS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def step_model(model) -> StepModel | None:
    """The :class:`StepModel` of a course model (built once per model), or ``None`` for any other model.

    Before it is used, it is checked against the model itself on a short random
    caption: a model that has the course's layer names but is wired differently
    is decoded by re-reading the prefix instead, never with a wrong step."""
    import keras

    own_step = getattr(model, "cached_step", None)  # a wrapper that brings its own step (helpers.transformer)
    if own_step is None and not isinstance(model, keras.Model):
        return None
    if model in _STEP_MODELS:
        return _STEP_MODELS[model]
    try:
        stepper = own_step() if own_step is not None else StepModel(model)
    except (ValueError, TypeError, AttributeError, KeyError):
        stepper = None
    if stepper is not None and not _agrees(model, stepper):
        stepper = None
    _STEP_MODELS[model] = stepper
    return stepper


def _agrees(model, stepper: StepModel, length: int = 4) -> bool:
    rng = np.random.default_rng(0)
    vocab_size = int(model.outputs[0].shape[-1])
    features = rng.normal(size=(2, *(int(d) for d in model.inputs[0].shape[1:]))).astype(np.float32)
    words = rng.integers(1, vocab_size, size=(2, length)).astype(np.int32)
    try:
        full = np.asarray(model([features, words], training=False))
        state = stepper.initial_state(features)
        steps = []
        for position in range(length):
            probabilities, state = stepper.step(features, words[:, position], state)
            steps.append(probabilities)
    except Exception:  # noqa: BLE001  (any failure: this model is not one the step can stand for)
        return False
    return full.shape == (2, length, vocab_size) and np.allclose(full, np.stack(steps, axis=1), atol=1e-5)


class RereadingModel:
    """A model wrapped so that decoding re-reads the whole prefix at every step (no carried state):
    how captions were generated before :class:`StepModel`, kept for comparisons and benchmarks.

    The prefixes are padded to ``length`` words (default: the model's own input length,
    or ``max_length`` for a model that reads any length)."""

    def __init__(self, model, length: int | None = None):
        from types import SimpleNamespace

        self.model = model
        self.inputs = getattr(model, "inputs", None)
        if length is not None:
            feature_shape = tuple(self.inputs[0].shape) if self.inputs else (None, None)
            self.inputs = [SimpleNamespace(shape=feature_shape), SimpleNamespace(shape=(None, int(length)))]

    def __call__(self, inputs, training=False):
        return self.model(inputs, training=training)


class NextWords:
    """``log P(next word)`` for chosen rows of a batch being decoded, one position at a time.

    ``rows_features[r]`` are the image features of row ``r`` (an image, or one beam of
    an image). With a :class:`StepModel` each row carries its LSTM state; otherwise
    the model re-reads each row's prefix."""

    def __init__(self, model, rows_features: np.ndarray, vocabulary: Vocabulary, max_length: int):
        self.model, self.vocabulary = model, vocabulary
        self.features = np.asarray(rows_features, dtype=np.float32)
        self.width, self.steps = _steps(model, max_length)
        self.stepper = step_model(model)
        self.state = self.stepper.initial_state(self.features) if self.stepper is not None else None

    def log_probabilities(self, rows: np.ndarray, prefixes: np.ndarray) -> np.ndarray:
        """``(len(rows), V)`` for ``prefixes`` ``(len(rows), p)``, the words so far of those rows
        (``p`` the same for all: the rows are decoded in step)."""
        if self.stepper is None:
            return next_word_log_probabilities(
                self.model,
                self.features[rows],
                _model_input(prefixes, self.width),
                np.full(len(rows), prefixes.shape[1]),
                self.vocabulary,
            )
        probabilities, state = self.stepper.step(
            self.features[rows], prefixes[:, -1], [part[rows] for part in self.state]
        )
        for part, new in zip(self.state, state):
            part[rows] = new
        return _excluded(probabilities, self.vocabulary)

    def reorder(self, rows: np.ndarray):
        """Row ``k`` now continues former row ``rows[k]`` (beam search keeps the best beams)."""
        if self.state is not None:
            self.state = [part[rows] for part in self.state]
