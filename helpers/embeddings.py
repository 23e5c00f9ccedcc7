"""Word embeddings: FastText trained with gensim on the training captions, or vectors you downloaded.

Taught in notebooks/04_word_embeddings.ipynb.

FastText learns a vector for every word from the words around it, and builds
words from character n-grams, so even a word seen once gets a sensible vector.
The vectors become the *embedding matrix*: row ``i`` is the vector of vocabulary
word ``i``; row 0 (padding) is all zeros. The merge model starts its Embedding
layer from this matrix (frozen or fine-tuned: notebook 05's ``TRAIN_EMBEDDINGS``).

Pretrained vectors (:func:`load_pretrained_vectors`) come in three formats, all
read with gensim: word2vec text (a ``count dim`` header line, then ``word v1 v2
...``), GloVe text (the same without the header) and FastText (``.vec`` is
word2vec text; ``.bin`` is Facebook's binary, which keeps the subword n-grams).
A vocabulary word they do not know (``startseq``, ``endseq``, ``<unk>``, rare
words) gets a random vector, normal with mean 0 and the standard deviation of
the known vectors (so it is on the same scale), drawn with a fixed seed in
vocabulary order: the model then learns it (if embeddings are fine-tuned).

Vectors are saved in the word2vec text format (readable by gensim's
``KeyedVectors.load_word2vec_format`` and by any text editor) — never pickled.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from helpers.vocabulary import PAD_ID, Vocabulary


def train_fasttext(
    captions: list[str],
    *,
    vector_size: int = 100,
    window: int = 5,
    min_count: int = 1,
    epochs: int = 20,
    seed: int = 42,
):
    """Train gensim FastText (skip-gram, n-grams of 3-5 characters) on whitespace-tokenised
    captions; returns its ``KeyedVectors``.

    One worker thread, so the same seed gives the same vectors."""
    from gensim.models import FastText

    sentences = [caption.split() for caption in captions if caption.strip()]
    if not sentences:
        raise ValueError("no captions to train FastText on")
    model = FastText(
        sentences=sentences,
        vector_size=vector_size,
        window=window,
        min_count=min_count,
        epochs=epochs,
        seed=seed,
        workers=1,
        sg=1,
        min_n=3,
        max_n=5,
    )
    return model.wv


def _open_text(path: Path):
    return (
        gzip.open(path, "rt", encoding="utf-8", errors="replace")
        if path.suffix == ".gz"
        else open(path, encoding="utf-8", errors="replace")
    )


def _has_word2vec_header(first_line: str) -> bool:
    parts = first_line.split()
    return len(parts) == 2 and all(part.isdigit() for part in parts)


def vector_file_format(path: str | Path) -> str:
    """``"facebook-bin"``, ``"word2vec-bin"``, ``"word2vec-text"`` (also FastText ``.vec``) or ``"glove-text"``."""
    path = Path(path)
    if path.suffix == ".bin":
        with open(path, "rb") as handle:
            head = handle.read(64)
        first_line = head.split(b"\n", 1)[0].decode("ascii", errors="replace")
        return "word2vec-bin" if _has_word2vec_header(first_line) else "facebook-bin"
    with _open_text(path) as handle:
        first_line = handle.readline()
    if not first_line.strip():
        raise ValueError(f"{path}: empty first line: not a word-vector file")
    if _has_word2vec_header(first_line):
        return "word2vec-text"
    if len(first_line.split()) < 2:
        raise ValueError(
            f"{path}: first line {first_line[:60]!r} is neither a 'count dim' header nor "
            "'word v1 v2 ...': not a word2vec/GloVe/FastText vector file"
        )
    return "glove-text"


def load_pretrained_vectors(path: str | Path, limit: int | None = None):
    """Load downloaded vectors as gensim ``KeyedVectors``, whatever their format
    (:func:`vector_file_format`). ``limit`` reads only the first (most frequent)
    words of a text file — GloVe 840B holds 2 million."""
    from gensim.models import KeyedVectors

    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f'{path}: no such vector file (EMBEDDINGS is "fasttext" or a path to '
            "word2vec/GloVe text, FastText .vec or .bin)"
        )
    kind = vector_file_format(path)
    check_vector_header(path, kind)
    try:
        if kind == "facebook-bin":
            from gensim.models.fasttext import load_facebook_vectors

            vectors = load_facebook_vectors(str(path))
        else:
            vectors = KeyedVectors.load_word2vec_format(
                str(path), binary=kind == "word2vec-bin", limit=limit, no_header=kind == "glove-text"
            )
    except (ValueError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: could not read it as {kind}: {error}") from error
    if not np.isfinite(vectors.vectors).all():
        bad = int((~np.isfinite(vectors.vectors)).any(axis=1).sum())
        raise ValueError(f"{path}: {bad} word vectors hold nan or infinite values; every value must be a finite number")
    return vectors


#: The longest word vector accepted (downloaded vectors have 25 to 1,000 values; GloVe, word2vec, FastText: 300).
MAX_VECTOR_DIM = 10_000


def check_vector_header(path: Path, kind: str) -> None:
    """Refuse a ``count dim`` header the file cannot hold (``100000000 100000`` in a 27-byte file would make gensim
    allocate 36 TiB before reading a vector): each value takes at least 2 bytes of text or 4 of binary."""
    if kind not in ("word2vec-text", "word2vec-bin"):
        return
    if kind == "word2vec-bin":
        with open(path, "rb") as handle:
            first_line = handle.readline(200).decode("ascii", errors="replace")
    else:
        with _open_text(path) as handle:
            first_line = handle.readline(200)
    try:
        count, dim = (int(part) for part in first_line.split())
    except ValueError:  # cut at 200 characters, or digits past Python's 4,300-digit limit
        raise ValueError(f"{path}: first line {first_line[:40]!r} is not a 'count dim' header") from None
    if not 1 <= dim <= MAX_VECTOR_DIM:
        raise ValueError(f"{path}: header says {dim} values per vector; from 1 to {MAX_VECTOR_DIM} (MAX_VECTOR_DIM)")
    size = path.stat().st_size * (20 if path.suffix == ".gz" else 1)  # generous: text rarely shrinks more
    needed = count * dim * (4 if kind == "word2vec-bin" else 2)
    if needed > size:
        raise ValueError(
            f"{path}: header says {count:,} vectors of {dim:,} values, at least {needed:,} bytes, "
            f"but the file has {path.stat().st_size:,}: the header is wrong"
        )


def load_or_train_vectors(embeddings: str, train_captions: list[str], **fasttext_options):
    """The notebook's ``EMBEDDINGS`` parameter: ``"fasttext"`` trains on ``train_captions``
    (:func:`train_fasttext` with ``fasttext_options``); anything else is a path to
    pretrained vectors (:func:`load_pretrained_vectors`)."""
    if embeddings == "fasttext":
        return train_fasttext(train_captions, **fasttext_options)
    return load_pretrained_vectors(embeddings)


def _builds_from_subwords(word_vectors) -> bool:
    return getattr(word_vectors, "bucket", 0) > 0  # FastText vectors: any word gets n-gram vectors


def has_vector(word_vectors, word: str) -> bool:
    """Whether the vectors give ``word`` a vector: its own, or (FastText) one built from n-grams."""
    return word in word_vectors.key_to_index or _builds_from_subwords(word_vectors)


def coverage(vocabulary: Vocabulary, word_vectors) -> dict:
    """How many vocabulary words (padding aside) the vectors know: ``exact`` (a
    vector of their own), ``subwords`` (FastText built it from character n-grams)
    and ``missing`` (the list of words that get a random start)."""
    exact, subwords, missing = 0, 0, []
    for i, word in enumerate(vocabulary.words):
        if i == PAD_ID:
            continue
        if word in word_vectors.key_to_index:
            exact += 1
        elif _builds_from_subwords(word_vectors):
            subwords += 1
        else:
            missing.append(word)
    words = len(vocabulary) - 1
    return {
        "words": words,
        "exact": exact,
        "subwords": subwords,
        "missing": missing,
        "covered_fraction": (exact + subwords) / words if words else 0.0,
    }


def embedding_matrix(vocabulary: Vocabulary, word_vectors, seed: int = 42) -> np.ndarray:
    """Matrix ``(len(vocabulary), dim)`` in vocabulary order; the padding row stays zero.

    FastText gives every word a vector (through its character n-grams). With other
    vectors a missing word gets a random vector: normal, mean 0, standard deviation
    that of the known words' vectors, drawn from ``seed`` in vocabulary order."""
    dim = word_vectors.vector_size
    matrix = np.zeros((len(vocabulary), dim), dtype=np.float32)
    known, missing = [], []
    for i, word in enumerate(vocabulary.words):
        if i == PAD_ID:
            continue
        if has_vector(word_vectors, word):
            matrix[i] = word_vectors[word]
            known.append(i)
        else:
            missing.append(i)
    if missing:
        scale = float(matrix[known].std()) if known else 0.1
        matrix[missing] = np.random.default_rng(seed).normal(0.0, scale or 0.1, (len(missing), dim))
    return matrix


