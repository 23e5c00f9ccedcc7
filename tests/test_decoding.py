import math

import numpy as np
import pytest

from helpers import decoding, next_word
from helpers.vocabulary import Vocabulary

VOCABULARY = Vocabulary.build(["startseq two red circles endseq", "startseq one blue square endseq"])


class ScriptedModel:
    """Stands in for the Keras model: picks the next word from a script keyed by image feature[0]."""

    def __init__(self, scripts):
        self.scripts = scripts
        self.calls = 0

    def __call__(self, inputs, training=False):
        self.calls += 1
        image_features, prefixes = inputs
        out = np.full((len(prefixes), len(VOCABULARY)), 1e-3, dtype="float32")
        for row, (feature, prefix) in enumerate(zip(image_features, prefixes)):
            script = self.scripts[int(feature[0])]
            position = int((prefix != 0).sum())
            word = script[position - 1] if position - 1 < len(script) else "endseq"
            out[row, VOCABULARY.index[word]] = 1.0
        return out / out.sum(axis=1, keepdims=True)


class TableModel:
    """Next-word probabilities looked up by the words so far (rank-2 output); unlisted prefixes say endseq."""

    def __init__(self, table):
        self.table = table

    def __call__(self, inputs, training=False):
        _, prefixes = inputs
        out = np.full((len(prefixes), len(VOCABULARY)), 1e-9)
        for row, prefix in enumerate(prefixes):
            words = tuple(VOCABULARY.words[i] for i in prefix if i != 0)[1:]
            for word, p in self.table.get(words, {"endseq": 1.0}).items():
                out[row, VOCABULARY.index[word]] = p
        return out / out.sum(axis=1, keepdims=True)


def test_greedy_stops_at_the_stop_token_and_batches_match_one_by_one():
    model = ScriptedModel(
        {0: ["two", "red", "circles", "endseq", "red"], 1: ["one", "blue", "endseq"], 2: ["red"] * 20}
    )
    features = np.array([[0.0], [1.0], [2.0]], dtype="float32")
    captions = decoding.greedy_captions(model, features, VOCABULARY, max_length=6, no_repeat_ngram=0)
    assert captions[:2] == ["two red circles", "one blue"]
    assert captions[2].startswith("red") and "red red" not in captions[2], "never the same word twice in a row"
    assert model.calls == 4, "one model call per word position for the whole batch (the longest: 3 words, endseq)"
    steps = decoding.greedy_caption_one(model, features[0], VOCABULARY, max_length=6)
    assert steps == ["two", "red", "circles", "endseq"]
    assert (
        decoding.greedy_captions(model, features, VOCABULARY, max_length=6, batch_size=1, no_repeat_ngram=0) == captions
    )


def test_beam_search_finds_the_caption_greedy_misses():
    # greedy takes "two" (0.6) and then has only weak continuations (red 0.32 best): P = 0.6 * 0.32 * 1 = 0.19;
    # "one" (0.4) then "endseq" (0.9) has P = 0.36, found by a beam of width 2.
    model = TableModel(
        {
            (): {"two": 0.6, "one": 0.4},
            ("two",): {"red": 0.32, "blue": 0.3, "square": 0.28, "endseq": 0.1},
            ("one",): {"endseq": 0.9, "red": 0.1},
        }
    )
    features = np.zeros((1, 1), dtype="float32")
    assert decoding.greedy_captions(model, features, VOCABULARY, 6) == ["two red"]
    assert decoding.beam_search_captions(model, features, VOCABULARY, 6, width=1) == ["two red"]
    assert decoding.beam_search_captions(model, features, VOCABULARY, 6, width=2, alpha=0.0) == ["one"]
    beams = decoding.beam_search_captions(model, features, VOCABULARY, 6, width=2, alpha=0.0, return_beams=True)[0]
    assert beams[0].words == ["one", "endseq"] and beams[0].finished
    assert beams[0].log_probability == pytest.approx(math.log(0.4 * 0.9), abs=1e-6)
    assert beams[0].log_probability >= beams[1].log_probability


