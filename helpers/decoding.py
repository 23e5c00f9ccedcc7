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

The model
---------
Two model shapes are supported, detected from the model's output:

* ``[features (B, F), prefix (B, L)] -> (B, V)``: the probabilities of the word
  after the (0-padded) prefix;
* ``[features (B, F), tokens (B, L)] -> (B, L, V)``: position ``t`` holds the
  probabilities of the word after ``tokens[:, :t + 1]`` (a causal decoder); the
  decoder reads position ``length - 1`` of each sequence.

``L`` is the model's own sequence input length (``model.inputs[1].shape[1]``)
when it has one, otherwise ``max_length``. The padding and start tokens are
never chosen: they get probability 0 in every strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.vocabulary import PAD_ID, Vocabulary

DEFAULT_ALPHA = 0.7                          # length normalisation exponent (0 = none, 1 = per word)


# --------------------------------------------------------------------------------------------------------------
# The step: (features, sequences so far) -> log-probabilities of the next word, for either model shape.

def model_sequence_length(model, max_length: int) -> int:
    """Length ``L`` of the model's token input, or ``max_length`` when it does not say."""
    try:
        length = model.inputs[1].shape[1]
    except (AttributeError, IndexError, TypeError):
        length = None
    return int(length) if length else int(max_length)


def next_word_log_probabilities(model, features: np.ndarray, sequences: np.ndarray, lengths: np.ndarray,
                                vocabulary: Vocabulary) -> np.ndarray:
    """``log P(next word | image, sequence)`` ``(B, V)`` for rows holding ``lengths`` tokens each.

    ``sequences`` ``(B, L)`` are word ids padded with 0 after the words. Works for
    models returning ``(B, V)`` and for models returning ``(B, L, V)``. The
    padding and start tokens are excluded (log-probability ``-inf``)."""
    output = model([np.asarray(features, dtype=np.float32), np.asarray(sequences, dtype=np.int32)],
                   training=False)
    probabilities = np.asarray(output, dtype=np.float64)
    if probabilities.ndim == 3:
        probabilities = probabilities[np.arange(len(sequences)), np.asarray(lengths) - 1]
    elif probabilities.ndim != 2:
        raise ValueError(f"the model returns shape {probabilities.shape}; expected (batch, vocabulary) "
                         "or (batch, length, vocabulary)")
    with np.errstate(divide="ignore"):
        log_probabilities = np.log(probabilities)
    log_probabilities[:, PAD_ID] = -np.inf
    log_probabilities[:, vocabulary.start_id] = -np.inf
    return log_probabilities


def _model_input(sequences: np.ndarray, width: int) -> np.ndarray:
    """The first ``width`` columns of ``sequences`` (0-padded if it is narrower)."""
    if sequences.shape[1] >= width:
        return sequences[:, :width]
    return np.pad(sequences, ((0, 0), (0, width - sequences.shape[1])))


def _steps(model, max_length: int) -> tuple[int, int]:
    """``(input width L, number of words that can be generated)``.

    A caption holds at most ``max_length`` tokens (start and stop included) and
    the model can read at most ``L`` of them."""
    width = model_sequence_length(model, max_length)
    return width, max(0, min(max_length, width + 1) - 1)


# --------------------------------------------------------------------------------------------------------------
# Greedy.

def greedy_captions(model, features: np.ndarray, vocabulary: Vocabulary, max_length: int,
                    batch_size: int = 256) -> list[str]:
    """Greedy captions (tokens stripped) for each row of ``features``."""
    captions: list[str] = []
    for start in range(0, len(features), batch_size):
        captions += [vocabulary.decode(row) for row in
                     _greedy_batch(model, features[start:start + batch_size], vocabulary, max_length)]
    return captions


