"""The merge model: image features and the caption so far -> the next word.

Taught in notebooks/05_merge_lstm_model.ipynb.

::

    image features --Dropout--Dense(units, relu)-----------.
                                                            (+)--Dense(units, relu)--Dense(vocab, softmax)
    caption so far --Embedding--Dropout--LSTM(units)-------'

The image never enters the LSTM: the LSTM only reads words, and the two
summaries are *merged* (added) just before the word is predicted — the "merge"
architecture of Tanti et al. (2018). The loss is categorical cross-entropy over
the vocabulary; the targets are given as word ids (Keras' *sparse* categorical
cross-entropy: the same loss without building one-hot vectors), optimised with Adam.
"""

from __future__ import annotations

import numpy as np


def build_merge_model(vocab_size: int, max_length: int, feature_dim: int, *, embedding_dim: int = 100,
                      units: int = 256, dropout: float = 0.5, embedding_matrix: np.ndarray | None = None,
                      train_embeddings: bool = True, learning_rate: float = 1e-3):
    """Build and compile the merge model (Keras functional API).

    Inputs: ``image_features`` ``(batch, feature_dim)`` and ``caption_prefix``
    ``(batch, max_length)`` word ids, padded with 0 after the words. Output: a
    probability for every vocabulary word being the next one.
    """
    import keras
    from keras import layers

    if embedding_matrix is not None:
        if embedding_matrix.shape[0] != vocab_size:
            raise ValueError(f"embedding matrix has {embedding_matrix.shape[0]} rows, vocabulary {vocab_size} words")
        embedding_dim = embedding_matrix.shape[1]

    image_features = keras.Input(shape=(feature_dim,), name="image_features")
    image_branch = layers.Dropout(dropout, name="image_dropout")(image_features)
    image_branch = layers.Dense(units, activation="relu", name="image_dense")(image_branch)

    caption_prefix = keras.Input(shape=(max_length,), dtype="int32", name="caption_prefix")
    word_branch = layers.Embedding(vocab_size, embedding_dim, mask_zero=True,
                                   trainable=train_embeddings, name="word_embedding")(caption_prefix)
    word_branch = layers.Dropout(dropout, name="word_dropout")(word_branch)
    word_branch = layers.LSTM(units, name="lstm")(word_branch)

    merged = layers.Add(name="merge")([image_branch, word_branch])
    merged = layers.Dense(units, activation="relu", name="decoder_dense")(merged)
    next_word = layers.Dense(vocab_size, activation="softmax", name="next_word")(merged)

    model = keras.Model([image_features, caption_prefix], next_word, name="merge_captioner")
    if embedding_matrix is not None:
        # set_weights, not a Constant initializer: that would copy the whole matrix into the saved config
        model.get_layer("word_embedding").set_weights([np.asarray(embedding_matrix, dtype="float32")])
    return compile_model(model, learning_rate)


def compile_model(model, learning_rate: float = 1e-3):
    """Categorical cross-entropy over word ids (sparse) and Adam — used again by
    notebook 06 after loading the untrained model, with a fresh optimizer."""
    import keras

    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(),
                  optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
    return model
