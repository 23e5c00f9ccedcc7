"""Run the whole course, notebook after notebook, with papermill.

``python -m helpers run [-p NAME VALUE ...] [--run-dir DIR]`` executes
notebooks 00-09 in order with the same parameters, writes the executed notebooks
into ``<run dir>/notebooks/`` next to every artifact of the run, and prints where
the results are and the headline scores. ``python -m helpers run --list-parameters``
lists every notebook's parameters (type, default, meaning), read from the same
``parameters`` cells that papermill fills (``papermill --help-notebook``); a ``-p``
that no notebook has is an error (a typo would otherwise be ignored silently).
"""

from __future__ import annotations

import argparse
import ast
import os
import html
import sys
import time
import warnings
from pathlib import Path

from helpers import paths

NOTEBOOKS = [
    "00_start_here.ipynb",
    "01_text_cleaning.ipynb",
    "02_lookup_table.ipynb",
    "03_feature_extraction.ipynb",
    "04_word_embeddings.ipynb",
    "05_merge_lstm_model.ipynb",
    "06_training.ipynb",
    "07_caption_generation.ipynb",
    "08_evaluation_and_visualization.ipynb",
    "09_metrics_vs_humans.ipynb",
]

# Defaults of the parameters that name the run folder; the notebooks' parameter
# cells hold the same values (a test checks it).
DEFAULTS = {"DATASET": "sample", "ENCODER": "mobilenet_v2", "WEIGHTS": "auto"}


OUTCOMES_SECTION = "outcomes"  # config.json: {name: {"holds": bool, "message": str}}, read by summary()


class OutcomeWarning(UserWarning):
    """A learning outcome did not hold on this run's data (the run goes on)."""


def check_outcome(run_dir: str | Path, name: str, holds: bool, message: str, *, detail: str = "") -> bool:
    """Record a learning outcome (``dev loss falls``, ``beats the constant caption``, ...) and say so when it
    did not hold: a visible warning box in the notebook, a :class:`OutcomeWarning`, and a line in the course
    summary (:func:`summary`). Never raises: on a user's data an outcome may fail without an error anywhere.

    Invariants (shapes, probabilities summing to 1) stay ``assert``; this is for what training *should* reach.
    Shown in notebook 06 (and used in 08). Returns ``holds``."""
    holds = bool(holds)
    text = message + (f" ({detail})" if detail else "")
    paths.update_config(run_dir, OUTCOMES_SECTION, {name: {"holds": holds, "message": text}})
    if holds:
        print(f"✅ {text}")
        return True
    warnings.warn(f"learning outcome not reached: {text}", OutcomeWarning, stacklevel=2)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(HTML('<div style="border-left: 6px solid #d97706; background: #fff7ed; color: #7c2d12; '
                         'padding: 8px 12px; margin: 6px 0;"><b>⚠️ Learning outcome not reached:</b> '
                         f"{html.escape(text)}<br><i>The run goes on; see the README's \"What results to "
                         "expect\" for what usually helps (more data, pretrained features, more epochs).</i>"
                         "</div>"))
    except ImportError:
        pass
    return False


def outcome_lines(run_dir: str | Path) -> list[str]:
    """One line per recorded learning outcome that did not hold (empty when all held or none was recorded)."""
    try:
        outcomes = paths.read_config(run_dir).get(OUTCOMES_SECTION, {})
    except (FileNotFoundError, ValueError):
        return []
    return [f"  WARNING, not reached: {o['message']}" for o in outcomes.values() if not o.get("holds", True)]


def parse_value(text: str):
    """A ``-p`` value the way papermill reads it: int, float, bool or None if it
    looks like one, otherwise the string itself."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, (int, float, bool, type(None))) else text


def notebook_parameters(notebooks: list[str] | None = None) -> dict[str, dict[str, dict]]:
    """``{notebook: {name: {"name", "inferred_type_name", "default", "help"}}}`` from each
    notebook's ``parameters`` cell, parsed by papermill exactly as ``--help-notebook`` does."""
    import papermill

    return {name: papermill.inspect_notebook(str(paths.NOTEBOOKS_DIR / name)) for name in notebooks or NOTEBOOKS}


def parameter_names(notebook: str) -> list[str]:
    """The names assigned in a notebook's ``parameters`` cell (read with ``ast``, so a line papermill
    cannot parse still counts)."""
    import nbformat

    names = []
    for cell in nbformat.read(paths.NOTEBOOKS_DIR / notebook, as_version=4).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            for node in ast.parse(cell.source).body:
                targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
                names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def parameters_text(notebooks: list[str] | None = None) -> str:
    """Every notebook's parameters, one line each: name, type, default and meaning."""
    lines = []
    for notebook, parameters in notebook_parameters(notebooks).items():
        lines.append(notebook)
        for parameter in parameters.values():
            lines.append(f"  {parameter['name']:<18} {parameter['inferred_type_name']:<6} "
                         f"{parameter['default']:<16} {parameter['help']}")
    return "\n".join(lines)


