"""The sharded, resumable feature cache that notebook 03's features come through.

Role: course machinery (a cache) for notebooks/03_feature_extraction.ipynb (see :mod:`helpers.features` for
the whole picture; ``features.npz`` and :class:`~helpers.feature_table.FeatureTable` are
:mod:`helpers.feature_table`).

A damaged chunk (cut short, not a zip file, arrays of the wrong shape or type) is named in a logged
warning, deleted and its images extracted again. Cache files get the usual permissions of new files
(``0o666`` less the umask), so a cache shared between users stays readable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from course import paths
from helpers.encoders import WeightsChoice, build_encoder, encoder_spec
from helpers.extraction import PIPELINE_VERSION, iter_features
from helpers.feature_table import FeatureTable, save_features
from helpers.images import MAX_IMAGE_PIXELS

logger = logging.getLogger(__name__)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(images_dir: str | Path, encoder: str, weights: WeightsChoice, seed: int | None = None) -> dict:
    """Everything the features depend on. Two extractions share cached features only
    when their keys are equal.

    Untrained weights without a seed are random every time: their key gets a
    random nonce, so such features are never reused."""
    spec = encoder_spec(encoder)
    key = {
        "images_dir": str(Path(images_dir).expanduser().resolve()),
        "encoder": encoder,
        "weights": weights.label,
        "image_size": spec.image_size,
        "pipeline": PIPELINE_VERSION,
    }
    if weights.kind == "file":
        key["weights_sha256"] = _file_sha256(weights.path)
    elif weights.kind == "imagenet":
        key["weights_file"] = spec.weights_file
    else:
        key["seed"] = seed if seed is not None else f"unseeded-{uuid.uuid4().hex}"
    return key


def cache_folder(cache_root: str | Path, key: dict) -> Path:
    """``<cache_root>/<images folder>-<encoder>-<weights>-<size>px-<hash of the key>``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    weights_name = Path(key["weights"]).stem if key["weights"] not in ("imagenet", "none") else key["weights"]
    readable = paths.slug(f"{Path(key['images_dir']).name}-{key['encoder']}-{weights_name}-{key['image_size']}px")
    return Path(cache_root) / f"{readable}-{digest}"


def shard_of(image_id: str, num_shards: int) -> int:
    """The shard an image belongs to: a stable hash of its id (the same on every machine)."""
    return zlib.crc32(image_id.encode("utf-8")) % num_shards


def _stamp(path: Path) -> tuple[int, int]:
    """(size in bytes, modification time in whole seconds); (-1, -1) for a missing file."""
    try:
        status = path.stat()
    except OSError:
        return -1, -1
    return status.st_size, int(status.st_mtime)


def _write_chunk(folder: Path, shard: str, ids, vectors, stamps, skipped, dim: int) -> Path:
    """One chunk of the cache, atomically: a temporary file in the same folder, then a rename."""
    name = f"chunk-{shard}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.npz"
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    os.close(fd)
    skipped_ids = [s[0] for s in skipped]
    try:
        np.savez(
            tmp_name,
            image_ids=np.array(ids, dtype=str),
            features=np.array(vectors, dtype=np.float32).reshape(len(ids), dim),
            stamps=np.array([stamps[i] for i in ids], dtype=np.int64).reshape(len(ids), 2),
            skipped_ids=np.array(skipped_ids, dtype=str),
            skipped_reasons=np.array([s[1] for s in skipped], dtype=str),
            skipped_stamps=np.array([stamps[i] for i in skipped_ids], dtype=np.int64).reshape(len(skipped), 2),
        )
        paths.usual_permissions(tmp_name)
        os.replace(tmp_name, folder / name)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return folder / name


