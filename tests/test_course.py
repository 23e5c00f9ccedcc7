"""The course as a student runs it: notebooks in order, on the sample, through `python -m helpers run`."""

import json

import nbformat
import numpy as np
import pytest

from course import config as run_config
from course import files, paths, runner, trained_run
from course import outcomes as learning_outcomes
from helpers import decoding, features

NOTEBOOK_PATHS = sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]*_*.ipynb"))  # 06b: an appendix


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_the_notebooks_are_there_in_order():
    assert [p.name for p in NOTEBOOK_PATHS] == runner.NOTEBOOKS


COMMITTED_NOTEBOOKS = NOTEBOOK_PATHS + sorted((paths.REPO_ROOT / "tests" / "reference").glob("*.ipynb"))


@pytest.mark.parametrize("path", COMMITTED_NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_carry_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in code_cells(path):
        assert cell.outputs == [] and cell.execution_count is None, (
            f"{path.name} has outputs: clear them before committing"
        )


def run_cells(path, namespace, run_dir, rerun_tag=None):
    for cell in code_cells(path):
        exec(cell.source, namespace)
        if "parameters" in cell.metadata.get("tags", []):
            namespace["RUN_DIR"] = str(run_dir)
        if rerun_tag and rerun_tag in cell.metadata.get("tags", []):
            exec(cell.source, namespace)  # a student runs the cell a second time


@pytest.mark.course  # executes notebooks 01 and 02 cell by cell
def test_running_the_token_cell_twice_leaves_one_start_and_one_stop_token(tmp_path):
    run_cells(paths.NOTEBOOKS_DIR / "01_text_cleaning.ipynb", {}, tmp_path)
    namespace: dict = {}
    run_cells(paths.NOTEBOOKS_DIR / "02_lookup_table.ipynb", namespace, tmp_path, rerun_tag="tokens")
    saved = json.loads((tmp_path / files.LOOKUP_TABLE_FILE).read_text())
    for table in (namespace["lookup_table"], saved):
        for split_table in table.values():
            for captions in split_table.values():
                for caption in captions:
                    words = caption.split()
                    assert words.count("startseq") == 1 and words.count("endseq") == 1, caption
                    assert words[0] == "startseq" and words[-1] == "endseq"


@pytest.mark.course
def test_the_course_runs_end_to_end_and_writes_every_artifact(course_run):
    run_dir, result = course_run
    executed = sorted(p.name for p in (run_dir / "notebooks").glob("*.ipynb"))
    assert executed == runner.NOTEBOOKS
    for name in (
        files.MODEL_FILE,
        files.VOCABULARY_FILE,
        files.FEATURES_FILE,
        files.SCORES_FILE,
        files.CAPTION_GRID_FILE,
        files.LOOKUP_TABLE_FILE,
        files.EMBEDDING_MATRIX_FILE,
        files.GENERATED_CAPTIONS_FILE,
        files.LOSS_CURVE_FILE,
        files.CONFIG_FILE,
    ):
        assert (run_dir / name).stat().st_size > 0, name
    assert f"Results are in {run_dir}" in result.stdout and "BLEU4" in result.stdout
    history = json.loads((run_dir / files.HISTORY_FILE).read_text())
    config = run_config.read_config(run_dir)
    assert min(history["val_loss"]) < history["val_loss"][0]
    assert config["training"]["best_val_loss"] < config["training"]["baseline_val_loss"]
    outcomes = config[
        learning_outcomes.OUTCOMES_SECTION
    ]  # on the sample the learning outcomes hold (06 only warns elsewhere)
    assert outcomes["dev_loss_falls"]["holds"] and outcomes["beats_word_frequencies"]["holds"], outcomes


@pytest.mark.course
def test_with_imagenet_features_the_model_scores_bleu4_of_at_least_0_4(course_run):
    run_dir, _ = course_run
    scores = json.loads((run_dir / files.SCORES_FILE).read_text())
    if not scores["pretrained_features"]:
        pytest.skip("the MobileNetV2 ImageNet weights are not available (../shared absent): features were untrained")
    assert scores["weights"] == "imagenet"
    assert scores["model"]["bleu4"] >= 0.4, scores
    assert scores["model"]["bleu4"] > scores["best_constant_caption"]["bleu4"]
    assert scores["best_constant_caption"]["bleu4"] <= 0.2
    assert (
        scores["model"]["cider"]
        > scores["retrieval"]["scores"]["cider"]
        > scores["best_constant_caption"]["scores"]["cider"]
    )
    outcomes = run_config.read_config(run_dir)[learning_outcomes.OUTCOMES_SECTION]
    assert all(o["holds"] for o in outcomes.values()), outcomes
    assert "Learning outcomes: every check held" in course_run[1].stdout


@pytest.mark.course
def test_the_saved_model_reloads_and_gives_the_same_captions(course_run):
    run_dir, _ = course_run
    model, vocabulary, config = trained_run.load_trained_model(run_dir)
    generated = json.loads((run_dir / files.GENERATED_CAPTIONS_FILE).read_text())
    table = features.load_features(run_dir / files.FEATURES_FILE)
    again = decoding.greedy_captions(model, table.matrix(list(generated)), vocabulary, config["text"]["max_length"])
    assert again == list(generated.values())
    assert np.isfinite(table.features).all()


@pytest.mark.course
def test_on_the_sample_07s_hand_written_greedy_loop_and_beam_step_agree_with_the_helpers(course_run):
    """07 warns (never stops) when they differ on a user's undertrained model (near-ties); on the sample they agree."""
    run_dir, _ = course_run
    notebook = json.loads((run_dir / "notebooks" / "07_caption_generation.ipynb").read_text())
    text = "".join(str(o.get("text", "")) for c in notebook["cells"] for o in c.get("outputs", []))
    assert "✅ the batched helper and the loop above choose the same words" in text
    assert "✅ step 2 by hand = step 2 of helpers.decoding.beam_search_captions" in text


def test_a_learning_outcome_that_fails_is_a_warning_and_a_summary_line_never_an_error(tmp_path):
    with pytest.warns(learning_outcomes.OutcomeWarning, match="learning outcome not reached: the model beats x"):
        assert (
            learning_outcomes.check_outcome(tmp_path, "beats_x", False, "the model beats x", detail="1.0 vs 2.0")
            is False
        )
    assert learning_outcomes.check_outcome(tmp_path, "loss_falls", True, "the loss falls") is True
    text = runner.summary(tmp_path)
    assert "Learning outcomes: 1 did not hold on this data" in text
    assert "  WARNING, not reached: the model beats x (1.0 vs 2.0)" in text and "loss falls" not in text
    learning_outcomes.check_outcome(tmp_path, "beats_x", True, "the model beats x")  # a later run on better data
    assert "Learning outcomes: every check held" in runner.summary(tmp_path)


def test_the_summary_shows_greedy_beam_and_both_baselines(tmp_path):
    scores = {"bleu1": 0.5, "bleu2": 0.3, "bleu3": 0.2, "bleu4": 0.1, "meteor": 0.15, "cider": 0.3}
    paths.write_json_atomic(
        tmp_path / files.SCORES_FILE,
        {
            "model": scores,
            "beam": {"width": 3, "scores": {**scores, "bleu4": 0.12}},
            "retrieval": {"k": 5, "scores": {**scores, "cider": 0.2}},
            "best_constant_caption": {"caption": "a dog", "bleu4": 0.05, "scores": {**scores, "bleu4": 0.05}},
            "weights": "imagenet",
        },
    )
    lines = runner.summary(tmp_path).splitlines()
    row = {line.split("BLEU1")[0].strip(): line for line in lines if "BLEU1" in line}
    assert list(row) == ["model, greedy", "model, beam 3", "retrieval (5 neighbours)", "best constant caption"]
    assert all(f"{m} " in line for line in row.values() for m in ("BLEU2", "BLEU3", "BLEU4", "METEOR", "CIDER"))
    assert "BLEU4  12.0" in row["model, beam 3"] and "CIDER  20.0" in row["retrieval (5 neighbours)"]
