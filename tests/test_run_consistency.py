"""A run folder whose files disagree or are damaged: one line naming the file and the mismatch, exit 2 (issue 15).

Each case builds a small untrained model of the course's shape (no training: seconds), saves it with a
vocabulary and a config.json, breaks one thing and runs ``python -m helpers caption`` in-process."""

import json
import zipfile

import numpy as np
import pytest

from course import cli, files, paths, trained_run
from helpers import datasets, training
from helpers.model import build_model
from helpers.vocabulary import Vocabulary

WORDS = ["one", "red", "green", "circle", "square"]
MAX_LENGTH = 7  # the model reads MAX_LENGTH - 1 words, as notebook 05 builds it
FEATURES = 1280  # mobilenet_v2


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """model.keras of a course-shaped merge model for a 9-word vocabulary (4 specials + 5 words)."""
    folder = tmp_path_factory.mktemp("model")
    model = build_model("merge", 4 + len(WORDS), MAX_LENGTH - 1, FEATURES, units=8, embedding_dim=4)
    model.save(folder / files.MODEL_FILE)
    return folder / files.MODEL_FILE


def make_run(
    folder,
    model_file,
    *,
    words=WORDS,
    max_length=MAX_LENGTH,
    encoder="mobilenet_v2",
    feature_dim=FEATURES,
    features_encoder=None,
):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / files.MODEL_FILE).write_bytes(model_file.read_bytes())
    Vocabulary.build([f"startseq {w} endseq" for w in words]).save(folder / files.VOCABULARY_FILE)
    paths.write_json_atomic(
        folder / files.CONFIG_FILE,
        {
            "text": {"max_length": max_length},
            "features": {
                "encoder": encoder,
                "weights": "none",
                "pretrained": False,
                "seed": 0,
                "feature_dim": feature_dim,
                "image_size": 224,
            },
        },
    )
    if features_encoder:
        np.savez(
            folder / files.FEATURES_FILE,
            image_ids=np.array(["a.jpg"]),
            features=np.zeros((1, feature_dim), "f4"),
            encoder=np.array(features_encoder),
            weights=np.array("none"),
            image_size=np.array(224),
        )
    return folder


@pytest.fixture(scope="module")
def photo():
    sample = datasets.load_dataset("sample")
    return str(sample.image_path(sample.splits["test"][0]))


def caption_error(run_dir, photo, capsys):
    status = cli.main(["caption", "--run", str(run_dir), photo])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == 2 and out == "", (status, out, err)
    assert len(lines) == 1 and lines[0].startswith(f"error: run folder {run_dir}: "), err
    return lines[0]


def test_a_consistent_run_folder_loads(tmp_path, model_file):
    run_dir = make_run(tmp_path / "run", model_file, features_encoder="mobilenet_v2")
    model, vocabulary, config = trained_run.load_trained_model(run_dir)
    assert model.outputs[0].shape[-1] == len(vocabulary) == 9 and config["text"]["max_length"] == MAX_LENGTH


