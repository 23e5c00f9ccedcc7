"""Writing a caption: greedy decoding until the stop token.

Taught in notebooks/07_caption_generation.ipynb.

Start with ``[startseq]``; ask the model for the next word; take the most
probable one (greedy); append it; repeat until the model says ``endseq`` or the
caption reaches the maximum length. :func:`greedy_captions` does this for many
images at once — one model call per word position for the whole batch, not one
per image and word.
"""

from __future__ import annotations

import numpy as np

from helpers.vocabulary import PAD_ID, Vocabulary


def greedy_captions(model, features: np.ndarray, vocabulary: Vocabulary, max_length: int,
                    batch_size: int = 256) -> list[str]:
    """Greedy captions (tokens stripped) for each row of ``features``."""
    captions: list[str] = []
    for start in range(0, len(features), batch_size):
        captions += _greedy_batch(model, features[start:start + batch_size], vocabulary, max_length)
    return captions


def _greedy_batch(model, features: np.ndarray, vocabulary: Vocabulary, max_length: int) -> list[str]:
    count = len(features)
    sequences = np.full((count, max_length), PAD_ID, dtype=np.int32)
    sequences[:, 0] = vocabulary.start_id
    finished = np.zeros(count, dtype=bool)
    features = np.asarray(features, dtype=np.float32)
    for position in range(1, max_length):
        next_words = _next_word_probabilities(model, features, sequences, position).argmax(axis=-1)
        next_words[finished] = PAD_ID
        sequences[:, position] = next_words
        finished |= next_words == vocabulary.stop_id
        if finished.all():
            break
    return [vocabulary.decode(row) for row in sequences]


def greedy_caption_one(model, image_features: np.ndarray, vocabulary: Vocabulary, max_length: int) -> list[str]:
    """The same greedy search for one image, word by word, returning the words
    chosen step by step (the notebook prints them to show the loop)."""
    sequence = [vocabulary.start_id]
    chosen: list[str] = []
    while len(sequence) < max_length:
        prefix = np.array([sequence + [PAD_ID] * (max_length - len(sequence))], dtype=np.int32)
        probabilities = _next_word_probabilities(model, image_features[None, :].astype(np.float32), prefix,
                                                 len(sequence))[0]
        word_id = int(probabilities.argmax())
        chosen.append(vocabulary.words[word_id])
        if word_id == vocabulary.stop_id:
            break
        sequence.append(word_id)
    return chosen


def _next_word_probabilities(model, features, sequences, position):
    """The model's distribution of the word at ``position``: a model with an output per
    position (batch, length, vocabulary) reads ``sequences[:, :length]`` and answers at
    ``position - 1``; a one-prediction model (batch, vocabulary) reads the whole prefix."""
    inputs = getattr(model, "inputs", None)
    length = inputs[1].shape[1] if inputs else None
    probabilities = np.asarray(model([features, sequences[:, :length]], training=False))
    return probabilities[:, position - 1] if probabilities.ndim == 3 else probabilities
