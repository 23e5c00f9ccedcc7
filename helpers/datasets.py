"""Reading a captioning dataset: Flickr8k/Flickr30k, Kaggle, Karpathy and COCO caption files.

Taught in notebooks/01_text_cleaning.ipynb (section 2, the raw captions; notebook 02 reads what 01 wrote).

``DATASET`` is ``"sample"``, ``"flickr8k"`` (downloaded once into
``data/flickr8k``, see :mod:`course.download`), or a path to a folder or to a
caption file. For a path the format is detected from the file names found
(first match wins, in this order), logged, and kept in :attr:`CaptionDataset.format`:

``"flickr8k"`` — a token file, ``<image_id>#<n><TAB><caption>`` per line. The
    bundled sample (``data/sample``) and the real Flickr8k share this layout::

        <root>/Flicker8k_Dataset/<image_id>.jpg      (the real archive's typo, kept)
        <root>/Flickr8k.token.txt                     <image_id>#<n><TAB><caption>
        <root>/Flickr_8k.trainImages.txt              one image id per line
        <root>/Flickr_8k.devImages.txt
        <root>/Flickr_8k.testImages.txt

    Flickr30k uses the same line format in ``results_20130124.token`` (any
    ``*.token`` / ``*.token.txt`` file is read), with its images in
    ``flickr30k_images/`` (or ``flickr30k-images/``, ``Images/``, ``images/``).
``"kaggle"`` — ``captions.txt`` (or a ``*.csv`` file): CSV with the header
    ``image,caption`` (captions may be quoted and contain commas), images in ``Images/``.
``"karpathy"`` — ``dataset_flickr8k.json``, ``dataset_flickr30k.json``,
    ``dataset_coco.json`` (Karpathy's splits): ``{"images": [{"filename",
    "filepath" (coco only), "split", "sentences": [{"raw", "tokens"}]}]}``. Split
    ``val`` becomes ``dev`` and ``restval`` (the extra COCO val images Karpathy
    trains on) becomes ``train``. With ``filepath`` the image id is
    ``<filepath>/<filename>`` (e.g. ``val2014/COCO_val2014_...jpg``), relative
    to the folder holding ``train2014/`` and ``val2014/``.
``"coco"`` — ``captions_train2014.json``, ``captions_val2017.json``, ... (also
    in an ``annotations/`` subfolder): ``{"images": [{"id", "file_name"}],
    "annotations": [{"image_id", "caption"}]}``; images in ``train2014/`` etc.
    beside the file or beside its ``annotations/`` folder, or wherever the
    ``images_dir`` argument says.

The readers are in :mod:`helpers.formats` (``read_token_file``, ``read_kaggle_captions``,
``read_karpathy_json``, ``read_coco_json``, ``read_split_file``), importable from this module too.

Splits: the Flickr8k split files when present (all three, or none), Karpathy's
``split`` field. A dataset without a split (COCO, Kaggle, a token file without
split files) gets a deterministic one (:func:`seeded_split`): the sorted image
ids shuffled with ``random.Random(seed)`` and cut 6:1:1 into train/dev/test,
the proportions of Flickr8k's 6,000/1,000/1,000. The log says so.

Image ids are file names relative to the images folder (``images_dir`` argument,
else found beside the caption file).

Bad data never stops a load: a line without a tab, an empty caption, an id that
is not an image file name (the real token file has ``2258277193_586949ec62.jpg.1``),
an id with ``..`` or an absolute path, a duplicate entry, non-UTF-8 bytes (kept,
replaced by U+FFFD), a COCO caption for an image not listed in ``images``, a
split entry without captions or without an image file — each is skipped (or
repaired), counted and reported in :attr:`CaptionDataset.skipped` and in the log.

Duplicates — one rule for every reader: captions are kept as the dataset
publishes them, and only a repeated *id* is a duplicate. Skipped (and counted)
are a second ``<image_id>#<n>`` line in a token file, a second COCO annotation
with the same ``id``, and an image listed twice in a COCO or Karpathy
``images`` list. Two captions of one image with the same words under different
ids are both kept, and so is a repeated ``image,caption`` row of a CSV file
(CSV rows have no caption id to tell a repeat from a caption written twice).
Why: the real Flickr8k token file has 10 captions that repeat another caption of
the same image word for word (``2305437797_e6c3460190.jpg#1`` and ``#4``, ...);
they are part of the published dataset (5 captions for each of 8,091 images,
40,455 captions once the 5 lines of the bad id are skipped), BLEU is unchanged
by a repeated reference, and the same captions read from a token file, a Kaggle
CSV or a Karpathy JSON then give the same counts.
A file that cannot be parsed at all (invalid JSON, a CSV without the header, a
token file without one usable line) raises :class:`ValueError` naming the file.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

from course import download as flickr8k  # (the parameter `download` below is a flag)
from course import paths
from helpers.formats import (
    read_coco_json,
    read_kaggle_captions,
    read_karpathy_json,
    read_split_file,
    read_token_file,
)  # noqa: F401  (the readers are part of this module's interface)

logger = logging.getLogger(__name__)

TOKEN_FILE = "Flickr8k.token.txt"
SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "dev": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
IMAGE_DIR_NAMES = ("Flicker8k_Dataset", "Flickr8k_Dataset", "flickr30k_images", "flickr30k-images", "Images", "images")
KAGGLE_FILE = "captions.txt"
DEFAULT_SEED = 42
SPLIT_PROPORTIONS = {"train": 6, "dev": 1, "test": 1}  # Flickr8k's 6,000 / 1,000 / 1,000

#: Format name -> what it reads.
FORMATS = {
    "flickr8k": f"{TOKEN_FILE} or another *.token / *.token.txt file (Flickr30k's results_20130124.token)",
    "kaggle": f"{KAGGLE_FILE} or *.csv with the header 'image,caption' (Kaggle)",
    "karpathy": "dataset_*.json (Karpathy's splits)",
    "coco": "captions_*.json, also in annotations/ (COCO)",
}

# What a folder is searched for, in order: (format, glob patterns relative to the folder).
_FOLDER_PATTERNS = (
    ("flickr8k", (TOKEN_FILE,)),
    ("kaggle", (KAGGLE_FILE,)),
    ("karpathy", ("dataset_*.json",)),
    ("coco", ("captions_*.json", "annotations/captions_*.json")),
    ("flickr8k", ("*.token", "*.token.txt")),
)
_LOOKED_FOR = "; ".join(FORMATS.values())


@dataclass
class CaptionDataset:
    """Raw captions and the splits of one dataset; ``format`` names the reader used (see :data:`FORMATS`)."""

    name: str
    root: Path
    images_dir: Path | None
    captions_by_image: dict[str, list[str]]
    splits: dict[str, list[str]]
    skipped: Counter = field(default_factory=Counter)
    format: str = "flickr8k"

    def image_path(self, image_id: str) -> Path:
        if self.images_dir is None:
            raise FileNotFoundError(f"{self.root} has no images folder (looked for {', '.join(IMAGE_DIR_NAMES)}).")
        return self.images_dir / image_id

    def summary(self) -> str:
        parts = [
            f"{self.name}: {len(self.captions_by_image)} images with captions, "
            f"{sum(len(c) for c in self.captions_by_image.values())} captions"
        ]
        parts += [f"{split} {len(ids)}" for split, ids in self.splits.items()]
        if self.skipped:
            parts.append("skipped: " + ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items())))
        return "; ".join(parts)


# --- finding the dataset -----------------------------------------------------------------------


def resolve_dataset_path(dataset: str, *, download: bool = True) -> Path:
    """Folder or caption file of ``DATASET``: ``"sample"``, ``"flickr8k"`` (downloaded if needed) or a path."""
    if dataset == "sample":
        return paths.SAMPLE_DIR
    if dataset == "flickr8k":
        root = paths.FLICKR8K_DIR
        if download:
            flickr8k.download_flickr8k(root)
        return root
    path = Path(dataset).expanduser()
    if not path.is_absolute() and not path.exists():
        path = paths.REPO_ROOT / path
    if not path.exists():
        raise FileNotFoundError(
            f"DATASET={dataset!r}: not 'sample', not 'flickr8k' and not an existing folder or caption file ({path})."
        )
    return path


def format_of_file(path: str | Path) -> str | None:
    """The format a caption file's name says (see :data:`FORMATS`), or ``None``."""
    name = Path(path).name
    if name == TOKEN_FILE or name.endswith((".token", ".token.txt")):
        return "flickr8k"
    if name == KAGGLE_FILE or name.lower().endswith(".csv"):
        return "kaggle"
    if fnmatch(name, "dataset_*.json"):
        return "karpathy"
    if fnmatch(name, "captions_*.json"):
        return "coco"
    return None


