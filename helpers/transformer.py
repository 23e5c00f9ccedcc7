"""A Transformer decoder over the image grid: masked self-attention over the words, cross-attention over the grid.

Taught in notebooks/11_transformer_decoder.ipynb.

Notebook 10's decoder is an LSTM that reads one word after the other and attends to the grid with one additive
score per position. The Transformer decoder (Vaswani et al., 2017; the decoder of the TensorFlow image-captioning
tutorial and of the Keras example) drops the recurrence: every word position looks at the others through
**scaled dot-product attention**::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V

computed by several heads at once (``keras.layers.MultiHeadAttention``: each head projects queries, keys and values
to ``d_k = units / heads`` numbers, the heads' outputs are concatenated and projected back). One decoder block::

    x = LayerNorm(x + SelfAttention(x, causal mask))       a word sees itself and the words before it only
    x = LayerNorm(x + CrossAttention(x, grid))             each word position looks at the image grid
    x = LayerNorm(x + Dense(Dense(x, relu)))               the same small network at every position

Attention treats its keys as a set: without help it cannot tell word 2 from word 5, nor the grid's top-left cell
from its bottom-right one. Each word gets a learned **position embedding** added (:class:`WordAndPosition`), and
each grid position one of its own (:class:`GridPositions`; ``grid_positions=False`` leaves it out, as notebook
10's decoder has none: then shuffling the grid leaves the captions unchanged, notebook 10's exercise 3).

:func:`build_transformer_model` has the inputs and output of notebook 10's model, ``[image grid (B, N, C), caption
so far (B, L)] -> (B, L, vocabulary)``, so it trains with :func:`helpers.training.train` (teacher forcing, padding
ignored, early stopping) and decodes with :mod:`helpers.decoding` through :class:`helpers.attention.DecodingModel`
(greedy and beam search, never ``<unk>``, never a word twice in a row). The causal mask makes position ``t``
depend on words ``0..t`` only, so teacher forcing trains every position at once and decoding reads the last
position of the prefix; :func:`greedy_captions` and :func:`beam_search_captions` do it with a cache
(:class:`CachedStep`: each block keeps the inputs it has seen, the new word alone goes through the blocks), which
:mod:`helpers.next_word` uses after checking it against the model. The layers are registered with Keras (safe-mode reload, no Lambda layers).
:func:`cross_attention_maps` gives, per word, where the decoder looked: the last block's cross-attention, heads
averaged or one head (drawn and checked on the sample's boxes with :mod:`helpers.attention_maps`).
"""

from __future__ import annotations

import warnings
import weakref

import keras
import numpy as np
from keras import layers

from helpers import decoding
from helpers.attention import DecodingModel
from helpers.model import compile_model
from helpers.vocabulary import UNKNOWN_ID

# --------------------------------------------------------------------------------------------------------------
# Attention, written out (what keras.layers.MultiHeadAttention computes).


def causal_mask(length: int) -> np.ndarray:
    """``(length, length)`` booleans: ``mask[i, j]`` is True where position ``i`` may look at position ``j``
    (``j <= i``: itself and the words before it)."""
    return np.tril(np.ones((length, length), dtype=bool))


