"""Generate the bundled sample dataset: synthetic "shapes" scenes in the Flickr8k layout.

Run from the repository root::

    python data/make_sample.py                 # writes data/sample/
    python data/make_sample.py --out /tmp/s    # somewhere else
    python data/make_sample.py --seed 8        # the default seed

Why synthetic?  The real Flickr8k is ~1 GB and needs a download; this sample is
a few MB, works offline, and its captions are *learnable*: every caption is fully
determined by five visual attributes (count, size, colour, shape, background),
so a CNN feature vector + LSTM decoder can learn it in minutes on a laptop.

What is written (exactly the Flickr8k layout, so one loader reads both)::

    <out>/Flicker8k_Dataset/<id>.jpg      # 128x128 RGB JPEGs ("Flicker": the real typo)
    <out>/Flickr8k.token.txt              # "<id>.jpg#<n>\\t<caption>", n = 0..4
    <out>/Flickr_8k.trainImages.txt       # one "<id>.jpg" per line
    <out>/Flickr_8k.devImages.txt
    <out>/Flickr_8k.testImages.txt
    <out>/boxes.json                      # every shape's bounding box (notebook 10 checks attention with them)

Deterministic: the same seed gives byte-identical text files and images (given
the same Pillow/libjpeg build).  Every random draw comes from a seeded
``random.Random`` or ``numpy.random.default_rng``; nothing depends on the clock,
on dict/set ordering or on the file system.  Generation uses only numpy, Pillow
and the standard library; the final check (best constant caption BLEU-4) also
uses nltk and ``helpers.text.clean_caption``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "sample"
DEFAULT_SEED = 8

IMAGE_SIZE = 128  # final images are IMAGE_SIZE x IMAGE_SIZE RGB
SUPERSAMPLE = 4  # draw 4x larger, then downsample: smooth (anti-aliased) edges
JPEG_QUALITY = 90
NOISE_SIGMA = 3.0  # faint Gaussian pixel noise, so scenes are not perfectly clean

SPLITS = {"train": 360, "dev": 60, "test": 80}  # 500 scenes in all
SPLIT_FILES = {
    "train": "Flickr_8k.trainImages.txt",
    "dev": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
IMAGE_DIR = "Flicker8k_Dataset"  # sic: the real Flickr8k folder has this typo
TOKEN_FILE = "Flickr8k.token.txt"
BOXES_FILE = "boxes.json"  # image file -> its shapes' bounding boxes (not part of Flickr8k's layout)
CAPTIONS_PER_IMAGE = 5

# The five attributes of a scene and their values.
COUNTS = [1, 2, 3]
SIZES = ["small", "large"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle"]
BACKGROUNDS = ["white", "black", "gray"]

# Side length / diameter in pixels (on the 128 px image) of each size class.
# The classes are far apart so a pretrained CNN tells them apart easily.
SIZE_RANGE = {"small": (14, 22), "large": (42, 54)}

# Saturated, well separated RGB colours (each shape gets a small shade jitter).
COLOUR_RGB = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (35, 70, 225),
    "yellow": (245, 215, 20),
    "purple": (145, 45, 190),
    "orange": (250, 135, 15),
}
BACKGROUND_RGB = {"white": (245, 245, 245), "black": (15, 15, 15), "gray": (128, 128, 128)}
SHADE_JITTER = 14  # +- per channel for shapes
BACKGROUND_JITTER = 6  # +- per channel (same for all channels: stays neutral)

EDGE_MARGIN = 3  # px between a shape and the image border
GAP = 5  # px between the bounding boxes of two shapes


@dataclass(frozen=True)
class Scene:
    """The attributes of one image; the captions are written from these alone."""

    image_id: str
    count: int
    size: str
    colour: str
    shape: str
    background: str


# ---------------------------------------------------------------------------
# Attribute sampling: every value, pair of values, ... appears as evenly as possible
# ---------------------------------------------------------------------------

ATTRIBUTES = (COUNTS, SIZES, COLOURS, SHAPES, BACKGROUNDS)


def spread_combinations(n: int, rng: random.Random) -> list[tuple]:
    """``n`` attribute combinations ``(count, size, colour, shape, background)``
    spread as evenly as possible.

    There are 3 * 2 * 6 * 3 * 3 = 324 combinations.  They are visited in a
    shuffled order, and each step takes the first one that (1) has been used
    the fewest times itself and (2) whose values are the least used so far,
    counting every single value, every pair of values, every triple ... (all
    31 projections of the 5 attributes).  So no combination repeats before
    all have been used, each value appears evenly, and no pair like (yellow,
    circle) clumps by chance.  Clumps matter: a split with
    five "three large yellow circles" would let a model that ignores the
    picture score well by always predicting that caption."""
    combos = list(itertools.product(*ATTRIBUTES))
    rng.shuffle(combos)
    subsets = [s for r in range(1, len(ATTRIBUTES) + 1) for s in itertools.combinations(range(len(ATTRIBUTES)), r)]
    keys = {c: [(s, tuple(c[i] for i in s)) for s in subsets] for c in combos}
    used: Counter = Counter()  # (attribute indices, values) -> times used
    chosen = []

    def cost(combo: tuple) -> tuple[int, int]:
        return used[keys[combo][-1]], sum(used[k] for k in keys[combo])  # keys[-1]: the whole combination

    for _ in range(n):
        # min() keeps the first of equal costs: ties are broken by the shuffled order.
        best = min(combos, key=cost)
        used.update(keys[best])
        chosen.append(best)
    rng.shuffle(chosen)
    return chosen


def make_scenes(seed: int) -> dict[str, list[Scene]]:
    """The scenes of each split, with ids ``shapes_0000`` ... ``shapes_0499``.

    Each split is spread on its own (see :func:`spread_combinations`): train
    (360 scenes) holds every one of the 324 combinations at least once; dev
    and test (60 and 80) hold distinct combinations with even values."""
    rng = random.Random(f"scenes-{seed}")
    scenes: dict[str, list[Scene]] = {}
    ids = [f"shapes_{i:04d}" for i in range(sum(SPLITS.values()))]
    rng.shuffle(ids)  # which id lands in which split is random too
    start = 0
    for split, n in SPLITS.items():
        split_ids = sorted(ids[start : start + n])
        start += n
        scenes[split] = [Scene(image_id, *combo) for image_id, combo in zip(split_ids, spread_combinations(n, rng))]
    return scenes


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


def place_boxes(sizes: list[int], rng: random.Random) -> list[tuple[int, int, int]]:
    """Random non-overlapping square boxes ``(x, y, side)`` for the given sides.

    Rejection sampling; if it keeps failing (three large shapes are a tight
    fit), shrink every side by one pixel, never below its size class minimum."""
    sizes = list(sizes)
    while True:
        for _ in range(2000):
            boxes: list[tuple[int, int, int]] = []
            for side in sizes:
                x = rng.randint(EDGE_MARGIN, IMAGE_SIZE - EDGE_MARGIN - side)
                y = rng.randint(EDGE_MARGIN, IMAGE_SIZE - EDGE_MARGIN - side)
                if all(
                    x + side + GAP <= bx or bx + bs + GAP <= x or y + side + GAP <= by or by + bs + GAP <= y
                    for bx, by, bs in boxes
                ):
                    boxes.append((x, y, side))
                else:
                    break
            if len(boxes) == len(sizes):
                return boxes
        sizes = [
            max(s - 1, SIZE_RANGE["large"][0] if s >= SIZE_RANGE["large"][0] else SIZE_RANGE["small"][0]) for s in sizes
        ]


def jitter(rgb: tuple[int, int, int], amount: int, rng: random.Random) -> tuple[int, int, int]:
    """Shift each channel by up to ``amount`` (clipped to 0..255)."""
    return tuple(min(255, max(0, c + rng.randint(-amount, amount))) for c in rgb)


def draw_scene(scene: Scene, seed: int) -> Image.Image:
    """Render one scene as a 128x128 RGB image."""
    return draw_scene_with_boxes(scene, seed)[0]


def draw_scene_with_boxes(scene: Scene, seed: int) -> tuple[Image.Image, list[list[int]]]:
    """Render one scene; also return each shape's bounding box ``[x0, y0, x1, y1]``
    in pixels of the 128x128 image (``x1``, ``y1`` exclusive), in drawing order.

    The boxes come from the same random draws as the picture: recording them
    changes no pixel of the image."""
    # One generator per image (seeded by the image id): an image does not
    # depend on the order in which images are drawn.
    rng = random.Random(f"image-{seed}-{scene.image_id}")
    shift = rng.randint(-BACKGROUND_JITTER, BACKGROUND_JITTER)
    background = tuple(min(255, max(0, c + shift)) for c in BACKGROUND_RGB[scene.background])

    big = IMAGE_SIZE * SUPERSAMPLE
    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)

    low, high = SIZE_RANGE[scene.size]
    sides = [rng.randint(low, high) for _ in range(scene.count)]
    boxes = []
    for x, y, side in place_boxes(sides, rng):
        boxes.append([x, y, x + side, y + side])
        fill = jitter(COLOUR_RGB[scene.colour], SHADE_JITTER, rng)
        # Box corners on the supersampled canvas.
        x0, y0, x1, y1 = (v * SUPERSAMPLE for v in (x, y, x + side, y + side))
        if scene.shape == "circle":
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif scene.shape == "square":
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:  # triangle filling the box, apex up or (less often) down
            mid = (x0 + x1) / 2
            if rng.random() < 0.75:
                points = [(mid, y0), (x1, y1), (x0, y1)]
            else:
                points = [(x0, y0), (x1, y0), (mid, y1)]
            draw.polygon(points, fill=fill)

    image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)

    # Faint Gaussian noise from a numpy generator seeded by the seed and the image number.
    noise_rng = np.random.default_rng([seed, int(scene.image_id.split("_")[1])])
    pixels = np.asarray(image, dtype=np.float32)
    pixels += noise_rng.normal(0.0, NOISE_SIGMA, size=pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB"), boxes


# ---------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------

COUNT_WORDS = {1: "one", 2: "two", 3: "three"}

# Synonyms used by the free-style captions (#2-#4).  The canonical captions
# (#0, #1) always use the first word of each list.
SIZE_SYNONYMS = {"small": ["small", "little", "tiny"], "large": ["large", "big"]}
COLOUR_SYNONYMS = {c: [c] for c in COLOURS} | {"purple": ["purple", "violet"]}
BACKGROUND_SYNONYMS = {"white": ["white"], "black": ["black"], "gray": ["gray", "grey"]}
SHAPE_SYNONYMS = {  # (singular, plural); "dot" only fits small circles
    ("circle", "small"): [("circle", "circles"), ("disc", "discs"), ("dot", "dots")],
    ("circle", "large"): [("circle", "circles"), ("disc", "discs")],
    ("square", "small"): [("square", "squares"), ("box", "boxes")],
    ("square", "large"): [("square", "squares"), ("box", "boxes")],
    ("triangle", "small"): [("triangle", "triangles")],
    ("triangle", "large"): [("triangle", "triangles")],
}


def canonical_caption(scene: Scene) -> str:
    """``"Two small red circles on a black background."``: the dominant phrasing."""
    noun = scene.shape if scene.count == 1 else scene.shape + "s"
    return f"{COUNT_WORDS[scene.count].capitalize()} {scene.size} {scene.colour} {noun} on a {scene.background} background."


def surface_variant(caption: str, rng: random.Random) -> str:
    """The same caption with a different surface form only: case, spacing,
    trailing punctuation or a stray symbol.  It cleans to the same text."""
    body = caption.rstrip(".")
    variants = [
        body.lower(),  # no capital, no full stop
        body + "!",
        body + "...",
        body.lower() + " .",
        body.replace(" on a ", " on  a ") + ".",  # a double space
        body.upper() + ".",
        "- " + body + " -",
        body + " !!",
    ]
    return rng.choice(variants)


def count_phrase(count: int, rng: random.Random, allow_digit: bool = True) -> str:
    """How a person might say the count: a word, a digit, "a single" ..."""
    options = {
        1: ["one", "a", "a single", "just one", "1"],
        2: ["two", "two", "a pair of", "2"],
        3: ["three", "three", "3"],
    }[count]
    if not allow_digit:
        options = [o for o in options if not o.isdigit()]
    return rng.choice(options)


def free_captions(scene: Scene, rng: random.Random, n: int = 3) -> list[str]:
    """``n`` captions in varied, human-like styles, all true to the scene.

    Each template is a function of the picked words; ``n`` different templates
    are used per image."""
    one = scene.count == 1

    def words() -> dict[str, str]:
        # Fresh synonym picks for every caption.
        singular, plural = rng.choice(SHAPE_SYNONYMS[(scene.shape, scene.size)])
        cnt = count_phrase(scene.count, rng)
        return {
            "cnt": cnt,
            "word": COUNT_WORDS[scene.count],
            "size": rng.choice(SIZE_SYNONYMS[scene.size]),
            "col": rng.choice(COLOUR_SYNONYMS[scene.colour]),
            "shape": singular if one else plural,
            "bg": rng.choice(BACKGROUND_SYNONYMS[scene.background]),
            "pic": rng.choice(["A picture", "An image", "A photo", "Picture", "Drawing"]),
            "be": "is" if one or cnt == "a pair of" else "are",
        }

    def cap(text: str) -> str:
        return text[0].upper() + text[1:]

    templates = [
        lambda w: f"A {w['bg']} background with {w['cnt']} {w['size']} {w['col']} {w['shape']}",
        lambda w: f"There {w['be']} {w['cnt']} {w['col']} {w['shape']} on the {w['bg']} background",
        lambda w: (
            f"{cap(w['col'])} {w['shape']} (just one), {w['size']}, on {w['bg']}!"
            if one
            else f"{cap(w['col'])} {w['shape']} ({w['word']} of them), {w['size']}, on {w['bg']}!"
        ),
        lambda w: f"{w['pic']} of {w['cnt']} {w['size']} {w['col']} {w['shape']} against a {w['bg']} backdrop.",
        lambda w: f"I think {w['cnt']} {w['size']} {w['col']} {w['shape']}, {w['bg']} background",
        lambda w: f"Simple drawing: {w['cnt']} {w['col']} {w['shape']}, {w['size']}, on {w['bg']}.",
        lambda w: f"* {w['cnt']} {w['size']} {w['col']} {w['shape']} @ {w['bg']} bg *",
        lambda w: (
            f"The {w['shape']} is {w['col']} & {w['size']}; the background is {w['bg']}"
            if one
            else f"The {w['word']} {w['shape']} are {w['col']} & {w['size']}; the background is {w['bg']}"
        ),
        lambda w: f"On a {w['bg'].upper()} background: {w['cnt']} {w['size']} {w['col']} {w['shape']}.",
        lambda w: f"{cap(w['cnt'])} {w['col']} {w['shape']} ({w['size']}) sitting on {w['bg']} :-)",
        lambda w: f"{w['bg']} backdrop, {w['cnt']} {w['size']} {w['col'].upper()} {w['shape']} #shapes",
        lambda w: f"{cap(w['size'])} {w['col']} {w['shape']} x{scene.count} on plain {w['bg']}",
    ]
    chosen = rng.sample(range(len(templates)), n)
    # "a orange circle" -> "an orange circle"
    return [re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", templates[i](words())) for i in chosen]


def captions_for(scene: Scene, seed: int) -> list[str]:
    """The five captions of a scene: #0 and #1 canonical, #2-#4 free style."""
    rng = random.Random(f"captions-{seed}-{scene.image_id}")
    canonical = canonical_caption(scene)
    return [canonical, surface_variant(canonical, rng), *free_captions(scene, rng)]


