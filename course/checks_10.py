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


BOX_TESTS = [  # [x0, y0, x1, y1] in pixels of a 128 x 128 image: off the diagonal, cutting cells
    [10, 70, 50, 120],
    [64, 3, 128, 30],
    [33, 47, 61, 90],
]


def _reference_ratio(attention_map, box, image_size) -> float:
    from helpers.attention_maps import box_coverage

    attention_map = np.asarray(attention_map, dtype=np.float64)
    coverage = box_coverage(box, image_size, attention_map.shape)
    mass = (attention_map * coverage).sum() / attention_map.sum()
    return float(mass / (coverage.sum() / coverage.size))


def check_box_ratio(box_ratio, attention_maps, image_size=128) -> str:
    """``box_ratio(attention_map, box, image_size) -> float`` (section 7's measure: the attention inside ``box``,
    each grid cell weighted by the fraction of it the box covers, over the box's share of the image) against the
    helper's computation, on the given maps (``(H, W)`` each) and on a uniform map. Returns a one-line verdict."""
    from helpers.attention_maps import box_coverage

    maps = [np.asarray(m, dtype=np.float64) for m in attention_maps]
    maps.append(np.full(maps[0].shape, 1.0 / maps[0].size))
    for attention_map in maps:
        for box in BOX_TESTS:
            try:
                mine = box_ratio(attention_map.copy(), list(box), image_size)
            except Exception as error:  # noqa: BLE001 -- shown to the student as a hint
                raise AssertionError(
                    f"your box_ratio raised {type(error).__name__}: {error} — the map is (rows, columns), the box "
                    "[x0, y0, x1, y1] in pixels, image_size the image's side in pixels"
                ) from None
            assert np.ndim(mine) == 0, "box_ratio returns one number"
            right = _reference_ratio(attention_map, box, image_size)
            if np.isclose(float(mine), right, rtol=1e-4):
                continue
            coverage = box_coverage(box, image_size, attention_map.shape)
            share = coverage.sum() / coverage.size
            x0, y0, x1, y1 = box
            if np.isclose(float(mine), right * share, rtol=1e-4):
                raise AssertionError(
                    "that is the attention inside the box; divide it by the box's share of the image, so that looking "
                    "everywhere equally gives 1"
                )
            if np.isclose(float(mine), _reference_ratio(attention_map, [y0, x0, y1, x1], image_size), rtol=1e-4):
                raise AssertionError("rows and columns are swapped: rows go down the image (y), columns across it (x)")
            whole = (coverage > 0).astype(np.float64)
            whole_ratio = (attention_map * whole).sum() / attention_map.sum() / (whole.sum() / whole.size)
            if np.isclose(float(mine), whole_ratio, rtol=1e-4):
                raise AssertionError(
                    "you count every cell the box touches as a whole cell: weight each cell by the fraction of it the "
                    "box covers (in both directions)"
                )
            raise AssertionError(
                "your ratio differs from section 7's: the grid cuts the image into equal cells; weight each cell's "
                "attention by the fraction of it the box covers, then divide by the box's share of the image"
            )
    return f"your box ratio is section 7's measure on {len(maps)} maps x {len(BOX_TESTS)} boxes (a uniform map gives 1)"
