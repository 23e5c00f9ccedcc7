from pathlib import Path

import pytest
from PIL import Image

from helpers import datasets


def test_the_sample_loads_with_its_splits():
    dataset = datasets.load_dataset("sample")
    assert {s: len(ids) for s, ids in dataset.splits.items()} == {"train": 360, "dev": 60, "test": 80}
    assert len(dataset.captions_by_image) == 500
    assert all(len(caps) == 5 for caps in dataset.captions_by_image.values())
    assert not dataset.skipped
    assert dataset.images_dir.name == "Flicker8k_Dataset"
    all_ids = [i for ids in dataset.splits.values() for i in ids]
    assert len(all_ids) == len(set(all_ids))
    assert dataset.image_path(all_ids[0]).is_file()


def make_layout(root: Path, token_lines: list[str], splits: dict[str, list[str]], images: list[str]) -> Path:
    (root / "Flicker8k_Dataset").mkdir(parents=True)
    for name in images:
        Image.new("RGB", (8, 8), "red").save(root / "Flicker8k_Dataset" / name)
    (root / "Flickr8k.token.txt").write_bytes("\n".join(token_lines).encode("utf-8") + b"\n")
    for split, file_name in datasets.SPLIT_FILES.items():
        (root / file_name).write_text("\n".join(splits.get(split, [])) + "\n")
    return root


def test_bad_lines_are_skipped_and_counted(tmp_path):
    root = make_layout(
        tmp_path / "d",
        [
            "a.jpg#0\tA red circle.",
            "a.jpg#1\tanother caption",
            "no tab here",
            "b.jpg#0\t   ",
            "2258277193_586949ec62.jpg.1#0\tpeople waiting for the subway",
            "../evil.jpg#0\tescape",
            "/etc/passwd.jpg#0\tabsolute",
            "c.jpg#0\timage file missing",
        ],
        {"train": ["a.jpg", "c.jpg", "nocaptions.jpg"], "dev": ["a.jpg"], "test": []},
        ["a.jpg"],
    )
    dataset = datasets.load_dataset(str(root))
    assert dataset.captions_by_image["a.jpg"] == ["A red circle.", "another caption"]
    assert dataset.splits == {"train": ["a.jpg"], "dev": [], "test": []}
    assert dataset.skipped == {
        "lines without a tab": 1,
        "empty captions": 1,
        "ids that are not image file names": 1,
        "ids with a path in them": 2,
        "split entries without an image file": 1,
        "split entries without captions": 1,
        "split entries listed in two splits": 1,
    }
    assert "skipped" in dataset.summary()


def test_non_utf8_bytes_are_replaced_and_counted(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_bytes(b"a.jpg#0\tcaf\xe9 circle\n")
    skipped = __import__("collections").Counter()
    captions = datasets.read_token_file(path, skipped)
    assert captions["a.jpg"] == ["caf\ufffd circle"]
    assert skipped["lines with non-UTF-8 bytes (kept, bytes replaced)"] == 1


def test_a_file_with_no_usable_line_is_an_error_naming_it(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("nothing useful\n")
    with pytest.raises(ValueError, match="tokens.txt"):
        datasets.read_token_file(path)


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="DATASET='nope'"):
        datasets.load_dataset("nope")


def load_real_flickr8k_text(shared_text, tmp_path):
    root = tmp_path / "flickr8k_text"
    root.symlink_to(shared_text)
    return datasets.load_dataset(str(root), require_images=False)


def test_real_flickr8k_text_parses_to_the_official_counts(shared_text, tmp_path):
    # The official Flickr8k: 8,091 images with 5 captions each (40,455 captions), split 6,000/1,000/1,000.
    # The token file has 40,460 lines: the 5 extra belong to the bad id 2258277193_586949ec62.jpg.1.
    dataset = load_real_flickr8k_text(shared_text, tmp_path)
    assert len(dataset.captions_by_image) == 8091
    assert sum(len(c) for c in dataset.captions_by_image.values()) == 40455
    assert all(len(c) == 5 for c in dataset.captions_by_image.values())
    assert {s: len(ids) for s, ids in dataset.splits.items()} == {"train": 6000, "dev": 1000, "test": 1000}
    assert dataset.skipped == {"ids that are not image file names": 5}
    # 10 captions repeat another caption of the same image word for word (under another #n): kept, as published.
    repeats = sum(len(c) - len(set(c)) for c in dataset.captions_by_image.values())
    assert repeats == 10
    assert (
        dataset.captions_by_image["2305437797_e6c3460190.jpg"].count("A dog swimming with a stick in its mouth .") == 2
    )


def test_real_flickr8k_captions_as_a_kaggle_csv_give_the_same_counts(shared_text, tmp_path):
    # Kaggle's captions.txt is the same captions as CSV rows (no caption numbers): the same 40,455 come back.
    import csv

    dataset = load_real_flickr8k_text(shared_text, tmp_path)
    path = tmp_path / "kaggle" / "captions.txt"
    path.parent.mkdir()
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption"])
        writer.writerows((image_id, c) for image_id, caps in dataset.captions_by_image.items() for c in caps)
    from_csv = datasets.load_dataset(str(path), require_images=False)
    assert from_csv.captions_by_image == dataset.captions_by_image
    assert sum(len(c) for c in from_csv.captions_by_image.values()) == 40455
    assert {s: len(ids) for s, ids in from_csv.splits.items()} == {"train": 6069, "dev": 1011, "test": 1011}
    assert not from_csv.skipped
