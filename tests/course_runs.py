"""How the end-to-end tests run the course on a dataset of their own: ``python -m helpers run --skip 10 11`` into the
test's run folder, with untrained features (``WEIGHTS none``: nothing to download, the same work) unless the test
says otherwise, and TensorFlow's start-up logging off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from course import paths


def run_course(
    dataset: str | Path, run_dir: Path, parameters: dict[str, str] | None = None, *, timeout: int = 1500
) -> subprocess.CompletedProcess:
    """Run notebooks 00-09 on ``dataset`` into ``run_dir`` with ``parameters`` (``{NAME: value}``, each passed as
    ``-p NAME value``); the finished process, its output captured."""
    command = [sys.executable, "-m", "helpers", "run", "--skip", "10", "11", "--run-dir", str(run_dir)]
    for name, value in {"DATASET": str(dataset), "WEIGHTS": "none", **(parameters or {})}.items():
        command += ["-p", name, str(value)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(command, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
