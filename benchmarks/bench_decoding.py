"""Captioning N images from their features: batched greedy and beam search against the seed's loop.

    python benchmarks/bench_decoding.py [--small] [--images N] [--loop-images M] [--run RUN_DIR]

Three ways to caption the same images, timed in one run, side by side:

* the seed's loop: for each image, for each word, one ``model.predict`` call on a batch of one
  (what most tutorials and the project's seed did);
* batched greedy decoding (``helpers.decoding.greedy_captions``): one model call per word position
  for a whole batch of images;
* batched beam search of width 3 (``helpers.decoding.beam_search_captions``).

The loop is slow, so by default it runs on a subset (``--loop-images``) and its time is
extrapolated linearly to N images; the table says so. The model is the course's merge model
(``helpers.model.build_merge_model``, the default size: 256 units, 100-dimensional embeddings) with
random weights, or the trained model of a run folder (``--run``); the features are random (the
cost of decoding does not depend on their values, only on how many words are generated, which
is printed). Exit status 0; the last line says whether batched greedy is at least 20x faster.
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

from helpers import decoding  # noqa: E402
from helpers.vocabulary import PAD_ID, Vocabulary  # noqa: E402

TARGET_SPEEDUP = 20


def seed_loop_captions(model, features: np.ndarray, vocabulary: Vocabulary, max_length: int) -> list[str]:
    """The seed's decoding: per image, per word, ``model.predict`` on one prefix.

    (Reads a ``(1, L, V)`` output at the last word, like :mod:`helpers.decoding`.)"""
    width = decoding.model_sequence_length(model, max_length)
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
            decoding.allowed_next_words(log_probabilities, prefix, np.array([len(sequence)]), vocabulary,
                                        decoding.DEFAULT_NO_REPEAT_NGRAM, last_step=step == steps)  # as helpers.decoding
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="images to caption (default 1000)")
    parser.add_argument("--loop-images", type=int, default=50,
                        help="images the slow per-word loop really captions; its time is extrapolated (default 50)")
    parser.add_argument("--run", default=None, help="use the trained model of this run folder instead of a random "
                        "model of the course's size")
    parser.add_argument("--vocab-size", type=int, default=3000, help="vocabulary of the random model (default "
                        "3000, the order of real Flickr8k's with a minimum word count of 5)")
    parser.add_argument("--max-length", type=int, default=20, help="max caption length of the random model")
    parser.add_argument("--small", action="store_true", help="a quick check: 100 images, loop on 10")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.small:
        args.images, args.loop_images = 100, 10
    args.loop_images = min(args.loop_images, args.images)

    if args.run:
        from helpers import training

        model, vocabulary, config = training.load_trained_model(args.run)
        max_length = int(config["text"]["max_length"])
        feature_dim = int(model.inputs[0].shape[-1])
        what = f"the trained model of {args.run}"
    else:
        vocabulary = synthetic_vocabulary(args.vocab_size)
        max_length, feature_dim = args.max_length, 1280
        model = course_sized_model(len(vocabulary), max_length, feature_dim, args.seed)
        what = (f"the course's merge model (helpers.model.build_merge_model defaults) with random weights, "
                f"vocabulary {len(vocabulary)}, max length {max_length}")
    features = np.random.default_rng(args.seed).normal(size=(args.images, feature_dim)).astype(np.float32)
    if args.run:
        features = np.abs(features)  # like ReLU/avg-pooled CNN features

    print(f"Model: {what}; {model.count_params():,} parameters")
    print(f"Features: {args.images} random vectors of {feature_dim}")
    # warm-up: the first calls build the graphs / functions
    decoding.greedy_captions(model, features[:4], vocabulary, max_length)
    decoding.beam_search_captions(model, features[:4], vocabulary, max_length, width=3)
    seed_loop_captions(model, features[:1], vocabulary, max_length)

    loop_seconds, loop_captions = timed(seed_loop_captions, model, features[:args.loop_images], vocabulary, max_length)
    loop_total = loop_seconds * args.images / args.loop_images
    greedy_seconds, greedy = timed(decoding.greedy_captions, model, features, vocabulary, max_length)
    beam_seconds, beam = timed(decoding.beam_search_captions, model, features, vocabulary, max_length, width=3)
    assert greedy[:args.loop_images] == loop_captions, "batched greedy must give the loop's captions"

    words = sum(len(c.split()) + (len(c.split()) < max_length - 1) for c in greedy)  # + endseq when it was chosen
    rows = [
        (f"seed loop: model.predict per image and word{' *' if args.loop_images < args.images else ''}",
         loop_total),
        ("batched greedy (helpers.decoding.greedy_captions)", greedy_seconds),
        ("batched beam search, width 3", beam_seconds),
    ]
    print(f"\nCaptioning {args.images} images ({words} greedy words incl. endseq, "
          f"{words / args.images:.1f} per image):")
    print(f"{'method':58} {'seconds':>9} {'images/s':>9} {'vs loop':>8}")
    for name, seconds in rows:
        print(f"{name:58} {seconds:9.2f} {args.images / seconds:9.1f} {loop_total / seconds:7.1f}x")
    if args.loop_images < args.images:
        print(f"* the loop captioned {args.loop_images} images in {loop_seconds:.2f} s, extrapolated linearly to "
              f"{args.images}")
    speedup = loop_total / greedy_seconds
    verdict = "yes" if speedup >= TARGET_SPEEDUP else "NO"
    print(f"\nbatched greedy is {speedup:.0f}x faster than the seed loop (target >= {TARGET_SPEEDUP}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
