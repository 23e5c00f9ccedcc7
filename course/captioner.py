"""Captions for your own photos, from a trained run folder.

``python -m helpers caption --run RUN_DIR photo.jpg [more.jpg ...] [--beam K]``

Role: course machinery (the ``caption`` command); shown in notebooks/07_caption_generation.ipynb. Loads the run's model and
vocabulary (:func:`course.trained_run.load_trained_model`), rebuilds the CNN the
run's features came from (same encoder, same weights, same preprocessing:
:mod:`helpers.features`), and prints one line per photo: ``photo: caption``.
Greedy by default; ``--beam K`` uses beam search of width K. Never ``<unk>``;
no repeated n-gram of ``--no-repeat-ngram N`` words (default: what notebook 07
used, from the run's ``config.json``, else 3; 0 turns the guard off).

Every photo is tried: a missing file or a file that is not an image gets a
one-line ``error:`` on stderr and the others are still captioned; the exit
status is 0 when every photo got a caption, 1 when some did not and 2 when the
run folder cannot be used (nothing is captioned then).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course.config import DecodingSection
from course.run_folder import RunFolder
from helpers import decoding, features
from helpers.decoding import DEFAULT_ALPHA, DEFAULT_NO_REPEAT_NGRAM


class RunFolderError(RuntimeError):
    """The run folder cannot be used for captioning (the message says why)."""


def command_line(run_dir, photos, beam: int = 1) -> list[str]:
    """The terminal command that captions ``photos`` with this run (what notebook 07 shows)."""
    return [
        "python",
        "-m",
        "helpers",
        "caption",
        "--run",
        str(run_dir),
        *(["--beam", str(beam)] if beam > 1 else []),
        *map(str, photos),
    ]


@dataclass
class Captioner:
    """A trained run, ready to caption photos (the CNN is built on first use)."""

    run_dir: Path
    model: object
    vocabulary: object
    max_length: int
    encoder: str
    weights: str
    pretrained: bool
    seed: int | None = None
    no_repeat_ngram: int = DEFAULT_NO_REPEAT_NGRAM  # the run's NO_REPEAT_NGRAM (07 writes it into config.json)
    _cnn: object = None

    @classmethod
    def load(cls, run_dir: str | Path) -> "Captioner":
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunFolderError(f"run folder {run_dir}: no such folder")
        try:  # load_trained_model checks that the files belong together (training.check_run_consistency)
            folder = RunFolder.existing(run_dir)
            model, vocabulary = folder.load_trained_model()
            max_length = int(folder.load_text().max_length)
            features_section = folder.load_features_section()
            encoder, weights = str(features_section.encoder), str(features_section.weights)
            pretrained = bool(features_section.pretrained)
            seed = features_section.seed  # untrained weights are rebuilt from the seed 03 used
            decoding_settings = folder.config().get(DecodingSection.NAME, {})  # 07's, when it has run
            no_repeat_ngram = int(decoding_settings.get("no_repeat_ngram", DEFAULT_NO_REPEAT_NGRAM))
        except Exception as error:  # missing files or sections, a corrupt model, invalid JSON, files that disagree
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise RunFolderError(f"run folder {run_dir}: {message}") from None
        return cls(run_dir, model, vocabulary, max_length, encoder, weights, pretrained, seed, no_repeat_ngram)

    def features(self, photo: str | Path) -> np.ndarray:
        """The feature vector of one photo, made exactly like notebook 03 made the training features.

        Raises ``FileNotFoundError`` or ``ValueError`` (not an image) naming the file."""
        photo = Path(photo)
        if not photo.is_file():
            raise FileNotFoundError(f"{photo}: no such file")
        spec = features.encoder_spec(self.encoder)
        try:
            image = features.load_image(photo, spec.image_size)
        except features.BadImageError as error:  # names the file and the problem already
            raise ValueError(str(error)) from None
        except Exception as error:  # anything the decoder itself rejects
            raise ValueError(f"{photo}: not an image that can be read ({type(error).__name__})") from None
        batch = features.preprocess_function(self.encoder)(np.array(image, dtype=np.float32)[None])  # a writable copy
        return np.asarray(self.cnn(batch, training=False), dtype=np.float32)[0]

    @property
    def cnn(self):
        if self._cnn is None:
            try:
                self._cnn = features.build_encoder(self.encoder, self.weights, seed=self.seed)
            except Exception as error:
                raise RunFolderError(
                    f"run folder {self.run_dir}: cannot rebuild its {self.encoder} encoder "
                    f"with weights {self.weights!r}: {str(error).splitlines()[0]}"
                ) from None
            expected = self.model.inputs[0].shape[-1]
            if expected is not None and self._cnn.output_shape[-1] != expected:
                raise RunFolderError(
                    f"run folder {self.run_dir}: the model expects {expected} features, the "
                    f"{self.encoder} encoder gives {self._cnn.output_shape[-1]}"
                )
        return self._cnn

    def caption(
        self, feature_rows: np.ndarray, beam: int = 1, alpha: float = DEFAULT_ALPHA, no_repeat_ngram: int | None = None
    ) -> list[str]:
        """Captions of feature vectors: greedy (``beam=1``) or beam search of width ``beam``.

        ``no_repeat_ngram``: ``None`` is the run's own setting (:attr:`no_repeat_ngram`)."""
        guard = self.no_repeat_ngram if no_repeat_ngram is None else int(no_repeat_ngram)
        beam = min(int(beam), len(self.vocabulary))  # a wider beam than there are words keeps nothing more
        feature_rows = np.asarray(feature_rows, dtype=np.float32).reshape(-1, self.model.inputs[0].shape[-1])
        if beam <= 1:
            return decoding.greedy_captions(
                self.model, feature_rows, self.vocabulary, self.max_length, no_repeat_ngram=guard
            )
        return decoding.beam_search_captions(
            self.model, feature_rows, self.vocabulary, self.max_length, width=beam, alpha=alpha, no_repeat_ngram=guard
        )


def caption_photos(
    run_dir: str | Path,
    photos: list[str | Path],
    *,
    beam: int = 1,
    alpha: float = DEFAULT_ALPHA,
    no_repeat_ngram: int | None = None,
    out=print,
    err=None,
) -> int:
    """Caption each photo, printing ``photo: caption`` through ``out`` and one-line errors through ``err``.

    Returns the exit status (0 all captioned, 1 some failed, 2 unusable run folder)."""
    err = err or (lambda line: print(line, file=sys.stderr))
    try:
        captioner = Captioner.load(run_dir)
        if not captioner.pretrained:
            err(
                f"warning: the run's image features came from UNTRAINED weights ({captioner.weights}); "
                "a fresh copy of them gives other features, so these captions mean nothing"
            )
        rows, names, failed = [], [], 0
        for photo in photos:
            try:
                rows.append(captioner.features(photo))
                names.append(str(photo))
            except (FileNotFoundError, ValueError) as error:
                err(f"error: {error}")
                failed += 1
        captions = (
            captioner.caption(np.stack(rows), beam=beam, alpha=alpha, no_repeat_ngram=no_repeat_ngram) if rows else []
        )
    except RunFolderError as error:
        err(f"error: {error}")
        return 2
    for name, caption in zip(names, captions):
        out(f"{name}: {caption}")
    return 1 if failed else 0
