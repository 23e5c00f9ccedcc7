"""The caption-file formats of helpers.datasets: token (Flickr8k/Flickr30k), Kaggle CSV, Karpathy and COCO JSON.

Every fixture is built in tmp_path: a few 8x8 JPEGs and one caption file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from helpers import datasets


def make_images(folder: Path, names) -> Path:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), "blue").save(folder / name)
    return folder


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def all_ids(dataset) -> list[str]:
    return [i for ids in dataset.splits.values() for i in ids]


# --- the bundled sample --------------------------------------------------------------------------


def test_the_sample_still_loads_as_flickr8k_format():
    dataset = datasets.load_dataset("sample")
    assert dataset.format == "flickr8k"
    assert {s: len(ids) for s, ids in dataset.splits.items()} == {"train": 360, "dev": 60, "test": 80}
    assert not dataset.skipped


# --- token files without split files (Flickr30k) ------------------------------------------------


def make_flickr30k(root: Path, n: int = 8) -> Path:
    names = [f"{1000 + i}.jpg" for i in range(n)]
    make_images(root / "flickr30k_images", names)
    lines = [f"{name}#{k}\tcaption {k} of {name}" for name in names for k in range(2)]
    (root / "results_20130124.token").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_a_flickr30k_token_file_is_found_in_a_folder_and_split_from_the_seed(tmp_path, caplog):
    root = make_flickr30k(tmp_path / "flickr30k")
    with caplog.at_level(logging.INFO, logger="helpers.datasets"):
        dataset = datasets.load_dataset(str(root))
    assert dataset.format == "flickr8k"
    assert dataset.images_dir == root / "flickr30k_images"
    assert dataset.captions_by_image["1000.jpg"] == ["caption 0 of 1000.jpg", "caption 1 of 1000.jpg"]
    assert {s: len(ids) for s, ids in dataset.splits.items()} == {"train": 6, "dev": 1, "test": 1}
    assert sorted(all_ids(dataset)) == sorted(dataset.captions_by_image)
    assert "flickr8k format" in caplog.text and "seed 42" in caplog.text
    from_file = datasets.load_dataset(str(root / "results_20130124.token"))
    assert (from_file.format, from_file.splits) == ("flickr8k", dataset.splits)


def test_a_token_file_skips_a_repeated_caption_id_but_keeps_same_words_under_another_number(tmp_path):
    path = tmp_path / "x.token"
    path.write_text(
        "a.jpg#0\tA dog .\na.jpg#0\tA dog .\na.jpg#0\tA cat .\na.jpg#1\tA dog .\nb.jpg\tno number\nb.jpg\tno number\n",
        encoding="utf-8",
    )
    skipped = __import__("collections").Counter()
    assert datasets.read_token_file(path, skipped) == {
        "a.jpg": ["A dog .", "A dog ."],
        "b.jpg": ["no number", "no number"],
    }
    assert skipped == {"duplicate caption ids": 2}


def test_split_files_must_be_all_three_or_none(tmp_path):
    root = make_flickr30k(tmp_path / "d")
    (root / datasets.SPLIT_FILES["train"]).write_text("1000.jpg\n")
    with pytest.raises(FileNotFoundError, match="Flickr_8k.devImages.txt"):
        datasets.load_dataset(str(root))


# --- Kaggle captions.txt ------------------------------------------------------------------------

KAGGLE_NAMES = [f"k{i}.jpg" for i in range(8)]


def make_kaggle(root: Path, rows: str | bytes | None = None, images=KAGGLE_NAMES) -> Path:
    make_images(root / "Images", images)
    if rows is None:
        rows = "image,caption\n" + "".join(f"{name},A dog number {i} .\n" for i, name in enumerate(KAGGLE_NAMES))
        rows += 'k0.jpg,"A dog, a cat and a ""ball"" ."\n'
    data = rows if isinstance(rows, bytes) else rows.encode("utf-8")
    (root / "captions.txt").write_bytes(data)
    return root


def test_kaggle_captions_parse_with_quotes_and_commas(tmp_path):
    root = make_kaggle(tmp_path / "kaggle")
    dataset = datasets.load_dataset(str(root))
    assert dataset.format == "kaggle"
    assert dataset.images_dir == root / "Images"
    assert dataset.captions_by_image["k0.jpg"] == ["A dog number 0 .", 'A dog, a cat and a "ball" .']
    assert dataset.captions_by_image["k7.jpg"] == ["A dog number 7 ."]
    assert {s: len(ids) for s, ids in dataset.splits.items()} == {"train": 6, "dev": 1, "test": 1}
    assert not dataset.skipped
    assert datasets.load_dataset(str(root / "captions.txt")).splits == dataset.splits


def test_kaggle_bad_rows_are_skipped_and_counted(tmp_path):
    rows = (
        b"image,caption\n"
        b"k0.jpg,A dog .\n"
        b"k0.jpg,A dog .\n"  # the same row again: kept (CSV rows have no caption id)
        b"k1.jpg,   \n"  # empty caption
        b"../k2.jpg,escape\n"  # path
        b"/etc/k3.jpg,absolute\n"  # absolute path
        b"k4.jpg,caf\xe9 dog\n"  # non-UTF-8, kept
        b"k5.jpg\n"  # no caption column
        b"k6.jpg,a dog, unquoted\n"  # unquoted comma, kept
        b"k7.jpg,no image file\n"
    )
    root = make_kaggle(tmp_path / "kaggle", rows, images=["k0.jpg", "k4.jpg", "k6.jpg"])
    dataset = datasets.load_dataset(str(root))
    assert dataset.captions_by_image == {
        "k0.jpg": ["A dog .", "A dog ."],
        "k4.jpg": ["caf\ufffd dog"],
        "k6.jpg": ["a dog, unquoted"],
        "k7.jpg": ["no image file"],
    }
    assert sorted(all_ids(dataset)) == ["k0.jpg", "k4.jpg", "k6.jpg"]
    assert dataset.skipped == {
        "empty captions": 1,
        "ids with a path in them": 2,
        "rows with non-UTF-8 bytes (kept, bytes replaced)": 1,
        "rows without an image and a caption": 1,
        "rows with unquoted commas (kept, columns joined)": 1,
        "images without an image file": 1,
    }


def test_a_kaggle_file_without_the_header_is_an_error_naming_it(tmp_path):
    root = make_kaggle(tmp_path / "kaggle", "k0.jpg,A dog .\n")
    with pytest.raises(ValueError, match=r"captions.txt:1: expected the CSV header"):
        datasets.load_dataset(str(root))


# --- Karpathy dataset_*.json --------------------------------------------------------------------


def karpathy_entry(filename, split, *raws, filepath=None):
    entry = {
        "filename": filename,
        "split": split,
        "sentences": [{"raw": raw, "tokens": raw.lower().split()} for raw in raws],
    }
    if filepath is not None:
        entry["filepath"] = filepath
    return entry


def test_karpathy_flickr_json_maps_val_to_dev_and_restval_to_train(tmp_path):
    root = tmp_path / "f8k"
    make_images(root / "Flicker8k_Dataset", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    write_json(
        root / "dataset_flickr8k.json",
        {
            "dataset": "flickr8k",
            "images": [
                karpathy_entry("a.jpg", "train", "A dog .", "A brown dog ."),
                karpathy_entry("b.jpg", "val", "A cat ."),
                karpathy_entry("c.jpg", "test", "A bird ."),
                karpathy_entry("d.jpg", "restval", "A fish ."),
            ],
        },
    )
    dataset = datasets.load_dataset(str(root))
    assert dataset.format == "karpathy"
    assert dataset.images_dir == root / "Flicker8k_Dataset"
    assert dataset.captions_by_image == {
        "a.jpg": ["A dog .", "A brown dog ."],
        "b.jpg": ["A cat ."],
        "c.jpg": ["A bird ."],
        "d.jpg": ["A fish ."],
    }
    assert dataset.splits == {"train": ["a.jpg", "d.jpg"], "dev": ["b.jpg"], "test": ["c.jpg"]}
    assert not dataset.skipped
    from_file = datasets.load_dataset(str(root / "dataset_flickr8k.json"))
    assert (from_file.format, from_file.splits) == ("karpathy", dataset.splits)


def test_karpathy_coco_ids_keep_their_one_filepath_folder(tmp_path):
    root = tmp_path / "coco"
    make_images(root, ["val2014/COCO_val2014_1.jpg", "train2014/COCO_train2014_2.jpg"])
    write_json(
        root / "dataset_coco.json",
        {
            "dataset": "coco",
            "images": [
                karpathy_entry("COCO_val2014_1.jpg", "test", "A plane .", filepath="val2014"),
                karpathy_entry("COCO_train2014_2.jpg", "train", "A train .", filepath="train2014"),
                karpathy_entry("x.jpg", "train", "escape", filepath=".."),
                karpathy_entry("deeper/x.jpg", "train", "two folders", filepath="val2014"),
                karpathy_entry("/abs.jpg", "train", "absolute"),
            ],
        },
    )
    dataset = datasets.load_dataset(str(root / "dataset_coco.json"))
    assert dataset.images_dir == root
    assert dataset.splits == {
        "train": ["train2014/COCO_train2014_2.jpg"],
        "dev": [],
        "test": ["val2014/COCO_val2014_1.jpg"],
    }
    assert dataset.image_path("val2014/COCO_val2014_1.jpg").is_file()
    assert dataset.skipped == {"ids with a path in them": 3}


def test_karpathy_bad_entries_are_skipped_and_counted(tmp_path):
    root = tmp_path / "f8k"
    make_images(root / "Images", ["a.jpg", "b.jpg", "c.jpg"])
    (root / "dataset_flickr8k.json").write_bytes(
        json.dumps(
            {
                "images": [
                    karpathy_entry("a.jpg", "train", "A dog .", "A dog .", "  ", "caf\udce9"),
                    karpathy_entry("b.jpg", "val"),  # no captions
                    karpathy_entry("c.jpg", "holdout", "odd split"),
                    karpathy_entry("missing.jpg", "test", "no file"),
                    karpathy_entry("a.jpg", "test", "listed twice"),
                ]
            },
            ensure_ascii=False,
        ).encode("utf-8", errors="surrogateescape")
    )  # writes the raw byte \xe9
    dataset = datasets.load_dataset(str(root))
    assert dataset.captions_by_image == {"a.jpg": ["A dog .", "A dog .", "caf\ufffd"], "missing.jpg": ["no file"]}
    assert dataset.splits == {"train": ["a.jpg"], "dev": [], "test": []}
    assert dataset.skipped == {
        "image entries listed twice": 1,
        "empty captions": 1,
        "entries with non-UTF-8 bytes (kept, bytes replaced)": 1,
        "split entries without captions": 1,
        "images with an unknown split": 1,
        "split entries without an image file": 1,
    }


def test_invalid_json_is_an_error_naming_the_file_and_line(tmp_path):
    path = tmp_path / "dataset_flickr8k.json"
    path.write_text('{"images": [\n{"filename": "a.jpg",,}\n]}')
    with pytest.raises(ValueError, match=r"dataset_flickr8k.json:2: not valid JSON"):
        datasets.load_dataset(str(path), require_images=False)
    write_json(path, {"pictures": []})
    with pytest.raises(ValueError, match=r"dataset_flickr8k.json: expected a JSON object with a list 'images'"):
        datasets.load_dataset(str(path), require_images=False)


# --- COCO captions_*.json -----------------------------------------------------------------------

COCO_NAMES = [f"COCO_train2014_{i:012d}.jpg" for i in range(16)]


def make_coco(root: Path, images=None, annotations=None, image_files=COCO_NAMES, images_folder="train2014") -> Path:
    if images is None:
        images = [{"id": i, "file_name": name} for i, name in enumerate(COCO_NAMES)]
    if annotations is None:
        annotations = [
            {"id": 100 + i, "image_id": i, "caption": f"A picture number {i}."} for i in range(len(COCO_NAMES))
        ]
    make_images(root / images_folder, image_files)
    return write_json(
        root / "annotations" / "captions_train2014.json", {"info": {}, "images": images, "annotations": annotations}
    )


def test_coco_is_found_in_annotations_with_images_beside_it_and_split_from_the_seed(tmp_path):
    path = make_coco(tmp_path / "coco")
    dataset = datasets.load_dataset(str(tmp_path / "coco"))
    assert dataset.format == "coco"
    assert dataset.images_dir == tmp_path / "coco" / "train2014"
    assert dataset.captions_by_image[COCO_NAMES[3]] == ["A picture number 3."]
    assert {s: len(ids) for s, ids in dataset.splits.items()} == {"train": 12, "dev": 2, "test": 2}
    assert sorted(all_ids(dataset)) == sorted(COCO_NAMES)
    from_file = datasets.load_dataset(str(path))
    assert (from_file.format, from_file.splits, from_file.images_dir) == ("coco", dataset.splits, dataset.images_dir)


def test_coco_bad_entries_are_skipped_and_counted(tmp_path):
    images = [
        {"id": 1, "file_name": "a.jpg"},
        {"id": 2, "file_name": "b.jpg"},
        {"id": 3, "file_name": "c.jpg"},
        {"id": 4, "file_name": "../evil.jpg"},
        {"id": 5, "file_name": "/abs/x.jpg"},
        {"id": 6, "file_name": "nofile.jpg"},
    ]
    annotations = [
        {"id": 10, "image_id": 1, "caption": "A dog."},
        {"id": 10, "image_id": 1, "caption": "A dog."},
        {"id": 11, "image_id": 1, "caption": "A dog."},
        {"image_id": 1, "caption": ""},
        {"image_id": 2, "caption": "caf\udce9"},
        {"image_id": 99, "caption": "an unknown image"},
        {"image_id": 4, "caption": "escape"},
        {"image_id": 6, "caption": "its file is missing"},
    ]
    path = make_coco(tmp_path / "coco", images, annotations, image_files=["a.jpg", "b.jpg", "c.jpg"])
    path.write_bytes(path.read_text().replace("\\udce9", "\\u00e9").encode("utf-8").replace(b"\\u00e9", b"\xe9"))
    dataset = datasets.load_dataset(str(path))
    assert dataset.captions_by_image == {
        "a.jpg": ["A dog.", "A dog."],
        "b.jpg": ["caf\ufffd"],
        "nofile.jpg": ["its file is missing"],
    }
    assert sorted(all_ids(dataset)) == ["a.jpg", "b.jpg"]
    assert dataset.skipped == {
        "duplicate caption ids": 1,
        "empty captions": 1,
        "entries with non-UTF-8 bytes (kept, bytes replaced)": 1,
        "annotations for an image not in 'images'": 1,
        "ids with a path in them": 2,
        "captions of skipped images": 1,
        "images without captions": 1,
        "images without an image file": 1,
    }


def test_coco_images_dir_override(tmp_path):
    path = make_coco(tmp_path / "coco", images_folder="../elsewhere/pictures")
    with pytest.raises(FileNotFoundError, match="no images folder"):
        datasets.load_dataset(str(path))
    assert not datasets.load_dataset(str(path), require_images=False).skipped
    dataset = datasets.load_dataset(str(path), images_dir=tmp_path / "elsewhere" / "pictures")
    assert dataset.images_dir == tmp_path / "elsewhere" / "pictures"
    assert sorted(all_ids(dataset)) == sorted(COCO_NAMES)
    with pytest.raises(FileNotFoundError, match="images_dir"):
        datasets.load_dataset(str(path), images_dir=tmp_path / "nowhere")


def test_a_relative_images_dir_is_tried_from_the_dataset_folder_then_the_repository(tmp_path, monkeypatch):
    path = make_coco(tmp_path / "repo" / "data" / "coco", images_folder="../pictures")  # repo/data/pictures
    monkeypatch.chdir(tmp_path)  # notebooks run in notebooks/, not where the user typed the command
    monkeypatch.setattr(datasets.paths, "REPO_ROOT", tmp_path / "repo")
    from_repo = datasets.load_dataset(str(path), images_dir="data/pictures")
    assert from_repo.images_dir == tmp_path / "repo" / "data" / "pictures"
    from_dataset = datasets.load_dataset(str(path), images_dir="../../pictures")
    assert from_dataset.images_dir.resolve() == (tmp_path / "repo" / "data" / "pictures").resolve()
    with pytest.raises(FileNotFoundError, match=r"images_dir='nope': not a folder \(tried nope, .*repo/nope\)"):
        datasets.load_dataset(str(path), images_dir="nope")


def test_coco_without_annotations_is_an_error_naming_the_file(tmp_path):
    path = write_json(tmp_path / "captions_val2017.json", {"images": []})
    with pytest.raises(ValueError, match=r"captions_val2017.json: expected a JSON object with a list 'annotations'"):
        datasets.load_dataset(str(path), require_images=False)


# --- one duplicate rule for every format ------------------------------------------------------


def test_the_same_captions_give_the_same_counts_in_every_format(tmp_path):
    """Captions are kept as published: a caption repeated word for word under another id stays in every format."""
    captions = {"a.jpg": ["A dog runs .", "A dog runs .", "A brown dog ."], "b.jpg": ["A cat .", "A cat sleeps ."]}
    split = {"a.jpg": "train", "b.jpg": "test"}
    token = tmp_path / "token"
    make_images(token / "Images", captions)
    (token / "x.token").write_text(
        "".join(f"{i}#{n}\t{c}\n" for i, caps in captions.items() for n, c in enumerate(caps)), encoding="utf-8"
    )
    kaggle = tmp_path / "kaggle"
    make_images(kaggle / "Images", captions)
    (kaggle / "captions.txt").write_text(
        "image,caption\n" + "".join(f"{i},{c}\n" for i, caps in captions.items() for c in caps), encoding="utf-8"
    )
    karpathy = tmp_path / "karpathy"
    make_images(karpathy / "Images", captions)
    write_json(
        karpathy / "dataset_flickr8k.json",
        {"images": [karpathy_entry(i, split[i], *caps) for i, caps in captions.items()]},
    )
    coco = tmp_path / "coco"
    make_images(coco / "images", captions)
    write_json(
        coco / "captions_x.json",
        {
            "images": [{"id": n, "file_name": i} for n, i in enumerate(captions)],
            "annotations": [
                {"id": 100 * n + k, "image_id": n, "caption": c}
                for n, caps in enumerate(captions.values())
                for k, c in enumerate(caps)
            ],
        },
    )
    for root in (token, kaggle, karpathy, coco):
        dataset = datasets.load_dataset(str(root))
        assert dataset.captions_by_image == captions, dataset.format
        assert sum(len(c) for c in dataset.captions_by_image.values()) == 5, dataset.format
        assert not dataset.skipped, (dataset.format, dataset.skipped)


# --- the seeded split ---------------------------------------------------------------------------


def test_the_seeded_split_is_deterministic_disjoint_complete_and_6_1_1():
    ids = [f"{i:03d}.jpg" for i in range(80)]
    split = datasets.seeded_split(ids, seed=42)
    assert split == datasets.seeded_split(list(reversed(ids)), seed=42)
    assert split != datasets.seeded_split(ids, seed=43)
    assert {s: len(v) for s, v in split.items()} == {"train": 60, "dev": 10, "test": 10}
    assert sorted(i for v in split.values() for i in v) == ids


def test_load_dataset_passes_the_seed(tmp_path):
    path = make_coco(tmp_path / "coco")
    first, again, other = (datasets.load_dataset(str(path), seed=s).splits for s in (1, 1, 2))
    assert first == again and first != other


# --- detection ----------------------------------------------------------------------------------


def test_an_unrecognised_folder_names_it_and_lists_what_was_looked_for(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty: no caption file found.*captions.txt.*dataset_\*.json"):
        datasets.load_dataset(str(tmp_path / "empty"))


def test_an_unrecognised_file_names_it(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("hello")
    with pytest.raises(ValueError, match=r"notes.md: not a caption file.*captions_\*.json"):
        datasets.load_dataset(str(path))


def test_two_coco_files_in_one_folder_ask_for_one_of_them(tmp_path):
    for name in ("captions_train2014.json", "captions_val2014.json"):
        write_json(tmp_path / "annotations" / name, {"images": [], "annotations": []})
    with pytest.raises(ValueError, match="captions_train2014.json, annotations/captions_val2014.json"):
        datasets.load_dataset(str(tmp_path))


def test_ids_with_folders_are_kept_in_kaggle_and_coco_files_but_never_escape(tmp_path):
    """Issue 11: COCO ``file_name`` in subfolders and ids with folders in a Kaggle file (01's exercise copies
    ``Images/<id>``) are image paths under the images folder; ``..`` and absolute paths are still refused."""
    names = ["a/k0.jpg", "b/c/k1.jpg", "k2.jpg"]
    rows = "image,caption\n" + "".join(f"{n},A dog number {i} .\n" for i, n in enumerate(names))
    root = make_kaggle(tmp_path / "kaggle", rows + "../k3.jpg,escape\n", images=names)
    dataset = datasets.load_dataset(str(root))
    assert sorted(all_ids(dataset)) == sorted(names) and dataset.skipped == {"ids with a path in them": 1}
    assert all(dataset.image_path(n).is_file() for n in names)

    images = [{"id": i, "file_name": f"part{i % 2}/{name}"} for i, name in enumerate(COCO_NAMES)]
    path = make_coco(tmp_path / "coco", images=images, image_files=[i["file_name"] for i in images])
    coco = datasets.load_dataset(str(path))
    assert sorted(all_ids(coco)) == sorted(i["file_name"] for i in images) and not coco.skipped
    assert all(coco.image_path(i).is_file() for i in all_ids(coco))
