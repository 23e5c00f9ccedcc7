"""The check of notebook 01's cleaning exercise (machinery, not lesson).

The student writes a variant of section 3's rule, deciding what a hyphen does: ``black-and-white`` is three words,
not the ``blackandwhite`` that deleting punctuation makes. The reference is ``helpers.text.clean_caption`` on the
caption with its hyphens turned into spaces. Messages say which kind of caption comes out wrong and hint at the
rule; they never print the expected cleaning."""

from __future__ import annotations

from helpers import text

EXAMPLES = [  # one without a hyphen first: the rule of section 3 before the decision
    "Two  DOGS run;  a cat (3rd) watches...",
    "A black-and-white dog's ball, 2 times!",
    "A man in a red t-shirt jumps off a ten-foot wall",
    "",
]


def reference(caption: str) -> str:
    """Section 3's rule, a hyphen separating words."""
    return text.clean_caption(caption.replace("-", " "))


def check_hyphen_cleaning(my_clean, captions) -> str:
    """``my_clean(caption) -> str`` against :func:`reference` on ``EXAMPLES`` and on every caption of ``captions``.
    Returns a one-line verdict."""
    assert callable(my_clean), "answer_1 is your function itself: answer_1 = my_clean, without parentheses"
    captions = list(captions)
    for caption in EXAMPLES + captions:
        try:
            mine = my_clean(caption)
        except Exception as error:  # noqa: BLE001 -- shown to the student as a hint
            raise AssertionError(f"my_clean({caption!r}) raised {type(error).__name__}: {error}") from None
        assert isinstance(mine, str), f"my_clean returns a string (words joined by spaces), not {type(mine).__name__}"
        if mine == reference(caption):
            continue
        if "-" in caption and mine == text.clean_caption(caption):
            raise AssertionError(
                f"my_clean({caption!r}) joins the hyphenated words into one: turn each hyphen into a space before the "
                "other punctuation is deleted"
            )
        if "-" not in caption:
            raise AssertionError(
                f"my_clean({caption!r}) differs from section 3's rule on a caption without a hyphen: delete "
                "punctuation, lower-case, keep the words of two or more letters (no digits)"
            )
        raise AssertionError(
            f"my_clean({caption!r}) is not right: a hyphen separates words; the rest is section 3's rule"
        )
    changed = sum(reference(c) != text.clean_caption(c) for c in captions)
    return f"my_clean splits hyphenated words and agrees with the rule elsewhere ({changed} of {len(captions)} captions change)"
