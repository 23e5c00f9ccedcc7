"""Reading and bounding parameter values: a strict ``-p`` number reader, documented maxima, path checks.

Role: course machinery (parameters), used by :mod:`course.parameters` so that ``python -m helpers run`` refuses a
bad value (one line naming it and the rule, exit 2) before a run folder is made, instead of a notebook failing
minutes later:

* :func:`parse_value` reads ``-p`` values: decimal numbers only (``(((1)))``, ``0x10``, ``1_0`` and a
  3,000-sign ``+++...1`` stay strings, which an int or float parameter then refuses), ``True``/``False``/``None``.
* :data:`MAXIMA`: the largest value of each numeric parameter (``SEED`` below 2**32, as NumPy and Keras need;
  sizes far above anything the course trains, far below what exhausts memory).
* :data:`PATH_RULES`: the parameters that name a file or folder; the path must exist and be the right kind
  (a regular file, not ``/dev/zero`` or a FIFO; a folder where a folder is meant).
"""

from __future__ import annotations

import dataclasses
import math
import re
import stat
from pathlib import Path
from typing import Any

from course.paths import REPO_ROOT

#: The longest ``-p`` value read as a number; longer ones stay strings (and a numeric parameter refuses them).
MAX_NUMBER_TEXT = 40

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_WORDS = {"True": True, "False": False, "None": None}

#: The largest value of each numeric parameter (``python -m helpers run --list-parameters`` shows them).
MAXIMA: dict[str, float] = {
    "SEED": 2**32 - 1,  # numpy.random.seed and keras.utils.set_random_seed need a seed below 2**32
    "EPOCHS": 10_000,
    "BATCH_SIZE": 65_536,
    "UNITS": 16_384,  # an LSTM of 16,384 units already has over 2 billion weights
    "EMBEDDING_DIM": 4_096,
    "MIN_WORD_COUNT": 1_000_000,
    "NUM_SHARDS": 100_000,
    "SHARD_INDEX": 99_999,
    "FASTTEXT_EPOCHS": 10_000,
    "FASTTEXT_WINDOW": 1_000,
    "FASTTEXT_MIN_COUNT": 1_000_000,
    "PATIENCE": 10_000,
    "BASELINE_EPOCHS": 10_000,
    "BASELINE_MAX_PAIRS": 1_000_000_000,
    "BEAM_WIDTH": 100,
    "NO_REPEAT_NGRAM": 100,
    "NUM_EXAMPLES": 1_000,
    "NUM_BEST_WORST": 1_000,
    "NUM_DISAGREEMENTS": 10_000,
    "ATTENTION_PENALTY": 1_000.0,
    "TRAIN_IMAGES": 10_000_000,
    "TRANSFORMER_BLOCKS": 64,
    "TRANSFORMER_HEADS": 16,  # also one of 1, 2, 4, 8, 16 (the width, 128, splits evenly)
    "TRANSFORMER_EPOCHS": 10_000,
}

#: Parameters naming a path: "file", "folder" or "file or folder" (keywords and "" are allowed as declared).
PATH_RULES: dict[str, str] = {
    "DATASET": "file or folder",
    "WEIGHTS": "file",
    "EMBEDDINGS": "file",
    "IMAGES_DIR": "folder",
    "JUDGEMENTS_DIR": "folder",
}
#: Of those, the ones where "" means "the default" (for the others "" is not a path).
EMPTY_MEANS_DEFAULT = ("IMAGES_DIR", "JUDGEMENTS_DIR")


def with_maximum(parameter):
    """``parameter`` (a :class:`course.parameters.Parameter`) with its maximum from :data:`MAXIMA`, when it
    declares none itself."""
    if parameter.maximum is None and parameter.name in MAXIMA:
        return dataclasses.replace(parameter, maximum=MAXIMA[parameter.name])
    return parameter


def parse_value(text: str) -> Any:
    """A ``-p`` value: an int or float when it is a plain decimal number, True/False/None, else the string itself.

    Never evaluates an expression (``(((1)))``, ``0x10``, ``+++1`` stay strings; so does any number written
    with more than :data:`MAX_NUMBER_TEXT` characters)."""
    if text in _WORDS:
        return _WORDS[text]
    if len(text) > MAX_NUMBER_TEXT:
        return text
    if _INTEGER.fullmatch(text):
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text


def number_problem(value: Any) -> str | None:
    """Why a number is not usable as a parameter (nan or infinite), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "a finite number is needed"
    return None


def resolve(text: str) -> Path:
    """A path parameter as the notebooks read it: as given when it exists, else under the repository."""
    path = Path(text).expanduser()
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path
    return path


def path_problem(name: str, value: str, keywords: tuple = ()) -> str | None:
    """Why ``value`` of path parameter ``name`` cannot be used (does not exist, wrong kind of file), or None."""
    kind = PATH_RULES.get(name)
    if kind is None or value in keywords or value.lower() in keywords:
        return None
    if value == "":
        return None if name in EMPTY_MEANS_DEFAULT else f"an empty path; use {' or '.join(map(repr, keywords))}"
    if "\0" in value:
        return "a path cannot hold a NUL character"
    path = resolve(value)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"no such {kind.split()[0] if kind == 'file' else kind} ({path})"
    except (OSError, ValueError) as error:
        return f"cannot be read ({getattr(error, 'strerror', None) or error})"
    is_file, is_folder = stat.S_ISREG(mode), stat.S_ISDIR(mode)
    if kind == "file" and not is_file:
        return f"{path} is not a regular file" + (" (a folder)" if is_folder else " (a device, pipe or socket)")
    if kind == "folder" and not is_folder:
        return f"{path} is not a folder"
    if kind == "file or folder" and not (is_file or is_folder):
        return f"{path} is neither a regular file nor a folder (a device, pipe or socket)"
    return None
