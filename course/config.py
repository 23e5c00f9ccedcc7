"""``config.json``: one typed section per stage, and the errors a run folder raises.

Role: course machinery (read and written through :class:`course.run_folder.RunFolder`). Keys a section
does not know (an older or newer run) are kept in its ``extra`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from course.files import CONFIG_FILE, NOTEBOOKS
from course.paths import read_json, write_json_atomic


class OneLine:
    """Shown by Jupyter (IPython calls ``_render_traceback_``) as one line, without a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class MissingInputError(OneLine, FileNotFoundError):
    """A file a notebook reads is not in the run folder; the message names it, the notebook that writes it and,
    when given, the ``command`` that builds it (:meth:`course.run_folder.RunFolder.build_command`)."""

    def __init__(
        self,
        path: str | os.PathLike,
        notebook: str | None = None,
        what: str | None = None,
        command: str = "",
        *,
        in_notebook: bool = True,
    ):
        path = Path(path)
        self.path, self.notebook, self.command = path, notebook, command
        missing = what or f"{path.name} is missing from the run folder {path.parent}"
        if notebook and command:
            hint = (
                f": it is written by notebooks/{notebook}. Build this notebook's inputs by running the notebooks "
                f"before it into this run folder: {command_advice(command)}"
                if in_notebook
                else f": it is written by notebooks/{notebook}. Build it with `{command}` in the repository"
            )
        elif notebook:
            hint = (
                f": it is written by notebooks/{notebook}; run that notebook (and the ones before it) into this "
                "run folder first, with the same parameters"
            )
        else:
            hint = ""
        super().__init__(f"{missing}{hint}.")


def command_advice(command: str) -> str:
    """Where to type ``command``: a cell with ``!`` (on Colab first: no terminal at hand) or a terminal."""
    if "google.colab" in sys.modules:
        return f"run the cell `!{command}` (it takes a few minutes), then rerun this notebook"
    cell = cell_python() + command.removeprefix("python")
    return f"in a new cell `!{cell}`, or `{command}` in a terminal in the repository; then rerun this notebook"


def cell_python() -> str:
    """``python`` when a cell's ``!python`` is this kernel's interpreter, else its full path (a kernel of a
    virtual environment that is not activated: ``!python`` would be another Python)."""
    found = shutil.which("python")
    if found and os.path.abspath(found) == os.path.abspath(sys.executable):
        return "python"
    return shlex.quote(sys.executable)


def notebook_before(notebook: str) -> str | None:
    """The two-digit number of the notebook before ``notebook`` ("06" or "06_training.ipynb" -> "05")."""
    numbers = [name[:2] for name in NOTEBOOKS]
    prefix = str(notebook)[:2]
    if prefix not in numbers or numbers.index(prefix) == 0:
        return None
    return numbers[numbers.index(prefix) - 1]


class RunFolderError(OneLine, ValueError):
    """The run folder cannot be used: not a folder, or made with other parameters (the message says which)."""


@dataclass
class Section:
    """Base of the config.json sections: unknown keys are kept in ``extra`` and written back."""

    extra: dict = field(default_factory=dict, kw_only=True)
    NAME = ""

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Section":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in values.items() if k in known}, extra={k: v for k, v in values.items() if k not in known}
        )

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**values, **self.extra}


@dataclass
class DataSection(Section):  # 01
    NAME = "data"
    dataset: str
    format: str
    root: str
    images_dir: str
    split_sizes: dict
    skipped: dict = field(default_factory=dict)
    keep_short_words: bool = False  # KEEP_SHORT_WORDS: numbers and one-letter words kept by the cleaning


@dataclass
class TextSection(Section):  # 02
    NAME = "text"
    max_length: int
    vocabulary_size: int = 0
    min_word_count: int = 1
    start_token: str = "startseq"
    stop_token: str = "endseq"


@dataclass
class FeaturesSection(Section):  # 03
    NAME = "features"
    encoder: str
    weights: str
    pretrained: bool
    image_size: int
    feature_dim: int
    seed: int | None = None
    weights_reason: str = ""
    skipped_images: int = 0
    cache_dir: str = ""


