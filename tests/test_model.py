import numpy as np
import pytest

from helpers import model as model_module
from helpers.model import build_inject_model, build_merge_model, build_model

CAPTIONS = np.array([[2, 5, 6, 3, 0, 0, 0], [2, 7, 3, 0, 0, 0, 0], [2, 5, 6, 8, 9, 4, 3]], dtype="int32")


@pytest.mark.parametrize("builder", [build_merge_model, build_inject_model], ids=["merge", "inject"])
def test_one_next_word_distribution_per_position(builder):
    matrix = np.random.default_rng(0).normal(size=(30, 8)).astype("float32")
    matrix[0] = 0
    model = builder(30, 7, 12, units=16, embedding_matrix=matrix)
    assert np.allclose(model.get_layer("word_embedding").get_weights()[0], matrix)
    assert model_module.input_length(model) is None, "the model reads captions of any length"
    features = np.random.default_rng(1).normal(size=(3, 12)).astype("float32")
    probabilities = np.asarray(model([features, CAPTIONS]))
    assert probabilities.shape == (3, 7, 30)
    assert np.allclose(probabilities.sum(axis=-1), 1, atol=1e-5)
    assert model.loss.__class__.__name__ == "SparseCategoricalCrossentropy"
    assert model.optimizer.__class__.__name__ == "Adam"


@pytest.mark.parametrize("architecture", ["merge", "inject"])
def test_causal_position_t_ignores_what_comes_after_it(architecture):
    model = build_model(architecture, 30, 7, 12, units=16, embedding_dim=8)
    features = np.random.default_rng(1).normal(size=(3, 12)).astype("float32")
    changed = CAPTIONS.copy()
    changed[:, 3:] = [11, 12, 13, 14]
    before, after = np.asarray(model([features, CAPTIONS])), np.asarray(model([features, changed]))
    assert np.allclose(before[:, :3], after[:, :3], atol=1e-6), "a later word changed an earlier prediction"
    assert not np.allclose(before[:, 3], after[:, 3]), "position 3 must read the word at position 3"
    # and the image matters at every position
    other_image = np.asarray(model([features[::-1].copy(), CAPTIONS]))
    assert not np.allclose(before[0, 0], other_image[0, 0])


def test_the_loss_is_cross_entropy_averaged_over_real_words_only():
    model = build_merge_model(30, 7, 12, units=16, embedding_dim=8)
    features = np.ones((3, 12), "float32")
    targets = np.zeros_like(CAPTIONS)
    targets[:, :-1] = CAPTIONS[:, 1:]
    probabilities = np.asarray(model([features, CAPTIONS]))
    real = targets != 0
    expected = -np.log(np.take_along_axis(probabilities, targets[..., None], axis=-1)[..., 0])[real].mean()
    assert np.isclose(model.evaluate([features, CAPTIONS], targets, verbose=0), expected, rtol=1e-4)


def test_frozen_embeddings_and_parameter_counts():
    frozen = build_merge_model(10, 5, 4, units=8, embedding_dim=6, train_embeddings=False)
    assert not frozen.get_layer("word_embedding").trainable
    trainable = sum(int(np.prod(w.shape)) for w in frozen.trainable_weights)
    assert frozen.count_params() - trainable == 10 * 6


def test_wrong_embedding_matrix_and_unknown_architecture_are_clear_errors():
    with pytest.raises(ValueError, match="embedding matrix has shape"):
        build_merge_model(30, 7, 12, embedding_matrix=np.zeros((29, 8), "float32"))
    with pytest.raises(ValueError, match="merge, inject"):
        build_model("transformer", 30, 7, 12)


def test_saved_model_reloads_in_safe_mode_with_the_same_outputs(tmp_path):
    import keras

    for architecture in ("merge", "inject"):
        model = build_model(architecture, 30, 7, 12, units=16, embedding_dim=8)
        model.save(tmp_path / f"{architecture}.keras")
        reloaded = keras.saving.load_model(tmp_path / f"{architecture}.keras", safe_mode=True)
        features = np.ones((3, 12), "float32")
        assert np.allclose(
            np.asarray(model([features, CAPTIONS])), np.asarray(reloaded([features, CAPTIONS])), atol=1e-6
        )


