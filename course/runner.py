"""Run the whole course, notebook after notebook, with papermill.

Role: course machinery (the course runner). ``python -m helpers run [-p NAME VALUE ...] [--run-dir DIR]
[--only NN ...]`` (see :mod:`course.cli`)
executes notebooks 00-11 in order (``--skip 10 11`` leaves
the two slowest on the sample, visual attention and the Transformer, out; nothing else reads their files). Every ``-p`` is checked against :mod:`course.parameters` before notebook
00 starts; the run folder is opened once (:class:`course.run_folder.RunFolder`: created, or refused when it was
made with other result-changing parameters); each notebook then gets only its own parameters and the run
folder's path as ``RUN_DIR``. The executed notebooks go into ``<run folder>/notebooks/``; at the end it
prints where the results are and the headline scores.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Mapping

from course import parameters as params
from course import paths
from course.files import NOTEBOOKS
from course.outcomes import OUTCOMES_SECTION, outcome_lines
from course.quiet import setup as quiet_tensorflow  # (run_course has a parameter named quiet)
from course.run_folder import RunFolder
from helpers.visualization import UNATTENDED_VARIABLE


def notebook_parameters(notebook: str, values: Mapping[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """What papermill passes to one notebook: its own parameters that were given, and ``RUN_DIR``."""
    own = {p.name for p in params.for_notebook(notebook)}
    return {**{name: value for name, value in values.items() if name in own}, "RUN_DIR": str(run_dir)}


def open_run_folder(values: Mapping[str, Any] | None = None, run_dir: str | Path | None = None) -> RunFolder:
    """Check every value and open the run folder (``--run-dir``, else ``RUN_DIR``, else the default name).
    Raises :class:`course.parameters.ParameterError` or :class:`course.config.RunFolderError`."""
    values = dict(values or {})
    run_dir = run_dir or values.pop("RUN_DIR", "") or ""
    return RunFolder.open(run_dir, params.check({k: v for k, v in values.items() if k != "RUN_DIR"}))


def run_course(
    parameters: Mapping[str, Any] | None = None,
    run_dir: str | Path | None = None,
    *,
    notebooks: list[str] | None = None,
    timeout: int = 3600,
    quiet: bool = False,
) -> Path:
    """Execute the notebooks in order; returns the run folder. Raises on the first failure."""
    import papermill  # heavy (nbclient, jupyter): only when the course runs

    values = dict(parameters or {})
    folder = open_run_folder(values, run_dir or values.pop("RUN_DIR", None))
    values.pop("RUN_DIR", None)
    folder.executed_notebooks_dir.mkdir(parents=True, exist_ok=True)
    quiet_tensorflow(filter_stderr=False)  # the kernels inherit the logging environment (see course.quiet)
    os.environ[UNATTENDED_VARIABLE] = "1"  # and know that nobody will click (08's explorer is skipped)

    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    say(f"Running the course into {folder.path}")
    say("Parameters: " + (", ".join(f"{k}={v!r}" for k, v in values.items()) or "the defaults"))
    chosen = notebooks or NOTEBOOKS
    for number, name in enumerate(chosen, start=1):
        started = time.perf_counter()
        say(f"[{number}/{len(chosen)}] {name} ...")
        output = folder.executed_notebooks_dir / name
        try:
            papermill.execute_notebook(
                str(paths.NOTEBOOKS_DIR / name),
                str(output),
                parameters=notebook_parameters(name, values, folder.path),
                kernel_name="python3",
                cwd=str(paths.NOTEBOOKS_DIR),
                progress_bar=False,
                execution_timeout=timeout,
                report_mode=False,
            )
        except papermill.PapermillExecutionError as error:
            raise RuntimeError(
                f"{name} failed: {error.ename}: {error.evalue}\nThe executed notebook, with the error, is {output}"
            ) from None
        say(f"      done in {time.perf_counter() - started:.1f} s")
    return folder.path


def summary(run_dir: Path) -> str:
    """Where the results are and the headline scores."""
    folder = RunFolder.existing(run_dir)
    lines = [f"Results are in {folder.path}", f"  executed notebooks: {folder.executed_notebooks_dir}"]
    lines += [f"  {path.name}: {path}" for path in folder.existing_outputs()]
    try:
        scores = folder.load_scores()
    except FileNotFoundError:
        scores = None
    if scores:

        def row(label, values):
            return f"  {label:<26}" + "  ".join(f"{k.upper()} {100 * v:5.1f}" for k, v in values.items())

        lines.append("Scores on the test split (BLEU at corpus level; all x100):")
        lines.append(row("model, greedy", scores["model"]))
        beam = scores.get("beam")
        if beam:
            lines.append(row(f"model, beam {beam['width']}", beam["scores"]))
        retrieval = scores.get("retrieval")
        if retrieval:
            lines.append(row(f"retrieval ({retrieval['k']} neighbours)", retrieval["scores"]))
        baseline = scores.get("best_constant_caption")
        if baseline:
            lines.append(row("best constant caption", baseline.get("scores", {"bleu4": baseline["bleu4"]})))
            lines.append(f'    ("{baseline["caption"]}")')
        lines.append(f"  image features: {scores.get('weights', '?')}")
    if folder.config().get(OUTCOMES_SECTION):
        warnings_ = outcome_lines(run_dir)
        lines.append(
            "Learning outcomes: "
            + ("every check held" if not warnings_ else f"{len(warnings_)} did not hold on this data")
        )
        lines += warnings_
    return "\n".join(lines)