def run_course(parameters: dict | None = None, run_dir: str | Path | None = None, *,
               notebooks: list[str] | None = None, timeout: int = 3600, quiet: bool = False) -> Path:
    """Execute the notebooks in order; returns the run folder. Raises on the first failure."""
    import papermill

    parameters = dict(parameters or {})
    settings = {**DEFAULTS, **{k: v for k, v in parameters.items() if k in DEFAULTS}}
    if run_dir is not None:
        run_dir = Path(run_dir).expanduser().resolve()
    run_dir = paths.resolve_run_dir(run_dir or parameters.get("RUN_DIR") or "", str(settings["DATASET"]),
                                    str(settings["ENCODER"]), str(settings["WEIGHTS"]))
    parameters["RUN_DIR"] = str(run_dir)
    executed_dir = run_dir / "notebooks"
    executed_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    say(f"Running the course into {run_dir}")
    say("Parameters: " + ", ".join(f"{k}={v!r}" for k, v in parameters.items()))
    chosen = notebooks or NOTEBOOKS
    for number, name in enumerate(chosen, start=1):
        started = time.perf_counter()
        say(f"[{number}/{len(chosen)}] {name} ...")
        output = executed_dir / name
        try:
            papermill.execute_notebook(
                str(paths.NOTEBOOKS_DIR / name), str(output), parameters=parameters, kernel_name="python3",
                cwd=str(paths.NOTEBOOKS_DIR), progress_bar=False, execution_timeout=timeout,
                report_mode=False,
            )
        except papermill.PapermillExecutionError as error:
            raise RuntimeError(
                f"{name} failed: {error.ename}: {error.evalue}\nThe executed notebook, with the error, is {output}"
            ) from None
        say(f"      done in {time.perf_counter() - started:.1f} s")
    return run_dir


def summary(run_dir: Path) -> str:
    """Where the results are and the headline scores."""
    lines = [f"Results are in {run_dir}", f"  executed notebooks: {run_dir / 'notebooks'}"]
    for name in (paths.MODEL_FILE, paths.VOCABULARY_FILE, paths.FEATURES_FILE, paths.SCORES_FILE,
                 paths.CAPTION_GRID_FILE):
        if (run_dir / name).exists():
            lines.append(f"  {name}: {run_dir / name}")
    scores_path = run_dir / paths.SCORES_FILE
    if scores_path.exists():
        scores = paths.read_json(scores_path)

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
            lines.append(f"    (\"{baseline['caption']}\")")
        lines.append(f"  image features: {scores.get('weights', '?')}")
    config_path = run_dir / paths.CONFIG_FILE
    if config_path.exists() and paths.read_json(config_path).get(OUTCOMES_SECTION):
        warnings_ = outcome_lines(run_dir)
        lines.append("Learning outcomes: " + ("every check held" if not warnings_ else
                                              f"{len(warnings_)} did not hold on this data"))
        lines += warnings_
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers", description="The image-captioning course.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run notebooks 00-09 in order on one set of parameters")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                     help="a notebook parameter, e.g. -p EPOCHS 5 (passed to every notebook)")
    run.add_argument("--run-dir", default=None, help="folder for everything the run writes "
                     "(default runs/<dataset>-<encoder>-<weights>)")
    run.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks, e.g. --only 07 08")
    run.add_argument("--timeout", type=int, default=3600, help="seconds one cell may take")
    run.add_argument("--list-parameters", action="store_true",
                     help="list every notebook's parameters (type, default, meaning) and exit")
    from helpers import captioner
    captioner.add_command(commands)  # python -m helpers caption --run RUN_DIR photo.jpg ...
    args = parser.parse_args(argv)
    if args.command == "caption":
        return captioner.run_command(args)

    if args.list_parameters:
        print(parameters_text())
        return 0
    known = {name for notebook in NOTEBOOKS for name in parameter_names(notebook)}
    unknown = sorted({name for name, _ in args.parameter} - known)
    if unknown:
        parser.error(f"no notebook has the parameter {', '.join(unknown)} "
                     f"(see python -m helpers run --list-parameters); known: {', '.join(sorted(known))}")

    parameters = {name: parse_value(value) for name, value in args.parameter}
    notebooks = NOTEBOOKS
    if args.only:
        notebooks = [n for n in NOTEBOOKS if any(n.startswith(prefix.zfill(2)) for prefix in args.only)]
        if not notebooks:
            parser.error(f"--only {' '.join(args.only)} matches no notebook")
    started = time.perf_counter()
    try:
        run_dir = run_course(parameters, args.run_dir, notebooks=notebooks, timeout=args.timeout)
    except (RuntimeError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"\nThe course ran in {time.perf_counter() - started:.0f} s.")
    print(summary(run_dir))
    return 0
