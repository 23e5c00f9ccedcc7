"""helpers.transformer (notebook 11): attention written out equals Keras', the causal mask blocks the future, the
model saves and reloads in safe mode, decodes through helpers.decoding; course.checks_11's hints; and, on the course
run, that the trained Transformer beats the constant caption, looks at the shapes and sits in the comparison JSON."""

import json

import keras
import numpy as np
import pytest

from course import checks_11, files
from helpers import attention, attention_maps, transformer
from helpers.text import PAD_TOKEN, START_TOKEN, STOP_TOKEN, UNKNOWN_TOKEN
from helpers.vocabulary import Vocabulary


def test_the_causal_mask_is_the_lower_triangle():
    mask = transformer.causal_mask(4)
    assert mask.dtype == bool and mask.tolist() == [[j <= i for j in range(4)] for i in range(4)]


@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_written_out_equals_keras(causal):
    keras.utils.set_random_seed(0)
    layer = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 5, 32)).astype(np.float32)
    value = query if causal else rng.normal(size=(2, 9, 32)).astype(np.float32)
    expected, expected_weights = layer(query, value, use_causal_mask=causal, return_attention_scores=True)
    mine, weights = transformer.multi_head_attention_by_hand(
        layer, query, value, transformer.causal_mask(5) if causal else None
    )
    assert np.allclose(mine, expected, atol=1e-4) and np.allclose(weights, expected_weights, atol=1e-5)
    assert np.allclose(weights.sum(axis=-1), 1.0)


def small_model(grid_positions=True):
    keras.utils.set_random_seed(1)
    return transformer.build_transformer_model(
        20, 9, 16, max_length=8, units=32, heads=4, ff_units=64, grid_positions=grid_positions
    )


def test_changing_a_later_word_leaves_the_earlier_outputs_unchanged():
    model = small_model()
    rng = np.random.default_rng(1)
    grid = rng.normal(size=(3, 9, 16)).astype(np.float32)
    words = rng.integers(1, 20, size=(3, 7)).astype(np.int32)
    changed = words.copy()
    changed[:, 4:] = (changed[:, 4:] + 3) % 19 + 1
    before, after = (np.asarray(model([grid, w], training=False)) for w in (words, changed))
    assert np.allclose(before[:, :4], after[:, :4], atol=1e-6)
    assert not np.allclose(before[:, 4:], after[:, 4:], atol=1e-4)


def test_without_grid_positions_the_grid_is_a_set_and_with_them_it_is_not():
    rng = np.random.default_rng(2)
    grid = rng.normal(size=(2, 9, 16)).astype(np.float32)
    words = np.ones((2, 3), np.int32)
    order = rng.permutation(9)
    for with_positions in (False, True):
        model = small_model(with_positions)
        if with_positions:
            model.get_layer("grid_positions").table.assign(rng.normal(size=(9, 32)))
        same = np.allclose(model([grid, words]), model([grid[:, order], words]), atol=1e-5)
        assert same != with_positions


