"""Where things live: the repository, the data and the run folders.

Every path in the course is resolved from the repository root, never from the
current directory, so notebooks, tests and ``python -m helpers run`` agree.

A *run folder* holds everything one run of the course writes (cleaned captions,
vocabulary, features, model, scores, pictures, executed notebooks). Its default
name is made from the parameters that change the results, so two runs with
different parameters never overwrite each other: ``runs/<dataset>-<encoder>-<weights>``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
SAMPLE_DIR = DATA_DIR / "sample"
FLICKR8K_DIR = DATA_DIR / "flickr8k"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
RUNS_DIR = REPO_ROOT / "runs"

# File names inside a run folder, one spelling everywhere.
CLEAN_CAPTIONS_FILE = "captions_clean.json"       # 01
LOOKUP_TABLE_FILE = "lookup_table.json"           # 02
VOCABULARY_FILE = "vocabulary.json"               # 02
FEATURES_FILE = "features.npz"                    # 03
WORD_VECTORS_FILE = "word_vectors.txt"            # 04 (word2vec text format)
EMBEDDING_MATRIX_FILE = "embedding_matrix.npy"    # 04
UNTRAINED_MODEL_FILE = "model_untrained.keras"    # 05
MODEL_FILE = "model.keras"                        # 06
HISTORY_FILE = "history.json"                     # 06
LOSS_CURVE_FILE = "loss_curves.png"               # 06
GENERATED_CAPTIONS_FILE = "generated_captions.json"  # 07
SCORES_FILE = "scores.json"                       # 08
CAPTION_GRID_FILE = "caption_grid.png"            # 08
SPATIAL_FEATURES_FILE = "spatial_features.npz"    # 10: the CNN's last feature map of every image (float16 when it fits)
ATTENTION_DIR = "attention"                       # 10: the attention model, its captions and the comparison
CONFIG_FILE = "config.json"                       # every notebook adds its section


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "x"


def run_name(dataset: str, encoder: str, weights: str) -> str:
    """Default run-folder name, e.g. ``sample-mobilenet_v2-auto``."""
    dataset_name = Path(dataset).name if ("/" in dataset or os.sep in dataset) else dataset
    weights_name = Path(weights).stem if ("/" in weights or os.sep in weights) else weights
    return "-".join(_slug(part) for part in (dataset_name, encoder, weights_name))


def resolve_run_dir(run_dir: str | os.PathLike | None, dataset: str, encoder: str, weights: str) -> Path:
    """The run folder for these parameters, created if needed.

    An empty ``run_dir`` gives ``runs/<dataset>-<encoder>-<weights>``; a relative
    one is taken relative to the repository root; an absolute one is used as is.
    """
    if run_dir:
        path = Path(run_dir).expanduser()
        if not path.is_absolute():
            path = REPO_ROOT / path
    else:
        path = RUNS_DIR / run_name(dataset, encoder, weights)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON to ``path`` through a temporary file and a rename, so a crash
    never leaves a half-written file that looks complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, with an error that names the file and says which notebook makes it."""
    path = require(path)
    with path.open(encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error}).") from error


def require(path: str | os.PathLike) -> Path:
    """Return ``path`` if it exists, else raise an error naming the notebook that makes it."""
    path = Path(path)
    if not path.exists():
        maker = _MADE_BY.get(path.name)
        hint = f" It is written by {maker}: run that notebook first (same parameters)." if maker else ""
        raise FileNotFoundError(f"{path} does not exist.{hint}")
    return path


def update_config(run_dir: str | os.PathLike, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into section ``section`` of the run's ``config.json`` and save it."""
    path = Path(run_dir) / CONFIG_FILE
    config = read_json(path) if path.exists() else {}
    config.setdefault(section, {}).update(values)
    write_json_atomic(path, config)
    return config


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_FILE
    return read_json(path) if path.exists() else {}


_MADE_BY = {
    CLEAN_CAPTIONS_FILE: "notebooks/01_text_cleaning.ipynb",
    LOOKUP_TABLE_FILE: "notebooks/02_lookup_table.ipynb",
    VOCABULARY_FILE: "notebooks/02_lookup_table.ipynb",
    FEATURES_FILE: "notebooks/03_feature_extraction.ipynb",
    EMBEDDING_MATRIX_FILE: "notebooks/04_word_embeddings.ipynb",
    UNTRAINED_MODEL_FILE: "notebooks/05_merge_lstm_model.ipynb",
    MODEL_FILE: "notebooks/06_training.ipynb",
    GENERATED_CAPTIONS_FILE: "notebooks/07_caption_generation.ipynb",
    SCORES_FILE: "notebooks/08_evaluation_and_visualization.ipynb",
}

# Notebook 03's feature cache (git-ignored, inside runs/) and its list of skipped images.
FEATURE_CACHE_DIR = RUNS_DIR / "feature_cache"    # 03: cached features, keyed by images/encoder/weights/size
SKIPPED_IMAGES_FILE = "skipped_images.json"       # 03: image id -> why it has no features
