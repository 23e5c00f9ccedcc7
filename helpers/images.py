"""Reading image files for the CNN: a cheap header check, then decoding inside ``tf.data``.

Taught in notebooks/03_feature_extraction.ipynb (section "Bad images").

Two steps, so that one bad file never kills a run over thousands and no image
is decoded twice:

1. :func:`check_image` opens only the file's *header* with Pillow (a few
   kilobytes, no pixel decoding). It refuses missing and empty files, files
   that are not images (a text file named ``.jpg``), and images with more than
   :data:`MAX_IMAGE_PIXELS` pixels (a 10,000 x 10,000 image is refused here,
   before anything allocates memory for it). It also picks the decoder.
2. :func:`decode_image` decodes in the TensorFlow graph (so ``tf.data`` runs it
   in parallel with the CNN): JPEG with ``tf.io.decode_jpeg`` (grayscale and
   CMYK JPEGs come out as RGB), PNG with ``tf.io.decode_png`` (16-bit PNGs are
   decoded at 16 bits and scaled to 0-255, not clipped; grayscale, palette and
   RGBA come out as RGB, alpha dropped like Pillow's ``convert("RGB")``); any other
   format Pillow can read (GIF, BMP, WebP, TIFF) through Pillow. A file whose
   header is fine but whose data is broken (a truncated JPEG) fails here; the
   pipeline drops it and reports which file and why
   (see :func:`helpers.features.iter_features`).

**Only an allow-list of formats is ever opened** (:data:`ALLOWED_FORMATS`: JPEG,
PNG, GIF, BMP, WebP, TIFF, MPO). Pillow recognises dozens more, some through
outside programs (an EPS/PostScript file goes to Ghostscript, a code-execution
risk on a hostile file named ``photo.jpg``); those are refused from their first
bytes with their detected format named, before any plugin parses them. Every
image the course opens goes through this module: the pipeline, the pictures
(:func:`open_rgb`), the judgement figures and the ``caption`` command.

**EXIF orientation is honoured** (a phone photo stored sideways with orientation
6 is turned upright, as every photo viewer shows it): :func:`check_image` reads
the orientation from the header and sends a turned JPEG to the Pillow decoder,
which turns it; :func:`open_rgb` does the same for pictures. Both read the orientation
with :func:`orientation` from the freshly opened header and turn with :func:`turned_upright`,
so the check, the pipeline and the pictures always agree (a PNG whose ``eXIf`` chunk comes
after the pixels counts as upright in all three: reading that chunk means decoding first).
"""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Largest image accepted, in pixels (width x height): 40 megapixels, more than any
#: photo in Flickr8k/30k or COCO (at most 640 x 640) and than a 36-megapixel camera.
#: Larger files are refused from their header, before decoding: a 10,000 x 10,000
#: image would need 300 MB as bytes and 1.2 GB as floats.
MAX_IMAGE_PIXELS = 40_000_000

#: Largest image file accepted, in bytes (fifty mebibytes, far above any camera's JPEG). Checked from the
#: file's size before a byte is read: a small JPEG followed by a huge run of zeros passes the pixel check.
MAX_IMAGE_BYTES = 50 * 2**20

# Which decoder an image goes to.
JPEG, PNG, PNG16, PILLOW = 0, 1, 2, 3
_FORMAT_ROUTE = {"JPEG": JPEG, "MPO": JPEG, "PNG": PNG}

#: The only image formats the course opens (Pillow's names). MPO (a camera's multi-picture
#: JPEG) is opened by Pillow's JPEG plugin. Everything else is refused, named, unopened.
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "MPO")
_PILLOW_PLUGINS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")  # what Image.open(formats=...) takes

#: The EXIF tag of the orientation (1 = upright; 2-8 = mirrored and/or turned).
ORIENTATION_TAG = 0x0112


class BadImageError(ValueError):
    """An image file that cannot be used; the message names the file and the problem."""


def detected_format(start: bytes) -> str | None:
    """The format Pillow would take a file starting with ``start`` for, from the plugins'
    signature checks alone (no plugin opens the file). ``None`` when none recognises it."""
    from PIL import Image

    Image.init()
    for name, (_factory, accept) in Image.OPEN.items():
        try:
            if accept is not None and accept(start) is True:
                return name
        except Exception:  # a signature check that cannot cope with these bytes
            continue
    return None


def _refusal(handle) -> str:
    """The reason a file no allowed plugin opens is refused, naming its detected format."""
    handle.seek(0)
    start = handle.read(64)
    name = detected_format(start)
    if name in ALLOWED_FORMATS:  # its signature says JPEG (say), but the JPEG plugin could not parse the header
        return f"unreadable image header (it starts like a {name} file, but the header is damaged)"
    if name is not None:
        return f"{name} files are not accepted (only {', '.join(ALLOWED_FORMATS)}); it was not opened"
    return "not an image file (Pillow does not recognise its format)"  # its bytes are not echoed: it may be a secret