def scaled_dot_product_attention(query, key, value, mask=None):
    """``softmax(Q K^T / sqrt(d_k))`` over the keys, then the weighted sum of the values.

    ``query (..., Lq, d)``, ``key (..., Lk, d)``, ``value (..., Lk, dv)``; ``mask (Lq, Lk)`` booleans (False:
    may not look). Returns ``(output (..., Lq, dv), weights (..., Lq, Lk))``, numpy."""
    query, key, value = (np.asarray(x, dtype=np.float64) for x in (query, key, value))
    scores = query @ np.swapaxes(key, -1, -2) / np.sqrt(query.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ value, weights


def multi_head_attention_by_hand(layer, query, value, mask=None):
    """``keras.layers.MultiHeadAttention`` ``layer`` (built, keys = values) recomputed with numpy from its own
    weights: each head's projections, :func:`scaled_dot_product_attention`, the output projection.
    Returns ``(output (B, Lq, D), weights (B, heads, Lq, Lk))``."""

    def project(dense, x):  # EinsumDense kernel (D, heads, d_k) [+ bias (heads, d_k)] -> (B, heads, L, d_k)
        out = np.einsum("bld,dhk->bhlk", np.asarray(x, np.float64), np.asarray(dense.kernel, np.float64))
        if dense.bias is not None:
            out = out + np.asarray(dense.bias, np.float64)[None, :, None, :]
        return out

    q, k, v = project(layer.query_dense, query), project(layer.key_dense, value), project(layer.value_dense, value)
    heads, weights = scaled_dot_product_attention(q, k, v, mask)
    output_dense = layer.output_dense
    output = np.einsum("bhlk,hkd->bld", heads, np.asarray(output_dense.kernel, np.float64))
    if output_dense.bias is not None:
        output = output + np.asarray(output_dense.bias, np.float64)
    return output, weights


# --------------------------------------------------------------------------------------------------------------
# The layers.


@keras.saving.register_keras_serializable(package="captioning")
class WordAndPosition(layers.Layer):
    """Caption ids ``(B, L)`` -> word embedding + learned position embedding ``(B, L, units)`` (no Keras mask:
    the causal mask keeps every word away from the padding after it, and the loss ignores padding)."""

    def __init__(self, vocab_size: int, units: int, max_positions: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.units, self.max_positions = vocab_size, units, max_positions
        self.words = layers.Embedding(vocab_size, units, name="words")
        self.positions = layers.Embedding(max_positions, units, name="positions")

    def build(self, input_shape):
        self.words.build(input_shape)
        self.positions.build((None,))

    def call(self, caption):
        length = keras.ops.shape(caption)[1]
        words = self.words(caption) * np.sqrt(self.units).astype("float32")
        return words + self.positions(keras.ops.arange(length))[None]

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "units": self.units,
            "max_positions": self.max_positions,
        }


@keras.saving.register_keras_serializable(package="captioning")
class GridPositions(layers.Layer):
    """Adds a learned vector to each of the grid's ``N`` positions: ``(B, N, D) -> (B, N, D)``. Without it
    the decoder sees the grid as an unordered set."""

    def build(self, input_shape):
        self.table = self.add_weight(
            name="table", shape=tuple(input_shape[1:]), initializer=keras.initializers.RandomNormal(stddev=0.02)
        )

    def call(self, grid):
        return grid + self.table[None]


@keras.saving.register_keras_serializable(package="captioning")
class DecoderBlock(layers.Layer):
    """``[words (B, L, D), grid (B, N, D)] -> (words (B, L, D), cross-attention (B, heads, L, N))``: causal
    self-attention, cross-attention over the grid, a position-wise feed-forward network; each with a residual
    connection and layer normalisation (after, as in Vaswani et al. and the TensorFlow tutorial)."""

    def __init__(self, units: int, heads: int, ff_units: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.units, self.heads, self.ff_units, self.dropout = units, heads, ff_units, float(dropout)
        key_dim = units // heads
        self.self_attention = layers.MultiHeadAttention(heads, key_dim, dropout=dropout, name="self_attention")
        self.cross_attention = layers.MultiHeadAttention(heads, key_dim, dropout=dropout, name="cross_attention")
        self.feed_forward_in = layers.Dense(ff_units, activation="relu", name="feed_forward_in")
        self.feed_forward_out = layers.Dense(units, name="feed_forward_out")
        self.norms = [layers.LayerNormalization(name=f"norm_{i}") for i in range(3)]
        self.drop = layers.Dropout(dropout, name="dropout")

    def build(self, input_shape):
        words_shape, grid_shape = input_shape
        self.self_attention.build(words_shape, words_shape)
        self.cross_attention.build(words_shape, grid_shape)
        self.feed_forward_in.build(words_shape)
        self.feed_forward_out.build((*words_shape[:-1], self.ff_units))
        for norm in self.norms:
            norm.build(words_shape)

    def call(self, inputs, training=False):
        words, grid = inputs
        with warnings.catch_warnings():  # a one-word prefix (the first decoding step): a softmax over one key, fine
            warnings.filterwarnings("ignore", message="You are using a softmax over axis")
            attended = self.self_attention(words, words, use_causal_mask=True, training=training)
        x = self.norms[0](words + self.drop(attended, training=training))
        looked, weights = self.cross_attention(x, grid, return_attention_scores=True, training=training)
        x = self.norms[1](x + self.drop(looked, training=training))
        changed = self.feed_forward_out(self.feed_forward_in(x))
        return self.norms[2](x + self.drop(changed, training=training)), weights

    def compute_output_shape(self, input_shape):
        words_shape, grid_shape = input_shape
        return tuple(words_shape), (words_shape[0], self.heads, words_shape[1], grid_shape[1])

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "heads": self.heads,
            "ff_units": self.ff_units,
            "dropout": self.dropout,
        }


# --------------------------------------------------------------------------------------------------------------
# The model.


def build_transformer_model(
    vocab_size: int,
    positions: int,
    channels: int,
    *,
    max_length: int,
    units: int = 128,
    blocks: int = 1,
    heads: int = 2,
    ff_units: int = 256,
    dropout: float = 0.1,
    grid_dropout: float = 0.5,
    grid_positions: bool = True,
    learning_rate: float = 1e-3,
):
    """Build and compile the Transformer captioner: ``image_grid (B, positions, channels)`` and
    ``caption_so_far (B, L)`` (``L`` up to ``max_length``) -> ``(B, L, vocab_size)``, like notebook 10's
    model. The grid goes through Dropout and ``Dense(units, relu)`` (as in 10), then :class:`GridPositions`
    (unless ``grid_positions=False``); the words through :class:`WordAndPosition`; then ``blocks``
    :class:`DecoderBlock` layers (named ``block_1``, ...) and the softmax ``next_word``. Compiled with
    :func:`helpers.model.compile_model` (padding ignored, Adam)."""
    if units % heads:
        raise ValueError(f"units ({units}) must be a multiple of heads ({heads})")
    image_grid = keras.Input(shape=(positions, channels), name="image_grid")
    grid = layers.Dropout(grid_dropout, name="grid_dropout")(image_grid)
    grid = layers.Dense(units, activation="relu", name="grid_dense")(grid)
    if grid_positions:
        grid = GridPositions(name="grid_positions")(grid)
    caption = keras.Input(shape=(None,), dtype="int32", name="caption_so_far")
    x = WordAndPosition(vocab_size, units, max_length, name="word_and_position")(caption)
    x = layers.Dropout(dropout, name="word_dropout")(x)
    for b in range(blocks):
        x, _ = DecoderBlock(units, heads, ff_units, dropout, name=f"block_{b + 1}")([x, grid])
    next_word = layers.Dense(vocab_size, activation="softmax", name="next_word")(x)
    return compile_model(keras.Model([image_grid, caption], next_word, name="transformer_captioner"), learning_rate)


def block_names(model) -> list[str]:
    return [layer.name for layer in model.layers if isinstance(layer, DecoderBlock)]


class CrossAttentionMaps:
    """``[grid, caption ids] -> (probabilities, maps (B, L, N))``, what :func:`helpers.attention_maps.caption_attention`
    reads: a block's cross-attention (the last one by default), its heads averaged, or one ``head``."""

    def __init__(self, model, head: int | None = None, block: str | None = None):
        block = block or block_names(model)[-1]
        weights = model.get_layer(block).output[1]  # (B, heads, L, N)
        self.model = keras.Model(model.inputs, [model.output, weights], name=f"{model.name}_cross_attention")
        self.head = head

    def __call__(self, inputs, training=False):
        probabilities, weights = self.model(inputs, training=False)
        weights = np.asarray(weights)
        return probabilities, weights.mean(axis=1) if self.head is None else weights[:, self.head]


def cross_attention_maps(model, head: int | None = None, block: str | None = None) -> CrossAttentionMaps:
    return CrossAttentionMaps(model, head, block)


# --------------------------------------------------------------------------------------------------------------
# Decoding with a cache: each new word goes through the blocks alone.


class CachedStep:
    """One position at a time, what :mod:`helpers.next_word` calls a step model: ``initial_state(grid)`` and
    ``step(grid, previous word ids, state) -> (probabilities, state)``.

    Re-reading the prefix sends every earlier word through every block again at each step. Here each block keeps
    the inputs it has seen (the state: the grid in the decoder's width, then one ``(rows, max_length, units)`` cache
    per block); the new word attends over them (no mask needed: they all come before it) and only its own position
    goes through the cross-attention and the feed-forward network. The same layers and weights as the model, so
    the same probabilities (:func:`helpers.next_word.step_model` checks it before using the step)."""

    def __init__(self, model):
        import tensorflow as tf

        self.blocks = [model.get_layer(name) for name in block_names(model)]
        if not self.blocks:
            raise ValueError(f"{model.name}: no DecoderBlock layer")
        words = model.get_layer("word_and_position")
        self.words, self.next_word = words, model.get_layer("next_word")
        self.length, self.units = int(words.max_positions), int(words.units)
        self.encode = keras.Model(model.inputs[0], self.blocks[0].input[1], name=f"{model.name}_grid")
        cache = tf.TensorSpec([None, None, self.units], tf.float32)
        signature = [cache, tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32), [cache] * len(self.blocks)]
        self._step = tf.function(self._one_position, input_signature=signature)
        grid_spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
        self._encode = tf.function(lambda grid: self.encode(grid, training=False), input_signature=[grid_spec])

    def _one_position(self, grid, previous, position, caches):
        import tensorflow as tf

        x = self.words.words(previous)[:, None] * np.sqrt(self.units).astype("float32")
        x = x + self.words.positions(position[None])[None]  # (rows, 1, units)
        seen = []
        for block, cache in zip(self.blocks, caches):
            seen.append(x[:, 0])
            keys = tf.concat([cache, x], axis=1)  # this block's inputs so far, the new word last
            x = block.norms[0](x + block.self_attention(x, keys))
            x = block.norms[1](x + block.cross_attention(x, grid))
            x = block.norms[2](x + block.feed_forward_out(block.feed_forward_in(x)))
        return self.next_word(x[:, 0]), seen

    def initial_state(self, grid: np.ndarray) -> list[np.ndarray]:
        encoded = np.array(self._encode(np.asarray(grid, np.float32)))
        rows = len(encoded)
        caches = [np.zeros((rows, self.length, self.units), np.float32) for _ in self.blocks]
        return [encoded, np.zeros(rows, np.int32), *caches]

    def step(self, grid: np.ndarray, previous_words: np.ndarray, state: list[np.ndarray]):
        encoded, position, *caches = state
        t = int(position[0])  # the rows are decoded in step: one position for all
        probabilities, seen = self._step(
            encoded, np.asarray(previous_words, np.int32), np.int32(t), [c[:, :t] for c in caches]
        )
        caches = [c.copy() for c in caches]
        for cache, new in zip(caches, seen):
            cache[:, t] = np.asarray(new)
        probabilities = np.array(probabilities)
        probabilities[:, UNKNOWN_ID] = 0.0  # as DecodingModel gives them
        return probabilities, [encoded, position + 1, *caches]


