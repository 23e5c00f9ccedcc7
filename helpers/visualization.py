"""Pictures: loss curves, images with their captions, word use, caption lengths, an explorer.

Taught in notebooks/08_evaluation_and_visualization.ipynb (everything but the
loss curves) and used in notebooks/06_training.ipynb (the loss curves).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from helpers.images import BadImageError, open_rgb
from helpers.text import strip_tokens


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


# The caption grid's geometry, in inches and points: every caption is wrapped to the width of its column (measured
# in the font, so a line of wide letters or one long word is broken too) and the figure is made as tall as the
# longest caption needs, so nothing runs off the figure (a 40-word caption gets its lines, not the row above).
GRID_COLUMN_INCHES = 3.6
GRID_IMAGE_INCHES = 3.0
GRID_TITLE_SIZE = 9.5
GRID_TEXT_SIZE = 8.5
GRID_LINE_SPACING = 1.25  # line height, in font sizes (matplotlib's default is 1.2)
MAX_CAPTION_LINES = 6  # a longer generated caption ends in "…" (40 words fit)
MAX_REFERENCE_LINES = 3  # per reference


def show_image(axis, image_path: str | Path) -> bool:
    """Draw the image file upright in ``axis`` (:func:`helpers.images.open_rgb`: allowed formats only, EXIF
    orientation applied); a file that cannot be shown gets its reason written in its place instead, so one bad
    photo never stops a picture of many. Returns whether the image was drawn."""
    import textwrap

    try:
        axis.imshow(open_rgb(image_path))
        return True
    except BadImageError as error:
        reason = str(error).removeprefix(f"{image_path}: ")
        axis.text(
            0.5,
            0.5,
            "\n".join(textwrap.wrap(f"{Path(image_path).name}: {reason}", 34)[:8]),
            transform=axis.transAxes,
            ha="center",
            va="center",
            fontsize=8,
            color="#a00",
            parse_math=False,
        )
        axis.set_facecolor("#f3f3f3")
        return False


def _text_width(renderer, text: str, properties) -> float:
    """Width of ``text`` in points, as ``renderer`` draws it in ``properties``."""
    width, _, _ = renderer.get_text_width_height_descent(text, properties, ismath=False)
    return width * 72.0 / renderer.dpi


def wrap_to_width(text: str, width_points: float, measure, max_lines: int | None = None) -> list[str]:
    """Lines of ``text`` no wider than ``width_points`` (``measure(line) -> points``), broken between
    words, and inside a word too long for one line; at most ``max_lines``, the last ending in "…"."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= width_points:
            current = candidate
            continue
        if current:
            lines.append(current)
        while measure(word) > width_points and len(word) > 1:  # a word longer than the line: cut it
            cut = max(1, max(k for k in range(1, len(word) + 1) if k == 1 or measure(word[:k]) <= width_points))
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current or not lines:
        lines.append(current)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and measure(last + "…") > width_points:
            last = last[:-1].rstrip()
        lines[-1] = last + "…"
    return lines


