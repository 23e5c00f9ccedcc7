"""helpers.judgements: Flickr8k's human judgements, the excluded-self rule, the metrics, the agreement."""

import csv
import json
import subprocess
import sys
from collections import Counter

import pytest

from course import judgement_files, paths
from helpers import judgements


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


TOKENS = [
    "a.jpg#0\tA dog runs on the grass.",
    "a.jpg#1\tA brown dog is running.",
    "a.jpg#2\tThe dog runs in a field.",
    "a.jpg#3\tA dog running outside.",
    "a.jpg#4\tA happy dog on the grass.",
    "b.jpg#0\tTwo children play in the snow.",
    "b.jpg#1\tKids playing in snow.",
    "b.jpg#2\tTwo kids throw snowballs.",
    "b.jpg#3\tChildren in the snow.",
    "b.jpg#4\tTwo children outside in winter.",
    "c.jpg#0\tA man rides a bike.",
    "c.jpg#1\tA cyclist on a road.",
    "c.jpg#2\tA man on a bicycle.",
    "c.jpg#3\tA person cycling.",
    "c.jpg#4\tA man riding his bike down the road.",
]


@pytest.fixture
def tiny(tmp_path):
    write(tmp_path / judgement_files.TOKEN_FILE, TOKENS)
    write(
        tmp_path / judgement_files.EXPERT_FILE,
        [
            "a.jpg\ta.jpg#2\t4\t4\t3",
            "a.jpg\tb.jpg#2\t1\t1\t1",
            "b.jpg\tb.jpg#2\t4\t4\t4",
            "c.jpg\tc.jpg#2\t4\t3\t4",
            "c.jpg\ta.jpg#2\t1\t2\t1",
        ],
    )
    write(
        tmp_path / judgement_files.CROWD_FILE,
        [
            "a.jpg\ta.jpg#2\t1\t3\t0",
            "b.jpg\tc.jpg#2\t0\t0\t3",
            "c.jpg\ta.jpg#2\t0.333333333333333\t1\t2",
        ],
    )
    return tmp_path


# --- parsing -----------------------------------------------------------------------------------


def test_expert_and_crowd_lines_are_parsed_into_their_columns(tiny):
    experts = judgement_files.read_expert_judgements(tiny / judgement_files.EXPERT_FILE)
    assert experts[0] == judgements.ExpertJudgement("a.jpg", "a.jpg#2", (4, 4, 3))
    assert experts[0].mean == pytest.approx(11 / 3)
    crowd = judgement_files.read_crowd_judgements(tiny / judgement_files.CROWD_FILE)
    assert crowd[2] == judgements.CrowdJudgement("c.jpg", "a.jpg#2", 1, 2)


def test_bad_lines_are_skipped_with_a_count_and_an_unusable_file_is_an_error_naming_it(tmp_path):
    path = write(
        tmp_path / "ExpertAnnotations.txt",
        [
            "a.jpg\ta.jpg#2\t4\t4\t3",
            "a.jpg\ta.jpg#2\t4\t4",  # a field short
            "a.jpg\ta.jpg\t4\t4\t4",  # no caption number
            "a.jpg\tb.jpg#2\t5\t1\t1",  # 5 is not a 1-4 score
        ],
    )
    skipped = Counter()
    assert len(judgement_files.read_expert_judgements(path, skipped)) == 1
    assert sum(skipped.values()) == 3
    crowd = write(tmp_path / "CrowdFlowerAnnotations.txt", ["a.jpg\ta.jpg#2\t1\t1\t2", "a.jpg\ta.jpg#2\tx\t1\t2"])
    with pytest.raises(ValueError, match="CrowdFlowerAnnotations.txt: no usable"):
        judgement_files.read_crowd_judgements(crowd)
    with pytest.raises(FileNotFoundError, match="nothing.txt"):
        judgement_files.read_expert_judgements(tmp_path / "nothing.txt")