def detect_format(path: str | Path) -> tuple[str, Path]:
    """``(format, caption file)`` for a caption file or a folder holding one.

    A folder is searched in the order of the module doc; several candidates of
    one kind (``captions_train2014.json`` and ``captions_val2014.json``) are an
    error asking for the file itself.
    """
    path = Path(path)
    if path.is_file():
        fmt = format_of_file(path)
        if fmt is None:
            raise ValueError(f"{path}: not a caption file this loader knows (looked for {_LOOKED_FOR}).")
        return fmt, path
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder or file.")
    for fmt, patterns in _FOLDER_PATTERNS:
        found = sorted(p for pattern in patterns for p in path.glob(pattern) if p.is_file())
        if fmt == "flickr8k" and len(found) > 1:
            found = [p for p in found if "lemma" not in p.name.lower()] or found  # Flickr8k.lemma.token.txt
        if len(found) > 1:
            names = ", ".join(str(p.relative_to(path)) for p in found)
            raise ValueError(f"{path}: several {fmt} caption files ({names}); give the one to read as DATASET.")
        if found:
            return fmt, found[0]
    raise FileNotFoundError(f"{path}: no caption file found (looked for {_LOOKED_FOR}).")


def find_images_dir(root: Path) -> Path | None:
    for name in IMAGE_DIR_NAMES:
        if (root / name).is_dir():
            return root / name
    return None