def test_without_graphviz_the_diagram_is_text_naming_every_layer_and_its_inputs(tmp_path):
    import shutil

    if shutil.which("dot"):
        pytest.skip("graphviz is installed here: the text fallback is not the path taken")
    model = build_merge_model(30, 7, 12, units=16, embedding_dim=8)
    text = model_module.draw_model(model, tmp_path / "model.png")
    assert not (tmp_path / "model.png").exists()
    for layer in model.layers:
        assert layer.name in text
    assert "image_at_every_position + lstm -> merge (Add)" in text
    assert "image_dense + caption_so_far -> image_at_every_position (ImageAtEveryPosition)" in text
    assert "word_dropout -> lstm (LSTM) (None, None, 16)" in text


def _merge_by_hand(vocab_size, length, feature_dim, embedding_dim=8, units=16, dropout=0.5):
    """The merge model written with the functional API in another order and with Keras' own layer names."""
    import keras
    from keras import layers

    from helpers.model import ImageAtEveryPosition

    caption = keras.Input(shape=(None,), dtype="int32")
    words = layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(caption)
    words = layers.LSTM(units, return_sequences=True)(layers.Dropout(dropout)(words))
    image_features = keras.Input(shape=(feature_dim,))
    image = layers.Dense(units, activation="relu")(layers.Dropout(dropout)(image_features))
    merged = layers.Add()([ImageAtEveryPosition()([image, caption]), words])
    next_word = layers.Dense(vocab_size, activation="softmax")(layers.Dense(units, activation="relu")(merged))
    return keras.Model([image_features, caption], next_word)


def test_architecture_differences_ignore_names_and_order_but_see_every_change():
    from helpers.model import architecture_differences

    merge = build_merge_model(30, 7, 12, units=16, embedding_dim=8)
    assert architecture_differences(_merge_by_hand(30, 7, 12), merge) == []
    assert architecture_differences(merge, build_merge_model(30, 7, 12, units=16, embedding_dim=8)) == []
    inject = build_inject_model(30, 7, 12, units=16, embedding_dim=8)
    assert "Add layers: 1 here, 0 there" in architecture_differences(merge, inject)
    wider = architecture_differences(_merge_by_hand(30, 7, 12, units=32), merge)
    assert any("units = 32 here, 16 there" in d for d in wider) and wider[-1].startswith("parameters:")
    assert any(
        "rate = 0.3 here, 0.5 there" in d
        for d in architecture_differences(_merge_by_hand(30, 7, 12, dropout=0.3), merge)
    )
    frozen = build_merge_model(30, 7, 12, units=16, embedding_dim=8, train_embeddings=False)
    assert any("trainable" in d for d in architecture_differences(frozen, merge))


@pytest.mark.parametrize("architecture", ["merge", "inject"])
def test_a_batch_of_shorter_captions_gives_the_same_predictions_as_the_padded_one(architecture):
    """Padding a batch to its own longest caption (training) changes nothing at the real words."""
    model = build_model(architecture, 30, 7, 12, units=16, embedding_dim=8)
    features = np.random.default_rng(1).normal(size=(3, 12)).astype("float32")
    padded = np.asarray(model([features, CAPTIONS]))
    for length in (1, 4, 9):  # shorter than the longest caption, and longer than length=7
        words = CAPTIONS[:, :length] if length <= 7 else np.pad(CAPTIONS, ((0, 0), (0, length - 7)))
        out = np.asarray(model([features, words]))
        assert out.shape == (3, length, 30)
        assert np.allclose(out[:, : min(length, 7)], padded[:, :length], atol=1e-6)
    # no Lambda layer: a saved model is plain config plus the course's one registered layer
    assert not any(layer.__class__.__name__ == "Lambda" for layer in model.layers)


def test_the_image_layer_copies_the_image_to_as_many_positions_as_the_words():
    image = np.arange(6, dtype="float32").reshape(2, 3)
    words = np.ones((2, 5), "int32")
    out = np.asarray(model_module.ImageAtEveryPosition()([image, words]))
    assert out.shape == (2, 5, 3)
    assert (out == image[:, None, :]).all()
