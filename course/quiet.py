"""No TensorFlow log walls in notebooks or in ``python -m helpers run``; real warnings still shown.

(Role: course machinery, not taught: the first line of every notebook's import cell calls :func:`setup`,
and ``python -m helpers run`` calls it before it starts the notebooks' kernels.)

TensorFlow's C++ side writes straight to the process's standard error (file descriptor 2),
which Jupyter shows as red blocks in cell outputs. :func:`setup` does two things, without
importing TensorFlow:

1. It sets the logging environment TensorFlow reads when it loads (:data:`ENVIRONMENT`:
   C++ INFO and WARNING lines off, errors kept), unless the user set those variables.
2. Some lines ignore that environment: the oneDNN notice and absl's "before
   absl::InitializeLog()" line are printed while TensorFlow's libraries load, and oneDNN's
   "supports DT_BOOL only on platforms with AVX-512" comes as an error though nothing is wrong.
   So file descriptor 2 is passed through a filter that drops the lines matching
   :data:`NOISE` and lets every other line through unchanged: Python warnings, TensorFlow's
   real errors, tracebacks. (Not on Windows, where TensorFlow has no CPU build these lines
   come from; there only the environment is set.)

``TF_ENABLE_ONEDNN_OPTS`` is left alone: turning oneDNN off would hide its notice but make
the CNN slower.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

#: Set before TensorFlow loads, unless already set: "2" hides C++ INFO and WARNING lines and
#: keeps errors (``TF_CPP_MIN_LOG_LEVEL=3`` hides errors too; set it yourself if you want that).
#: ``PYDEVD_DISABLE_FILE_VALIDATION``: ipykernel 6 (Colab's) on Python 3.13 starts each kernel with debugpy's
#: four-line "frozen modules" warning; the course command's kernels inherit this and stay quiet.
ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}

#: Lines dropped from standard error: TensorFlow's, absl's and oneDNN's notices that need no action.
NOISE = [
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    # absl's INFO lines (I0000 00:00:1796135221.414712    6273 port.cc:153] oneDNN custom operations are on...)
    re.compile(r"^I\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w.]+:\d+\] "),
    # the second line of cpu_feature_guard's INFO notice
    re.compile(r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags"),
    # oneDNN falls back to Eigen for a data type: logged as an error, harmless
    re.compile(r"^E\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w.]+:\d+\] oneDNN supports DT_\w+ only on platforms with AVX-512"),
    # ipykernel's notice when a local kernel is started over TCP (the course command's kernels)
    re.compile(r"Kernel is running over TCP without encryption"),
]

_filter: dict = {}  # {"pid": ..., "thread": ..., "original": fd} once the filter is installed in this process


def is_noise(line: str) -> bool:
    """True for a standard-error line that :func:`setup` drops."""
    return any(pattern.search(line) for pattern in NOISE)


def setup(*, filter_stderr: bool = True) -> None:
    """Set the logging environment (see :data:`ENVIRONMENT`) and filter the noise out of
    standard error. Call it before TensorFlow is imported; calling it again does nothing."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if filter_stderr and os.name != "nt":
        _install_filter()


def _install_filter() -> None:
    if _filter.get("pid") == os.getpid():
        return
    try:
        original = os.dup(2)
    except OSError:  # no standard error at all (e.g. pythonw)
        return
    read_end, write_end = os.pipe()
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=_pump, args=(read_end, original), name="course.quiet stderr filter", daemon=True)
    thread.start()
    _filter.update(pid=os.getpid(), thread=thread, original=original, pipe=os.fstat(2).st_ino)
    atexit.register(_restore)


def _write(fd: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(fd, data) :]
        except InterruptedError:
            continue
        except OSError:
            return


def _pump(read_end: int, original: int) -> None:
    """Copy ``read_end`` to ``original`` line by line, leaving out the noise. A line still
    unfinished after 50 ms (a progress bar's carriage returns, a prompt) is passed on as it is."""
    import select

    pending = b""
    while True:
        ready, _, _ = select.select([read_end], [], [], 0.05 if pending else None)
        if not ready:  # a partial line with nothing more coming
            _write(original, pending)
            pending = b""
            continue
        try:
            chunk = os.read(read_end, 65536)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            _write(original, pending)
            os.close(read_end)
            return
        *lines, pending = (pending + chunk).split(b"\n")
        kept = [line for line in lines if not is_noise(line.decode("utf-8", "replace"))]
        if kept:
            _write(original, b"".join(line + b"\n" for line in kept))


def _restore() -> None:
    """At exit: give file descriptor 2 back and let the filter pass on what is left."""
    if _filter.get("pid") != os.getpid():
        return
    try:
        if os.fstat(2).st_ino != _filter["pipe"]:
            return  # someone else has redirected standard error since (pytest's capture): leave it
    except OSError:
        return
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    os.dup2(_filter["original"], 2)  # closes the pipe's write end held as fd 2
    _filter["thread"].join(timeout=1.0)
