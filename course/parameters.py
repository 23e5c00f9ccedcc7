"""Every parameter of the course, declared once: name, type, default, allowed values, meaning, notebooks.

Role: course machinery (parameters). Used by ``python -m helpers run`` (checks every ``-p`` before notebook 00 starts, passes each notebook only
its own parameters, ``--list-parameters``), by :class:`course.run_folder.RunFolder` (the parameters that change
results name the default run folder and are recorded in it) and by notebook 00's parameter table. Each
notebook's ``parameters`` cell holds exactly the parameters declared for it here, as annotated literals
papermill reads; ``tests/test_parameters.py`` keeps the two in step.

**Adding a parameter** is one line in :data:`PARAMETERS` plus the same line in the ``parameters`` cell of
each notebook named (type, default and ``# meaning`` as declared), e.g.::

    Parameter("NO_REPEAT_NGRAM", int, 0, "never repeat an n-gram of this size (0: off)", ("07",), minimum=0),

``result_changing=False`` for parameters that do not change what a run computes (display, locations,
speed) or only change outputs that record them (07's decoding options); every other parameter names the
default run folder and is checked against the run it opens.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from course import parameter_values as limits
from helpers.encoders import ENCODERS


class ParameterError(ValueError):
    """A parameter value that is not allowed; the message is one line naming it and what is allowed."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: type
    default: Any
    help: str
    notebooks: tuple[str, ...]  # two-digit prefixes of the notebooks whose parameters cell has it
    choices: tuple | None = None  # allowed values (None: any value of the type)
    minimum: float | None = None
    maximum: float | None = None
    result_changing: bool = True  # False: display, locations or speed only
    open_choices: bool = False  # True: ``choices`` are keywords, any other string is a path
    extra_check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    def allowed(self) -> str:
        """What is allowed, in words (for error messages and --list-parameters)."""
        if self.choices and self.open_choices:
            return " or ".join(repr(c) for c in self.choices) + " or a path"
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        words = {int: "a whole number", float: "a number", bool: "True or False", str: "a string"}[self.type]
        if self.minimum is not None and self.maximum is not None:
            return f"{words} from {self.minimum} to {self.maximum}"
        if self.minimum is not None:
            return f"{words} >= {self.minimum}"
        return words

    def check(self, value: Any) -> Any:
        """The value converted to this parameter's type; :class:`ParameterError` if it is not allowed."""
        problem = f"{self.name}={shown(value)} is not allowed: {self.allowed()}"
        if self.type is bool:
            if not isinstance(value, bool):
                raise ParameterError(problem)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParameterError(problem)
            value = float(value)
            if problem_of_number := limits.number_problem(value):
                raise ParameterError(f"{problem}; {problem_of_number}")
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParameterError(problem)
        elif not isinstance(value, str):
            raise ParameterError(problem)
        if self.choices and not self.open_choices and value not in self.choices:
            raise ParameterError(problem)
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            raise ParameterError(problem)
        if self.extra_check is not None and (message := self.extra_check(value)):
            raise ParameterError(f"{self.name}={shown(value)}: {message}")
        if self.type is str and (message := limits.path_problem(self.name, value, self.choices or ())):
            raise ParameterError(f"{self.name}={shown(value)}: {message}")
        return value


