"""Exercises: each `exercise` cell is followed by its `check` cell; every notebook with exercises has a solutions
notebook holding each check verbatim; every solutions notebook runs on a course run and every check says ✅; and no
check gives the answer away: run on a wrong answer, it fails with a message that does not contain the expected
value (``WRONG_ANSWERS`` below holds a wrong answer for every exercise)."""

import json
import re

import nbformat
import pytest

from course import paths

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


# For each exercise: a wrong answer (a Python expression evaluated in the solutions notebook right after its check
# passed, where the answer variable holds the solution) and the expressions whose values its check's message must not
# contain (evaluated in the same place; by default the solution's own value). None: the check reveals nothing to test
# (its answer is a file the student writes).
WRONG_ANSWERS = {
    "00_start_here.ipynb": {
        "answer_1": ("sorted(answer_1 + ['03_feature_extraction.ipynb'])", ["answer_1"]),  # 03 is not needed
        "answer_2": ("answer_2 / 2", ["answer_2"]),
    },
    "01_text_cleaning.ipynb": {
        "answer_1": ("lambda caption: text.clean_caption(caption)", ["checks_01.reference(checks_01.EXAMPLES[1])"]),
        "answer_2": ("set(sorted(answer_2)[:1])", ["sorted(answer_2)[1:]"]),
        "answer_3": None,
    },
    "02_lookup_table.ipynb": {
        "answer_1": ("lambda caption: caption", ["text.add_start_stop('dog runs')"]),
        "answer_2": ("list(answer_2)[::-1]", ["answer_2"]),
        "answer_3": (
            "lambda caption: [vocabulary.index.get(word, 0) for word in caption.split()]",
            ["vocabulary.encode('startseq qwxz endseq')"],
        ),
    },
    "03_feature_extraction.ipynb": {
        "answer_1": ("answer_1 * 0.5", ["answer_1"]),
        "answer_2": ("next(i for i in table.image_ids if i not in (answer_2, table.image_ids[-1]))", ["answer_2"]),
        "answer_3": ("((0.0, 1.0), (0.0, 255.0))", ["'-1'"]),
    },
    "04_word_embeddings.ipynb": {
        "answer_1": ("lambda u, v: float(np.dot(u, v))", []),  # the dot product, not divided by the lengths
        "answer_2": ("list(answer_2)[::-1]", ["answer_2"]),
    },
    "05_merge_lstm_model.ipynb": {
        "answer_1": ("answer_1 + 1", ["answer_1"]),
        "answer_2": ("answer_2 + 1", ["answer_2"]),
        "answer_3": ("model if model.name != 'inject_captioner' else None", ["answer_3.count_params()"]),
    },
    "06_training.ipynb": {
        "answer_1": ("answer_1 + 1", ["answer_1"]),
        "answer_2": ("answer_2 + 1", ["answer_2"]),
        "answer_3": ("lambda model, image_features, caption_ids: None", []),  # a step that trains nothing
    },
    "07_caption_generation.ipynb": {
        "answer_1": (  # a search that keeps one caption whatever the width: greedy
            "lambda next_log_p, width: beam_search(next_log_p, 1)",
            [
                "decoding.beam_search_captions(model, feature_table.matrix(test_ids[:1]), vocabulary, max_length, "
                "width=2, alpha=0.0, no_repeat_ngram=0)[0]"
            ],
        ),
        "answer_2": ("answer_2 - 1", ["answer_2"]),
        "answer_3": ("(answer_3[0] + 1, answer_3[1])", ["answer_3"]),
    },
    "08_evaluation_and_visualization.ipynb": {
        "answer_1": ("answer_1 * 0.9", ["answer_1"]),
        "answer_2": (
            "max(greedy_evaluation['per_image']['cider'], key=greedy_evaluation['per_image']['cider'].get)",
            ["answer_2"],
        ),
        "answer_3": ("answer_3 + 1", ["answer_3"]),
    },
    "09_metrics_vs_humans.ipynb": {
        "answer_1": (
            "lambda image_id, caption_id, captions: list(captions[image_id])",
            ["judgements.references_for(sorted(captions)[0], sorted(captions)[0] + '#2', captions)"],
        ),
        "answer_2": ("lambda caption, references: float(len(caption.split()))", []),  # not the rule
        "answer_3": ("answer_3 + 0.1", ["answer_3"]),
    },
    "10_visual_attention.ipynb": {
        "answer_1": (  # a step that looks everywhere equally
            "lambda decoder, word_t, grid, h, c: (h, c, keras.ops.softmax(keras.ops.zeros(grid.shape[:2]), axis=-1))",
            [],
        ),
        "answer_2": (  # the attention inside the box, not divided by the box's share of the image
            "lambda m, box, size: box_ratio(m, box, size) * float(np.mean(attention_maps.box_coverage(box, size, m.shape)))",
            [],
        ),
        "answer_3": ("answer_3 + ' again'", ["answer_3"]),
    },
    "11_transformer_decoder.ipynb": {
        "answer_1": ("lambda block, words, grid: words", []),  # the block skipped
        "answer_2": ("answer_2.T", []),  # rows and columns swapped
        "answer_3": ("answer_3 + ' again'", ["answer_3"]),
    },
}

