"""One declaration of every parameter (course.parameters): the notebooks' parameters cells hold exactly their
own parameters as declared, papermill reads each with its type and meaning, and `python -m helpers run` checks
every -p before any notebook runs."""

import ast
import subprocess
import sys
import time

import nbformat
import papermill
import pytest

from course import cli, parameters, paths, runner

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")) + sorted((paths.NOTEBOOKS_DIR / "solutions").glob("*.ipynb"))


def parameters_cell(path):
    return next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(paths.NOTEBOOKS_DIR)))
def test_each_parameters_cell_holds_exactly_its_declared_parameters(path):
    declared = {p.name: p for p in parameters.for_notebook(path.name)}
    cell = parameters_cell(path)
    found = {}
    for line in cell.source.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        node = ast.parse(line).body[0]
        assert isinstance(node, ast.AnnAssign), f"{path.name}: parameters are annotated literals: {line}"
        name = node.target.id
        found[name] = node
        assert name in declared, (
            f"{path.name}: {name} is not declared for this notebook in course/parameters.py "
            "(add it there, with this notebook in its notebooks)"
        )
        p = declared[name]
        assert ast.unparse(node.annotation) == p.type.__name__, (
            f"{path.name}: {name} is not annotated {p.type.__name__}"
        )
        assert ast.literal_eval(node.value) == p.default, f"{path.name}: {name} default differs from the declaration"
        assert line.partition("#")[2].strip() == p.help, (
            f"{path.name}: {name}'s '# meaning' differs from the declaration"
        )
    missing = sorted(set(declared) - set(found))
    assert not missing, f"{path.name}: declared for this notebook but not in its parameters cell: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(paths.NOTEBOOKS_DIR)))
def test_papermill_reads_every_parameter_with_its_type_and_meaning(path):
    inspected = papermill.inspect_notebook(str(path))
    assert set(inspected) == {p.name for p in parameters.for_notebook(path.name)}
    for name, parameter in inspected.items():
        assert parameter["inferred_type_name"] not in ("None", ""), f"{path.name}: {name} has no type"
        assert parameter["help"].strip(), f"{path.name}: {name} has no '# meaning' comment"


def test_every_declared_parameter_is_valid_as_declared():
    for p in parameters.PARAMETERS:
        assert p.check(p.default) == p.default, p.name
        assert p.notebooks and all(len(n) == 2 for n in p.notebooks), p.name
        assert "=" not in p.help, f"{p.name}: an '=' in the meaning stops papermill's parser"


def test_list_parameters_lists_each_parameter_once_with_its_notebooks(capsys):
    assert cli.main(["run", "--list-parameters"]) == 0
    printed = capsys.readouterr().out
    for p in parameters.PARAMETERS:
        assert sum(line.startswith(p.name + " ") for line in printed.splitlines()) == 1, p.name
    epochs = next(line for line in printed.splitlines() if line.startswith("EPOCHS "))
    assert "int" in epochs and "100" in epochs and "notebooks 06" in epochs
    assert "passes over the training captions" in printed and "allowed: a whole number from 1 to 10000" in printed


@pytest.mark.parametrize(
    "arguments, named",
    [
        (["-p", "EPOCHS", "-1"], "EPOCHS=-1 is not allowed: a whole number from 1 to 10000"),
        (["-p", "EPOCHS", "abc"], "EPOCHS='abc' is not allowed: a whole number"),
        (["-p", "ENCODER", "resnet"], "ENCODER='resnet' is not allowed: one of 'inception_v3'"),
        (["-p", "DROPOUT", "2"], "DROPOUT=2 is not allowed: a number from 0.0 to 0.95"),
        (["-p", "MODEL", "transformer"], "MODEL='transformer' is not allowed: one of 'merge', 'inject'"),
        (["-p", "NUM_SHARDS", "2", "-p", "SHARD_INDEX", "2"], "SHARD_INDEX=2 is not allowed"),
        (["-p", "EPOCH", "5"], "no notebook has the parameter EPOCH"),
        (["--only", "42"], "--only 42 matches no notebook"),
    ],
)
def test_a_bad_parameter_is_one_line_and_exit_2_before_any_notebook(arguments, named, capsys, tmp_path):
    run_dir = tmp_path / "run"
    assert cli.main(["run", "--run-dir", str(run_dir), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and named in error, error
    assert not run_dir.exists()


def test_a_run_dir_that_is_a_file_is_refused(capsys, tmp_path):
    (tmp_path / "a_file").write_text("x")
    assert cli.main(["run", "--run-dir", str(tmp_path / "a_file")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is a file, not a folder" in error


@pytest.mark.course  # starts a fresh Python process
def test_the_command_refuses_bad_parameters_within_seconds(tmp_path):
    started = time.perf_counter()
    for arguments in (
        ["-p", "EPOCHS", "-1"],
        ["-p", "EPOCHS", "abc"],
        ["-p", "ENCODER", "resnet"],
        ["--run-dir", __file__],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "helpers", "run", *arguments],
            cwd=paths.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
        assert "Running the course" not in result.stdout
    assert time.perf_counter() - started < 30


def test_each_notebook_gets_only_its_own_parameters():
    given = {"EPOCHS": 3, "UNITS": 128, "ENCODER": "inception_v3", "BEAM_WIDTH": 5}
    assert runner.notebook_parameters("06_training.ipynb", given, "/r") == {"EPOCHS": 3, "RUN_DIR": "/r"}
    assert runner.notebook_parameters("05_merge_lstm_model.ipynb", given, "/r") == {"UNITS": 128, "RUN_DIR": "/r"}
    assert runner.notebook_parameters("09_metrics_vs_humans.ipynb", given, "/r") == {"RUN_DIR": "/r"}


def test_parameter_values_are_read_like_papermill():
    assert parameters.parse_value("5") == 5 and parameters.parse_value("0.5") == 0.5
    assert parameters.parse_value("True") is True and parameters.parse_value("sample") == "sample"
    assert parameters.parse_value("/data/my set") == "/data/my set"
    assert parameters.check({"LEARNING_RATE": 1}) == {"LEARNING_RATE": 1.0}


def test_a_run_dir_made_with_other_parameters_is_refused_before_any_notebook(capsys, tmp_path):
    from course.run_folder import RunFolder

    RunFolder.open(tmp_path / "run", {"UNITS": 256})
    assert cli.main(["run", "--run-dir", str(tmp_path / "run"), "-p", "UNITS", "128"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "UNITS=256" in error and "UNITS=128" in error
    assert not (tmp_path / "run" / "notebooks").exists()