def nearest_words(word_vectors, word: str, topn: int = 10) -> list[tuple[str, float]]:
    """The ``topn`` words with the most similar vectors (cosine), with their similarity."""
    if not has_vector(word_vectors, word):
        raise KeyError(f"{word!r} has no vector")
    return word_vectors.most_similar(word, topn=topn)


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """Principal component analysis with numpy: each vector's coordinates along the
    two directions in which the vectors vary most (``(n, 2)``)."""
    centred = np.asarray(vectors, dtype=np.float64) - np.mean(vectors, axis=0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    return centred @ directions[:2].T


def plot_word_map(word_vectors, words: list[str], path: str | Path | None = None, title: str = ""):
    """Scatter the words at their 2-D projection (:func:`project_2d`), each labelled."""
    import matplotlib.pyplot as plt

    points = project_2d(np.stack([word_vectors[word] for word in words]))
    figure, axis = plt.subplots(figsize=(8, 6))
    axis.scatter(points[:, 0], points[:, 1], s=12, color="#0b4f9c")
    for (x, y), word in zip(points, words):
        axis.annotate(word, (x, y), fontsize=8, xytext=(3, 2), textcoords="offset points")
    axis.set_xlabel("first principal component")
    axis.set_ylabel("second principal component")
    axis.set_title(title or f"{len(words)} caption words, projected to 2-D (PCA)")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


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


def vocabulary_vectors(vocabulary: Vocabulary, matrix: np.ndarray):
    """The rows of the embedding matrix as gensim ``KeyedVectors`` keyed by word
    (padding left out): what the model starts from, small enough to save even
    when the source was a file of millions of words."""
    from gensim.models import KeyedVectors

    vectors = KeyedVectors(vector_size=matrix.shape[1])
    words = [w for i, w in enumerate(vocabulary.words) if i != PAD_ID]
    vectors.add_vectors(words, np.asarray([matrix[vocabulary.index[w]] for w in words], dtype=np.float32))
    return vectors
