import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from toy_training import run, toy_data

from course import files, paths
from course import trained_run as trained
from helpers import checkpoint_averaging, decoding, training
from helpers.model import build_merge_model
from helpers.vocabulary import PAD_ID, Vocabulary

TOY_SCRIPT = Path(__file__).with_name("toy_training.py")


def decode(vocabulary, ids):
    return " ".join(vocabulary.words[i] for i in ids if i != PAD_ID)


def test_prefix_pairs_cut_the_right_prefixes_with_one_target_each():
    vocabulary = Vocabulary.build(["startseq two red circles endseq"])
    captions = {"a.jpg": ["startseq two red circles endseq"]}
    rows, sequences = training.encode_captions(captions, vocabulary, max_length=7)
    assert sequences.shape == (1, 7) and list(sequences[0, 5:]) == [PAD_ID, PAD_ID]
    assert training.prefix_positions(sequences).tolist() == [[0, 1], [0, 2], [0, 3], [0, 4]]
    dataset, count = training.prefix_pair_dataset(
        np.ones((1, 3), "float32"), captions, ["a.jpg"], vocabulary, 7, batch_size=10, shuffle=False
    )
    assert count == 4
    (image_features, prefixes), targets = next(iter(dataset))
    # padded to the batch's longest prefix (4 words), not to max_length - 1
    assert image_features.shape == (4, 3) and prefixes.shape == targets.shape == (4, 4)
    targets = targets.numpy()
    assert ((targets != PAD_ID).sum(axis=1) == 1).all(), "exactly one target per prefix"
    decoded = [(decode(vocabulary, p), decode(vocabulary, t)) for p, t in zip(prefixes.numpy(), targets)]
    assert decoded == [
        ("startseq", "two"),
        ("startseq two", "red"),
        ("startseq two red", "circles"),
        ("startseq two red circles", "endseq"),
    ]
    # the target sits at the prefix's last position: where the causal model predicts the next word
    assert [int(np.flatnonzero(t)[0]) for t in targets] == [0, 1, 2, 3]


def test_teacher_forcing_targets_are_the_caption_shifted_by_one():
    vocabulary = Vocabulary.build(["startseq two red circles endseq", "startseq one square endseq"])
    captions = {"a.jpg": ["startseq two red circles endseq"], "b.jpg": ["startseq one square endseq"]}
    features = np.array([[1, 0], [0, 1]], "float32")
    dataset, count = training.teacher_forcing_dataset(
        features, captions, ["a.jpg", "b.jpg"], vocabulary, 7, batch_size=10, shuffle=False
    )
    assert count == 2
    (image_features, words), targets, weights = next(iter(dataset))
    assert words.shape == targets.shape == weights.shape == (2, 4), (
        "padded to the batch's longest caption (5 tokens), minus one"
    )
    assert decode(vocabulary, words.numpy()[0]) == "startseq two red circles"
    assert decode(vocabulary, targets.numpy()[0]) == "two red circles endseq"
    assert decode(vocabulary, targets.numpy()[1]) == "one square endseq"
    assert np.array_equal(image_features.numpy(), features)


def test_float16_features_are_kept_float16_and_batched_as_float32():
    """Notebook 10's grids: the table holds them as float16 (half the memory), each batch is float32."""
    vocabulary = Vocabulary.build(["startseq two red circles endseq", "startseq one square endseq"])
    captions = {"a.jpg": ["startseq two red circles endseq"], "b.jpg": ["startseq one square endseq"]}
    grids = np.random.default_rng(3).normal(size=(2, 4, 3)).astype("float16")
    for make in (training.teacher_forcing_dataset, training.prefix_pair_dataset):
        batches = [
            [
                batch[0][0].numpy()
                for batch in make(table, captions, ["a.jpg", "b.jpg"], vocabulary, 7, shuffle=False)[0]
            ]
            for table in (grids, grids.astype(np.float32))
        ]
        assert all(rows.dtype == np.float32 for rows in batches[0])
        assert all(np.array_equal(a, b) for a, b in zip(*batches)) and len(batches[0]) == len(batches[1])


