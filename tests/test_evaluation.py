import math

import pytest

from helpers import evaluation


def test_bleu_matches_a_hand_computed_value():
    # hypothesis: "two red circles on black" (5 words); reference: "two red circles on white background" (6 words)
    # clipped n-gram precisions: p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2
    # brevity penalty: exp(1 - 6/5)
    references = {"a": ["startseq two red circles on white background endseq"]}
    hypotheses = {"a": "two red circles on black"}
    scores = evaluation.bleu_scores(references, hypotheses)
    bp = math.exp(1 - 6 / 5)
    assert scores["bleu1"] == pytest.approx(bp * 4 / 5)
    assert scores["bleu2"] == pytest.approx(bp * math.sqrt(4 / 5 * 3 / 4))
    assert scores["bleu3"] == pytest.approx(bp * (4 / 5 * 3 / 4 * 2 / 3) ** (1 / 3))
    assert scores["bleu4"] == pytest.approx(bp * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** (1 / 4))


def test_tokens_are_stripped_and_references_cleaned_like_hypotheses():
    references = {"a": ["startseq nothing matches here at all endseq", "Two RED circles, on black!"]}
    assert evaluation.bleu_scores(references, {"a": "startseq two red circles on black endseq"})["bleu4"] == pytest.approx(1.0)
    assert evaluation.bleu_scores({"a": ["Two red circles, on black."]}, {"a": "two red circles on black"})["bleu4"] == pytest.approx(1.0)
    assert evaluation.bleu_scores({"a": ["startseq two red circles on black endseq"]},
                                  {"a": "startseq two red circles on black endseq"})["bleu4"] == pytest.approx(1.0)


def test_best_constant_caption_picks_the_best_training_caption():
    references = {"a": ["two red circles on black"], "b": ["two blue circles on black"], "c": ["one red square on white"]}
    caption, score = evaluation.best_constant_caption(
        ["two red circles on black", "one blue square on white", "two blue circles on black"], references)
    assert caption in {"two red circles on black", "two blue circles on black"}
    assert 0 < score < 1
    assert evaluation.percent({"bleu4": 0.12345}) == {"bleu4": 12.3}


def test_a_hypothesis_without_references_is_an_error():
    with pytest.raises(KeyError):
        evaluation.bleu_scores({}, {"a": "two"})