def _read_chunk_index(chunk: Path, dim: int | None) -> tuple[list, list, list]:
    """A chunk's ids, stamps and skipped rows, after checking that its arrays have the shapes a chunk has
    (``ValueError`` naming the array otherwise; ``BadZipFile``/``OSError`` for a file that is not a chunk)."""
    with np.load(chunk, allow_pickle=False) as data:
        ids, stamps, features = data["image_ids"], data["stamps"], data["features"]
        skipped_ids, reasons, skipped_stamps = data["skipped_ids"], data["skipped_reasons"], data["skipped_stamps"]
        n, k = len(ids), len(skipped_ids)
        expected = {
            "image_ids": (ids, (n,)),
            "stamps": (stamps, (n, 2)),
            "features": (features, (n, dim if dim is not None else features.shape[-1])),
            "skipped_reasons": (reasons, (k,)),
            "skipped_stamps": (skipped_stamps, (k, 2)),
        }
        for name, (array, shape) in expected.items():
            if array.shape != shape:
                raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
        if ids.dtype.kind != "U" or features.dtype != np.float32 or not np.isfinite(features).all():
            raise ValueError("image_ids are not text or features are not finite float32")
        return ids.tolist(), stamps.tolist(), list(zip(skipped_ids.tolist(), reasons.tolist(), skipped_stamps.tolist()))


def read_cache(
    folder: str | Path, stamps: dict[str, tuple[int, int]], dim: int | None = None
) -> tuple[dict[str, tuple[Path, int]], dict[str, str]]:
    """The union of every chunk in ``folder`` (all shards), for the image ids in ``stamps``
    whose cached entry was made from the file as it is now: ``(located, skipped)`` where
    ``located`` maps an image id to its (chunk file, row) and ``skipped`` to its reason.
    Every chunk's arrays are checked (``dim``: the feature size expected); a damaged chunk is named in a
    logged warning and deleted, so its images count as not extracted yet."""
    located: dict[str, tuple[Path, int]] = {}
    skipped: dict[str, str] = {}
    for chunk in sorted(Path(folder).glob("chunk-*.npz")):
        try:
            ids, row_stamps, skipped_rows = _read_chunk_index(chunk, dim)
        except Exception as error:  # cut short while being copied, not a zip, wrong arrays: its images are redone
            message = str(error).splitlines()[0] if str(error) else ""
            logger.warning(
                "dropping damaged feature-cache chunk %s (%s: %s); its images are extracted again",
                chunk,
                type(error).__name__,
                message,
            )
            with contextlib.suppress(OSError):  # a read-only shared cache: skip it, do not delete it
                chunk.unlink()
            continue
        for row, (image_id, stamp) in enumerate(zip(ids, row_stamps)):
            if image_id in stamps and image_id not in located and tuple(stamp) == stamps[image_id]:
                located[image_id] = (chunk, row)
        for image_id, reason, stamp in skipped_rows:
            if image_id in stamps and tuple(stamp) == stamps[image_id]:
                skipped[image_id] = reason
    for image_id in located:
        skipped.pop(image_id, None)
    return located, skipped


def gather_features(located: dict[str, tuple[Path, int]], image_ids: list[str], dim: int) -> np.ndarray:
    """The float32 matrix of ``image_ids``' cached features, filled chunk by chunk (one
    chunk in memory at a time besides the result)."""
    matrix = np.empty((len(image_ids), dim), dtype=np.float32)
    by_chunk: dict[Path, list[tuple[int, int]]] = {}
    for position, image_id in enumerate(image_ids):
        chunk, row = located[image_id]
        by_chunk.setdefault(chunk, []).append((position, row))
    for chunk, pairs in by_chunk.items():
        with np.load(chunk, allow_pickle=False) as data:
            chunk_features = data["features"]
        positions, rows = zip(*pairs)
        matrix[list(positions)] = chunk_features[list(rows)]
    return matrix


