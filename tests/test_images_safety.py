"""No hostile file reaches a decoder; phone photos come out upright; every decoder error is a BadImageError (issue 15).

Every place the course opens an image goes through helpers.images: the feature pipeline (check_image ->
decode_image), load_image (the caption command and the explorer), open_rgb (the caption grid, the
nearest-neighbour and judgement pictures)."""

import io
import os
import stat

import numpy as np
import pytest
from PIL import Image

from helpers import features, images, judgements, visualization

EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
    b"newpath 0 0 moveto 16 16 lineto stroke\nshowpage\n%%EOF\n"
)


def photo_array():
    """A real photo (skimage's cat, 451 x 300) when scikit-image is there, else a smooth synthetic one."""
    try:
        from skimage import data

        return data.chelsea()
    except ImportError:
        y, x = np.mgrid[0:300, 0:451]
        return np.stack([x * 255 / 451, y * 255 / 300, (x * y) % 255], -1).astype("uint8")


@pytest.fixture
def fake_gs(tmp_path, monkeypatch):
    """A `gs` first on PATH that records every call in a file (and renders nothing)."""
    from PIL import EpsImagePlugin

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "gs_calls.txt"
    script = bin_dir / "gs"
    script.write_text(f'#!/bin/sh\necho "gs $*" >> "{calls}"\n[ "$1" = --version ] && echo 10.02 && exit 0\nexit 1\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # Pillow looks for gs again, and finds ours
    return calls


def test_the_fake_gs_would_be_called_by_plain_pillow(tmp_path, fake_gs):
    """The control: Pillow left to itself hands this file to Ghostscript."""
    path = tmp_path / "holiday.jpg"
    path.write_bytes(EPS)
    with pytest.raises(Exception):  # noqa: B017  (our gs renders nothing: whatever Pillow raises then)
        with Image.open(path) as image:
            assert image.format == "EPS"
            image.load()
    assert fake_gs.exists() and "gs" in fake_gs.read_text()


def test_an_eps_file_named_jpg_never_reaches_ghostscript(tmp_path, fake_gs):
    path = tmp_path / "holiday.jpg"
    path.write_bytes(EPS)
    check = images.check_image(path)
    assert not check.ok and check.reason.startswith("EPS files are not accepted"), check
    for open_it in (
        images.open_rgb,
        lambda p: images.load_image(p, 32),
        images.open_image,
        lambda p: images._pillow_rgb(p.read_bytes()),
    ):
        with pytest.raises(images.BadImageError, match="EPS files are not accepted"):
            open_it(path)
    # the pictures: the image's place says why it is not shown, the other images are still drawn
    good = tmp_path / "good.jpg"
    Image.new("RGB", (40, 30), "red").save(good)
    figure = visualization.caption_grid([path, good], ["a caption", "another"], [["a reference"], ["one more"]])
    assert [len(axis.images) for axis in figure.axes[:2]] == [0, 1]
    assert any(
        "holiday.jpg: EPS files are not accepted" in t.get_text().replace("\n", " ") for t in figure.axes[0].texts
    )
    pair = judgements.JudgedPair(
        "holiday.jpg", "holiday.jpg#0", "a dog", ["a dog runs"], expert_scores=(4, 4, 4), scores={"bleu4": 0.5}
    )
    figure = judgements.disagreement_figure([{"pair": pair, "gap": 1.0}], "bleu4", [path])
    assert not figure.axes[0].images and "EPS files" in figure.axes[0].texts[0].get_text().replace("\n", " ")
    # the feature pipeline: refused from its header, never decoded, counted with its reason
    results = list(
        features.iter_features(
            lambda batch, training=False: np.zeros((len(batch), 4)), [path], "mobilenet_v2", progress=False
        )
    )
    assert results == [(0, None, check.reason)]
    assert not fake_gs.exists(), fake_gs.read_text()


@pytest.mark.parametrize(
    "name, save",
    [
        ("icon.jpg", {"format": "ICO"}),
        ("picture.png", {"format": "PPM"}),
        ("photo.jpg", {"format": "PCX"}),
        ("scan.jpg", {"format": "SGI"}),
        ("frame.png", {"format": "QOI"}),
        ("art.jpg", {"format": "JPEG2000"}),
    ],
)
def test_other_formats_pillow_knows_are_refused_naming_the_format(tmp_path, name, save):
    path = tmp_path / name
    Image.new("RGB", (16, 16), "red").save(path, **save)
    check = images.check_image(path)
    detected = save["format"]
    assert not check.ok and check.reason.startswith(f"{detected} files are not accepted"), check.reason
    with pytest.raises(images.BadImageError, match=f"{name}: {detected} files are not accepted"):
        images.open_rgb(path)


@pytest.mark.parametrize(
    "fmt, options",
    [("JPEG", {}), ("PNG", {}), ("GIF", {}), ("BMP", {}), ("WEBP", {}), ("TIFF", {}), ("MPO", {"save_all": True})],
)
def test_every_allowed_format_is_opened(tmp_path, fmt, options):
    path = tmp_path / f"image.{fmt.lower()}"
    frames = [Image.new("RGB", (32, 24), "blue"), Image.new("RGB", (32, 24), "red")]
    if fmt == "MPO":
        frames[0].save(path, format=fmt, append_images=frames[1:], **options)
    else:
        frames[0].save(path, format=fmt, **options)
    check = images.check_image(path)
    assert check.ok and check.format == fmt and check.format in images.ALLOWED_FORMATS, check
    assert images.open_rgb(path).size == (32, 24)
    assert images.load_image(path, 16).shape == (16, 16, 3)


def _turned_photos(folder):
    """upright.jpg, and the same photo stored turned with EXIF orientation 6 (as a phone does), and
    the turned pixels without the tag (what ignoring the tag would see)."""
    upright = Image.fromarray(photo_array())
    upright.save(folder / "upright.jpg", quality=95)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6: turn 90 degrees clockwise to view
    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = 6
    stored.save(folder / "phone.jpg", quality=95, exif=exif)
    stored.save(folder / "sideways.jpg", quality=95)
    return [folder / "upright.jpg", folder / "phone.jpg", folder / "sideways.jpg"]


def test_exif_orientation_is_honoured_by_pictures_and_load_image(tmp_path):
    upright, phone, sideways = _turned_photos(tmp_path)
    assert images.check_image(phone).orientation == 6 and images.check_image(upright).orientation == 1
    assert images.open_rgb(phone).size == images.open_rgb(upright).size == (451, 300)
    difference = np.abs(np.asarray(images.open_rgb(phone), float) - np.asarray(images.open_rgb(upright), float))
    assert difference.mean() < 3, difference.mean()
    a, b, c = (np.asarray(images.load_image(p, 224)) for p in (upright, phone, sideways))
    assert np.abs(a - b).mean() < 3 < np.abs(a - c).mean(), (np.abs(a - b).mean(), np.abs(a - c).mean())


def test_a_turned_phone_photo_gets_the_features_of_the_upright_photo(tmp_path):
    upright, phone, sideways = _turned_photos(tmp_path)
    cnn = features.build_encoder("mobilenet_v2", "none", seed=0)
    matrix = features.extract_features(cnn, [upright, phone, sideways], "mobilenet_v2", progress=False)
    scale = np.linalg.norm(matrix[0])
    same = np.linalg.norm(matrix[1] - matrix[0]) / scale
    ignored = np.linalg.norm(matrix[2] - matrix[0]) / scale
    assert same < 0.05 and same < ignored / 3, (same, ignored)


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "BMP", "WEBP", "PNG", "JPEG"])
def test_truncated_files_of_every_format_are_a_bad_image_error(tmp_path, fmt):
    buffer = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((120, 160, 3)) * 255).astype("uint8")).save(buffer, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3])
    with pytest.raises(images.BadImageError, match=f"cut.{fmt.lower()}: "):
        images.load_image(path, 32)
    with pytest.raises(images.BadImageError, match=f"cut.{fmt.lower()}: "):
        images.open_rgb(path)


def test_a_damaged_header_of_an_allowed_format_is_not_called_a_refused_format(tmp_path):
    path = tmp_path / "damaged.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x02" + b"junk" * 3)
    check = images.check_image(path)
    assert not check.ok and check.reason.startswith("unreadable image header (it starts like a JPEG file"), check
