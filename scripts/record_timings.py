"""Record how long each notebook took in a course run into docs/timings.json, and refresh docs/teaching.md.

    python scripts/record_timings.py --run-dir runs/sample-mobilenet_v2-auto            # the sample, 2-core CPU
    python scripts/record_timings.py --run-dir runs/flickr8k-mobilenet_v2-auto --entry flickr8k_2cpu \\
        --note "python -m helpers run -p DATASET flickr8k, quiet 2-core machine"
    python scripts/record_timings.py --render                                           # only refresh teaching.md

The seconds are papermill's own ``duration`` of each executed notebook in
``<run dir>/notebooks/`` (written by ``python -m helpers run``). docs/timings.json
is the one source of the times that notebook 00 and docs/teaching.md show; the
table in docs/teaching.md between the ``timings`` markers is rendered from it
(a test checks they agree).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import nbformat

from course import overview, paths, runner

TEACHING = paths.REPO_ROOT / "docs" / "teaching.md"
START, END = (
    "<!-- timings:start (rendered from docs/timings.json by scripts/record_timings.py) -->",
    "<!-- timings:end -->",
)


def durations(run_dir: Path) -> dict[str, float]:
    """``{notebook: seconds}`` from the executed notebooks of a run folder; an error names any that is missing."""
    found, missing = {}, []
    for name in runner.NOTEBOOKS:
        path = run_dir / "notebooks" / name
        if not path.exists():
            missing.append(name)
            continue
        duration = nbformat.read(path, as_version=4).metadata.get("papermill", {}).get("duration")
        if duration is None:
            missing.append(f"{name} (no papermill duration: did it finish?)")
        else:
            found[name] = round(float(duration), 1)
    if missing:
        raise SystemExit(f"{run_dir / 'notebooks'}: missing {', '.join(missing)}; run the whole course into it first.")
    return found


def render_teaching(timings: dict, path: Path = TEACHING) -> None:
    """Replace the table between the markers of docs/teaching.md by the one rendered from ``timings``."""
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{path}: the markers {START!r} ... {END!r} are missing")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    path.write_text(f"{before}{START}\n{overview.timings_markdown(timings)}\n{END}{after}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a run folder of python -m helpers run (all notebooks executed)")
    parser.add_argument(
        "--entry", default=overview.SAMPLE_ENTRY, choices=[overview.SAMPLE_ENTRY, overview.FLICKR8K_ENTRY]
    )
    parser.add_argument("--note", default="", help="how the run was made (machine, parameters)")
    parser.add_argument("--render", action="store_true", help="only refresh docs/teaching.md from docs/timings.json")
    args = parser.parse_args(argv)

    timings = overview.load_timings()
    if not args.render:
        if args.run_dir is None:
            parser.error("--run-dir is needed (or --render)")
        seconds = durations(args.run_dir)
        timings[args.entry] = {
            "note": args.note or timings.get(args.entry, {}).get("note", ""),
            "measured": dt.date.today().isoformat(),
            "seconds": seconds,
        }
        paths.write_json_atomic(overview.TIMINGS_FILE, timings)
        print(f"{overview.TIMINGS_FILE}: {args.entry} = {sum(seconds.values()):.0f} s in all")
    render_teaching(timings)
    print(f"{TEACHING}: timings table refreshed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