# --- images folders and splits -----------------------------------------------------------------


def _first_dir(candidates) -> Path | None:
    return next((c for c in candidates if c.is_dir()), None)


def _default_images_dir(fmt: str, source: Path, image_ids) -> Path | None:
    """The images folder beside the caption file ``source`` (see the module doc)."""
    here = source.parent
    if fmt == "coco":
        # captions_train2014.json -> train2014/, beside the file or beside its annotations/ folder
        subset = source.stem.split("_", 1)[-1]
        bases = (here, here.parent)
        return _first_dir(
            [b / subset for b in bases]
            + [b / "images" / subset for b in bases]
            + [b / name for b in bases for name in IMAGE_DIR_NAMES]
        )
    subfolders = {PurePosixPath(i).parts[0] for i in image_ids if len(PurePosixPath(i).parts) == 2}
    if subfolders:  # Karpathy COCO: ids "val2014/..." relative to the folder holding val2014/
        candidates = [here, here / "images", here / "Images", here / "coco", here.parent]
        return next((c for c in candidates if any((c / s).is_dir() for s in subfolders)), None)
    return find_images_dir(here)


def _resolve_images_dir(images_dir: str | Path, root: Path) -> Path:
    """``images_dir`` as given, else relative to the dataset folder, else to the repository (like ``DATASET``)."""
    path = Path(images_dir).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [path, root / path, paths.REPO_ROOT / path]
    found = next((c for c in candidates if c.is_dir()), None)
    if found is None:
        tried = ", ".join(str(c) for c in dict.fromkeys(candidates))
        raise FileNotFoundError(f"images_dir={str(images_dir)!r}: not a folder (tried {tried}).")
    return found


def seeded_split(image_ids, seed: int = DEFAULT_SEED) -> dict[str, list[str]]:
    """A deterministic train/dev/test split of ``image_ids`` in Flickr8k's proportions 6:1:1.

    The sorted ids are shuffled with ``random.Random(seed)``; dev and test get
    an eighth each (rounded to nearest), train the rest. Each split is sorted.
    """
    ids = sorted(set(image_ids))
    random.Random(seed).shuffle(ids)
    total = sum(SPLIT_PROPORTIONS.values())
    n_dev = (len(ids) * SPLIT_PROPORTIONS["dev"] * 2 + total) // (2 * total)
    n_test = (len(ids) * SPLIT_PROPORTIONS["test"] * 2 + total) // (2 * total)
    n_train = len(ids) - n_dev - n_test
    return {
        "train": sorted(ids[:n_train]),
        "dev": sorted(ids[n_train : n_train + n_dev]),
        "test": sorted(ids[n_train + n_dev :]),
    }


