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

Padding still costs time, so each batch is padded only to *its own* longest
caption, and :func:`train` fits a *view* of the model (:func:`model_at_targets`):
the same layers and weights, the softmax over the vocabulary applied only where a
word is predicted (:func:`batches_at_targets` flattens the targets to match). The
same loss and gradients, a faster epoch; the saved model predicts after every word.

Sorting captions by length (:func:`length_bucketed_batches`, ``bucket=True``)
leaves even less padding but is not the default: such batches learn less per epoch
and per second than a plain shuffle (docs/benchmarks.md).

The loss is the mean over every *word* of an epoch, however the captions are batched:
each teacher-forcing batch carries a sample weight, its number of words over
(captions x the dataset's mean words per caption), which turns Keras' batch mean
into a word-level mean (as for the prefix-pair baseline, one word per example).

:func:`train` saves the average of the best epochs' weights (dev loss;
:mod:`helpers.checkpoint_averaging`) in ``model.keras``, stops early when the dev
loss stops improving, and backs up the training state after each epoch
(``keras.callbacks.BackupAndRestore``): an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from course import files, paths
from helpers.checkpoint_averaging import (
    BEST_EPOCHS_DIR,
    DEFAULT_AVERAGED_EPOCHS,
    average_best_epochs,
    keep_best_epoch_weights,
)
from helpers.vocabulary import PAD_ID, Vocabulary


def max_caption_length(captions_by_image: dict[str, list[str]]) -> int:
    """Length in words of the longest caption (start and stop tokens included)."""
    return max(len(caption.split()) for captions in captions_by_image.values() for caption in captions)


