"""`python -m helpers caption`: captions for photos from a trained run folder, clear errors for bad input.

The fast tests train a small merge model on part of the bundled sample (a minute at most), with the
MobileNetV2 ImageNet features when ../shared has the weights (untrained features otherwise)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import MOBILENET_V2_WEIGHTS, REPO_ROOT, SHARED_PHOTOS, need

from course import cli, files, paths, trained_run
from helpers import datasets, decoding, evaluation, features, training
from helpers.text import add_start_stop, clean_caption
from helpers.vocabulary import PAD_ID, Vocabulary

TRAIN_IMAGES = 64


def small_merge_model(vocab_size, max_length, feature_dim):
    """A small model of the course's merge shape: [features, prefix] -> next-word probabilities."""
    import keras
    from keras import layers

    image_features = keras.Input((feature_dim,))
    prefix = keras.Input((max_length,), dtype="int32")
    image = layers.Dense(64, activation="relu")(image_features)
    words = layers.LSTM(64)(layers.Embedding(vocab_size, 32, mask_zero=True)(prefix))
    merged = layers.Dense(64, activation="relu")(layers.Add()([image, words]))
    model = keras.Model([image_features, prefix], layers.Dense(vocab_size, activation="softmax")(merged))
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(3e-3))
    return model


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """A run folder (model.keras, vocabulary.json, config.json) trained on sample images."""
    import keras

    keras.utils.set_random_seed(0)
    run_dir = tmp_path_factory.mktemp("caption_run")
    sample = datasets.load_dataset("sample")
    image_ids = sample.splits["train"][:TRAIN_IMAGES]
    captions = {i: [add_start_stop(clean_caption(c)) for c in sample.captions_by_image[i]] for i in image_ids}
    vocabulary = Vocabulary.build([c for cs in captions.values() for c in cs])
    vocabulary.save(run_dir / files.VOCABULARY_FILE)
    max_length = training.max_caption_length(captions)
    pretrained = MOBILENET_V2_WEIGHTS.exists()
    weights = str(MOBILENET_V2_WEIGHTS) if pretrained else "none"
    cnn = features.build_encoder("mobilenet_v2", weights)
    matrix = features.extract_features(cnn, [sample.image_path(i) for i in image_ids], "mobilenet_v2", progress=False)
    image_rows, sequences = training.encode_captions(captions, vocabulary, max_length, image_ids)
    index = training.prefix_positions(sequences)
    column = np.arange(max_length)
    prefixes = np.where(column[None, :] < index[:, 1:2], sequences[index[:, 0]], PAD_ID)
    targets = sequences[index[:, 0], index[:, 1]]
    model = small_merge_model(len(vocabulary), max_length, matrix.shape[1])
    model.fit([matrix[image_rows[index[:, 0]]], prefixes], targets, epochs=10, batch_size=32, verbose=0)
    model.save(run_dir / files.MODEL_FILE)
    paths.write_json_atomic(
        run_dir / files.CONFIG_FILE,
        {
            "text": {"max_length": max_length},
            "features": {
                "encoder": "mobilenet_v2",
                "weights": weights,
                "pretrained": pretrained,
                "image_size": 224,
                "feature_dim": int(matrix.shape[1]),
            },
        },
    )
    return run_dir, sample, image_ids


