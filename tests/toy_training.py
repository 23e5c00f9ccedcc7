"""A tiny training run on toy data, used by test_training.py in-process and as a
subprocess (``python tests/toy_training.py --run-dir DIR ...``) for the kill /
resume and the two-device tests. Not collected by pytest (no ``test_`` prefix)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

COLOURS = ["red", "green", "blue", "yellow"]


def toy_data(images_per_colour=12, seed=0):
    """Images whose feature vector is a one-hot colour (plus noise); captions name the colour."""
    rng = np.random.default_rng(seed)
    image_ids, rows, captions = [], [], {}
    for c, colour in enumerate(COLOURS):
        for k in range(images_per_colour):
            image_id = f"{colour}_{k}.jpg"
            image_ids.append(image_id)
            vector = rng.normal(0, 0.05, 8).astype("float32")
            vector[c] += 1
            rows.append(vector)
            captions[image_id] = [f"startseq one {colour} circle endseq", f"startseq {colour} circle endseq"]
    return image_ids, np.stack(rows), captions


def run(
    run_dir,
    *,
    epochs=12,
    seed=0,
    architecture="merge",
    mode="teacher_forcing",
    strategy="default",
    patience=100,
    learning_rate=0.01,
    epoch_sleep=0.0,
    batch_size=16,
):
    """Train on the toy data into ``run_dir`` (vocabulary, config, model.keras, history.json)."""
    import keras

    from course import config, files
    from helpers import training
    from helpers.model import build_model
    from helpers.vocabulary import Vocabulary

    keras.utils.set_random_seed(seed)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    image_ids, feature_matrix, captions = toy_data()
    vocabulary = Vocabulary.build([c for caps in captions.values() for c in caps])
    vocabulary.save(run_dir / files.VOCABULARY_FILE)
    max_length = training.max_caption_length(captions)
    config.update_config(run_dir, "text", {"max_length": max_length})
    make = training.teacher_forcing_dataset if mode == "teacher_forcing" else training.prefix_pair_dataset
    train_ids, dev_ids = image_ids[::2], image_ids[1::2]
    train_ds, _ = make(feature_matrix[::2], captions, train_ids, vocabulary, max_length, batch_size, seed=seed)
    dev_ds, _ = make(feature_matrix[1::2], captions, dev_ids, vocabulary, max_length, batch_size, shuffle=False)
    distribution = training.distribution_strategy(strategy)
    with distribution.scope():
        model = build_model(
            architecture,
            len(vocabulary),
            max_length - 1,
            8,
            units=32,
            embedding_dim=16,
            dropout=0.1,
            learning_rate=learning_rate,
        )
    extra = []
    if epoch_sleep:
        extra.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: time.sleep(epoch_sleep)))
    history = training.train(
        model, train_ds, dev_ds, epochs=epochs, run_dir=run_dir, patience=patience, verbose=0, callbacks=extra
    )
    history["replicas"] = int(distribution.num_replicas_in_sync)
    return history


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--epoch-sleep", type=float, default=0.0)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--logical-cpus", type=int, default=0, help="split the CPU into this many logical devices")
    args = parser.parse_args(argv)
    if args.logical_cpus:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    history = run(args.run_dir, epochs=args.epochs, strategy=args.strategy, epoch_sleep=args.epoch_sleep)
    print("HISTORY " + json.dumps(history))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
