"""Choosing the defaults on real photos: train model variants on a prepared run folder, score dev and test.

Usage (a run folder prepared through notebook 04 on real photos, e.g. ``../shared/data/flickr8k_1k``)::

    python -m helpers run -p DATASET ../shared/data/flickr8k_1k --run-dir runs/real --only 00 01 02 03 04
    python benchmarks/real_photo_defaults.py --run-dir runs/real --out docs/real_photo_defaults.json

Each variant is trained once per seed. After every epoch its greedy captions of the dev photos are scored
(CIDEr-D); four models are then decoded greedily and with beam search on the dev split (for choosing) and the
test split (for reporting): the epoch with the lowest dev loss ("loss"), the epoch with the best dev CIDEr-D
("cider"), and the averaged weights of the 3 and 5 epochs with the lowest dev loss ("avg3", "avg5").
``--table FILE`` prints the Markdown table of a finished JSON (means over seeds), as docs/results.md shows it. The table also holds the run's nearest-neighbour retrieval and best constant caption.
Scores use the classic cleaning of the references whatever the training captions kept ("a"), so rows
trained on different cleanings are compared against the same references.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

VARIANTS = {
    # name: options changed from the course's defaults (before this benchmark)
    "defaults": {},
    "dropout 0.3": {"dropout": 0.3},
    "dropout 0.7": {"dropout": 0.7},
    "units 128": {"units": 128},
    "units 512": {"units": 512},
    "learned embedding": {"embedding": "learned"},
    "inject": {"architecture": "inject"},
    "patience 5": {"patience": 5},
}


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", required=True, help="a run folder prepared through notebook 04")
    parser.add_argument("--out", required=True, help="JSON file the rows are added to (one row per variant)")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="which variants (default: all)")
    parser.add_argument("--label", default="", help="added to each row's name (e.g. the cleaning)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=0.7)
    parser.add_argument("--no-repeat-ngram", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="*", default=[42], help="one training per seed and variant")
    return parser.parse_args()


def dev_cider_callback(model, score, scores, weights, best):
    """A Keras callback: after every epoch, ``score(model)`` (greedy dev CIDEr-D) into ``scores``, the weights into
    ``weights``, and the best epoch by CIDEr-D into ``best["cider"]``."""
    import keras

    class DevCider(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            value = score(model)
            scores.append(round(value, 4))
            weights.append(model.get_weights())
            if value > best["cider"][0]:
                best["cider"] = (value, model.get_weights(), epoch + 1)

    return DevCider()


def table(path: str) -> str:
    """The Markdown table of a results JSON: per variant and selection, the mean over its seeds."""
    data = json.loads(Path(path).read_text())
    groups: dict[str, list[dict]] = {}
    for row in data["rows"]:
        groups.setdefault(row.get("variant", row["name"]), []).append(row)
    lines = [
        "| variant | model kept | seeds | dev greedy CIDEr-D / BLEU-4 | dev beam | test greedy | test beam | s |",
        "|---|---|---:|---|---|---|---|---:|",
    ]
    for variant, rows in groups.items():
        for selection in ("loss", "cider", "avg3", "avg5"):
            kept = [r for r in rows if f"{selection} dev greedy" in r]
            if not kept:
                continue
            cells = []
            for key in ("dev greedy", "dev beam", "test greedy", "test beam"):
                cider = np.mean([r[f"{selection} {key}"]["cider"] for r in kept])
                bleu4 = np.mean([r[f"{selection} {key}"]["bleu4"] for r in kept])
                cells.append(f"{100 * cider:.1f} / {100 * bleu4:.1f}")
            seconds = np.mean([r["seconds"] for r in kept])
            lines.append(f"| {variant} | {selection} | {len(kept)} | " + " | ".join(cells) + f" | {seconds:.0f} |")
    for name, scores in data.get("baselines", {}).items():
        cell = f"{100 * scores['cider']:.1f} / {100 * scores['bleu4']:.1f}"
        where = f"{cell} | |  |  " if name.endswith("dev") else f" |  | {cell} | "
        lines.append(f"| {name} | — | — | {where} | |")
    return "\n".join(lines)


def main():
    if "--table" in sys.argv:
        print(table(sys.argv[sys.argv.index("--table") + 1]))
        return
    args = arguments()
    import keras

    from course.run_folder import RunFolder
    from helpers import checkpoint_averaging, decoding, evaluation, features, training
    from helpers import model as model_module

    run_folder = RunFolder.existing(args.run_dir)
    lookup_table = run_folder.load_lookup_table()
    vocabulary = run_folder.load_vocabulary()
    max_length = run_folder.load_text().max_length
    feature_table = run_folder.load_features()
    lookup_table = features.captions_with_features(lookup_table, feature_table)
    embedding_matrix = run_folder.load_embedding_matrix()
    ids = {split: list(lookup_table[split]) for split in ("train", "dev", "test")}
    matrices = {split: feature_table.matrix(ids[split]) for split in ids}
    # references: the split's captions; the metrics clean both sides the classic way (no 'a')
    references = {split: {i: lookup_table[split][i] for i in ids[split]} for split in ("dev", "test")}

    def decode(model, split):
        greedy = decoding.greedy_captions(
            model, matrices[split], vocabulary, max_length, no_repeat_ngram=args.no_repeat_ngram
        )
        beam = decoding.beam_search_captions(
            model,
            matrices[split],
            vocabulary,
            max_length,
            args.beam,
            alpha=args.alpha,
            no_repeat_ngram=args.no_repeat_ngram,
        )
        return dict(zip(ids[split], greedy)), dict(zip(ids[split], beam))

    def scores(split, hypotheses):
        bleu = evaluation.bleu_scores(references[split], hypotheses)
        cider, _ = evaluation.cider_d(references[split], hypotheses)
        return {"cider": round(cider, 4), "bleu1": round(bleu["bleu1"], 4), "bleu4": round(bleu["bleu4"], 4)}

    def dev_cider_of(model):
        greedy = decoding.greedy_captions(
            model, matrices["dev"], vocabulary, max_length, no_repeat_ngram=args.no_repeat_ngram
        )
        return evaluation.cider_d(references["dev"], dict(zip(ids["dev"], greedy)))[0]

    def stutters(hypotheses):
        return sum(any(a == b for a, b in zip(c.split(), c.split()[1:])) for c in hypotheses.values())

    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {"rows": []}
    train_captions = [c for i in ids["train"] for c in lookup_table["train"][i]]
    for split in ("dev", "test"):
        retrieved = evaluation.retrieval_captions(
            matrices[split],
            matrices["train"],
            [lookup_table["train"][i] for i in ids["train"]],
            evaluation.DEFAULT_NEIGHBOURS,
        )
        results.setdefault("baselines", {})[f"{args.label}retrieval {split}"] = scores(
            split, dict(zip(ids[split], retrieved))
        )
        constant, _ = evaluation.best_constant_caption(train_captions, references[split])
        results["baselines"][f"{args.label}constant {split}"] = scores(split, {i: constant for i in ids[split]})
    print(json.dumps(results["baselines"], indent=1))

    for name, seed in [(n, s) for n in args.variants for s in args.seeds]:
        args.seed = seed
        options = dict(VARIANTS[name])
        architecture = options.pop("architecture", "merge")
        patience = options.pop("patience", 10)
        embedding = options.pop("embedding", "fasttext")
        keras.utils.set_random_seed(args.seed)
        model = model_module.build_model(
            architecture,
            len(vocabulary),
            max_length - 1,
            matrices["train"].shape[1],
            embedding_dim=embedding_matrix.shape[1],
            embedding_matrix=None if embedding == "learned" else embedding_matrix,
            **options,
        )
        data = {
            split: training.teacher_forcing_dataset(
                matrices[split],
                lookup_table[split],
                ids[split],
                vocabulary,
                max_length,
                batch_size=64,
                shuffle=(split == "train"),
                seed=args.seed,
            )[0]
            for split in ("train", "dev")
        }

        dev_cider, epoch_weights, best = [], [], {"cider": (-1.0, None, 0)}
        score_dev = dev_cider_callback(model, dev_cider_of, dev_cider, epoch_weights, best)

        folder = Path(args.run_dir) / "variants" / f"{args.label}{name}-{seed}".replace(" ", "_")
        start = time.perf_counter()
        history = training.train(
            model,
            data["train"],
            data["dev"],
            epochs=args.epochs,
            run_dir=folder,
            patience=patience,
            verbose=0,
            callbacks=[score_dev],
            average_epochs=1,
        )
        seconds = time.perf_counter() - start
        row = {
            "name": args.label + name + ("" if seed == 42 else f" seed {seed}"),
            "variant": args.label + name,
            "seed": seed,
            "seconds": round(seconds, 1),
            "epochs_run": history["epochs_run"],
            "best_loss_epoch": history["best_epoch"],
            "best_cider_epoch": best["cider"][2],
            "dev_cider_per_epoch": dev_cider,
            "val_loss": [round(v, 4) for v in history["val_loss"]],
        }
        loss_weights = model.get_weights()  # train(average_epochs=1) left the best-loss epoch in the model
        order = np.argsort(history["val_loss"])

        selections = {
            "loss": loss_weights,
            "cider": best["cider"][1],
            "avg3": checkpoint_averaging.average_weights([epoch_weights[e] for e in order[:3]]),
            "avg5": checkpoint_averaging.average_weights([epoch_weights[e] for e in order[:5]]),
        }
        for selection, weights in selections.items():
            model.set_weights(weights)
            for split in ("dev", "test"):
                greedy, beam = decode(model, split)
                row[f"{selection} {split} greedy"] = scores(split, greedy)
                row[f"{selection} {split} beam"] = scores(split, beam)
                row[f"{selection} {split} stutters"] = stutters(greedy) + stutters(beam)
                if split == "test":
                    row[f"{selection} test examples"] = [greedy[i] for i in ids["test"][:5]]
        print(json.dumps(row, indent=1))
        results["rows"] = [r for r in results["rows"] if r["name"] != row["name"]] + [row]
        out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