@pytest.mark.course  # end to end, slow: trains a model and extracts features first
def test_the_command_line_captions_sample_images_and_reports_bad_files(sample_run, tmp_path, capsys):
    run_dir, sample, image_ids = sample_run
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("this is text, not a JPEG")
    photos = [
        sample.image_path(image_ids[0]),
        tmp_path / "missing.jpg",
        not_an_image,
        sample.image_path(sample.splits["test"][0]),
    ]
    status = cli.main(["caption", "--run", str(run_dir), *map(str, photos)])
    out, err = capsys.readouterr()
    assert status == 1, "some photos failed: non-zero exit"
    lines = out.strip().splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(photos[0]), str(photos[3])]
    assert all(len(line.split(": ", 1)[1].split()) >= 1 for line in lines), lines
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors[0] == f"error: {photos[1]}: no such file"
    assert errors[1].startswith(f"error: {not_an_image}: not an image file") and len(errors) == 2, errors
    # the caption of a training image is the model's greedy caption of its features
    cli_caption = lines[0].split(": ", 1)[1]
    model, vocabulary, config = trained_run.load_trained_model(run_dir)
    table = features.extract_features(
        features.build_encoder("mobilenet_v2", config["features"]["weights"]),
        [photos[0]],
        "mobilenet_v2",
        progress=False,
    )
    assert cli_caption == decoding.greedy_captions(model, table, vocabulary, config["text"]["max_length"])[0]
    if config["features"]["pretrained"]:
        references = [clean_caption(c) for c in sample.captions_by_image[image_ids[0]]]
        assert evaluation.bleu_scores({"a": references}, {"a": cli_caption})["bleu1"] > 0.5, cli_caption


@pytest.mark.course  # end to end, slow: trains a model and extracts features first
def test_beam_option_and_all_good_photos_exit_zero(sample_run, capsys):
    run_dir, sample, image_ids = sample_run
    photos = [str(sample.image_path(i)) for i in image_ids[:2]]
    assert cli.main(["caption", "--run", str(run_dir), "--beam", "3", *photos]) == 0
    out, _ = capsys.readouterr()
    assert len(out.strip().splitlines()) == 2
    assert cli.main(["caption", "--run", str(run_dir), "--beam", "0", photos[0]]) == 2


@pytest.mark.course  # end to end, slow: trains a model and extracts features first
def test_the_caption_command_reads_the_repetition_guard_from_the_run_or_the_flag(sample_run, tmp_path, capsys):
    import shutil

    run_dir, sample, image_ids = sample_run
    guarded_run = tmp_path / "guarded"
    shutil.copytree(run_dir, guarded_run)
    config = paths.read_json(guarded_run / files.CONFIG_FILE)
    paths.write_json_atomic(guarded_run / files.CONFIG_FILE, {**config, "decoding": {"no_repeat_ngram": 1}})
    photos = [str(sample.image_path(i)) for i in image_ids[:4]]
    from course.captioner import Captioner as captioner_

    assert captioner_.load(run_dir).no_repeat_ngram == decoding.DEFAULT_NO_REPEAT_NGRAM
    assert captioner_.load(guarded_run).no_repeat_ngram == 1

    def captions(*arguments):
        assert cli.main(["caption", "--run", *arguments, *photos]) == 0
        return [line.split(": ", 1)[1] for line in capsys.readouterr().out.strip().splitlines()]

    for caption in captions(str(guarded_run)) + captions(str(guarded_run), "--beam", "3"):
        words = caption.split()
        assert len(set(words)) == len(words) and "<unk>" not in words, caption  # 1-grams: no word twice
    model, vocabulary, config = trained_run.load_trained_model(run_dir)
    table = features.extract_features(
        features.build_encoder("mobilenet_v2", config["features"]["weights"]), photos, "mobilenet_v2", progress=False
    )
    unguarded = decoding.greedy_captions(model, table, vocabulary, config["text"]["max_length"], no_repeat_ngram=0)
    assert captions(str(guarded_run), "--no-repeat-ngram", "0") == unguarded
    assert cli.main(["caption", "--run", str(run_dir), "--no-repeat-ngram", "-1", photos[0]]) == 2


def test_an_unreadable_run_folder_is_one_clear_error(tmp_path, capsys):
    photo = str(datasets.load_dataset("sample").image_path(datasets.load_dataset("sample").splits["test"][0]))
    assert cli.main(["caption", "--run", str(tmp_path / "nowhere"), photo]) == 2
    assert capsys.readouterr().err.strip() == f"error: run folder {tmp_path / 'nowhere'}: no such folder"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["caption", "--run", str(empty), photo]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: run folder {empty}:") and "model.keras" in err and len(err.splitlines()) == 1
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / files.MODEL_FILE).write_text("not a model")
    assert cli.main(["caption", "--run", str(broken), photo]) == 2
    assert capsys.readouterr().err.startswith(f"error: run folder {broken}:")


