"""Spatial features: the CNN's last feature map, kept (not averaged away).

Taught in notebooks/10_visual_attention.ipynb. The cache of these grids is :mod:`course.spatial_cache`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from helpers import features
from helpers.images import BadImageError


def spatial_encoder(encoder: str = "mobilenet_v2", weights="auto", seed: int | None = None):
    """The CNN of notebook 03 (:func:`helpers.features.build_encoder`) without its pooling:
    image batch -> feature map ``(batch, H, W, C)``."""

    pooled = features.build_encoder(encoder, weights, seed=seed)
    grid = pooled.layers[-1].input  # the input of the final GlobalAveragePooling2D
    if len(grid.shape) != 4:
        raise ValueError(f"{encoder}: the layer before pooling gives shape {grid.shape}, not a feature map")
    return keras.Model(pooled.inputs, grid, name=f"{encoder}_grid")


@dataclass
class SpatialFeatures:
    """Feature maps of a list of images: ``grid[i]`` ``(H * W, C)`` belongs to ``image_ids[i]``."""

    image_ids: list[str]
    grid: np.ndarray  # (images, H * W, C), float16 by default
    grid_shape: tuple[int, int]  # (H, W)
    encoder: str
    weights: str
    image_size: int

    def __post_init__(self):
        self.row = {image_id: i for i, image_id in enumerate(self.image_ids)}

    def matrix(self, image_ids: list[str]) -> np.ndarray:
        """Rows for ``image_ids``, in that order."""
        return self.grid[[self.row[i] for i in image_ids]]

    def __contains__(self, image_id: str) -> bool:
        return image_id in self.row

    @property
    def positions(self) -> int:
        return int(self.grid.shape[1])

    @property
    def channels(self) -> int:
        return int(self.grid.shape[2])


def float16_fits(values: np.ndarray, tolerance: float = 1e-3) -> bool:
    """Whether ``values`` survive float16 (largest error at most ``tolerance`` of the largest value, no overflow).

    ImageNet features do (values up to ~10, three significant digits kept); an untrained network's
    can be ~1e-13, below float16's smallest number: they would all become 0."""
    values = np.asarray(values, dtype=np.float32)
    largest = float(np.abs(values).max()) if values.size else 0.0
    if largest == 0.0 or largest > 6e4:
        return largest == 0.0
    return float(np.abs(values.astype(np.float16).astype(np.float32) - values).max()) <= tolerance * largest


def extract_spatial_features(
    model,
    image_paths: list[str | Path],
    encoder: str,
    batch_size: int = 32,
    *,
    dtype: str = "auto",
    progress: bool = True,
) -> tuple[np.ndarray, tuple[int, int]]:
    """Feature maps ``(len(image_paths), H * W, C)`` of ``model`` (:func:`spatial_encoder`) through the
    course's image pipeline (:func:`helpers.features.iter_features`). Every image must work (these are
    images notebook 03 already read); a bad one raises naming the file and the problem.

    ``dtype``: ``"float16"``, ``"float32"`` or ``"auto"``: float16 (half the memory) when the first
    image's grid survives it (:func:`float16_fits`), float32 otherwise."""

    height, width, channels = (int(v) for v in model.output_shape[1:])
    grid = None
    for index, vector, reason in features.iter_features(
        model, image_paths, encoder, batch_size, progress=progress, desc=f"{encoder} feature maps"
    ):
        if reason is not None:
            raise BadImageError(f"{image_paths[index]}: {reason}")
        if grid is None:
            chosen = dtype if dtype != "auto" else ("float16" if float16_fits(vector) else "float32")
            grid = np.zeros((len(image_paths), height * width, channels), dtype=chosen)
        grid[index] = vector.reshape(height * width, channels)
    if grid is None:
        grid = np.zeros((0, height * width, channels), dtype="float32" if dtype == "auto" else dtype)
    return grid, (height, width)
