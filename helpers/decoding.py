"""Writing a caption: greedy decoding, beam search and sampling.

Taught in notebooks/07_caption_generation.ipynb.

Start with ``[startseq]``; ask the model for the next word; choose one; append
it; repeat until the model says ``endseq`` or the caption reaches the maximum
length. How the word is chosen is the decoding strategy:

greedy
    always the most probable word (:func:`greedy_captions`).
beam search
    keep the ``width`` most probable captions so far, extend each by every word,
    keep the best ``width`` again (:func:`beam_search_captions`). Summed
    log-probabilities favour short captions (every word multiplies by a
    probability below 1), so beams are ranked by the *length-normalised* score
    ``log P(caption) / length ** alpha`` (``length`` counts the generated words,
    ``endseq`` included): ``alpha = 0`` is the raw log-probability, ``alpha = 1``
    the mean log-probability per word. Width 1 is exactly greedy decoding.
sampling
    draw the word from the model's distribution sharpened or flattened by a
    temperature, ``p ** (1 / T)`` renormalised (:func:`sample_captions`): ``T``
    near 0 is greedy, ``T = 1`` the model's own distribution, ``T > 1`` wilder.

All three caption many images at once: one model call per word position for
the whole batch (times the beam width), not one per image and word.

Carrying the state
------------------
The LSTM reads left to right, so its state after ``startseq w1 ... wt`` is its
state after ``startseq ... w(t-1)`` updated by ``wt`` alone. Re-reading the whole
prefix at every step (and computing the softmax at every position, to read one)
makes a caption cost the square of its length. For the course's models (merge and
inject, ``helpers.model``) the strategies use a :class:`~helpers.next_word.StepModel` instead: built
from the trained model's own layers (no new weights), it maps ``(features,
previous word, LSTM state) -> (next-word probabilities, new state)``, one position
at a time. The captions are the same (tests check it); any other model is decoded
by re-reading the prefix, as below (:class:`~helpers.next_word.RereadingModel` forces that, for
comparisons).

The model
---------
Two model shapes are supported, detected from the model's output:

* ``[features (B, F), prefix (B, L)] -> (B, V)``: the probabilities of the word
  after the (0-padded) prefix;
* ``[features (B, F), tokens (B, L)] -> (B, L, V)``: position ``t`` holds the
  probabilities of the word after ``tokens[:, :t + 1]`` (a causal decoder); the
  decoder reads position ``length - 1`` of each sequence.

``L`` is the model's own sequence input length (``model.inputs[1].shape[1]``)
when it has one, otherwise ``max_length`` (the course's models read any length). The padding and start tokens are
never chosen.

What may come next
------------------
Three small functions act on the ``(rows, vocabulary)`` next-word
log-probabilities, in every strategy, before the word is chosen:

* :func:`ban_tokens` — the padding, start and unknown (``<unk>``) tokens are
  never chosen (log-probability ``-inf``): ``<unk>`` is a *training* target for
  every rare word, and a model trained on real captions often ranks it first,
  but it is not a word to print (:func:`banned_token_ids`);
* :func:`block_repeated_word` — never the same word twice in a row, always: on
  small real data the LSTM barely uses the word it has just read (fed ``startseq
  man in the``, a model trained on 139 real photos ranked "the" first), and an
  n-gram guard cannot stop ``the the`` (``in the the`` is a new 3-gram);
* :func:`block_repeated_ngrams` — with ``no_repeat_ngram = n`` no word may
  complete an ``n``-gram the caption already holds (``the the the ...`` of an
  undertrained model; Paulus et al. 2018). ``0`` turns the guard off. The stop
  token can never be blocked, so a caption can always end;
* :func:`end_now` — at the last step only the stop token is left, so no
  caption is longer than the longest training caption.

None renormalises: the chosen words' log-probabilities stay the model's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.next_word import NextWords
from helpers.vocabulary import PAD_ID, UNKNOWN_ID, Vocabulary

DEFAULT_ALPHA = 0.7  # length normalisation exponent (0 = none, 1 = per word)
DEFAULT_NO_REPEAT_NGRAM = 3  # no word may repeat a 3-gram of its caption (0: no guard)
MIN_STOP_LOG_PROBABILITY = -1e4  # the stop token stays choosable (P(endseq) may underflow to 0)


# --------------------------------------------------------------------------------------------------------------
# What may come next: applied to the (rows, vocabulary) next-word log-probabilities by every strategy.


def banned_token_ids(vocabulary: Vocabulary) -> np.ndarray:
    """Ids a caption never contains: padding, the start token and ``<unk>``."""
    return np.array([PAD_ID, UNKNOWN_ID, vocabulary.start_id], dtype=np.int64)


def ban_tokens(log_probabilities: np.ndarray, vocabulary: Vocabulary) -> np.ndarray:
    """``log_probabilities`` ``(rows, V)`` with :func:`banned_token_ids` set to ``-inf`` (in place; returned)."""
    log_probabilities[:, banned_token_ids(vocabulary)] = -np.inf
    return log_probabilities


def repeated_ngram_words(sequences: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, word_ids)``: the words that would repeat an ``n``-gram of their row.

    ``sequences`` ``(B, L)`` hold ``lengths[b]`` tokens each (the start token
    included). Word ``w`` is returned for row ``b`` when the last ``n - 1``
    tokens followed by ``w`` already occur in the row. Empty when ``n < 1``."""
    sequences, lengths = np.asarray(sequences), np.asarray(lengths)
    if n < 1 or sequences.shape[1] < n:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(sequences, n, axis=1)  # (B, L - n + 1, n)
    starts = np.arange(windows.shape[1])
    inside = starts[None, :] + n <= lengths[:, None]  # whole window already written
    last = lengths[:, None] - (n - 1) + np.arange(n - 1)[None, :]  # the last n - 1 tokens
    context = np.take_along_axis(sequences, np.clip(last, 0, sequences.shape[1] - 1), axis=1)
    matches = inside & (windows[:, :, : n - 1] == context[:, None, :]).all(axis=2)
    rows, where = np.nonzero(matches)
    return rows, windows[rows, where, n - 1].astype(np.int64)


