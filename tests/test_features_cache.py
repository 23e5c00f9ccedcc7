"""The feature cache: resumes after a kill, shards add up, keys never mix features."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from course import feature_cache
from helpers import features
from tests.conftest import REPO_ROOT

ENCODER = "mobilenet_v2"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    ids = []
    for i in range(12):  # 6 chunks of 2
        ids.append(f"img_{i:02d}.jpg")
        Image.fromarray((rng.random((48, 64, 3)) * 255).astype("uint8")).save(folder / ids[-1])
    return folder, ids


@pytest.fixture(scope="module")
def untrained():
    return features.resolve_weights(ENCODER, "none")


@pytest.fixture(scope="module")
def model():
    return features.build_encoder(ENCODER, "none", seed=0)


class Counting:
    """Wraps a model and counts the images it sees (optionally slowly)."""

    def __init__(self, model, delay=0.0):
        self.model, self.delay, self.seen = model, delay, 0

    def __call__(self, images, training=False):
        time.sleep(self.delay)
        self.seen += int(images.shape[0])
        return self.model(images, training=training)


def extract(dataset, untrained, model, cache_root, **options):
    folder, ids = dataset
    options = {"batch_size": 2, "chunk_size": 2, "seed": 0, "progress": False, **options}
    return feature_cache.load_or_extract_features(
        options.pop("path", None), ids, folder, ENCODER, untrained, model=model, cache_root=cache_root, **options
    )


@pytest.fixture(scope="module")
def reference(dataset, untrained, model, tmp_path_factory):
    """An uninterrupted extraction, through the same (eager) model call as the runs below.
    (Untrained MobileNetV2 features are tiny, around 1e-12: comparisons are relative.)"""
    return extract(dataset, untrained, Counting(model), tmp_path_factory.mktemp("reference_cache"))


@pytest.mark.course  # end to end, slow: extraction in a subprocess, killed
def test_a_killed_extraction_resumes_without_redoing_finished_images(dataset, untrained, model, reference, tmp_path):
    folder, ids = dataset
    cache_root = tmp_path / "cache"
    script = textwrap.dedent(f"""
        import time
        from course import feature_cache
        from helpers import features
        weights = features.resolve_weights({ENCODER!r}, "none")
        model = features.build_encoder({ENCODER!r}, weights, seed=0)
        slow = lambda images, training=False: (time.sleep(0.4), model(images, training=training))[1]
        feature_cache.load_or_extract_features(None, {ids!r}, {str(folder)!r}, {ENCODER!r}, weights, batch_size=2,
                                               model=slow, cache_root={str(cache_root)!r}, seed=0, chunk_size=2,
                                               progress=False)
        print("finished")
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    chunks = []
    while time.monotonic() < deadline and process.poll() is None:
        chunks = list(cache_root.glob("*/chunk-*.npz"))
        if len(chunks) >= 3:
            break
        time.sleep(0.02)
    assert process.poll() is None, f"the extraction ended before it was killed: {process.communicate()}"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done_before = sum(len(np.load(c)["image_ids"]) for c in cache_root.glob("*/chunk-*.npz"))
    assert 6 <= done_before < len(ids), "killed midway, with some chunks on disk"

    counting = Counting(model)
    resumed = extract(dataset, untrained, counting, cache_root, path=tmp_path / "features.npz")
    assert counting.seen == len(ids) - done_before, "finished images are not extracted again"
    assert resumed.reused == done_before and resumed.extracted == len(ids) - done_before
    assert resumed.complete and resumed.table.image_ids == ids == reference.table.image_ids
    assert np.allclose(resumed.table.features, reference.table.features, rtol=1e-4, atol=0)
    saved = features.load_features(tmp_path / "features.npz")
    assert saved.image_ids == ids and np.array_equal(saved.features, resumed.table.features)


def test_an_interruption_keeps_the_rows_already_done(dataset, untrained, model, tmp_path):
    class Interrupting(Counting):
        def __call__(self, images, training=False):
            if self.seen >= 6:
                raise KeyboardInterrupt
            return super().__call__(images, training)

    with pytest.raises(KeyboardInterrupt):
        extract(dataset, untrained, Interrupting(model), tmp_path, chunk_size=100)
    counting = Counting(model)
    extract(dataset, untrained, counting, tmp_path, chunk_size=100)
    assert counting.seen == len(dataset[1]) - 6


def test_shards_are_disjoint_and_their_union_equals_a_single_run(dataset, untrained, model, reference, tmp_path):
    folder, ids = dataset
    seen = []
    for shard_index in range(3):
        counting = Counting(model)
        result = extract(
            dataset,
            untrained,
            counting,
            tmp_path,
            num_shards=3,
            shard_index=shard_index,
            path=tmp_path / "features.npz",
        )
        seen.append(counting.seen)
        if shard_index < 2:
            assert not result.complete and result.missing
            assert not (tmp_path / "features.npz").exists(), "no features file until every shard is done"
    assert sum(seen) == len(ids) and all(seen), "each image extracted exactly once, by one shard"
    assert result.complete
    union = extract(dataset, untrained, object(), tmp_path)  # NUM_SHARDS=1 reads the union
    assert union.extracted == 0 and union.reused == len(ids)
    assert union.table.image_ids == ids and np.allclose(
        union.table.features, reference.table.features, rtol=1e-4, atol=0
    )
    assert features.load_features(tmp_path / "features.npz").image_ids == ids
    with pytest.raises(ValueError, match="SHARD_INDEX=3"):
        extract(dataset, untrained, model, tmp_path, num_shards=3, shard_index=3)