def shown(value: Any) -> str:
    """A value as an error message shows it: its repr, cut at 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:70]}... ({len(text):,} characters)"


PARAMETERS: list[Parameter] = [
    Parameter(
        "DATASET",
        str,
        "sample",
        '"sample" (bundled), "flickr8k" (downloaded once), or a path to captions in any supported format (README)',
        ("00", "01"),
        choices=("sample", "flickr8k"),
        open_choices=True,
    ),
    Parameter(
        "ENCODER",
        str,
        "mobilenet_v2",
        "the CNN: inception_v3, mobilenet, mobilenet_v2, mobilenet_v3_small/_large, efficientnet_b0, efficientnetv2_b0",
        ("00", "03"),
        choices=tuple(ENCODERS),
    ),
    Parameter(
        "WEIGHTS",
        str,
        "auto",
        'CNN weights: "auto", "imagenet", "none" (untrained) or a weights file path',
        ("00", "03"),
        choices=("auto", "imagenet", "none"),
        open_choices=True,
    ),
    Parameter(
        "EPOCHS",
        int,
        100,
        "at most this many passes over the training captions; 06 stops earlier when the dev loss stops improving",
        ("06",),
        minimum=1,
    ),
    Parameter(
        "BATCH_SIZE",
        int,
        64,
        "images per batch in 03, captions (or prefix pairs) per step in 06",
        ("03", "06"),
        minimum=1,
    ),
    Parameter(
        "SEED",
        int,
        42,
        "random seed: the same seed gives the same run",
        ("01", "03", "04", "05", "06", "07"),
        minimum=0,
    ),
    Parameter(
        "RUN_DIR",
        str,
        "",
        'where the run\'s files go; "" means runs/<DATASET>-<ENCODER>-<WEIGHTS>[-<hash of other changed parameters>]',
        ("00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11"),
        result_changing=False,
    ),
    Parameter(
        "IMAGES_DIR",
        str,
        "",
        'images folder when it is not beside the caption file (COCO); "" means find it',
        ("01",),
        result_changing=False,
    ),
    Parameter(
        "KEEP_SHORT_WORDS",
        bool,
        False,
        'cleaning keeps numbers and one-letter words ("a", "2"); False drops them (the classic cleaning)',
        ("01",),
    ),
    Parameter(
        "MIN_WORD_COUNT", int, 2, "words seen fewer times in the training captions become <unk>", ("02",), minimum=1
    ),
    Parameter(
        "TRAIN_IMAGES",
        int,
        0,
        "train on the first N training images only (0: all); a class on Binder or Colab: 1000 (docs/teaching.md)",
        ("02",),
        minimum=0,
    ),
    Parameter(
        "NUM_SHARDS",
        int,
        1,
        "split the extraction over this many machines (COCO, Flickr30k); 1 means all here",
        ("03",),
        minimum=1,
        result_changing=False,
    ),
    Parameter(
        "SHARD_INDEX",
        int,
        0,
        "which shard this machine extracts, 0 .. NUM_SHARDS-1",
        ("03",),
        minimum=0,
        result_changing=False,
    ),
    Parameter(
        "FEATURE_CACHE",
        str,
        "",
        'folder of cached features, shared by shards; "" means runs/feature_cache',
        ("03", "10", "11"),
        result_changing=False,
    ),
    Parameter(
        "MEASURE_ENCODERS",
        bool,
        True,
        "time every encoder for the table in section 3 (about a minute on 2 cores)",
        ("03",),
        result_changing=False,
    ),
    Parameter(
        "EMBEDDINGS",
        str,
        "fasttext",
        '"fasttext" (trained here on the training captions) or a path to '
        "downloaded vectors: word2vec/GloVe text, FastText .vec or .bin",
        ("04",),
        choices=("fasttext",),
        open_choices=True,
    ),
    Parameter(
        "EMBEDDING_DIM",
        int,
        100,
        "length of each FastText word vector (downloaded vectors keep their own)",
        ("04",),
        minimum=1,
    ),
    Parameter("FASTTEXT_EPOCHS", int, 20, "passes of FastText over the training captions", ("04",), minimum=1),
    Parameter("FASTTEXT_WINDOW", int, 5, "words on each side that count as context", ("04",), minimum=1),
    Parameter(
        "FASTTEXT_MIN_COUNT",
        int,
        1,
        "words seen fewer times get no vector of their own (FastText still builds one from n-grams)",
        ("04",),
        minimum=1,
    ),
    Parameter(
        "MODEL",
        str,
        "merge",
        '"merge" (the image joins after the LSTM) or "inject" (the image is the LSTM\'s initial state)',
        ("05",),
        choices=("merge", "inject"),
    ),
    Parameter("UNITS", int, 256, "size of the LSTM state and of the dense layers", ("05",), minimum=1),
    Parameter(
        "DROPOUT",
        float,
        0.5,
        "dropout on the image features and on the word embeddings",
        ("05",),
        minimum=0.0,
        maximum=0.95,
    ),
    Parameter(
        "TRAIN_EMBEDDINGS", bool, True, "fine-tune the word vectors of 04 (True) or keep them frozen (False)", ("05",)
    ),
    Parameter("LEARNING_RATE", float, 0.001, "Adam's step size", ("05",), minimum=1e-7, maximum=1.0),
    Parameter(
        "PATIENCE",
        int,
        10,
        "stop after this many epochs without a better dev loss (the learning rate halves after half as many)",
        ("06",),
        minimum=1,
    ),
    Parameter(
        "STRATEGY",
        str,
        "default",
        '"default" (one device) or "mirrored" (tf.distribute over every GPU, or every CPU device)',
        ("06",),
        choices=("default", "mirrored"),
        result_changing=False,
    ),
    Parameter(
        "BASELINE_EPOCHS",
        int,
        4,
        "epochs of the slow prefix-pair training, for comparison (at most EPOCHS; 0 skips it)",
        ("06",),
        minimum=0,
        result_changing=False,
    ),
    Parameter(
        "BASELINE_MAX_PAIRS",
        int,
        100000,
        "skip the prefix-pair comparison above this many training pairs (Flickr8k: ~300,000)",
        ("06",),
        minimum=0,
        result_changing=False,
    ),
    # decoding options change only 07/08's captions and scores, which record them: an existing run may be
    # decoded again with other values (python -m helpers run --only 07 08 -p BEAM_WIDTH 5)
    Parameter(
        "BEAM_WIDTH",
        int,
        3,
        "captions kept at each step of beam search (1: greedy decoding)",
        ("07", "10", "11"),
        minimum=1,
        result_changing=False,
    ),
    Parameter(
        "LENGTH_ALPHA",
        float,
        0.7,
        "beam length normalisation: rank by log P / length^alpha (0: none, 1: per word)",
        ("07", "10", "11"),
        minimum=0.0,
        maximum=5.0,
        result_changing=False,
    ),
    Parameter(
        "NO_REPEAT_NGRAM",
        int,
        3,
        "no caption repeats a run of this many words (0: no guard; also used by the caption command)",
        ("07",),
        minimum=0,
        result_changing=False,
    ),
    Parameter(
        "NUM_EXAMPLES", int, 12, "test images shown in the caption grid", ("08",), minimum=1, result_changing=False
    ),
    Parameter(
        "NUM_BEST_WORST",
        int,
        4,
        "test images shown among the best and among the worst captions",
        ("08",),
        minimum=1,
        result_changing=False,
    ),
    Parameter(
        "JUDGEMENTS_DIR",
        str,
        "",
        "folder with Flickr8k's ExpertAnnotations.txt, CrowdFlowerAnnotations.txt "
        'and token file; "" means data/flickr8k, else ../shared/data/flickr8k_text, else the synthetic fixture',
        ("09",),
        result_changing=False,
    ),
    # 10's own options change only its files (attention/, the "attention" section), which record them
    Parameter(
        "START_FROM_IMAGE",
        bool,
        False,
        "start the LSTM from the average picture, as Xu et al. do (True), or "
        "blind (False: the image comes in only through attention)",
        ("10",),
        result_changing=False,
    ),
    Parameter(
        "ATTENTION_PENALTY",
        float,
        0.0,
        "weight of the doubly stochastic attention loss of Show, Attend and Tell (0: off)",
        ("10",),
        minimum=0.0,
        result_changing=False,
    ),
    Parameter(
        "ATTENTION_WORD",
        str,
        "",
        'the word whose average attention map is drawn; "" picks the most generated noun-like word',
        ("10",),
        result_changing=False,
    ),
    Parameter(
        "COMPARE_MODELS",
        str,
        "auto",
        "train the architecture that is not MODEL (06 trained that one) here for the comparison table: "
        '"yes", "no", '
        '"auto" (only up to 10,000 training captions)',
        ("10",),
        choices=("auto", "yes", "no"),
        result_changing=False,
    ),
    # 11's own options change only its files (transformer/, the "transformer" section), which record them
    Parameter(
        "TRANSFORMER_BLOCKS",
        int,
        1,
        "decoder blocks of the Transformer (each: causal self-attention, cross-attention, feed-forward)",
        ("11",),
        minimum=1,
        result_changing=False,
    ),
    Parameter(
        "TRANSFORMER_HEADS",
        int,
        2,
        "attention heads per layer of the Transformer (its width, 128, must be a multiple)",
        ("11",),
        choices=(1, 2, 4, 8, 16),
        result_changing=False,
    ),
    Parameter(
        "GRID_POSITIONS",
        bool,
        True,
        "add a learned position vector to each grid cell (False: the grid is an unordered set, as in 10)",
        ("11",),
        result_changing=False,
    ),
    Parameter(
        "TRANSFORMER_EPOCHS",
        int,
        30,
        "at most this many epochs for the Transformer (early stopping after PATIENCE epochs without progress)",
        ("11",),
        minimum=1,
        result_changing=False,
    ),
    Parameter(
        "NUM_DISAGREEMENTS",
        int,
        6,
        "how many of the worst metric-people disagreements to show",
        ("09",),
        minimum=1,
        result_changing=False,
    ),
]

PARAMETERS = [limits.with_maximum(p) for p in PARAMETERS]  # the documented maxima (course.parameter_values)
BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
#: The parameters that are spelled out in the default run-folder name (the others go into its hash).
NAMING = ("DATASET", "ENCODER", "WEIGHTS")


def get(name: str) -> Parameter:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ParameterError(
            f"no notebook has the parameter {name} (see python -m helpers run --list-parameters); "
            f"known: {', '.join(sorted(BY_NAME))}"
        ) from None


def defaults() -> dict[str, Any]:
    return {p.name: p.default for p in PARAMETERS}


def for_notebook(notebook: str) -> list[Parameter]:
    """The parameters of one notebook (``"05"`` or ``"05_merge_lstm_model.ipynb"``), in declaration order."""
    return [p for p in PARAMETERS if notebook[:2] in p.notebooks]


def parse_value(text: str) -> Any:
    """A ``-p`` value: int, float, bool or None if it is written as one (plain decimal numbers, ``True``,
    ``False``, ``None``), otherwise the string itself."""
    return limits.parse_value(text)  # decimal numbers only: no expression is evaluated


def check(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each value checked and converted (:class:`ParameterError` naming the first bad one), plus the
    cross-parameter rules."""
    checked = {name: get(name).check(value) for name, value in values.items()}
    shards, index = checked.get("NUM_SHARDS", 1), checked.get("SHARD_INDEX", 0)
    if index >= shards:
        raise ParameterError(f"SHARD_INDEX={index} is not allowed: from 0 to NUM_SHARDS-1 = {shards - 1}")
    return checked


def result_changing(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that change results, every result-changing parameter present (defaults filled in)."""
    return {p.name: values.get(p.name, p.default) for p in PARAMETERS if p.result_changing}


def short_hash(values: Mapping[str, Any]) -> str:
    """Eight hex digits of the result-changing values that are not spelled out in the run-folder name and
    differ from their defaults; "" when they are all at their defaults."""
    changed = {
        name: value
        for name, value in result_changing(values).items()
        if name not in NAMING and value != BY_NAME[name].default
    }
    if not changed:
        return ""
    return hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:8]


def listing() -> str:
    """Every parameter once: name, type, default, what is allowed, the notebooks that use it, and its meaning."""
    lines = []
    for p in PARAMETERS:
        lines.append(f"{p.name:<18} {p.type.__name__:<5} {p.default!r:<16} notebooks {', '.join(p.notebooks)}")
        lines.append(f"    {p.help}")
        lines.append(f"    allowed: {p.allowed()}" + ("" if p.result_changing else "; does not change results"))
    return "\n".join(lines)
