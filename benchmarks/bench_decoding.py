"""Captioning N images from their features: greedy and beam search, carrying the LSTM state or
re-reading the prefix, against the seed's loop.

    python benchmarks/bench_decoding.py [--small] [--images N] [--loop-images M] [--reread-images K]
                                        [--run RUN_DIR]

Five ways to caption the same images, timed in one run, side by side:

* the seed's loop: for each image, for each word, one ``model.predict`` call on a batch of one
  (what most tutorials and the project's seed did);
* batched greedy decoding re-reading the prefix (how ``helpers.decoding`` worked before it carried
  the state: the whole prefix through the LSTM and the softmax at every position, at every step;
  ``helpers.next_word.RereadingModel``, prefixes padded to ``max_length - 1`` as the old fixed-length
  model had them);
* batched beam search of width 3, re-reading the prefix;
* batched greedy decoding carrying the LSTM state (``helpers.decoding.greedy_captions``: the
  model's ``StepModel``, one position per step);
* batched beam search of width 3 carrying the state (``helpers.decoding.beam_search_captions``).

The slow ways run on subsets (``--loop-images``, ``--reread-images``) and their time is
extrapolated linearly to N images; the table says so. The model is the course's merge model
(``helpers.model.build_merge_model``, the default size: 256 units, 100-dimensional embeddings) with
random weights at Flickr8k's vocabulary (7,580 words at minimum count 1) and longest caption (34
tokens) — a random model almost never says ``endseq``, so its captions run to full length, the worst
case — or the trained model of a run folder (``--run``), whose captions end when it says so. The
features are random (the cost of decoding does not depend on their values, only on how many words
are generated, which is printed). Each way's captions are checked to be the same. The load average
of the machine is printed beside each figure: other work slows every row. Exit status 0; the last
lines say whether the targets are met.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from measurement import run_recorded

from helpers import decoding, next_word  # noqa: E402
from helpers.vocabulary import PAD_ID, Vocabulary  # noqa: E402

TARGET_SPEEDUP = 20  # batched greedy against the seed's loop
TARGET_BEAM_SPEEDUP = 3  # beam search carrying the state against re-reading the prefix
TARGET_BEAM_SECONDS = 60  # beam width 3, 1,000 images, captions at full length, 2 cores


def seed_loop_captions(model, features: np.ndarray, vocabulary: Vocabulary, max_length: int) -> list[str]:
    """The seed's decoding: per image, per word, ``model.predict`` on one prefix.

    (Reads a ``(1, L, V)`` output at the last word, like :mod:`helpers.decoding`.)"""
    width = next_word.model_sequence_length(model, max_length)
    captions = []
    for row in features:
        sequence = [vocabulary.start_id]
        steps = min(max_length, width + 1) - 1
        for step in range(1, steps + 1):
            prefix = np.array([sequence + [PAD_ID] * (width - len(sequence))], dtype=np.int32)
            probabilities = model.predict([row[None, :], prefix], verbose=0)[0]
            if probabilities.ndim == 2:
                probabilities = probabilities[len(sequence) - 1]
            with np.errstate(divide="ignore"):
                log_probabilities = np.log(probabilities.astype(np.float64))[None, :]
            decoding.allowed_next_words(
                log_probabilities,
                prefix,
                np.array([len(sequence)]),
                vocabulary,
                decoding.DEFAULT_NO_REPEAT_NGRAM,
                last_step=step == steps,
            )  # as helpers.decoding
            word_id = int(np.argmax(log_probabilities[0]))
            if word_id == vocabulary.stop_id:
                break
            sequence.append(word_id)
        captions.append(vocabulary.decode(sequence))
    return captions


def course_sized_model(vocab_size: int, max_length: int, feature_dim: int, seed: int):
    import keras

    from helpers.model import build_merge_model

    keras.utils.set_random_seed(seed)
    return build_merge_model(vocab_size, max_length, feature_dim)


def synthetic_vocabulary(size: int) -> Vocabulary:
    words = [f"word{i:04d}" for i in range(size - 4)]
    return Vocabulary.build(["startseq " + " ".join(words) + " endseq"])


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def timed_with_load(function, *args, **kwargs):
    load = os.getloadavg()[0]
    seconds, result = timed(function, *args, **kwargs)
    return seconds, (load + os.getloadavg()[0]) / 2, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="images to caption (default 1000)")
    parser.add_argument(
        "--loop-images",
        type=int,
        default=20,
        help="images the slow per-word loop really captions; its time is extrapolated (default 20)",
    )
    parser.add_argument(
        "--reread-images",
        type=int,
        default=0,
        help="images decoded by re-reading the prefix; extrapolated (default 0: all of them)",
    )
    parser.add_argument(
        "--run",
        default=None,
        help="use the trained model of this run folder instead of a random model of the course's size",
    )
    parser.add_argument(
        "--vocab-size",
        type=int,
        default=7580,
        help="vocabulary of the random model (default 7580, real Flickr8k's at a minimum word count of 1)",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=34,
        help="max caption length of the random model (default 34, Flickr8k's longest caption in tokens)",
    )
    parser.add_argument("--small", action="store_true", help="a quick check: 100 images, loop on 5, re-reading on 20")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.small:
        args.images, args.loop_images, args.reread_images = 100, 5, 20
    args.loop_images = min(args.loop_images, args.images)
    args.reread_images = min(args.reread_images or args.images, args.images)

    if args.run:
        from course import trained_run

        model, vocabulary, config = trained_run.load_trained_model(args.run)
        max_length = int(config["text"]["max_length"])
        feature_dim = int(model.inputs[0].shape[-1])
        what = f"the trained model of {args.run}, vocabulary {len(vocabulary)}, max length {max_length}"
    else:
        vocabulary = synthetic_vocabulary(args.vocab_size)
        max_length, feature_dim = args.max_length, 1280
        model = course_sized_model(len(vocabulary), max_length, feature_dim, args.seed)
        what = (
            f"the course's merge model (helpers.model.build_merge_model defaults) with random weights, "
            f"vocabulary {len(vocabulary)}, max length {max_length}"
        )
    features = np.random.default_rng(args.seed).normal(size=(args.images, feature_dim)).astype(np.float32)
    if args.run:
        features = np.abs(features)  # like ReLU/avg-pooled CNN features
    rereading = next_word.RereadingModel(model, max_length - 1)
    assert next_word.step_model(model) is not None, "the course's model has a step model"

    print(f"Model: {what}; {model.count_params():,} parameters")
    print(f"Features: {args.images} random vectors of {feature_dim}; {os.cpu_count()} CPU cores", flush=True)
    # warm-up: the first calls build the graphs / functions
    for m in (model, rereading):
        decoding.greedy_captions(m, features[:4], vocabulary, max_length)
        decoding.beam_search_captions(m, features[:4], vocabulary, max_length, width=3)
    seed_loop_captions(model, features[:1], vocabulary, max_length)

    rows = []  # (name, seconds for all images, load, timed images)

    def run(name, subset, function, m):
        seconds, load, result = timed_with_load(function, m, features[:subset], vocabulary, max_length)
        rows.append((name, seconds * args.images / subset, load, subset, seconds))
        print(f"  {name}: {seconds:.1f} s for {subset} images", flush=True)
        return result

    beam3 = lambda m, f, v, n: decoding.beam_search_captions(m, f, v, n, width=3)  # noqa: E731
    loop = run("seed loop: model.predict per image and word", args.loop_images, seed_loop_captions, model)
    reread_greedy = run(
        "greedy, re-reading the prefix (before)", args.reread_images, decoding.greedy_captions, rereading
    )
    reread_beam = run("beam search width 3, re-reading the prefix (before)", args.reread_images, beam3, rereading)
    greedy = run("greedy, carrying the LSTM state", args.images, decoding.greedy_captions, model)
    beam = run("beam search width 3, carrying the LSTM state", args.images, beam3, model)
    assert greedy[: args.loop_images] == loop, "batched greedy must give the loop's captions"
    assert greedy[: args.reread_images] == reread_greedy, "carrying the state must give the same greedy captions"
    assert beam[: args.reread_images] == reread_beam, "carrying the state must give the same beam captions"

    words = sum(len(c.split()) + (len(c.split()) < max_length - 1) for c in greedy)  # + endseq when it was chosen
    beam_words = sum(len(c.split()) for c in beam) / args.images
    print(
        f"\nCaptioning {args.images} images ({words / args.images:.1f} greedy words per image incl. endseq, "
        f"{beam_words:.1f} beam words per image; at most {max_length - 1} tokens):"
    )
    loop_total = rows[0][1]
    print(f"{'method':54} {'seconds':>9} {'images/s':>9} {'vs loop':>8} {'load avg':>9}")
    for name, seconds, load, subset, _measured in rows:
        mark = " *" if subset < args.images else ""
        print(f"{name + mark:54} {seconds:9.2f} {args.images / seconds:9.1f} {loop_total / seconds:7.1f}x {load:9.1f}")
    if any(subset < args.images for _, _, _, subset, _ in rows):
        print(
            "* timed on the first images given, extrapolated linearly to "
            f"{args.images}: "
            + "; ".join(
                f"{name.split(',')[0]} {subset} in {measured:.1f} s"
                for name, _, _, subset, measured in rows
                if subset < args.images
            )
        )
    speedup = loop_total / rows[3][1]
    beam_speedup = rows[2][1] / rows[4][1]
    print(
        f"\nbatched greedy is {speedup:.0f}x faster than the seed loop (target >= {TARGET_SPEEDUP}x): "
        f"{'yes' if speedup >= TARGET_SPEEDUP else 'NO'}"
    )
    print(
        f"beam search width 3 carrying the state is {beam_speedup:.1f}x faster than re-reading the prefix "
        f"(target >= {TARGET_BEAM_SPEEDUP}x): {'yes' if beam_speedup >= TARGET_BEAM_SPEEDUP else 'NO'}"
    )
    if not args.run and args.images == 1000:
        print(
            f"beam search width 3 on 1,000 images: {rows[4][1]:.1f} s (target <= {TARGET_BEAM_SECONDS} s on 2 "
            f"cores): {'yes' if rows[4][1] <= TARGET_BEAM_SECONDS else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(
        run_recorded(
            main,
            title="captioning 1,000 images from their features: the seed's per-image loop, batched greedy, beam search carrying the LSTM state vs re-reading the prefix",
            target=">= 20x the per-image loop (greedy); beam width 3 at Flickr8k size <= 60 s and >= 3x re-reading the prefix",
        )
    )
