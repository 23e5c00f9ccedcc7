"""The map of the course, how long each notebook takes, and a check of the setup.

Role: course machinery, shown in notebooks/00_start_here.ipynb.

The time each notebook takes lives in one file, ``docs/timings.json`` (see
:data:`TIMINGS_FILE`), written by ``scripts/record_timings.py`` from the papermill
durations of an executed course run. Notebook 00 and ``docs/teaching.md`` both
render their tables from it (:func:`course_map_markdown`, :func:`timings_markdown`),
and a test checks that ``docs/teaching.md`` shows what the file says.
"""

from __future__ import annotations

import html
import os
import platform
import sys
from pathlib import Path

from course import files, parameters, paths
from helpers.features import encoder_spec, keras_cache_dir

TIMINGS_FILE = paths.REPO_ROOT / "docs" / "timings.json"
#: The entries of docs/timings.json that hold measured seconds per notebook.
SAMPLE_ENTRY = "sample_2cpu"
FLICKR8K_ENTRY = "flickr8k_2cpu"
DISTRIBUTION = "captioning-course-helpers"

#: What each notebook teaches, reads and writes (file names as spelled in course.files).
STAGES = [
    {
        "notebook": "00_start_here.ipynb",
        "idea": "the map of the course; is everything installed?",
        "reads": [],
        "writes": [],
    },
    {
        "notebook": "01_text_cleaning.ipynb",
        "idea": "clean captions: no punctuation, lower case; numbers and one-letter words dropped or kept",
        "reads": ["the dataset's captions"],
        "writes": [files.CLEAN_CAPTIONS_FILE],
    },
    {
        "notebook": "02_lookup_table.ipynb",
        "idea": "image -> captions per split, start/stop tokens, the vocabulary",
        "reads": [files.CLEAN_CAPTIONS_FILE],
        "writes": [files.LOOKUP_TABLE_FILE, files.VOCABULARY_FILE],
    },
    {
        "notebook": "03_feature_extraction.ipynb",
        "idea": "a pretrained CNN turns each image into a vector",
        "reads": [files.CLEAN_CAPTIONS_FILE, "the images"],
        "writes": [files.FEATURES_FILE],
    },
    {
        "notebook": "04_word_embeddings.ipynb",
        "idea": "FastText word vectors -> the embedding matrix",
        "reads": [files.LOOKUP_TABLE_FILE, files.VOCABULARY_FILE],
        "writes": [files.WORD_VECTORS_FILE, files.EMBEDDING_MATRIX_FILE],
    },
    {
        "notebook": "05_merge_lstm_model.ipynb",
        "idea": "the merge model written with the Keras functional API: image vector + LSTM over the words; inject",
        "reads": [files.VOCABULARY_FILE, files.FEATURES_FILE, files.EMBEDDING_MATRIX_FILE],
        "writes": [files.UNTRAINED_MODEL_FILE],
    },
    {
        "notebook": "06_training.ipynb",
        "idea": "model.fit and its callbacks; teacher forcing; reading loss curves; a baseline; exposure bias",
        "reads": [files.LOOKUP_TABLE_FILE, files.FEATURES_FILE, files.UNTRAINED_MODEL_FILE],
        "writes": [files.MODEL_FILE, files.HISTORY_FILE, files.LOSS_CURVE_FILE],
    },
    {
        "notebook": "06b_training_speed.ipynb",
        "idea": "appendix: padding per batch and its word weights, batches sorted by length, the softmax only at targets",
        "reads": [files.LOOKUP_TABLE_FILE, files.FEATURES_FILE, files.UNTRAINED_MODEL_FILE],
        "writes": [],
    },
    {
        "notebook": "07_caption_generation.ipynb",
        "idea": "the greedy loop written out, beam search step by step, sampling; captions for your own photos",
        "reads": [files.MODEL_FILE, files.FEATURES_FILE, files.LOOKUP_TABLE_FILE],
        "writes": [files.GENERATED_CAPTIONS_FILE],
    },
    {
        "notebook": "08_evaluation_and_visualization.ipynb",
        "idea": "BLEU (the corpus_bleu call), METEOR, CIDEr-D; the best constant caption; published figures; pictures and an explorer",
        "reads": [files.GENERATED_CAPTIONS_FILE, files.LOOKUP_TABLE_FILE],
        "writes": [files.SCORES_FILE, files.CAPTION_GRID_FILE],
    },
    {
        "notebook": "09_metrics_vs_humans.ipynb",
        "idea": "do BLEU and CIDEr agree with people? rank correlation",
        "reads": ["Flickr8k's expert and crowd judgements (or a synthetic fixture)"],
        "writes": [files.JUDGEMENT_SCORES_FILE, files.AGREEMENT_FILE],
    },
    {
        "notebook": "10_visual_attention.ipynb",
        "idea": "attention over the CNN's grid: where the model looks for each word",
        "reads": [
            files.LOOKUP_TABLE_FILE,
            files.VOCABULARY_FILE,
            files.FEATURES_FILE,
            files.EMBEDDING_MATRIX_FILE,
            "the images",
        ],
        "writes": [files.SPATIAL_FEATURES_FILE, "attention/ (model, captions, comparison)"],
    },
    {
        "notebook": "11_transformer_decoder.ipynb",
        "idea": "a Transformer decoder over the grid: attention written out, its cross-attention checked, four models compared",
        "reads": [
            files.LOOKUP_TABLE_FILE,
            files.VOCABULARY_FILE,
            files.SPATIAL_FEATURES_FILE,
            "attention/comparison.json (10, when it ran)",
            "the images",
        ],
        "writes": ["transformer/ (model, captions, cross-attention picture, model_comparison.json)"],
    },
]


