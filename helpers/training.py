"""Training the merge model on (image, caption so far) -> next word examples.

Taught in notebooks/06_training.ipynb.

Every caption ``startseq two red circles endseq`` gives one example per word
after the start token::

    image, [startseq]                       -> two
    image, [startseq two]                   -> red
    image, [startseq two red]               -> circles
    image, [startseq two red circles]       -> endseq

The examples are never all built in memory: only the encoded captions are kept
(one row of word ids each) plus a small index (caption row, position); a
``tf.data`` pipeline shuffles the index and cuts the prefixes batch by batch.
Prefixes are padded with 0 *after* the words; the Embedding's mask makes the LSTM
skip the padding.
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


def prefix_pair_dataset(features: np.ndarray, captions_by_image: dict[str, list[str]], image_ids: list[str],
                        vocabulary: Vocabulary, max_length: int, batch_size: int = 64, *,
                        shuffle: bool = True, seed: int = 42):
    """A ``tf.data.Dataset`` of ``((features, prefix), next_word)`` batches.

    ``features[i]`` belongs to ``image_ids[i]``. Returns ``(dataset, number_of_examples)``."""
    import tensorflow as tf

    image_rows, sequences = encode_captions(captions_by_image, vocabulary, max_length, image_ids)
    index = prefix_positions(sequences)
    feature_table = tf.constant(features, dtype=tf.float32)
    caption_table = tf.constant(sequences, dtype=tf.int32)
    image_row_table = tf.constant(image_rows, dtype=tf.int32)
    column = tf.range(max_length, dtype=tf.int32)

    def make_batch(batch_index):
        caption_rows, positions = batch_index[:, 0], batch_index[:, 1]
        captions = tf.gather(caption_table, caption_rows)
        prefix = tf.where(column[None, :] < positions[:, None], captions, tf.zeros_like(captions))
        next_word = tf.gather(captions, positions, batch_dims=1)
        image_features = tf.gather(feature_table, tf.gather(image_row_table, caption_rows))
        return (image_features, prefix), next_word

    dataset = tf.data.Dataset.from_tensor_slices(index)
    if shuffle:
        dataset = dataset.shuffle(len(index), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(make_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE), len(index)


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


def train(model, train_dataset, dev_dataset, *, epochs: int, run_dir: str | Path, verbose: int = 2) -> dict:
    """Fit with Adam (compiled in the model), keep the best model by validation loss.

    Saves ``model.keras`` (the epoch with the lowest dev loss) and ``history.json``
    into the run folder and returns the history ``{"loss": [...], "val_loss": [...]}``."""
    import keras

    run_dir = Path(run_dir)
    checkpoint = keras.callbacks.ModelCheckpoint(run_dir / paths.MODEL_FILE, monitor="val_loss",
                                                 save_best_only=True)
    result = model.fit(train_dataset, validation_data=dev_dataset, epochs=epochs, callbacks=[checkpoint],
                       shuffle=False, verbose=verbose)  # tf.data shuffles already
    history = {key: [float(v) for v in values] for key, values in result.history.items()}
    best_epoch = int(np.argmin(history["val_loss"])) + 1 if history.get("val_loss") else epochs
    history["best_epoch"] = best_epoch
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

