"""nbval: the committed outputs of a reference notebook must reproduce (issue 15).

tests/reference/text_and_metrics_reference.ipynb is committed executed (unlike the lessons, which carry no
outputs): cleaning, a vocabulary, BLEU and CIDEr-D on fixed captions. ``pytest --nbval`` runs every cell again and
compares each output with the committed one, so a change that moves one of these numbers fails here."""

import json
import os
import subprocess
import sys

import pytest

from helpers import paths

REFERENCE = paths.REPO_ROOT / "tests" / "reference" / "text_and_metrics_reference.ipynb"


def nbval(notebook, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(paths.REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            str(notebook),
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(cwd),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.course  # runs a notebook (twice) in a fresh pytest process
def test_the_reference_notebook_outputs_reproduce_and_a_changed_output_is_caught(tmp_path):
    notebook = json.loads(REFERENCE.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert sum(bool(cell["outputs"]) for cell in code) >= 4, "the reference notebook is committed with its outputs"
    result = nbval(REFERENCE, paths.REPO_ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{len(code)} passed" in result.stdout, result.stdout[-2000:]
    # the control: one committed number changed -> nbval fails on that cell
    bleu_cell = next(cell for cell in code if "bleu_scores" in "".join(cell["source"]))
    bleu_cell["outputs"][0]["text"] = [
        line.replace("'bleu1': 0.", "'bleu1': 1.") for line in bleu_cell["outputs"][0]["text"]
    ]
    changed = tmp_path / REFERENCE.name
    changed.write_text(json.dumps(notebook), encoding="utf-8")
    result = nbval(changed, tmp_path)
    assert result.returncode != 0 and "1 failed" in result.stdout, result.stdout[-3000:]