# --- timings -----------------------------------------------------------------------------------


def load_timings(path: str | os.PathLike = TIMINGS_FILE) -> dict:
    """``docs/timings.json``: ``{entry: {"seconds": {notebook: seconds} or null, ...}, "binder": {...}}``."""
    return paths.read_json(path)


def format_duration(seconds: float | None) -> str:
    """Seconds as seconds, minutes or hours, one decimal; ``None`` is "not measured yet"."""
    if seconds is None:
        return "not measured yet"
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def seconds_for(timings: dict, entry: str, notebook: str, *, binder: bool = False) -> float | None:
    """Measured seconds of ``notebook`` in ``entry`` (None when not measured); ``binder`` scales them by
    the Binder CPU factor of the file (an estimate: mybinder.org gives about one core)."""
    seconds = (timings.get(entry) or {}).get("seconds") or {}
    value = seconds.get(notebook)
    if value is None:
        return None
    return value * timings["binder"]["cpu_factor"] if binder else value


def _total(timings: dict, entry: str, *, binder: bool = False) -> str:
    """The whole course's time: the sum of the measured notebooks, naming those not measured yet (an appendix added
    after a measurement); "not measured yet" when none is."""
    values = {stage["notebook"]: seconds_for(timings, entry, stage["notebook"], binder=binder) for stage in STAGES}
    missing = [Path(name).stem for name, value in values.items() if value is None]
    if len(missing) == len(values):
        return format_duration(None)
    total = format_duration(sum(value for value in values.values() if value is not None))
    return total + (f" + {', '.join(missing)} (not measured yet)" if missing else "")


