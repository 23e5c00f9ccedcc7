"""The results table of a finished course run (00-11) on real photos, as the README and docs/results.md show it.

Usage::

    python -m helpers run -p DATASET ../shared/data/flickr8k_1k --run-dir runs/flickr8k_1k
    python benchmarks/real_photo_results.py --run-dir runs/flickr8k_1k --out docs/real_photo_results.json

Reads the run's ``scores.json`` (08: the model greedy and beam, nearest-neighbour retrieval, the best constant
caption), ``attention/comparison.json`` (10: merge, inject and attention, greedy and beam) and
``transformer/model_comparison.json`` (11: the Transformer's rows, when 11 ran), writes them into one
JSON with the course's timings (``notebooks/`` of the run) and prints the Markdown table (x100).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

METRICS = (("bleu1", "BLEU-1"), ("bleu4", "BLEU-4"), ("meteor", "METEOR"), ("cider", "CIDEr-D"))


def rows_of(run_dir: Path) -> dict[str, dict[str, float]]:
    scores = json.loads((run_dir / "scores.json").read_text())
    rows = {
        "merge (06), greedy": scores["model"],
        f"merge (06), beam {scores['beam']['width']}": scores["beam"]["scores"],
    }
    comparison_path = run_dir / "attention" / "comparison.json"
    if comparison_path.exists():
        comparison = json.loads(comparison_path.read_text())
        for name, row in comparison["rows"].items():
            if name.startswith("merge"):
                continue  # the same model as 06's rows
            for decoder in ("greedy", "beam"):
                label = decoder if decoder == "greedy" else f"beam {comparison.get('beam_width', 3)}"
                rows[f"{name.replace(' (here)', '')}, {label}"] = row["scores"][decoder]
    transformer_path = run_dir / "transformer" / "model_comparison.json"
    if transformer_path.exists():
        comparison = json.loads(transformer_path.read_text())
        row = comparison["rows"]["transformer"]
        for decoder in ("greedy", "beam"):
            label = decoder if decoder == "greedy" else f"beam {comparison.get('beam_width', 3)}"
            rows[f"Transformer, {label}"] = row["scores"][decoder]
    rows[f"nearest-neighbour retrieval ({scores['retrieval']['k']} neighbours)"] = scores["retrieval"]["scores"]
    constant = scores["best_constant_caption"]
    rows[f"best constant caption (`{constant['caption']}`)"] = constant["scores"]
    return rows


def markdown(rows: dict[str, dict[str, float]]) -> str:
    retrieval = next(v["cider"] for k, v in rows.items() if k.startswith("nearest"))
    lines = ["| model | " + " | ".join(label for _, label in METRICS) + " | CIDEr-D / retrieval |"]
    lines.append("|---|" + "---:|" * (len(METRICS) + 1))
    for name, scores in rows.items():
        cells = [f"{100 * scores[key]:.1f}" if key in scores else "—" for key, _ in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {scores['cider'] / retrieval:.2f}x |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--out", type=Path, help="JSON to write (the rows and the run's parameters)")
    args = parser.parse_args()
    rows = rows_of(args.run_dir)
    if args.out:
        config = json.loads((args.run_dir / "config.json").read_text())
        record = {"run": str(args.run_dir), "parameters": config.get("parameters", {}), "rows": rows}
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
