"""Memory of two live notebook kernels: what a Binder user holds who opens the next notebook without shutting
down the one before.

    python benchmarks/binder_two_kernels.py --run-dir runs/sample-mobilenet_v2-auto           # 03 left open, then 04
    python benchmarks/binder_two_kernels.py --run-dir DIR --first 06 --second 07 -p FEATURE_CACHE /tmp/cache

Needs a run folder in which the earlier notebooks have run (``python -m helpers run`` first). Executes the first
notebook in a kernel and leaves that kernel running (idle, as JupyterLab does when a tab is closed without
"Shut Down Kernel"), then executes the second notebook in a second kernel, sampling every 0.2 s the resident
memory (RSS) of both kernels' process trees. Prints, side by side: the idle first kernel, the second kernel's
peak, their sum at its peak, and mybinder.org's 2 GB. Notebook 00 quotes the figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from binder_memory import BINDER_BYTES, REPO_ROOT, tree_rss  # noqa: E402

sys.path.insert(0, str(REPO_ROOT))
from measurement import run_recorded

from course import parameters as params  # noqa: E402

MIB = 1024**2


def notebook_named(prefix: str) -> Path:
    matches = sorted((REPO_ROOT / "notebooks").glob(f"{prefix}_*.ipynb"))
    if not matches:
        raise SystemExit(f"no notebook notebooks/{prefix}_*.ipynb")
    return matches[0]


def start(path: Path, parameters: dict):
    """A client with a started kernel, and the notebook parameterised (``RUN_DIR`` and the ``-p`` values)."""
    import nbformat
    from nbclient import NotebookClient
    from papermill.parameterize import parameterize_notebook

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        cell.metadata.setdefault("tags", [])
    notebook.metadata.setdefault("papermill", {})
    names = {parameter.name for parameter in params.for_notebook(path.name)}
    notebook = parameterize_notebook(notebook, {k: v for k, v in parameters.items() if k in names})
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=1800, resources={"metadata": {"path": str(path.parent)}}
    )
    client.km = client.create_kernel_manager()
    client.start_new_kernel()
    client.start_new_kernel_client()
    return client, notebook


def run_all(client, notebook) -> None:
    for index, cell in enumerate(notebook.cells):
        client.execute_cell(cell, index)


def kernels_rss() -> dict[int, int]:
    """RSS of each child process tree of this script (one per kernel)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                        children.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return {pid: tree_rss(pid) for pid in children}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a run folder where the earlier notebooks ran")
    parser.add_argument("--first", default="03", help="the notebook left open (default 03)")
    parser.add_argument("--second", default="04", help="the notebook opened next (default 04)")
    parser.add_argument(
        "-p",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a parameter for both notebooks, as python -m helpers run takes it",
    )
    args = parser.parse_args(argv)
    parameters = {"RUN_DIR": str(args.run_dir.resolve()), **{k: params.parse_value(v) for k, v in args.p}}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MPLBACKEND", "Agg")
    first_path, second_path = notebook_named(args.first), notebook_named(args.second)

    first, first_notebook = start(first_path, parameters)
    run_all(first, first_notebook)
    time.sleep(2)
    idle = kernels_rss()
    first_pids = set(idle)
    second, second_notebook = start(second_path, parameters)
    worker = threading.Thread(target=run_all, args=(second, second_notebook))
    worker.start()
    peak_total, peak_second, first_at_peak = 0, 0, 0
    while worker.is_alive():
        rss = kernels_rss()
        first_now = sum(v for pid, v in rss.items() if pid in first_pids)
        second_now = sum(v for pid, v in rss.items() if pid not in first_pids)
        peak_second = max(peak_second, second_now)
        if first_now + second_now > peak_total:
            peak_total, first_at_peak = first_now + second_now, first_now
        time.sleep(0.2)
    worker.join()
    from nbclient.util import run_sync

    for client in (first, second):
        run_sync(client.km.shutdown_kernel)(now=True)
    print(f"{'':44} {'MiB':>7}")
    print(f"{first_path.name + ' (finished, kernel left running)':44} {sum(idle.values()) / MIB:>7,.0f}")
    print(f"{second_path.name + ' (running), peak':44} {peak_second / MIB:>7,.0f}")
    print(
        f"{'both kernels together, peak':44} {peak_total / MIB:>7,.0f}  (the first kernel {first_at_peak / MIB:,.0f})"
    )
    print(f"{'mybinder.org limit':44} {BINDER_BYTES / MIB:>7,.0f}  -> {peak_total / BINDER_BYTES:.0%} of it")
    return 0


if __name__ == "__main__":
    sys.exit(
        run_recorded(
            main,
            title="two live kernels on Binder: a finished notebook left running while the next one runs",
            target="within Binder's 2,048 MiB together, or notebook 00 says to shut kernels down",
        )
    )
