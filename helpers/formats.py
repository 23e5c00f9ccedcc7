"""The caption-file readers behind :mod:`helpers.datasets`, one function per format.

Used through :func:`helpers.datasets.load_dataset` (taught in notebooks/01_text_cleaning.ipynb); the
formats, the bad-data rules and the duplicate rule are described in the :mod:`helpers.datasets` docstring.

- :func:`read_token_file`: ``<image_id>#<n><TAB><caption>`` lines (Flickr8k, Flickr30k);
- :func:`read_split_file`: one image id per line (``Flickr_8k.trainImages.txt``, ...);
- :func:`read_kaggle_captions`: Kaggle's ``captions.txt`` CSV (header ``image,caption``);
- :func:`read_karpathy_json`: Karpathy's ``dataset_*.json`` with its splits;
- :func:`read_coco_json`: COCO ``captions_*.json``.

Each reader fills a ``skipped`` :class:`~collections.Counter` with what it skipped or repaired and why, and
raises :class:`ValueError` naming the file (and line) for a file it cannot parse at all.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import Counter
from pathlib import Path, PurePosixPath, PureWindowsPath

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
KARPATHY_SPLITS = {"train": "train", "val": "dev", "test": "test", "restval": "train"}


# --- checks shared by the readers --------------------------------------------------------------

_SURROGATES = re.compile("[\ud800-\udfff]")


def _read_text(path: Path) -> str:
    """The file as text; bytes that are not UTF-8 become lone surrogates for :func:`_repair` to find."""
    return path.read_bytes().decode("utf-8", errors="surrogateescape").lstrip("\ufeff")


def _repair(text: str) -> tuple[str, bool]:
    """``(text with non-UTF-8 bytes replaced by U+FFFD, whether any were)``."""
    if not _SURROGATES.search(text):
        return text, False
    try:
        return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace"), True
    except UnicodeEncodeError:  # a lone surrogate written as a JSON \\u escape
        return _SURROGATES.sub("\ufffd", text), True


def _is_safe_image_id(image_id: str, max_parts: int = 1) -> bool:
    """A relative path without ``..`` of at most ``max_parts`` parts (1: a plain file name)."""
    pure = PurePosixPath(image_id.replace("\\", "/"))
    windows = PureWindowsPath(image_id)  # C:\x.jpg, C:x.jpg, \\server\share\x.jpg: a drive or a root
    return (
        bool(image_id)
        and "\0" not in image_id
        and not windows.drive
        and not windows.root
        and not pure.is_absolute()
        and ".." not in pure.parts
        and 1 <= len(pure.parts) <= max_parts
    )


MAX_ID_PARTS = 4  # an image id may name up to 3 folders under the images folder (COCO's train2014/..., your own)


def _check_image_id(image_id, skipped: Counter, where: str, max_parts: int = MAX_ID_PARTS) -> bool:
    """Whether ``image_id`` is a safe image path: relative, no ``..``, at most ``max_parts`` parts (folders
    included: ``val2014/x.jpg`` is fine); counts and logs it when not."""
    if not isinstance(image_id, str) or not image_id.strip():
        skipped["entries without an image file name"] += 1
        logger.warning("%s: no image file name, skipped", where)
        return False
    if not _is_safe_image_id(image_id, max_parts):
        skipped["ids with a path in them"] += 1
        logger.warning("%s: unsafe image id %r, skipped", where, image_id)
        return False
    if not image_id.lower().endswith(IMAGE_SUFFIXES):
        skipped["ids that are not image file names"] += 1
        logger.info("%s: id %r is not an image file name, skipped", where, image_id)
        return False
    return True


def is_safe_image_id(image_id: str, *args, **kwargs) -> bool:
    """Whether ``image_id`` is a safe image path (no absolute path, no ``..``): the check every reader
    applies, also to ids that come from elsewhere (the judgement files of notebook 09)."""
    return isinstance(image_id, str) and _is_safe_image_id(image_id, *args, **kwargs)


def check_image_id(image_id, skipped: Counter, where: str, *args, **kwargs) -> bool:
    """Whether ``image_id`` is a safe image file name; counts it in ``skipped`` and logs ``where`` when not."""
    return _check_image_id(image_id, skipped, where, *args, **kwargs)


class _Captions:
    """``{image_id: [caption, ...]}`` being filled: empty captions and repeated caption ids are skipped and counted."""

    def __init__(self, skipped: Counter):
        self.by_image: dict[str, list[str]] = {}
        self.skipped = skipped
        self._seen_ids: set = set()

    def add(self, image_id: str, caption, where: str, caption_id=None) -> None:
        """Add one caption; a ``caption_id`` seen before (``a.jpg#0`` twice) is a duplicate.

        Without a ``caption_id`` (a CSV row, a Karpathy sentence) every caption is
        kept, even one that repeats another word for word (see the module doc).
        """
        caption = caption.strip() if isinstance(caption, str) else ""
        if not caption:
            self.skipped["empty captions"] += 1
            return
        if caption_id is not None:
            if caption_id in self._seen_ids:
                self.skipped["duplicate caption ids"] += 1
                logger.info("%s: caption id %r seen before, skipped", where, caption_id)
                return
            self._seen_ids.add(caption_id)
        self.by_image.setdefault(image_id, []).append(caption)


# --- the readers -------------------------------------------------------------------------------


def read_token_file(path: str | Path, skipped: Counter | None = None) -> dict[str, list[str]]:
    """Read ``<image_id>#<n>\\t<caption>`` lines into ``{image_id: [caption, ...]}``.

    Lines that cannot be used are skipped and counted in ``skipped`` (see module doc).
    Bytes that are not UTF-8 are replaced, and the line is counted.
    """
    path = Path(path)
    skipped = Counter() if skipped is None else skipped
    captions = _Captions(skipped)
    for line_number, raw_line in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            line = raw_line.decode("utf-8", errors="replace")
            skipped["lines with non-UTF-8 bytes (kept, bytes replaced)"] += 1
        line = line.strip("\r\n\ufeff")
        if not line.strip():
            continue
        where = f"{path}:{line_number}"
        if "\t" not in line:
            skipped["lines without a tab"] += 1
            logger.warning("%s: no tab between id and caption, skipped", where)
            continue
        key, caption = line.split("\t", 1)
        image_id = key.rsplit("#", 1)[0].strip()
        if not caption.strip():
            skipped["empty captions"] += 1
            continue
        if _check_image_id(image_id, skipped, where):
            captions.add(image_id, caption, where, caption_id=key.strip() if "#" in key else None)
    if not captions.by_image:
        raise ValueError(f"{path}: no usable '<image>#<n><TAB><caption>' line found.")
    return captions.by_image


def read_split_file(path: str | Path) -> list[str]:
    """Image ids listed one per line (blank lines ignored, duplicates dropped, order kept; a BOM is dropped)."""
    ids = [
        line.strip().lstrip("\ufeff").strip()
        for line in Path(path).read_text(encoding="utf-8-sig", errors="replace").splitlines()
    ]
    return list(dict.fromkeys(i for i in ids if i))


def read_kaggle_captions(path: str | Path, skipped: Counter | None = None) -> dict[str, list[str]]:
    """Read a Kaggle ``captions.txt`` (CSV, header ``image,caption``) into ``{image_id: [caption, ...]}``.

    A row whose caption has unquoted commas (more columns than the header, the
    caption last) is kept with its columns joined back, and counted. The CSV is
    parsed strictly: a quote that is never closed (which would swallow the rest of
    the file into one caption) is a ``ValueError`` naming the line it opens on.
    """
    path = Path(path)
    skipped = Counter() if skipped is None else skipped
    captions = _Captions(skipped)
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), strict=True)
    row_start = 1  # the line the row being read starts on (a quoted caption may span lines)
    try:
        header = next(reader, None)
        row_start = reader.line_num + 1
        columns = [c.strip().lower() for c in header or []]
        if "image" not in columns or "caption" not in columns:
            raise ValueError(f"{path}:1: expected the CSV header 'image,caption', found {','.join(header or [])!r}.")
        image_col, caption_col = columns.index("image"), columns.index("caption")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(image_col, caption_col):
                skipped["rows without an image and a caption"] += 1
                logger.warning("%s: row %r has no image and caption, skipped", where, row)
                continue
            caption = row[caption_col]
            if len(row) > len(columns) and caption_col == len(columns) - 1:
                caption = ",".join(row[caption_col:])
                skipped["rows with unquoted commas (kept, columns joined)"] += 1
            image_id, bad_image = _repair(row[image_col].strip())
            caption, bad_caption = _repair(caption)
            if bad_image or bad_caption:
                skipped["rows with non-UTF-8 bytes (kept, bytes replaced)"] += 1
            if not caption.strip():
                skipped["empty captions"] += 1
                continue
            if _check_image_id(image_id, skipped, where):
                captions.add(image_id, caption, where)
            row_start = reader.line_num + 1
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise ValueError(
                f"{path}:{row_start}: a quote opened on this line is never closed (the rest of the "
                "file would become one caption); close it or remove it."
            ) from None
        raise ValueError(f"{path}:{row_start}: not valid CSV ({error}).") from None
    return captions.by_image


def _read_json(path: Path, *keys: str) -> dict:
    """The JSON object in ``path``, which must have a list under each of ``keys``."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg}, column {error.colno}).") from error
    except RecursionError:  # arrays or objects nested thousands deep: no caption file looks like that
        raise ValueError(f"{path}: not valid JSON for captions (nested too deeply to read).") from None
    for key in keys:
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise ValueError(f"{path}: expected a JSON object with a list {key!r}.")
    return data


