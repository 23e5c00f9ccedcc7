"""Peak memory of a whole course run, against mybinder.org's 2 GB.

    python benchmarks/binder_memory.py                 # the whole course on the sample (minutes)
    python benchmarks/binder_memory.py --small         # notebooks 00-02 only (seconds), to try the script
    python benchmarks/binder_memory.py --run-dir DIR   # keep the run folder (default: a temporary one)
    python benchmarks/binder_memory.py --run-dir DIR --only 06 07   # some notebooks, in a finished run folder
    python benchmarks/binder_memory.py --class-plan    # docs/teaching.md's real-photo class plan (see below)
    python benchmarks/binder_memory.py ... --record NAME   # also write docs/measurements/NAME.json

``--class-plan`` measures the real-photo class of docs/teaching.md (``-p TRAIN_IMAGES 1000 -p COMPARE_MODELS no
-p BASELINE_EPOCHS 0 -p MEASURE_ENCODERS False`` on Flickr8k: 1,000 training, 1,000 dev and 1,000 test photos) at
its size without the download: it builds a stand-in in a temporary folder from ``../shared/data/flickr8k_1k`` (real
Flickr8k photos and captions, each photo copied under three names so that every split has 1,000 photos) or from
``--photos-from DIR`` (a folder in the Flickr8k layout). Memory depends on the number and size of the photos and
captions, not on which photos they are; the scores of such a run mean nothing (the splits share photos).

Runs ``python -m helpers run`` and samples, every 0.2 s, the resident memory (RSS)
of the whole process tree (the course process and the notebook kernel it
starts): the sum is what a Binder container holds at that moment; the peak is
also given per notebook. Also reports
the largest single process (``ru_maxrss`` of the reaped children, what
``/usr/bin/time -v`` shows). Prints a side-by-side table and the ratio to 2 GB;
exits 0 (the course's own failure is reported, with its exit code).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measurement import record

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_PHOTOS = REPO_ROOT.parent / "shared" / "data" / "flickr8k_1k"
CLASS_PLAN = ("TRAIN_IMAGES", "1000"), ("COMPARE_MODELS", "no"), ("BASELINE_EPOCHS", "0"), ("MEASURE_ENCODERS", "False")
TOKEN_FILE, SPLITS = "Flickr8k.token.txt", ("trainImages", "devImages", "testImages")
BINDER_BYTES = 2 * 1024**3
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root_pid: int) -> int:
    """Sum of the RSS of ``root_pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                rss[int(entry)] = int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack += children.get(pid, [])
    return total


def class_plan_dataset(source: Path, target: Path, per_split: int = 1000) -> Path:
    """A Flickr8k-layout folder with ``per_split`` photos in each split, made of ``source``'s photos and captions.

    Each source photo (in any split) is copied under new names (``c<k>_<name>``) until every split is full; its
    five captions go with each copy. Copies, not links: the course refuses symbolic links to photos.
    """
    captions: dict[str, list[str]] = {}
    for line in (source / TOKEN_FILE).read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            key, caption = line.split("\t", 1)
            captions.setdefault(key.split("#", 1)[0], []).append(caption)
    photos = sorted(name for name in captions if (source / "Flicker8k_Dataset" / name).is_file())
    if not photos:
        raise SystemExit(f"{source}: no photos with captions in the Flickr8k layout")
    (target / "Flicker8k_Dataset").mkdir(parents=True, exist_ok=True)
    token_lines = []
    for split_index, split in enumerate(SPLITS):
        names = []
        for i in range(per_split):
            k, photo = divmod(split_index * per_split + i, len(photos))
            name = f"c{k}_{photos[photo]}"
            shutil.copyfile(source / "Flicker8k_Dataset" / photos[photo], target / "Flicker8k_Dataset" / name)
            token_lines += [f"{name}#{n}\t{caption}" for n, caption in enumerate(captions[photos[photo]])]
            names.append(name)
        (target / f"Flickr_8k.{split}.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    (target / TOKEN_FILE).write_text("\n".join(token_lines) + "\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="notebooks 00-02 only")
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NN",
        help="only these notebooks (into a run folder that has the earlier ones' files, see --run-dir)",
    )
    parser.add_argument("--skip", nargs="+", metavar="NN", default=[], help="leave these notebooks out")
    parser.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="a course parameter"
    )
    parser.add_argument("--class-plan", action="store_true", help="docs/teaching.md's real-photo class (see above)")
    parser.add_argument("--photos-from", type=Path, default=SHARED_PHOTOS, help="photos for --class-plan")
    parser.add_argument("--record", metavar="NAME", help="also write docs/measurements/NAME.json")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="binder-memory-"))
    run_dir = args.run_dir or scratch / "run"
    parameters = list(map(tuple, args.parameter))
    if args.class_plan:
        dataset = class_plan_dataset(args.photos_from, scratch / "class_plan_photos")
        parameters = [("DATASET", str(dataset)), *CLASS_PLAN, *parameters]
    command = [sys.executable, "-m", "helpers", "run", "--run-dir", str(run_dir)]
    for name, value in parameters:
        command += ["-p", name, value]
    if args.small or args.only:
        command += ["--only", *(args.only or ["00", "01", "02"])]
    if args.skip:
        command += ["--skip", *args.skip]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "binder_memory.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        peak_tree, per_notebook, current = 0, {}, "start-up"
        while process.poll() is None:
            rss = tree_rss(process.pid)
            peak_tree = max(peak_tree, rss)
            started_lines = re.findall(r"^\[\d+/\d+\] (\S+) \.\.\.", log_path.read_text(errors="replace"), re.M)
            current = started_lines[-1] if started_lines else current
            per_notebook[current] = max(per_notebook.get(current, 0), rss)
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    peak_single = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    mib = lambda n: f"{n / 2**20:,.0f} MiB"  # noqa: E731
    lines = [f"{'what':<44} {'peak':>10} {'of 2 GiB':>9}"]
    for notebook, rss in per_notebook.items():
        lines.append(f"{'  while ' + notebook:<44} {mib(rss):>10} {rss / BINDER_BYTES:>9.0%}")
    lines.append(
        f"{'whole process tree (course + kernel), sampled':<44} {mib(peak_tree):>10} {peak_tree / BINDER_BYTES:>9.0%}"
    )
    lines.append(
        f"{'largest single process (ru_maxrss)':<44} {mib(peak_single):>10} {peak_single / BINDER_BYTES:>9.0%}"
    )
    notebooks = " ".join(command[command.index("--only") + 1 :]) if "--only" in command else "00-10"
    skipped = f" without {' '.join(args.skip)}" if args.skip else ""
    lines.append(f"course ({notebooks}{skipped}) exit code {process.returncode}, {seconds:.0f} s")
    print("\n".join(lines) + f"\nrun folder {run_dir} (log {log_path})")
    if args.record:
        what = "docs/teaching.md's real-photo class plan" if args.class_plan else "the course"
        record(
            args.record,
            title=f"peak memory of {what} ({' '.join(f'{n}={v}' for n, v in parameters) or 'the sample'})",
            output="\n".join(lines),
            figures={
                "peak_tree_mib": round(peak_tree / 2**20),
                "peak_single_mib": round(peak_single / 2**20),
                "per_notebook_mib": {k: round(v / 2**20) for k, v in per_notebook.items()},
                "exit_code": process.returncode,
                "seconds": round(seconds),
            },
            target="within Binder's 2 GB (2,048 MiB) for the whole process tree",
            met=peak_tree < BINDER_BYTES and process.returncode == 0,
        )
    if args.class_plan and not args.run_dir:
        shutil.rmtree(scratch / "class_plan_photos", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
