"""Download the real Flickr8k data set: resumable, checksum-verified, safely extracted.

Taught in notebooks/01_text_cleaning.ipynb (the "Where the data comes from" section).

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

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

logger = logging.getLogger("helpers.download")

MIRROR_ENV = "FLICKR8K_MIRROR"
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

#: Extra free space asked for on top of the bytes still to download: 5 % plus 16 MiB.
SPACE_HEADROOM_FACTOR = 1.05
SPACE_HEADROOM_BYTES = 16 << 20
#: Seconds to wait before retry number n is ``RETRY_WAIT * 2**n`` (tests set it to 0).
RETRY_WAIT = 1.0

_JUNK_PREFIXES = ("__MACOSX/",)
_JUNK_NAMES = (".DS_Store",)


class DownloadError(RuntimeError):
    """Downloading, verifying or extracting the data set failed."""


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


# --------------------------------------------------------------------------- helpers


def _human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"  # pragma: no cover


def _existing_folder(path: Path) -> Path:
    """The nearest folder of ``path`` that exists (for ``shutil.disk_usage``)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(folder: str | os.PathLike, needed_bytes: int) -> None:
    """Raise :class:`DownloadError` if ``folder`` has less than ``needed_bytes`` free."""
    if needed_bytes <= 0:
        return
    folder = Path(folder)
    free = shutil.disk_usage(_existing_folder(folder)).free
    if free < needed_bytes:
        raise DownloadError(
            f"Not enough free disk space in {folder}: needed {needed_bytes} bytes "
            f"({_human(needed_bytes)}), free {free} bytes ({_human(free)}). "
            "Free some space or choose another folder."
        )


def _with_headroom(n: int) -> int:
    return int(n * SPACE_HEADROOM_FACTOR) + SPACE_HEADROOM_BYTES


def file_checksums(path: str | os.PathLike, chunk_size: int = 1 << 20) -> tuple[str, str]:
    """Return ``(md5, sha256)`` hex digests of the file at ``path``."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def _mismatch(path: Path, md5: str | None, sha256: str | None, expected_size: int | None) -> str | None:
    """Describe why ``path`` does not verify, or return None when it does."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        return f"expected size {expected_size} bytes, got {size} bytes"
    if md5 is None and sha256 is None:
        return None
    actual_md5, actual_sha = file_checksums(path)
    if md5 is not None and actual_md5 != md5.lower():
        return f"expected md5 {md5.lower()}, got md5 {actual_md5}"
    if sha256 is not None and actual_sha != sha256.lower():
        return f"expected sha256 {sha256.lower()}, got sha256 {actual_sha}"
    return None


