import json

import pytest
from PIL import Image

from course import config, files, paths
from helpers import visualization


def test_json_is_written_atomically_and_config_sections_merge(tmp_path):
    paths.write_json_atomic(tmp_path / "a.json", {"x": 1})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    config.update_config(tmp_path, "text", {"max_length": 9})
    config.update_config(tmp_path, "text", {"vocabulary_size": 50})
    config.update_config(tmp_path, "training", {"epochs": 3})
    assert config.read_config(tmp_path) == {"text": {"max_length": 9, "vocabulary_size": 50}, "training": {"epochs": 3}}


def test_a_missing_run_file_names_the_notebook_that_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="02_lookup_table"):
        paths.read_json(tmp_path / files.VOCABULARY_FILE)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        paths.read_json(tmp_path / "bad.json")


def test_pictures_are_written(tmp_path):
    images = []
    for i, colour in enumerate(["red", "blue", "green"]):
        images.append(tmp_path / f"{i}.jpg")
        Image.new("RGB", (32, 32), colour).save(images[-1])
    visualization.caption_grid(
        images, ["one red square"] * 3, [["a ref", "a ref", "another"]] * 3, path=tmp_path / "grid.png", columns=2
    )
    visualization.plot_loss_curves({"loss": [2, 1], "val_loss": [2.5, 1.5]}, 3.0, path=tmp_path / "loss.png")
    for name in ("grid.png", "loss.png"):
        with Image.open(tmp_path / name) as picture:
            assert picture.size[0] > 200
