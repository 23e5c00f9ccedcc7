import numpy as np
import pytest

from helpers import embeddings
from helpers.vocabulary import Vocabulary

CAPTIONS = [
    f"startseq {n} {c} {s} on {b} background endseq"
    for n in ("one", "two", "three")
    for c in ("red", "green", "blue", "yellow")
    for s in ("circles", "squares")
    for b in ("white", "black")
] * 3


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


@pytest.mark.course  # end to end, slow: FastText on the real Flickr8k captions
def test_flickr8k_fasttext_puts_dog_words_near_dog(shared_text):
    """Real captions: FastText on the 30,000 training captions of Flickr8k (5 epochs, ~10 s)."""
    from helpers.datasets import read_split_file, read_token_file
    from helpers.text import clean_caption

    captions = read_token_file(shared_text / "Flickr8k.token.txt")
    train_ids = read_split_file(shared_text / "Flickr_8k.trainImages.txt")
    sentences = [clean_caption(c) for i in train_ids for c in captions[i]]
    assert len(sentences) == 30000
    word_vectors = embeddings.train_fasttext(sentences, vector_size=100, epochs=5, seed=42)
    neighbours = [w for w, _ in embeddings.nearest_words(word_vectors, "dog", topn=10)]
    assert {"dogs", "puppy", "terrier", "poodle", "collie", "retriever"} & set(neighbours), neighbours
    # and a rare word still gets a vector of its own from its n-grams, near its family
    assert (
        "dog" in [w for w, _ in word_vectors.most_similar("doggies", topn=20)]
        or word_vectors.similarity("doggies", "dog") > 0.5
    )


@pytest.fixture(scope="module")
def small_fasttext(tmp_path_factory):
    """A small FastText model saved in every format a user may download."""
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    folder = tmp_path_factory.mktemp("vectors")
    model = FastText(sentences=[c.split() for c in CAPTIONS], vector_size=12, epochs=3, seed=1, workers=1, min_count=1)
    save_facebook_model(model, str(folder / "vectors.bin"))
    model.wv.save_word2vec_format(str(folder / "vectors.vec"))
    model.wv.save_word2vec_format(str(folder / "word2vec.bin"), binary=True)
    lines = (folder / "vectors.vec").read_text().splitlines()[1:]  # GloVe: the same lines without the header
    (folder / "glove.6B.12d.txt").write_text("\n".join(lines) + "\n")
    return model.wv, folder


@pytest.mark.parametrize(
    "name,kind",
    [
        ("vectors.bin", "facebook-bin"),
        ("vectors.vec", "word2vec-text"),
        ("word2vec.bin", "word2vec-bin"),
        ("glove.6B.12d.txt", "glove-text"),
    ],
)
def test_pretrained_vectors_load_in_every_format(small_fasttext, name, kind):
    reference, folder = small_fasttext
    assert embeddings.vector_file_format(folder / name) == kind
    loaded = embeddings.load_pretrained_vectors(folder / name)
    assert np.allclose(loaded["red"], reference["red"], atol=1e-4)
    assert len(loaded.key_to_index) == len(reference.key_to_index)


def test_coverage_and_missing_words_get_a_scaled_seeded_random_start(small_fasttext):
    _, folder = small_fasttext
    glove = embeddings.load_pretrained_vectors(folder / "glove.6B.12d.txt")
    vocabulary = Vocabulary.build(CAPTIONS + ["startseq zebra endseq"])
    report = embeddings.coverage(vocabulary, glove)
    assert "zebra" in report["missing"] and "<unk>" in report["missing"] and "red" not in report["missing"]
    assert report["exact"] + len(report["missing"]) == report["words"] == len(vocabulary) - 1
    matrix = embeddings.embedding_matrix(vocabulary, glove, seed=3)
    assert not matrix[0].any()
    assert np.allclose(matrix[vocabulary.index["red"]], glove["red"])
    zebra = matrix[vocabulary.index["zebra"]]
    known = np.stack([glove[w] for w in vocabulary.words if w in glove.key_to_index])
    assert 0.3 < zebra.std() / known.std() < 3, "random starts are on the scale of the known vectors"
    assert np.array_equal(matrix, embeddings.embedding_matrix(vocabulary, glove, seed=3))
    # FastText's .bin keeps the n-grams: every word is covered
    facebook = embeddings.load_pretrained_vectors(folder / "vectors.bin")
    assert embeddings.coverage(vocabulary, facebook)["missing"] == []


def test_bad_vector_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such vector file"):
        embeddings.load_pretrained_vectors(tmp_path / "nothing.txt")
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="notes.txt"):
        embeddings.load_pretrained_vectors(tmp_path / "notes.txt")


def test_projection_and_word_map(tmp_path):
    word_vectors = embeddings.train_fasttext(CAPTIONS, vector_size=16, epochs=5, seed=1)
    words = ["red", "green", "blue", "circles", "squares", "white"]
    points = embeddings.project_2d(np.stack([word_vectors[w] for w in words]))
    assert points.shape == (6, 2)
    assert np.allclose(points.mean(axis=0), 0, atol=1e-6)
    assert points[:, 0].var() >= points[:, 1].var(), "the first direction varies most"
    embeddings.plot_word_map(word_vectors, words, path=tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 0


def test_vocabulary_vectors_hold_the_matrix_rows(tmp_path):
    vocabulary = Vocabulary.build(CAPTIONS)
    matrix = embeddings.embedding_matrix(vocabulary, embeddings.train_fasttext(CAPTIONS, vector_size=8, epochs=2))
    vectors = embeddings.vocabulary_vectors(vocabulary, matrix)
    assert len(vectors.key_to_index) == len(vocabulary) - 1
    path = embeddings.save_word_vectors(vectors, tmp_path / "v.txt")
    assert np.allclose(embeddings.load_word_vectors(path)["blue"], matrix[vocabulary.index["blue"]], atol=1e-5)
