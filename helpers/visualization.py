"""Pictures: loss curves and a grid of images with their captions.

Taught in notebooks/08_evaluation_and_visualization.ipynb (the grid) and used in
notebooks/06_training.ipynb (the loss curves).
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def plot_loss_curves(history: dict, baseline_loss: float | None = None, path: str | Path | None = None):
    """Training and validation loss per epoch (and the trivial baseline as a line)."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(history["loss"]) + 1)
    axis.plot(epochs, history["loss"], marker="o", label="training loss")
    if "val_loss" in history:
        axis.plot(epochs, history["val_loss"], marker="o", label="validation loss (dev split)")
    if baseline_loss is not None:
        axis.axhline(baseline_loss, color="gray", linestyle="--", label="baseline: word frequencies only")
    axis.set_xlabel("epoch")
    axis.set_ylabel("cross-entropy (nats per word)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def caption_grid(image_paths: list[str | Path], generated: list[str], references: list[list[str]],
                 path: str | Path | None = None, columns: int = 4, max_references: int = 2):
    """A grid of images, each titled with its generated caption (bold) and some references."""
    import matplotlib.pyplot as plt
    from PIL import Image

    count = len(image_paths)
    rows = max(1, -(-count // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 5.0 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    wrap = lambda text: "\n".join(textwrap.wrap(text, 40))  # noqa: E731
    for axis, image_path, caption, refs in zip(axes.flat, image_paths, generated, references):
        with Image.open(image_path) as image:
            axis.imshow(image.convert("RGB"))
        axis.set_title(wrap("model: " + caption), fontsize=9.5, fontweight="bold", loc="left", color="#0b4f9c")
        distinct = list(dict.fromkeys(refs))[:max_references]
        shown = "\n".join(wrap("human: " + r) for r in distinct)
        axis.text(0, -0.03, shown, transform=axis.transAxes, va="top", fontsize=8.5, color="#333")
    figure.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.08, wspace=0.08, hspace=0.55)
    if path is not None:
        figure.savefig(path, dpi=80)
    return figure
