"""The check of notebook 07's beam-search exercise (machinery, not lesson).

The student writes the whole search: from ``[startseq]``, keep the ``width`` best captions by summed
log-probability, each growing by one word per step, a finished one (ending with ``endseq``) carried unchanged, until
every kept caption is finished. The reference is ``helpers.decoding.beam_search_captions`` on the same model and
photos with the same rules and no length correction (``alpha=0``, no n-gram guard). Messages say what is wrong and
hint where to look; they never print the expected captions or log-probabilities."""

from __future__ import annotations

import numpy as np

from helpers import decoding, next_word


def next_word_scorer(model, image_features, vocabulary, max_length):
    """``next_log_p(prefixes) -> (len(prefixes), vocabulary size)``: ``log P(next word | image, prefix)`` for each
    prefix (a list of word ids starting with ``startseq``), with the rules of section 3b applied (never ``<unk>``,
    padding or ``startseq``, never the word just read) and, when a prefix has reached the longest caption, only
    ``endseq`` left (``-inf`` elsewhere). ``image_features`` is one photo's feature vector."""
    width = next_word.model_sequence_length(model, max_length)
    steps = max(0, min(max_length, width + 1) - 1)  # the most words a caption may grow by (endseq included)
    features = np.asarray(image_features, dtype=np.float32).reshape(1, -1)

    def next_log_p(prefixes) -> np.ndarray:
        prefixes = [[int(word) for word in prefix] for prefix in prefixes]
        if not prefixes:
            raise ValueError("next_log_p got no prefix: pass a list of captions so far (lists of word ids)")
        for prefix in prefixes:
            if not prefix or prefix[0] != vocabulary.start_id:
                raise ValueError("a prefix starts with startseq's id (vocabulary.start_id)")
            if prefix[-1] == vocabulary.stop_id:
                raise ValueError("a finished caption (ending with endseq) is not extended: carry it unchanged")
            if len(prefix) > steps:
                raise ValueError(f"a prefix of {len(prefix)} words is longer than a caption may grow")
        rows = np.zeros((len(prefixes), width), dtype=np.int32)
        for row, prefix in enumerate(prefixes):
            rows[row, : len(prefix)] = prefix
        lengths = np.array([len(prefix) for prefix in prefixes])
        log_p = next_word.next_word_log_probabilities(
            model, np.repeat(features, len(prefixes), axis=0), rows, lengths, vocabulary
        )
        decoding.allowed_next_words(log_p, rows, lengths, vocabulary, no_repeat_ngram=0)
        last = lengths == steps
        if last.any():
            log_p[last] = decoding.end_now(log_p[last], vocabulary)
        return log_p

    return next_log_p


def _call(beam_search, next_log_p, width):
    try:
        return beam_search(next_log_p, width)
    except Exception as error:  # noqa: BLE001 -- shown to the student as a hint
        raise AssertionError(
            f"your beam search raised {type(error).__name__}: {error} — next_log_p takes a list of captions so far "
            "(lists of word ids) and returns one row of log-probabilities per caption"
        ) from None


def _as_beams(result, width) -> list[tuple[list[int], float]]:
    assert isinstance(result, (list, tuple)), "return a list of (word ids, log P) pairs, best first"
    assert 1 <= len(result) <= width, f"return the kept captions: between 1 and width ({width}), not {len(result)}"
    beams = []
    for item in result:
        assert isinstance(item, (list, tuple)) and len(item) == 2, "each caption is a pair (word ids, log P)"
        ids, log_p = item
        assert np.ndim(log_p) == 0, "the second item of each pair is one number: the caption's log P"
        beams.append(([int(word) for word in ids], float(log_p)))
    return beams


def _check_one(beam_search, model, image_features, vocabulary, max_length, width) -> None:
    next_log_p = next_word_scorer(model, image_features, vocabulary, max_length)
    beams = _as_beams(_call(beam_search, next_log_p, width), width)
    start, stop = vocabulary.start_id, vocabulary.stop_id
    for rank, (ids, log_p) in enumerate(beams, start=1):
        assert ids and ids[0] == start, f"caption {rank} does not start with startseq: keep it in every caption"
        assert ids[-1] == stop, (
            f"caption {rank} does not end with endseq: the search goes on until every kept caption is finished "
            "(at the longest length next_log_p leaves only endseq)"
        )
        assert stop not in ids[:-1], f"caption {rank} goes on after endseq: a finished caption is not extended"
        rows = next_log_p([ids[:k] for k in range(1, len(ids))])
        words = rows[np.arange(len(ids) - 1), ids[1:]]
        assert np.isfinite(words).all(), (
            f"caption {rank} holds a word that next_log_p forbids (-inf there): choose among the allowed words"
        )
        assert np.isclose(log_p, words.sum(), rtol=1e-5, atol=1e-4), (
            f"the log P you give caption {rank} is not the sum of its words' log-probabilities: do you add "
            "log-probabilities (not multiply probabilities), starting from 0 at startseq?"
        )
    scores = [log_p for _, log_p in beams]
    assert scores == sorted(scores, reverse=True), "return the captions best first: highest log P first"
    assert len({tuple(ids) for ids, _ in beams}) == len(beams), (
        "the same caption comes twice: a finished caption is carried once, unchanged, to the next step"
    )
    reference = decoding.beam_search_captions(
        model,
        np.asarray(image_features, dtype=np.float32).reshape(1, -1),
        vocabulary,
        max_length,
        width=width,
        alpha=0.0,
        return_beams=True,
        no_repeat_ngram=0,
    )[0]
    best = reference[0].log_probability
    assert scores[0] >= best - 1e-4, (
        f"width {width}: beam search finds a more probable caption than your best — at each step keep the width "
        "best of all candidates (every kept caption x every next word, finished ones included), ranked by summed "
        "log-probability, not the best words of each caption"
    )
    assert scores[0] <= best + 1e-4, (
        f"width {width}: your best caption is more probable than beam search of this width can find — do you keep "
        "more than width captions at some step?"
    )
    assert len(beams) >= len(reference), (
        f"width {width}: you return {len(beams)} caption(s), and beam search keeps {len(reference)}: keep the width best "
        "candidates at every step, not only the best one"
    )
    mine = sorted(tuple(ids[1:]) for ids, _ in beams)
    theirs = sorted(tuple(vocabulary.index[w] for w in beam.words) for beam in reference)
    assert mine == theirs, (
        f"width {width}: your best caption is right but the others differ — do you add log-probabilities (not "
        "multiply probabilities), keep a finished caption among the candidates unchanged while it stays among the "
        "width best, and stop only when every kept caption is finished?"
    )


def check_beam_search(beam_search, model, photos_features, vocabulary, max_length, widths=(2, 3)) -> str:
    """``beam_search(next_log_p, width) -> [(word ids from startseq to endseq, log P), ...]`` best first, run on each
    photo (rows of ``photos_features``) and each width against ``helpers.decoding.beam_search_captions`` (no length
    correction, no n-gram guard). Returns a one-line verdict."""
    assert callable(beam_search), "answer_1 is your function: answer_1 = beam_search (no brackets)"
    photos = np.asarray(photos_features)
    for image_features in photos:
        for width in widths:
            _check_one(beam_search, model, image_features, vocabulary, max_length, width)
    return (
        f"your beam search keeps the same captions as helpers.decoding.beam_search_captions "
        f"(widths {', '.join(map(str, widths))}, {len(photos)} photos)"
    )