def test_both_ways_compute_the_same_loss_for_the_same_model():
    """Teacher forcing is the prefix-pair objective, computed in one pass per caption."""
    image_ids, feature_matrix, captions = toy_data(images_per_colour=2)
    vocabulary = Vocabulary.build([c for caps in captions.values() for c in caps])
    max_length = training.max_caption_length(captions)
    model = build_merge_model(len(vocabulary), max_length - 1, 8, units=16, embedding_dim=8)
    common = (feature_matrix, captions, image_ids, vocabulary, max_length, 1000)
    forced, _ = training.teacher_forcing_dataset(*common, shuffle=False)
    pairs, _ = training.prefix_pair_dataset(*common, shuffle=False)
    assert np.isclose(model.evaluate(forced, verbose=0), model.evaluate(pairs, verbose=0), rtol=1e-5)


def length_varied_captions(count=300, seed=0):
    rng = np.random.default_rng(seed)
    words = "a dog cat runs on grass the red ball in water".split()
    captions = {
        f"{k}.jpg": ["startseq " + " ".join(rng.choice(words, size=int(rng.integers(1, 20)))) + " endseq"]
        for k in range(count)
    }
    vocabulary = Vocabulary.build([c for cs in captions.values() for c in cs])
    return captions, vocabulary, np.arange(count, dtype="float32")[:, None]


def batches_of(dataset):
    return [(f.numpy()[:, 0].astype(int), w.numpy(), t.numpy()) for (f, w), t, _ in dataset]


def test_the_loss_is_the_mean_over_words_however_the_captions_are_batched():
    """The word weights: small batches, sorted batches, one big batch — the same mean over every word (a batch of
    short captions would otherwise weigh its words more)."""
    captions, vocabulary, features = length_varied_captions(40)  # 1 to 19 words a caption
    ids, max_length = list(captions), training.max_caption_length(captions)
    model = build_merge_model(len(vocabulary), max_length - 1, 1, units=8, embedding_dim=4)
    every_word, _ = training.prefix_pair_dataset(features, captions, ids, vocabulary, max_length, 10_000, shuffle=False)
    word_mean = model.evaluate(every_word, verbose=0)  # one batch, one example per word
    for batch_size, bucket in ((3, False), (8, True), (40, False)):
        dataset, _ = training.teacher_forcing_dataset(
            features, captions, ids, vocabulary, max_length, batch_size, shuffle=bucket, bucket=bucket
        )
        assert np.isclose(model.evaluate(dataset, verbose=0), word_mean, rtol=1e-5), (batch_size, bucket)


def test_training_computes_the_softmax_only_where_a_word_is_predicted():
    """train() fits model_at_targets's view: the same loss as the model (teacher forcing and prefix pairs), its
    rows are the model's output at the targeted positions, and a training step changes the weights as the model's
    own step would."""
    import keras

    captions, vocabulary, features = length_varied_captions(40)
    ids, max_length = list(captions), training.max_caption_length(captions)

    def fresh_model():
        keras.utils.set_random_seed(0)
        return build_merge_model(len(vocabulary), max_length - 1, 1, units=8, embedding_dim=4, dropout=0.0)

    model = fresh_model()
    view = training.model_at_targets(model)
    assert view is not None and set(map(id, view.weights)) == set(map(id, model.weights)), "the same weights"
    for make in (training.teacher_forcing_dataset, training.prefix_pair_dataset):
        dataset, _ = make(features, captions, ids, vocabulary, max_length, 8, shuffle=False)
        at_targets = training.batches_at_targets(dataset)
        assert np.isclose(view.evaluate(at_targets, verbose=0), model.evaluate(dataset, verbose=0), rtol=1e-5)
        (inputs, targets, *_), (view_inputs, flat_targets, *_) = next(iter(dataset)), next(iter(at_targets))
        targeted = targets.numpy() != PAD_ID
        logits = view(view_inputs)  # the loss is the softmax's cross-entropy, computed from the logits in one step
        assert logits.shape == (targeted.sum(), len(vocabulary)), "one row per predicted word, none for padding"
        assert np.allclose(keras.ops.softmax(logits).numpy(), model(inputs).numpy()[targeted], atol=1e-6)
        assert np.array_equal(flat_targets.numpy(), targets.numpy()[targeted])
    dataset, _ = training.teacher_forcing_dataset(features, captions, ids, vocabulary, max_length, 8, shuffle=False)
    model.fit(dataset.take(3), epochs=1, shuffle=False, verbose=0)
    other = fresh_model()
    training.model_at_targets(other).fit(training.batches_at_targets(dataset.take(3)), shuffle=False, verbose=0)
    for mine, theirs in zip(model.weights, other.weights):
        assert np.allclose(mine.numpy(), theirs.numpy(), atol=1e-5), f"{mine.path}: a different step"