def encode_captions(
    captions_by_image: dict[str, list[str]], vocabulary: Vocabulary, max_length: int, image_ids: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
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
    positions = (
        np.concatenate([np.arange(1, n, dtype=np.int32) for n in lengths]) if len(lengths) else np.zeros(0, np.int32)
    )
    return np.stack([caption_rows, positions], axis=1)


def _tables(features, captions_by_image, image_ids, vocabulary, max_length):
    import tensorflow as tf

    if len(features) != len(image_ids):
        raise ValueError(f"{len(features)} feature rows for {len(image_ids)} images: they must match row for row")
    image_rows, sequences = encode_captions(captions_by_image, vocabulary, max_length, image_ids)
    features = np.asarray(features)
    # float16 features (notebook 10's grids) stay float16 here, half the memory: each batch is made float32
    # (_float32_rows), the same numbers as converting the whole table first
    return (
        tf.constant(features, dtype=tf.float16 if features.dtype == np.float16 else tf.float32),
        tf.constant(sequences, dtype=tf.int32),
        tf.constant(image_rows, dtype=tf.int32),
        sequences,
    )


def _float32_rows(feature_table, rows):
    import tensorflow as tf

    return tf.cast(tf.gather(feature_table, rows), tf.float32)


def _batched(index, make_batch, batch_size, shuffle, seed, lengths=None, window_batches=None):
    import tensorflow as tf

    if lengths is not None:
        dataset = length_bucketed_batches(
            index,
            lengths,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            window_batches=window_batches or BUCKET_WINDOW_BATCHES,
        )
    else:
        dataset = tf.data.Dataset.from_tensor_slices(index)
        if shuffle:
            dataset = dataset.shuffle(len(index), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
    return dataset.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


# With bucket=True, captions are sorted by length within windows of this many batches. Two: every pair of
# batches is one of shorter and one of longer captions; larger windows remove more padding, but batches of
# captions of nearly one length learn still less per epoch (docs/benchmarks.md).
BUCKET_WINDOW_BATCHES = 2


def length_bucketed_batches(
    index: np.ndarray,
    lengths: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 42,
    window_batches: int = BUCKET_WINDOW_BATCHES,
):
    """A ``tf.data.Dataset`` of batches of ``index`` entries whose ``lengths`` (one per entry) are close.

    Every epoch: shuffle all entries; take windows of ``window_batches * batch_size``
    entries and sort each window by length; cut it into batches of ``batch_size``;
    shuffle the order of all batches. Every entry is in exactly one batch per epoch,
    as with a plain shuffle, but a batch holds captions of about the same length, so
    padding each batch to its own longest caption leaves little padding. (The window
    keeps the batches random: a full sort would give the same batches every epoch;
    see :data:`BUCKET_WINDOW_BATCHES` for its size.)
    With ``shuffle=False``: all entries sorted by length (stable), batched in order."""
    import tensorflow as tf

    if len(lengths) != len(index):
        raise ValueError(f"{len(lengths)} lengths for {len(index)} entries: one length per entry")
    if not shuffle:
        order = np.argsort(np.asarray(lengths), kind="stable")
        return tf.data.Dataset.from_tensor_slices(np.asarray(index)[order]).batch(batch_size)
    lengths = tf.constant(np.asarray(lengths), dtype=tf.int32)
    entries = tf.data.Dataset.from_tensor_slices(index)
    entries = entries.shuffle(len(index), seed=seed, reshuffle_each_iteration=True)

    def sort_by_length(window):
        order = tf.argsort(tf.gather(lengths, window), stable=True)
        return tf.gather(window, order)

    batches = entries.batch(batch_size * window_batches).map(sort_by_length).unbatch().batch(batch_size)
    # a window that does not fill its last batch leaves a short one: count the batches of each window
    full_windows, rest = divmod(len(index), batch_size * window_batches)
    number_of_batches = full_windows * window_batches + -(-rest // batch_size)
    batches = batches.apply(tf.data.experimental.assert_cardinality(number_of_batches))  # Keras knows the epoch
    # a seed of its own: two shuffles with one seed draw the same random numbers, which ties the batch order to
    # the caption order instead of making it independent
    return batches.shuffle(number_of_batches, seed=seed + 1, reshuffle_each_iteration=True)


def teacher_forcing_dataset(
    features: np.ndarray,
    captions_by_image: dict[str, list[str]],
    image_ids: list[str],
    vocabulary: Vocabulary,
    max_length: int,
    batch_size: int = 64,
    *,
    shuffle: bool = True,
    seed: int = 42,
    bucket: bool = False,
    window_batches: int | None = None,
):
    """A ``tf.data.Dataset`` of ``((features, words), next_words, word_weights)`` batches, one caption an example.

    ``words`` is the caption without its last position, ``next_words`` the
    caption without its first: at every position the target is the word that
    follows (``(batch, n)`` each, padded with 0, which the loss ignores), where
    ``n + 1`` is the length of the batch's longest caption (at most
    ``max_length``). ``features[i]`` belongs to ``image_ids[i]``.
    ``word_weights`` (``(batch, n)``, one value for the whole batch: its words over
    its captions x the dataset's mean words per caption) is the sample weight that makes
    the loss a mean over words, not over batches (see the module's docstring);
    ``model.fit`` and ``model.evaluate`` apply it.

    By default the captions keep their order (``shuffle=False``, for the dev split) or are
    shuffled anew every epoch. ``bucket=True`` groups captions of similar length into a batch
    (:func:`length_bucketed_batches`, sorting within windows of ``window_batches`` batches,
    default :data:`BUCKET_WINDOW_BATCHES`): less padding, a faster epoch, but measured to learn
    less per epoch and per second than a plain shuffle (see the module's docstring).
    Returns ``(dataset, number_of_captions)``."""
    import tensorflow as tf

    feature_table, caption_table, image_row_table, sequences = _tables(
        features, captions_by_image, image_ids, vocabulary, max_length
    )
    lengths = (sequences != PAD_ID).sum(axis=1).astype(np.int32)
    length_table = tf.constant(lengths, dtype=tf.int32)
    mean_words = float(lengths.mean()) - 1 if len(lengths) else 1.0  # targets per caption: all but startseq

    def make_batch(caption_rows):
        longest = tf.reduce_max(tf.gather(length_table, caption_rows))  # pad to this batch's longest caption
        captions = tf.gather(caption_table, caption_rows)[:, :longest]
        image_features = _float32_rows(feature_table, tf.gather(image_row_table, caption_rows))
        next_words = captions[:, 1:]
        # Keras averages over the batch's words; this weight makes it sum / (captions x mean words per caption)
        words = tf.reduce_sum(tf.cast(next_words != PAD_ID, tf.float32))
        weight = words / (tf.cast(tf.shape(next_words)[0], tf.float32) * mean_words)
        return (image_features, captions[:, :-1]), next_words, tf.fill(tf.shape(next_words), weight)

    index = np.arange(len(sequences), dtype=np.int32)
    return _batched(index, make_batch, batch_size, shuffle, seed, lengths if bucket else None, window_batches), len(
        index
    )


def prefix_pair_dataset(
    features: np.ndarray,
    captions_by_image: dict[str, list[str]],
    image_ids: list[str],
    vocabulary: Vocabulary,
    max_length: int,
    batch_size: int = 64,
    *,
    shuffle: bool = True,
    seed: int = 42,
):
    """The seed's way, kept as the baseline: one example per (prefix -> next word) pair.

    Batches of ``((features, prefix), targets)`` for the same model as
    :func:`teacher_forcing_dataset`: ``prefix`` holds the first ``p`` words
    (padded with 0 to the batch's longest prefix); ``targets`` is 0 (ignored by the loss)
    everywhere except at position ``p - 1``, which holds the next word — so the
    loss counts exactly that one prediction. ``features[i]`` belongs to
    ``image_ids[i]``. Returns ``(dataset, number_of_examples)``."""
    import tensorflow as tf

    feature_table, caption_table, image_row_table, sequences = _tables(
        features, captions_by_image, image_ids, vocabulary, max_length
    )
    index = prefix_positions(sequences)
    column = tf.range(max_length - 1, dtype=tf.int32)

    def make_batch(batch_index):
        caption_rows, positions = batch_index[:, 0], batch_index[:, 1]
        longest = tf.reduce_max(positions)  # pad to this batch's longest prefix
        captions = tf.gather(caption_table, caption_rows)[:, :longest]
        prefix = tf.where(column[None, :longest] < positions[:, None], captions, tf.zeros_like(captions))
        next_word = tf.gather(tf.gather(caption_table, caption_rows), positions, batch_dims=1)
        targets = tf.where(
            column[None, :longest] == positions[:, None] - 1, next_word[:, None], tf.zeros_like(captions)
        )
        image_features = _float32_rows(feature_table, tf.gather(image_row_table, caption_rows))
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


def model_at_targets(model):
    """The model :func:`train` fits: ``model``'s own layers (the same weights), but its last layer
    (``next_word``, the softmax over the vocabulary) applied only where a word is predicted.

    Inputs: ``model``'s inputs and ``targeted`` ``(batch, n)``, ``True`` where the target is a
    word (not padding); output ``(words in the batch, vocabulary)``: the rows of ``model``'s
    output at those positions, in the order ``tf.boolean_mask`` gives (caption by caption,
    left to right). Compiled with ``model``'s optimizer (the same object: its state and
    learning rate are shared) and ``model``'s loss — where that is the sparse cross-entropy of
    a softmax layer, computed from the logits instead (so the output here is logits): one
    ``log_softmax`` instead of softmax, log and a second log-softmax, about a sixth of a step
    saved. It stays Keras' loss exactly, probabilities clipped at ``keras.config.epsilon()``
    (no word costs more than 16.1 nats, and one that would gets no gradient), so the losses
    recorded in training are those ``model.evaluate`` gives for the saved model.
    Returns ``None`` when this view cannot be made: no ``next_word`` layer reading a
    ``(batch, n, units)`` sequence, no compiled optimizer, weights in another order than
    ``model``'s (the optimizer's saved state follows that order), or a model spread over several
    devices (``tf.distribute`` splits a batch by captions, not by words): :func:`train` then
    fits ``model`` itself."""
    import keras
    import tensorflow as tf

    # "next_word": the name every builder (helpers.model, helpers.attention) gives the softmax layer
    if "next_word" not in {layer.name for layer in model.layers} or getattr(model, "optimizer", None) is None:
        return None
    if model.distribute_strategy.num_replicas_in_sync > 1:
        return None
    output_layer = model.get_layer("next_word")
    hidden = output_layer.input
    if len(hidden.shape) != 3 or len(model.outputs) != 1 or model.outputs[0] is not output_layer.output:
        return None
    loss = model.loss
    logits = (
        isinstance(output_layer, keras.layers.Dense)
        and output_layer.activation is keras.activations.softmax
        and isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
        and not loss.from_logits
    )
    if logits:
        lowest = float(np.log(keras.config.epsilon()))

        def loss(targets, logits):  # -log of the target's probability, at most -log(epsilon), as Keras clips it
            picked = tf.gather(tf.nn.log_softmax(logits), tf.cast(targets, tf.int32), batch_dims=1)
            return -tf.maximum(picked, lowest)

    class OutputAtTargets(keras.layers.Layer):  # never saved: the saved model is `model`
        def __init__(self, output_layer, logits, **kwargs):
            super().__init__(**kwargs)
            self.output_layer, self.logits = output_layer, logits  # tracked: its weights are this view's

        def call(self, inputs):
            sequence, targeted = inputs
            rows = tf.boolean_mask(sequence, targeted)
            if not self.logits:
                return self.output_layer(rows)
            logits = tf.matmul(rows, self.output_layer.kernel)
            return logits + self.output_layer.bias if self.output_layer.use_bias else logits

        def compute_output_shape(self, input_shapes):
            return (None, self.output_layer.output.shape[-1])  # a row per targeted position

        def compute_mask(self, inputs, mask=None):
            return None

    targeted = keras.Input(shape=(None,), dtype="bool", name="targeted")
    rows = OutputAtTargets(output_layer, logits, name="output_at_targets")([hidden, targeted])
    view = keras.Model([*model.inputs, targeted], rows, name=f"{model.name}_at_targets")
    if [id(w) for w in view.trainable_variables] != [id(w) for w in model.trainable_variables]:
        return None  # the optimizer's state is saved in this order: model.keras must read it back for its weights
    view.compile(loss=loss, optimizer=model.optimizer)
    return view


def batches_at_targets(dataset):
    """Batches ``(inputs, targets[, weights])`` (targets ``(batch, n)``, 0 = padding) as
    :func:`model_at_targets` reads them: ``((*inputs, targets != 0), the targets that are
    words, their weights)`` — targets and weights flattened in ``tf.boolean_mask``'s order."""
    import tensorflow as tf

    def at_targets(inputs, targets, *weights):
        targeted = targets != PAD_ID
        inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
        flat = (tf.boolean_mask(targets, targeted), *(tf.boolean_mask(w, targeted) for w in weights))
        return ((*inputs, targeted), *flat)

    return dataset.map(at_targets, num_parallel_calls=tf.data.AUTOTUNE)


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
    raise ValueError(f'unknown STRATEGY {name!r}: use "default" or "mirrored"')


def _training_tracker(backup_dir: Path, early_stopping, model, model_path: Path, average_epochs: int = 1):
    """Records the history, saves the best ``model`` (atomically; Keras calls the tracker with the
    model it fits, which may be :func:`model_at_targets`'s view of it) and, when a run
    resumes, carries the best loss and the early-stopping count over."""
    import keras

    class Tracker(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history_path = backup_dir / files.HISTORY_FILE
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
            self.history.setdefault("learning_rate", []).append(
                float(np.asarray(self.model.optimizer.learning_rate))
            )  # before ReduceLROnPlateau (called later) lowers it
            current = logs.get("val_loss", logs["loss"])
            if current < self.best:
                self.best = float(current)
                temporary = model_path.with_name(f".{model_path.stem}.partial.keras")
                model.save(temporary)
                temporary.replace(model_path)  # atomic: model.keras is always a whole model
            if average_epochs > 1:  # before the history: a resumed run never lists an epoch whose weights are missing
                keep_best_epoch_weights(
                    model, model_path.parent / BEST_EPOCHS_DIR, self.history["val_loss"], average_epochs
                )
            backup_dir.mkdir(parents=True, exist_ok=True)
            paths.write_json_atomic(self.history_path, self.history)

    return Tracker()


def train(
    model,
    train_dataset,
    dev_dataset,
    *,
    epochs: int,
    run_dir: str | Path,
    patience: int = 10,
    verbose: int = 2,
    callbacks: list | tuple = (),
    reduce_lr_patience: int | None = None,
    reduce_lr_factor: float = 0.5,
    average_epochs: int = DEFAULT_AVERAGED_EPOCHS,
) -> dict:
    """Fit with the model's loss and optimizer (Adam); validate on ``dev_dataset`` after every epoch.

    Writes into ``run_dir``: ``model.keras`` and ``history.json``; stops after ``patience`` epochs without a
    better dev loss (``keras.callbacks.EarlyStopping``) — ``epochs`` is only an upper bound. The model saved,
    and left in ``model``, holds the average of the weights of the ``average_epochs`` epochs with the lowest dev
    loss (:mod:`helpers.checkpoint_averaging`; ``1``: the best epoch's weights) when early stopping ended the
    training; a training that ran all its ``epochs`` keeps its best epoch (its best epochs are still improving). What it fits is
    :func:`model_at_targets`'s view of ``model`` (the same weights; the softmax only where
    a word is predicted), fed :func:`batches_at_targets`; ``model`` itself where the view
    cannot be made (several devices). After ``reduce_lr_patience``
    epochs without a better dev loss (default ``patience // 2``; 0 turns it off)
    the learning rate is multiplied by ``reduce_lr_factor``
    (``keras.callbacks.ReduceLROnPlateau``). While it runs, ``training_backup/`` holds
    the last finished epoch (``keras.callbacks.BackupAndRestore``): if the run is
    interrupted, calling ``train`` again with the same model and run folder resumes
    after that epoch (and the folder disappears when training finishes).

    Returns the history ``{"loss": [...], "val_loss": [...], "epoch_seconds": [...], "learning_rate": [...],
    "best_epoch": n, "epochs_run": n, "stopped_early": bool, "resumed_at_epoch": n, "averaged_epochs": [n, ...],
    "averaged_val_loss": x}`` (the last two: the epochs averaged, from 1, and the dev loss of their average;
    ``[]`` and the best epoch's loss when nothing was averaged).
    ``callbacks`` are extra Keras callbacks (TensorBoard, say), called first."""
    import keras

    if average_epochs < 1:
        raise ValueError(f"average_epochs must be at least 1, got {average_epochs}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    backup_dir = run_dir / BACKUP_DIR
    damaged = discard_damaged_backup(backup_dir)
    if damaged:
        print(f"{damaged}: starting over from epoch 1 (the backup of the interrupted training was removed)")
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, verbose=verbose)
    tracker = _training_tracker(backup_dir, early_stopping, model, run_dir / files.MODEL_FILE, average_epochs)
    reduce_lr_patience = max(1, patience // 2) if reduce_lr_patience is None else reduce_lr_patience
    schedule = (
        [
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=reduce_lr_factor, patience=reduce_lr_patience, min_lr=1e-5, verbose=verbose
            )
        ]
        if reduce_lr_patience > 0
        else []
    )
    # double_checkpoint: a backup cut in half by a kill falls back to the one before
    backup = keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=True, double_checkpoint=True)
    fitted = model_at_targets(model)
    if fitted is None:
        fitted = model
    else:
        train_dataset, dev_dataset = batches_at_targets(train_dataset), batches_at_targets(dev_dataset)
    # order matters: the tracker records an epoch before the backup marks it done
    fitted.fit(
        train_dataset,
        validation_data=dev_dataset,
        epochs=epochs,
        shuffle=False,
        verbose=verbose,
        callbacks=[*callbacks, tracker, early_stopping, *schedule, backup],
    )  # tf.data shuffles already
    if (run_dir / files.MODEL_FILE).exists():
        model.load_weights(run_dir / files.MODEL_FILE)  # the best epoch, not the last
    history = dict(tracker.history)
    # only once the dev loss has levelled off (early stopping): the best epochs of a training cut short by
    # ``epochs`` are its last ones, still improving, and their average would lag behind the best of them
    stopped_early = len(history["loss"]) < epochs
    averaged = average_best_epochs(
        model, run_dir / BEST_EPOCHS_DIR, history["val_loss"], average_epochs if stopped_early else 1
    )
    history["averaged_epochs"] = [epoch + 1 for epoch in averaged]
    history["averaged_val_loss"] = min(history["val_loss"]) if history["val_loss"] else None
    if averaged:
        history["averaged_val_loss"] = float(np.atleast_1d(fitted.evaluate(dev_dataset, verbose=0))[0])
        temporary = run_dir / f".{Path(files.MODEL_FILE).stem}.partial.keras"
        model.save(temporary)
        temporary.replace(run_dir / files.MODEL_FILE)  # atomic: model.keras is always a whole model
    history["best_epoch"] = int(np.nanargmin(history["val_loss"])) + 1 if history["val_loss"] else 0
    history["epochs_run"] = len(history["loss"])
    history["stopped_early"] = stopped_early
    history["resumed_at_epoch"] = tracker.first_epoch or 0
    paths.write_json_atomic(run_dir / files.HISTORY_FILE, history)
    return history


def discard_damaged_backup(backup_dir: str | Path) -> str | None:
    """Remove ``training_backup/`` when what a resumed training would read from it is damaged.

    ``keras.callbacks.BackupAndRestore`` reads ``training_metadata.json`` (the epoch to
    resume after) and the tracker reads ``history.json``; a file cut short or overwritten
    would end the run with a ``JSONDecodeError``. Returns a one-line description of the
    damage (the backup is then gone and training starts over), or ``None`` when the
    backup is usable or absent."""
    import json
    import shutil

    backup_dir = Path(backup_dir)
    if not backup_dir.is_dir():
        return None
    problem = None
    for name, keys in (("training_metadata.json", ("epoch",)), (files.HISTORY_FILE, ("loss", "val_loss"))):
        path = backup_dir / name
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as error:
            problem = f"{path} is damaged ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
            break
        if not isinstance(data, dict) or any(key not in data for key in keys):
            problem = f"{path} is damaged (it lacks {', '.join(repr(k) for k in keys)})"
            break
        if name == "training_metadata.json" and not (isinstance(data["epoch"], int) and data["epoch"] >= 0):
            problem = f"{path} is damaged (epoch {data['epoch']!r} is not a whole number >= 0)"
            break
        if name == files.HISTORY_FILE and not all(isinstance(data[k], list) for k in keys):
            problem = f"{path} is damaged (the losses are not lists)"
            break
    if problem is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)
    return problem
