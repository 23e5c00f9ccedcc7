import pytest

from helpers.text import PAD_TOKEN, START_TOKEN, STOP_TOKEN, UNKNOWN_TOKEN
from helpers.vocabulary import PAD_ID, UNKNOWN_ID, Vocabulary

CAPTIONS = ["startseq two red circles endseq", "startseq one red square endseq", "startseq two blue circles endseq"]


def test_build_orders_by_count_and_keeps_tokens():
    vocabulary = Vocabulary.build(CAPTIONS, min_count=2)
    assert vocabulary.words[:4] == [PAD_TOKEN, UNKNOWN_TOKEN, START_TOKEN, STOP_TOKEN]
    assert vocabulary.words[4:] == ["circles", "red", "two"]
    assert vocabulary.index[PAD_TOKEN] == PAD_ID and vocabulary.index[UNKNOWN_TOKEN] == UNKNOWN_ID
    assert Vocabulary.build(CAPTIONS, min_count=1).words[4:] == ["circles", "red", "two", "blue", "one", "square"]


def test_encode_decode_round_trip_and_unknown_words():
    vocabulary = Vocabulary.build(CAPTIONS, min_count=2)
    ids = vocabulary.encode("startseq two green circles endseq")
    assert ids[2] == UNKNOWN_ID
    assert vocabulary.decode(vocabulary.encode(CAPTIONS[0])) == "two red circles"
    assert (
        vocabulary.decode([vocabulary.start_id, vocabulary.index["two"], vocabulary.stop_id, vocabulary.index["red"]])
        == "two"
    )


def test_json_round_trip(tmp_path):
    vocabulary = Vocabulary.build(CAPTIONS)
    path = vocabulary.save(tmp_path / "vocabulary.json")
    loaded = Vocabulary.load(path)
    assert loaded.words == vocabulary.words and loaded.counts == vocabulary.counts
    (tmp_path / "bad.json").write_text('{"nope": 1}')
    with pytest.raises(ValueError, match="bad.json"):
        Vocabulary.load(tmp_path / "bad.json")


def test_min_count_must_be_positive():
    with pytest.raises(ValueError):
        Vocabulary.build(CAPTIONS, min_count=0)
