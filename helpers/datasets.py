"""Reading a captioning dataset in the Flickr8k layout.

Taught in notebooks/02_lookup_table.ipynb (notebook 01 uses it to read the raw captions).

The bundled sample (``data/sample``) and the real Flickr8k share one layout, so
one loader reads both::

    <root>/Flicker8k_Dataset/<image_id>.jpg      (the real archive's typo, kept)
    <root>/Flickr8k.token.txt                     <image_id>#<n><TAB><caption>
    <root>/Flickr_8k.trainImages.txt              one image id per line
    <root>/Flickr_8k.devImages.txt
    <root>/Flickr_8k.testImages.txt

``DATASET`` is ``"sample"``, ``"flickr8k"`` (downloaded once into
``data/flickr8k``, see :mod:`helpers.download`), or a path to a folder in this layout.

Bad lines never stop a load: a line without a tab, an empty caption, an id that
is not an image file name (the real token file has ``2258277193_586949ec62.jpg.1``),
an id with ``..`` or an absolute path, a split entry without captions or without
an image file — each is skipped, counted and reported in :attr:`CaptionDataset.skipped`
and in the log.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from helpers import paths

logger = logging.getLogger(__name__)

TOKEN_FILE = "Flickr8k.token.txt"
SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "dev": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
IMAGE_DIR_NAMES = ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "images")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class CaptionDataset:
    """Raw captions and the official splits of one dataset."""

    name: str
    root: Path
    images_dir: Path | None
    captions_by_image: dict[str, list[str]]
    splits: dict[str, list[str]]
    skipped: Counter = field(default_factory=Counter)

    def image_path(self, image_id: str) -> Path:
        if self.images_dir is None:
            raise FileNotFoundError(f"{self.root} has no images folder (looked for {', '.join(IMAGE_DIR_NAMES)}).")
        return self.images_dir / image_id

    def summary(self) -> str:
        parts = [f"{self.name}: {len(self.captions_by_image)} images with captions, "
                 f"{sum(len(c) for c in self.captions_by_image.values())} captions"]
        parts += [f"{split} {len(ids)}" for split, ids in self.splits.items()]
        if self.skipped:
            parts.append("skipped: " + ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items())))
        return "; ".join(parts)


def resolve_dataset_dir(dataset: str, *, download: bool = True) -> Path:
    """Folder of ``DATASET``: ``"sample"``, ``"flickr8k"`` (downloaded if needed) or a path."""
    if dataset == "sample":
        return paths.SAMPLE_DIR
    if dataset == "flickr8k":
        root = paths.FLICKR8K_DIR
        if download:
            from helpers.download import download_flickr8k

            download_flickr8k(root)
        return root
    path = Path(dataset).expanduser()
    if not path.is_absolute() and not path.exists():
        path = paths.REPO_ROOT / path
    if not path.is_dir():
        raise FileNotFoundError(
            f"DATASET={dataset!r}: not 'sample', not 'flickr8k' and not an existing folder ({path})."
        )
    return path


def _is_safe_image_id(image_id: str) -> bool:
    pure = PurePosixPath(image_id.replace("\\", "/"))
    return bool(image_id) and not pure.is_absolute() and ".." not in pure.parts and len(pure.parts) == 1


def read_token_file(path: str | Path, skipped: Counter | None = None) -> dict[str, list[str]]:
    """Read ``<image_id>#<n>\\t<caption>`` lines into ``{image_id: [caption, ...]}``.

    Lines that cannot be used are skipped and counted in ``skipped`` (see module doc).
    Bytes that are not UTF-8 are replaced, and the line is counted.
    """
    path = Path(path)
    skipped = Counter() if skipped is None else skipped
    captions_by_image: dict[str, list[str]] = {}
    raw = path.read_bytes()
    for line_number, raw_line in enumerate(raw.splitlines(), start=1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            line = raw_line.decode("utf-8", errors="replace")
            skipped["lines with non-UTF-8 bytes (kept, bytes replaced)"] += 1
        line = line.strip("\r\n\ufeff")
        if not line.strip():
            continue
        if "\t" not in line:
            skipped["lines without a tab"] += 1
            logger.warning("%s:%d: no tab between id and caption, skipped", path, line_number)
            continue
        key, caption = line.split("\t", 1)
        image_id = key.rsplit("#", 1)[0].strip()
        caption = caption.strip()
        if not caption:
            skipped["empty captions"] += 1
            continue
        if not _is_safe_image_id(image_id):
            skipped["ids with a path in them"] += 1
            logger.warning("%s:%d: unsafe image id %r, skipped", path, line_number, image_id)
            continue
        if not image_id.lower().endswith(IMAGE_SUFFIXES):
            skipped["ids that are not image file names"] += 1
            logger.info("%s:%d: id %r is not an image file name, skipped", path, line_number, image_id)
            continue
        captions_by_image.setdefault(image_id, []).append(caption)
    if not captions_by_image:
        raise ValueError(f"{path}: no usable '<image>#<n><TAB><caption>' line found.")
    return captions_by_image


def read_split_file(path: str | Path) -> list[str]:
    """Image ids listed one per line (blank lines ignored, duplicates dropped, order kept)."""
    ids = [line.strip() for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines()]
    return list(dict.fromkeys(i for i in ids if i))


def find_images_dir(root: Path) -> Path | None:
    for name in IMAGE_DIR_NAMES:
        if (root / name).is_dir():
            return root / name
    return None


def load_dataset(dataset: str = "sample", *, require_images: bool = True, download: bool = True) -> CaptionDataset:
    """Load the captions and splits of ``DATASET`` (see :func:`resolve_dataset_dir`).

    With ``require_images`` split entries whose image file is missing are dropped
    (counted); set it to ``False`` to work with the text files alone.
    """
    root = resolve_dataset_dir(dataset, download=download)
    token_path = root / TOKEN_FILE
    if not token_path.exists():
        raise FileNotFoundError(f"{token_path} not found: {root} is not in the Flickr8k layout (see helpers/datasets.py).")
    skipped: Counter = Counter()
    captions_by_image = read_token_file(token_path, skipped)
    images_dir = find_images_dir(root)
    if require_images and images_dir is None:
        raise FileNotFoundError(f"{root}: no images folder (looked for {', '.join(IMAGE_DIR_NAMES)}).")

    splits: dict[str, list[str]] = {}
    seen: set[str] = set()
    for split, file_name in SPLIT_FILES.items():
        split_path = root / file_name
        if not split_path.exists():
            raise FileNotFoundError(f"{split_path} not found: every dataset needs train, dev and test split files.")
        kept = []
        for image_id in read_split_file(split_path):
            if image_id not in captions_by_image:
                skipped["split entries without captions"] += 1
                continue
            if image_id in seen:
                skipped["split entries listed in two splits"] += 1
                continue
            if require_images and not (images_dir / image_id).is_file():
                skipped["split entries without an image file"] += 1
                continue
            seen.add(image_id)
            kept.append(image_id)
        splits[split] = kept

    name = dataset if dataset in ("sample", "flickr8k") else root.name
    result = CaptionDataset(name, root, images_dir, captions_by_image, splits, skipped)
    if skipped:
        logger.warning("%s", result.summary())
    return result
