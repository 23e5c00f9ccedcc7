"""Scoring generated captions: BLEU, METEOR and CIDEr-D, and what they mean.

Taught in notebooks/08_evaluation_and_visualization.ipynb.

Every metric sees the same words: captions are cleaned exactly like the
training captions (``helpers.text.clean_caption``) with start, stop and padding
tokens stripped, on both sides — generated captions and references alike.

BLEU-1..4
    n-gram precision (runs of 1..n words, clipped by the references) combined by
    a geometric mean, times a brevity penalty. Computed at *corpus level* (NLTK
    ``corpus_bleu``: n-gram matches summed over all test images before dividing),
    *without smoothing*: at corpus level a zero count is rare and means a real
    failure, so no smoothing hides it.
CIDEr-D
    consensus with the references: TF-IDF weighted n-gram (1-4) vectors, cosine
    similarity, clipped counts and a length penalty (``pycocoevalcap``'s ``Cider``,
    which implements CIDEr-D, sigma 6). The IDF comes from the references of the
    evaluated images, so it depends on the test set. Its scale is 0-10 (x10
    built in); tables usually show it x100 like the others.
METEOR
    unigram matches with stemming and synonyms (WordNet), recall-weighted, with a
    fragmentation penalty (``pycocoevalcap``'s METEOR 1.5, a Java program). When
    Java is missing or fails, METEOR is left out with a message — never a crash.
SPICE
    left out: it downloads a Stanford parser at run time.

Scores are on the 0-1 scale (CIDEr-D 0-10) in ``scores.json``; :func:`percent`
gives x100 for tables.

The *best constant caption* is the honest trivial baseline: the one training
caption that scores best when it is used for every test image. A model that
does not beat it has not learned to look at the images.

*Nearest-neighbour retrieval* (Devlin et al. 2015, "Exploring nearest neighbor
approaches for image captioning") is the baseline that looks but does not
write: find the ``k`` training images whose features are most similar to the
test image's (cosine similarity), pool their captions, and return the
*consensus* caption — the one with the highest mean BLEU against the others
(:func:`retrieval_captions`, :func:`consensus_caption`). A model that does not
beat it has learned to recognise images but not to describe new ones.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import threading
import warnings
from collections import Counter
from collections.abc import Iterable

from helpers.text import clean_caption, strip_tokens

logger = logging.getLogger(__name__)

BLEU_WEIGHTS = {
    "bleu1": (1.0, 0, 0, 0),
    "bleu2": (0.5, 0.5, 0, 0),
    "bleu3": (1 / 3, 1 / 3, 1 / 3, 0),
    "bleu4": (0.25, 0.25, 0.25, 0.25),
}


def _tokens(caption: str, keep_short_words: bool = False) -> list[str]:
    return clean_caption(strip_tokens(caption), keep_short_words).split()


def clean_for_scoring(caption: str, keep_short_words: bool = False) -> str:
    """The caption as every metric sees it: cleaned, start/stop/padding tokens stripped
    (``keep_short_words``: cleaned keeping numbers and one-letter words, see ``helpers.text``)."""
    return " ".join(_tokens(caption, keep_short_words))


def bleu_scores(
    references: dict[str, list[str]], hypotheses: dict[str, str], *, keep_short_words: bool = False
) -> dict[str, float]:
    """Corpus BLEU-1..4 of ``hypotheses`` ``{image_id: caption}`` against
    ``references`` ``{image_id: [caption, ...]}`` (every hypothesis id must have references).

    Both sides are cleaned like the training captions; ``keep_short_words=True``
    keeps numbers and one-letter words ("a"), as published Flickr8k figures do
    (notebook 08 shows the difference)."""
    from nltk.translate.bleu_score import corpus_bleu

    image_ids = list(hypotheses)
    missing = [i for i in image_ids if i not in references]
    if missing:
        raise KeyError(f"{len(missing)} hypotheses have no references, first: {missing[0]}")
    list_of_references = [[_tokens(r, keep_short_words) for r in references[i]] for i in image_ids]
    hypothesis_tokens = [_tokens(hypotheses[i], keep_short_words) for i in image_ids]
    return {
        name: float(corpus_bleu(list_of_references, hypothesis_tokens, weights=weights))
        for name, weights in BLEU_WEIGHTS.items()
    }


def best_constant_caption(
    candidates: Iterable[str], references: dict[str, list[str]], *, rescore: int = 5
) -> tuple[str, float]:
    """The candidate caption with the highest corpus BLEU-4 when used for every image of ``references``.

    Trying every distinct training caption with NLTK's ``corpus_bleu`` costs
    candidates x test images (about two hours at Flickr8k size: 30,000 x 1,000).
    For a caption used on *every* image, corpus BLEU's sums factor: the clipped
    matches of an n-gram are ``sum over images of min(count in the caption,
    its most frequent count in that image's references)``, and the brevity
    penalty depends only on the caption's length. Those per-n-gram and
    per-length totals are computed once, so each candidate costs a few dozen
    look-ups; the ``rescore`` best are then scored again with NLTK's
    ``corpus_bleu`` (no smoothing), which gives the returned value.
    """
    import math

    from nltk.translate.bleu_score import corpus_bleu

    list_of_references = [[_tokens(r) for r in refs] for refs in references.values()]
    n_images = len(list_of_references)
    if not n_images:
        raise ValueError("no references to score against")
    # For each n-gram: the counts "most frequent in one image's references", over images.
    clip_counts: dict[tuple[str, ...], list[int]] = {}
    for refs in list_of_references:
        max_counts: Counter = Counter()
        for ref in refs:
            for n in range(1, 5):
                for gram, count in Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1)).items():
                    max_counts[gram] = max(max_counts[gram], count)
        for gram, count in max_counts.items():
            clip_counts.setdefault(gram, []).append(count)
    ref_lengths = [sorted({len(r) for r in refs}) for refs in list_of_references]
    closest_total: dict[int, int] = {}

    def total_reference_length(length: int) -> int:  # NLTK: the closest reference length, ties to the shorter
        if length not in closest_total:
            closest_total[length] = sum(min(lengths, key=lambda r: (abs(r - length), r)) for lengths in ref_lengths)
        return closest_total[length]

    def fast_bleu4(tokens: list[str]) -> float:
        log_precision = 0.0
        for n in range(1, 5):
            grams = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
            denominator = n_images * max(1, sum(grams.values()))
            numerator = sum(min(count, clip) for gram, count in grams.items() for clip in clip_counts.get(gram, ()))
            if numerator == 0:
                return 0.0
            log_precision += 0.25 * math.log(numerator / denominator)
        hyp_total, ref_total = n_images * len(tokens), total_reference_length(len(tokens))
        penalty = 1.0 if hyp_total > ref_total else math.exp(1 - ref_total / hyp_total)
        return penalty * math.exp(log_precision)

    distinct = sorted({" ".join(_tokens(c)) for c in candidates} - {""})
    ranked = sorted(distinct, key=lambda c: -fast_bleu4(c.split()))[: max(1, rescore)]
    best, best_score = "", -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns for a candidate with no 4-gram match
        for candidate in ranked:
            tokens = candidate.split()
            score = float(corpus_bleu(list_of_references, [tokens] * n_images))
            if score > best_score:
                best, best_score = candidate, score
    return best, best_score


# --------------------------------------------------------------------------------------------------------------
# Nearest-neighbour retrieval (Devlin et al. 2015).

DEFAULT_NEIGHBOURS = 5  # training images whose captions are pooled (Devlin et al. tune k on dev data)


def _ngram_counts(tokens: list[str]) -> list[Counter]:
    return [Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)) for n in range(1, 5)]


def _pair_bleu(
    hypothesis: list[Counter], hypothesis_length: int, reference: list[Counter], reference_length: int
) -> float:
    """Sentence BLEU-4 of one caption against one other (add-one smoothing above unigrams)."""
    import math

    if hypothesis_length == 0:
        return 0.0
    log_precision = 0.0
    for n, (grams, ref_grams) in enumerate(zip(hypothesis, reference), start=1):
        total = max(hypothesis_length - n + 1, 0)
        matches = sum(min(count, ref_grams[gram]) for gram, count in grams.items())
        if n == 1 and matches == 0:
            return 0.0
        smoothing = 0 if n == 1 else 1
        log_precision += 0.25 * math.log((matches + smoothing) / (total + smoothing))
    penalty = 1.0 if hypothesis_length > reference_length else math.exp(1 - reference_length / hypothesis_length)
    return penalty * math.exp(log_precision)


def consensus_caption(captions: list[str]) -> str:
    """The caption with the highest mean BLEU-4 against the *other* captions (cleaned; ties: the first).

    Devlin et al. 2015: the caption most of the pool agrees with, not an outlier."""
    tokens = [_tokens(c) for c in captions]
    pool = [(t, _ngram_counts(t)) for t in tokens if t]
    if not pool:
        return ""
    if len(pool) == 1:
        return " ".join(pool[0][0])
    best, best_score = 0, -1.0
    for i, (words, grams) in enumerate(pool):
        score = sum(
            _pair_bleu(grams, len(words), other_grams, len(other))
            for j, (other, other_grams) in enumerate(pool)
            if j != i
        ) / (len(pool) - 1)
        if score > best_score:
            best, best_score = i, score
    return " ".join(pool[best][0])


def nearest_training_images(query_features, train_features, k: int = DEFAULT_NEIGHBOURS, batch_size: int = 1024):
    """Row indices ``(queries, k)`` of the ``k`` training rows most similar to each query, most similar first
    (cosine similarity of the feature vectors)."""
    import numpy as np

    def unit(matrix):
        matrix = np.asarray(matrix, dtype=np.float32)
        return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)

    train, queries = unit(train_features), unit(query_features)
    k = max(1, min(int(k), len(train)))
    rows = []
    for start in range(0, len(queries), batch_size):
        similarity = queries[start : start + batch_size] @ train.T
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
        rows.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, k), dtype=np.int64)


def retrieval_captions(
    query_features, train_features, train_captions: list[list[str]], k: int = DEFAULT_NEIGHBOURS
) -> list[str]:
    """The nearest-neighbour baseline: for each query row, the consensus caption (:func:`consensus_caption`)
    of the captions of its ``k`` nearest training images (:func:`nearest_training_images`).

    ``train_captions[i]`` are the captions of training row ``i``. Returned captions are cleaned."""
    if len(train_captions) != len(train_features):
        raise ValueError(f"{len(train_captions)} caption lists for {len(train_features)} training feature rows")
    neighbours = nearest_training_images(query_features, train_features, k)
    return [consensus_caption([c for row in rows for c in train_captions[row]]) for rows in neighbours]


def percent(scores: dict[str, float]) -> dict[str, float]:
    """Scores x100, rounded to one decimal, for tables."""
    return {name: round(100 * value, 1) for name, value in scores.items()}


# --------------------------------------------------------------------------------------------------------------
# CIDEr-D and METEOR (pycocoevalcap), on the same cleaned words as BLEU.


def _coco_inputs(references: dict[str, list[str]], hypotheses: dict[str, str]):
    missing = [i for i in hypotheses if i not in references]
    if missing:
        raise KeyError(f"{len(missing)} hypotheses have no references, first: {missing[0]}")
    image_ids = list(hypotheses)
    gts = {i: [clean_for_scoring(r) for r in references[i]] for i in image_ids}
    res = {i: [clean_for_scoring(hypotheses[i])] for i in image_ids}
    return image_ids, gts, res


def cider_d(references: dict[str, list[str]], hypotheses: dict[str, str]) -> tuple[float, dict[str, float]]:
    """CIDEr-D of the corpus and of each image ``(score, {image_id: score})`` (0-10 scale)."""
    from pycocoevalcap.cider.cider import Cider

    image_ids, gts, res = _coco_inputs(references, hypotheses)
    if not image_ids:
        return 0.0, {}
    score, per_image = Cider().compute_score(gts, res)
    return float(score), {i: float(s) for i, s in zip(image_ids, per_image)}


def java_status() -> tuple[bool, str]:
    """Whether a working ``java`` is on the PATH (METEOR needs it), and what was found."""
    java = shutil.which("java")
    if java is None:
        return False, "Java is not installed (no `java` on the PATH)"
    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"`{java} -version` failed: {error}"
    if result.returncode != 0:
        return False, f"`{java} -version` failed with exit code {result.returncode}"
    first_line = (result.stderr or result.stdout).strip().splitlines()[:1]
    return True, first_line[0] if first_line else java


class MetricUnavailable(RuntimeError):
    """A metric could not be computed here (the message says why)."""


#: The most memory METEOR's Java process may take (its ``-Xmx``). pycocoevalcap starts it with ``-Xmx2G``,
#: which alone would fill Binder's memory; this leaves METEOR room for long test sets and the course room
#: beside it (the measurements: docs/benchmarks.md, "METEOR's memory").
METEOR_JAVA_HEAP = "768m"
#: Java's serial garbage collector keeps the heap near what METEOR uses, where the default (G1) grows it towards
#: the cap, with the same scores (what Java picks by itself on a machine of one core; docs/benchmarks.md).
METEOR_JAVA_OPTIONS = ("-XX:+UseSerialGC",)


def meteor_command(heap: str = METEOR_JAVA_HEAP) -> list[str]:
    """The command that starts pycocoevalcap's METEOR jar, with the JVM heap capped at ``heap``."""
    from pycocoevalcap.meteor import meteor as module

    return [
        "java",
        "-jar",
        f"-Xmx{heap}",
        *METEOR_JAVA_OPTIONS,
        module.METEOR_JAR,
        *("-", "-", "-stdio", "-l", "en", "-norm"),
    ]


def _meteor_scorer(heap: str = METEOR_JAVA_HEAP):
    """pycocoevalcap's ``Meteor``, started with :func:`meteor_command` instead of its own ``-Xmx2G``."""
    import os

    from pycocoevalcap.meteor import meteor as module

    command = meteor_command(heap)
    process = subprocess.Popen(
        command,
        cwd=os.path.dirname(os.path.abspath(module.__file__)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    scorer = module.Meteor.__new__(module.Meteor)  # its __init__ would start java -Xmx2G; made once java runs
    scorer.meteor_cmd, scorer.meteor_p, scorer.lock = command, process, threading.Lock()
    return scorer


#: The Java process shared by the :func:`meteor` calls inside :func:`meteor_session` (``[None]`` until the first).
_METEOR_SESSION: list = []


def _stop_meteor(process) -> None:
    if process.stdin and not process.stdin.closed:
        process.stdin.close()
    process.kill()
    process.wait()


@contextlib.contextmanager
def meteor_session():
    """``with meteor_session(): ...``: every :func:`meteor` call inside the block scores through one Java
    process, started at the first call and stopped at the end, instead of one process per call (each start
    loads METEOR's paraphrase tables again, seconds each time). Scores are the same: each call
    sends its own segments' statistics. Only one Java process runs at a time either way."""
    if _METEOR_SESSION:  # already inside one: share it
        yield
        return
    _METEOR_SESSION.append(None)
    try:
        yield
    finally:
        scorer = _METEOR_SESSION.pop()
        if scorer is not None:
            _stop_meteor(scorer.meteor_p)


def meteor(
    references: dict[str, list[str]], hypotheses: dict[str, str], *, timeout: float = 600
) -> tuple[float, dict[str, float]]:
    """METEOR 1.5 of the corpus and of each image ``(score, {image_id: score})``.

    Raises :class:`MetricUnavailable` (with the reason) when Java is missing, the
    METEOR jar fails, or it takes longer than ``timeout`` seconds. Java's heap is capped
    at :data:`METEOR_JAVA_HEAP` (pycocoevalcap's own 2 GB would not fit on Binder).
    Inside :func:`meteor_session` the Java process is reused."""
    available, why = java_status()
    if not available:
        raise MetricUnavailable(f"METEOR needs Java: {why}. Install a Java runtime (e.g. OpenJDK 17) to get it.")
    image_ids, gts, res = _coco_inputs(references, hypotheses)
    if not image_ids:
        return 0.0, {}
    shared = bool(_METEOR_SESSION)
    scorer = _METEOR_SESSION[-1] if shared else None
    if scorer is None:
        try:
            scorer = _meteor_scorer()
        except OSError as error:
            raise MetricUnavailable(f"METEOR could not start Java: {error}") from error
        if shared:
            _METEOR_SESSION[-1] = scorer
    outcome: dict = {}

    def work():
        try:
            outcome["value"] = scorer.compute_score(gts, res)
        except Exception as error:  # the jar died or printed something unexpected
            outcome["error"] = error

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout)
    process = scorer.meteor_p
    if worker.is_alive() or "error" in outcome:
        if shared:
            _METEOR_SESSION[-1] = None  # the next call starts a fresh process
        scorer.lock = threading.Lock()  # the stuck worker holds the old one; the wrapper's __del__ takes it
        process.kill()
        stderr = b""
        try:
            _, stderr = process.communicate(timeout=10)
        except Exception:  # noqa: BLE001 - best effort to report the jar's own message
            pass
        reason = f"no answer after {timeout:.0f} s" if worker.is_alive() else repr(outcome["error"])
        detail = stderr.decode(errors="replace").strip().splitlines()[-1:] if stderr else []
        raise MetricUnavailable(f"METEOR failed ({reason}){': ' + detail[0] if detail else ''}")
    if not shared:
        _stop_meteor(process)
    score, per_image = outcome["value"]
    return float(score), {i: float(s) for i, s in zip(image_ids, per_image)}


def caption_scores(
    references: dict[str, list[str]], hypotheses: dict[str, str], *, with_meteor: bool = True, say=print
) -> dict:
    """BLEU-1..4, CIDEr-D and (when Java works) METEOR of ``hypotheses``.

    Returns ``{"scores": {"bleu1".."bleu4", "cider", "meteor"?}, "per_image":
    {"cider": {...}, "meteor"?: {...}}, "notes": [...]}``. A metric that cannot be
    computed is left out of ``scores`` and explained in ``notes`` (also passed to
    ``say``, ``print`` by default)."""
    notes: list[str] = []
    scores = bleu_scores(references, hypotheses)
    cider, cider_per_image = cider_d(references, hypotheses)
    scores["cider"] = cider
    per_image = {"cider": cider_per_image}
    if with_meteor:
        try:
            scores["meteor"], per_image["meteor"] = meteor(references, hypotheses)
        except MetricUnavailable as error:
            notes.append(f"METEOR left out: {error}")
    else:
        notes.append("METEOR left out: not asked for")
    notes.append("SPICE left out: it downloads a parser at run time")
    for note in notes[:-1]:
        logger.warning(note)
        if say:
            say(note)
    return {"scores": scores, "per_image": per_image, "notes": notes}


METRICS_DESCRIPTION = {
    "bleu": "NLTK corpus_bleu, no smoothing, cleaned captions, start/stop tokens stripped",
    "cider": "CIDEr-D (pycocoevalcap Cider: sigma 6, clipped counts, IDF from the test references), 0-10 scale",
    "meteor": "METEOR 1.5 (pycocoevalcap, Java), English, -norm; absent when Java is missing",
    "tokens": "both sides cleaned like the training captions (helpers.text.clean_caption), tokens stripped",
}


# --------------------------------------------------------------------------------------------------------------
# Published Flickr8k figures, for perspective.

PUBLISHED_FLICKR8K = [
    # BLEU x100 and METEOR x100 as printed in the papers; None where the paper gives no figure (or it is not
    # verified here). All on the real Flickr8k test images (1,000, 5 references each).
    {
        "model": "Show and Tell (NIC)",
        "citation": "Vinyals, Toshev, Bengio, Erhan: Show and Tell: A Neural Image "
        "Caption Generator, CVPR 2015 (Table: BLEU-1 on Flickr8k)",
        "bleu1": 63.0,
        "bleu2": None,
        "bleu3": None,
        "bleu4": None,
        "meteor": None,
        "cider": None,
    },
    {
        "model": "Show, Attend and Tell (soft attention)",
        "citation": "Xu, Ba, Kiros, Cho, Courville, Salakhutdinov, "
        "Zemel, Bengio: Show, Attend and Tell, ICML 2015 (Table 1, Flickr8k)",
        "bleu1": 67.0,
        "bleu2": 44.8,
        "bleu3": 29.9,
        "bleu4": 19.5,
        "meteor": 18.93,
        "cider": None,
    },
    {
        "model": "Show, Attend and Tell (hard attention)",
        "citation": "Xu et al., ICML 2015 (Table 1, Flickr8k)",
        "bleu1": 67.0,
        "bleu2": 45.7,
        "bleu3": 31.4,
        "bleu4": 21.3,
        "meteor": 20.30,
        "cider": None,
    },
    {
        "model": "Merge architecture (Tanti et al.)",
        "citation": "Tanti, Gatt, Camilleri: Where to put the image in "
        "an image caption generator, Natural Language Engineering 24(3), 2018 — Flickr8k, mean of 3 runs, "
        "from the authors' mtanti/where-image2 results/results.txt (rows flickr8k/merge, runs 1-3)",
        "bleu1": 60.0,
        "bleu2": 41.3,
        "bleu3": 27.3,
        "bleu4": 17.8,
        "meteor": 19.3,
        "cider": 46.9,
    },
    {
        "model": "Init-inject architecture (Tanti et al.)",
        "citation": "Tanti, Gatt, Camilleri: Where to put the image in "
        "an image caption generator, Natural Language Engineering 24(3), 2018 — Flickr8k, mean of 3 runs, "
        "from the authors' mtanti/where-image2 results/results.txt (rows flickr8k/init, runs 1-3)",
        "bleu1": 61.1,
        "bleu2": 42.4,
        "bleu3": 28.5,
        "bleu4": 19.1,
        "meteor": 19.4,
        "cider": 48.1,
    },
]

PUBLISHED_CAVEAT = (
    "Published figures are on the real Flickr8k test split (1,000 photos, 5 human captions each), with other "
    "encoders (GoogLeNet, VGG, ...), their own tokenisation and the coco-caption or multi-bleu implementations. "
    "Scores on the bundled synthetic sample (coloured shapes, a tiny vocabulary) are not comparable at all; even a "
    "run on real Flickr8k only compares roughly, since preprocessing, split and BLEU implementation differ."
)


def comparison_rows(run_scores: dict[str, dict[str, float]], dataset: str) -> list[dict]:
    """Rows ``{"model", "data", "bleu1".."bleu4", "meteor", "cider"}`` (x100, None = no figure): this run's decoders
    (``{name: scores 0-1}``) followed by the published Flickr8k figures."""
    columns = ["bleu1", "bleu2", "bleu3", "bleu4", "meteor", "cider"]
    rows = []
    for name, scores in run_scores.items():
        shown = percent({k: v for k, v in scores.items() if k in columns})
        rows.append({"model": f"this run, {name}", "data": dataset, **{c: shown.get(c) for c in columns}})
    for published in PUBLISHED_FLICKR8K:
        rows.append({"model": published["model"], "data": "Flickr8k (published)", **{c: published[c] for c in columns}})
    return rows


def comparison_markdown(rows: list[dict]) -> str:
    """The comparison rows as a Markdown table (``—`` where there is no figure)."""
    columns = ["bleu1", "bleu2", "bleu3", "bleu4", "meteor", "cider"]
    header = "| model | data | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | METEOR | CIDEr-D |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]
    for row in rows:
        cells = ["—" if row[c] is None else f"{row[c]:.1f}" for c in columns]
        lines.append(f"| {row['model']} | {row['data']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Looking closer: per-image ranking, vocabulary and lengths.


def best_and_worst(per_image: dict[str, float], count: int = 4) -> tuple[list[str], list[str]]:
    """Image ids of the ``count`` best and ``count`` worst captions by a per-image score
    (ties broken by image id, so the choice is stable)."""
    ordered = sorted(per_image, key=lambda i: (-per_image[i], i))
    count = min(count, len(ordered) // 2) if len(ordered) > 1 else len(ordered)
    return ordered[:count], ordered[::-1][:count]


def word_usage(hypotheses: dict[str, str], references: dict[str, list[str]]) -> dict:
    """How many distinct words the captions use, against the references of the same images.

    ``{"distinct_generated", "distinct_references", "shared", "generated_not_in_references",
    "most_common_generated"}``: a model that falls back on a few safe words uses far
    fewer distinct words than people do."""
    generated = Counter(w for c in hypotheses.values() for w in _tokens(c))
    referenced = Counter(w for i in hypotheses for r in references[i] for w in _tokens(r))
    return {
        "distinct_generated": len(generated),
        "distinct_references": len(referenced),
        "shared": len(set(generated) & set(referenced)),
        "generated_not_in_references": sorted(set(generated) - set(referenced)),
        "most_common_generated": generated.most_common(10),
    }


def caption_lengths(captions: Iterable[str]) -> list[int]:
    """Length in words of each caption, as scored (cleaned, tokens stripped)."""
    return [len(_tokens(c)) for c in captions]