def block_repeated_ngrams(
    log_probabilities: np.ndarray, sequences: np.ndarray, lengths: np.ndarray, n: int
) -> np.ndarray:
    """``log_probabilities`` ``(rows, V)`` with every word that would repeat an ``n``-gram set to ``-inf``
    (in place; returned). ``n = 0`` changes nothing."""
    rows, words = repeated_ngram_words(sequences, lengths, n)
    log_probabilities[rows, words] = -np.inf
    return log_probabilities


def block_repeated_word(log_probabilities: np.ndarray, sequences: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``log_probabilities`` ``(rows, V)`` with each row's last word set to ``-inf`` (in place; returned): never
    the same word twice in a row ("man in the the ball"), whatever ``no_repeat_ngram`` says."""
    rows = np.arange(len(lengths))
    last = np.asarray(sequences)[rows, np.asarray(lengths) - 1]
    log_probabilities[rows, last] = -np.inf
    return log_probabilities


def end_now(log_probabilities: np.ndarray, vocabulary: Vocabulary) -> np.ndarray:
    """Only the stop token is left (in place; returned): at the last step a caption ends, so it is never
    longer than the longest training caption (``max_length`` tokens, start and stop included)."""
    stop = log_probabilities[:, vocabulary.stop_id].copy()
    log_probabilities[:] = -np.inf
    log_probabilities[:, vocabulary.stop_id] = stop
    return log_probabilities


def allowed_next_words(
    log_probabilities: np.ndarray,
    sequences: np.ndarray,
    lengths: np.ndarray,
    vocabulary: Vocabulary,
    no_repeat_ngram: int,
    last_step: bool = False,
) -> np.ndarray:
    """Every rule at once (in place; returned): :func:`ban_tokens`, :func:`block_repeated_word`,
    :func:`block_repeated_ngrams`, and
    :func:`end_now` at the last step. The stop token's log-probability is kept above
    ``MIN_STOP_LOG_PROBABILITY``, so some word is always left even if the model's ``P(endseq)`` underflowed."""
    ban_tokens(log_probabilities, vocabulary)
    block_repeated_word(log_probabilities, sequences, lengths)
    block_repeated_ngrams(log_probabilities, sequences, lengths, no_repeat_ngram)
    stop = vocabulary.stop_id
    log_probabilities[:, stop] = np.maximum(log_probabilities[:, stop], MIN_STOP_LOG_PROBABILITY)
    return end_now(log_probabilities, vocabulary) if last_step else log_probabilities


# --------------------------------------------------------------------------------------------------------------
# Greedy.


def greedy_captions(
    model,
    features: np.ndarray,
    vocabulary: Vocabulary,
    max_length: int,
    batch_size: int = 256,
    *,
    no_repeat_ngram: int = DEFAULT_NO_REPEAT_NGRAM,
) -> list[str]:
    """Greedy captions (tokens stripped) for each row of ``features``.

    ``no_repeat_ngram``: no word may repeat an n-gram of its caption (0: off)."""
    captions: list[str] = []
    for start in range(0, len(features), batch_size):
        captions += [
            vocabulary.decode(row)
            for row in _greedy_batch(
                model, features[start : start + batch_size], vocabulary, max_length, no_repeat_ngram
            )
        ]
    return captions


def _greedy_batch(
    model, features: np.ndarray, vocabulary: Vocabulary, max_length: int, no_repeat_ngram: int = DEFAULT_NO_REPEAT_NGRAM
) -> np.ndarray:
    next_words_of = NextWords(model, features, vocabulary, max_length)
    count = len(features)
    sequences = np.full((count, max_length), PAD_ID, dtype=np.int32)
    sequences[:, 0] = vocabulary.start_id
    active = np.arange(count)
    for position in range(1, next_words_of.steps + 1):
        log_probabilities = next_words_of.log_probabilities(active, sequences[active, :position])
        allowed_next_words(
            log_probabilities,
            sequences[active],
            np.full(len(active), position),
            vocabulary,
            no_repeat_ngram,
            last_step=position == next_words_of.steps,
        )
        next_words = log_probabilities.argmax(axis=-1)
        sequences[active, position] = next_words
        active = active[next_words != vocabulary.stop_id]  # only unfinished captions are fed again
        if len(active) == 0:
            break
    return sequences


def greedy_caption_one(
    model,
    image_features: np.ndarray,
    vocabulary: Vocabulary,
    max_length: int,
    *,
    no_repeat_ngram: int = DEFAULT_NO_REPEAT_NGRAM,
) -> list[str]:
    """The same greedy search for one image, word by word, returning the words
    chosen step by step (the notebook prints them to show the loop)."""
    next_words_of = NextWords(model, np.asarray(image_features)[None, :], vocabulary, max_length)
    sequence = [vocabulary.start_id]
    chosen: list[str] = []
    while len(sequence) <= next_words_of.steps:
        prefix = np.array([sequence], dtype=np.int32)
        log_probabilities = next_words_of.log_probabilities(np.array([0]), prefix)
        allowed_next_words(
            log_probabilities,
            prefix,
            np.array([len(sequence)]),
            vocabulary,
            no_repeat_ngram,
            last_step=len(sequence) == next_words_of.steps,
        )
        word_id = int(log_probabilities[0].argmax())
        chosen.append(vocabulary.words[word_id])
        if word_id == vocabulary.stop_id:
            break
        sequence.append(word_id)
    return chosen


# --------------------------------------------------------------------------------------------------------------
# Beam search.


def length_normalised(log_probability, length, alpha: float):
    """``log_probability / length ** alpha`` — the score beams are ranked by."""
    return np.asarray(log_probability) / np.maximum(np.asarray(length, dtype=np.float64), 1.0) ** alpha


@dataclass
class Beam:
    """One caption in the beam: its words, log-probability and normalised score."""

    words: list[str]
    log_probability: float
    score: float
    finished: bool


@dataclass
class BeamStep:
    """The beam of one image after one step (for showing the search step by step)."""

    step: int
    beams: list[Beam]
    parents: list[int] = field(default_factory=list)  # index in the previous step's beam of each beam


def beam_search_captions(
    model,
    features: np.ndarray,
    vocabulary: Vocabulary,
    max_length: int,
    width: int = 3,
    *,
    alpha: float = DEFAULT_ALPHA,
    batch_size: int = 128,
    return_beams: bool = False,
    trace: list | None = None,
    no_repeat_ngram: int = DEFAULT_NO_REPEAT_NGRAM,
):
    """Beam-search captions (tokens stripped) for each row of ``features``.

    ``width`` captions are kept per image; they are ranked by the length-normalised
    score (see the module doc, ``alpha``). A finished caption (it chose ``endseq``)
    keeps its place as long as its score stays among the best ``width``; the search
    for an image ends when all its beams are finished or at ``max_length``.
    ``width=1`` gives exactly :func:`greedy_captions`.

    With ``return_beams=True`` returns, per image, the final beams (best first) as
    :class:`Beam` objects instead of the captions. ``trace``, a list, receives the
    :class:`BeamStep` of each step for the *first* image (notebook 07 shows it).
    ``no_repeat_ngram``: no beam may repeat an n-gram of its caption (0: off)."""
    if width < 1:
        raise ValueError(f"the beam width must be at least 1, got {width}")
    results: list = []
    for start in range(0, len(features), batch_size):
        results += _beam_batch(
            model,
            features[start : start + batch_size],
            vocabulary,
            max_length,
            width,
            alpha,
            trace if start == 0 else None,
            no_repeat_ngram,
        )
    if return_beams:
        return results
    return [" ".join(w for w in beams[0].words if w != vocabulary.words[vocabulary.stop_id]) for beams in results]


def _beam_batch(
    model,
    features: np.ndarray,
    vocabulary: Vocabulary,
    max_length: int,
    width: int,
    alpha: float,
    trace: list | None,
    no_repeat_ngram: int = DEFAULT_NO_REPEAT_NGRAM,
) -> list[list[Beam]]:
    count, vocab_size, stop = len(features), len(vocabulary), vocabulary.stop_id
    # rows: image i, beam k -> row i * width + k
    next_words_of = NextWords(
        model, np.repeat(np.asarray(features, dtype=np.float32), width, axis=0), vocabulary, max_length
    )
    sequences = np.full((count, width, max_length), PAD_ID, dtype=np.int32)
    sequences[:, :, 0] = vocabulary.start_id
    log_probability = np.full((count, width), -np.inf)
    log_probability[:, 0] = 0.0  # one live beam per image at the start: the others are copies
    finished = np.zeros((count, width), dtype=bool)
    lengths = np.zeros((count, width), dtype=np.int64)  # generated words (endseq included)
    for position in range(1, next_words_of.steps + 1):
        live = (~finished & np.isfinite(log_probability)).reshape(-1)
        if not live.any():
            break
        flat_sequences = sequences.reshape(count * width, max_length)
        rows = np.flatnonzero(live)
        log_probabilities = next_words_of.log_probabilities(rows, flat_sequences[rows, :position])
        allowed_next_words(
            log_probabilities,
            flat_sequences[rows],
            np.full(len(rows), position),
            vocabulary,
            no_repeat_ngram,
            last_step=position == next_words_of.steps,
        )
        candidates = np.full((count * width, vocab_size), -np.inf)
        candidates[rows] = log_probability.reshape(-1)[rows, None] + log_probabilities
        ranked = length_normalised(candidates, position, alpha)  # a live beam's candidates hold `position` words
        # a finished beam has one candidate: itself, unchanged (marked on the padding column)
        done = np.flatnonzero(finished.reshape(-1))
        candidates[done, PAD_ID] = log_probability.reshape(-1)[done]
        ranked[done, PAD_ID] = length_normalised(candidates[done, PAD_ID], lengths.reshape(-1)[done], alpha)
        ranked = ranked.reshape(count, width * vocab_size)
        best = _top_stable(ranked, width)  # (count, width)
        parent, word = best // vocab_size, best % vocab_size
        next_words_of.reorder((np.arange(count)[:, None] * width + parent).reshape(-1))  # states follow their beam
        picked = np.take_along_axis(candidates.reshape(count, width * vocab_size), best, axis=1)
        parent_finished = np.take_along_axis(finished, parent, axis=1)
        sequences = np.take_along_axis(sequences, parent[:, :, None], axis=1)
        lengths = np.where(parent_finished, np.take_along_axis(lengths, parent, axis=1), position)
        sequences[:, :, position] = np.where(parent_finished, PAD_ID, word)
        finished = parent_finished | (word == stop)
        log_probability = picked
        if trace is not None:
            trace.append(
                BeamStep(
                    position,
                    _beams(sequences[0], log_probability[0], lengths[0], finished[0], vocabulary, alpha),
                    parent[0].tolist(),
                )
            )
    results = []
    for i in range(count):
        beams = _beams(sequences[i], log_probability[i], lengths[i], finished[i], vocabulary, alpha)
        results.append(sorted((b for b in beams if np.isfinite(b.log_probability)), key=lambda b: -b.score))
    return results


def _top_stable(values: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest values of each row, largest first, ties by the lower
    index: ``np.argsort(-values, axis=1, kind="stable")[:, :k]`` without sorting whole rows
    (``argmax`` returns the first of equal values; a beam's ``k`` is small)."""
    if k > 8 or k >= values.shape[1]:
        return np.argsort(-values, axis=1, kind="stable")[:, :k]
    remaining = values.copy()
    rows = np.arange(len(values))
    best = np.empty((len(values), k), dtype=np.int64)
    for j in range(k):
        best[:, j] = remaining.argmax(axis=1)
        remaining[rows, best[:, j]] = -np.inf
    # where fewer than k values are above -inf, -inf ties cannot be told from taken ones: sort those rows
    short = ~np.isfinite(np.take_along_axis(values, best, axis=1)).all(axis=1)
    if short.any():
        best[short] = np.argsort(-values[short], axis=1, kind="stable")[:, :k]
    return best


def _beams(sequences, log_probability, lengths, finished, vocabulary, alpha) -> list[Beam]:
    beams = []
    for row, logp, length, done in zip(sequences, log_probability, lengths, finished):
        words = [vocabulary.words[i] for i in row[1 : 1 + int(length)]]
        beams.append(Beam(words, float(logp), float(length_normalised(logp, length, alpha)), bool(done)))
    return beams


def beam_steps_table(trace: list[BeamStep]) -> str:
    """The beam of one image, step by step, as a text table (rank = position in the beam)."""
    lines = [f"{'step':>4} {'rank':>4} {'from':>4}  {'log P':>7} {'score':>7}  caption so far"]
    for step in trace:
        for rank, (beam, parent) in enumerate(zip(step.beams, step.parents or [None] * len(step.beams))):
            if not np.isfinite(beam.log_probability):
                continue
            mark = "  (finished)" if beam.finished else ""
            lines.append(
                f"{step.step:>4} {rank + 1:>4} {'' if parent is None else parent + 1:>4}  "
                f"{beam.log_probability:7.2f} {beam.score:7.2f}  {' '.join(beam.words)}{mark}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


# --------------------------------------------------------------------------------------------------------------
# Sampling.


def sample_captions(
    model,
    features: np.ndarray,
    vocabulary: Vocabulary,
    max_length: int,
    *,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 256,
    no_repeat_ngram: int = DEFAULT_NO_REPEAT_NGRAM,
) -> list[str]:
    """Captions drawn word by word from ``p ** (1 / temperature)`` (renormalised).

    Never ``<unk>``, padding or the start token; ``no_repeat_ngram`` as in greedy
    decoding (so a temperature near 0 is exactly greedy decoding).

    The same ``seed`` gives the same captions; different seeds give variety."""
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    rng = np.random.default_rng(seed)
    features = np.asarray(features, dtype=np.float32)
    captions: list[str] = []
    for start in range(0, len(features), batch_size):
        batch = features[start : start + batch_size]
        next_words_of = NextWords(model, batch, vocabulary, max_length)
        sequences = np.full((len(batch), max_length), PAD_ID, dtype=np.int32)
        sequences[:, 0] = vocabulary.start_id
        active = np.arange(len(batch))
        for position in range(1, next_words_of.steps + 1):
            logits = (
                allowed_next_words(
                    next_words_of.log_probabilities(active, sequences[active, :position]),
                    sequences[active],
                    np.full(len(active), position),
                    vocabulary,
                    no_repeat_ngram,
                    last_step=position == next_words_of.steps,
                )
                / temperature
            )
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            cumulative = probabilities.cumsum(axis=1)
            draws = (1.0 - rng.random(len(active))) * cumulative[:, -1]  # in (0, total]: never a 0-probability word
            next_words = (cumulative < draws[:, None]).sum(axis=1)
            sequences[active, position] = next_words
            active = active[next_words != vocabulary.stop_id]
            if len(active) == 0:
                break
        captions += [vocabulary.decode(row) for row in sequences]
    return captions