def test_length_normalisation_changes_which_caption_wins():
    # "one endseq" is more probable in total, "two red circles endseq" more probable per word
    model = TableModel(
        {
            (): {"one": 0.5, "two": 0.5},
            ("one",): {"endseq": 0.6, "blue": 0.4},
            ("two",): {"red": 0.8, "endseq": 0.2},
            ("two", "red"): {"circles": 0.8, "endseq": 0.2},
            ("two", "red", "circles"): {"endseq": 0.8, "red": 0.2},
        }
    )
    features = np.zeros((1, 1), dtype="float32")
    # log P: "one" = log(0.5 * 0.6) = -1.20 (2 words); "two red circles" = log(0.5 * 0.8 ** 3) = -1.36 (4 words)
    assert decoding.beam_search_captions(model, features, VOCABULARY, 8, width=3, alpha=0.0) == ["one"]
    # per word (alpha = 1): -1.20 / 2 = -0.60 against -1.36 / 4 = -0.34
    assert decoding.beam_search_captions(model, features, VOCABULARY, 8, width=3, alpha=1.0) == ["two red circles"]
    assert decoding.length_normalised(-2.0, 4, 0.0) == pytest.approx(-2.0)
    assert decoding.length_normalised(-2.0, 4, 1.0) == pytest.approx(-0.5)


def test_the_beam_trace_shows_each_step_of_one_image():
    model = TableModel(
        {
            (): {"two": 0.6, "one": 0.4},
            ("two",): {"red": 0.5, "blue": 0.4, "endseq": 0.1},
            ("one",): {"endseq": 0.9, "red": 0.1},
        }
    )
    trace: list = []
    decoding.beam_search_captions(model, np.zeros((2, 1), "float32"), VOCABULARY, 6, width=2, trace=trace)
    assert [step.step for step in trace] == list(range(1, len(trace) + 1))
    assert [b.words for b in trace[0].beams] == [["two"], ["one"]]
    assert all(b.finished for b in trace[-1].beams)
    table = decoding.beam_steps_table(trace)
    assert "two" in table and "(finished)" in table and table.splitlines()[0].split()[:2] == ["step", "rank"]


def test_width_below_one_and_bad_temperature_are_errors():
    model = TableModel({})
    with pytest.raises(ValueError, match="width"):
        decoding.beam_search_captions(model, np.zeros((1, 1), "float32"), VOCABULARY, 6, width=0)
    with pytest.raises(ValueError, match="temperature"):
        decoding.sample_captions(model, np.zeros((1, 1), "float32"), VOCABULARY, 6, temperature=0)


# ---- real Keras models, both output shapes ------------------------------------------------------------------

FEATURE_DIM, MAX_LENGTH = 8, 7
WORDS = "a dog cat runs on grass the red ball in water".split()
KERAS_VOCABULARY = Vocabulary.build(["startseq " + " ".join(WORDS) + " endseq"])


