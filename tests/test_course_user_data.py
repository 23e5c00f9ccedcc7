"""The course on data like a user's own (issue 11): a realistic vocabulary, and a tiny dataset trained too briefly.

A real caption set has hundreds of words, many seen once: with ``MIN_WORD_COUNT = 2`` they become ``<unk>`` in the
training targets, and a model trained on them likes to predict ``<unk>``. Decoding must never print it, no caption
may be longer than the longest training caption, and a learning outcome that does not hold on such data (the
model beats the word-frequency baseline, the constant caption, retrieval) is a warning in the notebook and a line in
the course summary — never a failed run. The tiny case (a few dozen photos, two epochs) is the Kaggle test in
tests/test_course.py, which uses :func:`check_user_run` too.

Kept small for CI: untrained features, 96 sample images, at most 10 epochs.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from course_runs import run_course

from course import config, files, paths
from course import outcomes as learning_outcomes
from helpers.datasets import load_dataset

N_IMAGES = 96
RARE_WORDS = 600  # a pool of made-up words: most captions get two, most words are seen once


def rare_word_pool(n: int = RARE_WORDS, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def make_realistic_captions(root: Path, n_images: int = N_IMAGES) -> Path:
    """A Kaggle ``captions.txt`` + ``Images/`` from sample images, each caption given two words from a large pool
    (``near the <word> <word>``): a vocabulary of hundreds of words, most of them seen once."""
    sample = load_dataset("sample")
    rng = random.Random(1)
    pool = rare_word_pool()
    (root / "Images").mkdir(parents=True)
    with open(root / "captions.txt", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption"])
        for image_id in sample.splits["train"][:n_images]:
            shutil.copy(sample.image_path(image_id), root / "Images" / image_id)
            for caption in sample.captions_by_image[image_id]:
                writer.writerow([image_id, f"{caption.rstrip(' .')} near the {rng.choice(pool)} {rng.choice(pool)}."])
    return root / "captions.txt"


def notebook_text(path: Path) -> str:
    """Every output of an executed notebook, as text (streams, warnings, HTML)."""
    parts = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts += [str(v) for v in output.get("data", {}).values()]
    return "\n".join(parts)


def check_user_run(run_dir: Path, result: subprocess.CompletedProcess) -> dict:
    """What every course run on a user's data must show; returns the recorded learning outcomes."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lookup_table = paths.read_json(run_dir / files.LOOKUP_TABLE_FILE)
    longest = max(len(c.split()) - 2 for c in (c for cs in lookup_table["train"].values() for c in cs))
    generated = {
        "greedy": json.loads((run_dir / files.GENERATED_CAPTIONS_FILE).read_text()),
        "beam": json.loads((run_dir / files.BEAM_CAPTIONS_FILE).read_text())["captions"],
    }
    executed = run_dir / "notebooks" / "07_caption_generation.ipynb"
    command_lines = [
        line
        for line in notebook_text(executed).splitlines()
        if line.split(": ", 1)[0].endswith((".jpg", ".png")) and ": " in line
    ]
    generated["caption command"] = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in command_lines}
    assert generated["caption command"], "07 shows the caption command's output"
    for name, captions in generated.items():
        assert captions, name
        for image_id, caption in captions.items():
            words = caption.split()
            assert "<unk>" not in words and "unk" not in words, f"{name} {image_id}: {caption!r}"
            assert len(words) <= longest, f"{name} {image_id}: {len(words)} words > {longest}: {caption!r}"
    outcomes = config.read_config(run_dir)[learning_outcomes.OUTCOMES_SECTION]
    assert set(outcomes) == {"dev_loss_falls", "beats_word_frequencies", "beats_constant_caption", "beats_retrieval"}
    texts = {
        name: notebook_text(run_dir / "notebooks" / name)
        for name in ("06_training.ipynb", "08_evaluation_and_visualization.ipynb")
    }
    for outcome in outcomes.values():
        where = [name for name, text in texts.items() if outcome["message"] in text]
        assert where, f"the outcome {outcome['message']!r} is shown in its notebook"
        if outcome["holds"]:
            assert f"WARNING, not reached: {outcome['message']}" not in result.stdout
        else:
            assert "Learning outcome not reached" in texts[where[0]], "a visible warning box"
            assert "OutcomeWarning" in texts[where[0]] or "learning outcome not reached" in texts[where[0]]
            assert f"WARNING, not reached: {outcome['message']}" in result.stdout, "a line in the course summary"
    assert "model, greedy" in result.stdout and "model, beam" in result.stdout
    assert "retrieval (" in result.stdout and "best constant caption" in result.stdout
    return outcomes


@pytest.mark.course
def test_the_course_on_a_realistic_vocabulary_never_prints_unk(tmp_path):
    captions = make_realistic_captions(tmp_path / "realistic")
    run_dir = tmp_path / "run"
    result = run_course(captions, run_dir, {"EPOCHS": "10"})
    check_user_run(run_dir, result)
    vocabulary = json.loads((run_dir / files.VOCABULARY_FILE).read_text())
    lookup_table = paths.read_json(run_dir / files.LOOKUP_TABLE_FILE)
    train_words = [w for cs in lookup_table["train"].values() for c in cs for w in c.split()]
    unknown = sum(w not in set(vocabulary["words"]) for w in train_words)
    assert len(set(train_words)) > 300, "hundreds of distinct words"
    assert unknown / len(train_words) > 0.04, "<unk> is a common training target (about one word in 20)"
