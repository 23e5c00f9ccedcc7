"""Automatic caption metrics against human judgement (Flickr8k's expert and crowd ratings).

Taught in notebooks/09_metrics_vs_humans.ipynb.

Flickr8k ships two sets of human judgements of image-caption pairs (Hodosh,
Young & Hockenmaier 2013, JAIR 47; columns in the dataset's ``readme.txt``):

* ``ExpertAnnotations.txt``: ``<image>\\t<caption id>\\t<s1>\\t<s2>\\t<s3>``, three
  experts each scoring 1 (the caption does not describe the image) to 4 (it
  describes the image); 5,822 pairs on the 1,000 test images.
* ``CrowdFlowerAnnotations.txt``: ``<image>\\t<caption id>\\t<fraction of yes>\\t<yes>\\t<no>``,
  at least three crowd workers answering "does the caption describe the image?";
  47,830 pairs.

A caption id is ``<image file>#<n>``: caption number ``n`` of *some* image, shown
with the judged image of the first column (usually another image's caption: the
judged pairs came from retrieval systems).

How a judged caption is scored (:func:`references_for`): its references are the
captions of the **judged image** except that image's caption number ``n``. When
the caption is the image's own, this excludes the caption itself (it would
otherwise match itself perfectly); when it is another image's, it keeps four
references for every pair so that scores are comparable (in Flickr8k every
judged caption is a ``#2`` caption, so the references are always the judged
image's captions 0, 1, 3 and 4).

Captions are cleaned like everywhere in the course (:func:`helpers.text.clean_caption`)
and split on spaces. The metrics:

* **BLEU-1 and BLEU-4**, sentence level, NLTK ``sentence_bleu`` with *smoothing
  method 1* of Chen & Cherry (2014): an n-gram precision of zero becomes
  0.1 / (number of n-grams) instead of making the geometric mean zero. Without
  smoothing most single-caption BLEU-4 scores are exactly 0 and cannot be ranked.
* **CIDEr-D**, pycocoevalcap's ``CiderScorer`` (1- to 4-grams, TF-IDF weights,
  clipped counts, Gaussian length penalty with sigma 6, x10), with the IDF
  computed over the **distinct reference sets of the judged set**: one document
  per judged image (pycocoevalcap would otherwise count an image once per
  judged pair, and images are judged between 10 and 123 times).

Finding and reading the judgement files, and writing the results into the run folder, is
:mod:`course.judgement_files`.

Agreement with people is measured by rank correlation (``scipy.stats``:
Spearman's rho and Kendall's tau-b, which handles the many ties of 1-4 scores)
between a metric and the mean expert score, or the crowd's fraction of "yes".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from helpers.text import clean_caption
from helpers.visualization import show_image

METRICS = ("bleu1", "bleu4", "cider_d")
HUMANS = ("expert", "crowd")
METRIC_NAMES = {"bleu1": "BLEU-1", "bleu4": "BLEU-4", "cider_d": "CIDEr-D"}
HUMAN_NAMES = {"expert": "mean expert score (1-4)", "crowd": "crowd: fraction of yes"}


# --- the judgements ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpertJudgement:
    image_id: str
    caption_id: str
    scores: tuple[int, ...]  # three experts, 1-4 each

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores)


@dataclass(frozen=True)
class CrowdJudgement:
    image_id: str
    caption_id: str
    yes: int
    no: int


def split_caption_id(caption_id: str) -> tuple[str, int]:
    """``"123_abc.jpg#2"`` -> ``("123_abc.jpg", 2)``; a ``ValueError`` when it is not ``<image>#<n>``."""
    image_id, hash_sign, number = caption_id.rpartition("#")
    if not hash_sign or not image_id or not number.isdigit():
        raise ValueError(f"{caption_id!r} is not a caption id '<image>#<n>'")
    return image_id, int(number)