def test_a_folder_without_the_judgement_files_is_an_error_naming_what_is_missing(tmp_path):
    write(tmp_path / judgement_files.EXPERT_FILE, ["a.jpg\ta.jpg#2\t4\t4\t3"])
    with pytest.raises(FileNotFoundError, match="CrowdFlowerAnnotations.txt, Flickr8k.token.txt"):
        judgement_files.find_judgements_dir(tmp_path)
    assert judgement_files.find_judgements_dir("fixture") == judgement_files.FIXTURE_DIR


def test_the_real_files_parse_completely(shared_text):
    skipped = Counter()
    experts = judgement_files.read_expert_judgements(shared_text / judgement_files.EXPERT_FILE, skipped)
    crowd = judgement_files.read_crowd_judgements(shared_text / judgement_files.CROWD_FILE, skipped)
    assert not skipped
    assert len(experts) == 5822 and len(crowd) == 47830
    assert len({e.image_id for e in experts}) == 1000 and len({c.image_id for c in crowd}) == 1000
    assert Counter(s for e in experts for s in e.scores) == {1: 9797, 2: 4997, 3: 1701, 4: 971}
    assert all(c.yes + c.no >= 3 for c in crowd)
    assert sum(e.caption_id.rpartition("#")[0] == e.image_id for e in experts) == 158


# --- the excluded-self rule --------------------------------------------------------------------


def test_a_judged_caption_is_never_among_its_own_references():
    captions = judgements.captions_by_image(dict(line.split("\t") for line in TOKENS))
    own = judgements.references_for("a.jpg", "a.jpg#2", captions)
    assert "The dog runs in a field." not in own
    assert own == [
        "A dog runs on the grass.",
        "A brown dog is running.",
        "A dog running outside.",
        "A happy dog on the grass.",
    ]
    # Another image's caption: the judged image's caption with the same number is left out too (4 references).
    assert judgements.references_for("a.jpg", "b.jpg#2", captions) == own
    assert len(judgements.references_for("a.jpg", "b.jpg#0", captions)) == 4


def test_an_own_caption_scored_against_itself_would_be_perfect_but_is_not(tiny):
    loaded = judgement_files.load_judgements(tiny)
    pair = next(p for p in loaded.pairs if p.image_id == "a.jpg" and p.caption_id == "a.jpg#2")
    assert pair.caption not in pair.references and len(pair.references) == 4
    assert pair.scores["bleu4"] < 1.0
    with_self = judgements.sentence_bleu_scores([pair.caption], [pair.references + [pair.caption]])
    assert with_self["bleu4"][0] == pytest.approx(1.0)


def test_pairs_judged_by_both_experts_and_crowd_are_merged(tiny):
    loaded = judgement_files.load_judgements(tiny)
    assert loaded.expert_lines == 5 and loaded.crowd_lines == 3
    assert len(loaded.pairs) == 6  # 5 expert pairs + 1 crowd-only (b.jpg, c.jpg#2); two are in both
    both = next(p for p in loaded.pairs if (p.image_id, p.caption_id) == ("c.jpg", "a.jpg#2"))
    assert both.human("expert") == pytest.approx(4 / 3) and both.human("crowd") == pytest.approx(1 / 3)
    crowd_only = next(p for p in loaded.pairs if p.caption_id == "c.jpg#2" and p.image_id == "b.jpg")
    assert crowd_only.human("expert") is None and not crowd_only.own_caption


# --- the metrics -------------------------------------------------------------------------------


def test_cider_d_with_distinct_reference_sets_equals_pycocoevalcap():
    from pycocoevalcap.cider.cider import Cider

    captions = judgements.captions_by_image(dict(line.split("\t") for line in TOKENS))
    candidates = ["a dog runs in a field", "two kids in the snow", "a man on a bike"]
    references = [judgements.references_for(i, f"{i}#2", captions) for i in ("a.jpg", "b.jpg", "c.jpg")]
    ours = judgements.cider_d_scores(candidates, references)
    clean = lambda c: " ".join(judgements.tokens(c))  # noqa: E731
    _, theirs = Cider().compute_score(
        {k: [clean(r) for r in refs] for k, refs in enumerate(references)},
        {k: [clean(c)] for k, c in enumerate(candidates)},
    )
    assert ours == pytest.approx(list(theirs))


