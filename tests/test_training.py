import numpy as np
import pytest

from helpers import decoding, paths, training
from helpers.model import build_merge_model
from helpers.vocabulary import PAD_ID, Vocabulary

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


def test_prefix_positions_and_batches_cut_the_right_prefixes():
    vocabulary = Vocabulary.build(["startseq two red circles endseq"])
    captions = {"a.jpg": ["startseq two red circles endseq"]}
    rows, sequences = training.encode_captions(captions, vocabulary, max_length=7)
    assert sequences.shape == (1, 7) and list(sequences[0, 5:]) == [PAD_ID, PAD_ID]
    assert training.prefix_positions(sequences).tolist() == [[0, 1], [0, 2], [0, 3], [0, 4]]
    dataset, count = training.prefix_pair_dataset(np.ones((1, 3), "float32"), captions, ["a.jpg"], vocabulary, 7,
                                                  batch_size=10, shuffle=False)
    assert count == 4
    (image_features, prefixes), next_words = next(iter(dataset))
    decoded = [(" ".join(vocabulary.words[i] for i in p if i != PAD_ID), vocabulary.words[n]) for p, n in zip(prefixes.numpy(), next_words.numpy())]
    assert decoded == [("startseq", "two"), ("startseq two", "red"), ("startseq two red", "circles"),
                       ("startseq two red circles", "endseq")]
    assert image_features.shape == (4, 3)


def test_long_captions_are_truncated_keeping_the_stop_token():
    vocabulary = Vocabulary.build(["startseq a b c d e endseq".replace(" a ", " aa ")])
    _, sequences = training.encode_captions({"x": ["startseq aa b c d e endseq"]}, vocabulary, max_length=4)
    assert sequences[0, -1] == vocabulary.stop_id


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    run_dir = tmp_path_factory.mktemp("run")
    image_ids, feature_matrix, captions = toy_data()
    vocabulary = Vocabulary.build([c for caps in captions.values() for c in caps])
    vocabulary.save(run_dir / paths.VOCABULARY_FILE)
    max_length = training.max_caption_length(captions)
    paths.update_config(run_dir, "text", {"max_length": max_length})
    train_ids, dev_ids = image_ids[::2], image_ids[1::2]
    train_ds, _ = training.prefix_pair_dataset(feature_matrix[::2], captions, train_ids, vocabulary, max_length, 16)
    dev_ds, _ = training.prefix_pair_dataset(feature_matrix[1::2], captions, dev_ids, vocabulary, max_length, 16,
                                             shuffle=False)
    model = build_merge_model(len(vocabulary), max_length, 8, units=32, embedding_dim=16, dropout=0.1,
                              learning_rate=0.01)
    history = training.train(model, train_ds, dev_ds, epochs=12, run_dir=run_dir, verbose=0)
    _, train_seq = training.encode_captions({i: captions[i] for i in train_ids}, vocabulary, max_length)
    _, dev_seq = training.encode_captions({i: captions[i] for i in dev_ids}, vocabulary, max_length)
    baseline = training.unigram_baseline_loss(train_seq, dev_seq, len(vocabulary))
    return run_dir, history, baseline, feature_matrix[1::2], dev_ids, max_length


def test_training_lowers_the_loss_and_beats_the_baseline(trained_run):
    run_dir, history, baseline, *_ = trained_run
    assert history["loss"][-1] < history["loss"][0]
    assert min(history["val_loss"]) < history["val_loss"][0]
    assert min(history["val_loss"]) < 0.6 * baseline
    assert (run_dir / paths.MODEL_FILE).exists() and (run_dir / paths.HISTORY_FILE).exists()


def test_the_trained_model_names_the_colour_and_reloads_with_the_same_captions(trained_run):
    run_dir, _, _, dev_features, dev_ids, max_length = trained_run
    model, vocabulary, config = training.load_trained_model(run_dir)
    assert config["text"]["max_length"] == max_length
    captions = decoding.greedy_captions(model, dev_features, vocabulary, max_length)
    correct = sum(image_id.split("_")[0] in caption.split() for image_id, caption in zip(dev_ids, captions))
    assert correct >= 0.9 * len(dev_ids), captions
    reloaded, vocabulary2, _ = training.load_trained_model(run_dir)
    assert decoding.greedy_captions(reloaded, dev_features, vocabulary2, max_length) == captions


def test_missing_model_names_the_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="06_training"):
        training.load_trained_model(tmp_path)