def _greedy_batch(model, features: np.ndarray, vocabulary: Vocabulary, max_length: int) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    width, steps = _steps(model, max_length)
    count = len(features)
    sequences = np.full((count, max_length), PAD_ID, dtype=np.int32)
    sequences[:, 0] = vocabulary.start_id
    active = np.arange(count)
    for position in range(1, steps + 1):
        log_probabilities = next_word_log_probabilities(
            model, features[active], _model_input(sequences[active], width), np.full(len(active), position),
            vocabulary)
        next_words = log_probabilities.argmax(axis=-1)
        sequences[active, position] = next_words
        active = active[next_words != vocabulary.stop_id]  # only unfinished captions are fed again
        if len(active) == 0:
            break
    return sequences


def greedy_caption_one(model, image_features: np.ndarray, vocabulary: Vocabulary, max_length: int) -> list[str]:
    """The same greedy search for one image, word by word, returning the words
    chosen step by step (the notebook prints them to show the loop)."""
    width, steps = _steps(model, max_length)
    sequence = [vocabulary.start_id]
    chosen: list[str] = []
    while len(sequence) <= steps:
        prefix = np.array([sequence + [PAD_ID] * (width - len(sequence))], dtype=np.int32)
        log_probabilities = next_word_log_probabilities(model, image_features[None, :], prefix,
                                                        np.array([len(sequence)]), vocabulary)[0]
        word_id = int(log_probabilities.argmax())
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


def beam_search_captions(model, features: np.ndarray, vocabulary: Vocabulary, max_length: int, width: int = 3,
                         *, alpha: float = DEFAULT_ALPHA, batch_size: int = 128,
                         return_beams: bool = False, trace: list | None = None):
    """Beam-search captions (tokens stripped) for each row of ``features``.

    ``width`` captions are kept per image; they are ranked by the length-normalised
    score (see the module doc, ``alpha``). A finished caption (it chose ``endseq``)
    keeps its place as long as its score stays among the best ``width``; the search
    for an image ends when all its beams are finished or at ``max_length``.
    ``width=1`` gives exactly :func:`greedy_captions`.

    With ``return_beams=True`` returns, per image, the final beams (best first) as
    :class:`Beam` objects instead of the captions. ``trace``, a list, receives the
    :class:`BeamStep` of each step for the *first* image (notebook 07 shows it)."""
    if width < 1:
        raise ValueError(f"the beam width must be at least 1, got {width}")
    results: list = []
    for start in range(0, len(features), batch_size):
        results += _beam_batch(model, features[start:start + batch_size], vocabulary, max_length, width, alpha,
                               trace if start == 0 else None)
    if return_beams:
        return results
    return [" ".join(w for w in beams[0].words if w != vocabulary.words[vocabulary.stop_id]) for beams in results]