@dataclass
class EmbeddingsSection(Section):  # 04
    NAME = "embeddings"
    kind: str
    source: str
    dim: int
    epochs: int
    window: int
    min_count: int
    covered_fraction: float
    missing: int


@dataclass
class ModelSection(Section):  # 05
    NAME = "model"
    architecture: str
    units: int
    dropout: float
    train_embeddings: bool
    learning_rate: float
    input_length: int
    parameters: int


@dataclass
class TrainingSection(Section):  # 06
    NAME = "training"
    mode: str
    epochs: int
    epochs_run: int
    batch_size: int
    seed: int
    patience: int
    strategy: str
    best_epoch: int
    best_val_loss: float
    baseline_val_loss: float
    seconds_per_epoch: float
    prefix_pair_baseline: dict | None = None


@dataclass
class AttentionSection(Section):  # 10
    NAME = "attention"
    grid_shape: list
    grid_dtype: str
    units: int
    penalty: float
    start_from_image: bool
    epochs_run: int
    best_val_loss: float
    box_ratio: float | None
    scores: dict


@dataclass
class DecodingSection(Section):  # 07: the settings the caption command decodes with
    NAME = "decoding"
    no_repeat_ngram: int
    beam_width: int
    length_alpha: float


@dataclass
class ScoresSection(Section):  # 08
    NAME = "scores"
    model: dict
    beam: dict
    best_constant_bleu4: float

    @property
    def bleu(self) -> dict:
        return {k: v for k, v in self.model.items() if k.startswith("bleu")}

    def to_dict(self) -> dict:
        return {**super().to_dict(), "bleu": self.bleu}


SECTIONS = {
    cls.NAME: cls
    for cls in (
        DataSection,
        TextSection,
        FeaturesSection,
        EmbeddingsSection,
        ModelSection,
        TrainingSection,
        ScoresSection,
    )
}


@dataclass
class CleanCaptions:
    """``captions_clean.json`` (01): the dataset, its images folder, the splits and the cleaned captions."""

    dataset: str
    root: str
    images_dir: Path
    splits: dict[str, list[str]]
    captions: dict[str, list[str]]


@dataclass
class BeamCaptions:
    """``beam_captions.json`` (07)."""

    width: int
    alpha: float
    captions: dict[str, str]


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The whole ``config.json`` of a run folder as a dict ({} when there is none); :func:`read_config_file`."""
    path = Path(run_dir) / CONFIG_FILE
    return read_config_file(path) if path.exists() else {}


#: Every top-level key the course writes into ``config.json`` (a file with none of them is another program's).
COURSE_CONFIG_KEYS = frozenset({"parameters", "outcomes", DecodingSection.NAME, AttentionSection.NAME, *SECTIONS})


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """A run folder's ``config.json``, checked: a JSON object whose ``parameters`` and sections are objects.

    Anything else (``[]``, broken JSON, ``{"parameters": "abc"}``) raises :class:`RunFolderError`, one line
    naming the file and the rule."""
    path = Path(path)
    try:
        config = read_json(path)
    except (ValueError, OSError) as error:  # broken JSON, not UTF-8, a 5,000-digit number, unreadable
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RunFolderError(message if str(path) in message else f"{path}: {message}") from None
    if not isinstance(config, dict):
        raise RunFolderError(f"{path}: a run folder's config.json is a JSON object, not {type(config).__name__}")
    for name, value in config.items():
        if name in COURSE_CONFIG_KEYS and not isinstance(value, dict):
            raise RunFolderError(f"{path}: {name!r} must be a JSON object, not {type(value).__name__} {value!r:.40}")
    return config


def is_course_config(config: Mapping[str, Any]) -> bool:
    """Whether a (non-empty) ``config.json`` was written by the course: it has one of :data:`COURSE_CONFIG_KEYS`."""
    return not config or any(name in COURSE_CONFIG_KEYS for name in config)


def update_config(run_dir: str | os.PathLike, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into section ``section`` of ``config.json`` (for tests and tools that build a run
    folder by hand; notebooks use :meth:`RunFolder.save_section`)."""
    path = Path(run_dir) / CONFIG_FILE
    config = read_config_file(path) if path.exists() else {}
    config.setdefault(section, {}).update(values)
    write_json_atomic(path, config)
    return config
