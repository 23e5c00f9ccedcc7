import pytest

from helpers import text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Two small red circles on a black background.", "two small red circles on black background"),
        ("A dog's ball, 2 times!", "dogs ball times"),
        (
            "  There are 3 BLUE squares -- on the gray background #shapes ",
            "there are blue squares on the gray background shapes",
        ),
        ("Red circles (two of them), big, on black!", "red circles two of them big on black"),
        (
            "A child in a pink dress is climbing up a set of stairs in an entry way .",
            "child in pink dress is climbing up set of stairs in an entry way",
        ),
        ("3rd 1 x @ & *", ""),
    ],
)
def test_clean_caption_gives_the_expected_string(raw, expected):
    assert text.clean_caption(raw) == expected


def test_cleaning_is_idempotent_on_the_sample():
    from helpers.datasets import load_dataset

    captions = [c for caps in load_dataset("sample").captions_by_image.values() for c in caps]
    for caption in captions:
        once = text.clean_caption(caption)
        assert text.clean_caption(once) == once


def test_cleaning_real_flickr8k_captions(shared_text):
    from helpers.datasets import read_token_file

    captions = read_token_file(shared_text / "Flickr8k.token.txt")
    clean = text.clean_captions(captions)
    words = {w for caps in clean.values() for c in caps for w in c.split()}
    assert all(w.isalpha() and w.islower() and len(w) > 1 for w in words)
    assert 8000 < len(words) < 9000  # about 8,400 distinct words after cleaning
    assert clean["1000268201_693b08cb0e.jpg"][0] == "child in pink dress is climbing up set of stairs in an entry way"


def test_start_and_stop_tokens_are_added_exactly_once():
    once = text.add_start_stop("two red circles")
    assert once == "startseq two red circles endseq"
    assert text.add_start_stop(once) == once
    assert text.add_start_stop(text.add_start_stop(once)) == once
    assert text.add_start_stop("startseq startseq two endseq") == "startseq two endseq"
    assert text.strip_tokens(once) == "two red circles"
    assert text.add_start_stop("") == "startseq endseq"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2 big GREEN circles", "2 big green circles"),
        ("A dog's ball, 2 times!", "a dogs ball 2 times"),
        ("3rd 1 x @ & * €", "3rd 1 x"),
    ],
)
def test_keep_short_words_keeps_numbers_and_one_letter_words(raw, expected):
    assert text.clean_caption(raw, keep_short_words=True) == expected
    assert text.clean_caption(expected, keep_short_words=True) == expected  # idempotent
    assert text.clean_caption(raw) == text.clean_caption(raw, keep_short_words=False)  # the default drops them
    assert text.clean_captions({"x.jpg": [raw]}, keep_short_words=True) == {"x.jpg": [expected]}
