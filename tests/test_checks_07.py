"""Notebook 07's beam-search check (``course.checks_07``) on a table model: the solution passes, and each usual slip
gets its hint, never the expected caption."""

import numpy as np
import pytest

from course import checks_07
from helpers import decoding
from helpers.vocabulary import Vocabulary

VOCABULARY = Vocabulary.build(["startseq two red circles endseq", "startseq one blue square endseq"])
W = VOCABULARY.index
# greedy takes "two" (0.5) but its continuations are flat; "one blue square" is the most probable caption
TABLE = {
    (): {"two": 0.5, "one": 0.45, "red": 0.05},
    ("two",): {"red": 0.34, "circles": 0.33, "blue": 0.33},
    ("two", "red"): {"circles": 0.6, "endseq": 0.4},
    ("one",): {"blue": 0.95, "endseq": 0.05},
    ("one", "blue"): {"square": 0.9, "endseq": 0.1},
    ("red",): {"circles": 0.9, "endseq": 0.1},
}


class TableModel:
    """Next-word probabilities looked up by the words so far (rank-2 output); unlisted prefixes say endseq."""

    def __call__(self, inputs, training=False):
        _, prefixes = inputs
        out = np.full((len(prefixes), len(VOCABULARY)), 1e-6)
        for row, prefix in enumerate(np.asarray(prefixes)):
            words = tuple(VOCABULARY.words[i] for i in prefix if i != 0)[1:]
            for word, p in TABLE.get(words, {"endseq": 1.0}).items():
                out[row, W[word]] = p
        return out / out.sum(axis=1, keepdims=True)


PHOTOS = np.zeros((2, 3), dtype="float32")
MAX_LENGTH = 6


def beam_search(next_log_p, width, *, multiply=False, drop_finished=False, steps=None):
    stop = VOCABULARY.stop_id
    beams = [([VOCABULARY.start_id], 0.0)]
    step = 0
    while not all(ids[-1] == stop for ids, _ in beams) and (steps is None or step < steps):
        step += 1
        growing = [(ids, lp) for ids, lp in beams if ids[-1] != stop]
        candidates = [(ids, lp) for ids, lp in beams if ids[-1] == stop]
        if drop_finished:
            candidates = []
        rows = next_log_p([ids for ids, _ in growing])
        for (ids, lp), row in zip(growing, rows):
            for word in np.flatnonzero(np.isfinite(row)):
                value = lp * float(np.exp(row[word])) if multiply else lp + float(row[word])
                candidates.append((ids + [int(word)], value))
        beams = sorted(candidates, key=lambda c: -c[1])[:width]
    return beams


def check(function):
    return checks_07.check_beam_search(function, TableModel(), PHOTOS, VOCABULARY, MAX_LENGTH, widths=(2, 3))


def test_the_solution_passes_and_beam_search_beats_greedy_on_the_table():
    assert "✅" not in check(beam_search) and "widths 2, 3" in check(beam_search)
    greedy = decoding.greedy_captions(TableModel(), PHOTOS[:1], VOCABULARY, MAX_LENGTH, no_repeat_ngram=0)
    assert greedy == ["two red circles"]
    best = decoding.beam_search_captions(TableModel(), PHOTOS[:1], VOCABULARY, MAX_LENGTH, width=2, alpha=0.0)
    assert best == ["one blue square"]


@pytest.mark.parametrize(
    ("slip", "hint"),
    [
        (lambda f, width: beam_search(f, 1), "more probable caption"),
        (lambda f, width: beam_search(f, width)[:1], "keep the width best"),
        (lambda f, width: beam_search(f, width, multiply=True), "sum of its words' log-probabilities"),
        (lambda f, width: beam_search(f, width, steps=2), "does not end with endseq"),
        (lambda f, width: beam_search(f, width + 1), "between 1 and width"),
        (lambda f, width: beam_search(f, width)[::-1], "best first"),
        (lambda f, width: [(ids, lp) for ids, lp in beam_search(f, width)[:1] * 2], "comes twice"),
        (lambda f, width: beam_search(f, width, drop_finished=True), "finished ones included"),
        (lambda f, width: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_each_slip_gets_its_hint_and_never_the_expected_caption(slip, hint):
    with pytest.raises(AssertionError) as error:
        check(slip)
    message = str(error.value)
    assert hint in message, message
    assert "one blue square" not in message and "square" not in message
