"""Caption cleaning and the start/stop tokens.

Taught in notebooks/01_text_cleaning.ipynb (cleaning) and used in
notebooks/02_lookup_table.ipynb (tokens).

The cleaning rule is the classic one of the course:

1. strip every character in :data:`string.punctuation` with a translation
   table made by :meth:`str.maketrans` (so ``"dog's"`` becomes ``"dogs"``),
2. lower-case,
3. drop tokens that are not purely alphabetic (``"2"``, ``"3rd"``, ``"€"``),
4. drop one-letter words (``"a"``, stray ``"s"``).

Steps 3 and 4 make captions telegraphic (``"a dog runs"`` -> ``"dog runs"``) and
BLEU not comparable with published figures, which keep ``"a"``:
``keep_short_words=True`` (notebook 01's ``KEEP_SHORT_WORDS``) keeps numbers and
one-letter words and drops only tokens with no letter or digit left (``"€"``).

It is idempotent: cleaning a clean caption gives it back unchanged.

Notebook 02 cuts captions longer than :data:`MAX_CAPTION_WORDS` words (:func:`cut_long_captions`)
before adding the tokens, so that one absurd caption cannot set the model's input length.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

START_TOKEN = "startseq"
STOP_TOKEN = "endseq"
PAD_TOKEN = "<pad>"
UNKNOWN_TOKEN = "<unk>"

PUNCTUATION_TABLE = str.maketrans("", "", string.punctuation)

#: Longest caption kept whole, in words (tokens not counted). Flickr8k's longest cleaned caption has about
#: 35 words, so no real caption is cut; without a cut, one training caption of 10,000 words would set
#: ``max_length`` to 10,002 and every training sequence would be padded to it.
MAX_CAPTION_WORDS = 50


def clean_caption(caption: str, keep_short_words: bool = False) -> str:
    """Return ``caption`` cleaned: no punctuation, lower case, only words of 2+ letters
    (with ``keep_short_words``: also numbers and one-letter words).

    >>> clean_caption("A dog's ball, 2 times!")
    'dogs ball times'
    >>> clean_caption("A dog's ball, 2 times!", keep_short_words=True)
    'a dogs ball 2 times'
    """
    words = caption.translate(PUNCTUATION_TABLE).lower().split()
    if keep_short_words:
        return " ".join(word for word in words if word.isalnum())
    return " ".join(word for word in words if word.isalpha() and len(word) > 1)


def strip_tokens(caption: str) -> str:
    """Remove every start, stop and padding token from a caption."""
    special = {START_TOKEN, STOP_TOKEN, PAD_TOKEN}
    return " ".join(word for word in caption.split() if word not in special)


def add_start_stop(caption: str) -> str:
    """Wrap a caption in exactly one start and one stop token.

    Safe to call again on its own output (re-running a notebook cell never
    gives ``startseq startseq ...``)."""
    body = strip_tokens(caption)
    return f"{START_TOKEN} {body} {STOP_TOKEN}" if body else f"{START_TOKEN} {STOP_TOKEN}"


def clean_captions(captions_by_image: dict[str, list[str]], keep_short_words: bool = False) -> dict[str, list[str]]:
    """Clean every caption of a ``{image_id: [caption, ...]}`` table (new dict)."""
    return {
        image_id: [clean_caption(c, keep_short_words) for c in captions]
        for image_id, captions in captions_by_image.items()
    }


def words(captions: Iterable[str]) -> list[str]:
    """All words of some captions, in order (tokens included if present)."""
    return [word for caption in captions for word in caption.split()]


def cut_long_captions(lookup_table: dict[str, dict[str, list[str]]], max_words: int = MAX_CAPTION_WORDS) -> int:
    """Cut, in place, every caption of a ``{split: {image_id: [caption, ...]}}`` table to its first
    ``max_words`` words (start and stop tokens not counted, and dropped from a cut caption: add them after).
    Prints how many were cut when any was; returns that count. Captions not over the limit are left as they are."""
    cut = 0
    for split_table in lookup_table.values():
        for image_id, captions in split_table.items():
            kept = []
            for caption in captions:
                body = strip_tokens(caption).split()
                cut += len(body) > max_words
                kept.append(" ".join(body[:max_words]) if len(body) > max_words else caption)
            split_table[image_id] = kept
    if cut:
        print(f"{cut:,} captions longer than {max_words} words were cut (MAX_CAPTION_WORDS)")
    return cut
