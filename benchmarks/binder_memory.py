"""Peak memory of a whole course run, against mybinder.org's 2 GB.

    python benchmarks/binder_memory.py                 # the whole course on the sample (minutes)
    python benchmarks/binder_memory.py --small         # notebooks 00-02 only (seconds), to try the script
    python benchmarks/binder_memory.py --run-dir DIR   # keep the run folder (default: a temporary one)
    python benchmarks/binder_memory.py --run-dir DIR --only 06 07   # some notebooks, in a finished run folder

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
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
    args = parser.parse_args(argv)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="binder-memory-")) / "run"
    command = [sys.executable, "-m", "helpers", "run", "--run-dir", str(run_dir)]
    if args.small or args.only:
        command += ["--only", *(args.only or ["00", "01", "02"])]
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
    print(f"{'what':<44} {'peak':>10} {'of 2 GiB':>9}")
    for notebook, rss in per_notebook.items():
        print(f"{'  while ' + notebook:<44} {mib(rss):>10} {rss / BINDER_BYTES:>9.0%}")
    print(
        f"{'whole process tree (course + kernel), sampled':<44} {mib(peak_tree):>10} {peak_tree / BINDER_BYTES:>9.0%}"
    )
    print(f"{'largest single process (ru_maxrss)':<44} {mib(peak_single):>10} {peak_single / BINDER_BYTES:>9.0%}")
    print(
        f"course ({' '.join(command[command.index('--only') + 1 :]) if '--only' in command else '00-09'}) exit code {process.returncode}, {seconds:.0f} s, run folder {run_dir} (log {log_path})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
