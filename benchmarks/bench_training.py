"""Training at Flickr8k size: teacher forcing as the course does it (each batch padded to its own longest caption)
against fixed-length padding, against sorting by length (bucketing) and against the prefix-pair generator, same model.

    python benchmarks/bench_training.py            # 6,000 images x 5 captions, 2048-d features
    python benchmarks/bench_training.py --small    # 600 images: a quick check of the script
    python benchmarks/bench_training.py --steps 100 --skip-prefix-pairs   # a quicker estimate of the first two
    python benchmarks/bench_training.py --steps 60 --skip-prefix-pairs --window-batches 0 2   # + bucketing
    python benchmarks/bench_training.py --steps 60 --skip-prefix-pairs --repeats 3   # medians of 3 turns each

Data: synthetic image features (2048 numbers per image, like InceptionV3's), and
the real Flickr8k training captions from ../shared/data/flickr8k_text when present
(the vocabulary and caption lengths are then Flickr8k's); synthetic captions of
Flickr8k-like lengths otherwise. The script says which.

Each way trains the same merge model (same size, same seed) in its own subprocess:
- teacher forcing, the default (``helpers.training.teacher_forcing_dataset``): a plain shuffle,
  each batch padded to its own longest caption (``--window-batches 0``), fitted as
  ``helpers.training.train`` fits it: the softmax only at the positions that have a target
  (``helpers.training.model_at_targets``);
- teacher forcing, softmax everywhere: the same batches, but ``model.fit`` on the model itself, which
  computes the softmax at every position, padding included (how the course trained before);
- teacher forcing, bucketed (``--window-batches N``, N >= 1: ``bucket=True``): captions sorted by length
  within windows of N batches, so a batch holds captions of similar length;
- teacher forcing, fixed padding: the same batches as the default (a plain shuffle),
  every caption padded to the longest caption of the dataset, softmax everywhere — how the course
  trained at first;
- prefix pairs: a fixed number of steps, timed and extrapolated to a full epoch
  (a full epoch takes long on a laptop) — printed as such.
The teacher-forcing ways run one full epoch each (after a few warm-up steps), or ``--steps N``
steps extrapolated to the epoch (the batches come in shuffled order, so N steps are a random
sample of the epoch's batches). The load average of the machine is printed beside each figure:
other work on the machine slows every row.
The teacher-forcing subprocess also reports its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``): training at Flickr8k size must fit
in 2 GB (Binder). Exits 0; the targets (>= 3x faster, <= 2 GB) are printed as met or not.

``--dev-epochs N`` asks the other question (does the way of batching change what the model learns?): each
teacher-forcing way trains N whole epochs, for each seed of ``--seeds``, and the dev loss after every
epoch is printed side by side, on the real Flickr8k dev captions (1,000 images x 5) with features drawn like the
training ones. The dev batches are the same for every row (no bucketing, in order), so the rows differ only in
how the training batches were made; the spread between seeds of the same way is the noise to compare with.

    python benchmarks/bench_training.py --dev-epochs 2 --seeds 0 1 --window-batches 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from measurement import run_recorded

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_TEXT = REPO_ROOT.parent / "shared" / "data" / "flickr8k_text"
SPEEDUP_TARGET = 3.0
BUCKETING_TARGET = 2.0
RSS_TARGET_GB = 2.0


def make_data(images: int, captions_per_image: int, feature_dim: int, seed: int = 0):
    """``(features, captions_by_image, image_ids, source)``."""
    import numpy as np

    from helpers.text import add_start_stop, clean_caption

    rng = np.random.default_rng(seed)
    captions_by_image: dict[str, list[str]] = {}
    if (SHARED_TEXT / "Flickr8k.token.txt").exists():
        from helpers.datasets import read_split_file, read_token_file

        real = read_token_file(SHARED_TEXT / "Flickr8k.token.txt")
        train_ids = [i for i in read_split_file(SHARED_TEXT / "Flickr_8k.trainImages.txt") if i in real]
        for k in range(images):  # reuse the real images' captions cyclically beyond 6,000
            source_id = train_ids[k % len(train_ids)]
            captions = [add_start_stop(clean_caption(c)) for c in real[source_id]]
            captions_by_image[f"image_{k}"] = [captions[j % len(captions)] for j in range(captions_per_image)]
        source = f"real Flickr8k training captions from {SHARED_TEXT}"
    else:
        words = [f"word{n}" for n in range(4000)]
        frequency = 1.0 / np.arange(1, len(words) + 1)  # Zipf-like, as in real text
        frequency /= frequency.sum()
        for k in range(images):
            captions = []
            for _ in range(captions_per_image):
                length = int(np.clip(rng.normal(11, 3.5), 3, 33))  # Flickr8k: about 11 words, up to ~33
                captions.append(add_start_stop(" ".join(rng.choice(words, size=length, p=frequency))))
            captions_by_image[f"image_{k}"] = captions
        source = "synthetic captions (../shared absent): 4,000-word Zipf vocabulary, Flickr8k-like lengths"
    features = rng.normal(0, 1, (images, feature_dim)).astype("float32")
    return features, captions_by_image, list(captions_by_image), source


def make_dev_data(feature_dim: int, seed: int = 1):
    """``(features, captions_by_image, image_ids)``: the real Flickr8k dev captions, features drawn like the
    training ones (None without ../shared)."""
    import numpy as np

    from helpers.text import add_start_stop, clean_caption

    if not (SHARED_TEXT / "Flickr8k.token.txt").exists():
        return None
    from helpers.datasets import read_split_file, read_token_file

    real = read_token_file(SHARED_TEXT / "Flickr8k.token.txt")
    dev_ids = [i for i in read_split_file(SHARED_TEXT / "Flickr_8k.devImages.txt") if i in real]
    captions_by_image = {i: [add_start_stop(clean_caption(c)) for c in real[i]] for i in dev_ids}
    features = np.random.default_rng(seed).normal(0, 1, (len(dev_ids), feature_dim)).astype("float32")
    return features, captions_by_image, dev_ids


def worker(args) -> dict:
    """Runs in a subprocess: build the data and the model, time training one way."""
    import resource

    import keras

    from helpers import training
    from helpers.model import build_merge_model
    from helpers.vocabulary import Vocabulary

    features, captions_by_image, image_ids, source = make_data(args.images, args.captions_per_image, args.feature_dim)
    vocabulary = Vocabulary.build([c for cs in captions_by_image.values() for c in cs], min_count=args.min_count)
    max_length = training.max_caption_length(captions_by_image)
    if args.worker == "prefix_pairs":
        dataset, examples = training.prefix_pair_dataset(
            features, captions_by_image, image_ids, vocabulary, max_length, args.batch_size, seed=0
        )
    else:
        dataset, examples = training.teacher_forcing_dataset(
            features,
            captions_by_image,
            image_ids,
            vocabulary,
            max_length,
            args.batch_size,
            seed=args.seeds[0],  # the shuffle follows the seed too: the spread between seeds includes data order
            bucket=args.worker == "teacher_forcing" and args.window_batches[0] > 0,
            window_batches=args.window_batches[0] or None,
        )
    if args.worker == "fixed_padding":  # every batch padded to the dataset's longest caption, as before
        import tensorflow as tf

        def pad(inputs, targets, weights):
            (image_features, words), missing = inputs, [[0, 0], [0, max_length - 1 - tf.shape(targets)[1]]]
            return (image_features, tf.pad(words, missing)), tf.pad(targets, missing), tf.pad(weights, missing)

        dataset = dataset.map(pad)
    padding = padding_share(dataset.take(50), max_length)
    steps_per_epoch = math.ceil(examples / args.batch_size)
    if args.dev_epochs:
        return dev_loss_worker(args, model_inputs=(vocabulary, max_length), dataset=dataset, source=source)
    keras.utils.set_random_seed(0)
    model = build_merge_model(
        len(vocabulary), max_length - 1, args.feature_dim, units=args.units, embedding_dim=args.embedding_dim
    )
    if args.worker == "teacher_forcing":  # as helpers.training.train fits it
        model, dataset = training.model_at_targets(model), training.batches_at_targets(dataset)
    dataset = dataset.repeat()
    model.fit(dataset, epochs=1, steps_per_epoch=args.warmup_steps, verbose=0)  # tracing, first allocations
    if args.worker == "prefix_pairs":
        steps = min(args.prefix_steps, steps_per_epoch)
    else:
        steps = min(args.steps, steps_per_epoch) if args.steps else steps_per_epoch
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    elapsed = time.perf_counter() - started
    return {
        "mode": args.worker,
        "source": source,
        "vocabulary": len(vocabulary),
        "max_length": max_length,
        "captions": sum(len(c) for c in captions_by_image.values()),
        "examples": examples,
        "steps_per_epoch": steps_per_epoch,
        "timed_steps": steps,
        "timed_seconds": elapsed,
        "epoch_seconds": elapsed * steps_per_epoch / steps,
        "padding": padding,
        "load": (load_before + os.getloadavg()[0]) / 2,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def dev_loss_worker(args, model_inputs, dataset, source) -> dict:
    """Train ``args.dev_epochs`` whole epochs with seed ``args.seeds[0]`` (the model's first weights and the order
    of the training captions); the dev loss after each."""
    import keras

    from helpers import training
    from helpers.model import build_merge_model

    vocabulary, max_length = model_inputs
    dev = make_dev_data(args.feature_dim)
    if dev is None:
        sys.exit("--dev-epochs needs the real Flickr8k dev captions in ../shared/data/flickr8k_text")
    dev_features, dev_captions, dev_ids = dev
    dev_dataset, _ = training.teacher_forcing_dataset(
        dev_features, dev_captions, dev_ids, vocabulary, max_length, args.batch_size, shuffle=False, bucket=False
    )
    keras.utils.set_random_seed(args.seeds[0])
    model = build_merge_model(
        len(vocabulary), max_length - 1, args.feature_dim, units=args.units, embedding_dim=args.embedding_dim
    )
    if args.worker == "teacher_forcing":  # as helpers.training.train fits it
        model = training.model_at_targets(model)
        dataset, dev_dataset = training.batches_at_targets(dataset), training.batches_at_targets(dev_dataset)
    started = time.perf_counter()
    history = model.fit(dataset, epochs=args.dev_epochs, validation_data=dev_dataset, verbose=0).history
    return {
        "mode": args.worker,
        "seed": args.seeds[0],
        "source": source,
        "vocabulary": len(vocabulary),
        "dev_captions": sum(len(c) for c in dev_captions.values()),
        "loss": [float(x) for x in history["loss"]],
        "val_loss": [float(x) for x in history["val_loss"]],
        "seconds": time.perf_counter() - started,
        "load": os.getloadavg()[0],
    }


def dev_loss_comparison(args) -> int:
    """``--dev-epochs``: dev loss after each epoch, the first ``--window-batches`` way vs fixed padding, each seed."""
    rows = []
    for mode in ("teacher_forcing", "fixed_padding"):
        for seed in args.seeds:
            rows.append(run_worker(mode, args, args.window_batches[0], seed=seed))
    first = rows[0]
    print(
        f"\nDev loss after each epoch: {args.images:,} training images x {args.captions_per_image} captions "
        f"({first['source']}), vocabulary {first['vocabulary']:,}, {args.feature_dim}-d features drawn at random "
        f"(the captions are real, the photos are not); dev: {first['dev_captions']:,} real Flickr8k dev captions, "
        f"the same batches for every row. Merge model, units {args.units}, batch {args.batch_size}."
    )
    header = "".join(f"{f'epoch {e + 1}':>10}" for e in range(args.dev_epochs))
    print(f"{'':34}{'seed':>5}{header}{'train loss':>12}{'seconds':>9}{'load':>6}")
    for row in rows:
        name = batching_name(args.window_batches[0]) if row["mode"] == "teacher_forcing" else "fixed padding"
        losses = "".join(f"{v:>10.4f}" for v in row["val_loss"])
        print(f"{name:34}{row['seed']:>5}{losses}{row['loss'][-1]:>12.4f}{row['seconds']:>9.0f}{row['load']:>6.1f}")
    by_mode = {m: [r["val_loss"][-1] for r in rows if r["mode"] == m] for m in ("teacher_forcing", "fixed_padding")}
    gap = abs(sum(by_mode["teacher_forcing"]) / len(args.seeds) - sum(by_mode["fixed_padding"]) / len(args.seeds))
    spread = max(max(v) - min(v) for v in by_mode.values())
    print(
        f"\nafter {args.dev_epochs} epochs: {batching_name(args.window_batches[0])} and fixed padding differ by "
        f"{gap:.4f} in mean dev loss; "
        f"seeds of the same way differ by up to {spread:.4f}"
        + (f" ({'within' if gap <= spread else 'NOT within'} the noise between seeds)" if len(args.seeds) > 1 else "")
    )
    return 0


def median_run(rows: list[dict]) -> dict:
    """The run of median epoch time (the lower middle one of an even number), with every run's time added."""
    ordered = sorted(rows, key=lambda row: row["epoch_seconds"])
    return {**ordered[(len(ordered) - 1) // 2], "every_run": [row["epoch_seconds"] for row in rows]}


def batching_name(window_batches: int) -> str:
    return "the default (plain shuffle)" if not window_batches else f"bucketed ({window_batches}-batch windows)"


def padding_share(batches, max_length: int) -> float:
    """Share of the word positions in ``batches`` that are padding."""
    import numpy as np

    padded = total = 0
    for (_, words), *_ in batches:
        words = np.asarray(words)
        padded, total = padded + int((words == 0).sum()), total + words.size
    return padded / max(total, 1)


def run_worker(mode: str, args, window_batches: int = 0, seed: int = 0) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        f"--window-batches={window_batches}",
        f"--dev-epochs={args.dev_epochs}",
        "--seeds",
        str(seed),
    ] + [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in (
            "images",
            "captions_per_image",
            "feature_dim",
            "batch_size",
            "units",
            "embedding_dim",
            "min_count",
            "warmup_steps",
            "prefix_steps",
            "steps",
        )
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO_ROOT)}
    print(f"... timing {mode.replace('_', ' ')} in a subprocess", flush=True)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{mode} worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="600 images and 50 prefix-pair steps: a quick check")
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--captions-per-image", type=int, default=5)
    parser.add_argument("--feature-dim", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64, help="captions (or prefix pairs) per step")
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--embedding-dim", type=int, default=100)
    parser.add_argument(
        "--min-count",
        type=int,
        default=1,
        help="vocabulary: words seen at least this often "
        "(default 1: 7,580 words with the real captions, as notebook 02 keeps them)",
    )
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument(
        "--prefix-steps", type=int, default=300, help="prefix-pair steps timed and extrapolated to the epoch"
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=0,
        help="time this many teacher-forcing steps and extrapolate to the epoch (default 0: the whole epoch)",
    )
    parser.add_argument(
        "--window-batches",
        type=int,
        nargs="+",
        default=[0],
        help="0: the default batches (a plain shuffle); N >= 1: bucketing, sorting by length within windows of N "
        "batches; several values give one row each (default: 0)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="time each teacher-forcing way this many times, the ways taking turns; the median is shown "
        "(the time of the same run can double on a shared machine)",
    )
    parser.add_argument("--skip-prefix-pairs", action="store_true", help="time only the two teacher-forcing ways")
    parser.add_argument(
        "--dev-epochs",
        type=int,
        default=0,
        help="instead of timing: train this many whole epochs each way and compare the dev loss (see above)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="with --dev-epochs: one run per seed")
    parser.add_argument(
        "--worker",
        choices=["teacher_forcing", "softmax_everywhere", "fixed_padding", "prefix_pairs"],
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)
    if args.worker:
        sys.path.insert(0, str(REPO_ROOT))
        print(json.dumps(worker(args)))
        return 0
    if args.small:
        args.images, args.prefix_steps = 600, 50
    if args.dev_epochs:
        sys.path.insert(0, str(REPO_ROOT))
        return dev_loss_comparison(args)

    sys.path.insert(0, str(REPO_ROOT))
    ways = [("teacher_forcing", w) for w in args.window_batches] + [("softmax_everywhere", 0), ("fixed_padding", 0)]
    runs = {way: [] for way in ways}
    for _ in range(args.repeats):  # the ways take turns: a slow spell of the machine hits each of them alike
        for mode, window_batches in ways:
            runs[(mode, window_batches)].append(run_worker(mode, args, window_batches))
    bucketed = [(w, median_run(runs[("teacher_forcing", w)])) for w in args.window_batches]
    forced = bucketed[0][1]
    everywhere = median_run(runs[("softmax_everywhere", 0)])
    fixed = median_run(runs[("fixed_padding", 0)])
    pairs = None if args.skip_prefix_pairs else run_worker("prefix_pairs", args)
    print(
        f"\nData: {args.images:,} images x {args.captions_per_image} captions = {forced['captions']:,} captions, "
        f"{args.feature_dim}-d synthetic features; {forced['source']}"
    )
    print(
        f"Vocabulary {forced['vocabulary']:,} words, captions up to {forced['max_length']} tokens; merge model "
        f"units={args.units}, embedding {args.embedding_dim}; batch {args.batch_size}; {os.cpu_count()} CPU cores\n"
    )
    print(
        f"{'':44}{'examples/epoch':>15}{'steps/epoch':>12}{'timed steps':>12}{'padding':>8}{'epoch (s)':>10}"
        f"{'load avg':>9}"
    )
    rows = [(f"teacher forcing, {batching_name(w)}", row) for w, row in bucketed]
    rows.append(("teacher forcing, softmax everywhere", everywhere))
    rows.append(("teacher forcing, fixed padding", fixed))
    for name, row in rows + ([("prefix pairs", pairs)] if pairs else []):
        note = (
            ""
            if row["timed_steps"] == row["steps_per_epoch"]
            else f"  (extrapolated from {row['timed_steps']} steps in {row['timed_seconds']:.1f} s)"
        )
        if len(row.get("every_run", [])) > 1:
            note += f"  (median of {', '.join(f'{s:.1f}' for s in row['every_run'])})"
        print(
            f"{name:44}{row['examples']:>15,}{row['steps_per_epoch']:>12,}{row['timed_steps']:>12,}"
            f"{row['padding']:>8.0%}{row['epoch_seconds']:>10.1f}{row['load']:>9.1f}{note}"
        )
    print()
    for w, row in bucketed:
        bucketing = fixed["epoch_seconds"] / row["epoch_seconds"]
        print(
            f"{batching_name(w)} is {bucketing:.1f}x faster per epoch than fixed padding "
            f"(target >= {BUCKETING_TARGET:.0f}x: {'met' if bucketing >= BUCKETING_TARGET else 'NOT met'})"
        )
    print(
        f"the softmax only where a word is predicted: the default is "
        f"{everywhere['epoch_seconds'] / forced['epoch_seconds']:.2f}x faster than the same batches with the softmax "
        "at every position"
    )
    if pairs:
        speedup = pairs["epoch_seconds"] / forced["epoch_seconds"]
        print(
            f"teacher forcing is {speedup:.1f}x faster per epoch than prefix pairs "
            f"(target >= {SPEEDUP_TARGET:.0f}x: {'met' if speedup >= SPEEDUP_TARGET else 'NOT met'})"
        )
    print(
        f"peak RSS of teacher-forcing training: {forced['peak_rss_gb']:.2f} GB "
        f"(target <= {RSS_TARGET_GB:.0f} GB: {'met' if forced['peak_rss_gb'] <= RSS_TARGET_GB else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(
        run_recorded(
            main,
            title="a training epoch at Flickr8k size: the course's batches against fixed padding, the softmax everywhere, sorting by length and prefix pairs; dev loss after the same epochs",
            target=">= 2x faster than fixed padding (>= 3x than prefix pairs), <= 2 GB, the same dev loss within the seeds' spread",
        )
    )
