"""Issue 27, hardening round two: every CLI value checked, parameters checked before a run folder is made,
bounded reads, the run folder's JSON files checked naming the file. In-process and fast unless marked."""

import json
import os
import subprocess
import sys
import time
import zipfile

import pytest
from conftest import REPO_ROOT

from course import cli, files
from course import parameters as params
from course.captioner import caption_photos
from course.parameter_values import MAXIMA, parse_value
from course.trained_run import MAX_DECODE_LENGTH
from helpers import images
from helpers.vocabulary import Vocabulary

GOOD_VOCABULARY = {"words": ["<pad>", "<unk>", "startseq", "endseq", "dog"]}


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    return captured.err


# --- caption: the options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, value, named",
    [
        ("--alpha", "nan", "--alpha must be a number from 0 to 5"),
        ("--alpha", "inf", "--alpha must be a number from 0 to 5"),
        ("--alpha=-1e308", None, "--alpha must be a number from 0 to 5"),
        ("--beam", "1000000000", "--beam must be a whole number from 1 to 100"),
        ("--beam", "0", "--beam must be a whole number from 1 to 100"),
        ("--no-repeat-ngram", "99999999999", "--no-repeat-ngram must be from 0 (off) to 100"),
    ],
)
def test_caption_options_out_of_range_are_one_line_and_exit_2(option, value, named, tmp_path, capsys):
    started = time.perf_counter()
    options = [option] if value is None else [option, value]  # argparse reads a bare -1e308 as an option
    assert cli.main(["caption", "--run", str(tmp_path), "photo.jpg", *options]) == 2
    assert named in one_error_line(capsys)
    assert time.perf_counter() - started < 5  # refused before anything is loaded


# --- caption: the run folder's files -------------------------------------------------------------------------


def fake_run(tmp_path, config, vocabulary=GOOD_VOCABULARY):
    """A run folder whose model.keras passes the archive check (it is never loaded: the JSON files fail first)."""
    run = tmp_path / "run"
    run.mkdir()
    with zipfile.ZipFile(run / files.MODEL_FILE, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"")
    (run / files.CONFIG_FILE).write_text(config if isinstance(config, str) else json.dumps(config))
    (run / files.VOCABULARY_FILE).write_text(json.dumps(vocabulary))
    return run


@pytest.mark.parametrize(
    "config, named",
    [
        ("[]", "config.json: a run folder's config.json is a JSON object, not list"),
        ("{oops", "config.json is not valid JSON"),
        ({"parameters": "abc"}, "config.json: 'parameters' must be a JSON object"),
        ({"text": {"max_length": 10**13}}, "text.max_length is 10000000000000; it must be a whole number from 2"),
        ({"text": {"max_length": MAX_DECODE_LENGTH + 1}}, "(MAX_DECODE_LENGTH)"),
        ('{"text": {"max_length": ' + "9" * 5000 + "}}", "config.json"),  # over Python's 4,300-digit limit
    ],
)
def test_a_bad_config_json_is_one_line_naming_it_and_exit_2(config, named, tmp_path):
    run = fake_run(tmp_path, config)
    errors = []
    assert caption_photos(run, ["photo.jpg"], out=errors.append, err=errors.append) == 2
    assert len(errors) == 1 and "\n" not in errors[0] and named in errors[0], errors
    assert str(run / files.CONFIG_FILE) in errors[0]


@pytest.mark.parametrize(
    "vocabulary, named",
    [
        ({"words": ["<pad>", "<unk>", "dog"]}, "it lacks startseq and endseq"),
        ({"words": ["<pad>", "<unk>", "startseq", "endseq", 7]}, "'words' must be a list of strings"),
        ({"words": "abc"}, "'words' must be a list of strings"),
        ([], "is not a vocabulary file"),
    ],
)
def test_a_bad_vocabulary_is_one_line_naming_the_file(vocabulary, named, tmp_path):
    run = fake_run(tmp_path, {"text": {"max_length": 10}}, vocabulary)
    with pytest.raises(ValueError, match="vocabulary.json is not a vocabulary file") as raised:
        Vocabulary.load(run / files.VOCABULARY_FILE)
    assert named in str(raised.value)
    errors = []
    assert caption_photos(run, ["photo.jpg"], out=errors.append, err=errors.append) == 2
    assert len(errors) == 1 and named in errors[0] and str(run / files.VOCABULARY_FILE) in errors[0], errors


# --- photos: a size bound before reading ---------------------------------------------------------------------