class CachedDecodingModel(DecodingModel):
    """:class:`helpers.attention.DecodingModel` that offers :mod:`helpers.next_word` a :class:`CachedStep`."""

    def __init__(self, model):
        super().__init__(model)
        self.outputs = model.outputs

    def cached_step(self):
        if self.model not in _CACHED_STEPS:  # one per model: its graphs are traced once
            _CACHED_STEPS[self.model] = CachedStep(self.model)
        return _CACHED_STEPS[self.model]


_CACHED_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def greedy_captions(model, grid: np.ndarray, vocabulary, max_length: int, *, cached: bool = True) -> list[str]:
    """:func:`helpers.decoding.greedy_captions` of the Transformer, with the cache (``cached=False``: re-reading)."""
    wrapped = CachedDecodingModel(model) if cached else DecodingModel(model)
    return decoding.greedy_captions(wrapped, grid, vocabulary, max_length, batch_size=64)


def beam_search_captions(
    model, grid: np.ndarray, vocabulary, max_length: int, width: int = 3, alpha: float | None = None, *, cached=True
) -> list[str]:
    """:func:`helpers.decoding.beam_search_captions` of the Transformer (the cache follows each beam)."""
    wrapped = CachedDecodingModel(model) if cached else DecodingModel(model)
    alpha = decoding.DEFAULT_ALPHA if alpha is None else alpha
    return decoding.beam_search_captions(wrapped, grid, vocabulary, max_length, width, alpha=alpha, batch_size=32)
