"""The cache of notebook 10's spatial features (``spatial_features.npz``), keyed like notebook 03's.

Role: course machinery (a cache), for :mod:`helpers.spatial_features`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from course import feature_cache, paths
from course.files import SPATIAL_FEATURES_FILE
from helpers import features
from helpers.spatial_features import SpatialFeatures, extract_spatial_features, spatial_encoder

SPATIAL_VERSION = 1  # bumped if the spatial cache's content changes


def save_spatial_features(path: str | Path, table: SpatialFeatures) -> Path:
    """Save atomically as a plain ``.npz`` (no pickle)."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.partial.npz")
    np.savez(
        temporary,
        image_ids=np.array(table.image_ids, dtype=str),
        grid=table.grid,
        grid_shape=np.array(table.grid_shape),
        encoder=np.array(table.encoder),
        weights=np.array(table.weights),
        image_size=np.array(table.image_size),
    )
    temporary.replace(path)
    return path


def load_spatial_features(path: str | Path) -> SpatialFeatures:
    """Load a ``spatial_features.npz`` written by :func:`save_spatial_features`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist. It is written by notebooks/10_visual_attention.ipynb.")
    with np.load(path, allow_pickle=False) as data:
        return SpatialFeatures(
            [str(i) for i in data["image_ids"]],
            data["grid"],
            tuple(int(v) for v in data["grid_shape"]),
            str(data["encoder"]),
            str(data["weights"]),
            int(data["image_size"]),
        )


def load_or_extract_spatial_features(
    path: str | Path | None,
    image_ids: list[str],
    images_dir: str | Path,
    encoder: str,
    weights,
    *,
    cache_root: str | Path | None = None,
    seed: int | None = None,
    batch_size: int = 32,
    dtype: str = "auto",
    progress: bool = True,
) -> SpatialFeatures:
    """Feature maps of ``image_ids`` through a cache of their own.

    The cache folder is keyed like notebook 03's (images folder, encoder, weights,
    seed of untrained weights, input size — :func:`course.feature_cache.cache_key`) plus
    ``"kind": "spatial"`` and the dtype asked for, so it never mixes with pooled features. ``dtype="auto"``
    keeps float16 (half the memory) unless the values do not survive it (:func:`float16_fits`).
    Images already cached are reused; the others are extracted and the cache is
    rewritten (atomically). The result is also saved to ``path`` when given."""
    choice = weights if isinstance(weights, features.WeightsChoice) else features.resolve_weights(encoder, weights)
    spec = features.encoder_spec(encoder)
    images_dir = Path(images_dir)
    if path is not None and Path(path).exists():  # this run folder's own grids, from an earlier run of notebook 10
        saved = load_spatial_features(path)
        if (
            (saved.encoder, saved.weights) == (encoder, choice.label)
            and dtype in ("auto", str(saved.grid.dtype))
            and all(i in saved for i in image_ids)
        ):
            return SpatialFeatures(
                list(image_ids), saved.matrix(list(image_ids)), saved.grid_shape, encoder, choice.label, spec.image_size
            )
    key = {
        **feature_cache.cache_key(images_dir, encoder, choice, seed),
        "kind": "spatial",
        "dtype": dtype,
        "spatial_version": SPATIAL_VERSION,
    }
    folder = feature_cache.cache_folder(cache_root or paths.FEATURE_CACHE_DIR, key)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "key.json").exists():
        paths.write_json_atomic(folder / "key.json", key)
    cache_file = folder / SPATIAL_FEATURES_FILE
    cached = load_spatial_features(cache_file) if cache_file.exists() else None
    todo = [i for i in image_ids if cached is None or i not in cached]
    if todo:
        model = spatial_encoder(encoder, choice, seed=seed)
        grid, grid_shape = extract_spatial_features(
            model, [images_dir / i for i in todo], encoder, batch_size, dtype=dtype, progress=progress
        )
        del model
        if cached is not None:
            grid = np.concatenate([cached.grid, grid.astype(cached.grid.dtype)])
            todo = cached.image_ids + todo
        cached = SpatialFeatures(todo, grid, grid_shape, encoder, choice.label, spec.image_size)
        save_spatial_features(cache_file, cached)
    table = SpatialFeatures(
        list(image_ids), cached.matrix(list(image_ids)), cached.grid_shape, encoder, choice.label, spec.image_size
    )
    if path is not None:
        save_spatial_features(path, table)
    return table