def _beam_batch(model, features: np.ndarray, vocabulary: Vocabulary, max_length: int, width: int, alpha: float,
                trace: list | None) -> list[list[Beam]]:
    features = np.asarray(features, dtype=np.float32)
    model_width, steps = _steps(model, max_length)
    count, vocab_size, stop = len(features), len(vocabulary), vocabulary.stop_id
    # rows: image i, beam k -> row i * width + k
    sequences = np.full((count, width, max_length), PAD_ID, dtype=np.int32)
    sequences[:, :, 0] = vocabulary.start_id
    log_probability = np.full((count, width), -np.inf)
    log_probability[:, 0] = 0.0        # one live beam per image at the start: the others are copies
    finished = np.zeros((count, width), dtype=bool)
    lengths = np.zeros((count, width), dtype=np.int64)   # generated words (endseq included)
    image_rows = np.repeat(np.arange(count), width)
    for position in range(1, steps + 1):
        live = (~finished & np.isfinite(log_probability)).reshape(-1)
        if not live.any():
            break
        flat_sequences = sequences.reshape(count * width, max_length)
        candidates = np.full((count * width, vocab_size), -np.inf)
        rows = np.flatnonzero(live)
        candidates[rows] = log_probability.reshape(-1)[rows, None] + next_word_log_probabilities(
            model, features[image_rows[rows]], _model_input(flat_sequences[rows], model_width),
            np.full(len(rows), position), vocabulary)
        candidate_lengths = np.full((count * width, vocab_size), position, dtype=np.float64)
        # a finished beam has one candidate: itself, unchanged (marked on the padding column)
        done = np.flatnonzero(finished.reshape(-1))
        candidates[done, PAD_ID] = log_probability.reshape(-1)[done]
        candidate_lengths[done, PAD_ID] = lengths.reshape(-1)[done]
        ranked = length_normalised(candidates, candidate_lengths, alpha).reshape(count, width * vocab_size)
        ranked[~np.isfinite(candidates.reshape(count, width * vocab_size))] = -np.inf
        best = np.argsort(-ranked, axis=1, kind="stable")[:, :width]          # (count, width)
        parent, word = best // vocab_size, best % vocab_size
        picked = np.take_along_axis(candidates.reshape(count, width * vocab_size), best, axis=1)
        parent_finished = np.take_along_axis(finished, parent, axis=1)
        sequences = np.take_along_axis(sequences, parent[:, :, None], axis=1)
        lengths = np.where(parent_finished, np.take_along_axis(lengths, parent, axis=1), position)
        sequences[:, :, position] = np.where(parent_finished, PAD_ID, word)
        finished = parent_finished | (word == stop)
        log_probability = picked
        if trace is not None:
            trace.append(BeamStep(position, _beams(sequences[0], log_probability[0], lengths[0], finished[0],
                                                   vocabulary, alpha), parent[0].tolist()))
    results = []
    for i in range(count):
        beams = _beams(sequences[i], log_probability[i], lengths[i], finished[i], vocabulary, alpha)
        results.append(sorted((b for b in beams if np.isfinite(b.log_probability)), key=lambda b: -b.score))
    return results


def _beams(sequences, log_probability, lengths, finished, vocabulary, alpha) -> list[Beam]:
    beams = []
    for row, logp, length, done in zip(sequences, log_probability, lengths, finished):
        words = [vocabulary.words[i] for i in row[1:1 + int(length)]]
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
            lines.append(f"{step.step:>4} {rank + 1:>4} {'' if parent is None else parent + 1:>4}  "
                         f"{beam.log_probability:7.2f} {beam.score:7.2f}  {' '.join(beam.words)}{mark}")
        lines.append("")
    return "\n".join(lines).rstrip()


# --------------------------------------------------------------------------------------------------------------
# Sampling.

def sample_captions(model, features: np.ndarray, vocabulary: Vocabulary, max_length: int, *,
                    temperature: float = 1.0, seed: int = 0, batch_size: int = 256) -> list[str]:
    """Captions drawn word by word from ``p ** (1 / temperature)`` (renormalised).

    The same ``seed`` gives the same captions; different seeds give variety."""
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    rng = np.random.default_rng(seed)
    features = np.asarray(features, dtype=np.float32)
    width, steps = _steps(model, max_length)
    captions: list[str] = []
    for start in range(0, len(features), batch_size):
        batch = features[start:start + batch_size]
        sequences = np.full((len(batch), max_length), PAD_ID, dtype=np.int32)
        sequences[:, 0] = vocabulary.start_id
        active = np.arange(len(batch))
        for position in range(1, steps + 1):
            logits = next_word_log_probabilities(model, batch[active], _model_input(sequences[active], width),
                                                 np.full(len(active), position), vocabulary) / temperature
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            cumulative = probabilities.cumsum(axis=1)
            draws = (1.0 - rng.random(len(active))) * cumulative[:, -1]   # in (0, total]: never a 0-probability word
            next_words = (cumulative < draws[:, None]).sum(axis=1)
            sequences[active, position] = next_words
            active = active[next_words != vocabulary.stop_id]
            if len(active) == 0:
                break
        captions += [vocabulary.decode(row) for row in sequences]
    return captions
