"""Download the real Flickr8k data set: resumable, checksum-verified, safely extracted.

Role: course machinery (locating data); shown in notebooks/01_text_cleaning.ipynb ("Where the data comes
from"). The transfer of one file is :mod:`course.transfer`, the extraction :mod:`course.safe_zip`.

The course runs on a small bundled sample; with internet access the full
Flickr8k (8,091 photos, 5 captions each) comes from the public mirror that the
TensorFlow/Keras tutorials use (:data:`DEFAULT_MIRROR`, Jason Brownlee's GitHub
release).  Two archives are fetched, see :data:`FLICKR8K_ARCHIVES`:

* ``Flickr8k_Dataset.zip`` (about 1.1 GB): the photos, in the folder
  ``Flicker8k_Dataset/`` -- the typo "Flicker" is part of the real data set;
* ``Flickr8k_text.zip`` (about 2.3 MB): ``Flickr8k.token.txt`` (the captions)
  and the split files ``Flickr_8k.trainImages.txt``, ``...devImages.txt`` and
  ``...testImages.txt``.

A classroom with a local copy sets the environment variable
``FLICKR8K_MIRROR`` (:data:`MIRROR_ENV`) to another base URL, for example
``http://192.168.1.10:8000/flickr8k/``; the ``mirror=`` argument of
:func:`download_flickr8k` overrides both.

What the code guarantees (each point is tested against a local HTTP server):

* downloads stream into ``<file>.part``; an interrupted download is resumed
  with an HTTP ``Range`` request on the next call (or the next retry);
* the md5 (and sha256, when known) is checked before the ``.part`` file is
  renamed to its final name, so a final file is always a verified file;
* the free disk space is checked before anything is downloaded;
* archives are extracted only when no member would land outside the target
  folder, into a temporary folder first, so a failure never leaves a
  half-extracted tree that looks complete; every failure while extracting
  (corrupt data, an encrypted member, an unknown compression method, a name too
  long for the disk, a file where a folder must go) is a :class:`DownloadError`
  naming the archive, the member and the cause, and a temporary folder left by
  a killed extraction (``.extracting-*``) is removed by the next one;
* a ``.complete.json`` marker is written last; with it present a second call
  does nothing and needs no network.

Every failure raises :class:`DownloadError` with a message that says what to do.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from course.safe_zip import safe_extract_zip
from course.transfer import MIRROR_ENV, DownloadError, check_free_space, download_file, with_headroom

logger = logging.getLogger(__name__)

DEFAULT_MIRROR = "https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/"

IMAGES_FOLDER = "Flicker8k_Dataset"  # sic: the real archive spells it "Flicker"
TOKEN_FILE = "Flickr8k.token.txt"
SPLIT_FILES = (
    "Flickr_8k.trainImages.txt",
    "Flickr_8k.devImages.txt",
    "Flickr_8k.testImages.txt",
)
TEXT_FILES = (TOKEN_FILE, *SPLIT_FILES)
MARKER_FILE = ".complete.json"
DOWNLOADS_FOLDER = "downloads"


@dataclass(frozen=True)
class Archive:
    """One archive of the data set: its file name on the mirror and how to verify it.

    ``approx_size`` is only used for the free-disk-space check (the download is
    verified by its checksum, not by its size).
    """

    name: str
    md5: str | None
    approx_size: int
    sha256: str | None = None


#: The two archives of the public mirror, with their published md5 sums.
FLICKR8K_ARCHIVES: tuple[Archive, ...] = (
    Archive("Flickr8k_Dataset.zip", "f18a1e2920de5bd84dae7cf08ec78978", 1_115_000_000),
    Archive("Flickr8k_text.zip", "bf6c1abcb8e4a833b7f922104de18627", 2_340_000),
)


# --------------------------------------------------------------------------- Flickr8k


def mirror_base(mirror: str | None = None) -> str:
    """The base URL archives are fetched from: ``mirror``, else ``$FLICKR8K_MIRROR``, else :data:`DEFAULT_MIRROR`."""
    base = mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR
    return base if base.endswith("/") else base + "/"


def _marker_payload(archives: Sequence[Archive]) -> dict:
    return {"archives": [{"name": a.name, "md5": a.md5, "sha256": a.sha256} for a in archives]}


def is_complete(target_dir: str | os.PathLike, archives: Sequence[Archive] = FLICKR8K_ARCHIVES) -> bool:
    """True when ``target_dir`` holds a finished download of ``archives``."""
    target_dir = Path(target_dir)
    marker = target_dir / MARKER_FILE
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    if not isinstance(recorded, dict):  # "[]" or any other JSON: not our marker, download again
        return False
    if recorded.get("archives") != _marker_payload(archives)["archives"]:
        return False
    images = target_dir / IMAGES_FOLDER
    return images.is_dir() and any(images.glob("*.jpg")) and all((target_dir / name).is_file() for name in TEXT_FILES)


def _tidy_layout(target_dir: Path) -> None:
    """Move the images folder and the text files to the top of ``target_dir`` if nested."""
    skip = {DOWNLOADS_FOLDER}
    if not (target_dir / IMAGES_FOLDER).is_dir():
        for candidate in sorted(target_dir.rglob(IMAGES_FOLDER)):
            if candidate.is_dir() and candidate.relative_to(target_dir).parts[0] not in skip:
                logger.info("Moving %s up to %s", candidate, target_dir)
                os.replace(candidate, target_dir / IMAGES_FOLDER)
                break
    for name in TEXT_FILES:
        if (target_dir / name).is_file():
            continue
        for candidate in sorted(target_dir.rglob(name)):
            first = candidate.relative_to(target_dir).parts[0]
            if candidate.is_file() and first not in skip | {IMAGES_FOLDER}:
                logger.info("Moving %s up to %s", candidate, target_dir)
                os.replace(candidate, target_dir / name)
                break


def download_flickr8k(
    target_dir: str | os.PathLike,
    *,
    mirror: str | None = None,
    archives: Sequence[Archive] = FLICKR8K_ARCHIVES,
    progress: bool = True,
) -> Path:
    """Download, verify and extract Flickr8k into ``target_dir``; return ``target_dir``.

    Afterwards ``target_dir`` holds ``Flicker8k_Dataset/*.jpg``,
    ``Flickr8k.token.txt`` and the three ``Flickr_8k.*Images.txt`` split files;
    the archives stay in ``target_dir/downloads/``.  The base URL is ``mirror``,
    else the environment variable ``FLICKR8K_MIRROR``, else :data:`DEFAULT_MIRROR`.
    A second call finds the ``.complete.json`` marker and returns at once.
    """
    target_dir = Path(target_dir)
    if is_complete(target_dir, archives):
        logger.info("Flickr8k is already in %s (found %s)", target_dir, MARKER_FILE)
        return target_dir

    base = mirror_base(mirror)
    downloads = target_dir / DOWNLOADS_FOLDER
    downloads.mkdir(parents=True, exist_ok=True)
    (target_dir / MARKER_FILE).unlink(missing_ok=True)  # written again only at the very end

    # Space for what is still to download plus the extracted files.
    to_download = 0
    for archive in archives:
        if not (downloads / archive.name).exists():
            part = downloads / (archive.name + ".part")
            to_download += max(archive.approx_size - (part.stat().st_size if part.exists() else 0), 0)
    check_free_space(target_dir, with_headroom(to_download + sum(a.approx_size for a in archives)))

    paths = []
    for archive in archives:
        paths.append(
            download_file(
                base + archive.name, downloads / archive.name, md5=archive.md5, sha256=archive.sha256, progress=progress
            )
        )
    for path in paths:
        safe_extract_zip(path, target_dir)
    _tidy_layout(target_dir)

    images = target_dir / IMAGES_FOLDER
    missing = [name for name in TEXT_FILES if not (target_dir / name).is_file()]
    if not images.is_dir() or not any(images.glob("*.jpg")):
        missing.insert(0, f"{IMAGES_FOLDER}/*.jpg")
    if missing:
        raise DownloadError(
            f"The archives from {base} were extracted into {target_dir}, but "
            f"{', '.join(missing)} is missing: the mirror does not serve the expected "
            "Flickr8k archives."
        )

    marker = target_dir / MARKER_FILE
    tmp = marker.with_name(marker.name + ".tmp")
    payload = _marker_payload(archives) | {
        "images": sum(1 for _ in images.glob("*.jpg")),
        "mirror": base,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, marker)
    logger.info("Flickr8k is ready in %s (%d images)", target_dir, payload["images"])
    return target_dir
