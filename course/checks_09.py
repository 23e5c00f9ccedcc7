"""The check of notebook 09's metric exercise (machinery, not lesson).

The student writes a metric of their own, the share of a caption's words found in its references (unigram precision
without clipping or brevity penalty), and sees how well it agrees with the experts beside BLEU-1. Messages say what
differs and hint at the rule; they never print the expected scores."""

from __future__ import annotations

from collections import Counter

import numpy as np

from helpers import judgements


def word_precision(caption: str, references: list[str]) -> float:
    """The share of the caption's words (cleaned, ``judgements.tokens``) that some reference holds; 0 for none."""
    words = judgements.tokens(caption)
    known = {word for reference in references for word in judgements.tokens(reference)}
    return sum(word in known for word in words) / len(words) if words else 0.0


def _clipped(caption: str, references: list[str]) -> float:
    words = Counter(judgements.tokens(caption))
    most = Counter()
    for reference in references:
        most |= Counter(judgements.tokens(reference))
    total = sum(words.values())
    return sum(min(n, most[w]) for w, n in words.items()) / total if total else 0.0


def _recall(caption: str, references: list[str]) -> float:
    words = set(judgements.tokens(caption))
    reference_words = [w for r in references for w in judgements.tokens(r)]
    return sum(w in words for w in reference_words) / len(reference_words) if reference_words else 0.0


def _raw(caption: str, references: list[str]) -> float:
    words = caption.split()
    known = {word for reference in references for word in reference.split()}
    return sum(word in known for word in words) / len(words) if words else 0.0


def check_my_metric(my_metric, loaded) -> str:
    """``my_metric(caption, references) -> float`` on every expert-judged pair of ``loaded``
    (:class:`helpers.judgements.Judgements`) against :func:`word_precision`; then its Spearman's rho with the
    experts beside BLEU-1's. Returns a one-line verdict."""
    assert callable(my_metric), "answer_2 is your function itself: answer_2 = my_metric, without parentheses"
    judged = loaded.with_human("expert")
    assert len(judged) >= 3, "too few expert-judged pairs to compare with"
    mine = []
    for pair in judged:
        try:
            value = my_metric(pair.caption, list(pair.references))
        except Exception as error:  # noqa: BLE001 -- shown to the student as a hint
            raise AssertionError(
                f"my_metric raised {type(error).__name__}: {error} — it gets the caption (a string) and its "
                "references (a list of strings)"
            ) from None
        assert np.ndim(value) == 0, "my_metric returns one number per caption"
        mine.append(float(value))
    assert len(set(mine)) > 1, "your metric gives every caption the same score: it must read the caption's words"
    for pair, value in zip(judged, mine):
        right = word_precision(pair.caption, pair.references)
        if np.isclose(value, right, atol=1e-9):
            continue
        for slip, hint in (
            (
                _clipped,
                "you clip the counts, as BLEU does: here a word counts every time it occurs if a reference has it",
            ),
            (_recall, "that is recall (the references' words found in the caption): count the caption's words instead"),
            (_raw, "clean the words first, caption and references alike: judgements.tokens (notebook 01's rule)"),
        ):
            if np.isclose(value, slip(pair.caption, pair.references), atol=1e-9):
                raise AssertionError(hint)
        raise AssertionError(
            "your score differs from the rule on some captions: the words of the caption (judgements.tokens) that "
            "appear in at least one reference, divided by the caption's number of words (0 for an empty caption)"
        )
    experts = [pair.human("expert") for pair in judged]
    rho = judgements.rank_correlation(mine, experts)["spearman"]
    bleu1 = judgements.rank_correlation([pair.scores["bleu1"] for pair in judged], experts)["spearman"]
    verdict = "more" if rho > bleu1 else "less"
    return f"your metric agrees {verdict} with the experts than BLEU-1 (Spearman rho {rho:.3f} against {bleu1:.3f})"
