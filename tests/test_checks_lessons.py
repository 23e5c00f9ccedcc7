"""The exercise checks of notebooks 00, 01, 09 and 10 that need no trained model (``course.checks_NN``): the
solution passes, each usual slip gets its hint, and no message holds the expected answer."""

import string
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from course import checks_00, checks_01, checks_09, checks_10
from helpers import attention_maps, judgements

# ------------------------------------------------------------------------------------------------ 00


PLAN = ["01_text_cleaning.ipynb", "02_lookup_table.ipynb", "04_word_embeddings.ipynb"]


def test_00_the_plan_follows_the_map_back_from_the_file():
    assert checks_00.notebooks_for("embedding_matrix.npy") == PLAN
    assert checks_00.notebooks_for("model.keras")[-1] == "06_training.ipynb"
    assert "plan" not in checks_00.check_plan(PLAN, "embedding_matrix.npy")


@pytest.mark.parametrize(
    ("plan", "hint"),
    [
        ("01_text_cleaning.ipynb", "a list of notebook file names"),
        (["01_text_cleaning.ipynb", "04_embeddings.ipynb"], "not a notebook of the course"),
        (PLAN[:2], "none of your notebooks writes"),
        (PLAN[::-1], "not in course order"),
        (PLAN[1:], "02_lookup_table.ipynb reads captions_clean.json"),
        (sorted([*PLAN, "03_feature_extraction.ipynb"]), "03_feature_extraction.ipynb writes nothing that leads"),
        ([*PLAN, PLAN[0]], "comes twice"),
    ],
)
def test_00_each_wrong_plan_gets_its_hint(plan, hint):
    with pytest.raises(AssertionError) as error:
        checks_00.check_plan(plan, "embedding_matrix.npy")
    assert hint in str(error.value), str(error.value)
    assert str(PLAN) not in str(error.value)


# ------------------------------------------------------------------------------------------------ 01


def hyphen_clean(caption):
    words = caption.replace("-", " ").translate(str.maketrans("", "", string.punctuation)).lower().split()
    return " ".join(word for word in words if word.isalpha() and len(word) > 1)


def test_01_the_hyphen_rule_passes_and_counts_the_changed_captions():
    verdict = checks_01.check_hyphen_cleaning(hyphen_clean, ["a black-and-white dog", "two dogs"])
    assert "(1 of 2 captions change)" in verdict
    assert checks_01.reference("a black-and-white dog") == "black and white dog"


@pytest.mark.parametrize(
    ("slip", "hint"),
    [
        (lambda caption: " ".join(caption.lower().split()), "on a caption without a hyphen"),
        (lambda caption: hyphen_clean(caption.replace("-", "")), "joins the hyphenated words"),
        (lambda caption: hyphen_clean(caption).upper(), "on a caption without a hyphen"),
        (lambda caption: hyphen_clean(caption).split(), "returns a string"),
        (lambda caption: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_01_each_slip_gets_its_hint_and_never_the_expected_cleaning(slip, hint):
    with pytest.raises(AssertionError) as error:
        checks_01.check_hyphen_cleaning(slip, ["a black-and-white dog"])
    message = str(error.value)
    assert hint in message, message
    assert "black and white" not in message and "dogs ball times" not in message


# ------------------------------------------------------------------------------------------------ 09


def judged_pairs():
    rows = [
        ("a dog runs on the grass", ["a dog runs", "the dog is on grass"], 4),
        ("a cat sleeps", ["a dog runs on grass", "dog on the grass"], 1),
        ("two dogs dogs play", ["two dogs play in the snow", "dogs in snow"], 3),
        ("a man rides a bike", ["a man on a bicycle", "a person rides a bike"], 3),
        ("snow", ["two dogs play in the snow"], 2),
    ]
    pairs = []
    for n, (caption, references, expert) in enumerate(rows):
        scores = judgements.sentence_bleu_scores([caption], [references])
        pairs.append(
            judgements.JudgedPair(
                f"{n}.jpg",
                f"{n}.jpg#0",
                caption,
                references,
                expert_scores=(expert,) * 3,
                scores={"bleu1": scores["bleu1"][0]},
            )
        )
    return judgements.Judgements(Path("."), pairs, Counter(), len(pairs), 0)


def test_09_the_word_precision_passes_and_is_compared_with_bleu1():
    assert checks_09.word_precision("two dogs dogs play", ["two dogs play"]) == 1.0
    assert checks_09.word_precision("", ["a dog"]) == 0.0
    verdict = checks_09.check_my_metric(checks_09.word_precision, judged_pairs())
    assert "than BLEU-1 (Spearman rho" in verdict


@pytest.mark.parametrize(
    ("slip", "hint"),
    [
        (lambda caption, references: 0.5, "the same score"),
        (checks_09._clipped, "you clip the counts"),
        (checks_09._recall, "that is recall"),
        (lambda caption, references: len(caption), "differs from the rule"),
        (lambda caption, references: [1.0], "one number"),
    ],
)
def test_09_each_slip_gets_its_hint(slip, hint):
    with pytest.raises(AssertionError) as error:
        checks_09.check_my_metric(slip, judged_pairs())
    assert hint in str(error.value), str(error.value)


# ------------------------------------------------------------------------------------------------ 10


def box_ratio(attention_map, box, image_size):
    coverage = attention_maps.box_coverage(box, image_size, attention_map.shape)
    return (attention_map * coverage).sum() / attention_map.sum() / coverage.mean()


MAPS = [np.random.default_rng(seed).dirichlet(np.ones(35)).reshape(5, 7) for seed in range(2)]


def test_10_the_box_ratio_passes_and_a_uniform_map_gives_one():
    assert "a uniform map gives 1" in checks_10.check_box_ratio(box_ratio, MAPS)
    assert np.isclose(box_ratio(np.ones((5, 7)), checks_10.BOX_TESTS[0], 128), 1.0)


def whole_cells(attention_map, box, image_size):
    touched = (attention_maps.box_coverage(box, image_size, attention_map.shape) > 0).astype(float)
    return (attention_map * touched).sum() / attention_map.sum() / touched.mean()


@pytest.mark.parametrize(
    ("slip", "hint"),
    [
        (
            lambda m, box, size: box_ratio(m, box, size) * attention_maps.box_coverage(box, size, m.shape).mean(),
            "divide it by the box's share",
        ),
        (lambda m, box, size: box_ratio(m, [box[1], box[0], box[3], box[2]], size), "swapped"),
        (whole_cells, "as a whole cell"),
        (lambda m, box, size: box_ratio(m, box, size) + 1, "differs from section 7's"),
        (lambda m, box, size: m[0], "one number"),
    ],
)
def test_10_each_box_ratio_slip_gets_its_hint(slip, hint):
    with pytest.raises(AssertionError) as error:
        checks_10.check_box_ratio(slip, MAPS)
    assert hint in str(error.value), str(error.value)


def test_the_causal_mask_check_hints_without_stating_the_rule():
    from course import checks_11
    from helpers.transformer import causal_mask

    assert "sees itself" in checks_11.check_causal_mask(causal_mask(7))
    for wrong, hint in ((causal_mask(7).T, "swapped"), (np.ones((7, 7), bool), "not the causal mask yet")):
        with pytest.raises(AssertionError, match=hint) as raised:
            checks_11.check_causal_mask(wrong)
        assert "j <=" not in str(raised.value) and "lower triangle" not in str(raised.value)
