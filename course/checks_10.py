"""The check of notebook 10's decoder-step exercise (machinery, not lesson).

The reference is the helper's own layer, ``helpers.attention.AttentionDecoder``, run on two words; the student's
step, run twice from a zero state, must give the same attention weights and the same LSTM state. Messages say
which part differs and hint where to look; they never print the expected values or the formula to type."""

from __future__ import annotations

import numpy as np


def _close(a, b) -> bool:
    return np.allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def check_decoder_step(decoder_step, decoder, words, grid) -> str:
    """``decoder_step(decoder, word_t, grid, h, c) -> (h, c, alpha)``; ``decoder`` is the trained model's
    ``AttentionDecoder`` layer, ``words`` ``(B, 2, E)`` two embedded words, ``grid`` ``(B, N, D)`` the grid in the
    decoder's units. Returns a one-line verdict."""
    import tensorflow as tf

    words = tf.convert_to_tensor(np.asarray(words, dtype=np.float32))
    grid = tf.convert_to_tensor(np.asarray(grid, dtype=np.float32))
    batch = words.shape[0]
    caption = tf.ones((batch, words.shape[1]), dtype="int32")  # no padding: every step counts
    hidden, _, weights = decoder([words, grid, caption], training=False)
    h = c = tf.zeros((batch, decoder.units))
    for t in range(words.shape[1]):
        try:
            result = decoder_step(decoder, words[:, t], grid, h, c)
        except Exception as error:  # noqa: BLE001 -- shown to the student as a hint
            raise AssertionError(
                f"your step raised {type(error).__name__}: {error} — word_t is (batch, embedding), grid "
                "(batch, positions, units), h and c (batch, units)"
            ) from None
        assert isinstance(result, (tuple, list)) and len(result) == 3, "return three things: (h, c, alpha)"
        h, c, alpha = result
        alpha = np.asarray(alpha)
        assert alpha.shape == tuple(weights[:, t].shape), (
            f"alpha has shape {alpha.shape}: one weight per grid position for each image of the batch"
        )
        assert np.allclose(alpha.sum(axis=-1), 1.0, atol=1e-4), (
            "your attention weights do not sum to 1 over the positions: over which axis did the softmax run?"
        )
        assert _close(alpha, weights[:, t]), (
            f"word {t + 1}: the attention weights differ from the layer's — the score uses the layer's three "
            "projections (decoder.attention) and the state h from before this word"
        )
        if not _close(h, hidden[:, t]):
            ungated = _ungated_step(decoder, words[:, t], grid, h_before=_state_before(decoder, words, grid, t))
            if ungated is not None and _close(h, ungated):
                raise AssertionError(
                    f"word {t + 1}: the attention is right but the LSTM got the context as it came out of attention; "
                    "section 3's pseudo-code changes it once more before the LSTM reads it"
                )
            raise AssertionError(
                f"word {t + 1}: the attention is right but the new state h differs — check what goes into "
                "decoder.cell (which parts, in which order) and which state it continues from"
            )
    return "your step gives the layer's attention weights and LSTM state, word after word"


def _state_before(decoder, words, grid, t):
    """The layer's (h, c) before word ``t``."""
    import tensorflow as tf

    batch = words.shape[0]
    if t == 0:
        zeros = tf.zeros((batch, decoder.units))
        return zeros, zeros
    projected = decoder.attention.grid_projection(grid)
    h = c = tf.zeros((batch, decoder.units))
    for s in range(t):
        context, _ = decoder.attention.attend(grid, projected, h)
        context = decoder.gate(h) * context
        _, (h, c) = decoder.cell(tf.concat([words[:, s], context], axis=-1), (h, c))
    return h, c


def _ungated_step(decoder, word_t, grid, h_before):
    """The step with the gate left out: the commonest slip, recognised to hint at it."""
    import tensorflow as tf

    h, c = h_before
    context, _ = decoder.attention.attend(grid, decoder.attention.grid_projection(grid), h)
    _, (new_h, _) = decoder.cell(tf.concat([word_t, context], axis=-1), (h, c))
    return new_h