def open_image(source):
    """``PIL.Image.open`` restricted to :data:`ALLOWED_FORMATS` (header only, lazy, like ``Image.open``).

    ``source`` is a path or a binary file object. Any other format, even one
    Pillow could read, raises :class:`BadImageError` naming its detected format
    (and the file); so does a header Pillow cannot parse."""
    from PIL import Image, UnidentifiedImageError

    name = str(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "image")
    try:
        image = Image.open(source, formats=_PILLOW_PLUGINS)
    except UnidentifiedImageError:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as handle:
                raise BadImageError(f"{name}: {_refusal(handle)}") from None
        raise BadImageError(f"{name}: {_refusal(source)}") from None
    if image.format not in ALLOWED_FORMATS:  # a plugin returning another format (cannot happen today)
        image.close()
        raise BadImageError(f"{name}: {image.format} files are not accepted (only {', '.join(ALLOWED_FORMATS)})")
    return image


def orientation(image) -> int:
    """The EXIF orientation of an opened image (1 when it has none), read without decoding pixels."""
    if image.format == "PNG" and "exif" not in image.info:  # PNG keeps eXIf after the pixels: reading it decodes
        return 1
    try:
        value = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # broken EXIF: treat as upright, the pixels may still be fine
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


#: How each EXIF orientation is undone (as ``PIL.ImageOps.exif_transpose`` does); 1 and unknown values: as is.
_UNDO_ORIENTATION = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


def turned_upright(image, turned: int):
    """``image`` turned upright for the EXIF orientation ``turned`` (from :func:`orientation`, read before
    the pixels): a new image, or ``image`` itself when ``turned`` is 1. EXIF met later is not looked at."""
    from PIL import Image

    method = _UNDO_ORIENTATION.get(turned)
    return image if method is None else image.transpose(getattr(Image.Transpose, method))


