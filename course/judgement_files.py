"""Flickr8k's human judgements on disk: where they are, reading them, and the results written into a run folder.

Role: course machinery (locating data, readers, CSV writing) for notebook 09; the metrics and the
agreement are taught in :mod:`helpers.judgements`.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from course import paths
from course.files import AGREEMENT_FILE, JUDGEMENT_SCORES_FILE
from helpers.formats import check_image_id, is_safe_image_id
from helpers.judgements import (
    METRICS,
    CrowdJudgement,
    ExpertJudgement,
    JudgedPair,
    Judgements,
    captions_by_image,
    cider_d_scores,
    references_for,
    sentence_bleu_scores,
    split_caption_id,
)

logger = logging.getLogger(__name__)

EXPERT_FILE = "ExpertAnnotations.txt"
CROWD_FILE = "CrowdFlowerAnnotations.txt"
TOKEN_FILE = "Flickr8k.token.txt"
IMAGES_FOLDER = "Flicker8k_Dataset"  # sic, the real data set's spelling


#: The bundled, synthetic judgements on sample images (see data/judgements_fixture/README.md).
FIXTURE_DIR = paths.DATA_DIR / "judgements_fixture"


#: The real Flickr8k text files beside the checkout on the course's own machines.
SHARED_TEXT_DIR = paths.REPO_ROOT.parent / "shared" / "data" / "flickr8k_text"


def _holds_judgements(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (EXPERT_FILE, CROWD_FILE, TOKEN_FILE))


def find_judgements_dir(judgements_dir: str | os.PathLike = "") -> Path:
    """The folder holding ``ExpertAnnotations.txt``, ``CrowdFlowerAnnotations.txt`` and ``Flickr8k.token.txt``.

    ``""`` takes the first that exists of: the downloaded Flickr8k (``data/flickr8k/``,
    after ``DATASET="flickr8k"``), the real text files in ``../shared/data/flickr8k_text``,
    and the bundled synthetic fixture (``data/judgements_fixture/``). ``"fixture"`` names
    the fixture. Anything else is a folder (relative paths: from the working folder,
    else from the repository root).
    """
    if not str(judgements_dir):
        for candidate in (paths.FLICKR8K_DIR, SHARED_TEXT_DIR, FIXTURE_DIR):
            if _holds_judgements(candidate):
                return candidate
        raise FileNotFoundError(
            f"No judgement files found in {paths.FLICKR8K_DIR}, {SHARED_TEXT_DIR} "
            f"or {FIXTURE_DIR} (the bundled fixture is missing from this checkout)."
        )
    if str(judgements_dir) == "fixture":
        return FIXTURE_DIR
    folder = Path(judgements_dir).expanduser()
    if not folder.exists() and not folder.is_absolute():
        folder = paths.REPO_ROOT / folder
    missing = [name for name in (EXPERT_FILE, CROWD_FILE, TOKEN_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"JUDGEMENTS_DIR={str(judgements_dir)!r}: {folder} lacks {', '.join(missing)} "
            "(the Flickr8k_text files; the Flickr8k download puts them in data/flickr8k/)."
        )
    return folder


def is_fixture(judgements_dir: Path) -> bool:
    return Path(judgements_dir).resolve() == FIXTURE_DIR.resolve()


def image_folders(judgements_dir: Path) -> list[Path]:
    """Folders where the judged images may be: beside the text files, the downloaded
    Flickr8k, and the bundled sample (whose images the fixture judges)."""
    judgements_dir = Path(judgements_dir)
    candidates = [
        judgements_dir / IMAGES_FOLDER,
        judgements_dir.parent / IMAGES_FOLDER,
        paths.FLICKR8K_DIR / IMAGES_FOLDER,
        paths.SAMPLE_DIR / IMAGES_FOLDER,
    ]
    return [c for c in dict.fromkeys(candidates) if c.is_dir()]


def find_image(image_id: str, folders: Sequence[Path]) -> Path | None:
    """The image file ``image_id`` in the first folder that has it, else ``None``.

    An id that is not a plain image file name (``/etc/passwd``, ``../..``) is never
    looked up: the same check as caption ids (:func:`helpers.formats.is_safe_image_id`)."""
    if not is_safe_image_id(image_id):
        return None
    for folder in folders:
        if (folder / image_id).is_file():
            return folder / image_id
    return None


def _lines(path: Path):
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip("\r\n\ufeff")
            if line.strip():
                yield line_number, line.split("\t")


def _check_fields(fields: list[str], expected: int, where: str, skipped: Counter) -> bool:
    if len(fields) != expected:
        skipped[f"lines without {expected} tab-separated fields"] += 1
        logger.warning("%s: %d fields instead of %d, skipped", where, len(fields), expected)
        return False
    try:
        caption_image, _ = split_caption_id(fields[1].strip())
    except ValueError:
        skipped["lines whose second field is not a caption id"] += 1
        logger.warning("%s: %r is not a caption id '<image>#<n>', skipped", where, fields[1])
        return False
    # the judged image and the caption's image are file names: the same check as the caption readers'
    return check_image_id(fields[0].strip(), skipped, where) and check_image_id(caption_image, skipped, where)


def _no_lines(path: Path, what: str, skipped: Counter) -> ValueError:
    problems = "; ".join(f"{count} {reason}" for reason, count in skipped.items()) or "the file is empty"
    return ValueError(f"{path}: no usable {what} line ({problems}). See the columns in Flickr8k's readme.txt.")


def read_expert_judgements(path: str | os.PathLike, skipped: Counter | None = None) -> list[ExpertJudgement]:
    """``ExpertAnnotations.txt``: one :class:`ExpertJudgement` per line, in file order.

    Lines with the wrong number of fields, a bad caption id or scores outside 1-4
    are skipped, logged and counted in ``skipped``; a file with no usable line is a
    ``ValueError`` naming it.
    """
    path = Path(path)
    skipped = Counter() if skipped is None else skipped
    judgements = []
    for line_number, fields in _lines(paths.require(path)):
        where = f"{path}:{line_number}"
        if not _check_fields(fields, 5, where, skipped):
            continue
        try:
            scores = tuple(int(value) for value in fields[2:])
        except ValueError:
            scores = ()
        if not scores or not all(1 <= s <= 4 for s in scores):
            skipped["lines whose expert scores are not whole numbers 1-4"] += 1
            logger.warning("%s: scores %r are not 1-4, skipped", where, fields[2:])
            continue
        judgements.append(ExpertJudgement(fields[0].strip(), fields[1].strip(), scores))
    if not judgements:
        raise _no_lines(path, "'<image> <caption id> <score> <score> <score>'", skipped)
    return judgements


def read_crowd_judgements(path: str | os.PathLike, skipped: Counter | None = None) -> list[CrowdJudgement]:
    """``CrowdFlowerAnnotations.txt``: one :class:`CrowdJudgement` per line, in file order.

    The fraction of yes is recomputed from the counts; a line whose stated fraction
    disagrees with them, whose counts are not whole numbers, or with no vote at all,
    is skipped, logged and counted.
    """
    path = Path(path)
    skipped = Counter() if skipped is None else skipped
    judgements = []
    for line_number, fields in _lines(paths.require(path)):
        where = f"{path}:{line_number}"
        if not _check_fields(fields, 5, where, skipped):
            continue
        try:
            stated, yes, no = float(fields[2]), int(fields[3]), int(fields[4])
        except ValueError:
            skipped["lines whose votes are not numbers"] += 1
            logger.warning("%s: votes %r are not numbers, skipped", where, fields[2:])
            continue
        if yes < 0 or no < 0 or yes + no == 0 or abs(stated - yes / (yes + no)) > 1e-3:
            skipped["lines whose yes fraction does not match the yes/no counts"] += 1
            logger.warning("%s: %r yes of %d yes + %d no does not add up, skipped", where, fields[2], yes, no)
            continue
        judgements.append(CrowdJudgement(fields[0].strip(), fields[1].strip(), yes, no))
    if not judgements:
        raise _no_lines(path, "'<image> <caption id> <fraction> <yes> <no>'", skipped)
    return judgements


def read_captions_by_id(path: str | os.PathLike) -> dict[str, str]:
    """``Flickr8k.token.txt`` as ``{caption id: raw caption}`` (``"<image>#<n>"`` keys; lines
    that are not ``<id>\\t<caption>`` are skipped)."""
    captions = {}
    for _, fields in _lines(paths.require(Path(path))):
        if len(fields) >= 2 and "#" in fields[0] and fields[1].strip():
            captions[fields[0].strip()] = "\t".join(fields[1:]).strip()
    if not captions:
        raise ValueError(f"{path}: no '<image>#<n><TAB><caption>' line found.")
    return captions


def load_judgements(judgements_dir: str | os.PathLike = "") -> Judgements:
    """Read both judgement files of :func:`find_judgements_dir` and the captions, merge them
    by (image, caption id) and score each pair with BLEU-1, BLEU-4 and CIDEr-D.

    Pairs whose caption or judged image has no caption in the token file are skipped and counted.
    """
    folder = find_judgements_dir(judgements_dir)
    skipped: Counter = Counter()
    experts = read_expert_judgements(folder / EXPERT_FILE, skipped)
    crowd = read_crowd_judgements(folder / CROWD_FILE, skipped)
    captions_by_id = read_captions_by_id(folder / TOKEN_FILE)
    captions = captions_by_image(captions_by_id)

    pairs: dict[tuple[str, str], JudgedPair] = {}

    def pair_for(image_id: str, caption_id: str) -> JudgedPair | None:
        key = (image_id, caption_id)
        if key not in pairs:
            if caption_id not in captions_by_id:
                skipped["judgements of a caption id missing from the token file"] += 1
                return None
            if image_id not in captions:
                skipped["judgements of an image without captions in the token file"] += 1
                return None
            references = references_for(image_id, caption_id, captions)
            if not references:
                skipped["judgements of an image with no other caption"] += 1
                return None
            pairs[key] = JudgedPair(image_id, caption_id, captions_by_id[caption_id], references)
        return pairs[key]

    for judgement in experts:
        pair = pair_for(judgement.image_id, judgement.caption_id)
        if pair is not None:
            if pair.expert_scores is not None:
                skipped["repeated expert judgements (first kept)"] += 1
                continue
            pair.expert_scores = judgement.scores
    for judgement in crowd:
        pair = pair_for(judgement.image_id, judgement.caption_id)
        if pair is not None:
            if pair.crowd_yes is not None:
                skipped["repeated crowd judgements (first kept)"] += 1
                continue
            pair.crowd_yes, pair.crowd_no = judgement.yes, judgement.no

    scored = list(pairs.values())
    candidates = [p.caption for p in scored]
    references = [p.references for p in scored]
    bleu = sentence_bleu_scores(candidates, references)
    cider = cider_d_scores(candidates, references)
    for index, pair in enumerate(scored):
        pair.scores = {"bleu1": bleu["bleu1"][index], "bleu4": bleu["bleu4"][index], "cider_d": cider[index]}
    result = Judgements(folder, scored, skipped, len(experts), len(crowd))
    if skipped:
        logger.warning("%s", result.summary())
    return result


#: First characters that make a spreadsheet read a cell as a formula (``=HYPERLINK(...)``, ``+1``, ``-1``, ``@SUM``,
#: and tab/carriage return, which some spreadsheets skip before looking).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula: ``'`` before text starting with :data:`FORMULA_STARTS`
    (undone by :func:`read_scores`)."""
    text = str(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def from_spreadsheet_safe(text: str) -> str:
    """The text :func:`spreadsheet_safe` was given."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def write_results(
    run_dir: str | os.PathLike, judgements: Judgements, agreement_rows: list[dict], experts: dict | None = None
) -> tuple[Path, Path]:
    """Write the per-pair scores (CSV) and the agreement table (JSON) into the run folder, atomically."""
    run_dir = Path(run_dir)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image_id", "caption_id", "own_caption", "caption", "expert_mean", "crowd_yes_fraction", *METRICS])
    for pair in judgements.pairs:
        expert, crowd = pair.human("expert"), pair.human("crowd")
        writer.writerow(
            [
                spreadsheet_safe(pair.image_id),
                spreadsheet_safe(pair.caption_id),
                int(pair.own_caption),
                spreadsheet_safe(pair.caption),
                "" if expert is None else repr(expert),
                "" if crowd is None else repr(crowd),
                *(repr(pair.scores[m]) for m in METRICS),
            ]
        )
    scores_path = run_dir / JUDGEMENT_SCORES_FILE
    fd, tmp_name = tempfile.mkstemp(prefix=f".{scores_path.name}.", suffix=".tmp", dir=run_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())
        paths.usual_permissions(tmp_name)
        os.replace(tmp_name, scores_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    summary = {
        "judgements_dir": str(judgements.folder),
        "synthetic_fixture": is_fixture(judgements.folder),
        "pairs": len(judgements.pairs),
        "expert_lines": judgements.expert_lines,
        "crowd_lines": judgements.crowd_lines,
        "skipped": dict(judgements.skipped),
        "bleu": "NLTK sentence_bleu, smoothing method1, cleaned captions",
        "cider_d": "pycocoevalcap CiderScorer, IDF over the distinct reference sets",
        "agreement": agreement_rows,
        "expert_vs_expert": experts,
    }
    agreement_path = paths.write_json_atomic(run_dir / AGREEMENT_FILE, summary)
    return scores_path, agreement_path


def read_scores(run_dir: str | os.PathLike) -> list[dict]:
    """``judgement_scores.csv`` of a run folder (written by notebook 09) as dicts with numbers
    (``None`` where a pair has no expert or no crowd judgement)."""
    path = Path(run_dir) / JUDGEMENT_SCORES_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist. It is written by notebooks/09_metrics_vs_humans.ipynb: "
            "run that notebook first (same parameters)."
        )
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            for key in ("image_id", "caption_id", "caption"):
                row[key] = from_spreadsheet_safe(row[key])
            row["own_caption"] = row["own_caption"] == "1"
            for key in ("expert_mean", "crowd_yes_fraction", *METRICS):
                row[key] = float(row[key]) if row[key] else None
            rows.append(row)
    return rows