def _text_field(entry: dict, key: str, skipped: Counter, reason: str):
    """``entry[key]`` with non-UTF-8 bytes replaced (counted under ``reason``); non-strings as they are."""
    value = entry.get(key)
    if isinstance(value, str):
        value, repaired = _repair(value)
        if repaired:
            skipped[reason] += 1
    return value


_JSON_NON_UTF8 = "entries with non-UTF-8 bytes (kept, bytes replaced)"


def read_karpathy_json(
    path: str | Path, skipped: Counter | None = None
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Read a Karpathy ``dataset_*.json`` into ``(captions_by_image, splits)``.

    Splits ``val`` -> ``dev``, ``restval`` -> ``train``. The caption is
    ``raw`` (``tokens`` joined when there is no ``raw``). With a ``filepath``
    (COCO) the image id is ``<filepath>/<filename>``.
    """
    path = Path(path)
    skipped = Counter() if skipped is None else skipped
    captions = _Captions(skipped)
    splits: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    listed: set[str] = set()
    for index, entry in enumerate(_read_json(path, "images")["images"]):
        where = f"{path}: images[{index}]"
        if not isinstance(entry, dict):
            skipped["image entries that are not objects"] += 1
            continue
        filename = _text_field(entry, "filename", skipped, _JSON_NON_UTF8)
        filepath = entry.get("filepath") or ""
        image_id = f"{filepath}/{filename}" if filepath and isinstance(filename, str) else filename
        if not _check_image_id(image_id, skipped, where, max_parts=2 if filepath else 1):  # Karpathy: a file name
            continue
        if image_id in listed:
            skipped["image entries listed twice"] += 1
            logger.warning("%s: %s is listed twice, skipped", where, image_id)
            continue
        split = entry.get("split")
        split = KARPATHY_SPLITS.get(split) if isinstance(split, str) else None
        if split is None:
            skipped["images with an unknown split"] += 1
            logger.warning("%s: unknown split %r, skipped", where, entry.get("split"))
            continue
        sentences = entry.get("sentences")
        for sentence in sentences if isinstance(sentences, list) else []:
            sentence = sentence if isinstance(sentence, dict) else {}
            caption = _text_field(sentence, "raw", skipped, _JSON_NON_UTF8)
            if caption is None and isinstance(sentence.get("tokens"), list):
                caption = " ".join(str(token) for token in sentence["tokens"])
            captions.add(image_id, caption, where)
        listed.add(image_id)
        splits[split].append(image_id)
    return captions.by_image, splits


def read_coco_json(path: str | Path, skipped: Counter | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """Read a COCO ``captions_*.json`` into ``(captions_by_image, image ids listed in 'images')``."""
    path = Path(path)
    skipped = Counter() if skipped is None else skipped
    data = _read_json(path, "images", "annotations")
    file_by_id: dict = {}
    rejected: set = set()
    for index, entry in enumerate(data["images"]):
        where = f"{path}: images[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), (int, str)):
            skipped["image entries without an id"] += 1
            continue
        file_name = _text_field(entry, "file_name", skipped, _JSON_NON_UTF8)
        if not _check_image_id(file_name, skipped, where):
            rejected.add(entry["id"])
        elif entry["id"] in file_by_id:
            skipped["image entries listed twice"] += 1
        else:
            file_by_id[entry["id"]] = file_name
    captions = _Captions(skipped)
    for index, annotation in enumerate(data["annotations"]):
        where = f"{path}: annotations[{index}]"
        image_key = annotation.get("image_id") if isinstance(annotation, dict) else None
        image_key = image_key if isinstance(image_key, (int, str)) else None
        if image_key in rejected:
            skipped["captions of skipped images"] += 1
        elif image_key not in file_by_id:
            skipped["annotations for an image not in 'images'"] += 1
            logger.warning("%s: image_id %r is not in 'images', skipped", where, image_key)
        else:
            annotation_id = annotation.get("id")
            captions.add(
                file_by_id[image_key],
                _text_field(annotation, "caption", skipped, _JSON_NON_UTF8),
                where,
                caption_id=annotation_id if isinstance(annotation_id, (int, str)) else None,
            )
    return captions.by_image, list(dict.fromkeys(file_by_id.values()))
