import numpy as np

from helpers.model import build_merge_model


def test_merge_model_shapes_softmax_and_embedding_start():
    matrix = np.random.default_rng(0).normal(size=(30, 8)).astype("float32")
    matrix[0] = 0
    model = build_merge_model(30, 7, 12, units=16, embedding_matrix=matrix)
    names = [layer.name for layer in model.layers]
    for name in ("image_dropout", "image_dense", "word_embedding", "word_dropout", "lstm", "merge", "next_word"):
        assert name in names
    assert np.allclose(model.get_layer("word_embedding").get_weights()[0], matrix)
    prefix = np.zeros((3, 7), dtype="int32")
    prefix[:, 0] = 2
    probabilities = np.asarray(model([np.ones((3, 12), "float32"), prefix]))
    assert probabilities.shape == (3, 30)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert model.loss.__class__.__name__ == "SparseCategoricalCrossentropy"
    assert model.optimizer.__class__.__name__ == "Adam"


def test_frozen_embeddings():
    model = build_merge_model(10, 5, 4, units=8, embedding_dim=6, train_embeddings=False)
    assert not model.get_layer("word_embedding").trainable
