import numpy as np

from helpers import decoding
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


def test_greedy_stops_at_the_stop_token_and_batches_match_one_by_one():
    model = ScriptedModel({0: ["two", "red", "circles", "endseq", "red"], 1: ["one", "blue", "endseq"],
                           2: ["red"] * 20})
    features = np.array([[0.0], [1.0], [2.0]], dtype="float32")
    captions = decoding.greedy_captions(model, features, VOCABULARY, max_length=6)
    assert captions == ["two red circles", "one blue", "red red red red red"]
    assert model.calls == 5, "one model call per word position for the whole batch"
    steps = decoding.greedy_caption_one(model, features[0], VOCABULARY, max_length=6)
    assert steps == ["two", "red", "circles", "endseq"]
    assert decoding.greedy_captions(model, features, VOCABULARY, max_length=6, batch_size=1) == captions
