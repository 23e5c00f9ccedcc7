"""The check of notebook 11's decoder-block exercise (machinery, not lesson).

The reference is the trained model's own first ``DecoderBlock`` (``helpers.transformer``), run on the inputs it gets
inside the model (the embedded words of four captions and their grids). The student's forward pass must give the same
output; when it does not, the check tries the common slips (no causal mask, no residual connection) to hint at
which. Messages never print the expected values or the code to type."""

from __future__ import annotations

import numpy as np


def _close(a, b) -> bool:
    return np.allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


def block_inputs(model, grid: np.ndarray, vocabulary, captions: list[str]):
    """``(block, words (B, L, D), grid (B, N, D))``: the first block of ``model`` and what it reads for these
    captions (start token + words) and grids."""
    import keras

    block = model.get_layer("block_1")
    rows = [[vocabulary.start_id, *vocabulary.encode(c)] for c in captions]
    length = max(len(r) for r in rows)
    ids = np.zeros((len(rows), length), np.int32)
    for row, words in zip(ids, rows):
        row[: len(words)] = words
    inputs_of_block = keras.Model(model.inputs, block.input)
    words, grid_in = inputs_of_block([np.asarray(grid, np.float32), ids], training=False)
    return block, words, grid_in


def check_block_forward(block_forward, model, grid, vocabulary, captions) -> str:
    """``block_forward(block, words, grid) -> (B, L, D)``. Returns a one-line verdict or raises AssertionError."""
    block, words, grid_in = block_inputs(model, grid, vocabulary, captions)
    expected, _ = block([words, grid_in], training=False)
    try:
        given = block_forward(block, words, grid_in)
    except Exception as error:  # noqa: BLE001 -- shown to the student as a hint
        raise AssertionError(
            f"your block_forward raised {type(error).__name__}: {error} — words is (batch, length, width), grid "
            "(batch, positions, width); the attention layers are called as layer(query, value)"
        ) from None
    assert isinstance(given, (np.ndarray, list)) or hasattr(given, "shape"), "return the block's output: one array"
    given = np.asarray(given)
    assert given.shape == tuple(expected.shape), (
        f"your output has shape {given.shape}: the block keeps the shape of its words input"
    )
    if _close(given, expected):
        return "your forward pass gives the block's output: self-attention, cross-attention, feed-forward"
    unmasked = _variant(block, words, grid_in, causal=False)
    if _close(given, unmasked):
        raise AssertionError(
            "every word may look at the words after it: the self-attention needs the causal mask of section 2"
        )
    first = np.asarray(expected)[:, :1]
    if _close(given[:, :1], first):
        raise AssertionError(
            "the first position is right but later ones differ: check what the self-attention may look at"
        )
    for missing in range(3):
        if _close(given, _variant(block, words, grid_in, residual_off=missing)):
            step = ("self-attention", "cross-attention", "feed-forward")[missing]
            raise AssertionError(
                f"the {step} step lost its residual connection: each step adds its result to its input before "
                "the layer normalisation"
            )
    raise AssertionError(
        "the output differs from the block's: three steps in order (self-attention of the words, cross-attention "
        "from the words to the grid, the feed-forward pair), each followed by its own norm (block.norms in order)"
    )


def _variant(block, words, grid, *, causal: bool = True, residual_off: int | None = None):
    """The block with one slip: no causal mask, or one residual connection left out."""
    keep = [i != residual_off for i in range(3)]
    attended = block.self_attention(words, words, use_causal_mask=causal)
    x = block.norms[0]((words if keep[0] else 0) + attended)
    x = block.norms[1]((x if keep[1] else 0) + block.cross_attention(x, grid))
    return np.asarray(block.norms[2]((x if keep[2] else 0) + block.feed_forward_out(block.feed_forward_in(x))))


def check_causal_mask(answer, length: int = 7) -> str:
    """Exercise 2: ``answer`` is the causal mask of ``length`` word positions (True where row ``i`` may look at column
    ``j``). The reference is :func:`helpers.transformer.causal_mask`; the hints point at the slip, never at the rule."""
    from helpers.transformer import causal_mask

    mask = np.asarray(answer)
    reference = causal_mask(length)
    assert mask.shape == (length, length), (
        f"shape {mask.shape}: one row per looking position, one column per position looked at"
    )
    assert mask.dtype == bool, "booleans: True where a position may look"
    assert not np.array_equal(mask.T, reference) or np.array_equal(mask, reference), (
        "rows and columns swapped: a row is the position that looks, a column the position looked at"
    )
    assert mask.diagonal().all(), "a position may look at itself (its own word is not the one it predicts)"
    assert np.array_equal(mask, reference), (
        "not the causal mask yet: ask, for each row, which words that position has already read when it predicts"
    )
    return "the causal mask: each word sees itself and the words before it"
