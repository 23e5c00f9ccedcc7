"""Training the merge model: every caption position at once (teacher forcing), or one prefix at a time.

Taught in notebooks/06_training.ipynb.

Every caption ``startseq two red circles endseq`` holds one example per word
after the start token::

    image, [startseq]                       -> two
    image, [startseq two]                   -> red
    image, [startseq two red]               -> circles
    image, [startseq two red circles]       -> endseq

The seed trained on these (prefix -> next word) pairs, one by one
(:func:`prefix_pair_dataset`, kept as the teaching baseline). The model's LSTM
reads left to right and predicts after *every* word, so one pass over the whole
caption gives all four predictions at once: input ``startseq two red circles``,
targets ``two red circles endseq`` (the caption shifted by one). That is
*teacher forcing* (:func:`teacher_forcing_dataset`, the default): the same
examples and the same loss, one model call per caption instead of one per word.

Nothing is ever materialised beyond the encoded captions (one row of word ids
each) and a small index; a ``tf.data`` pipeline shuffles the index and builds
the batches. Captions are padded with 0 *after* the words; the Embedding's mask
makes the LSTM skip padding, and the loss ignores targets that are padding.

:func:`train` keeps the best epoch (dev loss) in ``model.keras``, stops early
when the dev loss stops improving, and backs up the training state after each
epoch (``keras.callbacks.BackupAndRestore``) so an interrupted run resumes where
it stopped when started again. ``epochs`` is an upper bound: an epoch is only
``captions / batch size`` optimisation steps (a 150-photo dataset: 750 captions,
12 steps at 64), so a small dataset needs many epochs, and the dev loss, not the
epoch count, decides when to stop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers import paths
from helpers.vocabulary import PAD_ID, Vocabulary


def max_caption_length(captions_by_image: dict[str, list[str]]) -> int:
    """Length in words of the longest caption (start and stop tokens included)."""
    return max(len(caption.split()) for captions in captions_by_image.values() for caption in captions)


def encode_captions(captions_by_image: dict[str, list[str]], vocabulary: Vocabulary, max_length: int,
                    image_ids: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Encode captions as a padded id matrix.

    Returns ``(image_rows, sequences)``: ``image_rows[k]`` is the index into
    ``image_ids`` of the image caption ``k`` belongs to; ``sequences[k]`` its word
    ids padded with 0 (truncated to ``max_length``, keeping the stop token)."""
    image_ids = list(captions_by_image) if image_ids is None else image_ids
    rows, sequences = [], []
    for row, image_id in enumerate(image_ids):
        for caption in captions_by_image[image_id]:
            ids = vocabulary.encode(caption)
            if len(ids) > max_length:
                ids = ids[: max_length - 1] + [vocabulary.stop_id]
            sequences.append(ids + [PAD_ID] * (max_length - len(ids)))
            rows.append(row)
    return np.asarray(rows, dtype=np.int32), np.asarray(sequences, dtype=np.int32).reshape(-1, max_length)


def prefix_positions(sequences: np.ndarray) -> np.ndarray:
    """``(caption_row, position)`` of every (prefix -> next word) example."""
    lengths = (sequences != PAD_ID).sum(axis=1)
    caption_rows = np.repeat(np.arange(len(sequences), dtype=np.int32), np.maximum(lengths - 1, 0))
    positions = np.concatenate([np.arange(1, n, dtype=np.int32) for n in lengths]) if len(lengths) else \
        np.zeros(0, np.int32)
    return np.stack([caption_rows, positions], axis=1)


def _tables(features, captions_by_image, image_ids, vocabulary, max_length):
    import tensorflow as tf

    if len(features) != len(image_ids):
        raise ValueError(f"{len(features)} feature rows for {len(image_ids)} images: they must match row for row")
    image_rows, sequences = encode_captions(captions_by_image, vocabulary, max_length, image_ids)
    return (tf.constant(np.asarray(features), dtype=tf.float32), tf.constant(sequences, dtype=tf.int32),
            tf.constant(image_rows, dtype=tf.int32), sequences)


