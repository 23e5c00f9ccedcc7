"""Readers against hostile and odd files (issue 15): a BOM everywhere, strict CSV, deep JSON, judgement ids."""

import json
from collections import Counter

import pytest

from course import judgement_files, paths
from helpers import datasets, formats
from helpers.vocabulary import Vocabulary

BOM = "\ufeff"


def test_a_split_file_with_a_bom_keeps_its_first_id(tmp_path):
    path = tmp_path / "Flickr_8k.trainImages.txt"
    path.write_text(BOM + "first.jpg\nsecond.jpg\n", encoding="utf-8")
    assert formats.read_split_file(path) == ["first.jpg", "second.jpg"]


def test_a_dataset_whose_files_all_start_with_a_bom_loses_nothing(tmp_path):
    """Token file and all three split files written by a BOM-adding editor: every id is kept in its split."""
    ids = [f"{k}.jpg" for k in range(6)]
    (tmp_path / "Flickr8k.token.txt").write_text(
        BOM + "".join(f"{i}#{n}\ta caption of {i} number {n}\n" for i in ids for n in range(2)), encoding="utf-8"
    )
    for name, part in zip(datasets.SPLIT_FILES.values(), (ids[:4], ids[4:5], ids[5:])):
        (tmp_path / name).write_text(BOM + "\n".join(part) + "\n", encoding="utf-8")
    dataset = datasets.load_dataset(str(tmp_path), require_images=False)
    assert dataset.splits == {"train": ids[:4], "dev": ids[4:5], "test": ids[5:]}
    assert not dataset.skipped, dataset.skipped


@pytest.mark.parametrize(
    "write",
    [
        lambda path, data: path.write_text(BOM + json.dumps(data), encoding="utf-8"),
    ],
)
def test_json_files_of_a_run_folder_and_the_vocabulary_read_with_a_bom(tmp_path, write):
    write(tmp_path / "config.json", {"text": {"max_length": 9}})
    assert paths.read_json(tmp_path / "config.json") == {"text": {"max_length": 9}}
    write(tmp_path / "vocabulary.json", Vocabulary.build(["startseq a dog endseq"]).to_dict())
    assert "dog" in Vocabulary.load(tmp_path / "vocabulary.json")
    write(
        tmp_path / "dataset_flickr8k.json",
        {"images": [{"filename": "a.jpg", "split": "train", "sentences": [{"raw": "a dog"}]}]},
    )
    captions, _ = formats.read_karpathy_json(tmp_path / "dataset_flickr8k.json")
    assert captions == {"a.jpg": ["a dog"]}


def test_an_unterminated_quote_is_an_error_naming_the_line_it_opens_on(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text(
        'image,caption\na.jpg,"a dog, running"\nb.jpg,"a cat on a mat\nc.jpg,a bird\nd.jpg,a fish\n', encoding="utf-8"
    )
    with pytest.raises(ValueError) as raised:
        formats.read_kaggle_captions(path)
    message = str(raised.value)
    assert message.startswith(f"{path}:3: a quote opened on this line is never closed") and "\n" not in message


def test_strict_csv_still_reads_what_csv_writers_write(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text(
        'image,caption\na.jpg,"a dog, running"\nb.jpg,"she said ""hi"" to the dog"\n'
        'c.jpg,a man says "hi" .\nd.jpg,"a caption\nover two lines"\n',
        encoding="utf-8",
    )
    captions = formats.read_kaggle_captions(path)
    assert captions == {
        "a.jpg": ["a dog, running"],
        "b.jpg": ['she said "hi" to the dog'],
        "c.jpg": ['a man says "hi" .'],
        "d.jpg": ["a caption\nover two lines"],
    }


@pytest.mark.parametrize("name", ["dataset_flickr8k.json", "captions_val2017.json"])
def test_json_nested_100000_deep_is_the_readers_normal_error(tmp_path, name):
    path = tmp_path / name
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    reader = formats.read_karpathy_json if name.startswith("dataset") else formats.read_coco_json
    with pytest.raises(ValueError, match=f"^{path}: not valid JSON for captions \\(nested too deeply"):
        reader(path)
    with pytest.raises(ValueError, match="nested too deeply"):
        paths.read_json(path)


@pytest.mark.parametrize("image_id", ["/etc/passwd", "../..", "../../secret.jpg", "/tmp/x.jpg", "a/../../b.jpg"])
def test_judgement_ids_pass_the_caption_id_check(tmp_path, image_id):
    (tmp_path / "images").mkdir()
    assert judgement_files.find_image(image_id, [tmp_path / "images", tmp_path]) is None
    path = tmp_path / "ExpertAnnotations.txt"
    path.write_text(
        f"good.jpg\tgood.jpg#0\t4\t4\t4\n{image_id}\tgood.jpg#1\t1\t1\t1\ngood.jpg\t{image_id}#2\t2\t2\t2\n",
        encoding="utf-8",
    )
    skipped = Counter()
    rows = judgement_files.read_expert_judgements(path, skipped)
    assert [(row.image_id, row.caption_id) for row in rows] == [("good.jpg", "good.jpg#0")]
    assert sum(skipped.values()) == 2, skipped


def test_find_image_still_finds_a_plain_file_name(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert judgement_files.find_image("a.jpg", [tmp_path]) == tmp_path / "a.jpg"
    assert (
        judgement_files.find_image("..", [tmp_path]) is None
        and judgement_files.find_image(str(tmp_path / "a.jpg"), [tmp_path]) is None
    )