def _read_split_files(folder: Path) -> dict[str, list[str]] | None:
    """The Flickr8k split files in ``folder``: all three, or ``None`` when there is none."""
    present = {split: folder / name for split, name in SPLIT_FILES.items() if (folder / name).exists()}
    if not present:
        return None
    for split, name in SPLIT_FILES.items():
        if split not in present:
            raise FileNotFoundError(
                f"{folder / name} not found: every dataset needs train, dev and test split files "
                f"(or none, for a split made from the seed)."
            )
    return {split: read_split_file(p) for split, p in present.items()}


def _check_splits(splits, captions_by_image, images_dir, require_images, skipped) -> dict[str, list[str]]:
    """Split entries with captions and (with ``require_images``) an image file, each in one split."""
    checked: dict[str, list[str]] = {}
    seen: set[str] = set()
    for split, image_ids in splits.items():
        kept = []
        for image_id in image_ids:
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
        checked[split] = kept
    return checked


def _usable_images(image_ids, captions_by_image, images_dir, require_images, skipped) -> list[str]:
    """The images that can go into a seeded split: with captions and (with ``require_images``) a file."""
    usable = []
    for image_id in dict.fromkeys(image_ids):
        if image_id not in captions_by_image:
            skipped["images without captions"] += 1
        elif require_images and not (images_dir / image_id).is_file():
            skipped["images without an image file"] += 1
        else:
            usable.append(image_id)
    return usable


# --- loading -----------------------------------------------------------------------------------


def _read_captions(fmt: str, source: Path, skipped: Counter):
    """``(captions_by_image, splits or None, image ids to split when there is no split)``."""
    if fmt == "flickr8k":
        captions = read_token_file(source, skipped)
        return captions, _read_split_files(source.parent), list(captions)
    if fmt == "kaggle":
        captions = read_kaggle_captions(source, skipped)
        return captions, None, list(captions)
    if fmt == "karpathy":
        captions, splits = read_karpathy_json(source, skipped)
        return captions, splits, []
    if fmt == "coco":
        captions, listed = read_coco_json(source, skipped)
        return captions, None, listed
    raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)}).")


def load_dataset(
    dataset: str = "sample",
    *,
    require_images: bool = True,
    download: bool = True,
    images_dir: str | Path | None = None,
    seed: int = DEFAULT_SEED,
) -> CaptionDataset:
    """Load the captions and splits of ``DATASET`` (see the module doc and :func:`resolve_dataset_path`).

    The format is detected from the path (:func:`detect_format`), logged and kept
    in ``format``. ``images_dir`` overrides the images folder found beside the
    caption file (a relative path is tried from the working folder, then the
    dataset folder). A dataset without a split gets :func:`seeded_split` with
    ``seed``. With ``require_images`` entries whose image file is missing are
    dropped (counted); set it to ``False`` to work with the caption files alone.
    """
    path = resolve_dataset_path(dataset, download=download)
    fmt, source = detect_format(path)
    root = path if path.is_dir() else path.parent
    logger.info("%s: read as %s format from %s", dataset, fmt, source)
    skipped: Counter = Counter()
    captions_by_image, splits, to_split = _read_captions(fmt, source, skipped)

    if images_dir is not None:
        images = _resolve_images_dir(images_dir, root)
    else:
        images = _default_images_dir(fmt, source, captions_by_image)
    if require_images and images is None:
        raise FileNotFoundError(
            f"{root}: no images folder (looked for {', '.join(IMAGE_DIR_NAMES)} beside "
            f"{source.name}); pass images_dir=... or require_images=False."
        )

    if splits is not None:
        splits = _check_splits(splits, captions_by_image, images, require_images, skipped)
    else:
        splits = seeded_split(_usable_images(to_split, captions_by_image, images, require_images, skipped), seed)
        logger.info(
            "%s has no train/dev/test split: made one from seed %d, 6:1:1 like Flickr8k (%s)",
            source.name,
            seed,
            ", ".join(f"{s} {len(ids)}" for s, ids in splits.items()),
        )

    name = dataset if dataset in ("sample", "flickr8k") else (path.name if path.is_dir() else path.stem)
    result = CaptionDataset(name, root, images, captions_by_image, splits, skipped, format=fmt)
    if skipped:
        logger.warning("%s", result.summary())
    return result