PROBE_SETUP = """
import contextlib as _contextlib, io as _io, json as _json, numbers as _numbers
_PROBES = []


def _variants(values):
    \"\"\"The ways a value may be printed.\"\"\"
    found = []
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, _numbers.Integral):
            found += [str(int(value)), f"{int(value):,}"]
        elif isinstance(value, _numbers.Real):
            found += [f"{float(value):.2f}", f"{float(value):.3f}", f"{float(value):.4f}", repr(float(value))]
        elif isinstance(value, str):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found += [repr(list(value)), repr(tuple(value)), ", ".join(map(str, value))]
            found += [item for item in value if isinstance(item, str) and len(item) > 3]
        else:
            found.append(str(value))
    return sorted(set(found))
"""

PROBE = """
_expected = {name}
_forbidden = _variants([{forbidden}])
{name} = {wrong}
_printed = _io.StringIO()
try:
    with _contextlib.redirect_stdout(_printed):
        exec({check!r})
    _raised = None
except AssertionError as _error:
    _raised = str(_error)
{name} = _expected
_PROBES.append({{"answer": {name!r}, "raised": _raised, "printed": _printed.getvalue(), "forbidden": _forbidden}})
"""


def with_probes(notebook, path) -> nbformat.NotebookNode:
    """The solutions notebook with a probe after each check: the check run again on a wrong answer."""
    wrong_answers = WRONG_ANSWERS[path.name]
    cells = []
    for cell in notebook.cells:
        cells.append(cell)
        if "parameters" in tags(cell):
            cells.append(nbformat.v4.new_code_cell(PROBE_SETUP))
        if "check" in tags(cell):
            name = re.search(r"if (answer_\d) is None", cell.source).group(1)
            if wrong_answers[name] is not None:
                wrong, forbidden = wrong_answers[name]
                cells.append(
                    nbformat.v4.new_code_cell(
                        PROBE.format(name=name, wrong=wrong, forbidden=", ".join(forbidden), check=cell.source)
                    )
                )
    cells.append(nbformat.v4.new_code_cell("print('PROBES ' + _json.dumps(_PROBES))"))
    notebook.cells = cells
    return notebook


def revealed(message: str, value: str) -> bool:
    if re.fullmatch(r"-?[\d,]*\.?\d+", value):  # a number: not as part of a longer number
        return re.search(r"(?<![\d.,])" + re.escape(value) + r"(?![\d])", message) is not None
    return value in message