def captions_by_image(captions_by_id: dict[str, str]) -> dict[str, dict[int, str]]:
    """``{caption id: caption}`` as ``{image id: {caption number: caption}}``."""
    table: dict[str, dict[int, str]] = {}
    for caption_id, caption in captions_by_id.items():
        try:
            image_id, number = split_caption_id(caption_id)
        except ValueError:
            continue
        table.setdefault(image_id, {})[number] = caption
    return table


def references_for(image_id: str, caption_id: str, captions: dict[str, dict[int, str]]) -> list[str]:
    """The references a judged caption is scored against: the judged image's captions
    (``captions`` from :func:`captions_by_image`) except its caption number ``n`` of
    ``caption_id``, so that a caption is never its own reference."""
    _, number = split_caption_id(caption_id)
    return [caption for n, caption in sorted(captions.get(image_id, {}).items()) if n != number]


# --- the metrics -------------------------------------------------------------------------------


def tokens(caption: str) -> list[str]:
    """A caption as the metrics see it: cleaned (notebook 01's rule), split on spaces."""
    return clean_caption(caption).split()


def sentence_bleu_scores(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, list[float]]:
    """Sentence-level BLEU-1 and BLEU-4 (NLTK, smoothing method 1) of each candidate against its references."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smoothing = SmoothingFunction().method1
    weights = [(1.0, 0, 0, 0), (0.25, 0.25, 0.25, 0.25)]
    bleu1, bleu4 = [], []
    for candidate, refs in zip(candidates, references, strict=True):
        hypothesis = tokens(candidate)
        if not hypothesis:
            bleu1.append(0.0)
            bleu4.append(0.0)
            continue
        one, four = sentence_bleu([tokens(r) for r in refs], hypothesis, weights=weights, smoothing_function=smoothing)
        bleu1.append(float(one))
        bleu4.append(float(four))
    return {"bleu1": bleu1, "bleu4": bleu4}


def cider_d_scores(candidates: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """CIDEr-D (pycocoevalcap) of each candidate, with the IDF over the distinct reference sets.

    pycocoevalcap counts one IDF document per scored item; here every distinct
    reference set counts once, however many candidates are scored against it
    (with all reference sets distinct the two are the same, a test checks it).
    """
    from pycocoevalcap.cider.cider_scorer import CiderScorer, cook_test

    reference_texts = [tuple(" ".join(tokens(r)) for r in refs) for refs in references]
    documents = list(dict.fromkeys(reference_texts))
    if len(documents) < 2:
        raise ValueError("CIDEr-D needs the references of at least two images: its IDF is counted across them")
    idf = CiderScorer()
    for refs in documents:
        idf.cook_append(None, list(refs))
    idf.compute_doc_freq()
    cooked = dict(zip(documents, idf.crefs))  # each distinct reference set cooked once, shared (memory)

    class _Scorer(CiderScorer):
        # compute_cider() sets ref_len = log(number of scored items); keep log(number of documents).
        log_documents = math.log(float(len(documents)))

        @property
        def ref_len(self):
            return self.log_documents

        @ref_len.setter
        def ref_len(self, _value):
            pass

    scorer = _Scorer()
    for candidate, refs in zip(candidates, reference_texts, strict=True):
        scorer.ctest.append(cook_test(" ".join(tokens(candidate))))
        scorer.crefs.append(cooked[refs])
    scorer.document_frequency = idf.document_frequency
    return [float(s) for s in scorer.compute_cider()]


# --- putting it together -----------------------------------------------------------------------


@dataclass
class JudgedPair:
    """One judged image-caption pair with its human judgements and metric scores."""

    image_id: str
    caption_id: str
    caption: str
    references: list[str]
    expert_scores: tuple[int, ...] | None = None
    crowd_yes: int | None = None
    crowd_no: int | None = None
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def own_caption(self) -> bool:
        """Whether the judged caption was written for the judged image."""
        return split_caption_id(self.caption_id)[0] == self.image_id

    def human(self, who: str) -> float | None:
        if who == "expert":
            return None if self.expert_scores is None else sum(self.expert_scores) / len(self.expert_scores)
        if who == "crowd":
            return None if self.crowd_yes is None else self.crowd_yes / (self.crowd_yes + self.crowd_no)
        raise ValueError(f"who must be one of {HUMANS}, not {who!r}")


@dataclass
class Judgements:
    """Every judged pair of one folder, scored; ``skipped`` counts what could not be used."""

    folder: Path
    pairs: list[JudgedPair]
    skipped: Counter
    expert_lines: int
    crowd_lines: int

    def with_human(self, who: str) -> list[JudgedPair]:
        return [p for p in self.pairs if p.human(who) is not None]

    def summary(self) -> str:
        text = (
            f"{self.folder}: {self.expert_lines} expert and {self.crowd_lines} crowd judgements, "
            f"{len(self.pairs)} distinct image-caption pairs scored"
        )
        if self.skipped:
            text += "; skipped: " + ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return text


# --- agreement ---------------------------------------------------------------------------------


def rank_correlation(metric_values: Sequence[float], human_values: Sequence[float]) -> dict[str, float]:
    """Spearman's rho and Kendall's tau-b (with p-values) between two sequences."""
    from scipy import stats

    if len(metric_values) != len(human_values) or len(metric_values) < 3:
        raise ValueError(
            f"need two sequences of the same length >= 3, got {len(metric_values)} and {len(human_values)}"
        )
    rho, rho_p = stats.spearmanr(metric_values, human_values)
    tau, tau_p = stats.kendalltau(metric_values, human_values)
    return {
        "spearman": float(rho),
        "spearman_p": float(rho_p),
        "kendall": float(tau),
        "kendall_p": float(tau_p),
        "n": len(metric_values),
    }


def agreement(judgements: Judgements) -> list[dict]:
    """One row per (human judgement, metric): the rank correlations over the pairs people judged."""
    rows = []
    for who in HUMANS:
        judged = judgements.with_human(who)
        if len(judged) < 3:
            continue
        humans = [p.human(who) for p in judged]
        for metric in METRICS:
            rows.append(
                {"human": who, "metric": metric, **rank_correlation([p.scores[metric] for p in judged], humans)}
            )
    return rows


def expert_agreement(judgements: Judgements) -> dict[str, float]:
    """How far people agree with each other: each expert against the mean of the other two,
    Kendall's tau-b and Spearman's rho averaged over the three experts."""
    judged = judgements.with_human("expert")
    per_expert = []
    for expert in range(3):
        own = [p.expert_scores[expert] for p in judged]
        others = [(sum(p.expert_scores) - p.expert_scores[expert]) / 2 for p in judged]
        per_expert.append(rank_correlation(own, others))
    return {
        "spearman": sum(r["spearman"] for r in per_expert) / 3,
        "kendall": sum(r["kendall"] for r in per_expert) / 3,
        "n": len(judged),
    }


def percentile_ranks(values: Sequence[float]) -> list[float]:
    """Each value's rank as a fraction 0-1 (ties share their average rank)."""
    from scipy.stats import rankdata

    if len(values) < 2:
        return [0.5] * len(values)
    return [float(r) for r in (rankdata(values) - 1) / (len(values) - 1)]