def open_rgb(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS):
    """An image file as an upright RGB ``PIL.Image`` (for pictures): the allow-list, the pixel limit,
    EXIF orientation applied, first frame. Any problem raises :class:`BadImageError` naming the file."""
    from PIL import Image

    check = check_image(path, max_pixels)
    if not check.ok:
        raise BadImageError(f"{path}: {check.reason}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with open_image(path) as image:
                return turned_upright(image, orientation(image)).convert("RGB")
    except BadImageError:
        raise
    except Exception as error:  # truncated or corrupt data: every decoder error is a BadImageError
        raise BadImageError(f"{path}: cannot be decoded ({type(error).__name__}: {error})") from None


@dataclass(frozen=True)
class ImageCheck:
    """The result of :func:`check_image`: a decoder route, or the reason the file is refused."""

    route: int | None
    reason: str | None
    width: int = 0
    height: int = 0
    format: str = ""
    orientation: int = 1  # EXIF orientation (1: upright); others go to the Pillow decoder, which turns them

    @property
    def ok(self) -> bool:
        return self.reason is None


def check_image(path: str | os.PathLike, max_pixels: int = MAX_IMAGE_PIXELS) -> ImageCheck:
    """Look at the header of ``path`` (no decoding) and say whether and how to decode it."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        return ImageCheck(None, "file not found")
    except (OSError, ValueError) as error:
        return ImageCheck(None, f"cannot read the file ({getattr(error, 'strerror', None) or error})")
    size = status.st_size
    if not stat.S_ISREG(status.st_mode):  # a FIFO or a device (/dev/zero) would block or never end
        return ImageCheck(None, "not a regular file (a device, pipe or folder); refused before reading")
    if size == 0:
        return ImageCheck(None, "empty file (0 bytes)")
    if size > MAX_IMAGE_BYTES:
        return ImageCheck(
            None, f"{size:,} bytes is over the limit of {MAX_IMAGE_BYTES:,} (MAX_IMAGE_BYTES); refused before reading"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with open_image(path) as image:  # reads the header only; allowed formats only
                width, height = image.size
                image_format = image.format or ""
                turned = orientation(image)
    except BadImageError as error:  # not an allowed format: refused from its first bytes
        return ImageCheck(None, str(error).removeprefix(f"{path}: "))
    except UnidentifiedImageError:
        with open(path, "rb") as handle:
            return ImageCheck(None, _refusal(handle))
    except Image.DecompressionBombError as error:
        return ImageCheck(None, f"image too large ({error})")
    except Exception as error:  # a header so broken that Pillow cannot parse it
        return ImageCheck(None, f"unreadable image header ({type(error).__name__}: {error})")
    if width <= 0 or height <= 0:
        return ImageCheck(None, f"image of size {width} x {height}")
    if width * height > max_pixels:
        return ImageCheck(
            None,
            f"{width} x {height} = {width * height:,} pixels is over the limit of {max_pixels:,} "
            f"(MAX_IMAGE_PIXELS); refused before decoding",
            width,
            height,
            image_format,
        )
    route = _FORMAT_ROUTE.get(image_format, PILLOW)
    if route == PNG:
        with open(path, "rb") as handle:
            if handle.read(26)[24:25] == b"\x10":  # the bit depth in the PNG's IHDR chunk
                route = PNG16
    if turned != 1:  # TensorFlow's decoders ignore EXIF: Pillow decodes and turns it upright
        route = PILLOW
    return ImageCheck(route, None, width, height, image_format, turned)


def _pillow_rgb(data: bytes) -> np.ndarray:
    """Decode an image of an allowed format (first frame) to uint8 RGB, turned upright by its EXIF orientation."""
    import io

    data = data.item() if hasattr(data, "item") else data  # a NumPy bytes scalar from tf.numpy_function
    with open_image(io.BytesIO(data)) as opened:
        image = turned_upright(opened, orientation(opened))  # the orientation check_image read, before the pixels
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: scale, do not clip
            array = np.asarray(image, dtype=np.float64)
            peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
            gray = np.clip(np.round(array * 255.0 / peak), 0, 255).astype(np.uint8)
            return np.repeat(gray[..., None], 3, axis=-1)
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def decode_image(data, route: int, image_size: int):
    """Encoded bytes -> float32 RGB ``(image_size, image_size, 3)`` in [0, 255] (a TF graph function).

    ``route`` (a Python int from :func:`check_image`) picks the decoder; the
    pipeline groups files by route so that each ``tf.data`` map holds one decoder
    (a ``tf.switch_case`` between decoders halves the throughput). Resizing is
    bilinear with antialiasing, to a square (the aspect ratio is not kept, as in
    ``keras.utils.load_img(target_size=...)``)."""
    import tensorflow as tf

    if route == JPEG:
        image = tf.cast(tf.io.decode_jpeg(data, channels=3), tf.float32)
    elif route == PNG:
        image = tf.cast(tf.io.decode_png(data, channels=3), tf.float32)
    elif route == PNG16:  # keep the 16-bit precision, then put it on the 0-255 scale (v / 257, as 255 * 257 = 65535)
        image = tf.cast(tf.io.decode_png(data, channels=3, dtype=tf.uint16), tf.float32) / 257.0
    elif route == PILLOW:
        decoded = tf.numpy_function(_pillow_rgb, [data], tf.uint8, stateful=False)
        image = tf.cast(tf.reshape(decoded, tf.stack([tf.shape(decoded)[0], tf.shape(decoded)[1], 3])), tf.float32)
    else:
        raise ValueError(f"unknown decoder route {route!r}")
    image.set_shape([None, None, 3])
    image = tf.image.resize(image, (image_size, image_size), method="bilinear", antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def load_image(path: str | os.PathLike, image_size: int, max_pixels: int = MAX_IMAGE_PIXELS):
    """Read one image file as a float32 RGB tensor ``(size, size, 3)`` in [0, 255].

    The same checks and decoding as the extraction pipeline (so a test of this
    function tests what the course uses); a bad file raises :class:`BadImageError`
    naming the file and the problem."""
    import tensorflow as tf

    check = check_image(path, max_pixels)
    if not check.ok:
        raise BadImageError(f"{path}: {check.reason}")
    try:
        return decode_image(tf.io.read_file(str(path)), check.route, image_size)
    except BadImageError as error:
        raise BadImageError(f"{path}: {str(error).removeprefix('image: ')}") from None
    except Exception as error:  # TensorFlow's decoders and Pillow's (OSError, SyntaxError, ...) alike
        raise BadImageError(f"{path}: {decode_error_message(error)}") from None


def decode_error_message(error: Exception) -> str:
    """A short, readable reason from a TensorFlow decoding error."""
    import re

    message = getattr(error, "message", None) or str(error)
    if not isinstance(error, Exception) or not message:
        return f"cannot be decoded ({type(error).__name__})"
    if not hasattr(error, "message"):  # a Python decoder's own error: keep its type, it says what kind
        message = f"{type(error).__name__}: {message}"
    message = re.sub(r"\{\{[^}]*\}\}\s*", "", message)  # {{function_node ...}}
    message = re.sub(r"\s*\[Op:[^\]]*\]", "", message).strip()
    message = message.splitlines()[0] if message else type(error).__name__
    return f"cannot be decoded ({message})"