def test_every_exercise_has_a_wrong_answer_to_test_its_check_with():
    for path in WITH_EXERCISES:
        names = [re.search(r"if (answer_\d) is None", c.source).group(1) for c in cells(path) if "check" in tags(c)]
        assert sorted(names) == sorted(WRONG_ANSWERS.get(path.name, {})), (
            f"{path.name}: WRONG_ANSWERS in this file needs one entry per exercise: {names}"
        )


def test_revealed_finds_numbers_only_as_whole_numbers():
    assert revealed("expected 3 words", "3") and not revealed("position 13", "3") and not revealed("0.35", "3")
    assert revealed("expected 0.4321 here", "0.4321") and revealed("306,000 pairs", "306,000")
    assert not revealed("a 1,306,000 count", "306,000")


def test_the_new_notebooks_have_exercises():
    assert {
        "00_start_here.ipynb",
        "09_metrics_vs_humans.ipynb",
        "10_visual_attention.ipynb",
        "11_transformer_decoder.ipynb",
    } <= {p.name for p in WITH_EXERCISES}


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=ids)
def test_each_exercise_is_followed_by_a_check_that_handles_the_untouched_answer(path):
    notebook_cells = cells(path)
    exercises = [i for i, c in enumerate(notebook_cells) if "exercise" in tags(c)]
    assert 1 <= len(exercises) <= 3, f"{path.name}: {len(exercises)} exercises (two or three at the end)"
    assert any(c.cell_type == "markdown" and "## Exercises" in c.source for c in notebook_cells), path.name
    for index in exercises:
        exercise, check = notebook_cells[index], notebook_cells[index + 1] if index + 1 < len(notebook_cells) else None
        assert exercise.cell_type == "code" and "= None" in exercise.source, (
            f"{path.name}: the exercise cell starts the answer as None: {exercise.source!r}"
        )
        assert check is not None and check.cell_type == "code" and "check" in tags(check), (
            f"{path.name}: exercise cell {exercise.get('id')} is not followed by a cell tagged 'check'"
        )
        assert "not attempted" in check.source and "✅" in check.source and "assert" in check.source, (
            f"{path.name}: check cell {check.get('id')} needs a 'not attempted yet' message, asserts and a ✅"
        )


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
            assert "solution" in tags(solution_cells[index - 1]), (
                f"solutions/{path.name}: check cell {cell.get('id')} does not follow a cell tagged 'solution'"
            )
    parameters = lambda cs: [c.source for c in cs if "parameters" in tags(c)]  # noqa: E731
    assert parameters(solution_cells) == parameters(cells(path)), (
        f"solutions/{path.name}: the parameters cell differs from {path.name}'s"
    )


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
    probed = output.with_name("probed_" + path.name)
    nbformat.write(with_probes(nbformat.read(path, as_version=4), path), probed)
    papermill.execute_notebook(
        str(probed),
        str(output),
        parameters={"RUN_DIR": str(run_dir)},
        kernel_name="python3",
        cwd=str(SOLUTIONS_DIR),
        progress_bar=False,
        execution_timeout=1200,
    )
    checks = [c for c in cells(output) if "check" in tags(c)]
    assert checks, f"solutions/{path.name} has no check cell"
    for cell in checks:
        text = output_text(cell)
        assert "✅" in text and "not attempted" not in text, f"solutions/{path.name}: {cell.get('id')} printed {text!r}"
    # every check, run again on a wrong answer, fails without giving the answer away
    probes = json.loads(output_text(cells(output)[-1]).split("PROBES ", 1)[1])
    assert len(probes) == sum(v is not None for v in WRONG_ANSWERS[path.name].values()), probes
    for probe in probes:
        where = f"solutions/{path.name} {probe['answer']} on a wrong answer"
        assert probe["raised"] and "✅" not in probe["printed"], f"{where}: the check did not fail ({probe})"
        message = probe["raised"] + probe["printed"]
        shown = [value for value in probe["forbidden"] if revealed(message, value)]
        assert not shown, f"{where}: the message {message!r} gives away the expected {shown}"