def worst_disagreements(judgements: Judgements, metric: str, who: str = "expert", count: int = 6) -> list[dict]:
    """The pairs where the metric and people disagree most: the largest gap between the metric's
    percentile rank and the people's, half where the metric is too kind, half where it is too harsh."""
    judged = judgements.with_human(who)
    metric_ranks = percentile_ranks([p.scores[metric] for p in judged])
    human_ranks = percentile_ranks([p.human(who) for p in judged])
    rows = [
        {"pair": p, "metric_rank": m, "human_rank": h, "gap": m - h}
        for p, m, h in zip(judged, metric_ranks, human_ranks)
    ]
    too_kind = sorted((r for r in rows if r["gap"] > 0), key=lambda r: -r["gap"])[: (count + 1) // 2]
    too_harsh = sorted((r for r in rows if r["gap"] < 0), key=lambda r: r["gap"])[: count // 2]
    return too_kind + too_harsh


# --- pictures and files ------------------------------------------------------------------------


def _jitter(values: Sequence[float], spread: float, seed: int = 0) -> list[float]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return list(np.asarray(values, dtype=float) + rng.uniform(-spread, spread, len(values)))


def plot_metric_vs_human(judgements: Judgements, who: str = "expert", metrics: Sequence[str] = METRICS):
    """Scatter plots, one per metric: metric score (x) against the human judgement (y, jittered
    so that the many equal scores do not hide each other); own captions in another colour."""
    import matplotlib.pyplot as plt

    judged = judgements.with_human(who)
    correlations = {r["metric"]: r for r in agreement(judgements) if r["human"] == who}
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    humans = _jitter([p.human(who) for p in judged], 0.12 if who == "expert" else 0.02)
    own = [p.own_caption for p in judged]
    for axis, metric in zip(axes[0], metrics):
        xs = [p.scores[metric] for p in judged]
        for is_own, colour, label in (
            (False, "tab:gray", "another image's caption"),
            (True, "tab:blue", "own caption"),
        ):
            axis.scatter(
                [x for x, o in zip(xs, own) if o == is_own],
                [h for h, o in zip(humans, own) if o == is_own],
                s=6 if len(judged) > 2000 else 14,
                alpha=0.35 if len(judged) > 2000 else 0.7,
                color=colour,
                label=label,
                linewidths=0,
            )
        rho = correlations.get(metric, {}).get("spearman", float("nan"))
        axis.set_title(f"{METRIC_NAMES[metric]}  (Spearman rho {rho:.2f})", fontsize=10)
        axis.set_xlabel(METRIC_NAMES[metric])
    axes[0][0].set_ylabel(HUMAN_NAMES[who])
    axes[0][-1].legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return figure


def disagreement_figure(rows: Sequence[dict], metric: str, image_paths: Sequence[Path]):
    """The disagreements of :func:`worst_disagreements` whose image is at hand, as pictures titled
    with the judged caption, the metric's score and the people's."""
    import matplotlib.pyplot as plt

    columns = min(3, len(rows))
    lines = (len(rows) + columns - 1) // columns
    figure, axes = plt.subplots(lines, columns, figsize=(4.6 * columns, 4.4 * lines), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, row, path in zip(axes.flat, rows, image_paths):
        pair = row["pair"]
        show_image(axis, path)  # upright; a file that cannot be shown gets its reason instead
        verdict = "metric too kind" if row["gap"] > 0 else "metric too harsh"
        people = pair.human("expert")
        people_text = f"experts {people:.1f}/4" if people is not None else f"crowd {pair.human('crowd'):.0%} yes"
        axis.set_title(
            f"{verdict}: {METRIC_NAMES[metric]} {pair.scores[metric]:.2f}, {people_text}\n" + _wrap(pair.caption, 48),
            fontsize=8,
            loc="left",
        )
    figure.tight_layout()
    return figure


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:3])


def agreement_markdown(agreement_rows: Iterable[dict]) -> str:
    """The agreement rows as a markdown table (metric x human judgement)."""
    lines = ["| metric | people | Spearman rho | Kendall tau | pairs |", "|---|---|---:|---:|---:|"]
    for row in agreement_rows:
        lines.append(
            f"| {METRIC_NAMES[row['metric']]} | {HUMAN_NAMES[row['human']]} | {row['spearman']:.3f} "
            f"| {row['kendall']:.3f} | {row['n']} |"
        )
    return "\n".join(lines)
