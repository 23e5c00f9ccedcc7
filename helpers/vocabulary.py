"""The vocabulary: words <-> integer ids, saved as JSON.

Taught in notebooks/02_lookup_table.ipynb.

Id 0 is padding (``<pad>``), id 1 stands for any word the model never saw or saw
fewer than ``min_count`` times (``<unk>``). The start and stop tokens are always
in, whatever their count. Words are sorted by count (then alphabetically) so the
file is deterministic and reads like a frequency table.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from course.paths import write_json_atomic
from helpers.text import PAD_TOKEN, START_TOKEN, STOP_TOKEN, UNKNOWN_TOKEN

PAD_ID = 0
UNKNOWN_ID = 1


class Vocabulary:
    """An ordered list of words; a word's position is its id."""

    def __init__(self, words: list[str], counts: dict[str, int] | None = None, min_count: int = 1):
        if words[:2] != [PAD_TOKEN, UNKNOWN_TOKEN]:
            raise ValueError(f"a vocabulary starts with {PAD_TOKEN!r}, {UNKNOWN_TOKEN!r}; got {words[:2]}")
        if len(set(words)) != len(words):
            raise ValueError("a vocabulary lists each word once")
        self.words = list(words)
        self.counts = dict(counts or {})
        self.min_count = min_count
        self.index = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1) -> "Vocabulary":
        """Vocabulary of every word seen at least ``min_count`` times in ``captions``."""
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        counts = Counter(word for caption in captions for word in caption.split())
        special = [PAD_TOKEN, UNKNOWN_TOKEN, START_TOKEN, STOP_TOKEN]
        kept = sorted(
            (w for w, c in counts.items() if c >= min_count and w not in special),
            key=lambda w: (-counts[w], w),
        )
        return cls(special + kept, {w: counts[w] for w in kept + [START_TOKEN, STOP_TOKEN] if w in counts}, min_count)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def start_id(self) -> int:
        return self.index[START_TOKEN]

    @property
    def stop_id(self) -> int:
        return self.index[STOP_TOKEN]

    def encode(self, caption: str) -> list[int]:
        """Word ids of a caption; unknown words become :data:`UNKNOWN_ID`."""
        return [self.index.get(word, UNKNOWN_ID) for word in caption.split()]

    def decode(self, ids: Iterable[int], *, stop_at_stop: bool = True, skip_special: bool = True) -> str:
        """Caption text of some ids: stops at the stop token, drops padding and start."""
        words = []
        for i in ids:
            word = self.words[int(i)]
            if stop_at_stop and word == STOP_TOKEN:
                break
            if skip_special and word in (PAD_TOKEN, START_TOKEN, STOP_TOKEN):
                continue
            words.append(word)
        return " ".join(words)

    def to_dict(self) -> dict:
        return {
            "words": self.words,
            "counts": self.counts,
            "min_count": self.min_count,
            "pad_token": PAD_TOKEN,
            "unknown_token": UNKNOWN_TOKEN,
            "start_token": START_TOKEN,
            "stop_token": STOP_TOKEN,
        }

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
            words = data["words"]
        except (KeyError, TypeError, AttributeError, ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not a vocabulary file ({str(error)[:200]!r}).") from None
        except RecursionError:
            raise ValueError(f"{path} is not a vocabulary file (JSON nested too deeply to read).") from None
        if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
            raise ValueError(f"{path} is not a vocabulary file: 'words' must be a list of strings")
        missing = [token for token in (START_TOKEN, STOP_TOKEN) if token not in words]
        if missing:
            raise ValueError(f"{path} is not a vocabulary file: it lacks {' and '.join(missing)}")
        try:
            return cls(words, data.get("counts"), data.get("min_count", 1))
        except (TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"{path} is not a vocabulary file ({error}).") from None
