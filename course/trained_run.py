"""Loading a trained run folder, and the checks that its files belong together.

Role: course machinery (``python -m helpers caption`` and the run folder's ``load_trained_model``).
A damaged ``model.keras``, or files from two runs (:func:`check_run_consistency`), raise one line naming
the file and the problem instead of failing deep inside decoding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from course import paths
from course.config import read_config
from course.files import CONFIG_FILE, FEATURES_FILE, MODEL_FILE, VOCABULARY_FILE
from helpers.encoders import ENCODERS
from helpers.vocabulary import Vocabulary

# What every Keras 3 ``.keras`` zip archive holds (its own config.json, not the run folder's).
KERAS_ARCHIVE_MEMBERS = ("config" + ".json", "model.weights.h5")

#: The longest caption (in tokens, start and stop included) a run folder's ``text.max_length`` may ask the
#: decoders for: far above any dataset's (notebook 02 cuts captions at ``MAX_CAPTION_WORDS``), far below what
#: would exhaust memory (10**13 would ask greedy decoding for terabytes).
MAX_DECODE_LENGTH = 1000


def check_model_file(model_path: str | Path) -> Path:
    """Raise a one-line ``ValueError`` naming ``model_path`` when it is not a Keras ``.keras`` file.

    A ``.keras`` file is a zip archive holding ``config.json`` and the weights; random
    bytes or an empty archive would otherwise give Keras' unclear "File not found" or
    "There is no item named ..."."""
    import zipfile

    model_path = paths.require(model_path)
    if model_path.stat().st_size == 0:
        raise ValueError(f"{model_path} is empty (0 bytes): not a Keras model; train again (notebook 06)")
    if not zipfile.is_zipfile(model_path):
        with open(model_path, "rb") as handle:
            start = handle.read(8)
        raise ValueError(
            f"{model_path} is damaged or not a Keras model (a .keras file is a zip archive; "
            f"this one starts with {start!r}); train again (notebook 06)"
        )
    try:
        with zipfile.ZipFile(model_path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(f"{model_path} is damaged ({error}); train again (notebook 06)") from None
    missing = [name for name in KERAS_ARCHIVE_MEMBERS if name not in names]
    if missing:
        raise ValueError(
            f"{model_path} is damaged or not a Keras model: the archive lacks "
            f"{' and '.join(missing)}; train again (notebook 06)"
        )
    return model_path


def check_max_length(config_path: Path, config: dict) -> None:
    """Raise a one-line ``ValueError`` naming ``config_path`` when ``text.max_length`` is not a whole number
    from 2 to :data:`MAX_DECODE_LENGTH` (checked before the model is loaded)."""
    text = config.get("text") or {}
    max_length = text.get("max_length")
    if "max_length" in text and not (
        isinstance(max_length, int) and not isinstance(max_length, bool) and 2 <= max_length <= MAX_DECODE_LENGTH
    ):
        raise ValueError(
            f"{config_path}: text.max_length is {max_length!r:.30}; it must be a whole number from 2 (start and "
            f"stop tokens) to {MAX_DECODE_LENGTH} (MAX_DECODE_LENGTH): rerun notebook 02"
        )


def check_run_consistency(run_dir: str | Path, model, vocabulary: Vocabulary, config: dict) -> None:
    """Raise a one-line ``ValueError`` naming the file and the mismatch when the files of a
    run folder do not belong together: the vocabulary against the model's output size,
    ``max_length`` against the model's input length, the encoder's feature size against
    the model's feature input, the encoder named in ``config.json`` against ``features.npz``.

    (Files from two runs, or a ``config.json`` edited by hand, would otherwise fail deep
    inside decoding with a traceback, or caption with the wrong words.)"""
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    check_max_length(config_path, config)
    text, feature_config = config.get("text") or {}, config.get("features") or {}
    max_length = text.get("max_length")
    try:
        output_size = model.outputs[0].shape[-1]
        feature_size = model.inputs[0].shape[-1]
        input_length = model.inputs[1].shape[1] if len(model.inputs) > 1 and len(model.inputs[1].shape) > 1 else None
    except (AttributeError, IndexError, TypeError):
        raise ValueError(
            f"{run_dir / MODEL_FILE}: not a captioning model (it needs two inputs, image "
            "features and the caption so far, and one output)"
        ) from None
    if output_size is not None and output_size != len(vocabulary):
        raise ValueError(
            f"{run_dir / VOCABULARY_FILE} has {len(vocabulary)} words but "
            f"{run_dir / MODEL_FILE} predicts {output_size}: the two come from different runs "
            "(rerun notebooks 02-06 into one run folder)"
        )
    if input_length is not None and isinstance(max_length, int) and input_length not in (max_length - 1, max_length):
        raise ValueError(
            f"{config_path}: text.max_length is {max_length} but {run_dir / MODEL_FILE} reads "
            f"{input_length} words (expected {max_length - 1}): the two come from different runs"
        )
    encoder = feature_config.get("encoder")
    if encoder is not None:
        if encoder not in ENCODERS:
            raise ValueError(f"{config_path}: unknown encoder {encoder!r} (known: {', '.join(ENCODERS)})")
        expected = ENCODERS[encoder].feature_dim
        if feature_size is not None and feature_size != expected:
            raise ValueError(
                f"{config_path}: the {encoder} encoder gives {expected} features but "
                f"{run_dir / MODEL_FILE} expects {feature_size}: the two come from different runs"
            )
    stated = feature_config.get("feature_dim")
    if stated is not None and feature_size is not None and stated != feature_size:
        raise ValueError(
            f"{config_path}: features.feature_dim is {stated!r} but {run_dir / MODEL_FILE} "
            f"expects {feature_size} features"
        )
    features_path = run_dir / FEATURES_FILE
    if encoder is not None and features_path.exists():
        try:
            with np.load(features_path, allow_pickle=False) as data:
                made_with = str(data["encoder"]) if "encoder" in data.files else None
        except Exception:  # a damaged features.npz is notebook 03's business, not the caption's
            made_with = None
        if made_with is not None and made_with != encoder:
            raise ValueError(
                f"{features_path} was made with the {made_with} encoder but {config_path} names "
                f"{encoder}: the two come from different runs (rerun notebook 03)"
            )


def load_trained_model(run_dir: str | Path):
    """Load ``(model, vocabulary, config)`` of a trained run folder — one call, no pickle.

    Uses Keras' safe ``.keras`` loading (``safe_mode=True``: no arbitrary code). A damaged
    ``model.keras`` or files that do not belong together (:func:`check_run_consistency`)
    raise a one-line ``ValueError`` naming the file and the problem."""
    run_dir = Path(run_dir)
    model_path = check_model_file(run_dir / MODEL_FILE)
    vocabulary = Vocabulary.load(paths.require(run_dir / VOCABULARY_FILE))  # both checked before Keras loads
    config = read_config(run_dir)
    check_max_length(run_dir / CONFIG_FILE, config)

    import keras

    import helpers.model  # noqa: F401  (registers the model's own layer for safe loading)

    try:
        model = keras.saving.load_model(model_path, safe_mode=True)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{model_path} cannot be loaded by Keras ({first})") from None
    check_run_consistency(run_dir, model, vocabulary, config)
    return model, vocabulary, config
