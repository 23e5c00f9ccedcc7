"""Reading images: every bad kind is refused with its reason; odd formats come out as correct RGB."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from course import feature_cache
from helpers import features, images

RNG = np.random.default_rng(0)


def photo(height=64, width=64):
    """A smooth photo-like image (JPEG round trips stay close)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + 60], -1).astype("uint8")


def write_png16(path, array16):
    """A 16-bit-per-channel RGB PNG (Pillow cannot write these), by the PNG specification."""
    height, width, _ = array16.shape
    raw = b"".join(b"\x00" + array16[row].astype(">u2").tobytes() for row in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def make_bad_images(folder):
    """Each kind of bad image the issue names, plus a missing file; name -> expected words of the reason."""
    good = folder / "good.jpg"
    Image.fromarray((RNG.random((200, 240, 3)) * 255).astype("uint8")).save(good, quality=90)
    data = good.read_bytes()  # cut in the compressed data: the header is fine, decoding fails
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "zero_bytes.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a picture\n")
    Image.new("1", (10_000, 10_000)).save(folder / "huge.png")  # 100 megapixels, a small file
    return {
        "truncated.jpg": "cannot be decoded",
        "zero_bytes.jpg": "empty file",
        "text.jpg": "not an image file",
        "huge.png": "100,000,000 pixels is over the limit",
        "missing.jpg": "file not found",
    }


def test_each_bad_image_kind_is_skipped_with_its_reason_and_counted(tmp_path, caplog):
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    expected = make_bad_images(images_dir)
    ids = ["good.jpg", *expected]
    weights = features.resolve_weights("mobilenet_v2", "none")
    result = feature_cache.load_or_extract_features(
        tmp_path / "features.npz",
        ids,
        images_dir,
        "mobilenet_v2",
        weights,
        batch_size=4,
        cache_root=tmp_path / "cache",
        seed=0,
        progress=False,
    )
    assert result.complete and result.table.image_ids == ["good.jpg"]
    assert set(result.skipped) == set(expected) and len(result.skipped) == 5
    for image_id, words in expected.items():
        assert words in result.skipped[image_id], (image_id, result.skipped[image_id])
        assert image_id in caplog.text, "each skip is logged"
    saved = features.load_features(tmp_path / "features.npz")
    assert saved.image_ids == ["good.jpg"] and saved.dim == 1280

    again = feature_cache.load_or_extract_features(
        None,
        ids,
        images_dir,
        "mobilenet_v2",
        weights,
        cache_root=tmp_path / "cache",
        seed=0,
        progress=False,
        model=object(),
    )
    assert again.extracted == 0 and again.skipped == result.skipped, "skips are cached with their reasons"


def test_a_huge_image_is_refused_from_its_header_before_decoding(tmp_path, monkeypatch):
    Image.new("1", (10_000, 10_000)).save(tmp_path / "huge.png")
    check = images.check_image(tmp_path / "huge.png")
    assert not check.ok and check.width == 10_000 and "MAX_IMAGE_PIXELS" in check.reason
    import tensorflow as tf

    monkeypatch.setattr(tf.io, "decode_png", lambda *a, **k: pytest.fail("a refused image must not be decoded"))
    with pytest.raises(images.BadImageError, match="huge.png.*over the limit"):
        features.load_image(tmp_path / "huge.png", 224)
    assert images.check_image(tmp_path / "huge.png", max_pixels=10**9).ok, "the limit is a parameter"


def test_extract_features_on_a_bad_image_is_a_clear_error(tmp_path):
    expected = make_bad_images(tmp_path)
    model = features.build_encoder("mobilenet_v2", "none")
    with pytest.raises(images.BadImageError, match="truncated.jpg: cannot be decoded"):
        features.extract_features(
            model, [tmp_path / "good.jpg", tmp_path / "truncated.jpg"], "mobilenet_v2", progress=False
        )
    assert "text.jpg" in expected


def pil_rgb(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float32)


def test_cmyk_jpeg_comes_out_as_the_same_rgb_as_pillow(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(photo()).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    ours = features.load_image(path, 64).numpy()
    assert ours.shape == (64, 64, 3)
    assert np.abs(ours - pil_rgb(path)).mean() < 2.0
    assert np.abs(ours - photo()).mean() < 4.0, "and close to the original colours"


def test_16_bit_pngs_are_scaled_to_0_255_not_clipped(tmp_path):
    gray16 = (RNG.random((64, 64)) * 65535).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode == "I;16"
    ours = features.load_image(tmp_path / "gray16.png", 64).numpy()
    # Pillow's convert("RGB") clips 16-bit grayscale at 255; the right 8-bit value is v / 257.
    assert np.allclose(ours, (gray16 / 257.0)[..., None].repeat(3, -1), atol=0.01)

    rgb16 = (RNG.random((64, 64, 3)) * 65535).astype(np.uint16)
    write_png16(tmp_path / "rgb16.png", rgb16)
    ours = features.load_image(tmp_path / "rgb16.png", 64).numpy()
    assert np.allclose(ours, rgb16 / 257.0, atol=0.01)
    assert np.abs(ours - pil_rgb(tmp_path / "rgb16.png")).max() <= 1.0, "Pillow keeps the high byte: within 1"


@pytest.mark.parametrize(
    "mode,suffix",
    [
        ("L", "jpg"),
        ("L", "png"),
        ("RGBA", "png"),
        ("P", "png"),
        ("LA", "png"),
        ("RGB", "gif"),
        ("RGB", "bmp"),
        ("RGB", "webp"),
    ],
)
def test_other_modes_and_formats_match_pillow(tmp_path, mode, suffix):
    path = tmp_path / f"image.{suffix}"
    image = Image.fromarray(photo()).convert(mode)
    image.save(path, **({"lossless": True} if suffix == "webp" else {}))
    ours = features.load_image(path, 64).numpy()
    tolerance = 6.0 if suffix == "jpg" else 1e-3  # two JPEG decoders may round a few levels apart
    assert np.abs(ours - pil_rgb(path)).max() <= tolerance