def padded_jpeg(tmp_path, extra_bytes, name="huge.jpg"):
    """A real 64x48 JPEG followed by ``extra_bytes`` zeros (a sparse file: no disk is used)."""
    from PIL import Image

    path = tmp_path / name
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, "JPEG")
    os.truncate(path, path.stat().st_size + extra_bytes)
    return path


def test_a_400_mib_jpeg_is_refused_from_its_size_before_reading(tmp_path):
    path = padded_jpeg(tmp_path, 400 * 2**20)
    check = images.check_image(path)
    assert not check.ok and "MAX_IMAGE_BYTES" in check.reason and "refused before reading" in check.reason
    with pytest.raises(images.BadImageError, match="huge.jpg: .* over the limit of 52,428,800"):
        images.open_rgb(path)
    small = padded_jpeg(tmp_path, 1000, "small.jpg")
    assert images.check_image(small).ok  # a few trailing bytes are fine


def test_devices_and_pipes_are_not_photos(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    assert "not a regular file" in images.check_image(fifo).reason
    assert "not a regular file" in images.check_image("/dev/zero").reason


def test_a_photo_linked_to_a_secret_file_does_not_echo_its_bytes(tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "photo.jpg").symlink_to(secret)
    reason = images.check_image(tmp_path / "photo.jpg").reason
    assert "not an image file" in reason and "root" not in reason


# --- run: every parameter checked before a run folder is made ------------------------------------------------


@pytest.mark.parametrize(
    "name, value, named",
    [
        ("DATASET", "/dev/zero", "is neither a regular file nor a folder"),
        ("DATASET", "", "an empty path"),
        ("DATASET", "/nonexistent/captions.txt", "no such file or folder"),
        ("SEED", "4294967296", "a whole number from 0 to 4294967295"),
        ("WEIGHTS", "/nonexistent.h5", "no such file"),
        ("WEIGHTS", "/dev/zero", "is not a regular file"),
        ("EMBEDDINGS", "/nonexistent.vec", "no such file"),
        ("IMAGES_DIR", "/nonexistent/images", "no such folder"),
        ("UNITS", "100000000", f"a whole number from 1 to {MAXIMA['UNITS']}"),
        ("BATCH_SIZE", "99999999999999999999", f"a whole number from 1 to {MAXIMA['BATCH_SIZE']}"),
        ("EPOCHS", "+" * 3000 + "1", "(3,0"),  # no RecursionError; the value is shown cut
        ("EPOCHS", "(((1)))", "EPOCHS='(((1)))' is not allowed"),
        ("EPOCHS", "0x10", "EPOCHS='0x10' is not allowed"),
        ("EPOCHS", "1_0", "EPOCHS='1_0' is not allowed"),
        ("DROPOUT", "nan", "DROPOUT='nan' is not allowed"),
        ("LEARNING_RATE", "1e999", "a finite number is needed"),
    ],
)
def test_a_bad_parameter_is_refused_before_a_run_folder_is_made(name, value, named, tmp_path, capsys):
    run_dir = tmp_path / "run"
    started = time.perf_counter()
    assert cli.main(["run", "--run-dir", str(run_dir), "-p", name, value]) == 2
    error = one_error_line(capsys)
    assert named in error and name in error, error
    assert len(error) < 400
    assert not run_dir.exists()
    assert time.perf_counter() - started < 5


def test_a_fifo_as_dataset_is_refused_without_opening_it(tmp_path, capsys):
    fifo = tmp_path / "captions.txt"
    os.mkfifo(fifo)
    assert cli.main(["run", "--run-dir", str(tmp_path / "run"), "-p", "DATASET", str(fifo)]) == 2
    assert "a device, pipe or socket" in one_error_line(capsys)


def test_numbers_are_read_plainly():
    assert parse_value("5") == 5 and parse_value("-3") == -3 and parse_value("0.5") == 0.5
    assert parse_value("1e-4") == 1e-4 and parse_value(".5") == 0.5
    assert parse_value("True") is True and parse_value("None") is None
    for text in ("(((1)))", "0x10", "1_0", "+" * 3000 + "1", "9" * 5000, "1+1", "nan", "inf", "[1]"):
        assert parse_value(text) == text


def test_every_default_is_within_its_documented_range():
    for parameter in params.PARAMETERS:
        parameter.check(parameter.default)
        assert parameter.type not in (int, float) or parameter.maximum is not None, parameter.name


@pytest.mark.parametrize("timeout", ["0", "-5", "99999999999"])
def test_timeout_out_of_range_is_refused(timeout, tmp_path, capsys):
    assert cli.main(["run", "--run-dir", str(tmp_path / "run"), "--timeout", timeout]) == 2
    assert "--timeout must be from 1 to" in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


# --- run: --run-dir holding another program's config.json ----------------------------------------------------


@pytest.mark.parametrize(
    "config, named",
    [
        ('{"name": "my-web-app", "port": 8080}', "was not written by the course"),
        ("[]", "is a JSON object, not list"),
        ("{oops", "is not valid JSON"),
        ('{"parameters": "abc"}', "'parameters' must be a JSON object"),
    ],
)
def test_a_run_dir_with_a_foreign_config_json_is_refused_and_left_alone(config, named, tmp_path, capsys):
    (tmp_path / "config.json").write_text(config)
    assert cli.main(["run", "--run-dir", str(tmp_path), "--only", "00", "-p", "EPOCHS", "1"]) == 2
    error = one_error_line(capsys)
    assert named in error and str(tmp_path / "config.json") in error, error
    assert (tmp_path / "config.json").read_text() == config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


# --- end to end, in fresh processes ---------------------------------------------------------------------------


@pytest.mark.course  # fresh interpreters: a few seconds each
@pytest.mark.parametrize(
    "arguments",
    [
        ["-p", "DATASET", "/dev/zero"],
        ["-p", "SEED", "4294967296"],
        ["-p", "WEIGHTS", "/nonexistent.h5"],
    ],
)
def test_python_m_helpers_run_refuses_bad_parameters_quickly(arguments, tmp_path):
    run_dir = tmp_path / "run"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "helpers", "run", "--run-dir", str(run_dir), *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert arguments[1] in result.stderr
    assert not run_dir.exists()
    assert time.perf_counter() - started < 30


# --- rows 8-14 -----------------------------------------------------------------------------------------------


def test_a_27_byte_vec_with_a_huge_header_is_refused_before_allocating(tmp_path):
    from helpers.embeddings import load_pretrained_vectors

    path = tmp_path / "tiny.vec"
    path.write_text("100000000 100000\nthe 0.1 0.2\n")
    with pytest.raises(ValueError, match="tiny.vec: header says 100000 values per vector; from 1 to 10000"):
        load_pretrained_vectors(path)
    path.write_text("100000000 300\nthe 0.1 0.2\n")
    with pytest.raises(ValueError, match="tiny.vec: header says 100,000,000 vectors of 300 values"):
        load_pretrained_vectors(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_vectors_holding_nan_or_inf_are_refused(value, tmp_path):
    from helpers.embeddings import load_pretrained_vectors

    path = tmp_path / "bad.vec"
    path.write_text(f"2 2\nthe 0.1 0.2\ndog {value} 0.5\n")
    with pytest.raises(ValueError, match="bad.vec: 1 word vectors hold nan or infinite values"):
        load_pretrained_vectors(path)


def test_judgement_scores_csv_cells_never_start_a_formula(tmp_path):
    from course.judgement_files import from_spreadsheet_safe, spreadsheet_safe

    for text in ("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)", "\tx"):
        assert spreadsheet_safe(text) == "'" + text and from_spreadsheet_safe(spreadsheet_safe(text)) == text
    assert spreadsheet_safe("a dog runs") == "a dog runs" and from_spreadsheet_safe("'quoted") == "'quoted"


def test_a_complete_marker_that_is_not_an_object_means_not_downloaded(tmp_path):
    from course import download

    (tmp_path / download.MARKER_FILE).write_text("[]")
    assert not download.is_complete(tmp_path, download.FLICKR8K_ARCHIVES)


@pytest.mark.parametrize("image_id", ["C:\\x.jpg", "C:x.jpg", "\\\\server\\share\\x.jpg", "/etc/x.jpg", "a/../x.jpg"])
def test_image_ids_with_a_drive_or_root_are_refused(image_id):
    from collections import Counter

    from helpers import formats

    assert not formats.check_image_id(image_id, Counter(), "test")


def test_usual_permissions_never_sets_the_umask_to_zero(tmp_path, monkeypatch):
    from course import paths

    calls = []
    real_umask = os.umask
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real_umask(mask))
    (tmp_path / "f").write_text("x")
    paths.usual_permissions(tmp_path / "f")
    assert 0 not in calls
    mask = real_umask(0o027)
    try:
        assert paths.current_umask() == 0o027
    finally:
        real_umask(mask)


def test_a_5000_digit_number_in_json_names_the_file(tmp_path):
    from course import paths

    path = tmp_path / "scores.json"
    path.write_text('{"n": ' + "9" * 5000 + "}")
    with pytest.raises(ValueError, match="scores.json is not valid JSON for the course"):
        paths.read_json(path)