def test_the_model_reloads_in_safe_mode_and_decodes_without_unk_or_a_word_twice(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    rng = np.random.default_rng(3)
    grid = rng.normal(size=(4, 9, 16)).astype(np.float32)
    words = rng.integers(1, 20, size=(4, 5)).astype(np.int32)
    assert np.allclose(model([grid, words]), again([grid, words]), atol=1e-6)
    vocabulary = Vocabulary([PAD_TOKEN, UNKNOWN_TOKEN, START_TOKEN, STOP_TOKEN, *[f"w{i}" for i in range(16)]])
    for caption in [
        *attention.greedy_captions(again, grid, vocabulary, 8),
        *attention.beam_search_captions(again, grid, vocabulary, 8, width=3),
    ]:
        ws = caption.split()
        assert UNKNOWN_TOKEN not in ws and all(a != b for a, b in zip(ws, ws[1:]))
    maps = transformer.cross_attention_maps(again, head=1)
    _, weights = maps([grid, words])
    assert weights.shape == (4, 5, 9) and np.allclose(weights.sum(-1), 1, atol=1e-5)


def test_the_block_check_accepts_the_forward_pass_and_hints_at_a_missing_mask():
    model = small_model()
    vocabulary = Vocabulary([PAD_TOKEN, UNKNOWN_TOKEN, START_TOKEN, STOP_TOKEN, *[f"w{i}" for i in range(16)]])
    grid = np.random.default_rng(4).normal(size=(2, 9, 16)).astype(np.float32)
    captions = ["w1 w2 w3", "w4 w5"]

    def right(block, words, grid, causal=True):
        x = block.norms[0](words + block.self_attention(words, words, use_causal_mask=causal))
        x = block.norms[1](x + block.cross_attention(x, grid))
        return block.norms[2](x + block.feed_forward_out(block.feed_forward_in(x)))

    assert "block's output" in checks_11.check_block_forward(right, model, grid, vocabulary, captions)
    with pytest.raises(AssertionError, match="causal mask"):
        checks_11.check_block_forward(lambda b, w, g: right(b, w, g, causal=False), model, grid, vocabulary, captions)
    with pytest.raises(AssertionError, match="shape"):
        checks_11.check_block_forward(lambda b, w, g: np.zeros((1, 1)), model, grid, vocabulary, captions)


# ------------------------------------------------------------------------------------------ the course run


@pytest.mark.course
def test_on_the_sample_the_transformer_is_trained_compared_and_looks_at_the_shapes(course_run):
    run_dir, _ = course_run
    folder = run_dir / files.TRANSFORMER_DIR
    comparison = json.loads((folder / files.MODEL_COMPARISON_FILE).read_text())
    assert {"transformer", "attention"} <= set(comparison["rows"]) and len(comparison["rows"]) >= 3
    row = comparison["rows"]["transformer"]
    assert row["parameters"] > 0 and row["seconds_per_epoch"] > 0
    assert set(row["scores"]) == {"greedy", "beam"} and "cider" in row["scores"]["greedy"]
    assert (folder / files.CROSS_ATTENTION_FILE).stat().st_size > 0
    scores = json.loads((run_dir / files.SCORES_FILE).read_text())
    if not scores["pretrained_features"]:
        pytest.skip("the MobileNetV2 ImageNet weights are not available (../shared absent): features were untrained")
    constant = scores["best_constant_caption"]["scores"]
    assert row["scores"]["greedy"]["bleu4"] > constant["bleu4"] and row["scores"]["greedy"]["cider"] > constant["cider"]
    assert comparison["box_words"] >= 30 and comparison["box_ratio"] >= 1.5, comparison["box_ratio"]
    history = json.loads((folder / files.HISTORY_FILE).read_text())
    assert min(history["val_loss"]) < history["val_loss"][0]
    assert attention_maps.BOXES_FILE  # the same check as notebook 10's (helpers.attention_maps)


def test_the_cached_step_gives_the_captions_of_rereading_the_prefix():
    from helpers import next_word

    keras.utils.set_random_seed(5)
    model = transformer.build_transformer_model(20, 9, 16, max_length=8, units=32, blocks=2, heads=4, ff_units=64)
    assert isinstance(next_word.step_model(transformer.CachedDecodingModel(model)), transformer.CachedStep)
    vocabulary = Vocabulary([PAD_TOKEN, UNKNOWN_TOKEN, START_TOKEN, STOP_TOKEN, *[f"w{i}" for i in range(16)]])
    grid = np.random.default_rng(5).normal(size=(5, 9, 16)).astype(np.float32)
    for decode in (transformer.greedy_captions, transformer.beam_search_captions):
        assert decode(model, grid, vocabulary, 8, cached=True) == decode(model, grid, vocabulary, 8, cached=False)
