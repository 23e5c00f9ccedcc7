"""The check of notebook 00's planning exercise (machinery, not lesson).

The student decides which notebooks rebuild a missing file in a fresh run folder, in which order, from the course
map (``course.overview.STAGES``: what each notebook reads and writes). Messages say what is wrong with the plan and
hint where to look on the map; they never print the expected list."""

from __future__ import annotations

from course import overview


def _writer(name: str) -> str | None:
    return next((stage["notebook"] for stage in overview.STAGES if name in stage["writes"]), None)


def notebooks_for(name: str) -> list[str]:
    """The notebooks that must run, in course order, to write ``name`` into an empty run folder: its writer and,
    for every run-folder file a needed notebook reads, that file's writer (inputs from outside, such as the images,
    need no notebook)."""
    needed: set[str] = set()
    to_visit = [_writer(name)]
    while to_visit:
        notebook = to_visit.pop()
        if notebook is None or notebook in needed:
            continue
        needed.add(notebook)
        stage = next(s for s in overview.STAGES if s["notebook"] == notebook)
        to_visit += [_writer(read) for read in stage["reads"]]
    return [stage["notebook"] for stage in overview.STAGES if stage["notebook"] in needed]


def check_plan(plan, missing: str) -> str:
    """``plan``: the notebook file names the student would run, in order, to rebuild ``missing`` in a fresh run
    folder. Returns a one-line verdict."""
    known = [stage["notebook"] for stage in overview.STAGES]
    assert isinstance(plan, (list, tuple)) and all(isinstance(n, str) for n in plan), (
        "answer_1 is a list of notebook file names, e.g. ['01_text_cleaning.ipynb', ...]"
    )
    unknown = [n for n in plan if n not in known]
    assert not unknown, f"{unknown[0]!r} is not a notebook of the course: copy the names from the map's first column"
    assert len(set(plan)) == len(plan), "a notebook comes twice in your plan: once is enough"
    assert any(missing in stage["writes"] for stage in overview.STAGES if stage["notebook"] in plan), (
        f"none of your notebooks writes {missing}: which row of the map has it under 'writes'?"
    )
    assert list(plan) == sorted(plan, key=known.index), (
        "your notebooks are not in course order: a notebook reads what the ones before it wrote"
    )
    written: set[str] = set()
    for notebook in plan:
        stage = next(s for s in overview.STAGES if s["notebook"] == notebook)
        for read in stage["reads"]:
            assert _writer(read) is None or read in written, (
                f"{notebook} reads {read}, and no notebook before it in your plan writes it: "
                "the folder is fresh, so something must write it first"
            )
        written.update(stage["writes"])
    needed = notebooks_for(missing)
    extra = [n for n in plan if n not in needed]
    assert not extra, f"{extra[0]} writes nothing that leads to {missing}: leave it out, a lesson takes time"
    return f"these {len(plan)} notebooks, in this order, rebuild {missing} in a fresh run folder"
