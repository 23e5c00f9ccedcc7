"""How long each notebook of the course takes at Flickr8k size, on synthetic photos.

    python benchmarks/course_at_flickr8k_size.py                 # 8,091 images, 2 epochs (minutes to hours on 2 cores)
    python benchmarks/course_at_flickr8k_size.py --small         # 400 images, 2 epochs: checks that it works
    python benchmarks/course_at_flickr8k_size.py --images 1000 --epochs 3 --encoder inception_v3

1. Builds (once; a rerun reuses it) a dataset in the Flickr8k layout, outside the repository (default
   ``<temp dir>/captioning_flickr8k_size``, or ``--folder``): ``Flicker8k_Dataset/`` with synthetic 500x375 JPEGs
   (smooth colour fields, random shapes and sensor-like noise, so files are about the size of Flickr8k's and JPEG
   decoding costs what it costs on real photos), ``Flickr8k.token.txt`` and the three split files. The captions
   and the split are the real Flickr8k ones when ``../shared/data/flickr8k_text`` (or ``--text-dir``) is there,
   otherwise synthetic captions of Flickr8k's shape (5 per image, about 9 words, a Zipf vocabulary of about 8,800
   words) and a 6,000/1,000/1,000-proportioned split. The output says which. The photos are never real, so the
   BLEU scores of this run mean nothing: only the times do.
2. Runs the course on it one notebook at a time, ``python -m helpers run --run-dir RUN --only NN -p DATASET
   <folder> -p EPOCHS <epochs> ...``, timing each call (wall clock: kernel start, imports and all cells).
   Times are saved in ``RUN/benchmark_timings.json`` after each notebook: an interrupted benchmark resumes with
   the next notebook (``--fresh`` starts the run again).
3. Prints a table of seconds and peak memory per notebook, with each notebook's slowest cell (papermill's cell
   durations). For 06 and 10 it also gives the time per training epoch (from the run's ``history.json``:
   ``epoch_seconds``) and the time the notebook would take training ``--estimate-epochs`` epochs (default 20):
   the notebook's time - its training + per-epoch time x that many. ``EPOCHS`` is an upper bound in the course
   (early stopping with ``PATIENCE`` decides how many epochs run), and only real photos can say how many that is:
   20 is the old default, which makes the figure comparable with earlier measurements.
"""

from __future__ import annotations

import argparse
import os
import pkgutil
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from measurement import run_recorded  # noqa: E402

import course  # noqa: E402
import helpers  # noqa: E402
from course import config as run_config  # noqa: E402
from course import files, paths, runner  # noqa: E402
from course.files import ATTENTION_DIR  # noqa: E402
from helpers import datasets  # noqa: E402

FLICKR8K_IMAGES = 8091
WIDTH, HEIGHT = 500, 375
DEFAULT_FOLDER = Path(tempfile.gettempdir()) / "captioning_flickr8k_size"
DEFAULT_TEXT_DIR = REPO_ROOT.parent / "shared" / "data" / "flickr8k_text"
ESTIMATE_EPOCHS = 20  # the old default EPOCHS: estimates comparable with earlier measurements
MARKER = ".synthetic_flickr8k.json"
TIMINGS_FILE = "benchmark_timings.json"
GENERATOR_VERSION = 1

# Synthetic captions with Flickr8k's shape: 5 per image, mean ~9.2 clean words, a Zipf vocabulary
# (10,000 pseudo-words, exponent 1.3) that gives ~8,800 distinct words over 40k captions (Flickr8k: 8,763).
LEXICON_SIZE, ZIPF_EXPONENT, ZIPF_OFFSET, MEAN_WORDS = 10_000, 1.3, 2.7, 9.2


# --- the synthetic photos ----------------------------------------------------------------------


