"""The run folder (course.run_folder.RunFolder): its name follows the parameters that change results, it refuses to
mix two runs, every file name and config.json section lives in course.files and course.config, and a missing input is one line."""

import json
import re

import pytest

from course import config, files, paths
from course import parameters as params
from course.config import MissingInputError, RunFolderError
from course.parameters import ParameterError
from course.run_folder import RunFolder


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    return tmp_path / "runs"


def test_the_default_folder_is_named_after_the_parameters_that_change_results(runs, tmp_path):
    (tmp_path / "my flickr").mkdir()
    (tmp_path / "weights.h5").write_bytes(b"")  # path parameters must exist (course.parameter_values)
    default = RunFolder.open("", {})
    assert default.path == runs / "sample-mobilenet_v2-auto"
    assert RunFolder.open("", {"ENCODER": "inception_v3"}).path.name == "sample-inception_v3-auto"
    assert (
        RunFolder.open("", {"DATASET": str(tmp_path / "my flickr"), "WEIGHTS": str(tmp_path / "weights.h5")}).path.name
        == "my_flickr-mobilenet_v2-weights"
    )
    # not result-changing: the same folder
    assert RunFolder.open("", {"NUM_EXAMPLES": 3, "FEATURE_CACHE": "/tmp/x", "BASELINE_EPOCHS": 0}).path == default.path
    names = {
        RunFolder.open("", {name: value}).path.name
        for name, value in [("UNITS", 128), ("EPOCHS", 5), ("MIN_WORD_COUNT", 3), ("SEED", 1), ("MODEL", "inject")]
    }
    assert len(names) == 5 and all(re.fullmatch(r"sample-mobilenet_v2-auto-[0-9a-f]{8}", n) for n in names)


def test_two_runs_differing_only_in_units_do_not_share_a_model(runs):
    """What 05 and 06 would do with UNITS 256 and 128: two folders, two models, neither overwritten."""
    first = RunFolder.open("", {"UNITS": 256}, notebook="05")
    second = RunFolder.open("", {"UNITS": 128}, notebook="05")
    assert first.path != second.path
    (first.path / files.MODEL_FILE).write_text("model with 256 units")
    (second.path / files.MODEL_FILE).write_text("model with 128 units")
    assert (first.path / files.MODEL_FILE).read_text() == "model with 256 units"
    assert first.config()["parameters"]["UNITS"] == 256 and second.config()["parameters"]["UNITS"] == 128


def test_an_explicit_run_dir_made_with_other_parameters_is_refused(tmp_path):
    RunFolder.open(tmp_path / "mine", {"UNITS": 256, "EPOCHS": 5})
    again = RunFolder.open(tmp_path / "mine", {"UNITS": 256}, notebook="05")  # same values: fine
    assert again.parameters["EPOCHS"] == 5
    RunFolder.open(tmp_path / "mine", {"NUM_EXAMPLES": 2})  # does not change results: fine
    with pytest.raises(RunFolderError) as error:
        RunFolder.open(tmp_path / "mine", {"UNITS": 128, "BEAM_WIDTH": 3}, notebook="05")
    message = str(error.value)
    assert "UNITS=256" in message and "UNITS=128" in message and "RUN_DIR" in message and "\n" not in message
    assert RunFolder.open(tmp_path / "mine").parameters["UNITS"] == 256  # nothing was changed


def test_a_notebook_opens_it_with_its_own_parameters_only(tmp_path):
    namespace = {"RUN_DIR": str(tmp_path / "r"), "UNITS": 64, "EPOCHS": 3, "answer_1": None, "np": object()}
    folder = RunFolder.open(namespace["RUN_DIR"], namespace, notebook="05")
    recorded = folder.config()["parameters"]
    assert (
        recorded["UNITS"] == 64 and recorded["EPOCHS"] == params.BY_NAME["EPOCHS"].default
    )  # 05 has UNITS, not EPOCHS
    with pytest.raises(ParameterError, match="UNITS=0 is not allowed"):
        RunFolder.open(tmp_path / "other", {"UNITS": 0}, notebook="05")


def test_a_run_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        RunFolder.open(tmp_path / "file", {})


def test_a_missing_input_is_one_line_naming_the_file_and_the_notebook_that_writes_it(tmp_path):
    folder = RunFolder.open(tmp_path, {})
    with pytest.raises(MissingInputError) as error:
        folder.load_vocabulary()
    assert isinstance(error.value, FileNotFoundError)
    message = str(error.value)
    assert "vocabulary.json" in message and "notebooks/02_lookup_table.ipynb" in message and "\n" not in message
    rendered = error.value._render_traceback_()  # what IPython shows instead of a traceback
    assert len(rendered) == 1 and "MissingInputError" in rendered[0] and message in rendered[0]
    with pytest.raises(MissingInputError, match="no 'text' section.*02_lookup_table"):
        folder.load_text()
    with pytest.raises(MissingInputError, match="model.keras.*06_training"):
        folder.load_trained_model()


def test_a_missing_input_in_a_notebook_shows_one_line(tmp_path):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    result = shell.run_cell(
        f"from course.run_folder import RunFolder\nRunFolder.open({str(tmp_path)!r}).load_lookup_table()"
    )
    assert isinstance(result.error_in_exec, MissingInputError)
    assert result.error_in_exec._render_traceback_() == [f"\x1b[31mMissingInputError\x1b[0m: {result.error_in_exec}"]


def test_config_sections_are_typed_and_keep_keys_they_do_not_know(tmp_path):
    folder = RunFolder.open(tmp_path, {})
    folder.save_section(config.TextSection(max_length=9, vocabulary_size=50, min_word_count=2))
    config.update_config(tmp_path, "text", {"added_by_a_newer_notebook": True})
    text = folder.load_text()
    assert (text.max_length, text.vocabulary_size, text.extra) == (9, 50, {"added_by_a_newer_notebook": True})
    folder.save_section(text)
    saved = json.loads((tmp_path / files.CONFIG_FILE).read_text())
    assert saved["text"]["added_by_a_newer_notebook"] is True and saved["text"]["max_length"] == 9
    assert set(saved) == {"parameters", "text"}


def test_every_run_folder_file_name_is_spelled_in_course_files_only():
    names = [value for key, value in vars(files).items() if key.endswith("_FILE") and isinstance(value, str)]
    assert len(names) >= 20
    sources = {
        path: path.read_text(encoding="utf-8")
        for package in ("helpers", "course")
        for path in paths.REPO_ROOT.joinpath(package).glob("*.py")
    }
    notebooks = sorted(paths.NOTEBOOKS_DIR.rglob("*.ipynb"))
    for name in names:
        quoted = (f'"{name}"', f"'{name}'")
        elsewhere = [p.name for p, text in sources.items() if p.name != "files.py" and any(q in text for q in quoted)]
        assert not elsewhere, f"{name} is spelled in {elsewhere}: use course.files.{name}"
        for notebook in notebooks:
            cells = json.loads(notebook.read_text())["cells"]  # exercises may name a file in a question
            code = "\n".join(
                "".join(c["source"])
                for c in cells
                if c["cell_type"] == "code"
                and not {"check", "solution", "exercise"} & set(c["metadata"].get("tags", []))
            )
            assert not any(q in code for q in quoted), f"{notebook.name} spells {name}: use its RunFolder"