def caption_grid(
    image_paths: list[str | Path],
    generated: list[str],
    references: list[list[str]],
    path: str | Path | None = None,
    columns: int = 4,
    max_references: int = 2,
    labels: list[str] | None = None,
    title: str | None = None,
):
    """A grid of images, each titled with its generated caption (bold) and some references.

    ``labels`` (optional, one per image) are written above each caption, e.g. a score.
    Images are drawn by :func:`show_image` (upright; a file that cannot be shown gets
    its reason in its place). Captions are wrapped to their column's width and
    the figure grows to hold the longest (at most :data:`MAX_CAPTION_LINES` lines per
    generated caption and :data:`MAX_REFERENCE_LINES` per reference), so every text
    stays inside the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties

    count = len(image_paths)
    rows = max(1, -(-count // columns))
    left, right, wspace = 0.02, 0.98, 0.08
    figure, axes = plt.subplots(rows, columns, figsize=(GRID_COLUMN_INCHES * columns, 5.0 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    renderer = figure.canvas.get_renderer()
    column_points = 72.0 * GRID_COLUMN_INCHES * columns * (right - left) / (columns + (columns - 1) * wspace)
    bold = FontProperties(size=GRID_TITLE_SIZE, weight="bold")
    plain = FontProperties(size=GRID_TEXT_SIZE)
    labels = labels or [""] * count
    headings, reference_texts = [], []
    for caption, refs, label in zip(generated, references, labels):
        lines = wrap_to_width(label, column_points, lambda t: _text_width(renderer, t, bold)) if label else []
        lines += wrap_to_width(
            "model: " + caption, column_points, lambda t: _text_width(renderer, t, bold), MAX_CAPTION_LINES
        )
        headings.append(lines)
        shown = [
            line
            for reference in list(dict.fromkeys(refs))[:max_references]
            for line in wrap_to_width(
                "human: " + reference, column_points, lambda t: _text_width(renderer, t, plain), MAX_REFERENCE_LINES
            )
        ]
        reference_texts.append(shown)

    line_inches = lambda size, n: n * size * GRID_LINE_SPACING / 72.0  # noqa: E731
    heading_inches = line_inches(GRID_TITLE_SIZE, max((len(h) for h in headings), default=1)) + 0.12
    reference_inches = line_inches(GRID_TEXT_SIZE, max((len(r) for r in reference_texts), default=0)) + 0.15
    title_inches = 0.5 if title else 0.05
    height = title_inches + rows * (heading_inches + GRID_IMAGE_INCHES + reference_inches) + 0.05
    figure.set_size_inches(GRID_COLUMN_INCHES * columns, height)
    figure.subplots_adjust(
        left=left,
        right=right,
        wspace=wspace,
        top=1 - (title_inches + heading_inches) / height,
        bottom=(reference_inches + 0.05) / height,
        hspace=(heading_inches + reference_inches) / GRID_IMAGE_INCHES,
    )
    for axis, image_path, heading, shown in zip(axes.flat, image_paths, headings, reference_texts):
        # a photo narrower than its column (portrait) would shrink its axes to the middle of the column, and the
        # title, wrapped to the column's width, would start there and run into the next picture's: keep every
        # picture at the top left of its column, where the title starts
        axis.set_anchor("NW")
        show_image(axis, image_path)
        axis.set_title(
            "\n".join(heading),
            fontsize=GRID_TITLE_SIZE,
            fontweight="bold",
            loc="left",
            color="#0b4f9c",
            parse_math=False,
            linespacing=GRID_LINE_SPACING,
        )
        axis.text(
            0,
            -0.02,
            "\n".join(shown),
            transform=axis.transAxes,
            va="top",
            fontsize=GRID_TEXT_SIZE,
            color="#333",
            parse_math=False,
            linespacing=GRID_LINE_SPACING,
        )
    if title:
        figure.suptitle(title, fontsize=13, x=0.02, y=1 - 0.1 / height, ha="left", va="top")
    if path is not None:
        figure.savefig(path, dpi=80)
    return figure


def best_and_worst_grid(
    images_dir: str | Path,
    best: list[str],
    worst: list[str],
    generated: dict[str, str],
    references: dict[str, list[str]],
    per_image: dict[str, float],
    metric: str = "CIDEr-D",
    path: str | Path | None = None,
):
    """The best captions on the first row, the worst on the second, each labelled with its score."""
    image_ids = list(best) + list(worst)
    labels = [f"{'best' if k < len(best) else 'worst'}: {metric} {per_image[i]:.2f}" for k, i in enumerate(image_ids)]
    return caption_grid(
        [Path(images_dir) / i for i in image_ids],
        [generated[i] for i in image_ids],
        [references[i] for i in image_ids],
        path=path,
        columns=max(len(best), len(worst), 1),
        labels=labels,
        title=f"Best and worst captions by per-image {metric}",
    )


def plot_word_usage(distinct_words: dict[str, int], path: str | Path | None = None):
    """Bar chart: how many distinct words each source uses (e.g. references, greedy, beam)."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.2))
    names = list(distinct_words)
    bars = axis.barh(names, [distinct_words[n] for n in names], color=["#888"] + ["#0b4f9c"] * (len(names) - 1))
    axis.bar_label(bars, padding=3)
    axis.invert_yaxis()
    axis.set_xlabel("distinct words used on the test images")
    axis.set_title("Vocabulary actually used", loc="left")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def plot_caption_lengths(lengths: dict[str, list[int]], path: str | Path | None = None):
    """Histograms (one per source, overlaid as steps) of caption lengths in words."""
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axis = plt.subplots(figsize=(6, 3.5))
    longest = max((max(v) for v in lengths.values() if v), default=1)
    shortest = min((min(v) for v in lengths.values() if v), default=0)
    bins = np.arange(shortest, longest + 2) - 0.5
    for name, values in lengths.items():
        mean = f" (mean {np.mean(values):.1f})" if values else ""
        axis.hist(values, bins=bins, density=True, histtype="step", linewidth=2, label=name + mean)
    axis.set_xlabel("caption length (words)")
    axis.set_ylabel("share of captions")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def _live_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