@pytest.mark.course  # end to end, slow: the caption command in a fresh process
def test_python_m_helpers_caption_on_the_three_real_photos(sample_run, tmp_path):
    """The real command, in a fresh process, on real Flickr8k photos (../shared)."""
    need(SHARED_PHOTOS)
    run_dir, _, _ = sample_run
    photos = sorted(str(p) for p in SHARED_PHOTOS.glob("*.jpg"))
    assert len(photos) == 3
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "helpers", "caption", "--run", str(run_dir), *photos, str(tmp_path / "missing.jpg")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert [line.split(": ")[0] for line in lines] == photos
    assert all(line.split(": ", 1)[1].strip() for line in lines), lines
    assert f"error: {tmp_path / 'missing.jpg'}: no such file" in result.stderr.splitlines()


@pytest.mark.course
def test_beam_3_scores_at_least_as_well_as_greedy_on_the_sample(course_run):
    run_dir, _ = course_run
    model, vocabulary, config = trained_run.load_trained_model(run_dir)
    lookup_table = paths.read_json(run_dir / files.LOOKUP_TABLE_FILE)
    table = features.load_features(run_dir / files.FEATURES_FILE)
    test_ids = [i for i in lookup_table["test"] if i in table]
    references = {i: lookup_table["test"][i] for i in test_ids}
    max_length = config["text"]["max_length"]
    greedy = dict(zip(test_ids, decoding.greedy_captions(model, table.matrix(test_ids), vocabulary, max_length)))
    beam = dict(
        zip(test_ids, decoding.beam_search_captions(model, table.matrix(test_ids), vocabulary, max_length, width=3))
    )
    greedy_bleu, beam_bleu = evaluation.bleu_scores(references, greedy), evaluation.bleu_scores(references, beam)
    assert beam_bleu["bleu4"] >= greedy_bleu["bleu4"], (beam_bleu, greedy_bleu)
    assert evaluation.cider_d(references, beam)[0] >= evaluation.cider_d(references, greedy)[0]
    scores = json.loads((run_dir / files.SCORES_FILE).read_text())
    assert scores["beam"]["scores"]["bleu4"] == pytest.approx(beam_bleu["bleu4"])


@pytest.mark.course
def test_the_course_model_captions_the_real_photos(course_run, keras_home):
    need(SHARED_PHOTOS)
    run_dir, _ = course_run
    photos = sorted(str(p) for p in SHARED_PHOTOS.glob("*.jpg"))
    env = {**os.environ, "KERAS_HOME": str(keras_home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "helpers", "caption", "--run", str(run_dir), "--beam", "3", *photos],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert [line.split(": ")[0] for line in result.stdout.strip().splitlines()] == photos


@pytest.mark.course  # end to end, slow: trains a model and extracts features first
def test_a_400_mib_photo_is_refused_while_the_good_one_beside_it_is_captioned(sample_run, tmp_path, capsys):
    """Issue 27: a small JPEG followed by 400 MiB of zeros (sparse) is refused from its size (MAX_IMAGE_BYTES),
    before a byte is read; the good photo is still captioned; exit 1 (some photos failed)."""
    import time

    from PIL import Image

    run_dir, sample, image_ids = sample_run
    huge = tmp_path / "huge.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(huge, "JPEG")
    os.truncate(huge, huge.stat().st_size + 400 * 2**20)
    good = sample.image_path(image_ids[0])
    started = time.perf_counter()
    assert cli.main(["caption", "--run", str(run_dir), str(huge), str(good)]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("error: ") == 1 and "MAX_IMAGE_BYTES" in captured.err and "Traceback" not in captured.err
    assert captured.out.startswith(f"{good}: ") and captured.out.count("\n") == 1
    assert time.perf_counter() - started < 60
