import math

import pytest

from helpers import evaluation


def test_bleu_matches_a_hand_computed_value():
    # hypothesis "two red circles on black" (c = 5 words); one reference "two red circles on white background" (r = 6)
    # 1-grams of the hypothesis: two red circles on black            -> 4 of 5 in the reference: p1 = 4/5
    # 2-grams: two red | red circles | circles on | on black         -> 3 of 4:                  p2 = 3/4
    # 3-grams: two red circles | red circles on | circles on black   -> 2 of 3:                  p3 = 2/3
    # 4-grams: two red circles on | red circles on black             -> 1 of 2:                  p4 = 1/2
    # brevity penalty, c < r: BP = exp(1 - r / c) = exp(1 - 6/5) = exp(-0.2) = 0.818731
    # BLEU-1 = BP * p1                        = 0.818731 * 0.8                    = 0.654985
    # BLEU-2 = BP * (p1 p2) ** (1/2)          = 0.818731 * 0.6 ** 0.5  (0.774597) = 0.634186
    # BLEU-3 = BP * (p1 p2 p3) ** (1/3)       = 0.818731 * 0.4 ** (1/3) (0.736806) = 0.603246
    # BLEU-4 = BP * (p1 p2 p3 p4) ** (1/4)    = 0.818731 * 0.2 ** 0.25 (0.668740) = 0.547518
    references = {"a": ["startseq two red circles on white background endseq"]}
    hypotheses = {"a": "two red circles on black"}
    scores = evaluation.bleu_scores(references, hypotheses)
    assert scores["bleu1"] == pytest.approx(0.654985, abs=1e-6)
    assert scores["bleu2"] == pytest.approx(0.634186, abs=1e-6)
    assert scores["bleu3"] == pytest.approx(0.603246, abs=1e-6)
    assert scores["bleu4"] == pytest.approx(0.547518, abs=1e-6)
    bp = math.exp(1 - 6 / 5)  # the same, as a formula
    assert scores["bleu4"] == pytest.approx(bp * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** (1 / 4))


def test_tokens_are_stripped_and_references_cleaned_like_hypotheses():
    references = {"a": ["startseq nothing matches here at all endseq", "Two RED circles, on black!"]}
    assert evaluation.bleu_scores(references, {"a": "startseq two red circles on black endseq"})[
        "bleu4"
    ] == pytest.approx(1.0)
    assert evaluation.bleu_scores({"a": ["Two red circles, on black."]}, {"a": "two red circles on black"})[
        "bleu4"
    ] == pytest.approx(1.0)
    assert evaluation.bleu_scores(
        {"a": ["startseq two red circles on black endseq"]}, {"a": "startseq two red circles on black endseq"}
    )["bleu4"] == pytest.approx(1.0)


def test_best_constant_caption_picks_the_best_training_caption():
    references = {
        "a": ["two red circles on black"],
        "b": ["two blue circles on black"],
        "c": ["one red square on white"],
    }
    caption, score = evaluation.best_constant_caption(
        ["two red circles on black", "one blue square on white", "two blue circles on black"], references
    )
    assert caption in {"two red circles on black", "two blue circles on black"}
    assert 0 < score < 1
    assert evaluation.percent({"bleu4": 0.12345}) == {"bleu4": 12.3}


