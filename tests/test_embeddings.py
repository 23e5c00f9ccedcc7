import numpy as np

from helpers import embeddings
from helpers.vocabulary import Vocabulary

CAPTIONS = [f"startseq {n} {c} {s} on {b} background endseq"
            for n in ("one", "two", "three") for c in ("red", "green", "blue", "yellow")
            for s in ("circles", "squares") for b in ("white", "black")] * 3


def test_fasttext_matrix_is_in_vocabulary_order_with_zero_padding(tmp_path):
    vocabulary = Vocabulary.build(CAPTIONS)
    word_vectors = embeddings.train_fasttext(CAPTIONS, vector_size=16, epochs=5, seed=1)
    matrix = embeddings.embedding_matrix(vocabulary, word_vectors)
    assert matrix.shape == (len(vocabulary), 16) and matrix.dtype == np.float32
    assert not matrix[0].any()
    for word in ("red", "circles", "startseq"):
        assert np.allclose(matrix[vocabulary.index[word]], word_vectors[word])
    # <unk> is not a FastText word but still gets a vector from its character n-grams
    assert np.abs(matrix[1]).sum() > 0

    path = embeddings.save_word_vectors(word_vectors, tmp_path / "vectors.txt")
    loaded = embeddings.load_word_vectors(path)
    assert np.allclose(loaded["red"], word_vectors["red"], atol=1e-5)


def test_same_seed_same_vectors():
    a = embeddings.train_fasttext(CAPTIONS, vector_size=8, epochs=3, seed=7)
    b = embeddings.train_fasttext(CAPTIONS, vector_size=8, epochs=3, seed=7)
    assert np.allclose(a["red"], b["red"])


def test_on_the_sample_colours_end_up_near_colours_and_shapes_near_shapes():
    from helpers.datasets import load_dataset
    from helpers.text import add_start_stop, clean_caption

    dataset = load_dataset("sample")
    captions = [add_start_stop(clean_caption(c)) for i in dataset.splits["train"] for c in dataset.captions_by_image[i]]
    word_vectors = embeddings.train_fasttext(captions, vector_size=100, epochs=20, seed=42)
    colours = {"red", "green", "blue", "yellow", "purple", "orange", "violet"}
    shapes = {"circles", "squares", "triangles", "circle", "square", "triangle", "boxes", "discs"}
    assert len({w for w, _ in word_vectors.most_similar("red", topn=4)} & colours) >= 3
    assert len({w for w, _ in word_vectors.most_similar("circles", topn=4)} & shapes) >= 3
