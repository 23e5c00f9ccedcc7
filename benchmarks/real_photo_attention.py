"""Choosing notebook 10's ATTENTION_PENALTY and START_FROM_IMAGE on real photos: train the attention decoder per variant.

Usage (a run folder finished through notebook 10 on real photos, e.g. ``../shared/data/flickr8k_1k``: it holds
``spatial_features.npz``)::

    python benchmarks/real_photo_attention.py --run-dir runs/real --out docs/real_photo_attention.json
    python benchmarks/real_photo_attention.py --table docs/real_photo_attention.json

Each variant (penalty x start) is trained once per seed exactly as notebook 10 trains it
(:func:`helpers.attention_comparison.train_once`: the run's EPOCHS, PATIENCE, BATCH_SIZE, UNITS, DROPOUT,
LEARNING_RATE and word vectors, early stopping on the dev loss, checkpoint averaging as
:func:`helpers.training.train` does). A variant's folder that already holds a model trained with the same settings
(e.g. the run's own ``attention/`` copied there) is reused. Each model is decoded greedily and with beam search on
the dev split (CIDEr-D, for choosing) and the test split (BLEU-1/4, METEOR, CIDEr-D, for reporting).
``--table FILE`` prints the Markdown table of a finished JSON (means over seeds, with the seeds' spread of dev CIDEr-D).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

VARIANTS = {
    # name: (ATTENTION_PENALTY, START_FROM_IMAGE)
    "penalty 0, blind start": (0.0, False),
    "penalty 1, blind start": (1.0, False),
    "penalty 0, image start": (0.0, True),
    "penalty 1, image start": (1.0, True),
}
METRICS = ("bleu1", "bleu4", "meteor", "cider")


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", required=True, help="a run folder finished through notebook 10")
    parser.add_argument("--out", required=True, help="JSON file the rows are added to (one row per variant and seed)")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="which variants (default: all)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[42, 7], help="one training per seed and variant")
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=0.7)
    return parser.parse_args()


def table(path: str) -> str:
    """The Markdown table of a results JSON: per variant and decoder, the mean over its seeds (x100)."""
    data = json.loads(Path(path).read_text())
    groups: dict[str, list[dict]] = {}
    for row in data["rows"]:
        groups.setdefault(row["variant"], []).append(row)
    lines = [
        "| variant | decoder | seeds | dev CIDEr-D (min–max) | test BLEU-1 | test BLEU-4 | test METEOR | test CIDEr-D "
        "| epochs (best) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for variant in [v for v in VARIANTS if v in groups] + [v for v in groups if v not in VARIANTS]:
        rows = groups[variant]
        for decoder in ("greedy", "beam"):
            dev = [r["dev"][decoder]["cider"] for r in rows]
            spread = f"{100 * np.mean(dev):.1f} ({100 * min(dev):.1f}–{100 * max(dev):.1f})"
            cells = []
            for metric in METRICS:
                values = [r["test"][decoder][metric] for r in rows if metric in r["test"][decoder]]
                cells.append(f"{100 * np.mean(values):.1f}" if values else "—")
            epochs = (
                f"{np.mean([r['epochs_run'] for r in rows]):.0f} ({np.mean([r['best_epoch'] for r in rows]):.0f})"
                if decoder == "greedy"
                else ""
            )
            label = "greedy" if decoder == "greedy" else f"beam {data.get('beam', 3)}"
            lines.append(f"| {variant} | {label} | {len(rows)} | {spread} | " + " | ".join(cells) + f" | {epochs} |")
    return "\n".join(lines)


def main():
    if "--table" in sys.argv:
        print(table(sys.argv[sys.argv.index("--table") + 1]))
        return
    args = arguments()
    import keras

    from course.run_folder import RunFolder
    from course.spatial_cache import load_spatial_features
    from helpers import attention, attention_comparison, evaluation, features, training

    run_folder = RunFolder.existing(args.run_dir)
    run_settings = run_folder.parameters
    epochs, batch_size, patience = (run_settings[n] for n in ("EPOCHS", "BATCH_SIZE", "PATIENCE"))
    units, dropout, learning_rate = (run_settings[n] for n in ("UNITS", "DROPOUT", "LEARNING_RATE"))
    lookup_table = run_folder.load_lookup_table()
    vocabulary = run_folder.load_vocabulary()
    max_length = run_folder.load_text().max_length
    feature_table = run_folder.load_features()
    lookup_table = features.captions_with_features(lookup_table, feature_table)
    spatial = load_spatial_features(run_folder.spatial_features_path)
    try:
        embedding_matrix = run_folder.load_embedding_matrix()
    except FileNotFoundError:
        embedding_matrix = None
    model_section = run_folder.load_model_section()
    weights_label = run_folder.load_features_section().weights
    ids = {split: list(lookup_table[split]) for split in ("train", "dev", "test")}
    references = {split: {i: lookup_table[split][i] for i in ids[split]} for split in ("dev", "test")}
    model_options = {
        "units": units,
        "dropout": dropout,
        "learning_rate": learning_rate,
        "embedding_matrix": embedding_matrix,
        "train_embeddings": model_section.train_embeddings,
    }

    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {"rows": []}
    results.update({"run": str(run_settings.get("DATASET")), "beam": args.beam, "alpha": args.alpha})
    for name, seed in [(n, s) for s in args.seeds for n in args.variants]:
        penalty, start_from_image = VARIANTS[name]
        data = {}
        for split in ("train", "dev"):
            data[split], _ = training.teacher_forcing_dataset(
                spatial.matrix(ids[split]),
                lookup_table[split],
                ids[split],
                vocabulary,
                max_length,
                batch_size=batch_size,
                shuffle=(split == "train"),
                seed=seed,
            )
        # the same settings notebook 10 records, so that its own attention/ folder is reused for its variant
        settings = {
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "units": units,
            "dropout": dropout,
            "learning_rate": learning_rate,
            "patience": patience,
            "penalty": penalty,
            "weights": weights_label,
            "embeddings": embedding_matrix is not None,
            "train_embeddings": model_section.train_embeddings,
            "start_from_image": start_from_image,
        }

        def build(penalty=penalty, start_from_image=start_from_image):
            return attention.build_attention_model(
                len(vocabulary),
                spatial.positions,
                spatial.channels,
                penalty=penalty,
                image_state=start_from_image,
                **model_options,
            )

        keras.utils.set_random_seed(seed)
        folder = Path(args.run_dir) / "attention_variants" / f"{name}-{seed}".replace(" ", "_").replace(",", "")
        start = time.perf_counter()
        model, history, _, reused = attention_comparison.train_once(
            build, data["train"], data["dev"], folder=folder, settings=settings, epochs=epochs, patience=patience
        )
        row = {
            "name": f"{name} seed {seed}",
            "variant": name,
            "seed": seed,
            "penalty": penalty,
            "start_from_image": start_from_image,
            "reused": reused,
            "seconds": round(time.perf_counter() - start, 1),
            "train_seconds": round(float(np.sum(history["epoch_seconds"])), 1),
            "epochs_run": history["epochs_run"],
            "best_epoch": history["best_epoch"],
            "best_val_loss": round(float(min(history["val_loss"])), 4),
        }
        with evaluation.meteor_session():
            for split in ("dev", "test"):
                grid = spatial.matrix(ids[split])
                captions = {
                    "greedy": attention.greedy_captions(model, grid, vocabulary, max_length),
                    "beam": attention.beam_search_captions(
                        model, grid, vocabulary, max_length, width=args.beam, alpha=args.alpha
                    ),
                }
                row[split] = {}
                for decoder, made in captions.items():
                    hypotheses = dict(zip(ids[split], made))
                    if split == "dev":  # choosing: CIDEr-D only
                        row[split][decoder] = {"cider": round(evaluation.cider_d(references[split], hypotheses)[0], 4)}
                    else:
                        scores = evaluation.caption_scores(references[split], hypotheses, say=None)["scores"]
                        row[split][decoder] = {m: round(float(scores[m]), 4) for m in METRICS if m in scores}
                        row[f"test {decoder} examples"] = made[:5]
        print(json.dumps(row), flush=True)
        results["rows"] = [r for r in results["rows"] if r["name"] != row["name"]] + [row]
        out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
