"""The pictures and the explorer of notebook 08 (helpers.visualization)."""

import datetime
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import visualization


@pytest.fixture
def images(tmp_path):
    ids = []
    for k, color in enumerate(["red", "blue", "green", "yellow"]):
        Image.new("RGB", (40, 30), color).save(tmp_path / f"img{k}.jpg")
        ids.append(f"img{k}.jpg")
    return tmp_path, ids


def test_best_and_worst_grid_labels_each_image_with_its_score(images, tmp_path):
    folder, ids = images
    generated = {i: f"caption of {i}" for i in ids}
    references = {i: [f"reference of {i}", "another"] for i in ids}
    per_image = {"img0.jpg": 2.5, "img1.jpg": 0.1, "img2.jpg": 1.0, "img3.jpg": 0.0}
    figure = visualization.best_and_worst_grid(
        folder,
        ["img0.jpg", "img2.jpg"],
        ["img3.jpg", "img1.jpg"],
        generated,
        references,
        per_image,
        path=tmp_path / "bw.png",
    )
    titles = [axis.get_title(loc="left") for axis in figure.axes]
    assert titles[0].startswith("best: CIDEr-D 2.50\nmodel: caption of img0.jpg")
    assert titles[2].startswith("worst: CIDEr-D 0.00") and titles[3].startswith("worst: CIDEr-D 0.10")
    assert Image.open(tmp_path / "bw.png").size[0] > 200


def test_word_usage_and_length_pictures(tmp_path):
    figure = visualization.plot_word_usage(
        {"human references": 40, "greedy": 12, "beam 3": 14}, path=tmp_path / "words.png"
    )
    bars = figure.axes[0].patches
    assert [bar.get_width() for bar in bars] == [40, 12, 14]
    figure = visualization.plot_caption_lengths(
        {"human references": [5, 6, 7, 6], "greedy": [6, 6, 6]}, path=tmp_path / "lengths.png"
    )
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == ["human references (mean 6.0)", "greedy (mean 6.0)"]
    assert (tmp_path / "words.png").stat().st_size > 0 and (tmp_path / "lengths.png").stat().st_size > 0


class FakeCaptioner:
    def __init__(self):
        self.calls = []

    def caption(self, rows, beam=1):
        self.calls.append(beam)
        return [f"caption with beam {beam}"] * len(rows)

    def features(self, photo):
        if Image.open(photo).size != (40, 30):
            raise ValueError(f"{photo}: unexpected")
        return np.zeros(4, dtype=np.float32)


class FakeTable(dict):
    pass


def test_the_explorer_outside_a_kernel_prints_a_note_and_returns(images, capsys):
    folder, ids = images
    result = visualization.caption_explorer(FakeCaptioner(), FakeTable(), ids, folder, {})
    assert result is None
    assert "needs a live Jupyter kernel" in capsys.readouterr().out


def test_the_explorer_without_ipywidgets_prints_a_note(images, capsys, monkeypatch):
    folder, ids = images
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    assert visualization.caption_explorer(FakeCaptioner(), FakeTable(), ids, folder, {}) is None
    assert "needs ipywidgets" in capsys.readouterr().out


def test_the_explorer_in_a_kernel_captions_the_picked_image_and_an_upload(images, monkeypatch):
    pytest.importorskip("ipywidgets")
    import IPython.display

    folder, ids = images
    monkeypatch.setattr(visualization, "_live_kernel", lambda: True)
    monkeypatch.delenv(visualization.UNATTENDED_VARIABLE, raising=False)  # a student is there to click
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: None)
    fake = FakeCaptioner()
    table = FakeTable({i: np.zeros(4, np.float32) for i in ids})
    explorer = visualization.caption_explorer(fake, table, ids, folder, {ids[0]: ["a red picture"]}, beam=3)
    picker, upload = explorer.children[0].children
    assert list(picker.options) == ids
    assert fake.calls == [1, 3], "the first image is captioned greedily and with the beam at once"
    picker.value = ids[2]
    assert fake.calls == [1, 3, 1, 3]
    data = (folder / ids[1]).read_bytes()
    upload.value = (
        {
            "name": "mine.jpg",
            "type": "image/jpeg",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        },
    )
    assert fake.calls == [1, 3, 1, 3, 1, 3], "an uploaded photo is captioned both ways"
    upload.value = (
        {
            "name": "notes.txt",
            "type": "text/plain",
            "size": 4,
            "content": memoryview(b"text"),
            "last_modified": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        },
    )
    assert fake.calls == [1, 3, 1, 3, 1, 3], "a file that is not an image gets a message, not captions or a crash"


def test_the_explorer_shows_human_captions_without_tokens_and_a_label_that_fits(images, monkeypatch, capsys):
    pytest.importorskip("ipywidgets")
    folder, ids = images
    monkeypatch.setattr(visualization, "_live_kernel", lambda: True)
    monkeypatch.delenv(visualization.UNATTENDED_VARIABLE, raising=False)  # a student is there to click
    references = {ids[0]: ["startseq a red picture endseq", "startseq a red picture endseq", "startseq red endseq"]}
    explorer = visualization.caption_explorer(
        FakeCaptioner(), FakeTable({i: np.zeros(4, np.float32) for i in ids}), ids, folder, references
    )
    shown = capsys.readouterr().out  # outside a real kernel the Output widget lets the prints through
    assert "human:        a red picture\n" in shown and "human:        red\n" in shown
    assert "startseq" not in shown and "endseq" not in shown and shown.count("a red picture") == 1
    assert explorer.children[0].children[1].layout.width == "auto"


def test_an_unattended_run_skips_the_explorer_with_a_note(images, monkeypatch, capsys):
    """python -m helpers run (papermill) could wait forever on the explorer's Output widget: it is skipped."""
    pytest.importorskip("ipywidgets")
    folder, ids = images
    monkeypatch.setattr(visualization, "_live_kernel", lambda: True)
    monkeypatch.setenv(visualization.UNATTENDED_VARIABLE, "1")
    assert visualization.caption_explorer(None, None, ids, folder, {}) is None
    assert "open this notebook in Jupyter" in capsys.readouterr().out