@pytest.mark.parametrize(
    "change, names, words",
    [
        ({"words": WORDS[:3]}, [files.VOCABULARY_FILE, files.MODEL_FILE], ["has 7 words", "predicts 9"]),
        (
            {"words": WORDS + ["blue", "star"]},
            [files.VOCABULARY_FILE, files.MODEL_FILE],
            ["has 11 words", "predicts 9"],
        ),
        ({"max_length": -3}, [files.CONFIG_FILE], ["max_length is -3", "from 2 (start and stop tokens)"]),
        ({"max_length": "7"}, [files.CONFIG_FILE], ["max_length is '7'"]),
        (
            {"encoder": "mobilenet_v3_small", "feature_dim": 576},
            [files.CONFIG_FILE, files.MODEL_FILE],
            ["mobilenet_v3_small encoder gives 576 features", "expects 1280"],
        ),
        ({"encoder": "resnet50"}, [files.CONFIG_FILE], ["unknown encoder 'resnet50'"]),
        ({"feature_dim": 2048}, [files.CONFIG_FILE], ["feature_dim is 2048", "expects 1280"]),
        (
            {"features_encoder": "inception_v3"},
            [files.FEATURES_FILE, files.CONFIG_FILE],
            ["made with the inception_v3 encoder", "names mobilenet_v2"],
        ),
    ],
    ids=[
        "vocabulary-smaller",
        "vocabulary-larger",
        "max-length-negative",
        "max-length-not-a-number",
        "feature-size",
        "encoder-unknown",
        "feature-dim",
        "encoder-name",
    ],
)
# (A model's caption input has no fixed length since captions are batched by length, so a max_length that
# disagrees with it cannot happen any more; check_run_consistency still checks a fixed-length model's.)
def test_files_that_disagree_give_one_line_naming_the_file_and_exit_2(
    tmp_path, model_file, photo, capsys, change, names, words
):
    run_dir = make_run(tmp_path / "run", model_file, **change)
    line = caption_error(run_dir, photo, capsys)
    for name in names:
        assert name in line, line
    for word in words:
        assert word in line, line


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", ["is empty (0 bytes)"]),
        (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), ["damaged or not a Keras model"]),
        ("empty-zip", ["lacks config.json and model.weights.h5"]),
        ("no-weights", ["lacks model.weights.h5"]),
    ],
    ids=["empty-file", "random-bytes", "empty-zip", "zip-without-weights"],
)
def test_a_damaged_model_file_is_named_with_what_is_wrong(tmp_path, model_file, photo, capsys, content, words):
    run_dir = make_run(tmp_path / "run", model_file)
    model_path = run_dir / files.MODEL_FILE
    if content == "empty-zip":
        zipfile.ZipFile(model_path, "w").close()
    elif content == "no-weights":
        with zipfile.ZipFile(model_path, "w") as archive:
            archive.writestr("config.json", "{}")
    else:
        model_path.write_bytes(content)
    line = caption_error(run_dir, photo, capsys)
    assert str(model_path) in line and all(word in line for word in words), line
    assert "File not found" not in line and "There is no item" not in line


def test_a_damaged_config_and_vocabulary_are_named(tmp_path, model_file, photo, capsys):
    run_dir = make_run(tmp_path / "run", model_file)
    (run_dir / files.CONFIG_FILE).write_text("[" * 100_000 + "]" * 100_000)  # nested too deeply for json
    line = caption_error(run_dir, photo, capsys)
    assert str(run_dir / files.CONFIG_FILE) in line and "nested too deeply" in line, line
    run_dir = make_run(tmp_path / "run2", model_file)
    (run_dir / files.VOCABULARY_FILE).write_text('{"words": ')
    line = caption_error(run_dir, photo, capsys)
    assert str(run_dir / files.VOCABULARY_FILE) in line and "not a vocabulary file" in line, line


@pytest.mark.parametrize("damage", ['{"epoch": ', '{"epoch": -4, "batch": 0}', "[1, 2]", "\x00\x01garbage"])
def test_damaged_training_metadata_is_named_and_the_backup_removed(tmp_path, damage):
    backup = tmp_path / training.BACKUP_DIR
    backup.mkdir()
    (backup / "training_metadata.json").write_text(damage)
    problem = training.discard_damaged_backup(backup)
    assert problem.startswith(f"{backup / 'training_metadata.json'} is damaged (") and "\n" not in problem, problem
    assert not backup.exists()


@pytest.mark.course  # end to end: a training run
def test_resuming_with_damaged_training_metadata_starts_over_with_a_message(tmp_path, capsys):
    """End to end, one kind of damage (the others are named by discard_damaged_backup above)."""
    from toy_training import run

    backup = tmp_path / "run" / training.BACKUP_DIR
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text('{"epoch": ')
    history = run(tmp_path / "run", epochs=2)
    out = capsys.readouterr().out
    assert "training_metadata.json is damaged" in out and "starting over from epoch 1" in out, out
    assert history["resumed_at_epoch"] == 0 and history["epochs_run"] == 2
    assert not backup.exists(), "the backup is removed when training finishes"


def test_a_damaged_backup_history_starts_over_too(tmp_path, capsys):
    backup = tmp_path / training.BACKUP_DIR
    backup.mkdir()
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 3, "batch": 0}))
    (backup / files.HISTORY_FILE).write_text('{"loss": [1.0, 0.9')
    problem = training.discard_damaged_backup(backup)
    assert problem.startswith(f"{backup / files.HISTORY_FILE} is damaged") and not backup.exists()
    backup.mkdir()
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 3, "batch": 0}))
    assert training.discard_damaged_backup(backup) is None and backup.exists(), "a good backup is kept"
