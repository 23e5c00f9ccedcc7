"""Where things live: the repository, the data and the run folders.

Role: course machinery (locating data). Every path in the course is resolved from the repository root,
never from the current directory, so notebooks, tests and ``python -m helpers run`` agree; JSON files are
read and written here (atomically).

A *run folder* holds everything one run of the course writes; its file names belong to
:mod:`course.files`, its ``config.json`` to :mod:`course.config`, its default name to
:mod:`course.run_folder`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from course.files import MADE_BY

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
SAMPLE_DIR = DATA_DIR / "sample"
FLICKR8K_DIR = DATA_DIR / "flickr8k"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
RUNS_DIR = REPO_ROOT / "runs"


class NotACheckoutError(ImportError):
    """``helpers`` was installed without the course around it (``pip install .`` rather than ``-e``)."""


def _require_checkout() -> None:
    """Fail at once, saying what to do, when ``helpers`` is not inside a clone of the course.

    The notebooks and the bundled data are not part of the Python package: a non-editable install
    (``pip install .``, or ``pip install git+https://...``) copies ``helpers`` alone into
    site-packages, where every path below would point nowhere."""
    if not (NOTEBOOKS_DIR.is_dir() and SAMPLE_DIR.is_dir()):
        raise NotACheckoutError(
            f"helpers is installed at {REPO_ROOT / 'helpers'} without the course's notebooks/ and data/ beside it "
            "(a non-editable install). Clone the repository and install it editable instead: "
            'git clone <the course repository> && cd <its folder> && pip install -e ".[test]"'
        )


_require_checkout()


def slug(text: str) -> str:
    """``text`` with every run of characters other than letters, digits, ``_`` and ``.`` made one ``_``."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "x"


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
        usual_permissions(tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def usual_permissions(path: str | os.PathLike) -> None:
    """Give a file made by ``tempfile.mkstemp`` (mode 0600) the mode of any new file: ``0o666`` less the
    umask, so a shared feature cache or run folder stays readable by the others it is shared with."""
    os.chmod(path, 0o666 & ~current_umask())


def current_umask() -> int:
    """The process umask, read without setting it to 0 even for a moment (Linux: ``/proc/self/status``; elsewhere
    it is set to the strictest 0o077 while it is read, so a file another thread makes then is private, not open)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, with an error that names the file and says which notebook makes it."""
    path = require(path)
    with path.open(encoding="utf-8-sig") as handle:  # -sig: a BOM (some Windows editors add one) is dropped
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error}).") from error
        except ValueError as error:  # e.g. a number of over 4,300 digits (Python's int limit)
            raise ValueError(f"{path} is not valid JSON for the course ({str(error)[:120]}).") from None
        except RecursionError:
            raise ValueError(f"{path} is not valid JSON for the course (nested too deeply to read).") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start}).") from None


def require(path: str | os.PathLike) -> Path:
    """Return ``path`` if it exists, else raise an error naming the notebook that makes it."""
    path = Path(path)
    if not path.exists():
        maker = MADE_BY.get(path.name)
        hint = f" It is written by notebooks/{maker}: run that notebook first (same parameters)." if maker else ""
        raise FileNotFoundError(f"{path} does not exist.{hint}")
    return path


# Notebook 03's feature cache (git-ignored, inside runs/), keyed by images/encoder/weights/size.
FEATURE_CACHE_DIR = RUNS_DIR / "feature_cache"
