"""Scoring generated captions with BLEU.

Taught in notebooks/08_evaluation_and_visualization.ipynb.

BLEU-n compares the n-grams (runs of 1..n words) of a generated caption with
those of the human references of the same image. It is computed at *corpus
level* (NLTK ``corpus_bleu``: n-gram matches summed over all test images before
dividing), without smoothing, on cleaned captions with start, stop and padding
tokens stripped from both sides. Scores are on the 0-1 scale (x100 in tables).

The *best constant caption* is the honest trivial baseline: the one training
caption that scores best when it is used for every test image. A model that
does not beat it has not learned to look at the images.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from helpers.text import clean_caption, strip_tokens

BLEU_WEIGHTS = {
    "bleu1": (1.0, 0, 0, 0),
    "bleu2": (0.5, 0.5, 0, 0),
    "bleu3": (1 / 3, 1 / 3, 1 / 3, 0),
    "bleu4": (0.25, 0.25, 0.25, 0.25),
}


def _tokens(caption: str) -> list[str]:
    return clean_caption(strip_tokens(caption)).split()


def bleu_scores(references: dict[str, list[str]], hypotheses: dict[str, str]) -> dict[str, float]:
    """Corpus BLEU-1..4 of ``hypotheses`` ``{image_id: caption}`` against
    ``references`` ``{image_id: [caption, ...]}`` (every hypothesis id must have references)."""
    from nltk.translate.bleu_score import corpus_bleu

    image_ids = list(hypotheses)
    missing = [i for i in image_ids if i not in references]
    if missing:
        raise KeyError(f"{len(missing)} hypotheses have no references, first: {missing[0]}")
    list_of_references = [[_tokens(r) for r in references[i]] for i in image_ids]
    hypothesis_tokens = [_tokens(hypotheses[i]) for i in image_ids]
    return {name: float(corpus_bleu(list_of_references, hypothesis_tokens, weights=weights))
            for name, weights in BLEU_WEIGHTS.items()}


def best_constant_caption(candidates: Iterable[str], references: dict[str, list[str]]) -> tuple[str, float]:
    """The candidate caption with the highest BLEU-4 when used for every image of ``references``."""
    from nltk.translate.bleu_score import corpus_bleu

    list_of_references = [[_tokens(r) for r in refs] for refs in references.values()]
    best, best_score = "", -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns for every candidate with no 4-gram match
        for candidate in sorted({" ".join(_tokens(c)) for c in candidates}):
            if not candidate:
                continue
            tokens = candidate.split()
            score = corpus_bleu(list_of_references, [tokens] * len(list_of_references))
            if score > best_score:
                best, best_score = candidate, float(score)
    return best, best_score


def percent(scores: dict[str, float]) -> dict[str, float]:
    """Scores x100, rounded to one decimal, for tables."""
    return {name: round(100 * value, 1) for name, value in scores.items()}
