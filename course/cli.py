"""``python -m helpers`` (also ``python -m course``): the course's commands.

Role: course machinery (the command line).

``run``       run notebooks 00-11 in order into one run folder (:mod:`course.runner`); every ``-p`` is
              checked before notebook 00 starts (a bad one: one line naming it and what is allowed, exit 2);
              ``--until NN`` stops after notebook NN, ``--only``/``--skip`` pick notebooks
``caption``   caption your own photos with a trained run folder (:mod:`course.captioner`)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from course import captioner, runner
from course import parameters as params
from course.config import RunFolderError
from course.files import NOTEBOOKS
from helpers.decoding import DEFAULT_ALPHA, DEFAULT_NO_REPEAT_NGRAM


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="python -m helpers", description="The image-captioning course.")
    commands = main_parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run notebooks 00-11 in order on one set of parameters")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        default=[],
        help="a notebook parameter, e.g. -p EPOCHS 5 (checked first; passed to the notebooks that have it)",
    )
    run.add_argument(
        "--run-dir",
        default=None,
        help="folder for everything the run writes (default "
        "runs/<dataset>-<encoder>-<weights>[-<hash of the other parameters that change results>])",
    )
    run.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks, e.g. --only 07 08")
    run.add_argument(
        "--until",
        metavar="NN",
        default=None,
        help="stop after this notebook, e.g. --until 05 runs 00-05: the inputs of 06 (what a notebook opened "
        "alone, say on Colab, asks for when its inputs are missing)",
    )
    run.add_argument(
        "--skip",
        nargs="+",
        metavar="NN",
        default=[],
        help="leave these notebooks out, e.g. --skip 10 11 (attention and the Transformer) or --skip 06b (the appendix "
        "on training speed); nothing else reads their files",
    )
    run.add_argument("--timeout", type=int, default=3600, help="seconds one cell may take (1 to a week)")
    run.add_argument(
        "--list-parameters",
        action="store_true",
        help="list every parameter once (type, default, allowed values, notebooks, meaning) and exit",
    )

    caption = commands.add_parser(
        "caption",
        help="caption your own photos with a trained run",
        description="Print one caption per photo, using a trained run folder.",
    )
    caption.add_argument(
        "--run",
        required=True,
        metavar="RUN_DIR",
        help="a run folder with model.keras, vocabulary.json and config.json (notebook 06)",
    )
    caption.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (JPEG, PNG, GIF, BMP, WebP, TIFF)")
    caption.add_argument(
        "--beam", type=int, default=1, metavar="K", help="beam search of width K (default 1: greedy decoding)"
    )
    caption.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help=f"length normalisation of beam search (default {DEFAULT_ALPHA}; 0 = none)",
    )
    caption.add_argument(
        "--no-repeat-ngram",
        type=int,
        default=None,
        metavar="N",
        help="no caption repeats an N-word sequence (default: the run's NO_REPEAT_NGRAM from "
        f"notebook 07, else {DEFAULT_NO_REPEAT_NGRAM}; 0 = no guard)",
    )
    return main_parser


#: The widest beam ``caption --beam`` takes (each step scores width x vocabulary captions per photo).
MAX_BEAM_WIDTH = 100
#: The largest ``--alpha`` (the same range as the LENGTH_ALPHA parameter of notebook 07).
MAX_ALPHA = 5.0
#: The longest guarded n-gram ``--no-repeat-ngram`` takes (longer than any caption: the same as no guard).
MAX_NO_REPEAT_NGRAM = 100


def caption_option_problem(beam: int, alpha: float, no_repeat_ngram: int | None) -> str | None:
    """What is wrong with the caption command's options (one line naming the option and the rule), or None."""
    if not 1 <= beam <= MAX_BEAM_WIDTH:
        return f"--beam must be a whole number from 1 to {MAX_BEAM_WIDTH} (MAX_BEAM_WIDTH), got {str(beam)[:40]}"
    if not (math.isfinite(alpha) and 0.0 <= alpha <= MAX_ALPHA):  # nan fails every comparison
        return f"--alpha must be a number from 0 to {MAX_ALPHA:g}, got {alpha!r}"
    if no_repeat_ngram is not None and not 0 <= no_repeat_ngram <= MAX_NO_REPEAT_NGRAM:
        return f"--no-repeat-ngram must be from 0 (off) to {MAX_NO_REPEAT_NGRAM}, got {str(no_repeat_ngram)[:40]}"
    return None


def caption_command(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if problem := caption_option_problem(args.beam, args.alpha, args.no_repeat_ngram):
        return _fail(problem)
    return captioner.caption_photos(
        args.run, args.photos, beam=args.beam, alpha=args.alpha, no_repeat_ngram=args.no_repeat_ngram
    )


#: The longest ``--timeout`` (seconds one notebook cell may take): a week.
MAX_TIMEOUT = 7 * 24 * 3600


def run_command(args: argparse.Namespace) -> int:
    if args.list_parameters:
        print(params.listing())
        return 0
    if not 1 <= args.timeout <= MAX_TIMEOUT:
        return _fail(f"--timeout must be from 1 to {MAX_TIMEOUT} seconds (one cell's limit), got {args.timeout}")
    values = {}
    try:
        for name, text in args.parameter:
            parameter = params.get(name)
            values[name] = text if parameter.type is str else params.parse_value(text)
        values = params.check(values)
    except params.ParameterError as error:
        return _fail(str(error))
    notebooks = NOTEBOOKS
    if args.only:
        notebooks = [n for n in NOTEBOOKS if any(n.startswith(prefix.zfill(2)) for prefix in args.only)]
        if not notebooks:
            return _fail(f"--only {' '.join(args.only)} matches no notebook (00 to {NOTEBOOKS[-1][:2]})")
    if args.until is not None:
        last = [n for n in NOTEBOOKS if n.startswith(args.until.zfill(2))]
        if not last or not args.until.isdigit():
            return _fail(f"--until {args.until} matches no notebook (00 to {NOTEBOOKS[-1][:2]})")
        notebooks = [n for n in notebooks if n[:2] <= last[0][:2]]
        if not notebooks:
            return _fail(f"--until {args.until} leaves no notebook to run (with --only {' '.join(args.only)})")
    if args.skip:
        skipped = [n for n in notebooks if any(n.startswith(prefix.zfill(2)) for prefix in args.skip)]
        if not skipped:
            return _fail(f"--skip {' '.join(args.skip)} matches no notebook (00 to {NOTEBOOKS[-1][:2]})")
        notebooks = [n for n in notebooks if n not in skipped]
    try:
        run_dir = str(Path(args.run_dir).expanduser().resolve()) if args.run_dir else None
        folder = runner.open_run_folder(values, run_dir)
    except (params.ParameterError, RunFolderError) as error:
        return _fail(str(error))
    values.pop("RUN_DIR", None)
    started = time.perf_counter()
    try:
        run_dir = runner.run_course(values, folder.path, notebooks=notebooks, timeout=args.timeout)
    except (RuntimeError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"\nThe course ran in {time.perf_counter() - started:.0f} s.")
    print(runner.summary(run_dir))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "caption":
        return caption_command(args)
    return run_command(args)
