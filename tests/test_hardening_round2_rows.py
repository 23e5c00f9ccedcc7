"""Issue 27, hardening round two, rows 7, 12 and 13: zip extraction merges into the user's folders and checks the
space before decompressing; a PNG's late EXIF is read the same way by the check and the pictures; an absurdly long
training caption is cut rather than setting ``max_length``. In-process and fast."""

import io
import shutil
import struct
import zipfile
import zlib
from collections import namedtuple

import numpy as np
import pytest

from course.safe_zip import safe_extract_zip
from course.transfer import DownloadError
from helpers import images, text, training
from helpers.vocabulary import Vocabulary

# --- row 13: a 10,000-word caption is cut, not padded to ---------------------------------------------------------


def test_a_10000_word_caption_is_cut_with_a_count_and_max_length_stays_small(capsys):
    table = {"train": {"a.jpg": ["dog runs", " ".join(["dog"] * 10_000)]}, "test": {"b.jpg": ["cat sits"]}}
    assert text.cut_long_captions(table) == 1
    assert f"1 captions longer than {text.MAX_CAPTION_WORDS} words were cut" in capsys.readouterr().out
    assert table["train"]["a.jpg"] == ["dog runs", " ".join(["dog"] * text.MAX_CAPTION_WORDS)]
    for split_table in table.values():
        for image_id, captions in split_table.items():
            split_table[image_id] = [text.add_start_stop(c) for c in captions]
    max_length = training.max_caption_length(table["train"])
    assert max_length == text.MAX_CAPTION_WORDS + 2
    vocabulary = Vocabulary.build([c for cs in table["train"].values() for c in cs], min_count=1)
    _, sequences = training.encode_captions(table["train"], vocabulary, max_length)
    assert sequences.shape == (2, text.MAX_CAPTION_WORDS + 2)
    assert text.cut_long_captions(table) == 0  # re-running the cell: nothing more is cut


def test_normal_captions_are_left_exactly_as_they_were(capsys):
    captions = ["startseq dog runs endseq", "two dogs play", " ".join(["word"] * text.MAX_CAPTION_WORDS)]
    table = {"train": {"a.jpg": list(captions)}}
    assert text.cut_long_captions(table) == 0
    assert table == {"train": {"a.jpg": captions}}
    assert capsys.readouterr().out == ""


# --- row 12: a PNG whose eXIf chunk follows the pixels -------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def exif_orientation_6() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = 6
    return exif.tobytes().removeprefix(b"Exif\x00\x00")  # a PNG's eXIf chunk holds the bare TIFF structure


def sideways_png(path, exif_after_pixels: bool):
    from PIL import Image

    pixels = np.zeros((2, 4, 3), np.uint8)
    pixels[0, 0] = (255, 0, 0)  # one red corner: where it ends up tells whether the image was turned
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert data.endswith(png_chunk(b"IEND", b""))
    chunk = png_chunk(b"eXIf", exif_orientation_6())
    if exif_after_pixels:  # after IDAT, just before IEND: Pillow meets it only once the pixels are decoded
        data = data[: -len(png_chunk(b"IEND", b""))] + chunk + png_chunk(b"IEND", b"")
    else:  # right after IHDR (8-byte signature + 25-byte IHDR chunk): in the header
        data = data[:33] + chunk + data[33:]
    path.write_bytes(data)
    return pixels


@pytest.mark.parametrize("exif_after_pixels", [True, False], ids=["exif-after-pixels", "exif-in-header"])
def test_check_image_and_open_rgb_agree_on_a_png_orientation(exif_after_pixels, tmp_path):
    from PIL import Image

    path = tmp_path / "sideways.png"
    pixels = sideways_png(path, exif_after_pixels)
    with Image.open(path) as opened:  # the file really says 6, once Pillow has read it all
        opened.load()
        assert opened.getexif().get(images.ORIENTATION_TAG) == 6

    check = images.check_image(path)
    assert check.ok
    picture = np.asarray(images.open_rgb(path))
    decoded = images._pillow_rgb(path.read_bytes())
    if check.orientation == 1:
        assert exif_after_pixels
        assert picture.shape == (2, 4, 3) and (picture == pixels).all()
    else:
        assert check.orientation == 6 and not exif_after_pixels and check.route == images.PILLOW
        assert picture.shape == (4, 2, 3) and (picture == np.rot90(pixels, -1)).all()
    assert (decoded == picture).all()  # the pipeline's Pillow decoder turns it the same way


# --- row 7: extraction merges into the user's folders, space checked first ------------------------------------------


def make_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_extraction_merges_into_folders_holding_the_users_files(tmp_path):
    target = tmp_path / "data"
    (target / "downloads").mkdir(parents=True)
    (target / "mynotes").mkdir()
    (target / "downloads" / "Flickr8k_Dataset.zip").write_bytes(b"the user's archive")
    (target / "mynotes" / "ideas.txt").write_text("mine")
    (target / "mynotes" / "shared.txt").write_text("old")
    archive = make_zip(
        tmp_path / "a.zip",
        {"downloads/readme.txt": b"new", "mynotes/shared.txt": b"from the archive", "mynotes/sub/x.txt": b"x"},
    )
    extracted = safe_extract_zip(archive, target)
    assert sorted(p.relative_to(target).as_posix() for p in extracted) == [
        "downloads/readme.txt",
        "mynotes/shared.txt",
        "mynotes/sub/x.txt",
    ]
    assert (target / "downloads" / "Flickr8k_Dataset.zip").read_bytes() == b"the user's archive"
    assert (target / "mynotes" / "ideas.txt").read_text() == "mine"
    assert (target / "mynotes" / "shared.txt").read_text() == "from the archive"
    assert not list(target.glob(".extracting-*"))


def test_a_clash_with_the_users_entries_is_refused_and_nothing_is_moved(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "mynotes").write_text("a file where the archive wants a folder")
    (target / "report").mkdir()
    (target / "report" / "mine.txt").write_text("mine")
    for members, named in [
        ({"a.txt": b"a", "mynotes/new.txt": b"n"}, "mynotes"),
        ({"a.txt": b"a", "report": b"a file where the user has a folder"}, "report"),
    ]:
        with pytest.raises(DownloadError, match=f"Refusing to extract.*{named}"):
            safe_extract_zip(make_zip(tmp_path / "a.zip", members), target)
        assert not (target / "a.txt").exists()
        assert (target / "mynotes").read_text() == "a file where the archive wants a folder"
        assert (target / "report" / "mine.txt").read_text() == "mine"
        assert not list(target.glob(".extracting-*"))


def test_free_space_is_checked_from_declared_sizes_before_decompressing(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "big.zip", {"zeros.bin": bytes(10**6)})
    assert archive.stat().st_size < 10**4  # the declared size is what says it will not fit
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: opened.append(a) or real_open(self, *a, **k))
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(DownloadError, match="Not enough free disk space"):
        safe_extract_zip(archive, tmp_path / "out")
    assert opened == [] and not (tmp_path / "out").exists()