class _Interrupted(Exception):
    """A transfer stopped early; the .part file holds what arrived (retryable)."""


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _transfer(
    url: str, part: Path, *, chunk_size: int, progress: bool, timeout: float, expected_size: int | None
) -> None:
    """Append the rest of ``url`` to ``part`` (resuming with Range when it exists)."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "captioning-course-helpers (urllib)"}
    if start:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:
            # "Range not satisfiable": we asked for bytes past the end -- the .part
            # is (probably) complete already.  The checksum decides.
            match = re.search(r"/(\d+)", error.headers.get("Content-Range", "") or "")
            total = int(match.group(1)) if match else expected_size
            error.close()
            if total is None or total == start:
                logger.info("%s: already complete (server answered 416)", part.name)
                return
            logger.warning("%s: %d bytes on disk but the server has %d; starting over", part.name, start, total)
            part.unlink()
            raise _Interrupted("416 with a size mismatch") from None
        raise DownloadError(
            f"The server answered {error.code} {error.reason} for {url}. "
            f"Check the address, or set {MIRROR_ENV} to a mirror that has the file."
        ) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _Interrupted(f"timed out connecting to {url}") from None
        raise DownloadError(
            f"Could not reach {url} ({error.reason}). Are you online? A classroom "
            f"mirror can be set with the environment variable {MIRROR_ENV}."
        ) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
        raise _Interrupted(f"{type(error).__name__}: {error}") from None

    with response:
        status = getattr(response, "status", None) or response.getcode()
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        mode = "ab"
        if start and status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != start:
                logger.warning(
                    "%s: unexpected Content-Range %r; starting over", part.name, response.headers.get("Content-Range")
                )
                part.unlink()
                raise _Interrupted("bad Content-Range")
            total = int(match.group(3)) if match.group(3) != "*" else None
            logger.info("%s: resuming at byte %d", part.name, start)
        else:
            if start:
                logger.info(
                    "%s: the server does not resume downloads (answered %s); starting from zero", part.name, status
                )
            start, mode = 0, "wb"
            total = length
        if total is None:
            total = expected_size
        if total is not None:
            check_free_space(part.parent, _with_headroom(total - start))

        received = 0
        with (
            open(part, mode) as handle,
            tqdm(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(".part"),
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while True:
                try:
                    chunk = response.read(chunk_size)
                except (OSError, http.client.HTTPException) as error:
                    raise _Interrupted(f"{type(error).__name__}: {error}") from None
                if not chunk:
                    break
                try:
                    handle.write(chunk)
                except OSError as error:
                    raise DownloadError(f"Could not write to {part} ({error}). Is the disk full?") from None
                received += len(chunk)
                bar.update(len(chunk))
        # urllib returns b"" silently when the connection closes early: compare with
        # the announced length ourselves.
        if length is not None and received < length:
            raise _Interrupted(f"connection closed after {received} of {length} bytes")


def download_file(
    url: str,
    destination: str | os.PathLike,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    expected_size: int | None = None,
    chunk_size: int = 1 << 20,
    progress: bool = True,
    timeout: float = 60,
    retries: int = 2,
) -> Path:
    """Download ``url`` to ``destination``, resumably, and verify it.

    The bytes go to ``destination + ".part"``; an existing ``.part`` is resumed
    with a ``Range`` request (a server that answers 200 instead of 206 makes it
    start over).  Only after the size (``expected_size``, exact, when given) and
    the checksums match is the ``.part`` renamed to ``destination``; on a
    mismatch the ``.part`` is deleted and :class:`DownloadError` says which
    checksum was expected and which one arrived.

    If ``destination`` exists and verifies, nothing is downloaded.  An
    interrupted transfer is retried ``retries`` times (resuming each time); if it
    still fails the ``.part`` stays, and the next call resumes it.
    """
    destination = Path(destination)
    part = destination.with_name(destination.name + ".part")

    if destination.exists():
        problem = _mismatch(destination, md5, sha256, expected_size)
        if problem is None:
            logger.info("%s: already downloaded and verified", destination)
            return destination
        logger.warning("%s exists but does not verify (%s); downloading it again", destination, problem)
        destination.unlink()

    destination.parent.mkdir(parents=True, exist_ok=True)
    if expected_size is not None:
        have = part.stat().st_size if part.exists() else 0
        check_free_space(destination.parent, _with_headroom(expected_size - have))

    logger.info("Downloading %s -> %s", url, destination)
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, chunk_size=chunk_size, progress=progress, timeout=timeout, expected_size=expected_size)
            break
        except _Interrupted as why:
            have = part.stat().st_size if part.exists() else 0
            if attempt == retries:
                raise DownloadError(
                    f"The download of {url} was interrupted ({why}). {have} bytes are kept "
                    f"in {part}; run the same command again to resume."
                ) from None
            wait = RETRY_WAIT * 2**attempt
            logger.warning("Download of %s interrupted (%s); retrying in %.0f s (%d bytes kept)", url, why, wait, have)
            time.sleep(wait)

    problem = _mismatch(part, md5, sha256, expected_size)
    if problem is not None:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"The file downloaded from {url} is corrupt or not the expected file: "
            f"{problem}. The partial file {part} was deleted; run again to download it "
            "anew (if this repeats, the mirror serves a different file)."
        )
    os.replace(part, destination)
    logger.info("%s: downloaded and verified", destination)
    return destination


# --------------------------------------------------------------------------- extraction


def _is_junk(name: str) -> bool:
    return name.startswith(_JUNK_PREFIXES) or PurePosixPath(name).name in _JUNK_NAMES


def _safe_parts(info: zipfile.ZipInfo, archive: Path) -> tuple[str, ...]:
    """The path parts of a member, or DownloadError if it would escape the target."""
    name = info.filename
    unsafe = None
    if "\\" in name:
        name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        unsafe = "an absolute path"
    elif ".." in PurePosixPath(name).parts:
        unsafe = "a '..' path component"
    elif stat.S_ISLNK(info.external_attr >> 16):
        unsafe = "a symbolic link"
    elif "\x00" in name:
        unsafe = "a NUL byte in its name"
    if unsafe:
        raise DownloadError(
            f"Refusing to extract {archive}: the member {info.filename!r} is {unsafe} and "
            "could write outside the target folder. Nothing was extracted; the archive is "
            "not the expected one."
        )
    return tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))


def _cause(error: BaseException) -> str:
    """A short cause for an extraction error, in words for the ones zipfile raises bare."""
    if isinstance(error, RuntimeError) and "encrypted" in str(error):
        return "it is encrypted (needs a password)"
    if isinstance(error, NotImplementedError):
        return "its compression method is not supported by Python's zipfile"
    if isinstance(error, zlib.error):
        return f"corrupt compressed data ({error})"
    if isinstance(error, OSError) and error.errno is not None:
        return f"{os.strerror(error.errno)} ({type(error).__name__})"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _extraction_error(archive: Path, member: str, error: BaseException, target_dir: Path) -> DownloadError:
    cause = _cause(error)
    if isinstance(error, OSError) and not isinstance(error, (zipfile.BadZipFile, EOFError)):
        return DownloadError(
            f"The archive {archive} cannot be extracted into {target_dir} (member {member!r}: {cause}). "
            "Nothing was extracted; the archive is not the expected one, or the folder cannot hold it."
        )
    return DownloadError(
        f"The archive {archive} is corrupt or unreadable (member {member!r}: {cause}); "
        "nothing was extracted. Delete it and download it again."
    )


def remove_leftover_staging(target_dir: str | os.PathLike) -> int:
    """Remove ``.extracting-*`` folders a killed extraction left in ``target_dir``; return how many."""
    removed = 0
    for leftover in sorted(Path(target_dir).glob(".extracting-*")):
        if leftover.is_dir() and not leftover.is_symlink():
            logger.info("Removing %s, left by an extraction that did not finish", leftover)
            shutil.rmtree(leftover, ignore_errors=True)
            removed += 1
    return removed


def safe_extract_zip(archive: str | os.PathLike, target_dir: str | os.PathLike) -> list[Path]:
    """Extract ``archive`` into ``target_dir`` and return the extracted files.

    Refuses (raises :class:`DownloadError`, extracts nothing) when a member is
    an absolute path, contains ``..`` or is a symbolic link; skips the
    ``__MACOSX/`` junk that macOS adds.  Every member is read and CRC-checked
    first, then the archive is extracted into a temporary folder inside
    ``target_dir``; only then are its top-level entries moved into place
    (replacing older ones with the same name). Any failure on the way is a
    :class:`DownloadError` naming the archive, the member and the cause, and
    leaves no temporary folder (one left by a killed run is removed here).
    """
    archive = Path(archive)
    target_dir = Path(target_dir)
    try:
        zf = zipfile.ZipFile(archive)
    except FileNotFoundError:
        raise DownloadError(f"The archive {archive} does not exist.") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise DownloadError(
            f"{archive} is not a valid zip archive ({error}); delete it and download it again."
        ) from None

    with zf:
        members = []
        for info in zf.infolist():
            parts = _safe_parts(info, archive)
            if not parts or _is_junk("/".join(parts)):
                continue
            members.append((info, parts))
        # Read every member once before writing anything (zipfile checks each CRC at its end).
        for info, _ in members:
            if info.is_dir():
                continue
            try:
                with zf.open(info) as source:
                    while source.read(1 << 20):
                        pass
            except zipfile.BadZipFile as error:
                if "CRC" in str(error):
                    raise DownloadError(
                        f"The archive {archive} is corrupt (member {info.filename!r}: CRC check failed); "
                        "nothing was extracted. Delete it and download it again."
                    ) from None
                raise _extraction_error(archive, info.filename, error, target_dir) from None
            except Exception as error:  # zlib.error, RuntimeError (encrypted), NotImplementedError, EOFError, ...
                raise _extraction_error(archive, info.filename, error, target_dir) from None

        try:
            target_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DownloadError(
                f"Cannot create the folder {target_dir} to extract {archive} into ({_cause(error)})."
            ) from None
        remove_leftover_staging(target_dir)
        check_free_space(target_dir, sum(info.file_size for info, _ in members))
        staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=target_dir))
        member = None
        try:
            for info, parts in members:
                member = info.filename
                out = staging.joinpath(*parts)
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as source, open(out, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
        except Exception as error:  # corrupt data, a name too long, a file where a folder must go, a full disk
            shutil.rmtree(staging, ignore_errors=True)
            raise _extraction_error(archive, member or "?", error, target_dir) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    try:
        extracted = []
        for entry in sorted(staging.iterdir()):
            final = target_dir / entry.name
            try:
                if final.is_dir() and not final.is_symlink():
                    shutil.rmtree(final)
                elif final.exists() or final.is_symlink():
                    final.unlink()
                os.replace(entry, final)
            except OSError as error:
                raise DownloadError(
                    f"Cannot move {entry.name!r} of the archive {archive} into place in {target_dir} "
                    f"({_cause(error)}); run again once the folder is writable."
                ) from None
            extracted += [final] if final.is_file() else sorted(p for p in final.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("%s: extracted %d files into %s", archive.name, len(extracted), target_dir)
    return extracted


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
    except (OSError, ValueError):
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
    check_free_space(target_dir, _with_headroom(to_download + sum(a.approx_size for a in archives)))

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
