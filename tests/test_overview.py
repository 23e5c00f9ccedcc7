"""course.overview (notebook 00): the course map covers every notebook, the times come from docs/timings.json,
and docs/teaching.md shows what that file says."""

import os
import sys

from course import files, overview, paths, runner

sys.path.insert(0, str(paths.REPO_ROOT / "scripts"))


def test_the_map_covers_every_notebook_in_order_and_names_real_run_files():
    assert [stage["notebook"] for stage in overview.STAGES] == runner.NOTEBOOKS
    file_names = {value for name, value in vars(files).items() if name.endswith("_FILE")}
    for stage in overview.STAGES:
        for name in stage["reads"] + stage["writes"]:
            assert " " in name or name in file_names, f"{stage['notebook']}: {name} is not a run-folder file name"


def test_timings_cover_every_notebook():
    timings = overview.load_timings()
    sample = timings[overview.SAMPLE_ENTRY]["seconds"]
    assert set(sample) == set(runner.NOTEBOOKS) and all(s > 0 for s in sample.values())
    flickr8k = timings[overview.FLICKR8K_ENTRY]["seconds"]
    # the appendix 06b came after the Flickr8k-size measurement: its time there is "not measured yet"
    assert flickr8k is None or set(flickr8k) <= set(runner.NOTEBOOKS)
    assert flickr8k is None or set(runner.NOTEBOOKS) - set(flickr8k) <= {"06b_training_speed.ipynb"}
    assert timings["binder"]["cpu_factor"] >= 1


def test_teaching_md_shows_the_times_of_timings_json():
    import record_timings

    text = record_timings.TEACHING.read_text(encoding="utf-8")
    block = text.split(record_timings.START, 1)[1].split(record_timings.END, 1)[0].strip()
    assert block == overview.timings_markdown(overview.load_timings()), (
        "docs/teaching.md is stale: run python scripts/record_timings.py --render"
    )


def test_durations_render_readably_and_unmeasured_ones_say_so():
    assert overview.format_duration(0.94) == "0.9 s" and overview.format_duration(156.3) == "2.6 min"
    assert overview.format_duration(5400) == "1.5 h" and overview.format_duration(None) == "not measured yet"
    timings = {
        "sample_2cpu": {"seconds": {n: 10.0 for n in runner.NOTEBOOKS}},
        "flickr8k_2cpu": {"seconds": None},
        "binder": {"cpu_factor": 2.0},
    }
    table = overview.timings_markdown(timings)
    assert (
        f"**{overview.format_duration(10.0 * len(runner.NOTEBOOKS))}** | **{overview.format_duration(20.0 * len(runner.NOTEBOOKS))}**"
        in table
    )
    assert "not measured yet" in overview.course_map_markdown(timings)
    timings["flickr8k_2cpu"]["seconds"] = {n: 10.0 for n in runner.NOTEBOOKS if not n.startswith("06b")}
    assert (
        f"**{overview.format_duration(10.0 * (len(runner.NOTEBOOKS) - 1))} + 06b_training_speed (not measured yet)**"
        in (overview.timings_markdown(timings))
    )


def test_run_folder_status_names_the_next_notebook(tmp_path):
    assert overview.next_notebook(tmp_path) == "01_text_cleaning.ipynb"
    (tmp_path / files.CLEAN_CAPTIONS_FILE).write_text("{}")
    assert overview.next_notebook(tmp_path) == "02_lookup_table.ipynb"


def test_the_parameter_table_shows_angle_brackets_as_text():
    table = overview.parameters_markdown()
    assert "runs/&lt;DATASET&gt;-&lt;ENCODER&gt;-&lt;WEIGHTS&gt;" in table
    assert "become &lt;unk&gt;" in table
    assert overview.markdown_text("a | b <i>") == "a \\| b &lt;i&gt;"


def test_00_checks_the_run_that_exists_and_says_which(tmp_path):
    runs = tmp_path / "runs"
    mine, older, newer = runs / "sample-mobilenet_v2-auto", runs / "flickr8k-x-auto", runs / "mine-x-none"
    for folder in (mine, older, newer, runs / "feature_cache"):
        folder.mkdir(parents=True)
    (runs / "feature_cache" / "chunk.npz").write_bytes(b"")
    (older / files.CLEAN_CAPTIONS_FILE).write_text("{}")
    (newer / files.CLEAN_CAPTIONS_FILE).write_text("{}")
    (newer / files.LOOKUP_TABLE_FILE).write_text("{}")
    os.utime(older / files.CLEAN_CAPTIONS_FILE, (1, 1))
    assert overview.run_folders(runs) == [newer, older]

    checked, why = overview.run_folder_to_check(mine, runs_dir=runs)
    assert checked == newer and "most recent run" in why and mine.name in why
    assert overview.run_folder_to_check(mine, chosen=True, runs_dir=runs)[0] == mine  # RUN_DIR set: that folder
    (mine / files.CLEAN_CAPTIONS_FILE).write_text("{}")
    assert overview.run_folder_to_check(mine, runs_dir=runs)[0] == mine
    empty = tmp_path / "nothing"
    assert overview.run_folder_to_check(empty / "a", runs_dir=empty) == (
        empty / "a",
        "the folder of these parameters (DATASET, ENCODER, WEIGHTS); no run has written anything yet",
    )