def test_cider_d_counts_each_reference_set_once_for_the_idf():
    refs = [["a dog runs on grass", "a brown dog runs"], ["two kids in snow", "children play in snow"]]
    once = judgements.cider_d_scores(["a dog runs", "kids in snow"], refs)
    # Scoring more candidates against the first set does not change the second candidate's score.
    repeated = judgements.cider_d_scores(
        ["a dog runs", "a dog", "dog runs", "kids in snow"], [refs[0], refs[0], refs[0], refs[1]]
    )
    assert repeated[0] == pytest.approx(once[0]) and repeated[3] == pytest.approx(once[1])


def test_smoothed_sentence_bleu4_ranks_captions_without_a_4gram_match():
    refs = [["a dog runs on the grass", "a brown dog is running"]] * 2
    scores = judgements.sentence_bleu_scores(["a dog runs", "the cat sleeps"], refs)
    assert 0 < scores["bleu4"][1] < scores["bleu4"][0] < 1  # unsmoothed, both would be exactly 0


def test_rank_correlation_signs_and_worst_disagreements(tiny):
    assert judgements.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40])["spearman"] == pytest.approx(1)
    assert judgements.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1])["kendall"] == pytest.approx(-1)
    loaded = judgement_files.load_judgements(tiny)
    rows = judgements.worst_disagreements(loaded, "bleu4", "expert", count=2)
    assert len(rows) == 2 and rows[0]["gap"] > 0 > rows[1]["gap"]


# --- the fixture and the results files ---------------------------------------------------------


@pytest.mark.course  # starts a fresh Python process
def test_the_committed_fixture_is_what_its_script_makes(tmp_path):
    result = subprocess.run(
        [sys.executable, "scripts/make_judgements_fixture.py", "--out", str(tmp_path)],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    for name in (judgement_files.EXPERT_FILE, judgement_files.CROWD_FILE, judgement_files.TOKEN_FILE):
        assert (tmp_path / name).read_text() == (judgement_files.FIXTURE_DIR / name).read_text(), name


def test_on_the_fixture_every_metric_agrees_with_the_made_up_people(tmp_path):
    loaded = judgement_files.load_judgements("fixture")
    assert not loaded.skipped and loaded.expert_lines == 96 and loaded.crowd_lines == 144
    rows = judgements.agreement(loaded)
    assert {(r["human"], r["metric"]) for r in rows} == {(h, m) for h in judgements.HUMANS for m in judgements.METRICS}
    assert all(r["spearman"] > 0.2 for r in rows), rows
    scores_path, agreement_path = judgement_files.write_results(
        tmp_path, loaded, rows, judgements.expert_agreement(loaded)
    )
    with open(scores_path, newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(loaded.pairs) and set(judgements.METRICS) <= set(table[0])
    saved = json.loads(agreement_path.read_text())
    assert saved["synthetic_fixture"] is True and len(saved["agreement"]) == 6


@pytest.mark.course  # end to end, slow: 51,323 real judged pairs
def test_on_the_real_judgements_every_metric_agrees_with_people_but_less_than_people_do(shared_text):
    loaded = judgement_files.load_judgements(shared_text)
    assert not loaded.skipped and len(loaded.pairs) == 51323  # 5,822 + 47,830 minus 2,329 judged by both
    rows = {(r["human"], r["metric"]): r for r in judgements.agreement(loaded)}
    for row in rows.values():
        assert row["spearman"] > 0.15 and row["kendall"] > 0.1 and row["spearman_p"] < 1e-6, row
    experts = judgements.expert_agreement(loaded)
    assert all(experts["spearman"] > r["spearman"] for r in rows.values())
    assert rows[("expert", "cider_d")]["spearman"] > rows[("expert", "bleu4")]["spearman"]
    # Three judged captions are word for word one of their references: a sentence people wrote twice, not itself.
    same_text = [p for p in loaded.pairs if p.caption in p.references]
    assert len(same_text) == 3 and sum(p.own_caption for p in same_text) == 1
    own = [p.scores["cider_d"] for p in loaded.pairs if p.own_caption]
    others = [p.scores["cider_d"] for p in loaded.pairs if not p.own_caption]
    assert sum(own) / len(own) > 2 * sum(others) / len(others)