def tiny_model(rank: int, seed: int = 0):
    """A small random merge model: (B, V) next-word output (rank 2) or (B, L, V) per position (rank 3)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    features = keras.Input((FEATURE_DIM,))
    tokens = keras.Input((MAX_LENGTH,), dtype="int32")
    image = layers.Dense(16, activation="relu")(features)
    words = layers.Embedding(len(KERAS_VOCABULARY), 16, mask_zero=True)(tokens)
    words = layers.LSTM(16, return_sequences=(rank == 3))(words)
    if rank == 3:
        image = layers.RepeatVector(MAX_LENGTH)(image)
    merged = layers.Dense(16, activation="relu")(layers.Add()([image, words]))
    # large logits so that a random model still has clear favourites and stops at times
    logits = layers.Dense(len(KERAS_VOCABULARY), kernel_initializer=keras.initializers.RandomNormal(stddev=2.0))(merged)
    return keras.Model([features, tokens], layers.Softmax()(logits))


@pytest.fixture(scope="module")
def random_features():
    return np.random.default_rng(1).normal(size=(12, FEATURE_DIM)).astype("float32") * 3


@pytest.mark.parametrize("rank", [2, 3])
def test_beam_of_width_one_is_greedy_and_batches_match_one_by_one(rank, random_features):
    model = tiny_model(rank)
    assert len(model.output_shape) == rank
    greedy = decoding.greedy_captions(model, random_features, KERAS_VOCABULARY, MAX_LENGTH, batch_size=5)
    assert (
        decoding.beam_search_captions(model, random_features, KERAS_VOCABULARY, MAX_LENGTH, width=1, batch_size=5)
        == greedy
    )
    for row, caption in zip(random_features[:3], greedy):
        steps = decoding.greedy_caption_one(model, row, KERAS_VOCABULARY, MAX_LENGTH)
        assert " ".join(w for w in steps if w != "endseq") == caption
    beam3 = decoding.beam_search_captions(model, random_features, KERAS_VOCABULARY, MAX_LENGTH, width=3)
    assert len(beam3) == len(random_features)
    assert all(len(c.split()) <= MAX_LENGTH - 1 and "startseq" not in c and "endseq" not in c for c in beam3)


def test_the_rank_3_model_is_read_at_the_last_word_of_each_sequence(random_features):
    """Decoding a (B, L, V) model equals decoding a (B, V) wrapper that picks position length - 1 itself."""
    model = tiny_model(3)

    def last_position(inputs, training=False):
        features, tokens = inputs
        out = np.asarray(model([features, tokens], training=False))
        return out[np.arange(len(tokens)), (np.asarray(tokens) != 0).sum(axis=1) - 1]

    for decode in (decoding.greedy_captions, lambda m, f, v, n: decoding.beam_search_captions(m, f, v, n, width=3)):
        assert decode(model, random_features, KERAS_VOCABULARY, MAX_LENGTH) == decode(
            last_position, random_features, KERAS_VOCABULARY, MAX_LENGTH
        )


@pytest.mark.parametrize("rank", [2, 3])
def test_sampling_is_seeded_and_a_low_temperature_is_greedy(rank, random_features):
    model = tiny_model(rank)
    greedy = decoding.greedy_captions(model, random_features, KERAS_VOCABULARY, MAX_LENGTH)
    cold = decoding.sample_captions(model, random_features, KERAS_VOCABULARY, MAX_LENGTH, temperature=1e-3, seed=3)
    assert cold == greedy
    first = decoding.sample_captions(model, random_features, KERAS_VOCABULARY, MAX_LENGTH, temperature=1.5, seed=7)
    assert first == decoding.sample_captions(
        model, random_features, KERAS_VOCABULARY, MAX_LENGTH, temperature=1.5, seed=7
    )
    others = [
        decoding.sample_captions(model, random_features, KERAS_VOCABULARY, MAX_LENGTH, temperature=1.5, seed=s)
        for s in (8, 9)
    ]
    assert any(o != first for o in others), "different seeds should give some different captions"


# ---- carrying the LSTM state (StepModel) gives exactly the captions of re-reading the prefix -----------------


def sample_captions_and_features(dim=32, seed=0):
    """The bundled sample's cleaned captions and, for each image, a feature vector made from what its
    captions say (a random projection of their words plus noise): stands in for CNN features, so that a
    model trained a few epochs writes real sample captions."""
    from helpers import datasets, text

    data = datasets.load_dataset("sample")
    captions = {i: [text.add_start_stop(text.clean_caption(c)) for c in cs] for i, cs in data.captions_by_image.items()}
    vocabulary = Vocabulary.build([c for cs in captions.values() for c in cs])
    rng = np.random.default_rng(seed)
    projection = rng.normal(size=(len(vocabulary), dim)).astype("float32")
    features = {}
    for image_id, cs in captions.items():
        bag = np.zeros(len(vocabulary), "float32")
        bag[[i for c in cs for i in vocabulary.encode(c)]] = 1
        features[image_id] = bag @ projection / 4 + rng.normal(0, 0.1, dim).astype("float32")
    return data.splits, captions, vocabulary, features


@pytest.fixture(scope="module")
def trained_sample_models():
    import keras

    from helpers import training
    from helpers.model import build_model

    splits, captions, vocabulary, features = sample_captions_and_features()
    max_length = training.max_caption_length(captions)
    train_ids = splits["train"][:180]  # half the training split: enough to learn the colours, half the time
    dataset, _ = training.teacher_forcing_dataset(
        np.stack([features[i] for i in train_ids]), captions, train_ids, vocabulary, max_length, 32, seed=0
    )
    models = {}
    for architecture in ("merge", "inject"):
        keras.utils.set_random_seed(0)
        model = build_model(
            architecture,
            len(vocabulary),
            max_length - 1,
            32,
            units=48,
            embedding_dim=16,
            dropout=0.1,
            learning_rate=0.01,
        )
        model.fit(dataset, epochs=6, verbose=0, shuffle=False)  # tf.data shuffles
        models[architecture] = model
    test_ids = splits["test"][:40]
    return models, vocabulary, max_length, np.stack([features[i] for i in test_ids]), captions, test_ids


@pytest.mark.parametrize("architecture", ["merge", "inject"])
def test_carrying_the_state_gives_the_same_captions_as_rereading_the_prefix(architecture, trained_sample_models):
    models, vocabulary, max_length, features, captions, test_ids = trained_sample_models
    model = models[architecture]
    assert next_word.step_model(model) is not None, "a course model is decoded with its step model"
    rereading = next_word.RereadingModel(model, max_length - 1)  # how captions were made before: no state
    assert next_word.step_model(rereading) is None
    greedy = decoding.greedy_captions(model, features, vocabulary, max_length)
    assert greedy == decoding.greedy_captions(rereading, features, vocabulary, max_length)
    # the model learned the sample: most greedy captions name a colour its references name
    colours = {"red", "green", "blue", "yellow", "purple", "orange", "white", "black", "gray", "pink", "brown"}
    right = [bool(set(g.split()) & colours & set(" ".join(captions[i]).split())) for g, i in zip(greedy, test_ids)]
    assert np.mean(right) > 0.5, greedy[:5]
    beams = decoding.beam_search_captions(model, features, vocabulary, max_length, width=3, return_beams=True)
    reread = decoding.beam_search_captions(rereading, features, vocabulary, max_length, width=3, return_beams=True)
    assert [[b.words for b in bs] for bs in beams] == [[b.words for b in bs] for bs in reread]
    assert np.allclose(
        [b.log_probability for bs in beams for b in bs], [b.log_probability for bs in reread for b in bs], atol=1e-4
    )
    assert decoding.sample_captions(
        model, features[:20], vocabulary, max_length, temperature=1.5, seed=4
    ) == decoding.sample_captions(rereading, features[:20], vocabulary, max_length, temperature=1.5, seed=4)
    assert decoding.greedy_caption_one(model, features[0], vocabulary, max_length) == decoding.greedy_caption_one(
        rereading, features[0], vocabulary, max_length
    )
    trace, reread_trace = [], []
    decoding.beam_search_captions(model, features[:1], vocabulary, max_length, width=3, trace=trace)
    decoding.beam_search_captions(rereading, features[:1], vocabulary, max_length, width=3, trace=reread_trace)
    assert decoding.beam_steps_table(trace).split() == decoding.beam_steps_table(reread_trace).split()


@pytest.mark.parametrize("architecture", ["merge", "inject"])
def test_the_step_model_is_the_trained_model_one_word_at_a_time_with_its_own_weights(architecture):
    from helpers.model import build_model

    model = build_model(architecture, 40, 9, 12, units=16, embedding_dim=8)
    stepper = next_word.step_model(model)
    assert stepper is next_word.step_model(model), "built once per model"
    assert stepper.architecture == architecture
    own = {id(w) for w in model.weights}
    assert stepper.model.weights and all(id(w) in own for w in stepper.model.weights), "no second set of weights"
    rng = np.random.default_rng(2)
    features = rng.normal(size=(3, 12)).astype("float32")
    words = rng.integers(1, 40, size=(3, 9)).astype("int32")
    full = np.asarray(model([features, words]))
    state = stepper.initial_state(features)
    for position in range(9):
        probabilities, state = stepper.step(features, words[:, position], state)
        assert probabilities.shape == (3, 40)
        assert np.allclose(probabilities, full[:, position], atol=1e-5), f"position {position}"
    # new weights (as training changes them) are seen by the step model at once
    dense = model.get_layer("next_word")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 0, bias * 0])
    probabilities, _ = stepper.step(features, words[:, 0], stepper.initial_state(features))
    assert np.allclose(probabilities, 1 / 40, atol=1e-6)


def test_other_models_are_decoded_by_rereading_the_prefix(random_features):
    import keras
    from keras import layers

    assert next_word.step_model(tiny_model(3)) is None, "not a helpers.model model"
    # the course's layer names, wired differently (the image is added after decoder_dense): the check refuses it
    features = keras.Input((FEATURE_DIM,))
    tokens = keras.Input((None,), dtype="int32")
    image = layers.Dense(16, name="image_dense")(features)
    words = layers.Embedding(len(KERAS_VOCABULARY), 8, mask_zero=True, name="word_embedding")(tokens)
    words = layers.LSTM(16, return_sequences=True, name="lstm")(words)
    from helpers.model import ImageAtEveryPosition

    hidden = layers.Dense(16, name="decoder_dense")(words)
    hidden = layers.Add(name="merge")([hidden, ImageAtEveryPosition()([image, tokens])])
    probabilities = layers.Dense(len(KERAS_VOCABULARY), activation="softmax", name="next_word")(hidden)
    impostor = keras.Model([features, tokens], probabilities)
    assert next_word.step_model(impostor) is None
    captions = decoding.greedy_captions(impostor, random_features, KERAS_VOCABULARY, MAX_LENGTH)
    assert captions == decoding.greedy_captions(
        next_word.RereadingModel(impostor), random_features, KERAS_VOCABULARY, MAX_LENGTH
    )


def test_the_top_k_without_a_full_sort_matches_the_stable_sort_ties_included():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 5, size=(200, 30)).astype(float)  # many ties
    values[rng.random(values.shape) < 0.3] = -np.inf
    values[:3] = -np.inf
    for k in (1, 3, 7, 30, 40):
        assert np.array_equal(decoding._top_stable(values, k), np.argsort(-values, axis=1, kind="stable")[:, :k])
    smooth = rng.normal(size=(50, 1000))
    assert np.array_equal(decoding._top_stable(smooth, 3), np.argsort(-smooth, axis=1, kind="stable")[:, :3])


@pytest.mark.course
def test_the_course_model_gives_the_same_captions_with_and_without_carrying_the_state(course_run):
    from course import files, paths, trained_run
    from helpers import features as feature_module

    run_dir, _ = course_run
    model, vocabulary, config = trained_run.load_trained_model(run_dir)
    max_length = config["text"]["max_length"]
    table = feature_module.load_features(run_dir / files.FEATURES_FILE)
    test_ids = list(paths.read_json(run_dir / files.LOOKUP_TABLE_FILE)["test"])
    rows = table.matrix([i for i in test_ids if i in table])
    assert next_word.step_model(model) is not None
    rereading = next_word.RereadingModel(model)
    assert decoding.greedy_captions(model, rows, vocabulary, max_length) == decoding.greedy_captions(
        rereading, rows, vocabulary, max_length
    )
    assert decoding.beam_search_captions(model, rows, vocabulary, max_length, width=3) == decoding.beam_search_captions(
        rereading, rows, vocabulary, max_length, width=3
    )


# ---- what may come next: never <unk>, padding or start; no repeated n-gram ------------------------------------

UNK_LOVER_VOCABULARY = Vocabulary.build(["startseq a dog runs on the grass endseq", "startseq the dog endseq"])


class UnknownLovingModel:
    """Ranks <unk> first everywhere (as a model trained on real captions, full of rare words, often does), then
    padding and start, then a looping script ``the dog the dog ...``; endseq last."""

    def __call__(self, inputs, training=False):
        _, prefixes = inputs
        vocabulary = UNK_LOVER_VOCABULARY
        out = np.full((len(prefixes), len(vocabulary)), 1e-4)
        for row, prefix in enumerate(prefixes):
            position = int((np.asarray(prefix) != 0).sum())
            out[row, vocabulary.index["the" if position % 2 else "dog"]] = 0.1
            out[row, vocabulary.index["a"]] = 0.05
            out[row, 0], out[row, 1], out[row, vocabulary.start_id] = 0.2, 0.5, 0.15
        return out / out.sum(axis=1, keepdims=True)


def repeated_ngrams(words: list[str], n: int) -> list[tuple]:
    seen, repeated = set(), []
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        if gram in seen:
            repeated.append(gram)
        seen.add(gram)
    return repeated


def all_strategies(model, features, vocabulary, max_length, **guard):
    return {
        "greedy": decoding.greedy_captions(model, features, vocabulary, max_length, **guard),
        "beam 1": decoding.beam_search_captions(model, features, vocabulary, max_length, width=1, **guard),
        "beam 3": decoding.beam_search_captions(model, features, vocabulary, max_length, width=3, **guard),
        "sampling": decoding.sample_captions(model, features, vocabulary, max_length, temperature=1.0, seed=1, **guard),
        "one by one": [
            " ".join(decoding.greedy_caption_one(model, row, vocabulary, max_length, **guard)[:-1]) for row in features
        ],
    }


@pytest.mark.parametrize("guard", [0, 2, 3])
def test_a_model_that_prefers_unk_never_gets_it(guard):
    features = np.zeros((4, 1), dtype="float32")
    for name, captions in all_strategies(
        UnknownLovingModel(), features, UNK_LOVER_VOCABULARY, 12, no_repeat_ngram=guard
    ).items():
        for caption in captions:
            words = caption.split()
            assert words, f"{name}: an empty caption"
            assert not {"<unk>", "<pad>", "startseq", "endseq"} & set(words), f"{name}: {caption!r}"
            assert len(words) <= 12 - 2, f"{name}: longer than the longest training caption (12 tokens)"


def test_the_banned_ids_are_padding_unknown_and_start():
    ids = decoding.banned_token_ids(UNK_LOVER_VOCABULARY)
    assert sorted(UNK_LOVER_VOCABULARY.words[i] for i in ids) == sorted(["<pad>", "<unk>", "startseq"])
    log_probabilities = np.zeros((2, len(UNK_LOVER_VOCABULARY)))
    decoding.ban_tokens(log_probabilities, UNK_LOVER_VOCABULARY)
    assert np.isneginf(log_probabilities[:, ids]).all() and np.isfinite(np.delete(log_probabilities, ids, 1)).all()


def test_repeated_ngram_words_are_the_ones_that_would_complete_an_earlier_ngram():
    # rows: "s the dog the" (length 4) and "s a a" (length 3), padded
    sequences = np.array([[9, 1, 2, 1, 0, 0], [9, 5, 5, 0, 0, 0]])
    lengths = np.array([4, 3])

    def as_pairs(n):
        return sorted(zip(*map(list, decoding.repeated_ngram_words(sequences, lengths, n))))

    assert as_pairs(2) == [(0, 2), (1, 5)]  # "the dog" again; "a a" again
    assert as_pairs(3) == []  # "dog the" occurs once; "s a" is not "a a"
    assert as_pairs(1) == [(0, 1), (0, 1), (0, 2), (0, 9), (1, 5), (1, 5), (1, 9)]
    assert as_pairs(0) == []
    log_probabilities = np.zeros((2, 10))
    decoding.block_repeated_ngrams(log_probabilities, sequences, lengths, 2)
    assert np.isneginf(log_probabilities).sum() == 2 and np.isneginf(log_probabilities[[0, 1], [2, 5]]).all()


@pytest.mark.parametrize("n", [2, 3, 4])
def test_with_the_guard_on_no_ngram_is_repeated(n):
    features = np.zeros((3, 1), dtype="float32")
    unguarded = all_strategies(UnknownLovingModel(), features, UNK_LOVER_VOCABULARY, 14, no_repeat_ngram=0)
    assert repeated_ngrams(unguarded["greedy"][0].split(), n), "the model loops without the guard"
    guarded = all_strategies(UnknownLovingModel(), features, UNK_LOVER_VOCABULARY, 14, no_repeat_ngram=n)
    for name, captions in guarded.items():
        for caption in captions:
            assert not repeated_ngrams(caption.split(), n), f"{name}: {caption!r}"
    assert guarded["beam 1"] == guarded["greedy"] == guarded["one by one"]


@pytest.mark.parametrize("rank", [2, 3])
def test_the_guard_keeps_width_one_equal_to_greedy_on_keras_models(rank, random_features):
    model = tiny_model(rank)
    for n in (0, 2):
        greedy = decoding.greedy_captions(model, random_features, KERAS_VOCABULARY, MAX_LENGTH, no_repeat_ngram=n)
        assert (
            decoding.beam_search_captions(
                model, random_features, KERAS_VOCABULARY, MAX_LENGTH, width=1, no_repeat_ngram=n
            )
            == greedy
        )
        if n:
            assert not any(repeated_ngrams(c.split(), n) for c in greedy)


class RepeatLovingModel:
    """Ranks the word it has just read first, everywhere (a model trained on little real data barely uses its
    last word: fed "startseq man in the" it says "the"); after startseq it says "the"; endseq is unlikely."""

    def __call__(self, inputs, training=False):
        _, prefixes = inputs
        vocabulary = UNK_LOVER_VOCABULARY
        out = np.full((len(prefixes), len(vocabulary)), 1e-3)
        for row, prefix in enumerate(prefixes):
            words = [i for i in np.asarray(prefix) if i != 0]
            last = words[-1] if len(words) > 1 else vocabulary.index["the"]
            out[row, last] = 0.6
            out[row, vocabulary.index["dog"]] = 0.2
            out[row, vocabulary.stop_id] = 1e-4
        return out / out.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("guard", [0, 3])
def test_no_strategy_writes_the_same_word_twice_in_a_row(guard):
    """Every decoder goes through decoding.allowed_next_words: greedy, beam, sampling, the caption command
    (course.captioner) and notebook 10's attention decoder (helpers.attention)."""
    features = np.zeros((3, 1), dtype="float32")
    for name, captions in all_strategies(
        RepeatLovingModel(), features, UNK_LOVER_VOCABULARY, 12, no_repeat_ngram=guard
    ).items():
        for caption in captions:
            words = caption.split()
            assert words and (words[0] == "the" or name == "sampling"), f"{name}: {caption!r}"
            assert all(a != b for a, b in zip(words, words[1:])), f"{name}: {caption!r}"


def test_the_word_just_written_is_blocked_row_by_row():
    sequences = np.array([[9, 4, 7, 0], [9, 5, 0, 0]])
    log_probabilities = np.zeros((2, 10))
    decoding.block_repeated_word(log_probabilities, sequences, np.array([3, 2]))
    assert np.isneginf(log_probabilities).sum() == 2 and np.isneginf(log_probabilities[[0, 1], [7, 5]]).all()
