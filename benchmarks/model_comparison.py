"""Notebook 11's four-model table (merge, inject, attention, Transformer) of finished course runs, for the README.

Usage::

    python -m helpers run --run-dir runs/sample                                   # 00-11 on the sample
    python -m helpers run -p DATASET ../shared/data/flickr8k_1k --run-dir runs/flickr8k_1k
    python benchmarks/model_comparison.py --run sample=runs/sample --run flickr8k_1k=runs/flickr8k_1k \\
        --out docs/model_comparison.json

Reads each run's ``transformer/model_comparison.json`` (written by notebook 11: parameters, seconds per epoch, peak
memory while training, greedy and beam BLEU-1..4 / METEOR / CIDEr-D on the test split), writes them into one JSON
with the machine's load at the time (the figures are only as quiet as the machine was) and prints one Markdown
table per run (scores x100).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from course import files
from helpers.attention_comparison import comparison_markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=RUN_DIR")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--note", default="", help="how the runs were made (machine, load)")
    args = parser.parse_args(argv)
    result = {"note": args.note, "load_average": os.getloadavg(), "runs": {}}
    for item in args.run:
        name, _, run_dir = item.partition("=")
        comparison = json.loads((Path(run_dir) / files.TRANSFORMER_DIR / files.MODEL_COMPARISON_FILE).read_text())
        config = json.loads((Path(run_dir) / files.CONFIG_FILE).read_text())
        result["runs"][name] = {
            "dataset": config["parameters"]["DATASET"],
            "test_images": comparison["test_images"],
            "beam_width": comparison["beam_width"],
            "box_ratio": comparison["box_ratio"],
            "rows": comparison["rows"],
        }
        print(f"### {name} ({comparison['test_images']} test images)\n")
        print(comparison_markdown(comparison["rows"], beam_width=comparison["beam_width"]) + "\n")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