def test_bucketed_batches_hold_every_caption_once_padded_to_their_own_longest():
    captions, vocabulary, features = length_varied_captions()
    ids, max_length = list(captions), training.max_caption_length(captions)
    _, sequences = training.encode_captions(captions, vocabulary, max_length, ids)
    lengths = (sequences != PAD_ID).sum(axis=1)
    dataset, count = training.teacher_forcing_dataset(
        features, captions, ids, vocabulary, max_length, batch_size=16, seed=3, bucket=True, window_batches=8
    )
    epochs = [batches_of(dataset) for _ in range(2)]
    for batches in epochs:
        rows = np.concatenate([rows for rows, _, _ in batches])
        assert sorted(rows.tolist()) == list(range(count)), "every caption exactly once per epoch"
        for rows, words, targets in batches:
            assert words.shape[1] == lengths[rows].max() - 1, "padded to the batch's own longest caption"
            assert np.array_equal(words, sequences[rows, : words.shape[1]])
            assert np.array_equal(targets, sequences[rows, 1 : words.shape[1] + 1])
    spread = np.mean([np.ptp(lengths[rows]) for rows, _, _ in epochs[0]])
    plain, _ = training.teacher_forcing_dataset(
        features, captions, ids, vocabulary, max_length, batch_size=16, seed=3, bucket=False
    )
    plain_spread = np.mean([np.ptp(lengths[rows]) for rows, _, _ in batches_of(plain)])
    assert spread < 0.4 * plain_spread, "a bucketed batch holds captions of about the same length"
    padding = sum((w == PAD_ID).sum() for _, w, _ in epochs[0]) / sum(w.size for _, w, _ in epochs[0])
    assert padding < 0.2
    default, _ = training.teacher_forcing_dataset(
        features, captions, ids, vocabulary, max_length, batch_size=16, seed=3, bucket=True
    )  # windows of BUCKET_WINDOW_BATCHES (2)
    default_padding = [(w == PAD_ID).mean() for _, w, _ in batches_of(default)]
    plain_padding = [(w == PAD_ID).mean() for _, w, _ in batches_of(plain)]
    assert np.mean(default_padding) < 0.8 * np.mean(plain_padding)
    assert [r.tolist() for r, _, _ in epochs[0]] != [r.tolist() for r, _, _ in epochs[1]], "reshuffled every epoch"


def test_by_default_training_batches_are_a_plain_shuffle_padded_to_their_own_longest_caption():
    """Sorting by length is opt-in (bucket=True): it learned less per epoch and per second at Flickr8k size."""
    captions, vocabulary, features = length_varied_captions(64)  # 1 to 19 words: lengths vary as on Flickr8k
    ids, max_length = list(captions), training.max_caption_length(captions)
    default, _ = training.teacher_forcing_dataset(features, captions, ids, vocabulary, max_length, 8, seed=2)
    plain, _ = training.teacher_forcing_dataset(
        features, captions, ids, vocabulary, max_length, 8, seed=2, bucket=False
    )
    batches = batches_of(default)
    assert [r.tolist() for r, _, _ in batches] == [r.tolist() for r, _, _ in batches_of(plain)]
    assert any(w.shape[1] < max_length - 1 for _, w, _ in batches), "each batch padded only to its own longest"


def test_without_shuffling_the_captions_keep_their_order_and_bucketing_is_deterministic():
    captions, vocabulary, features = length_varied_captions(50)
    ids, max_length = list(captions), training.max_caption_length(captions)
    dev, _ = training.teacher_forcing_dataset(features, captions, ids, vocabulary, max_length, 16, shuffle=False)
    assert np.concatenate([rows for rows, _, _ in batches_of(dev)]).tolist() == list(range(50))
    sorted_dev, _ = training.teacher_forcing_dataset(
        features, captions, ids, vocabulary, max_length, 16, shuffle=False, bucket=True
    )
    first, second = batches_of(sorted_dev), batches_of(sorted_dev)
    assert [r.tolist() for r, _, _ in first] == [r.tolist() for r, _, _ in second]
    assert [w.shape[1] for _, w, _ in first] == sorted(w.shape[1] for _, w, _ in first)