def test_best_constant_caption_agrees_with_nltk_tried_on_every_candidate():
    """The factored search must pick what brute force over NLTK's corpus_bleu picks (sample captions)."""
    import warnings

    from nltk.translate.bleu_score import corpus_bleu

    from helpers.datasets import load_dataset

    sample = load_dataset("sample")
    references = {i: sample.captions_by_image[i] for i in sample.splits["test"][:30]}
    candidates = [c for i in sample.splits["train"][:60] for c in sample.captions_by_image[i]]
    refs = [[evaluation._tokens(r) for r in rs] for rs in references.values()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        brute = {
            c: corpus_bleu(refs, [c.split()] * len(refs)) for c in {evaluation.clean_for_scoring(c) for c in candidates}
        }
    caption, score = evaluation.best_constant_caption(candidates, references, rescore=1)
    assert score == pytest.approx(max(brute.values()))
    assert brute[caption] == pytest.approx(score)


def test_a_hypothesis_without_references_is_an_error():
    with pytest.raises(KeyError):
        evaluation.bleu_scores({}, {"a": "two"})


REFERENCES = {
    "a": ["startseq two red circles on white background endseq", "Two red circles, on white."],
    "b": ["startseq one blue square on black endseq", "one big blue square"],
    "c": ["startseq three green triangles endseq", "three small green triangles on grey"],
}
PERFECT = {"a": "two red circles on white", "b": "one blue square on black", "c": "three green triangles"}
POOR = {"a": "one blue square", "b": "two red circles on white", "c": "three green triangles"}


def test_cider_d_rewards_consensus_per_image_and_overall():
    perfect, perfect_per_image = evaluation.cider_d(REFERENCES, PERFECT)
    poor, poor_per_image = evaluation.cider_d(REFERENCES, POOR)
    assert set(perfect_per_image) == set(REFERENCES)
    assert perfect > poor > 0
    assert poor_per_image["a"] == pytest.approx(0.0) and poor_per_image["c"] == pytest.approx(perfect_per_image["c"])
    assert perfect == pytest.approx(sum(perfect_per_image.values()) / 3)
    # the same cleaning as BLEU: tokens and punctuation do not matter
    assert evaluation.cider_d(REFERENCES, {k: f"startseq {v}. endseq" for k, v in PERFECT.items()})[0] == pytest.approx(
        perfect
    )


def test_without_java_meteor_is_left_out_with_a_message(monkeypatch):
    monkeypatch.setattr(evaluation.shutil, "which", lambda name: None)
    said = []
    result = evaluation.caption_scores(REFERENCES, PERFECT, say=said.append)
    assert "meteor" not in result["scores"] and "meteor" not in result["per_image"]
    assert {"bleu1", "bleu2", "bleu3", "bleu4", "cider"} <= set(result["scores"])
    assert any("METEOR left out" in n and "Java" in n for n in result["notes"])
    assert said and "Java" in said[0]
    with pytest.raises(evaluation.MetricUnavailable, match="Java"):
        evaluation.meteor(REFERENCES, PERFECT)


def test_a_java_that_fails_leaves_meteor_out_too(monkeypatch, tmp_path):
    fake_java = tmp_path / "java"
    fake_java.write_text("#!/bin/sh\nexit 3\n")
    fake_java.chmod(0o755)
    monkeypatch.setattr(evaluation.shutil, "which", lambda name: str(fake_java))
    result = evaluation.caption_scores(REFERENCES, PERFECT, say=None)
    assert "meteor" not in result["scores"]
    assert any("exit code 3" in n for n in result["notes"])


@pytest.mark.course  # end to end, slow: starts METEOR's JVM
def test_meteor_through_java():
    if not evaluation.java_status()[0]:
        pytest.skip("no working Java here: METEOR cannot run (the missing-Java path is tested above)")
    result = evaluation.caption_scores(REFERENCES, PERFECT, say=None)
    poor, poor_per_image = evaluation.meteor(REFERENCES, POOR)
    assert 0 < poor < result["scores"]["meteor"] <= 1
    assert set(result["per_image"]["meteor"]) == set(REFERENCES)
    assert poor_per_image["c"] == pytest.approx(result["per_image"]["meteor"]["c"])


@pytest.mark.course  # starts METEOR's JVM
def test_a_meteor_session_starts_java_once_and_gives_the_same_scores(monkeypatch):
    if not evaluation.java_status()[0]:
        pytest.skip("no working Java here: METEOR cannot run (the missing-Java path is tested above)")
    alone = [evaluation.meteor(REFERENCES, captions) for captions in (PERFECT, POOR)]
    started = []
    real_scorer = evaluation._meteor_scorer
    monkeypatch.setattr(evaluation, "_meteor_scorer", lambda: started.append(1) or real_scorer())
    with evaluation.meteor_session():
        shared = [evaluation.meteor(REFERENCES, captions) for captions in (PERFECT, POOR)]
        process = evaluation._METEOR_SESSION[-1].meteor_p
        assert process.poll() is None, "the Java process stays up between calls"
    assert len(started) == 1 and process.poll() is not None and not evaluation._METEOR_SESSION
    for (score, per_image), (score_alone, per_image_alone) in zip(shared, alone):
        assert score == pytest.approx(score_alone) and per_image == pytest.approx(per_image_alone)


def test_comparison_table_places_the_run_beside_published_figures():
    rows = evaluation.comparison_rows({"greedy": {"bleu1": 0.5, "bleu4": 0.123, "cider": 0.9}}, "sample")
    assert rows[0]["model"] == "this run, greedy" and rows[0]["bleu4"] == 12.3 and rows[0]["meteor"] is None
    soft = next(r for r in rows if "soft" in r["model"])
    assert (soft["bleu1"], soft["bleu4"], soft["meteor"]) == (67.0, 19.5, 18.93)
    table = evaluation.comparison_markdown(rows)
    assert table.count("\n") == len(rows) + 1 and "| this run, greedy | sample | 50.0 |" in table and "—" in table
    assert "not comparable" in evaluation.PUBLISHED_CAVEAT


def test_word_usage_best_and_worst_and_lengths():
    usage = evaluation.word_usage(POOR, REFERENCES)
    assert usage["distinct_generated"] == 11 and usage["generated_not_in_references"] == []
    assert usage["distinct_references"] > usage["distinct_generated"]
    best, worst = evaluation.best_and_worst({"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.5}, count=2)
    assert best == ["b", "c"] and worst == ["a", "d"]
    assert evaluation.caption_lengths(["startseq two red circles endseq", "a b big"]) == [3, 1]


def test_meteor_starts_java_with_a_capped_heap(monkeypatch):
    """pycocoevalcap runs `java -jar -Xmx2G`, which alone would fill Binder's 2 GB: the course caps it."""
    started = []

    def fake_popen(command, **kwargs):
        started.append(command)
        raise OSError("not really starting java")

    monkeypatch.setattr(evaluation, "java_status", lambda: (True, "java 17"))
    monkeypatch.setattr(evaluation.subprocess, "Popen", fake_popen)
    with pytest.raises(evaluation.MetricUnavailable, match="could not start Java"):
        evaluation.meteor(REFERENCES, PERFECT)
    assert started and started[0][:3] == ["java", "-jar", f"-Xmx{evaluation.METEOR_JAVA_HEAP}"]
    assert "-Xmx2G" not in started[0] and started[0][4].endswith("meteor-1.5.jar")
    assert started[0][3] == "-XX:+UseSerialGC", "a heap near what METEOR uses, not grown towards the cap"
    assert evaluation.METEOR_JAVA_HEAP == "768m"


def test_bleu_keeping_short_words_counts_the_missing_a():
    references = {"x": ["A dog runs on a beach"]}
    telegraphic = {"x": "dog runs on beach"}
    dropped = evaluation.bleu_scores(references, telegraphic)
    kept = evaluation.bleu_scores(references, telegraphic, keep_short_words=True)
    assert dropped["bleu1"] == pytest.approx(1.0)  # "a" is gone on both sides
    assert kept["bleu1"] < dropped["bleu1"]  # the reference keeps "a", the caption lacks it: brevity penalty
    assert evaluation.clean_for_scoring("startseq A dog endseq", keep_short_words=True) == "a dog"


# ---- nearest-neighbour retrieval (Devlin et al. 2015) ----------------------------------------------------------


def test_the_consensus_caption_is_the_one_the_others_agree_with():
    pool = [
        "startseq a dog runs on the grass endseq",
        "a dog runs on grass",
        "a brown dog runs on the grass",
        "two people at a table eating lunch",
        "a dog is running on the green grass",
    ]
    assert evaluation.consensus_caption(pool) == "dog runs on the grass"  # cleaned: one-letter words go
    assert evaluation.consensus_caption(["only one caption"]) == "only one caption"
    assert evaluation.consensus_caption([]) == ""


def test_retrieval_takes_the_captions_of_the_most_similar_training_images():
    import numpy as np

    train = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.2], [0, 0, 1]], dtype="float32")
    captions = [
        ["red circle on white"],
        ["red circle on white", "red disc"],
        ["blue square"],
        ["blue square on black"],
        ["green triangle"],
    ]
    queries = np.array([[2, 0.1, 0], [0, 3, 0.1], [0, 0, 5]], dtype="float32")  # cosine: the scale does not count
    neighbours = evaluation.nearest_training_images(queries, train, k=2)
    assert neighbours.tolist() == [[0, 1], [2, 3], [4, 3]]
    assert evaluation.retrieval_captions(queries, train, captions, k=2) == [
        "red circle on white",
        "blue square on black",
        "green triangle",
    ]
    assert evaluation.retrieval_captions(queries, train, captions, k=1)[1] == "blue square"
    with pytest.raises(ValueError, match="caption lists"):
        evaluation.retrieval_captions(queries, train, captions[:2])
