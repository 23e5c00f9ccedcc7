"""Exercises: each `exercise` cell is followed by its `check` cell; every notebook with exercises has a solutions
notebook holding each check verbatim; every solutions notebook runs on a course run and every check says ✅."""

import nbformat
import pytest

from helpers import paths

SOLUTIONS_DIR = paths.NOTEBOOKS_DIR / "solutions"


def tags(cell):
    return cell.metadata.get("tags", [])


def cells(path):
    return nbformat.read(path, as_version=4).cells


NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
WITH_EXERCISES = [p for p in NOTEBOOKS if any("exercise" in tags(c) for c in cells(p))]
SOLUTIONS = sorted(SOLUTIONS_DIR.glob("*.ipynb"))
ids = lambda p: p.name  # noqa: E731


def output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", "") or "")
        parts.append(str(output.get("data", {}).get("text/plain", "")))
        if output.get("output_type") == "error":
            parts.append(f"{output.get('ename')}: {output.get('evalue')}")
    return "".join(parts)


def test_the_new_notebooks_have_exercises():
    assert {"00_start_here.ipynb", "09_metrics_vs_humans.ipynb", "10_visual_attention.ipynb"} <= {p.name for p in WITH_EXERCISES}


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=ids)
def test_each_exercise_is_followed_by_a_check_that_handles_the_untouched_answer(path):
    notebook_cells = cells(path)
    exercises = [i for i, c in enumerate(notebook_cells) if "exercise" in tags(c)]
    assert 1 <= len(exercises) <= 3, f"{path.name}: {len(exercises)} exercises (two or three at the end)"
    assert any(c.cell_type == "markdown" and "## Exercises" in c.source for c in notebook_cells), path.name
    for index in exercises:
        exercise, check = notebook_cells[index], notebook_cells[index + 1] if index + 1 < len(notebook_cells) else None
        assert exercise.cell_type == "code" and "= None" in exercise.source, \
            f"{path.name}: the exercise cell starts the answer as None: {exercise.source!r}"
        assert check is not None and check.cell_type == "code" and "check" in tags(check), \
            f"{path.name}: exercise cell {exercise.get('id')} is not followed by a cell tagged 'check'"
        assert "not attempted" in check.source and "✅" in check.source and "assert" in check.source, \
            f"{path.name}: check cell {check.get('id')} needs a 'not attempted yet' message, asserts and a ✅"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=ids)
def test_the_solutions_notebook_holds_each_check_verbatim(path):
    solution = SOLUTIONS_DIR / path.name
    assert solution.exists(), f"{path.name} has exercises but no notebooks/solutions/{path.name}"
    checks = [c.source for c in cells(path) if "check" in tags(c)]
    solution_cells = cells(solution)
    solution_checks = [c.source for c in solution_cells if "check" in tags(c)]
    assert solution_checks == checks, f"solutions/{path.name}: the check cells differ from {path.name}'s"
    for index, cell in enumerate(solution_cells):
        if "check" in tags(cell):
            assert "solution" in tags(solution_cells[index - 1]), \
                f"solutions/{path.name}: check cell {cell.get('id')} does not follow a cell tagged 'solution'"
    parameters = lambda cs: [c.source for c in cs if "parameters" in tags(c)]  # noqa: E731
    assert parameters(solution_cells) == parameters(cells(path)), \
        f"solutions/{path.name}: the parameters cell differs from {path.name}'s"


@pytest.mark.parametrize("path", SOLUTIONS, ids=ids)
def test_every_solutions_notebook_belongs_to_a_notebook_with_exercises(path):
    assert path.name in {p.name for p in WITH_EXERCISES}, f"solutions/{path.name}: no notebook with exercises"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"solutions/{path.name} has outputs"


@pytest.mark.course
@pytest.mark.parametrize("path", WITH_EXERCISES, ids=ids)
def test_the_untouched_exercises_say_not_attempted_in_the_course_run(course_run, path):
    run_dir, _ = course_run
    executed = cells(run_dir / "notebooks" / path.name)
    for cell in executed:
        if "check" in tags(cell):
            assert "not attempted" in output_text(cell), f"{path.name}: {cell.get('id')} printed {output_text(cell)!r}"


@pytest.mark.course
@pytest.mark.parametrize("path", SOLUTIONS, ids=ids)
def test_every_solution_runs_on_the_course_run_and_every_check_passes(course_run, keras_home, path, monkeypatch):
    import papermill

    run_dir, _ = course_run
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    output = run_dir / "solutions" / path.name
    output.parent.mkdir(exist_ok=True)
    papermill.execute_notebook(str(path), str(output), parameters={"RUN_DIR": str(run_dir)}, kernel_name="python3",
                               cwd=str(SOLUTIONS_DIR), progress_bar=False, execution_timeout=1200)
    checks = [c for c in cells(output) if "check" in tags(c)]
    assert checks, f"solutions/{path.name} has no check cell"
    for cell in checks:
        text = output_text(cell)
        assert "✅" in text and "not attempted" not in text, f"solutions/{path.name}: {cell.get('id')} printed {text!r}"