def test_the_loss_of_a_bucketed_epoch_counts_the_same_words_as_fixed_padding():
    """The same words and targets, only grouped differently: the summed loss over an epoch is the same."""
    import keras

    captions, vocabulary, features = length_varied_captions(64)
    ids, max_length = list(captions), training.max_caption_length(captions)
    model = build_merge_model(len(vocabulary), max_length - 1, 1, units=8, embedding_dim=4)
    loss = keras.losses.SparseCategoricalCrossentropy(ignore_class=PAD_ID, reduction="sum")

    def summed(dataset):
        return sum(float(loss(t, model([f, w]))) for (f, w), t, *_ in dataset)

    bucketed, _ = training.teacher_forcing_dataset(
        features, captions, ids, vocabulary, max_length, 8, seed=1, bucket=True
    )
    _, sequences = training.encode_captions(captions, vocabulary, max_length, ids)
    fixed = [((features, sequences[:, :-1]), sequences[:, 1:])]  # every caption padded to max_length - 1
    assert np.isclose(summed(bucketed), summed(fixed), rtol=1e-5)


def test_long_captions_are_truncated_keeping_the_stop_token():
    vocabulary = Vocabulary.build(["startseq aa b c d e endseq"])
    _, sequences = training.encode_captions({"x": ["startseq aa b c d e endseq"]}, vocabulary, max_length=4)
    assert sequences[0, -1] == vocabulary.stop_id


def test_features_and_image_ids_must_match():
    vocabulary = Vocabulary.build(["startseq red endseq"])
    with pytest.raises(ValueError, match="2 feature rows for 1 images"):
        training.teacher_forcing_dataset(
            np.ones((2, 3), "float32"), {"a": ["startseq red endseq"]}, ["a"], vocabulary, 4
        )


def baseline_of(captions, image_ids, vocabulary, max_length):
    _, train_seq = training.encode_captions({i: captions[i] for i in image_ids[::2]}, vocabulary, max_length)
    _, dev_seq = training.encode_captions({i: captions[i] for i in image_ids[1::2]}, vocabulary, max_length)
    return training.unigram_baseline_loss(train_seq, dev_seq, len(vocabulary))


def colour_accuracy(run_dir):
    image_ids, feature_matrix, _ = toy_data()
    model, vocabulary, config = trained.load_trained_model(run_dir)
    captions = decoding.greedy_captions(model, feature_matrix[1::2], vocabulary, config["text"]["max_length"])
    correct = sum(i.split("_")[0] in c.split() for i, c in zip(image_ids[1::2], captions))
    return correct / len(captions), captions


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, run(run_dir, epochs=12)


def test_training_lowers_the_loss_and_beats_the_baseline(trained_run):
    run_dir, history = trained_run
    image_ids, _, captions = toy_data()
    vocabulary = Vocabulary.load(run_dir / files.VOCABULARY_FILE)
    baseline = baseline_of(captions, image_ids, vocabulary, training.max_caption_length(captions))
    assert history["loss"][-1] < history["loss"][0]
    assert min(history["val_loss"]) < history["val_loss"][0]
    assert min(history["val_loss"]) < 0.6 * baseline
    assert history["epochs_run"] == 12 and history["resumed_at_epoch"] == 0 and len(history["epoch_seconds"]) == 12
    assert (run_dir / files.MODEL_FILE).exists() and (run_dir / files.HISTORY_FILE).exists()
    assert not (run_dir / training.BACKUP_DIR).exists(), "the backup is removed when training finishes"


def test_a_training_that_runs_all_its_epochs_saves_its_best_epoch(trained_run):
    run_dir, history = trained_run
    model, _, _ = trained.load_trained_model(run_dir)
    image_ids, feature_matrix, captions = toy_data()
    vocabulary = Vocabulary.load(run_dir / files.VOCABULARY_FILE)
    max_length = training.max_caption_length(captions)
    model.compile(loss=model.loss)  # evaluate needs a compiled model; the weights are the saved ones
    dev, _ = training.teacher_forcing_dataset(
        feature_matrix[1::2], captions, image_ids[1::2], vocabulary, max_length, 16, shuffle=False
    )
    assert not history["stopped_early"] and history["averaged_epochs"] == [], "still improving: nothing averaged"
    assert np.isclose(model.evaluate(dev, verbose=0), min(history["val_loss"]), rtol=1e-3)
    assert not (run_dir / checkpoint_averaging.BEST_EPOCHS_DIR).exists(), "the kept epochs are removed at the end"


