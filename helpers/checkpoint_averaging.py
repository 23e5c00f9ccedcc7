"""The saved model: the average of the weights of the epochs with the lowest dev loss.

Taught in notebooks/06_training.ipynb (used by :func:`helpers.training.train`).

One epoch's weights are one noisy point on the path the optimizer takes; near the bottom of the dev loss the points
of several epochs lie around a better one. Averaging the weights of the ``count`` epochs with the lowest dev loss
("checkpoint averaging", as Vaswani et al. 2017 averaged their last checkpoints; Izmailov et al. 2018 explain why it
helps) gives a model whose captions of real photos scored better on the dev split than the single best epoch's
(measured in docs/results.md). ``count = 1`` keeps the best epoch alone.

While training runs, each epoch that is among the ``count`` best so far has its weights in
``best_epochs/epoch_NNNN.weights.h5`` (written atomically; the ones that drop out are removed), so an interrupted
training that resumes still averages the right epochs; :func:`average_best_epochs` reads them at the end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

BEST_EPOCHS_DIR = "best_epochs"  # inside the run folder while a training runs; removed when it finishes
DEFAULT_AVERAGED_EPOCHS = 5  # the saved model averages the 5 best epochs (chosen on real photos: docs/results.md)


def best_epochs(val_losses, count: int) -> list[int]:
    """The (0-based) epochs with the ``count`` lowest dev losses, lowest first; ties go to the earlier epoch,
    epochs without a finite loss never count."""
    losses = np.asarray(val_losses, dtype=np.float64)
    order = np.argsort(np.where(np.isfinite(losses), losses, np.inf), kind="stable")
    return [int(epoch) for epoch in order[: max(0, count)] if np.isfinite(losses[epoch])]


def weights_file(folder: str | Path, epoch: int) -> Path:
    """Where the weights of (0-based) ``epoch`` are kept."""
    return Path(folder) / f"epoch_{epoch + 1:04d}.weights.h5"


def _epoch_of(path: Path) -> int | None:
    try:
        return int(path.name.split(".")[0].removeprefix("epoch_")) - 1
    except ValueError:
        return None


def keep_best_epoch_weights(model, folder: str | Path, val_losses, count: int) -> None:
    """After an epoch (its loss last in ``val_losses``): save its weights if it is among the ``count`` best so
    far, and remove the files of epochs that no longer are."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keep = set(best_epochs(val_losses, count))
    epoch = len(val_losses) - 1
    if epoch in keep:
        target = weights_file(folder, epoch)
        temporary = target.with_name(f".partial.{target.name}")
        model.save_weights(temporary)
        temporary.replace(target)  # atomic: a file here is always whole
    for path in folder.glob("epoch_*.weights.h5"):
        if _epoch_of(path) not in keep:
            path.unlink()


def average_weights(weight_lists: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The element-wise mean of several models' ``get_weights()`` lists (the same model, other values)."""
    return [np.mean([weights[i] for weights in weight_lists], axis=0) for i in range(len(weight_lists[0]))]


def average_best_epochs(model, folder: str | Path, val_losses, count: int) -> list[int]:
    """Set ``model``'s weights to the average of the kept weights of its ``count`` best epochs (from
    :func:`keep_best_epoch_weights`), remove ``folder``, and return the 0-based epochs averaged (empty when fewer
    than two could be read: ``model`` is then left as it is)."""
    folder = Path(folder)
    epochs = [e for e in best_epochs(val_losses, count) if weights_file(folder, e).exists()]
    averaged: list[int] = []
    if len(epochs) >= 2:
        weight_lists = []
        for epoch in epochs:
            model.load_weights(weights_file(folder, epoch))
            weight_lists.append(model.get_weights())
        model.set_weights(average_weights(weight_lists))
        averaged = epochs
    shutil.rmtree(folder, ignore_errors=True)
    return averaged