# ---------------------------------------------------------------------------
# Writing the dataset
# ---------------------------------------------------------------------------


def write_boxes(path: Path, boxes: dict[str, list[dict]]) -> None:
    """``boxes.json``: ``{"image_size": 128, "boxes": {"<id>.jpg": [{"colour", "shape",
    "size", "box": [x0, y0, x1, y1]}, ...]}}`` in pixels, one shape a line (stable bytes)."""
    lines = [f'{{"image_size": {IMAGE_SIZE}, "boxes": {{']
    items = sorted(boxes.items())
    for n, (image, shapes) in enumerate(items):
        entries = ", ".join(json.dumps(shape, sort_keys=True) for shape in shapes)
        lines.append(f"  {json.dumps(image)}: [{entries}]" + ("," if n < len(items) - 1 else ""))
    lines.append("}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def write_dataset(out: Path, seed: int) -> dict[str, list[Scene]]:
    """Generate everything into a temporary folder next to ``out``, then swap it in."""
    scenes = make_scenes(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-tmp-", dir=out.parent))
    try:
        (tmp / IMAGE_DIR).mkdir()
        all_scenes = sorted((s for split in scenes.values() for s in split), key=lambda s: s.image_id)
        token_lines = []
        boxes = {}
        for scene in all_scenes:
            image, scene_boxes = draw_scene_with_boxes(scene, seed)
            boxes[f"{scene.image_id}.jpg"] = [
                {"colour": scene.colour, "shape": scene.shape, "size": scene.size, "box": box} for box in scene_boxes
            ]
            image.save(tmp / IMAGE_DIR / f"{scene.image_id}.jpg", "JPEG", quality=JPEG_QUALITY, optimize=False)
            for n, caption in enumerate(captions_for(scene, seed)):
                token_lines.append(f"{scene.image_id}.jpg#{n}\t{caption}\n")
        (tmp / TOKEN_FILE).write_text("".join(token_lines), encoding="utf-8", newline="\n")
        write_boxes(tmp / BOXES_FILE, boxes)
        for split, filename in SPLIT_FILES.items():
            lines = "".join(f"{s.image_id}.jpg\n" for s in scenes[split])
            (tmp / filename).write_text(lines, encoding="utf-8", newline="\n")
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0o700
        # Swap: remove the old output, move the new one into place.
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return scenes


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def read_cleaned(out: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(cleaned captions by image file, image files by split), read back from disk."""
    sys.path.insert(0, str(REPO_ROOT))
    from helpers.text import clean_caption

    captions: dict[str, list[str]] = {}
    for line in (out / TOKEN_FILE).read_text(encoding="utf-8").splitlines():
        key, caption = line.split("\t", 1)
        captions.setdefault(key.split("#")[0], []).append(clean_caption(caption))
    splits = {split: (out / f).read_text(encoding="utf-8").split() for split, f in SPLIT_FILES.items()}
    return captions, splits


def best_constant_caption(captions: dict[str, list[str]], train: list[str], test: list[str]) -> tuple[str, float]:
    """The cleaned training caption that scores the highest corpus BLEU-4 when
    used as the prediction for *every* test image, and that score.

    A low value means a model cannot do well by ignoring the picture. The
    computation is the course's own (``helpers.evaluation.best_constant_caption``),
    so notebook 08 and this check agree."""
    sys.path.insert(0, str(REPO_ROOT))
    from helpers.evaluation import best_constant_caption as best_constant

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns when an n-gram order has no match
        return best_constant(
            [c for image in train for c in captions[image]], {image: captions[image] for image in test}
        )


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    out = args.out.resolve()

    write_dataset(out, args.seed)
    captions, splits = read_cleaned(out)

    # Sanity checks of the layout.
    assert all(len(c) == CAPTIONS_PER_IMAGE for c in captions.values())
    assert sum(len(s) for s in splits.values()) == len(set().union(*map(set, splits.values()))) == len(captions)
    assert all(c[0] == c[1] for c in captions.values()), "captions #0 and #1 must clean to the same text"

    cleaned = [c for cs in captions.values() for c in cs]
    lengths = [len(c.split()) for c in cleaned]
    vocabulary = {w for c in cleaned for w in c.split()}
    caption, score = best_constant_caption(captions, splits["train"], splits["test"])

    print(f"written to          {out}")
    print(f"images              {len(captions)} ({', '.join(f'{k} {len(v)}' for k, v in splits.items())})")
    print(f"captions            {len(cleaned)} ({len(set(cleaned))} distinct after cleaning)")
    print(f"vocabulary          {len(vocabulary)} words after cleaning")
    print(f"cleaned length      min {min(lengths)}, mean {sum(lengths) / len(lengths):.1f}, max {max(lengths)} words")
    print(f"folder size         {folder_size(out) / 1e6:.2f} MB")
    print(f"best constant caption (BLEU-4 on test): {score:.4f}  {caption!r}")
    if score > 0.2:
        sys.exit("best constant caption scores above 0.2: the sample is too easy to game")


if __name__ == "__main__":
    main()
