"""Word embeddings: FastText trained with gensim on the training captions.

Taught in notebooks/04_word_embeddings.ipynb.

FastText learns a vector for every word from the words around it, and builds
words from character n-grams, so even a word seen once gets a sensible vector.
The vectors become the *embedding matrix*: row ``i`` is the vector of vocabulary
word ``i``; row 0 (padding) is all zeros. The merge model starts its Embedding
layer from this matrix.

Vectors are saved in the word2vec text format (readable by gensim's
``KeyedVectors.load_word2vec_format`` and by any text editor) — never pickled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.vocabulary import PAD_ID, Vocabulary


def train_fasttext(captions: list[str], *, vector_size: int = 100, window: int = 5, min_count: int = 1,
                   epochs: int = 20, seed: int = 42):
    """Train gensim FastText on whitespace-tokenised captions; returns its ``KeyedVectors``.

    One worker thread, so the same seed gives the same vectors."""
    from gensim.models import FastText

    sentences = [caption.split() for caption in captions if caption.strip()]
    if not sentences:
        raise ValueError("no captions to train FastText on")
    model = FastText(sentences=sentences, vector_size=vector_size, window=window, min_count=min_count,
                     epochs=epochs, seed=seed, workers=1, sg=1, min_n=3, max_n=5)
    return model.wv


def embedding_matrix(vocabulary: Vocabulary, word_vectors) -> np.ndarray:
    """Matrix ``(len(vocabulary), dim)`` in vocabulary order; the padding row stays zero.

    FastText gives every word a vector (through its character n-grams); for other
    vector sets a missing word gets a small random vector (normal, std 0.1, seeded
    by the word's id) so it can still be learned."""
    dim = word_vectors.vector_size
    matrix = np.zeros((len(vocabulary), dim), dtype=np.float32)
    for i, word in enumerate(vocabulary.words):
        if i == PAD_ID:
            continue
        try:
            matrix[i] = word_vectors[word]
        except KeyError:
            matrix[i] = np.random.default_rng(i).normal(0.0, 0.1, dim)
    return matrix


def save_word_vectors(word_vectors, path: str | Path) -> Path:
    """Save vectors in the word2vec text format (one word and its numbers a line)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    word_vectors.save_word2vec_format(str(tmp), binary=False)
    tmp.replace(path)
    return path


def load_word_vectors(path: str | Path):
    """Load vectors saved by :func:`save_word_vectors` as gensim ``KeyedVectors``."""
    from gensim.models import KeyedVectors

    return KeyedVectors.load_word2vec_format(str(path), binary=False)