def test_cache_keys_differ_across_encoders_weights_seeds_and_image_folders(tmp_path, empty_keras_home_path):
    imagenet = features.WeightsChoice("imagenet", "imagenet", None, "test")
    none = features.WeightsChoice("none", "none", None, "test")
    weights_file = tmp_path / "w.weights.h5"
    weights_file.write_bytes(b"one")
    from_file = features.resolve_weights(ENCODER, str(weights_file))
    keys = [feature_cache.cache_key(tmp_path, name, imagenet) for name in features.ENCODERS]
    keys += [
        feature_cache.cache_key(tmp_path, ENCODER, none, seed=0),
        feature_cache.cache_key(tmp_path, ENCODER, none, seed=1),
        feature_cache.cache_key(tmp_path, ENCODER, from_file),
        feature_cache.cache_key(tmp_path / "other", ENCODER, imagenet),
    ]
    weights_file.write_bytes(b"two")  # same path, new content
    keys.append(feature_cache.cache_key(tmp_path, ENCODER, from_file))
    folders = {feature_cache.cache_folder(tmp_path, key) for key in keys}
    assert len(folders) == len(keys)
    assert feature_cache.cache_key(tmp_path, ENCODER, none, seed=0) == feature_cache.cache_key(
        tmp_path, ENCODER, none, seed=0
    )
    assert feature_cache.cache_key(tmp_path, ENCODER, none) != feature_cache.cache_key(tmp_path, ENCODER, none), (
        "unseeded random weights are never reused"
    )


@pytest.fixture
def empty_keras_home_path(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras"


@pytest.mark.course  # end to end, slow: three extractions
def test_new_weights_in_the_same_file_or_a_changed_image_are_never_served_stale(dataset, model, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    ids = dataset[1][:4]
    for image_id in ids:
        (folder / image_id).write_bytes((dataset[0] / image_id).read_bytes())
    weights_file = tmp_path / "encoder.weights.h5"
    model.save_weights(weights_file)
    choice = features.resolve_weights(ENCODER, str(weights_file))
    first = feature_cache.load_or_extract_features(
        None, ids[:4], folder, ENCODER, choice, cache_root=tmp_path / "cache", progress=False
    )
    other = features.build_encoder(ENCODER, "none", seed=1)
    other.save_weights(weights_file)  # same path and label, different weights
    counting = Counting(features.build_encoder(ENCODER, choice))
    second = feature_cache.load_or_extract_features(
        None, ids[:4], folder, ENCODER, choice, cache_root=tmp_path / "cache", model=counting, progress=False
    )
    assert counting.seen == 4 and not np.allclose(first.table.features, second.table.features, rtol=1e-2, atol=0)

    image = folder / ids[0]
    Image.fromarray(np.zeros((30, 30, 3), "uint8")).save(image)
    stat = image.stat()
    os.utime(image, (stat.st_atime, stat.st_mtime + 10))
    counting.seen = 0
    third = feature_cache.load_or_extract_features(
        None, ids[:4], folder, ENCODER, choice, cache_root=tmp_path / "cache", model=counting, progress=False
    )
    assert counting.seen == 1, "only the changed image is extracted again"
    assert not np.allclose(third.table[ids[0]], second.table[ids[0]], rtol=1e-2, atol=0)
    assert np.array_equal(third.table.matrix(ids[1:4]), second.table.matrix(ids[1:4]))


@pytest.mark.parametrize("damage", ["truncated", "not_a_zip", "wrong_shape"])
def test_a_damaged_chunk_is_named_dropped_and_its_images_extracted_again(
    dataset, untrained, model, reference, tmp_path, caplog, damage
):
    cache_root = tmp_path / "cache"  # a copy of the reference's complete cache (its key names the images, not the root)
    cache_dir = shutil.copytree(reference.cache_dir, cache_root / reference.cache_dir.name)
    first = extract(dataset, untrained, object(), cache_root)  # reads the copy: no model call
    assert first.cache_dir == cache_dir and first.extracted == 0
    chunks = sorted(first.cache_dir.glob("chunk-*.npz"))
    victim = chunks[0]
    with np.load(victim) as data:
        lost = data["image_ids"].tolist() + data["skipped_ids"].tolist()
        arrays = dict(data)
    if damage == "truncated":
        victim.write_bytes(victim.read_bytes()[:200])
    elif damage == "not_a_zip":
        victim.write_bytes(b"this is not a chunk")
    else:
        arrays["features"] = arrays["features"][:, :7]  # the wrong feature size
        with open(victim, "wb") as handle:
            np.savez(handle, **arrays)
    counting = Counting(model)
    with caplog.at_level("WARNING", logger="course.feature_cache"):
        again = extract(dataset, untrained, counting, cache_root)
    assert counting.seen == len(lost)  # exactly the damaged chunk's images, nothing else
    assert not victim.exists()
    assert any(victim.name in record.getMessage() and "damaged" in record.getMessage() for record in caplog.records)
    assert again.table.image_ids == reference.table.image_ids
    np.testing.assert_allclose(again.table.features, reference.table.features, rtol=1e-4, atol=1e-30)


def test_cache_and_run_files_respect_the_umask(dataset, untrained, model, tmp_path):
    from course import paths

    old = os.umask(0o022)
    try:
        result = extract(dataset, untrained, Counting(model), tmp_path / "cache", path=tmp_path / "features.npz")
        written = paths.write_json_atomic(tmp_path / "config.json", {"a": 1})
    finally:
        os.umask(old)
    files = [tmp_path / "features.npz", written, result.cache_dir / "key.json", *result.cache_dir.glob("chunk-*.npz")]
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o644, f"{path.name}: {oct(path.stat().st_mode & 0o777)}"