def test_the_trained_model_names_the_colour_and_reloads_with_the_same_captions(trained_run):
    run_dir, _ = trained_run
    accuracy, captions = colour_accuracy(run_dir)
    assert accuracy >= 0.9, captions
    assert colour_accuracy(run_dir)[1] == captions


@pytest.mark.course  # end to end, slow: two trainings in subprocesses
def test_the_same_seed_gives_the_same_run(tmp_path):
    first = run(tmp_path / "a", epochs=3, seed=5)
    second = run(tmp_path / "b", epochs=3, seed=5)
    assert first["loss"] == pytest.approx(second["loss"], rel=1e-5)
    assert first["val_loss"] == pytest.approx(second["val_loss"], rel=1e-5)


@pytest.mark.course  # two more training runs (the fast loop trains the merge model with teacher forcing)
@pytest.mark.parametrize("mode,architecture", [("prefix_pairs", "merge"), ("teacher_forcing", "inject")])
def test_the_prefix_pair_baseline_and_the_inject_model_learn_too(tmp_path, mode, architecture):
    history = run(tmp_path, epochs=12 if mode == "teacher_forcing" else 4, mode=mode, architecture=architecture)
    assert min(history["val_loss"]) < 0.5 * history["val_loss"][0]
    assert colour_accuracy(tmp_path)[0] >= 0.9


def test_early_stopping_stops_when_the_dev_loss_stops_falling(tmp_path):
    history = run(tmp_path, epochs=10, patience=2, learning_rate=0.0)  # nothing learns: the dev loss is flat
    assert history["stopped_early"] and history["epochs_run"] == 3
    assert (tmp_path / files.MODEL_FILE).exists()


def child_environment():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(paths.REPO_ROOT)}


