"""Notebook 10's comparison: the merge, inject and attention models side by side (scores, size, speed, memory).

Taught in notebooks/10_visual_attention.ipynb.
"""

from __future__ import annotations

from pathlib import Path

import keras

from course import paths
from course.files import HISTORY_FILE, MODEL_FILE
from course.memory import PeakMemory, release_freed_memory
from helpers import evaluation, training
from helpers.attention import beam_search_captions, count_parameters, greedy_captions
from helpers.vocabulary import Vocabulary

TRAINED_FILE = "trained.json"  # beside a model trained by train_once: its settings and peak memory


def train_once(build, train_dataset, dev_dataset, *, folder: str | Path, settings: dict, epochs: int, patience: int):
    """Train ``build()`` with :func:`helpers.training.train` into ``folder`` — unless ``folder``
    already holds a model trained with exactly these ``settings`` (a second run of the notebook,
    or its solutions): then that model is reused. Returns ``(best model, history, peak memory in MB,
    reused)``; the memory is ``{"peak_mb", "growth_mb"}``: the process's highest resident memory while it
    trained, and how far that is above where it started (measured then: in one process, memory held by
    earlier work counts in the peak, not in the growth)."""

    folder = Path(folder)
    record_path = folder / TRAINED_FILE
    if record_path.exists() and (folder / MODEL_FILE).exists() and (folder / HISTORY_FILE).exists():
        record = paths.read_json(record_path)
        if record.get("settings") == settings:
            model = keras.saving.load_model(folder / MODEL_FILE, safe_mode=True)
            return model, paths.read_json(folder / HISTORY_FILE), record["memory"], True
    record_path.unlink(missing_ok=True)
    with PeakMemory() as memory:
        history = training.train(
            build(), train_dataset, dev_dataset, epochs=epochs, run_dir=folder, patience=patience, verbose=0
        )
    used = {"peak_mb": memory.megabytes, "growth_mb": memory.growth_megabytes}
    paths.write_json_atomic(record_path, {"settings": settings, "memory": used})
    model = keras.saving.load_model(folder / MODEL_FILE, safe_mode=True)  # the best epoch, in safe mode
    return model, history, used, False


COMPARISON_METRICS = [
    ("bleu1", "BLEU-1"),
    ("bleu2", "BLEU-2"),
    ("bleu3", "BLEU-3"),
    ("bleu4", "BLEU-4"),
    ("meteor", "METEOR"),
    ("cider", "CIDEr-D"),
]


def model_row(
    model,
    inputs,
    image_ids: list[str],
    *,
    vocabulary: Vocabulary,
    max_length: int,
    width: int,
    alpha: float,
    seconds_per_epoch: float,
    memory: dict | None,
    captions: tuple[dict, dict] | None = None,
) -> dict:
    """One model's row of notebook 10's comparison, before scoring (:func:`score_rows`): its greedy and
    beam captions of ``image_ids`` (decoded here from ``inputs``, one row of features or grid per image, unless
    ``captions=(greedy, beam)`` are given), its parameter count, seconds per epoch and memory while training
    (``{"peak_mb", "growth_mb"}``, or ``None`` where it was not measured)."""
    if captions is None:
        greedy = greedy_captions(model, inputs, vocabulary, max_length)
        beam = beam_search_captions(model, inputs, vocabulary, max_length, width=width, alpha=alpha)
        captions = (dict(zip(image_ids, greedy)), dict(zip(image_ids, beam)))
    return {
        "captions": {"greedy": captions[0], "beam": captions[1]},
        "parameters": count_parameters(model),
        "seconds_per_epoch": float(seconds_per_epoch),
        "memory": memory,
    }


def score_rows(rows: dict[str, dict], references: dict[str, list[str]]) -> dict[str, dict]:
    """Replace each row's ``captions`` by their ``scores`` (:func:`helpers.evaluation.caption_scores`),
    with one METEOR Java process for every row (:func:`helpers.evaluation.meteor_session`), started after
    the models were trained and decoded. Returns ``rows``."""

    release_freed_memory()  # the models deleted before this call: METEOR's Java process starts beside less
    with evaluation.meteor_session():
        for row in rows.values():
            captions = row.pop("captions")
            row["scores"] = {
                decoder: evaluation.caption_scores(references, captions[decoder], say=None)["scores"]
                for decoder in ("greedy", "beam")
            }
    return rows


def comparison_markdown(rows: dict[str, dict], beam_width: int = 3) -> str:
    """``{model: {"scores": {"greedy": {...}, "beam": {...}}, "parameters", "seconds_per_epoch",
    "memory": {"peak_mb", "growth_mb"} or None}}`` as a Markdown table: one line per model and decoder,
    scores x100 (``—`` where a metric or figure is missing, e.g. METEOR without Java)."""
    header = (
        "| model | decoding | "
        + " | ".join(label for _, label in COMPARISON_METRICS)
        + " | parameters | s / epoch | peak memory, MB (growth while training) |"
    )
    lines = [header, "|---|---|" + "---:|" * (len(COMPARISON_METRICS) + 3)]
    for name, row in rows.items():
        for decoder in ("greedy", "beam"):
            scores = row["scores"].get(decoder) or {}
            cells = [f"{100 * scores[key]:.1f}" if key in scores else "—" for key, _ in COMPARISON_METRICS]
            label = "greedy" if decoder == "greedy" else f"beam {beam_width}"
            extra = [
                f"{row['parameters']:,}",
                f"{row['seconds_per_epoch']:.1f}",
                "—"
                if not row.get("memory")
                else f"{row['memory']['peak_mb']:,.0f} (+{row['memory']['growth_mb']:,.0f})",
            ]
            lines.append(
                f"| {name} | {label} | "
                + " | ".join(cells)
                + " | "
                + (" | ".join(extra) if decoder == "greedy" else "| |")
                + " |"
            )
    return "\n".join(lines)
