"""Every notebook parameter is documented (papermill --help-notebook shows its type and meaning), and the course
command lists them and refuses a parameter no notebook has."""

import ast

import nbformat
import papermill
import pytest

from helpers import course, paths

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")) + sorted((paths.NOTEBOOKS_DIR / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(paths.NOTEBOOKS_DIR)))
def test_every_parameter_has_a_type_and_a_meaning_that_papermill_reads(path):
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    assigned = [node for node in ast.parse(cell.source).body if isinstance(node, (ast.Assign, ast.AnnAssign))]
    unannotated = [ast.unparse(node) for node in assigned if not isinstance(node, ast.AnnAssign)]
    assert not unannotated, f"{path.name}: parameters without a type annotation: {unannotated}"
    inspected = papermill.inspect_notebook(str(path))
    names = [node.target.id for node in assigned]
    unread = [line for line in cell.source.splitlines() if line.split(":")[0].strip() in set(names) - set(inspected)]
    assert not unread, (f"{path.name}: papermill cannot read {unread} (an '=' inside the comment stops its parser): "
                        "`papermill --help-notebook` does not show it")
    for name, parameter in inspected.items():
        assert parameter["inferred_type_name"] not in ("None", ""), f"{path.name}: {name} has no type"
        assert parameter["help"].strip(), f"{path.name}: {name} has no '# meaning' comment"


def test_the_course_command_lists_every_parameter(capsys):
    assert course.main(["run", "--list-parameters"]) == 0
    printed = capsys.readouterr().out
    for notebook in course.NOTEBOOKS:
        assert notebook in printed
    for line in ("EPOCHS", "int", "20", "passes over the training captions", "JUDGEMENTS_DIR"):
        assert line in printed


def test_a_parameter_no_notebook_has_is_refused(capsys):
    with pytest.raises(SystemExit):
        course.main(["run", "-p", "EPOCH", "5"])
    error = capsys.readouterr().err
    assert "no notebook has the parameter EPOCH" in error and "EPOCHS" in error


def test_parameter_names_come_from_the_parameters_cells():
    names = course.parameter_names("09_metrics_vs_humans.ipynb")
    assert names[:7] == ["DATASET", "ENCODER", "WEIGHTS", "EPOCHS", "BATCH_SIZE", "SEED", "RUN_DIR"]
    assert "JUDGEMENTS_DIR" in names