@pytest.mark.course  # end to end, slow: training in a subprocess, killed
def test_a_killed_training_resumes_where_it_stopped(tmp_path):
    run_dir, epochs = tmp_path / "run", 12
    partial = run_dir / training.BACKUP_DIR / files.HISTORY_FILE
    command = [sys.executable, str(TOY_SCRIPT), "--run-dir", str(run_dir), "--epochs", str(epochs)]
    child = subprocess.Popen(
        command + ["--epoch-sleep", "1.0"],
        env=child_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if partial.exists() and len(json.loads(partial.read_text())["loss"]) >= 3:
                break
            time.sleep(0.1)
        assert child.poll() is None, "training ended before it could be interrupted"
        os.kill(child.pid, signal.SIGKILL)  # no clean-up at all, as when a laptop dies
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert (run_dir / training.BACKUP_DIR).exists() and (run_dir / files.MODEL_FILE).exists()
    done_before_kill = len(json.loads(partial.read_text())["loss"])
    assert 3 <= done_before_kill < epochs

    result = subprocess.run(command, env=child_environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads(result.stdout.split("HISTORY ", 1)[1])
    # the history is written just before the epoch's backup: a kill between the two redoes that epoch
    assert done_before_kill - 1 <= history["resumed_at_epoch"] <= done_before_kill, "resumed from the last backup"
    assert history["resumed_at_epoch"] >= 2
    assert history["epochs_run"] == epochs and len(history["val_loss"]) == epochs
    assert json.loads((run_dir / files.HISTORY_FILE).read_text())["loss"] == history["loss"]
    assert not (run_dir / training.BACKUP_DIR).exists()
    accuracy, captions = colour_accuracy(run_dir)
    assert accuracy >= 0.9, captions
    assert colour_accuracy(run_dir)[1] == captions  # reloading the artifact gives exactly the same captions


@pytest.mark.course  # end to end, slow: training under tf.distribute
def test_mirrored_strategy_trains_on_two_logical_devices(tmp_path):
    command = [
        sys.executable,
        str(TOY_SCRIPT),
        "--run-dir",
        str(tmp_path),
        "--epochs",
        "12",
        "--strategy",
        "mirrored",
        "--logical-cpus",
        "2",
    ]
    result = subprocess.run(command, env=child_environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads(result.stdout.split("HISTORY ", 1)[1])
    assert history["replicas"] == 2
    assert min(history["val_loss"]) < 0.5 * history["val_loss"][0]
    assert colour_accuracy(tmp_path)[0] >= 0.9


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(ValueError, match="mirrored"):
        training.distribution_strategy("tpu")


def test_missing_model_names_the_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="06_training"):
        trained.load_trained_model(tmp_path)


def toy_datasets():
    """The toy data's vocabulary, max length, training batches (even rows) and dev batches (odd rows)."""
    image_ids, feature_matrix, captions = toy_data()
    vocabulary = Vocabulary.build([c for caps in captions.values() for c in caps])
    max_length = training.max_caption_length(captions)
    train_ds, _ = training.teacher_forcing_dataset(
        feature_matrix[::2], captions, image_ids[::2], vocabulary, max_length, 16
    )
    dev_ds, _ = training.teacher_forcing_dataset(
        feature_matrix[1::2], captions, image_ids[1::2], vocabulary, max_length, 16, shuffle=False
    )
    return vocabulary, max_length, train_ds, dev_ds


def test_training_ends_holding_the_best_epoch_and_a_plateau_halves_the_learning_rate(tmp_path):
    """EPOCHS is an upper bound: a too-high learning rate makes the dev loss stall; ReduceLROnPlateau halves the
    rate after ``reduce_lr_patience`` epochs without a better dev loss, and the model in memory is the best epoch."""
    import keras

    from helpers.model import build_model

    keras.utils.set_random_seed(0)
    vocabulary, max_length, train_ds, dev_ds = toy_datasets()
    model = build_model(
        "merge", len(vocabulary), max_length - 1, 8, units=32, embedding_dim=16, dropout=0.1, learning_rate=0.2
    )
    history = training.train(
        model,
        train_ds,
        dev_ds,
        epochs=30,
        run_dir=tmp_path,
        patience=3,
        reduce_lr_patience=1,
        verbose=0,
        average_epochs=1,
    )
    rates = history["learning_rate"]
    assert len(rates) == history["epochs_run"] and rates[0] == pytest.approx(0.2)
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:]))
    assert rates[-1] < rates[0], "the dev loss stalled at some point: the rate was lowered"
    assert history["stopped_early"] and history["epochs_run"] < 30
    assert np.isclose(model.evaluate(dev_ds, verbose=0), min(history["val_loss"]), rtol=1e-3), (
        "after train() the model holds the best epoch, not the last"
    )


def test_the_saved_model_averages_the_weights_of_the_best_epochs(tmp_path):
    import keras

    from helpers.model import build_model

    keras.utils.set_random_seed(0)
    vocabulary, max_length, train_ds, dev_ds = toy_datasets()
    model = build_model("merge", len(vocabulary), max_length - 1, 8, units=16, embedding_dim=8, learning_rate=0.05)
    per_epoch = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            per_epoch.append(model.get_weights())

    history = training.train(
        model,
        train_ds,
        dev_ds,
        epochs=40,
        run_dir=tmp_path,
        patience=2,
        verbose=0,
        average_epochs=3,
        callbacks=[Record()],
    )  # early stopping ends it: the dev loss has levelled off
    best = checkpoint_averaging.best_epochs(history["val_loss"], 3)
    assert history["stopped_early"] and len(best) == 3 and history["averaged_epochs"] == [epoch + 1 for epoch in best]
    expected = checkpoint_averaging.average_weights([per_epoch[epoch] for epoch in best])
    saved = keras.saving.load_model(tmp_path / files.MODEL_FILE).get_weights()
    for held, kept, average in zip(model.get_weights(), saved, expected):
        np.testing.assert_allclose(held, average, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(held, kept)
    assert np.isclose(model.evaluate(dev_ds, verbose=0), history["averaged_val_loss"], rtol=1e-4)
    assert not (tmp_path / checkpoint_averaging.BEST_EPOCHS_DIR).exists()


def test_the_best_epochs_are_the_lowest_dev_losses_and_nan_never_counts():
    assert checkpoint_averaging.best_epochs([3.0, 2.0, float("nan"), 2.0, 1.0], 3) == [4, 1, 3]
    assert checkpoint_averaging.best_epochs([float("nan")], 5) == []
    with pytest.raises(ValueError, match="average_epochs"):
        training.train(None, None, None, epochs=1, run_dir="unused", average_epochs=0)
