"""The measured figures are generated: docs/benchmarks.md and README's results table come from the JSON files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def load(relative: str):
    path = REPO_ROOT / relative
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def test_the_benchmark_page_and_the_readme_table_agree_with_the_measurements(capsys):
    page = load("scripts/benchmarks_page.py")
    assert page.main(["--check"]) == 0, capsys.readouterr().out
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = json.loads((REPO_ROOT / "docs" / "real_photo_results.json").read_text())["rows"]
    assert page.markdown(rows) in readme
    text = (REPO_ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    for path in sorted((REPO_ROOT / "docs" / "measurements").glob("*.json")):
        entry = json.loads(path.read_text())
        assert {"title", "command", "date", "machine", "target", "met", "output"} <= set(entry), path.name
        assert entry["output"] in text, f"{path.name}'s output is not on the page"


def test_a_stale_page_is_reported(tmp_path, monkeypatch, capsys):
    page = load("scripts/benchmarks_page.py")
    measurements = tmp_path / "measurements"
    measurements.mkdir()
    for path in (REPO_ROOT / "docs" / "measurements").glob("*.json"):
        (measurements / path.name).write_text(path.read_text())
    entry = json.loads((measurements / "bench_decoding.json").read_text())
    entry["output"] = "greedy 1.0 s"
    (measurements / "bench_decoding.json").write_text(json.dumps(entry))
    monkeypatch.setattr(page, "MEASUREMENTS", measurements)
    assert page.main(["--check"]) == 1
    assert "benchmarks.md out of date" in capsys.readouterr().out


def test_a_recorded_run_writes_what_it_printed_with_the_command_and_machine(tmp_path, monkeypatch, capsys):
    measurement = load("benchmarks/measurement.py")
    monkeypatch.setattr(measurement, "MEASUREMENTS", tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmarks/toy.py", "--n", "3", "--record", "toy"])

    def main(argv):
        assert argv == ["--n", "3"]  # --record NAME is not the script's
        print("method   seconds\nloop     12.0")
        return 0

    assert measurement.run_recorded(main, title="a toy", target="fast") == 0
    entry = json.loads((tmp_path / "toy.json").read_text())
    assert entry["output"] == "method   seconds\nloop     12.0"
    assert entry["command"] == "python benchmarks/toy.py --n 3 --record toy"
    assert entry["machine"]["cpus"] >= 1 and entry["target"] == "fast" and entry["met"] is None
    assert "loop     12.0" in capsys.readouterr().out  # still printed
    assert not list(tmp_path.glob("*.partial"))


def test_a_failed_run_records_nothing(tmp_path, monkeypatch):
    measurement = load("benchmarks/measurement.py")
    monkeypatch.setattr(measurement, "MEASUREMENTS", tmp_path)
    assert measurement.run_recorded(lambda argv: 1, title="t", target="t", argv=["--record", "toy"]) == 1
    assert not (tmp_path / "toy.json").exists()
    with pytest.raises(SystemExit, match="--record needs a NAME"):
        measurement.run_recorded(lambda argv: 0, title="t", target="t", argv=["--record"])


def test_the_class_plan_stand_in_fills_every_split_with_copies_and_their_captions(tmp_path):
    binder_memory = load("benchmarks/binder_memory.py")
    source = tmp_path / "source"
    (source / "Flicker8k_Dataset").mkdir(parents=True)
    lines = []
    for name in ("a.jpg", "b.jpg"):
        (source / "Flicker8k_Dataset" / name).write_bytes(name.encode())
        lines += [f"{name}#{n}\t{name} caption {n} ." for n in range(5)]
    (source / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    target = binder_memory.class_plan_dataset(source, tmp_path / "plan", per_split=3)
    splits = [(target / f"Flickr_8k.{s}.txt").read_text().split() for s in binder_memory.SPLITS]
    assert [len(s) for s in splits] == [3, 3, 3]
    names = [n for s in splits for n in s]
    assert len(set(names)) == 9  # no photo in two splits under the same name
    assert (target / "Flicker8k_Dataset" / names[-1]).read_bytes() == names[-1].split("_", 1)[1].encode()
    token = (target / "Flickr8k.token.txt").read_text().splitlines()
    assert len(token) == 45 and f"{names[0]}#0\ta.jpg caption 0 ." in token