def timings_markdown(timings: dict | None = None, link_prefix: str = "../notebooks/") -> str:
    """The table of docs/teaching.md: each notebook's time on the sample and at Flickr8k size,
    on a 2-core CPU (measured) and on Binder (estimated)."""
    timings = timings or load_timings()
    lines = [
        "| notebook | sample, 2-core CPU | sample, Binder (est.) | Flickr8k, 2-core CPU | Flickr8k, Binder (est.) |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage in STAGES:
        name = stage["notebook"]
        cells = [
            format_duration(seconds_for(timings, entry, name, binder=binder))
            for entry in (SAMPLE_ENTRY, FLICKR8K_ENTRY)
            for binder in (False, True)
        ]
        lines.append(f"| [{Path(name).stem}]({link_prefix}{name}) | " + " | ".join(cells) + " |")
    totals = [
        _total(timings, entry, binder=binder) for entry in (SAMPLE_ENTRY, FLICKR8K_ENTRY) for binder in (False, True)
    ]
    lines.append("| **whole course** | " + " | ".join(f"**{t}**" for t in totals) + " |")
    return "\n".join(lines)


def course_map_markdown(timings: dict | None = None, link_prefix: str = "") -> str:
    """The map of notebook 00: what each notebook teaches, reads and writes, and how long it takes."""
    timings = timings or load_timings()
    lines = [
        "| notebook | the idea | reads | writes | sample, 2-core CPU | Flickr8k, 2-core CPU |",
        "|---|---|---|---|---:|---:|",
    ]
    code = lambda names: ", ".join(f"`{n}`" if "." in n and " " not in n else n for n in names) or "—"  # noqa: E731
    for stage in STAGES:
        name = stage["notebook"]
        lines.append(
            f"| [{Path(name).stem}]({link_prefix}{name}) | {stage['idea']} | {code(stage['reads'])} "
            f"| {code(stage['writes'])} | {format_duration(seconds_for(timings, SAMPLE_ENTRY, name))} "
            f"| {format_duration(seconds_for(timings, FLICKR8K_ENTRY, name))} |"
        )
    return "\n".join(lines)


# --- where a run stands ------------------------------------------------------------------------


def run_folder_status(run_dir: str | os.PathLike) -> list[dict]:
    """For each notebook: the files it writes that are in ``run_dir`` and those still missing."""
    run_dir = Path(run_dir)
    rows = []
    for stage in STAGES:
        written = [n for n in stage["writes"] if (run_dir / n).exists()]
        rows.append(
            {
                "notebook": stage["notebook"],
                "written": written,
                "missing": [n for n in stage["writes"] if n not in written],
            }
        )
    return rows


def next_notebook(run_dir: str | os.PathLike) -> str | None:
    """The first notebook (in course order) whose outputs are not all in ``run_dir``; None when all are."""
    for row in run_folder_status(run_dir):
        if row["missing"]:
            return row["notebook"]
    return None


def _written_files(folder: Path) -> list[Path]:
    names = {name for stage in STAGES for name in stage["writes"]} | {files.CONFIG_FILE}
    return [folder / name for name in sorted(names) if (folder / name).exists()]


def run_folders(runs_dir: str | os.PathLike = paths.RUNS_DIR) -> list[Path]:
    """The run folders in ``runs_dir`` (default ``runs/``) that hold at least one file a notebook
    writes, the most recently written first (the feature cache is not a run folder)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    folders = [folder for folder in runs_dir.iterdir() if folder.is_dir() and _written_files(folder)]
    return sorted(folders, key=lambda folder: max(f.stat().st_mtime for f in _written_files(folder)), reverse=True)


def run_folder_to_check(
    run_dir: str | os.PathLike, *, chosen: bool = False, runs_dir: str | os.PathLike = paths.RUNS_DIR
) -> tuple[Path, str]:
    """Which run folder notebook 00 checks, and why: ``run_dir`` when RUN_DIR ``chosen`` it or when it
    holds files already; otherwise the most recent run folder in ``runs_dir`` (made with other
    parameters: a student who ran the course with ``-p DATASET flickr8k`` sees that run)."""
    run_dir = Path(run_dir)
    if chosen:
        return run_dir, "the folder RUN_DIR names"
    if _written_files(run_dir):
        return run_dir, "the folder of these parameters (DATASET, ENCODER, WEIGHTS)"
    others = [folder for folder in run_folders(runs_dir) if folder != run_dir]
    if others:
        return others[0], (
            f"the most recent run in {runs_dir}; the folder of these parameters, {run_dir.name}, holds nothing yet"
        )
    return run_dir, "the folder of these parameters (DATASET, ENCODER, WEIGHTS); no run has written anything yet"


# --- is everything installed? ------------------------------------------------------------------


#: Dependencies Colab does without (its own notebook interface); as ``COLAB_SKIPS`` in scripts/colab_setup.py.
NOT_NEEDED_ON_COLAB = {"jupyterlab"}


def installed_requirements() -> list[dict]:
    """Each dependency of the installed package (pyproject.toml) for this platform: the pin,
    the installed version and whether it satisfies the pin."""
    from importlib import metadata

    from packaging.requirements import Requirement

    rows = []
    for text in metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # another platform's line, or a test-only extra
        if requirement.name in NOT_NEEDED_ON_COLAB and "google.colab" in sys.modules:
            continue  # Colab's own interface replaces it (scripts/colab_setup.py does not install it)
        version = None
        # conda-forge's CPU TensorFlow is the package "tensorflow" (pip's CPU wheel is "tensorflow-cpu").
        for name in (requirement.name, *(["tensorflow"] if requirement.name == "tensorflow-cpu" else [])):
            try:
                version = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                continue
        ok = version is not None and requirement.specifier.contains(version, prereleases=True)
        rows.append({"package": requirement.name, "pin": str(requirement.specifier), "installed": version, "ok": ok})
    return rows


def platform_note(system: str | None = None, machine: str | None = None) -> str | None:
    """A line for a platform the course's TensorFlow does not support (None elsewhere): Intel Macs have no
    TensorFlow after 2.16 (the course needs 2.20 or later). ``system``/``machine`` default to this computer's
    (``platform.system()``, ``platform.machine()``). docs/platforms.md says more."""
    system = platform.system() if system is None else system
    machine = (platform.machine() if machine is None else machine).lower()
    if system == "Darwin" and machine in ("x86_64", "amd64", "i386"):
        return (
            "This is an Intel Mac: TensorFlow publishes no release after 2.16 for it, and the course needs 2.20 or "
            "later, so pip cannot install it here. Use Google Colab or Binder (the badges at the top of each "
            "notebook), a Linux machine, or an Apple Silicon Mac (docs/platforms.md)."
        )
    return None


def memory_limit_bytes() -> int | None:
    """The memory this process may use: the container's limit (Binder: about 2 GB) or the machine's RAM."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 50:
            return int(text)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def machine_summary() -> dict:
    """Python, CPUs, memory, and whether the MobileNetV2 ImageNet weights are already cached."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = memory_limit_bytes()
    weights = keras_cache_dir() / encoder_spec("mobilenet_v2").weights_file
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "cpus": cpus,
        "memory_gb": None if memory is None else round(memory / 2**30, 1),
        "imagenet_weights_cached": weights.exists(),
        "weights_file": str(weights),
        "colab": "google.colab" in sys.modules,
    }


def requirements_markdown(rows: list[dict]) -> str:
    lines = ["| package | pinned | installed | |", "|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['package']} | `{row['pin']}` | {row['installed'] or 'missing'} | {'✅' if row['ok'] else '❌'} |"
        )
    return "\n".join(lines)


def markdown_text(text: str) -> str:
    """``text`` as it should read in a Markdown table cell: ``<unk>`` or ``<DATASET>`` shown, not taken
    for HTML tags (and dropped by the renderer); ``|`` does not end the cell."""
    return html.escape(text, quote=False).replace("|", "\\|")


def parameters_markdown() -> str:
    """Every parameter of the course once: type, default, meaning and the notebooks that have it
    (from :mod:`course.parameters`, as ``python -m helpers run --list-parameters`` shows them)."""
    lines = ["| parameter | type | default | meaning | notebooks |", "|---|---|---|---|---|"]
    for p in parameters.PARAMETERS:
        where = "all" if len(p.notebooks) == len(files.NOTEBOOKS) else ", ".join(p.notebooks)
        lines.append(f"| `{p.name}` | {p.type.__name__} | `{p.default!r}` | {markdown_text(p.help)} | {where} |")
    return "\n".join(lines)
