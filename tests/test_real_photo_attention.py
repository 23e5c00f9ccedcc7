"""benchmarks/real_photo_attention.py: its table of means over seeds (the training itself runs on real photos only)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_benchmark():
    path = REPO_ROOT / "benchmarks" / "real_photo_attention.py"
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(variant, seed, dev_greedy, test_cider, meteor=True):
    test = {"bleu1": 0.5, "bleu4": 0.1, "cider": test_cider, **({"meteor": 0.16} if meteor else {})}
    return {
        "name": f"{variant} seed {seed}",
        "variant": variant,
        "seed": seed,
        "epochs_run": 20,
        "best_epoch": 10,
        "dev": {"greedy": {"cider": dev_greedy}, "beam": {"cider": dev_greedy + 0.01}},
        "test": {"greedy": test, "beam": test},
    }


def test_the_table_gives_means_over_seeds_with_the_dev_spread(tmp_path):
    benchmark = load_benchmark()
    path = tmp_path / "results.json"
    rows = [
        row("penalty 1, image start", 42, 0.30, 0.40, meteor=False),
        row("penalty 0, blind start", 42, 0.26, 0.35),
        row("penalty 0, blind start", 7, 0.28, 0.37),
    ]
    path.write_text(json.dumps({"beam": 3, "rows": rows}))
    lines = benchmark.table(str(path)).splitlines()
    assert len(lines) == 2 + 4  # header, rule, two decoders per variant
    assert lines[2].startswith("| penalty 0, blind start | greedy | 2 | 27.0 (26.0–28.0) | 50.0 | 10.0 | 16.0 | 36.0 |")
    assert lines[3].startswith("| penalty 0, blind start | beam 3 | 2 | 28.0 (27.0–29.0) |")
    assert "| penalty 1, image start | greedy | 1 | 30.0 (30.0–30.0) | 50.0 | 10.0 | — | 40.0 | 20 (10) |" in lines
