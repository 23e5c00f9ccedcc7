"""``features.npz`` and :class:`FeatureTable`: one feature vector per image, and what is done with them.

Taught in notebooks/03_feature_extraction.ipynb (see :mod:`helpers.features` for the whole picture; the
sharded cache the features come through is :mod:`course.feature_cache`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course import paths

logger = logging.getLogger(__name__)


def save_features(
    path: str | Path, image_ids: list[str], features: np.ndarray, *, encoder: str, weights: str, image_size: int
) -> Path:
    """Save features atomically (temporary file, then rename) as a plain ``.npz``."""
    path = Path(path)
    if len(image_ids) != len(features):
        raise ValueError(f"{len(image_ids)} ids but {len(features)} feature rows")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(
            tmp_name,
            image_ids=np.array(image_ids, dtype=str),
            features=features.astype(np.float32),
            encoder=np.array(encoder),
            weights=np.array(weights),
            image_size=np.array(image_size),
        )
        paths.usual_permissions(tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


@dataclass
class FeatureTable:
    image_ids: list[str]
    features: np.ndarray
    encoder: str
    weights: str
    image_size: int

    def __post_init__(self):
        self.row = {image_id: i for i, image_id in enumerate(self.image_ids)}

    def __getitem__(self, image_id: str) -> np.ndarray:
        return self.features[self.row[image_id]]

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.row

    def matrix(self, image_ids: list[str]) -> np.ndarray:
        """Rows for ``image_ids``, in that order."""
        return self.features[[self.row[i] for i in image_ids]]

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])


def load_features(path: str | Path) -> FeatureTable:
    """Load a ``features.npz`` written by :func:`save_features` (no pickle)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist. It is written by notebooks/03_feature_extraction.ipynb.")
    with np.load(path, allow_pickle=False) as data:
        return FeatureTable(
            [str(i) for i in data["image_ids"]],
            data["features"],
            str(data["encoder"]),
            str(data["weights"]),
            int(data["image_size"]),
        )


def captions_with_features(
    lookup_table: dict[str, dict[str, list[str]]], table: FeatureTable
) -> dict[str, dict[str, list[str]]]:
    """The lookup table restricted to images that have a feature vector.

    Notebook 03 skips images it cannot read (their reasons are in
    ``skipped_images.json``); their captions are left out of training (06) and
    evaluation (07, 08), and this says how many, split by split."""
    kept: dict[str, dict[str, list[str]]] = {}
    for split, captions_by_image in lookup_table.items():
        kept[split] = {i: c for i, c in captions_by_image.items() if i in table}
        missing = [i for i in captions_by_image if i not in table]
        if missing:
            n_captions = sum(len(captions_by_image[i]) for i in missing)
            message = (
                f"{split}: {len(missing)} images have no features (skipped by notebook 03); "
                f"their {n_captions} captions are left out, first: {missing[0]}"
            )
            logger.warning(message)
            print(message)
    return kept


def nearest_neighbours(
    table: FeatureTable, image_id: str, k: int = 5, candidates: list[str] | None = None
) -> list[tuple[str, float]]:
    """The ``k`` images whose features are most similar (cosine) to ``image_id``'s, itself first."""
    ids = candidates or table.image_ids
    matrix = table.matrix(ids)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms > 0, norms, 1)  # exact cosine, even for tiny (untrained) features
    query_norm = np.linalg.norm(table[image_id])
    query = table[image_id] / (query_norm if query_norm > 0 else 1)
    similarity = unit @ query
    order = np.argsort(-similarity, kind="stable")[:k]
    return [(ids[i], float(similarity[i])) for i in order]