@dataclass
class FeatureExtraction:
    """What :func:`load_or_extract_features` did and found."""

    table: "FeatureTable"  # the images that have features, in the order asked for
    skipped: dict[str, str]  # image id -> why it has no features
    missing: list[str]  # not in the cache yet (other shards still to run)
    extracted: int  # images this call put through the CNN (or skipped anew)
    reused: int  # images found in the cache
    cache_dir: Path
    key: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.missing


def load_or_extract_features(
    path: str | Path | None,
    image_ids: list[str],
    images_dir: str | Path,
    encoder: str,
    weights: WeightsChoice,
    batch_size: int = 32,
    model=None,
    *,
    cache_root: str | Path | None = None,
    seed: int | None = None,
    num_shards: int = 1,
    shard_index: int = 0,
    chunk_size: int = 512,
    max_pixels: int = MAX_IMAGE_PIXELS,
    progress: bool = True,
) -> FeatureExtraction:
    """Features of ``image_ids`` (files in ``images_dir``) through the feature cache.

    Images already in the cache (any shard) are reused; this shard's other images
    are extracted with ``model`` (built from ``encoder``, ``weights`` and ``seed``
    only if there is work to do) and written chunk by chunk. When every image is
    either extracted or skipped, the features of the good ones are saved to
    ``path`` (when given) with :func:`save_features`. See the module doc."""
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"SHARD_INDEX={shard_index} must be between 0 and NUM_SHARDS-1={num_shards - 1}")
    spec = encoder_spec(encoder)
    images_dir = Path(images_dir)
    key = cache_key(images_dir, encoder, weights, seed)
    folder = cache_folder(cache_root or paths.FEATURE_CACHE_DIR, key)
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "key.json"
    if not key_file.exists():
        paths.write_json_atomic(key_file, key)
    elif paths.read_json(key_file) != key:
        raise RuntimeError(f"{key_file} does not match the features asked for; delete {folder} and rerun.")

    stamps = {image_id: _stamp(images_dir / image_id) for image_id in image_ids}
    located, skipped = read_cache(folder, stamps, spec.feature_dim)
    reused = len(located) + len(skipped)
    todo = [i for i in image_ids if i not in located and i not in skipped and shard_of(i, num_shards) == shard_index]
    if todo:
        logger.info(
            "%s: %d images in the cache, %d to extract (shard %d of %d) into %s",
            encoder,
            reused,
            len(todo),
            shard_index,
            num_shards,
            folder,
        )
        if model is None:
            model = build_encoder(encoder, weights, seed=seed)
        shard = f"{shard_index}of{num_shards}"
        ids, rows, bad = [], [], []

        def flush():
            if ids or bad:
                _write_chunk(folder, shard, ids, rows, stamps, bad, spec.feature_dim)
                ids.clear(), rows.clear(), bad.clear()

        try:
            for index, vector, reason in iter_features(
                model,
                [images_dir / i for i in todo],
                encoder,
                batch_size,
                max_pixels=max_pixels,
                progress=progress,
                desc=f"{encoder} features ({reused} cached)",
            ):
                if reason is None:
                    ids.append(todo[index]), rows.append(vector.copy())  # a copy: the batch's array can go
                else:
                    logger.warning("skipping %s: %s", images_dir / todo[index], reason)
                    bad.append((todo[index], reason))
                if len(ids) + len(bad) >= chunk_size:
                    flush()
        finally:
            flush()  # on an interruption too: the rows done so far are complete and worth keeping
        located, skipped = read_cache(folder, stamps, spec.feature_dim)

    missing = [i for i in image_ids if i not in located and i not in skipped]
    good = [i for i in image_ids if i in located]
    matrix = gather_features(located, good, spec.feature_dim)
    table = FeatureTable(good, matrix, encoder, weights.label, spec.image_size)
    if path is not None and not missing:
        save_features(path, good, matrix, encoder=encoder, weights=weights.label, image_size=spec.image_size)
    return FeatureExtraction(
        table, {i: skipped[i] for i in image_ids if i in skipped}, missing, len(todo), reused, folder, key
    )
