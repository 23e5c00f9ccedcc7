"""nbval: the reference notebook's outputs must reproduce (issue 15).

tests/reference/text_and_metrics_reference.ipynb (cleaning, a vocabulary, BLEU and CIDEr-D on fixed captions) is
committed without outputs, like the lessons; the outputs each of its code cells must print are in
tests/reference/text_and_metrics_expected.json. The test puts them into a copy of the notebook and runs
``pytest --nbval`` on it, which runs every cell again and compares each output with the expected one, so a change that
moves one of these numbers fails here."""

import json
import os
import subprocess
import sys

import pytest

from course import paths

REFERENCE = paths.REPO_ROOT / "tests" / "reference" / "text_and_metrics_reference.ipynb"
EXPECTED = REFERENCE.with_name("text_and_metrics_expected.json")


def reference_with_expected_outputs() -> dict:
    """The reference notebook (committed without outputs) holding the expected outputs of each code cell."""
    notebook = json.loads(REFERENCE.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))["outputs"]
    assert len(expected) == len(code), f"{EXPECTED.name}: {len(expected)} outputs for {len(code)} code cells"
    assert all(cell["outputs"] == [] for cell in code), f"{REFERENCE.name} is committed without outputs"
    for number, (cell, outputs) in enumerate(zip(code, expected), start=1):
        cell["outputs"], cell["execution_count"] = outputs, number
    return notebook


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
    notebook = reference_with_expected_outputs()
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert sum(bool(cell["outputs"]) for cell in code) >= 4, "expected outputs for the cells that print"
    reference = tmp_path / "reference" / REFERENCE.name
    reference.parent.mkdir()
    reference.write_text(json.dumps(notebook), encoding="utf-8")
    result = nbval(reference, reference.parent)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{len(code)} passed" in result.stdout, result.stdout[-2000:]
    # the control: one expected number changed -> nbval fails on that cell
    bleu_cell = next(cell for cell in code if "bleu_scores" in "".join(cell["source"]))
    bleu_cell["outputs"][0]["text"] = [
        line.replace("'bleu1': 0.", "'bleu1': 1.") for line in bleu_cell["outputs"][0]["text"]
    ]
    changed = tmp_path / REFERENCE.name
    changed.write_text(json.dumps(notebook), encoding="utf-8")
    result = nbval(changed, tmp_path)
    assert result.returncode != 0 and "1 failed" in result.stdout, result.stdout[-3000:]