def _batched(index, make_batch, batch_size, shuffle, seed):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(index)
    if shuffle:
        dataset = dataset.shuffle(len(index), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(make_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def teacher_forcing_dataset(features: np.ndarray, captions_by_image: dict[str, list[str]], image_ids: list[str],
                            vocabulary: Vocabulary, max_length: int, batch_size: int = 64, *,
                            shuffle: bool = True, seed: int = 42):
    """A ``tf.data.Dataset`` of ``((features, words), next_words)`` batches, one caption an example.

    ``words`` is the caption without its last position, ``next_words`` the
    caption without its first: at every position the target is the word that
    follows (``(batch, max_length - 1)`` each, padded with 0, which the loss
    ignores). ``features[i]`` belongs to ``image_ids[i]``. Returns
    ``(dataset, number_of_captions)``."""
    import tensorflow as tf

    feature_table, caption_table, image_row_table, sequences = _tables(features, captions_by_image, image_ids,
                                                                       vocabulary, max_length)

    def make_batch(caption_rows):
        captions = tf.gather(caption_table, caption_rows)
        image_features = tf.gather(feature_table, tf.gather(image_row_table, caption_rows))
        return (image_features, captions[:, :-1]), captions[:, 1:]

    index = np.arange(len(sequences), dtype=np.int32)
    return _batched(index, make_batch, batch_size, shuffle, seed), len(index)


def prefix_pair_dataset(features: np.ndarray, captions_by_image: dict[str, list[str]], image_ids: list[str],
                        vocabulary: Vocabulary, max_length: int, batch_size: int = 64, *,
                        shuffle: bool = True, seed: int = 42):
    """The seed's way, kept as the baseline: one example per (prefix -> next word) pair.

    Batches of ``((features, prefix), targets)`` for the same model as
    :func:`teacher_forcing_dataset`: ``prefix`` holds the first ``p`` words
    (padded with 0 to ``max_length - 1``); ``targets`` is 0 (ignored by the loss)
    everywhere except at position ``p - 1``, which holds the next word — so the
    loss counts exactly that one prediction. ``features[i]`` belongs to
    ``image_ids[i]``. Returns ``(dataset, number_of_examples)``."""
    import tensorflow as tf

    feature_table, caption_table, image_row_table, sequences = _tables(features, captions_by_image, image_ids,
                                                                       vocabulary, max_length)
    index = prefix_positions(sequences)
    column = tf.range(max_length - 1, dtype=tf.int32)

    def make_batch(batch_index):
        caption_rows, positions = batch_index[:, 0], batch_index[:, 1]
        captions = tf.gather(caption_table, caption_rows)[:, :-1]
        prefix = tf.where(column[None, :] < positions[:, None], captions, tf.zeros_like(captions))
        next_word = tf.gather(tf.gather(caption_table, caption_rows), positions, batch_dims=1)
        targets = tf.where(column[None, :] == positions[:, None] - 1, next_word[:, None], tf.zeros_like(captions))
        image_features = tf.gather(feature_table, tf.gather(image_row_table, caption_rows))
        return (image_features, prefix), targets

    return _batched(index, make_batch, batch_size, shuffle, seed), len(index)


def unigram_baseline_loss(train_sequences: np.ndarray, eval_sequences: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy of a model that ignores image and prefix and always predicts
    the training frequency of each next word (add-one smoothed).

    The trained model must do better than this trivial baseline."""
    def targets(sequences):
        index = prefix_positions(sequences)
        return sequences[index[:, 0], index[:, 1]]

    counts = np.bincount(targets(train_sequences), minlength=vocab_size).astype(np.float64) + 1.0
    probabilities = counts / counts.sum()
    return float(-np.mean(np.log(probabilities[targets(eval_sequences)])))


BACKUP_DIR = "training_backup"  # inside the run folder while a training runs; removed when it finishes


def distribution_strategy(name: str = "default"):
    """``"default"`` (one device) or ``"mirrored"``: ``tf.distribute.MirroredStrategy``
    over every GPU, or every (logical) CPU when there is no GPU. Build or load the
    model inside ``strategy.scope()``; each batch is split between the devices."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    raise ValueError(f"unknown STRATEGY {name!r}: use \"default\" or \"mirrored\"")


def _training_tracker(backup_dir: Path, early_stopping, model_path: Path):
    """Records the history, saves the best model (atomically) and, when a run
    resumes, carries the best loss and the early-stopping count over."""
    import keras

    class Tracker(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history_path = backup_dir / paths.HISTORY_FILE
            self.history = {"loss": [], "val_loss": [], "epoch_seconds": [], "learning_rate": []}
            if self.history_path.exists():  # an interrupted run left it (BackupAndRestore resumes it)
                self.history = paths.read_json(self.history_path)
            self.best = np.inf
            self.first_epoch = None
            self.started = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            import time

            if self.first_epoch is None:  # BackupAndRestore has set where fit starts: 0, or the resumed epoch
                self.first_epoch = epoch
                self.history = {key: list(values)[:epoch] for key, values in self.history.items()}
                if epoch > 0 and self.history["val_loss"]:
                    losses = self.history["val_loss"]
                    best_epoch = int(np.argmin(losses))
                    self.best = losses[best_epoch]
                    early_stopping.best, early_stopping.best_epoch = self.best, best_epoch
                    early_stopping.wait = len(losses) - 1 - best_epoch
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            import time

            logs = logs or {}
            self.history["loss"].append(float(logs["loss"]))
            self.history["val_loss"].append(float(logs.get("val_loss", np.nan)))
            self.history["epoch_seconds"].append(round(time.perf_counter() - self.started, 3))
            self.history.setdefault("learning_rate", []).append(float(np.asarray(
                self.model.optimizer.learning_rate)))  # before ReduceLROnPlateau (called later) lowers it
            current = logs.get("val_loss", logs["loss"])
            if current < self.best:
                self.best = float(current)
                temporary = model_path.with_name(f".{model_path.stem}.partial.keras")
                self.model.save(temporary)
                temporary.replace(model_path)  # atomic: model.keras is always a whole model
            backup_dir.mkdir(parents=True, exist_ok=True)
            paths.write_json_atomic(self.history_path, self.history)

    return Tracker()


def train(model, train_dataset, dev_dataset, *, epochs: int, run_dir: str | Path, patience: int = 10,
          verbose: int = 2, callbacks: list | tuple = (), reduce_lr_patience: int | None = None,
          reduce_lr_factor: float = 0.5) -> dict:
    """Fit with the model's loss and optimizer (Adam); validate on ``dev_dataset`` after every epoch.

    Writes into ``run_dir``: ``model.keras`` (the epoch with the lowest dev loss),
    ``history.json``; stops after ``patience`` epochs without a better dev loss
    (``keras.callbacks.EarlyStopping``) — ``epochs`` is only an upper bound — and
    leaves ``model`` holding the best epoch's weights. After ``reduce_lr_patience``
    epochs without a better dev loss (default ``patience // 2``; 0 turns it off)
    the learning rate is multiplied by ``reduce_lr_factor``
    (``keras.callbacks.ReduceLROnPlateau``). While it runs, ``training_backup/`` holds
    the last finished epoch (``keras.callbacks.BackupAndRestore``): if the run is
    interrupted, calling ``train`` again with the same model and run folder resumes
    after that epoch (and the folder disappears when training finishes).

    Returns the history ``{"loss": [...], "val_loss": [...], "epoch_seconds": [...], "learning_rate": [...],
    "best_epoch": n, "epochs_run": n, "stopped_early": bool, "resumed_at_epoch": n}``.
    ``callbacks`` are extra Keras callbacks (TensorBoard, say), called first."""
    import keras

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    backup_dir = run_dir / BACKUP_DIR
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, verbose=verbose)
    tracker = _training_tracker(backup_dir, early_stopping, run_dir / paths.MODEL_FILE)
    reduce_lr_patience = max(1, patience // 2) if reduce_lr_patience is None else reduce_lr_patience
    schedule = [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=reduce_lr_factor,
                                                  patience=reduce_lr_patience, min_lr=1e-5,
                                                  verbose=verbose)] if reduce_lr_patience > 0 else []
    # double_checkpoint: a backup cut in half by a kill falls back to the one before
    backup = keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=True, double_checkpoint=True)
    # order matters: the tracker records an epoch before the backup marks it done
    model.fit(train_dataset, validation_data=dev_dataset, epochs=epochs, shuffle=False, verbose=verbose,
              callbacks=[*callbacks, tracker, early_stopping, *schedule, backup])  # tf.data shuffles already
    if (run_dir / paths.MODEL_FILE).exists():
        model.load_weights(run_dir / paths.MODEL_FILE)  # the best epoch, not the last
    history = dict(tracker.history)
    history["best_epoch"] = int(np.nanargmin(history["val_loss"])) + 1 if history["val_loss"] else 0
    history["epochs_run"] = len(history["loss"])
    history["stopped_early"] = len(history["loss"]) < epochs
    history["resumed_at_epoch"] = tracker.first_epoch or 0
    paths.write_json_atomic(run_dir / paths.HISTORY_FILE, history)
    return history


def load_trained_model(run_dir: str | Path):
    """Load ``(model, vocabulary, config)`` of a trained run folder — one call, no pickle.

    Uses Keras' safe ``.keras`` loading (``safe_mode=True``: no arbitrary code)."""
    import keras

    run_dir = Path(run_dir)
    model_path = paths.require(run_dir / paths.MODEL_FILE)
    model = keras.saving.load_model(model_path, safe_mode=True)
    vocabulary = Vocabulary.load(paths.require(run_dir / paths.VOCABULARY_FILE))
    config = paths.read_config(run_dir)
    return model, vocabulary, config

