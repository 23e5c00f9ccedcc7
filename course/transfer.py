"""Fetching one file over HTTP: resumable (``Range``), checksum-verified, after a free-space check.

Role: course machinery for :mod:`course.download` (the Flickr8k download). Every failure raises
:class:`DownloadError` with a message that says what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

MIRROR_ENV = "FLICKR8K_MIRROR"  # the environment variable naming a classroom mirror (course.download)

logger = logging.getLogger(__name__)


#: Extra free space asked for on top of the bytes still to download: 5 % plus 16 MiB.
SPACE_HEADROOM_FACTOR = 1.05


SPACE_HEADROOM_BYTES = 16 << 20


#: Seconds to wait before retry number n is ``RETRY_WAIT * 2**n`` (tests set it to 0).
RETRY_WAIT = 1.0


class DownloadError(RuntimeError):
    """Downloading, verifying or extracting the data set failed."""


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


def with_headroom(n: int) -> int:
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
            check_free_space(part.parent, with_headroom(total - start))

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
        check_free_space(destination.parent, with_headroom(expected_size - have))

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
