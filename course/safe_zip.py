"""Extracting a downloaded zip archive safely: no member outside the target folder, all or nothing.

Role: course machinery for :mod:`course.download`. Extraction goes into a temporary folder first, so a
failure never leaves a half-extracted tree that looks complete; a temporary folder left by a killed
extraction (``.extracting-*``) is removed by the next one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from course.transfer import DownloadError, check_free_space

logger = logging.getLogger(__name__)


_JUNK_PREFIXES = ("__MACOSX/",)


_JUNK_NAMES = (".DS_Store",)


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


def _clash(target_dir: Path, relative: Path) -> str | None:
    """Why the archive's file ``relative`` cannot be merged into ``target_dir`` (``None`` when it can)."""
    here = target_dir
    for part in relative.parts[:-1]:
        here = here / part
        if here.is_symlink():
            return f"would be written through {here}, a symbolic link"
        if here.exists() and not here.is_dir():
            return f"needs a folder where {here} is a file"
    final = target_dir / relative
    if final.is_dir() and not final.is_symlink():
        return f"would replace the folder {final}"
    return None


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
    ``__MACOSX/`` junk that macOS adds.  The free space is checked from the
    members' declared sizes before anything is decompressed (zipfile never
    gives more than a member's declared size); then every member is read and
    CRC-checked, the archive is extracted into a temporary folder inside
    ``target_dir``, and only then are its *files* moved into place, merged into
    the folders already there: a file at the path of one of the archive's files
    is replaced, nothing else in ``target_dir`` is touched (a folder such as
    ``downloads/`` that also holds the user's files keeps them). A member whose
    path meets a file where a folder must go, a folder where a file must go, or
    a symbolic link is refused before anything is moved. Any failure on the way
    is a :class:`DownloadError` naming the archive, the member and the cause,
    and leaves no temporary folder (one left by a killed run is removed here).
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
        # Space for the declared sizes, before a byte is decompressed (each member stops at its declared size).
        check_free_space(target_dir, sum(info.file_size for info, _ in members))
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
        files = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
        for relative in files:
            clash = _clash(target_dir, relative)
            if clash:
                raise DownloadError(
                    f"Refusing to extract {archive} into {target_dir}: its file {relative.as_posix()!r} {clash}. "
                    "Nothing was moved into place; move that entry aside (it is not the archive's) and run again."
                )
        extracted = []
        for relative in files:
            final = target_dir / relative
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.is_symlink():  # a link at the archive's own path: the link goes, never what it points to
                    final.unlink()
                os.replace(staging / relative, final)
            except OSError as error:
                raise DownloadError(
                    f"Cannot move {relative.as_posix()!r} of the archive {archive} into place in {target_dir} "
                    f"({_cause(error)}); run again once the folder is writable."
                ) from None
            extracted.append(final)
        for folder in sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_dir()):
            (target_dir / folder).mkdir(parents=True, exist_ok=True)  # the archive's empty folders
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("%s: extracted %d files into %s", archive.name, len(extracted), target_dir)
    return extracted