def synthetic_photo(index: int, seed: int = 0) -> Image.Image:
    """A 500x375 picture with a photo's statistics: smooth colour field, shapes, blur, noise."""
    rng = np.random.default_rng([seed, index])
    field = rng.integers(0, 256, size=(rng.integers(2, 6), rng.integers(2, 6), 3), dtype=np.uint8)
    image = Image.fromarray(field).resize((WIDTH, HEIGHT), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(3, 12)):
        x0, y0 = int(rng.integers(-50, WIDTH)), int(rng.integers(-50, HEIGHT))
        x1, y1 = x0 + int(rng.integers(20, 260)), y0 + int(rng.integers(20, 200))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 15)))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.5))))
    pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, rng.uniform(10, 20), (HEIGHT, WIDTH, 3)).astype(np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def save_atomic(image: Image.Image, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    image.save(tmp, format="JPEG", quality=95)
    os.replace(tmp, path)


# --- captions and split ------------------------------------------------------------------------


def real_text(text_dir: Path) -> tuple[list[str], list[str], dict[str, list[str]]] | None:
    """``(image ids, token-file lines, splits)`` of the real Flickr8k text files, or None when absent."""
    token = text_dir / datasets.TOKEN_FILE
    if not token.is_file() or not all((text_dir / name).is_file() for name in datasets.SPLIT_FILES.values()):
        return None
    lines = token.read_text(encoding="utf-8").splitlines()
    image_ids = list(dict.fromkeys(line.split("\t", 1)[0].rsplit("#", 1)[0] for line in lines if "\t" in line))
    image_ids = [i for i in image_ids if i.lower().endswith(".jpg")]  # leaves out the bad id ...jpg.1
    splits = {split: datasets.read_split_file(text_dir / name) for split, name in datasets.SPLIT_FILES.items()}
    return image_ids, lines, splits


def synthetic_text(n: int, seed: int = 0) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """``(image ids, token-file lines, splits)`` of synthetic captions for ``n`` images."""
    rng = np.random.default_rng([seed, 8091])
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lexicon: list[str] = []
    seen: set[str] = set()
    while len(lexicon) < LEXICON_SIZE:
        word = "".join(rng.choice(letters, size=int(rng.integers(2, 10))))
        if word not in seen:
            seen.add(word)
            lexicon.append(word)
    weights = 1 / (np.arange(LEXICON_SIZE) + ZIPF_OFFSET) ** ZIPF_EXPONENT
    weights /= weights.sum()
    image_ids = [f"{1_000_000_000 + i * 7919}_{i:06x}.jpg" for i in range(FLICKR8K_IMAGES)]
    lines = []
    for image_id in image_ids[:n]:
        for k in range(5):
            length = int(np.clip(rng.poisson(MEAN_WORDS), 3, 32))
            words = [lexicon[w] for w in rng.choice(LEXICON_SIZE, size=length, p=weights)]
            lines.append(f"{image_id}#{k}\t{' '.join(words).capitalize()} .")
    n_dev = n_test = round(n * 1000 / FLICKR8K_IMAGES)
    n_train = round(n * 6000 / FLICKR8K_IMAGES)
    ids = image_ids[:n]
    splits = {
        "train": ids[:n_train],
        "dev": ids[n_train : n_train + n_dev],
        "test": ids[n_train + n_dev : n_train + n_dev + n_test],
    }
    return image_ids, lines, splits


def build_dataset(folder: Path, n_images: int, text_dir: Path, seed: int = 0) -> dict:
    """Write (or complete) the Flickr8k-layout dataset in ``folder``; returns what it holds."""
    real = real_text(text_dir)
    if real is not None:
        all_ids, lines, splits = real
        source = f"the real Flickr8k captions and split from {text_dir}"
        order = np.random.default_rng(seed).permutation(len(all_ids))  # a subset keeps the split's proportions
        chosen = {all_ids[i] for i in order[:n_images]}
        lines = [
            line
            for line in lines
            if "\t" in line
            and (
                line.split("\t", 1)[0].rsplit("#", 1)[0] in chosen
                or not line.split("\t", 1)[0].rsplit("#", 1)[0].lower().endswith(".jpg")
            )
        ]  # keep the bad id
        splits = {split: [i for i in ids if i in chosen] for split, ids in splits.items()}
    else:
        all_ids, lines, splits = synthetic_text(n_images, seed)
        chosen = set(all_ids[:n_images])
        source = (
            f"synthetic captions ({text_dir} not found): 5 per image, ~{MEAN_WORDS} words, "
            f"Zipf over {LEXICON_SIZE:,} pseudo-words"
        )
    images_dir = folder / "Flicker8k_Dataset"
    marker = folder / MARKER
    if images_dir.exists() and not marker.exists():
        sys.exit(
            f"{folder} already holds {images_dir.name}/ but not {MARKER}: it was not made by this script "
            "(real photos?). Pick another --folder; nothing was changed."
        )
    if images_dir.exists() and paths.read_json(marker).get("version") != GENERATOR_VERSION:
        print(f"  {images_dir} was made by another version of this script: making the photos again")
        shutil.rmtree(images_dir)
    images_dir.mkdir(parents=True, exist_ok=True)
    index_of = {image_id: i for i, image_id in enumerate(all_ids)}
    todo = sorted((i for i in chosen if not (images_dir / i).is_file()), key=index_of.get)
    started = time.perf_counter()
    for done, image_id in enumerate(todo, start=1):
        save_atomic(synthetic_photo(index_of[image_id], seed), images_dir / image_id)
        if done % 500 == 0 or done == len(todo):
            print(f"  made {done}/{len(todo)} synthetic photos ({time.perf_counter() - started:.0f} s)", flush=True)
    write_text_atomic(folder / datasets.TOKEN_FILE, "\n".join(lines) + "\n")
    for split, name in datasets.SPLIT_FILES.items():
        write_text_atomic(folder / name, "\n".join(splits[split]) + "\n")
    sizes = [(images_dir / i).stat().st_size for i in chosen]
    info = {
        "images": len(chosen),
        "size": [WIDTH, HEIGHT],
        "captions": source,
        "version": GENERATOR_VERSION,
        "mean_jpeg_kb": round(sum(sizes) / len(sizes) / 1000, 1),
        "split": {s: len(ids) for s, ids in splits.items()},
        "made_now": len(todo),
    }
    paths.write_json_atomic(marker, info)
    return info


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- timing the course -------------------------------------------------------------------------


def slowest_cell(executed: Path) -> tuple[float, str] | None:
    """``(seconds, first code line)`` of the longest cell of an executed notebook (papermill's cell durations)."""
    import nbformat

    if not executed.is_file():
        return None
    cells = [
        (c.metadata.get("papermill", {}).get("duration"), c.source)
        for c in nbformat.read(executed, as_version=4).cells
        if c.cell_type == "code"
    ]
    cells = [(d, source) for d, source in cells if isinstance(d, (int, float))]
    if not cells:
        return None
    seconds, source = max(cells, key=lambda cell: cell[0])
    lines = [line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    helper_modules = {module.name for package in (helpers, course) for module in pkgutil.iter_modules(package.__path__)}
    helper_calls = [line for line in lines if "(" in line and any(f"{m}." in line for m in helper_modules)]
    call = next(iter(helper_calls), next((line for line in lines if "(" in line), lines[0] if lines else ""))
    return seconds, call if len(call) <= 70 else call[:67] + "..."


def tree_rss_mb(process) -> float:
    """Resident memory of ``process`` and all its descendants (the notebook's kernel included), in MB."""
    import psutil

    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total / 1e6


def run_notebook(number: str, run_dir: Path, parameters: dict[str, str]) -> tuple[float, float | None]:
    """``(wall-clock seconds, peak memory in MB of it and its kernel)`` of ``helpers run --only NN``.

    Memory is sampled every 0.2 s with psutil (installed with Jupyter); ``None`` without psutil.
    """
    command = [
        sys.executable,
        "-m",
        "helpers",
        "run",
        "--run-dir",
        str(run_dir),
        "--only",
        number,
        "--timeout",
        str(7 * 24 * 3600),
    ]
    for name, value in parameters.items():
        command += ["-p", name, value]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    try:
        import psutil
    except ImportError:
        psutil = None
    peak = None
    with tempfile.TemporaryFile("w+") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
        watched = psutil.Process(process.pid) if psutil else None
        while process.poll() is None:
            if watched is not None:
                try:
                    peak = max(peak or 0.0, tree_rss_mb(watched))
                except psutil.Error:
                    pass
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            output.seek(0)
            sys.exit(f"notebook {number} failed ({process.returncode}):\n{output.read()[-5000:]}")
    return seconds, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=FLICKR8K_IMAGES, help="photos in the dataset (Flickr8k: 8091)")
    parser.add_argument(
        "--epochs",
        type=int,
        default=2,
        help="EPOCHS for 06 and 10 (the table gives the per-epoch time and the estimate for --estimate-epochs)",
    )
    parser.add_argument(
        "--estimate-epochs",
        type=int,
        default=ESTIMATE_EPOCHS,
        help=f"the last row estimates 06 and 10 with this many training epochs (default {ESTIMATE_EPOCHS})",
    )
    parser.add_argument("--small", action="store_true", help="a quick check: --images 400 --epochs 2")
    parser.add_argument(
        "--folder",
        type=Path,
        default=DEFAULT_FOLDER,
        help=f"where the dataset is built and reused (outside the repository; default {DEFAULT_FOLDER})",
    )
    parser.add_argument(
        "--text-dir",
        type=Path,
        default=DEFAULT_TEXT_DIR,
        help="the real Flickr8k_text files, used when present (default ../shared/data/flickr8k_text)",
    )
    parser.add_argument("--encoder", default="mobilenet_v2", help="ENCODER (default mobilenet_v2)")
    parser.add_argument("--weights", default="auto", help="WEIGHTS (default auto; 'none' costs the same time)")
    parser.add_argument("--batch-size", default=None, help="BATCH_SIZE (default: the notebooks' own)")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NN",
        help="time only these notebooks (the earlier ones must have run in the same run folder)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="run folder (default <folder>/runs/<images>-<encoder>-<weights>-e<epochs>)",
    )
    parser.add_argument("--fresh", action="store_true", help="delete the run folder first (times every notebook again)")
    args = parser.parse_args(argv)
    if args.small:
        args.images, args.epochs = 400, 2
    if not 8 <= args.images <= FLICKR8K_IMAGES:
        parser.error(f"--images must be between 8 and {FLICKR8K_IMAGES}")
    folder = args.folder.expanduser().resolve()
    if folder == REPO_ROOT or REPO_ROOT in folder.parents:
        parser.error(f"--folder {folder} is inside the repository: pick a folder outside it")

    print(f"Dataset: {args.images} synthetic {WIDTH}x{HEIGHT} JPEGs in the Flickr8k layout, in {folder}")
    started = time.perf_counter()
    info = build_dataset(folder, args.images, args.text_dir.expanduser())
    reused = info["images"] - info["made_now"]
    print(f"  captions: {info['captions']}")
    print(
        f"  {info['images']} photos ({reused} reused from an earlier run), mean JPEG {info['mean_jpeg_kb']} kB "
        f"(Flickr8k: ~135 kB); split {info['split']}; ready in {time.perf_counter() - started:.0f} s"
    )

    run_dir = (
        (args.run_dir or folder / "runs" / f"{args.images}-{args.encoder}-{Path(args.weights).stem}-e{args.epochs}")
        .expanduser()
        .resolve()
    )
    if args.fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    parameters = {"DATASET": str(folder), "ENCODER": args.encoder, "WEIGHTS": args.weights, "EPOCHS": str(args.epochs)}
    if args.batch_size:
        parameters["BATCH_SIZE"] = str(args.batch_size)
    timings_path = run_dir / TIMINGS_FILE
    timings = paths.read_json(timings_path) if timings_path.exists() else {}
    if timings.get("parameters") != parameters or timings.get("images") != args.images:
        timings = {"parameters": parameters, "images": args.images, "seconds": {}, "peak_mb": {}}
    numbers = list(dict.fromkeys(name[:2] for name in runner.NOTEBOOKS))  # --only 06 runs 06 and its appendix 06b
    if args.only:
        numbers = [n for n in numbers if any(n == o.zfill(2) for o in args.only)]
    print(f"Course: {' '.join(f'-p {k} {v}' for k, v in parameters.items())}\n  run folder {run_dir}")
    for number in numbers:
        if number in timings["seconds"] and not args.only:
            print(f"  {number}: {timings['seconds'][number]:.1f} s (timed earlier in this run folder)")
            continue
        print(f"  {number} ...", end=" ", flush=True)
        timings["seconds"][number], timings["peak_mb"][number] = run_notebook(number, run_dir, parameters)
        paths.write_json_atomic(timings_path, timings)
        peak = timings["peak_mb"][number]
        print(f"{timings['seconds'][number]:.1f} s" + (f", peak {peak:,.0f} MB" if peak else ""), flush=True)

    print_table(run_dir, timings, args, info)
    return 0


def print_table(run_dir: Path, timings: dict, args, info: dict) -> None:
    seconds, peak_mb = timings["seconds"], timings.get("peak_mb", {})
    config = run_config.read_config(run_dir)
    epochs = args.estimate_epochs
    slowest = {
        name[:2]: slowest_cell(run_dir / "notebooks" / name)
        for name in runner.NOTEBOOKS
        if name[:2] in seconds and name[2] == "_"
    }
    split = config.get("data", {}).get("split_sizes", info["split"])
    notes = {
        "01": f"{info['images']} images, {split}",
        "02": f"vocabulary {config.get('text', {}).get('vocabulary_size', '?')} words, "
        f"max_length {config.get('text', {}).get('max_length', '?')}",
        "03": f"{args.encoder}, weights {config.get('features', {}).get('weights', args.weights)}",
    }
    if "03" in seconds:
        notes["03"] += f", {info['images'] / seconds['03']:.1f} images/s over the whole notebook"
    rows = []
    estimated = {}  # notebook -> its seconds with `epochs` training epochs
    for number, history_path in (
        ("06", run_dir / files.HISTORY_FILE),
        ("10", run_dir / ATTENTION_DIR / files.HISTORY_FILE),
    ):
        history = paths.read_json(history_path) if history_path.exists() and number in seconds else {}
        epoch_seconds = history.get("epoch_seconds") or []
        if epoch_seconds:
            per_epoch = sum(epoch_seconds) / len(epoch_seconds)
            estimated[number] = seconds[number] - sum(epoch_seconds) + per_epoch * epochs
            notes[number] = (
                f"{len(epoch_seconds)} epochs of {per_epoch:.0f} s (training {sum(epoch_seconds):.0f} s); "
                f"{epochs} epochs -> ~{estimated[number]:.0f} s"
            )
    for name in runner.NOTEBOOKS:
        number = name[:2]
        if number in seconds and name[2] == "_":  # 06's row holds 06b too (one --only 06)
            cell = slowest.get(number)
            where = f"slowest cell {cell[0]:.0f} s: `{cell[1]}`" if cell and cell[0] >= 1 else ""
            note = "; ".join(n for n in (notes.get(number, ""), where) if n)
            rows.append((name.removesuffix(".ipynb"), seconds[number], peak_mb.get(number), note))
    width = max(len(r[0]) for r in rows) if rows else 10
    print(
        f"\nSeconds per notebook at {info['images']} images ({WIDTH}x{HEIGHT} synthetic JPEGs; {info['captions']}),"
        f" EPOCHS={args.epochs}, {os.cpu_count()} CPUs:"
    )
    print(f"| {'notebook':{width}} | {'seconds':>8} | {'peak MB':>8} | notes |")
    print(f"|{'-' * (width + 2)}|{'-' * 9}:|{'-' * 9}:|-------|")
    for name, value, peak, note in rows:
        print(f"| {name:{width}} | {value:8.1f} | {'?' if peak is None else f'{peak:,.0f}':>8} | {note} |")
    total = sum(seconds.values())
    print(f"| {'total':{width}} | {total:8.1f} | {'':8} | with EPOCHS={args.epochs} |")
    if estimated and len(seconds) == len({name[:2] for name in runner.NOTEBOOKS}):
        with_epochs = total + sum(estimated[n] - seconds[n] for n in estimated)
        without_10 = with_epochs - estimated.get("10", seconds["10"])
        print(
            f"| {f'total, {epochs} epochs':{width}} | {with_epochs:8.1f} | {'':8} | "
            f"{' and '.join(sorted(estimated))} from the measured per-epoch time x {epochs}; "
            f"00-09 alone ~{without_10:.0f} s ({without_10 / 60:.0f} min) |"
        )
    print(
        "(seconds: wall clock of `python -m helpers run --only NN`, kernel start and imports included; peak MB: the "
        "largest resident set of its processes, the kernel included; the photos are synthetic, so the scores of "
        "this run mean nothing)"
    )


if __name__ == "__main__":
    sys.exit(
        run_recorded(
            main,
            title="every notebook at Flickr8k size (8,091 synthetic photos, real captions and split)",
            target="00-09 within 25 minutes with 20 epochs on 2 cores",
        )
    )