#: Set by :func:`course.runner.run_course` for the kernels it starts: nobody is there to click.
UNATTENDED_VARIABLE = "CAPTIONING_COURSE_UNATTENDED"


def uploaded_files(value) -> list[tuple[str, bytes]]:
    """``[(file name, bytes), ...]`` from a ``FileUpload`` widget's value, whichever ipywidgets made it:
    ipywidgets 8 gives a tuple of dicts (``{"name", "content": memoryview, ...}``); ipywidgets 7 (Colab's) a
    dict keyed by file name, each ``{"metadata": {"name", ...}, "content": bytes}``. Empty when nothing was
    uploaded."""
    if not value:
        return []
    if isinstance(value, Mapping):  # ipywidgets 7
        items = [(str(name), entry) for name, entry in value.items()]
    else:  # ipywidgets 8
        items = [(str(entry.get("name") or entry.get("metadata", {}).get("name", "upload")), entry) for entry in value]
    return [(name, bytes(entry["content"])) for name, entry in items]


def caption_explorer(
    captioner,
    feature_table,
    image_ids: list[str],
    images_dir: str | Path,
    references: dict[str, list[str]],
    *,
    beam: int = 3,
):
    """An ipywidgets explorer: pick a test image or upload a photo, see its greedy and beam captions.

    ``captioner`` is a :class:`course.captioner.Captioner` (its CNN is only built
    when a photo is uploaded). Outside a live Jupyter kernel (plain Python, or
    ipywidgets missing) prints a note and returns None instead of waiting."""
    try:
        import ipywidgets as widgets
        from IPython.display import clear_output, display
    except ImportError:
        print("The caption explorer needs ipywidgets (pip install ipywidgets); skipped.")
        return None
    if not _live_kernel():
        print("The caption explorer needs a live Jupyter kernel (open the notebook in Jupyter); skipped.")
        return None
    if os.environ.get(UNATTENDED_VARIABLE):
        # papermill (python -m helpers run) can wait forever on an Output widget's messages (nbclient);
        # nobody would click anyway
        print(
            "The caption explorer is interactive: open this notebook in Jupyter to use it "
            "(skipped while python -m helpers run executes the notebooks unattended)."
        )
        return None

    images_dir = Path(images_dir)
    picker = widgets.Dropdown(options=list(image_ids), description="test image")
    # width "auto": the button grows to its label (the default width cuts "or upload a photo")
    upload = widgets.FileUpload(
        accept="image/*",
        multiple=False,
        description="or upload a photo",
        icon="upload",
        layout=widgets.Layout(width="auto"),
    )
    output = widgets.Output()

    def show(image_bytes: bytes, feature_row, title: str, refs: list[str]):
        greedy = captioner.caption(feature_row[None], beam=1)[0]
        beamed = captioner.caption(feature_row[None], beam=beam)[0]
        with output:
            clear_output(wait=True)
            display(widgets.Image(value=image_bytes, width=320))
            print(title)
            print(f"  greedy:       {greedy}")
            print(f"  beam, width {beam}: {beamed}")
            for reference in list(dict.fromkeys(strip_tokens(r) for r in refs))[:3]:  # as people wrote them
                print(f"  human:        {reference}")

    def on_pick(change):
        image_id = change["new"]
        show((images_dir / image_id).read_bytes(), feature_table[image_id], image_id, references.get(image_id, []))

    def on_upload(change):
        import tempfile

        files = uploaded_files(change["new"])
        if not files:
            return
        name, data = files[0]
        suffix = Path(name).suffix or ".jpg"
        with tempfile.TemporaryDirectory() as folder:
            photo = Path(folder) / f"upload{suffix}"
            photo.write_bytes(data)
            try:
                row = captioner.features(photo)
            except Exception as error:  # not an image, or the CNN cannot be rebuilt
                with output:
                    clear_output(wait=True)
                    print(f"{name}: {error}")
                return
        show(data, row, f"uploaded: {name}", [])

    picker.observe(on_pick, names="value")
    upload.observe(on_upload, names="value")
    explorer = widgets.VBox([widgets.HBox([picker, upload]), output])
    display(explorer)
    if image_ids:
        on_pick({"new": image_ids[0]})
    return explorer
