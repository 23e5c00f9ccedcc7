"""Where a benchmark's figures go: ``docs/measurements/<name>.json``, one file per benchmark.

Every script in ``benchmarks/`` prints its figures side by side; with ``--record NAME`` it also calls
:func:`record`, which writes what it printed, its figures as numbers, the target and whether it was met, the exact
command, the date and the machine (CPU count, load average: a shared machine makes times noisy, memory less so)
into ``docs/measurements/NAME.json``. ``python scripts/benchmarks_page.py`` turns those files into the table of
``docs/benchmarks.md`` (a test checks that the page and the files agree), so a figure is typed by no one: re-run
the script with ``--record`` and regenerate the page.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MEASUREMENTS = REPO_ROOT / "docs" / "measurements"


def machine() -> dict:
    """The machine the figures come from, as far as it changes them."""
    return {
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
    }


def commit() -> str:
    """The project's commit the figures were measured on (``+changes`` when the tree was not clean)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return rev.stdout.strip() + ("+changes" if dirty.stdout.strip() else "") if rev.returncode == 0 else "unknown"


def record(name: str, *, title: str, output: str, figures: dict, target: str, met: bool | None) -> Path:
    """Write ``docs/measurements/<name>.json`` (replacing an earlier measurement of the same name)."""
    script = Path(sys.argv[0])
    command = " ".join(
        [
            "python",
            shlex.quote(
                str(
                    script.relative_to(REPO_ROOT)
                    if script.is_absolute() and script.is_relative_to(REPO_ROOT)
                    else script
                )
            ),
            *map(shlex.quote, sys.argv[1:]),
        ]
    )
    entry = {
        "title": title,
        "command": command,
        "date": datetime.date.today().isoformat(),
        "commit": commit(),
        "machine": machine(),
        "target": target,
        "met": met,
        "figures": figures,
        "output": output,
    }
    MEASUREMENTS.mkdir(parents=True, exist_ok=True)
    path = MEASUREMENTS / f"{name}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(entry, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)
    print(f"recorded in {path}; regenerate the page: python scripts/benchmarks_page.py")
    return path


class _Tee:
    """Writes to the real stdout and keeps a copy."""

    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def run_recorded(main, *, title: str, target: str, argv: list[str] | None = None) -> int:
    """Run a benchmark's ``main()``; with ``--record NAME`` in the arguments, record what it printed.

    For the scripts whose figures are their printed table: ``sys.exit(run_recorded(main, title=..., target=...))``.
    Whether the target was met is left to the reader of the output (``met`` is null).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    name = None
    if "--record" in argv:
        at = argv.index("--record")
        if at + 1 >= len(argv):
            raise SystemExit("--record needs a NAME (docs/measurements/NAME.json)")
        name = argv[at + 1]
        del argv[at : at + 2]
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    try:
        code = main(argv)
    finally:
        sys.stdout = tee.stream
    if name is not None and not code:
        record(name, title=title, output="".join(tee.parts).strip(), figures={}, target=target, met=None)
    return code
