"""Pictures: loss curves, images with their captions, word use, caption lengths, an explorer.

Taught in notebooks/08_evaluation_and_visualization.ipynb (everything but the
loss curves) and used in notebooks/06_training.ipynb (the loss curves).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

# Pictures notebook 08 writes into the run folder (besides paths.CAPTION_GRID_FILE).
BEST_AND_WORST_FILE = "best_and_worst.png"
WORD_USAGE_FILE = "word_usage.png"
CAPTION_LENGTHS_FILE = "caption_lengths.png"


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
                 path: str | Path | None = None, columns: int = 4, max_references: int = 2,
                 labels: list[str] | None = None, title: str | None = None):
    """A grid of images, each titled with its generated caption (bold) and some references.

    ``labels`` (optional, one per image) are written above each caption, e.g. a score."""
    import matplotlib.pyplot as plt
    from PIL import Image

    count = len(image_paths)
    rows = max(1, -(-count // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 5.0 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    wrap = lambda text: "\n".join(textwrap.wrap(text, 40))  # noqa: E731
    labels = labels or [""] * count
    for axis, image_path, caption, refs, label in zip(axes.flat, image_paths, generated, references, labels):
        with Image.open(image_path) as image:
            axis.imshow(image.convert("RGB"))
        heading = (label + "\n" if label else "") + wrap("model: " + caption)
        axis.set_title(heading, fontsize=9.5, fontweight="bold", loc="left", color="#0b4f9c")
        distinct = list(dict.fromkeys(refs))[:max_references]
        shown = "\n".join(wrap("human: " + r) for r in distinct)
        axis.text(0, -0.03, shown, transform=axis.transAxes, va="top", fontsize=8.5, color="#333")
    if title:
        figure.suptitle(title, fontsize=13, x=0.02, ha="left")
    figure.subplots_adjust(left=0.02, right=0.98, top=0.95 if not title else 0.90, bottom=0.08, wspace=0.08,
                           hspace=0.55)
    if path is not None:
        figure.savefig(path, dpi=80)
    return figure


def best_and_worst_grid(images_dir: str | Path, best: list[str], worst: list[str], generated: dict[str, str],
                        references: dict[str, list[str]], per_image: dict[str, float], metric: str = "CIDEr-D",
                        path: str | Path | None = None):
    """The best captions on the first row, the worst on the second, each labelled with its score."""
    image_ids = list(best) + list(worst)
    labels = [f"{'best' if k < len(best) else 'worst'}: {metric} {per_image[i]:.2f}" for k, i in enumerate(image_ids)]
    return caption_grid([Path(images_dir) / i for i in image_ids], [generated[i] for i in image_ids],
                        [references[i] for i in image_ids], path=path, columns=max(len(best), len(worst), 1),
                        labels=labels, title=f"Best and worst captions by per-image {metric}")


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


def caption_explorer(captioner, feature_table, image_ids: list[str], images_dir: str | Path,
                     references: dict[str, list[str]], *, beam: int = 3):
    """An ipywidgets explorer: pick a test image or upload a photo, see its greedy and beam captions.

    ``captioner`` is a :class:`helpers.captioner.Captioner` (its CNN is only built
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

    from helpers.text import strip_tokens

    images_dir = Path(images_dir)
    picker = widgets.Dropdown(options=list(image_ids), description="test image")
    # width "auto": the button grows to its label (the default width cuts "or upload a photo")
    upload = widgets.FileUpload(accept="image/*", multiple=False, description="or upload a photo",
                                icon="upload", layout=widgets.Layout(width="auto"))
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

        files = change["new"]
        if not files:
            return
        uploaded = files[0]
        data = bytes(uploaded["content"])
        suffix = Path(uploaded["name"]).suffix or ".jpg"
        with tempfile.TemporaryDirectory() as folder:
            photo = Path(folder) / f"upload{suffix}"
            photo.write_bytes(data)
            try:
                row = captioner.features(photo)
            except Exception as error:  # not an image, or the CNN cannot be rebuilt
                with output:
                    clear_output(wait=True)
                    print(f"{uploaded['name']}: {error}")
                return
        show(data, row, f"uploaded: {uploaded['name']}", [])

    picker.observe(on_pick, names="value")
    upload.observe(on_upload, names="value")
    explorer = widgets.VBox([widgets.HBox([picker, upload]), output])
    display(explorer)
    if image_ids:
        on_pick({"new": image_ids[0]})
    return explorer
