"""Visual attention: a decoder that looks at a different part of the image for every word.

Taught in notebooks/10_visual_attention.ipynb.

Average pooling (notebook 03) turns the CNN's last feature map — a grid of
``H x W`` positions (7 x 7 for MobileNetV2 at 224 px, 8 x 8 for InceptionV3 at
299 px), each a ``C``-dimensional vector describing its patch of the image —
into one vector, and with it throws away *where* things are. Notebook 10 keeps
the grid (:mod:`helpers.spatial_features`; cached by :mod:`course.spatial_cache` in
``spatial_features.npz``, float16 when the values survive it) and this module decodes it with soft additive
attention, as in
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
land anywhere (measured on the sample, docs/benchmarks.md: it looked *away* from
the shapes, at equal scores). Started from zeros, the image
reaches the decoder only through attention, and the maps land on the shapes
(several times their share; docs/benchmarks.md). ``image_state=True`` gives the paper's variant.

Custom layers (:class:`BahdanauAttention`, :class:`AttentionDecoder`) are
registered with Keras, so a saved model reloads in safe mode (no Lambda layers).

Where the model looks, and the check of the maps against the sample's boxes: :mod:`helpers.attention_maps`;
notebook 10's merge / inject / attention table: :mod:`helpers.attention_comparison`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from helpers import decoding
from helpers.model import check_embedding_matrix, compile_model  # helpers.model also registers ImageAtEveryPosition
from helpers.vocabulary import PAD_ID, UNKNOWN_ID, Vocabulary

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
    embedding_dim = check_embedding_matrix(vocab_size, embedding_dim, embedding_matrix)
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
    return decoding.greedy_captions(_decoding_model(model), grid, vocabulary, max_length, batch_size=64)


def beam_search_captions(
    model, grid: np.ndarray, vocabulary: Vocabulary, max_length: int, width: int = 3, alpha: float | None = None
) -> list[str]:
    alpha = decoding.DEFAULT_ALPHA if alpha is None else alpha
    return decoding.beam_search_captions(
        _decoding_model(model), grid, vocabulary, max_length, width, alpha=alpha, batch_size=32
    )


def _decoding_model(model):
    return model if isinstance(model, DecodingModel) else DecodingModel(model)
