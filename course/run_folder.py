"""The run folder: every file one run of the course writes, its ``config.json``, and who writes what.

Role: course machinery. Used by every notebook (its first cell after the parameters opens the run folder, its load cell reads
through it, its save cell writes through it), by ``python -m helpers run`` and by ``python -m helpers
caption``.

**Opening.** ``RunFolder.open(RUN_DIR, parameters)``:

- ``RUN_DIR`` empty: ``runs/<DATASET>-<ENCODER>-<WEIGHTS>``, followed by ``-<8 hex digits>`` when any other
  parameter that changes results (:mod:`course.parameters`, ``result_changing``) is not at its default:
  two runs that differ only in ``UNITS`` (or ``EPOCHS``, ``MIN_WORD_COUNT``, ``SEED``...) get two folders
  and never share a model. Parameters a notebook does not have count at their defaults, so a notebook
  opened on its own with ``RUN_DIR=""`` finds the default run.
- ``RUN_DIR`` given (relative to the repository, or absolute): that folder. The parameters that made it are
  recorded in ``config.json`` (section ``parameters``); opening it with a different value of a parameter
  that changes results is **refused** (:class:`RunFolderError`, one line naming the parameter, both values
  and what to do) rather than mixing two runs' files in one folder.

**Loading.** Each ``load_*`` raises :class:`MissingInputError` when its file is missing: one line naming
the file and the notebook that writes it (shown in Jupyter without a traceback).

**config.json** holds one typed section per stage (:mod:`course.config`); the file names are in
:mod:`course.files`.

Role: course machinery (every notebook opens its run folder with it; ``python -m helpers run`` and
``python -m helpers caption`` too).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from course import parameters as params
from course import paths
from course.config import (
    COURSE_CONFIG_KEYS,
    BeamCaptions,
    CleanCaptions,
    DataSection,
    EmbeddingsSection,
    FeaturesSection,
    MissingInputError,
    ModelSection,
    RunFolderError,
    ScoresSection,
    Section,
    TextSection,
    TrainingSection,
    is_course_config,
    notebook_before,
    read_config_file,
)
from course.files import (
    AGREEMENT_FILE,
    ATTENTION_CAPTIONS_FILE,
    ATTENTION_COMPARISON_FILE,
    ATTENTION_DIR,
    BEAM_CAPTIONS_FILE,
    BEST_AND_WORST_FILE,
    CAPTION_GRID_FILE,
    CAPTION_LENGTHS_FILE,
    CLEAN_CAPTIONS_FILE,
    CONFIG_FILE,
    EMBEDDING_MATRIX_FILE,
    EXECUTED_NOTEBOOKS_DIR,
    FEATURES_FILE,
    GENERATED_CAPTIONS_FILE,
    HISTORY_FILE,
    LOOKUP_TABLE_FILE,
    LOSS_CURVE_FILE,
    MADE_BY,
    MODEL_COMPARISON_FILE,
    MODEL_DIAGRAM_FILE,
    MODEL_FILE,
    PREFIX_PAIR_BASELINE_DIR,
    RETRIEVAL_CAPTIONS_FILE,
    SCORES_FILE,
    SKIPPED_IMAGES_FILE,
    SPATIAL_FEATURES_FILE,
    TRANSFORMER_CAPTIONS_FILE,
    TRANSFORMER_DIR,
    UNTRAINED_MODEL_FILE,
    VOCABULARY_FILE,
    WORD_MAP_FILE,
    WORD_USAGE_FILE,
    WORD_VECTORS_FILE,
)
from course.paths import read_json, slug, write_json_atomic
from course.trained_run import load_trained_model
from helpers import embeddings, evaluation, text
from helpers.feature_table import load_features
from helpers.vocabulary import Vocabulary


def default_name(values: Mapping[str, Any]) -> str:
    """``<dataset>-<encoder>-<weights>`` plus ``-<hash>`` of the other result-changing parameters that are not
    at their defaults, e.g. ``sample-mobilenet_v2-auto`` or ``sample-mobilenet_v2-auto-3f2a9c1d``."""
    full = {**params.defaults(), **values}
    dataset, encoder, weights = (str(full[name]) for name in params.NAMING)
    dataset_name = Path(dataset).name if ("/" in dataset or os.sep in dataset) else dataset
    weights_name = Path(weights).stem if ("/" in weights or os.sep in weights) else weights
    name = "-".join(slug(part) for part in (dataset_name, encoder, weights_name))
    digest = params.short_hash(full)
    return f"{name}-{digest}" if digest else name


def _resolve(run_dir: str | os.PathLike) -> Path:
    path = Path(run_dir).expanduser()
    return path if path.is_absolute() else paths.REPO_ROOT / path


class RunFolder:
    """One run of the course on disk. Open it with :meth:`open` (notebooks, the course command) or
    :meth:`existing` (the caption command)."""

    def __init__(self, path: Path, parameters: Mapping[str, Any] | None = None):
        self.path = Path(path)
        self.parameters = dict(parameters or {})
        self.notebook: str | None = None  # the notebook that opened it ("06"), for MissingInputError's command

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # --- opening ---------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        run_dir: str | os.PathLike | None = "",
        parameters: Mapping[str, Any] | None = None,
        *,
        notebook: str | None = None,
    ) -> "RunFolder":
        """The run folder for ``run_dir`` (or the default one of ``parameters``), created if needed.

        ``parameters``: name -> value (a notebook passes ``globals()`` and its ``notebook`` prefix, e.g. "05",
        to pick its own parameters). Values are checked (:class:`course.parameters.ParameterError`); an
        existing folder made with other result-changing values is refused (:class:`RunFolderError`)."""
        given = dict(parameters or {})
        if notebook is not None:
            given = {p.name: given[p.name] for p in params.for_notebook(notebook) if p.name in given}
        given.pop("RUN_DIR", None)
        given = params.check(given)
        path = _resolve(run_dir) if run_dir else paths.RUNS_DIR / default_name(given)
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"RUN_DIR={str(run_dir)!r}: {path} is a file, not a folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunFolderError(f"RUN_DIR={str(run_dir)!r}: cannot create {path} ({error.strerror})") from None
        folder = cls(path, given)
        if not is_course_config(folder.config()):  # never rewrite another program's config.json
            raise RunFolderError(
                f"RUN_DIR={str(run_dir)!r}: {path / CONFIG_FILE} was not written by the course "
                f"(none of its keys is {', '.join(sorted(COURSE_CONFIG_KEYS))}); use another folder"
            )
        folder.notebook = notebook
        folder._record_parameters(given)
        return folder

    @classmethod
    def existing(cls, run_dir: str | os.PathLike) -> "RunFolder":
        """A run folder that must exist already (nothing is created or recorded)."""
        path = _resolve(run_dir)
        if not path.is_dir():
            raise RunFolderError(f"run folder {run_dir}: no such folder")
        folder = cls(path)
        folder.parameters = dict(folder.config().get("parameters", {}))
        return folder

    def _record_parameters(self, given: Mapping[str, Any]) -> None:
        config = self.config()
        recorded = dict(config.get("parameters", {}))
        changing = {name: value for name, value in given.items() if params.BY_NAME[name].result_changing}
        if recorded:
            for name, value in changing.items():
                if name in recorded and recorded[name] != value:
                    raise RunFolderError(
                        f"run folder {self.path} was made with {name}={recorded[name]!r}, not {name}={value!r}: "
                        "use another RUN_DIR (or leave RUN_DIR empty: the default folder is named after the "
                        "parameters that change results)"
                    )
        else:
            recorded = params.result_changing(given)  # a new folder: every result-changing parameter
        recorded.update(changing)
        if config.get("parameters") != recorded:
            config["parameters"] = recorded
            write_json_atomic(self.path / CONFIG_FILE, config)
        self.parameters = {**recorded, **given}

    # --- files -----------------------------------------------------------------------------------------------

    def file(self, name: str) -> Path:
        return self.path / name

    def _require(self, name: str) -> Path:
        path = self.path / name
        if not path.exists():
            writer = MADE_BY.get(name)
            raise MissingInputError(
                path, writer, command=self.build_command(writer), in_notebook=self.notebook is not None
            )
        return path

    def build_command(self, writer: str | None = None) -> str:
        """The command that runs the notebooks before the one that opened this folder (else up to ``writer``,
        the notebook that writes the missing file) into this folder: ``python -m helpers run --until 05``, plus
        ``-p NAME VALUE`` for each parameter not at its default and ``--run-dir`` when the folder is not the
        default one of those parameters. "" when there is nothing to run before."""
        until = notebook_before(self.notebook) if self.notebook else None
        if until is None or (writer and writer[:2] > until):
            until = writer[:2] if writer else None
        if until is None:
            return ""
        changed = {
            name: value
            for name, value in self.parameters.items()
            if name in params.BY_NAME and name != "RUN_DIR" and value != params.BY_NAME[name].default
        }
        words = ["python", "-m", "helpers", "run", "--until", until]
        for name, value in changed.items():
            words += ["-p", name, value if isinstance(value, str) else repr(value)]
        if self.path.resolve() != (paths.RUNS_DIR / default_name(changed)).resolve():
            words += ["--run-dir", str(self.path.resolve())]
        return shlex.join(words)

    def _read_json(self, name: str) -> Any:
        return read_json(self._require(name))

    features_path = property(lambda self: self.path / FEATURES_FILE)
    executed_notebooks_dir = property(lambda self: self.path / EXECUTED_NOTEBOOKS_DIR)
    word_map_path = property(lambda self: self.path / WORD_MAP_FILE)
    model_diagram_path = property(lambda self: self.path / MODEL_DIAGRAM_FILE)
    loss_curves_path = property(lambda self: self.path / LOSS_CURVE_FILE)
    prefix_pair_baseline_dir = property(lambda self: self.path / PREFIX_PAIR_BASELINE_DIR)
    caption_grid_path = property(lambda self: self.path / CAPTION_GRID_FILE)
    best_and_worst_path = property(lambda self: self.path / BEST_AND_WORST_FILE)
    word_usage_path = property(lambda self: self.path / WORD_USAGE_FILE)
    caption_lengths_path = property(lambda self: self.path / CAPTION_LENGTHS_FILE)
    spatial_features_path = property(lambda self: self.path / SPATIAL_FEATURES_FILE)

    # --- config.json -----------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The whole ``config.json`` as a dict ({} before any notebook wrote it)."""
        path = self.path / CONFIG_FILE
        return read_config_file(path) if path.exists() else {}

    def save_section(self, section: Section) -> Section:
        """Write one stage's section of ``config.json`` (replacing that section, keeping the others)."""
        config = self.config()
        config[section.NAME] = section.to_dict()
        write_json_atomic(self.path / CONFIG_FILE, config)
        return section

    def load_section(self, kind: type[Section]) -> Section:
        values = self.config().get(kind.NAME)
        if values is None:
            raise MissingInputError(
                self.path / CONFIG_FILE,
                MADE_BY.get(kind.NAME),
                what=f"{CONFIG_FILE} in {self.path} has no {kind.NAME!r} section",
                command=self.build_command(MADE_BY.get(kind.NAME)),
                in_notebook=self.notebook is not None,
            )
        try:
            return kind.from_dict(values)
        except TypeError as error:
            raise RunFolderError(f"{self.path / CONFIG_FILE}: section {kind.NAME!r} is incomplete ({error})") from None

    def load_data(self) -> DataSection:
        return self.load_section(DataSection)

    def load_text(self) -> TextSection:
        return self.load_section(TextSection)

    def load_features_section(self) -> FeaturesSection:
        return self.load_section(FeaturesSection)

    def load_model_section(self) -> ModelSection:
        return self.load_section(ModelSection)

    # --- 01 ----------------------------------------------------------------------------------------------------

    def save_captions(self, dataset, captions_clean: dict[str, list[str]], *, keep_short_words: bool = False) -> Path:
        """01: the cleaned captions and splits (``captions_clean.json``) and the ``data`` section."""
        name = str(self.parameters.get("DATASET", dataset.name if hasattr(dataset, "name") else ""))
        path = write_json_atomic(
            self.path / CLEAN_CAPTIONS_FILE,
            {
                "dataset": name,
                "root": str(dataset.root),
                "images_dir": str(dataset.images_dir),
                "splits": dataset.splits,
                "captions": captions_clean,
            },
        )
        self.save_section(
            DataSection(
                dataset=name,
                format=dataset.format,
                root=str(dataset.root),
                images_dir=str(dataset.images_dir),
                split_sizes={s: len(ids) for s, ids in dataset.splits.items()},
                skipped=dict(dataset.skipped),
                keep_short_words=bool(keep_short_words),
            )
        )
        return path

    def load_captions(self) -> CleanCaptions:
        values = self._read_json(CLEAN_CAPTIONS_FILE)
        return CleanCaptions(
            values["dataset"], values["root"], Path(values["images_dir"]), values["splits"], values["captions"]
        )

    # --- 02 ----------------------------------------------------------------------------------------------------

    def save_lookup_table(self, lookup_table: dict, vocabulary, *, max_length: int, min_word_count: int) -> Path:
        """02: ``lookup_table.json``, ``vocabulary.json`` and the ``text`` section."""
        path = write_json_atomic(self.path / LOOKUP_TABLE_FILE, lookup_table)
        vocabulary.save(self.path / VOCABULARY_FILE)
        self.save_section(
            TextSection(
                max_length=int(max_length),
                vocabulary_size=len(vocabulary),
                min_word_count=int(min_word_count),
                start_token=text.START_TOKEN,
                stop_token=text.STOP_TOKEN,
            )
        )
        return path

    def load_lookup_table(self) -> dict[str, dict[str, list[str]]]:
        return self._read_json(LOOKUP_TABLE_FILE)

    def load_vocabulary(self):
        return Vocabulary.load(self._require(VOCABULARY_FILE))

    # --- 03 ----------------------------------------------------------------------------------------------------

    def save_skipped_images(self, skipped: dict[str, str]) -> Path:
        return write_json_atomic(self.path / SKIPPED_IMAGES_FILE, skipped)

    def save_features_section(self, weights, extraction, *, seed: int | None) -> FeaturesSection:
        """03: the ``features`` section, from the weights choice and the finished extraction."""
        table = extraction.table
        return self.save_section(
            FeaturesSection(
                encoder=table.encoder,
                weights=weights.label,
                pretrained=weights.pretrained,
                image_size=table.image_size,
                feature_dim=table.dim,
                seed=seed,
                weights_reason=weights.reason,
                skipped_images=len(extraction.skipped),
                cache_dir=str(extraction.cache_dir),
            )
        )

    def load_features(self):
        return load_features(self._require(FEATURES_FILE))

    # --- 04 ----------------------------------------------------------------------------------------------------

    def save_embeddings(self, matrix: np.ndarray, vocabulary, section: EmbeddingsSection) -> Path:
        """04: the embedding matrix, the vocabulary's vectors (word2vec text) and the ``embeddings`` section."""
        embeddings.save_word_vectors(embeddings.vocabulary_vectors(vocabulary, matrix), self.path / WORD_VECTORS_FILE)
        np.save(self.path / EMBEDDING_MATRIX_FILE, matrix)
        self.save_section(section)
        return self.path / EMBEDDING_MATRIX_FILE

    def load_word_vectors(self):
        """04's vectors of the vocabulary's words (gensim ``KeyedVectors``)."""
        return embeddings.load_word_vectors(self._require(WORD_VECTORS_FILE))

    def load_embedding_matrix(self) -> np.ndarray:
        return np.load(self._require(EMBEDDING_MATRIX_FILE), allow_pickle=False)

    # --- 05 ----------------------------------------------------------------------------------------------------

    def save_untrained_model(
        self, model, *, architecture: str, units: int, dropout: float, train_embeddings: bool, learning_rate: float
    ) -> Path:
        """05: ``model_untrained.keras`` and the ``model`` section."""
        from helpers.model import input_length

        path = self.path / UNTRAINED_MODEL_FILE
        model.save(path)
        self.save_section(
            ModelSection(
                architecture=architecture,
                units=int(units),
                dropout=float(dropout),
                train_embeddings=bool(train_embeddings),
                learning_rate=float(learning_rate),
                input_length=input_length(model),
                parameters=int(model.count_params()),
            )
        )
        return path

    def load_untrained_model(self):
        import keras

        import helpers.model  # noqa: F401  (registers the course's own layer, ImageAtEveryPosition)

        return keras.saving.load_model(self._require(UNTRAINED_MODEL_FILE), compile=False)

    # --- 06 ----------------------------------------------------------------------------------------------------

    def save_training(self, section: TrainingSection) -> TrainingSection:
        """06: the ``training`` section (``model.keras`` and ``history.json`` are written by
        :func:`helpers.training.train` into this folder)."""
        return self.save_section(section)

    def load_trained_model(self):
        """06's ``model.keras`` (safe mode) and the vocabulary: ``(model, vocabulary)``."""
        self._require(MODEL_FILE)
        self._require(VOCABULARY_FILE)
        model, vocabulary, _ = load_trained_model(self.path)
        return model, vocabulary

    def load_history(self) -> dict:
        return self._read_json(HISTORY_FILE)

    # --- 07 ----------------------------------------------------------------------------------------------------

    def save_generated_captions(self, captions: dict[str, str]) -> Path:
        return write_json_atomic(self.path / GENERATED_CAPTIONS_FILE, captions)

    def load_generated_captions(self) -> dict[str, str]:
        return self._read_json(GENERATED_CAPTIONS_FILE)

    def save_beam_captions(self, width: int, alpha: float, captions: dict[str, str]) -> Path:
        return write_json_atomic(self.path / BEAM_CAPTIONS_FILE, {"width": width, "alpha": alpha, "captions": captions})

    def load_beam_captions(self) -> BeamCaptions:
        values = self._read_json(BEAM_CAPTIONS_FILE)
        return BeamCaptions(values["width"], values["alpha"], values["captions"])

    # --- 08 ----------------------------------------------------------------------------------------------------

    def save_scores(
        self,
        *,
        model_scores: dict,
        beam: BeamCaptions,
        beam_scores: dict,
        constant_caption: str,
        constant_bleu4: float,
        test_images: int,
        notes: Any = None,
    ) -> Path:
        """08: ``scores.json`` (greedy and beam scores, the best constant caption, what the run was made of)
        and the ``scores`` section."""
        data, feats = self.load_data(), self.load_features_section()
        path = write_json_atomic(
            self.path / SCORES_FILE,
            {
                "model": model_scores,
                "model_x100": evaluation.percent(model_scores),
                "decoding": "greedy",
                "beam": {
                    "width": beam.width,
                    "alpha": beam.alpha,
                    "scores": beam_scores,
                    "x100": evaluation.percent(beam_scores),
                },
                "best_constant_caption": {"caption": constant_caption, "bleu4": constant_bleu4},
                "beats_constant_caption": model_scores["bleu4"] > constant_bleu4,
                "test_images": test_images,
                "dataset": data.dataset,
                "encoder": feats.encoder,
                "weights": feats.weights,
                "pretrained_features": feats.pretrained,
                "bleu": evaluation.METRICS_DESCRIPTION["bleu"],
                "metrics": evaluation.METRICS_DESCRIPTION,
                "notes": notes,
            },
        )
        self.save_section(ScoresSection(model=model_scores, beam=beam_scores, best_constant_bleu4=constant_bleu4))
        return path

    def save_baselines(
        self, *, retrieval_k: int, retrieval_scores: dict, constant_scores: dict, retrieval_captions: dict[str, str]
    ) -> Path:
        """08: the baselines' scores added to ``scores.json`` (nearest-neighbour retrieval, and every metric of
        the best constant caption) and the retrieval captions in ``retrieval_captions.json``."""
        scores = self.load_scores()
        scores["retrieval"] = {
            "k": retrieval_k,
            "scores": retrieval_scores,
            "x100": evaluation.percent(retrieval_scores),
        }
        scores["best_constant_caption"]["scores"] = constant_scores
        write_json_atomic(self.path / SCORES_FILE, scores)
        return write_json_atomic(self.path / RETRIEVAL_CAPTIONS_FILE, retrieval_captions)

    def load_scores(self) -> dict:
        return self._read_json(SCORES_FILE)

    # --- 09 ----------------------------------------------------------------------------------------------------

    def load_metric_agreement(self) -> dict:
        """09's ``metric_agreement.json`` (written by :func:`course.judgement_files.write_results`)."""
        return self._read_json(AGREEMENT_FILE)

    # --- 10 ----------------------------------------------------------------------------------------------------

    @property
    def attention_dir(self) -> Path:
        """``attention/``: the attention model (and the merge/inject models of the comparison), created if needed."""
        folder = self.path / ATTENTION_DIR
        folder.mkdir(exist_ok=True)
        return folder

    def save_attention_captions(
        self, greedy: dict[str, str], *, width: int, alpha: float, beam: dict[str, str]
    ) -> Path:
        return write_json_atomic(
            self.attention_dir / ATTENTION_CAPTIONS_FILE,
            {"greedy": greedy, "beam": {"width": width, "alpha": alpha, "captions": beam}},
        )

    def save_attention_comparison(self, comparison: dict) -> Path:
        return write_json_atomic(self.attention_dir / ATTENTION_COMPARISON_FILE, comparison)

    # --- 11 ----------------------------------------------------------------------------------------------------

    @property
    def transformer_dir(self) -> Path:
        """``transformer/``: the Transformer decoder, its captions, pictures and the four-model comparison."""
        folder = self.path / TRANSFORMER_DIR
        folder.mkdir(exist_ok=True)
        return folder

    def save_transformer_captions(
        self, greedy: dict[str, str], *, width: int, alpha: float, beam: dict[str, str]
    ) -> Path:
        return write_json_atomic(
            self.transformer_dir / TRANSFORMER_CAPTIONS_FILE,
            {"greedy": greedy, "beam": {"width": width, "alpha": alpha, "captions": beam}},
        )

    def save_model_comparison(self, comparison: dict) -> Path:
        """``transformer/model_comparison.json``: merge, inject, attention and Transformer, scored alike."""
        return write_json_atomic(self.transformer_dir / MODEL_COMPARISON_FILE, comparison)

    def load_model_comparison(self) -> dict:
        return self._read_json(f"{TRANSFORMER_DIR}/{MODEL_COMPARISON_FILE}")

    # --- what is there ---------------------------------------------------------------------------------------

    def existing_outputs(self) -> list[Path]:
        """The headline files of a finished run that exist (for the course command's summary)."""
        names = (MODEL_FILE, VOCABULARY_FILE, FEATURES_FILE, SCORES_FILE, CAPTION_GRID_FILE)
        return [self.path / name for name in names if (self.path / name).exists()]
