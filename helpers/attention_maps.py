"""Where the attention model looks: its maps per word, their plots, and the check against the sample's boxes.

Taught in notebooks/10_visual_attention.ipynb.

On the bundled sample, ``data/sample/boxes.json`` knows every shape's bounding
box, so the attention maps can be *checked*: :func:`box_attention_ratios` measures,
for each generated colour or shape word naming the one shape of an image, the
attention mass inside that shape's box divided by the box's share of the image
(1 = no better than looking everywhere).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from helpers.vocabulary import UNKNOWN_ID, Vocabulary

BOXES_FILE = "boxes.json"  # beside the sample's captions (data/make_sample.py)


# Words of the sample's captions that name a colour or a shape (synonyms included), and what they name.
COLOUR_WORDS = {
    "red": "red",
    "green": "green",
    "blue": "blue",
    "yellow": "yellow",
    "purple": "purple",
    "violet": "purple",
    "orange": "orange",
}


SHAPE_WORDS = {
    "circle": "circle",
    "circles": "circle",
    "disc": "circle",
    "discs": "circle",
    "dot": "circle",
    "dots": "circle",
    "square": "square",
    "squares": "square",
    "box": "square",
    "boxes": "square",
    "triangle": "triangle",
    "triangles": "triangle",
}


def caption_attention(
    map_model, grid: np.ndarray, vocabulary: Vocabulary, captions: list[str], grid_shape: tuple[int, int]
) -> list[tuple[list[str], np.ndarray]]:
    """For each image and its (generated) caption: ``(words, maps)``, where ``words`` is
    the caption's words plus ``endseq`` and ``maps[k]`` ``(H, W)`` the attention the
    model paid while choosing ``words[k]`` (teacher-forced on the caption: the same maps
    as while it wrote it, since position ``t`` sees only the words before)."""
    stop = vocabulary.words[vocabulary.stop_id]
    word_lists = [caption.split() + [stop] for caption in captions]
    length = max(len(w) for w in word_lists)
    rows = np.zeros((len(captions), length), np.int32)
    for row, words in zip(rows, word_lists):
        ids = [vocabulary.start_id] + [vocabulary.index.get(w, UNKNOWN_ID) for w in words[:-1]]
        row[: len(ids)] = ids
    results = []
    for start in range(0, len(captions), 64):
        _, weights = map_model(
            [np.asarray(grid[start : start + 64], np.float32), rows[start : start + 64]], training=False
        )
        weights = np.asarray(weights)
        for k, words in enumerate(word_lists[start : start + 64]):
            results.append((words, weights[k, : len(words)].reshape(len(words), *grid_shape)))
    return results


def average_word_map(attention: list[tuple[list[str], np.ndarray]], word: str) -> tuple[np.ndarray | None, int]:
    """The mean attention map of ``word`` over every time it was generated, and how many times."""
    maps = [maps[k] for words, maps in attention for k, w in enumerate(words) if w == word]
    return (np.mean(maps, axis=0) if maps else None), len(maps)


def plot_caption_attention(
    image_path: str | Path, words: list[str], maps: np.ndarray, *, columns: int = 5, title: str | None = None
):
    """The image once per word, with that word's attention map upsampled (bilinear) and laid over it."""
    import matplotlib.pyplot as plt

    image = plt.imread(image_path)
    rows = -(-len(words) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.5 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    height, width = image.shape[:2]
    for axis, word, attention_map in zip(axes.ravel(), words, maps):
        axis.imshow(image)
        axis.imshow(attention_map, cmap="inferno", alpha=0.55, interpolation="bilinear", extent=(0, width, height, 0))
        axis.set_title(word, fontsize=11)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_average_map(attention_map: np.ndarray, word: str, count: int):
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(3.4, 3))
    shown = axis.imshow(attention_map, cmap="inferno", interpolation="nearest")
    axis.set_title(f"'{word}': mean attention over {count} uses")
    axis.set_xticks([]), axis.set_yticks([])
    figure.colorbar(shown, ax=axis, fraction=0.046)
    return figure


def read_boxes(path: str | Path) -> dict:
    """``boxes.json`` of the sample: ``{"image_size": 128, "boxes": {image id: [{"colour", "shape", "size", "box"}]}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["boxes"], data["image_size"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a boxes file written by data/make_sample.py ({error})") from None
    return data


def box_coverage(box: list[float], image_size: tuple[int, int] | int, grid_shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)``: the fraction of each grid cell covered by ``box`` ``[x0, y0, x1, y1]`` (pixels;
    the grid cuts the whole image into ``H x W`` equal cells, as the resized image reaches the CNN)."""
    image_height, image_width = (image_size, image_size) if np.ndim(image_size) == 0 else image_size
    grid_height, grid_width = grid_shape
    x0, y0, x1, y1 = box

    def overlap(low, high, size, cells):
        edges = np.arange(cells + 1) * size / cells
        return np.clip(np.minimum(edges[1:], high) - np.maximum(edges[:-1], low), 0, None) / (size / cells)

    return np.outer(overlap(y0, y1, image_height, grid_height), overlap(x0, x1, image_width, grid_width))


def box_attention_ratios(attention: dict[str, tuple[list[str], np.ndarray]], boxes: dict) -> list[dict]:
    """For every generated word naming a colour or shape that exactly one shape of the image has:
    ``{"image", "word", "mass", "share", "ratio"}`` — ``mass``: the attention inside that shape's box
    (each cell weighted by the fraction of it the box covers), ``share``: the box's share of the grid,
    ``ratio = mass / share`` (1: no better than attending uniformly)."""
    records = []
    for image_id, (words, maps) in attention.items():
        shapes = boxes["boxes"].get(image_id)
        if not shapes:
            continue
        for word, attention_map in zip(words, maps):
            if word in COLOUR_WORDS:
                matching = [s for s in shapes if s["colour"] == COLOUR_WORDS[word]]
            elif word in SHAPE_WORDS:
                matching = [s for s in shapes if s["shape"] == SHAPE_WORDS[word]]
            else:
                continue
            if len(matching) != 1:
                continue
            coverage = box_coverage(matching[0]["box"], boxes["image_size"], attention_map.shape)
            mass = float((attention_map * coverage).sum() / attention_map.sum())
            share = float(coverage.sum() / coverage.size)
            records.append({"image": image_id, "word": word, "mass": mass, "share": share, "ratio": mass / share})
    return records
