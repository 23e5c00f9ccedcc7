import numpy as np
import pytest
from PIL import Image

from helpers import encoder_demos, encoders, features
from tests.conftest import SHARED_KERAS


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "keras" / "models").mkdir(parents=True)
    monkeypatch.setattr(encoders, "_can_download", lambda url, timeout=5.0: (False, "offline (test)"))
    return tmp_path / "keras"


def test_auto_without_cached_weights_offline_falls_back_to_untrained_and_says_why(empty_keras_home):
    choice = features.resolve_weights("mobilenet_v2", "auto")
    assert choice.kind == "none" and not choice.pretrained
    assert "UNTRAINED" in choice.reason and "offline (test)" in choice.reason
    assert "UNTRAINED" in features.weights_banner(choice).data


def test_imagenet_unavailable_names_the_exact_cache_file(empty_keras_home):
    with pytest.raises(FileNotFoundError) as error:
        features.resolve_weights("inception_v3", "imagenet")
    expected = empty_keras_home / "models" / "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert str(expected) in str(error.value)


def test_cached_weights_are_used(empty_keras_home):
    (empty_keras_home / "models" / features.ENCODERS["mobilenet_v2"].weights_file).write_bytes(b"x")
    choice = features.resolve_weights("mobilenet_v2", "auto")
    assert choice.kind == "imagenet" and choice.pretrained


def test_none_and_paths_and_unknown_values(tmp_path):
    assert features.resolve_weights("mobilenet_v2", "none").kind == "none"
    weights_file = tmp_path / "w.h5"
    weights_file.write_bytes(b"x")
    assert features.resolve_weights("mobilenet_v2", str(weights_file)).kind == "file"
    with pytest.raises(FileNotFoundError, match="no such file"):
        features.resolve_weights("mobilenet_v2", str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="ENCODER='vgg'"):
        features.resolve_weights("vgg", "none")


def test_load_image_converts_grayscale_and_rgba_to_rgb(tmp_path):
    gray, rgba = tmp_path / "gray.png", tmp_path / "rgba.png"
    Image.new("L", (40, 30), 128).save(gray)
    Image.new("RGBA", (40, 30), (255, 0, 0, 128)).save(rgba)
    for path in (gray, rgba):
        image = features.load_image(path, 64).numpy()
        assert image.shape == (64, 64, 3) and image.dtype == np.float32
    assert np.allclose(features.load_image(rgba, 64).numpy()[..., 0], 255)


@pytest.fixture(scope="module")
def untrained_encoder():
    return features.build_encoder("mobilenet_v2", "none")


def test_extract_save_load_features_with_untrained_encoder(tmp_path, untrained_encoder):
    paths = []
    for i, colour in enumerate(["red", "green", "blue"]):
        paths.append(tmp_path / f"{i}.jpg")
        Image.new("RGB", (50, 40), colour).save(paths[-1])
    encoder = untrained_encoder
    matrix = features.extract_features(encoder, paths, "mobilenet_v2", batch_size=2, progress=False)
    assert matrix.shape == (3, 1280) and np.isfinite(matrix).all()
    one = features.extract_features(encoder, paths[1:2], "mobilenet_v2", progress=False)
    assert np.allclose(one[0], matrix[1], atol=1e-4), "batching does not change an image's features"

    saved = features.save_features(
        tmp_path / "features.npz", ["a", "b", "c"], matrix, encoder="mobilenet_v2", weights="none", image_size=224
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary file left"
    table = features.load_features(saved)
    assert table.image_ids == ["a", "b", "c"] and table.encoder == "mobilenet_v2" and table.dim == 1280
    assert np.array_equal(table.matrix(["c", "a"]), matrix[[2, 0]])
    with pytest.raises(FileNotFoundError, match="03_feature_extraction"):
        features.load_features(tmp_path / "missing.npz")


def test_missing_image_is_a_clear_error(tmp_path, untrained_encoder):
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        features.extract_features(untrained_encoder, [tmp_path / "missing.jpg"], "mobilenet_v2", progress=False)


def test_preprocessing_is_right_imagenet_classifies_cat_and_espresso(shared_weights, tmp_path):
    """With the ImageNet MobileNetV2 backbone and classifier head from ../shared, photos fed
    through the project's own loading and preprocessing must be recognised. Wrong channel
    order or scaling still runs but classifies nonsense."""
    skimage_data = pytest.importorskip("skimage.data")
    head = np.load(SHARED_KERAS / "mobilenet_v2_1.0_224_imagenet_head.npz")
    labels = (SHARED_KERAS / "imagenet_labels_1001.txt").read_text().splitlines()
    encoder = features.build_encoder("mobilenet_v2", str(shared_weights))
    top = {}
    for name in ("chelsea", "coffee"):
        path = tmp_path / f"{name}.jpg"
        Image.fromarray(getattr(skimage_data, name)()).save(path, quality=95)
        vector = features.extract_features(encoder, [path], "mobilenet_v2", progress=False)[0]
        logits = vector @ head["kernel"] + head["bias"]
        top[name] = [labels[i] for i in np.argsort(-logits)[:3]]
    assert any("cat" in label for label in top["chelsea"][:1]), top
    assert top["coffee"][0] == "espresso", top


def test_captions_of_images_without_features_are_left_out_with_a_message(capsys):
    table = features.FeatureTable(["a.jpg", "b.jpg"], np.zeros((2, 3), np.float32), "mobilenet_v2", "none", 224)
    lookup = {"train": {"a.jpg": ["x", "y"], "bad.jpg": ["z", "w", "v"]}, "test": {"b.jpg": ["q"]}}
    kept = features.captions_with_features(lookup, table)
    assert kept == {"train": {"a.jpg": ["x", "y"]}, "test": {"b.jpg": ["q"]}}
    out = capsys.readouterr().out
    assert "train: 1 images have no features" in out and "3 captions are left out" in out and "bad.jpg" in out


@pytest.mark.parametrize("name", sorted(features.ENCODERS))
def test_every_encoder_builds_untrained_and_gives_its_documented_feature_size(name):
    spec = features.encoder_spec(name)
    model = features.build_encoder(name, "none")
    assert model.input_shape == (None, spec.image_size, spec.image_size, 3)
    assert model.output_shape == (None, spec.feature_dim)  # Keras works the shapes out when it builds the model
    # the course default makes one real forward pass (the others would cost seconds each and show nothing new)
    if name == "mobilenet_v2":
        pixels = np.full((1, spec.image_size, spec.image_size, 3), 128, np.float32)
        vector = features.forward_function(model, spec.image_size)(features.preprocess_function(name)(pixels))
        assert vector.shape == (1, spec.feature_dim) and np.isfinite(vector).all()


@pytest.mark.parametrize("name", sorted(features.ENCODERS))
def test_imagenet_unavailable_names_each_encoders_cache_file(empty_keras_home, name):
    with pytest.raises(FileNotFoundError) as error:
        features.resolve_weights(name, "imagenet")
    spec = features.encoder_spec(name)
    assert str(empty_keras_home / "models" / spec.weights_file) in str(error.value)
    assert spec.weights_url.endswith("/" + spec.weights_file) and spec.weights_url in str(error.value)


def test_encoders_with_preprocessing_inside_the_model_are_fed_raw_pixels_and_the_others_scaled(tmp_path):
    """MobileNetV3 and EfficientNet rescale inside the model (their preprocess_input is a
    pass-through): the pipeline must feed them [0, 255], not scale a second time."""
    pixels = np.array([[[0.0, 127.5, 255.0]]], np.float32)
    for name, spec in features.ENCODERS.items():
        out = np.asarray(features.preprocess_function(name)(pixels.copy()))
        if spec.preprocessing_in_model:
            assert np.array_equal(out, pixels), name
        else:
            assert np.allclose(out, [[[-1.0, 0.0, 1.0]]]), name

    path = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(1).random((60, 80, 3)) * 255).astype("uint8")).save(path)
    model = features.build_encoder("mobilenet_v3_small", "none", seed=3)
    assert any(layer.__class__.__name__ == "Rescaling" for layer in model.layers), "the model rescales itself"
    raw = features.load_image(path, 224).numpy()[None]
    extracted = features.extract_features(model, [path], "mobilenet_v3_small", progress=False)
    # untrained features are tiny (about 1e-10): compare relatively
    assert np.allclose(extracted, np.asarray(model(raw)), rtol=1e-3, atol=0)
    assert not np.allclose(extracted, np.asarray(model(raw / 127.5 - 1)), rtol=1e-2, atol=0)


def test_seeded_untrained_encoder_is_reproducible():
    first = features.build_encoder("mobilenet_v2", "none", seed=5).get_weights()[0]
    again = features.build_encoder("mobilenet_v2", "none", seed=5).get_weights()[0]
    other = features.build_encoder("mobilenet_v2", "none", seed=6).get_weights()[0]
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_nearest_neighbours_find_the_most_similar_vectors_first():
    table = features.FeatureTable(
        ["a", "b", "c"], np.array([[1, 0], [0, 1], [0.9, 0.1]], np.float32), "mobilenet_v2", "none", 224
    )
    assert [i for i, _ in features.nearest_neighbours(table, "a", 3)] == ["a", "c", "b"]


def test_the_bundled_photos_are_small_with_a_licence_each():
    photos = sorted(features.PHOTOS_DIR.glob("*.jpg"))
    licence = (features.PHOTOS_DIR / "README.md").read_text()
    assert len(photos) >= 2
    for photo in photos:
        assert photo.stat().st_size < 100_000 and photo.name in licence
        assert Image.open(photo).mode == "RGB"


def test_without_a_download_or_the_shared_head_there_is_no_classifier(empty_keras_home, tmp_path, monkeypatch):
    monkeypatch.setattr(encoder_demos, "SHARED_KERAS_DIR", tmp_path / "no_shared")
    assert features.imagenet_classifier(download=False) is None
    assert "internet" in features.IMAGENET_CLASSIFIER_MISSING


def test_the_offline_classifier_names_what_the_bundled_photos_show(keras_home, monkeypatch):
    if not (SHARED_KERAS / "mobilenet_v2_1.0_224_imagenet_head.npz").exists():
        pytest.skip(f"{SHARED_KERAS} is absent: this test needs the classifier head in ../shared")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    classifier = features.imagenet_classifier(download=False)
    photos = [features.PHOTOS_DIR / name for name in ("chelsea_cat.jpg", "coffee_cup.jpg", "rocket_launch.jpg")]
    batch = np.concatenate([features.load_image(photo, 224).numpy()[None] for photo in photos])
    right = features.top_labels(classifier, features.preprocess_function("mobilenet_v2")(batch.copy()))
    wrong = features.top_labels(classifier, batch)  # raw [0, 255] pixels
    assert "cat" in right[0][0][0] and "espresso" in right[1][0][0] and right[2][0][0] in ("missile", "projectile")
    assert all(p <= 1 for labels in right for _, p in labels)
    assert "cat" not in wrong[0][0][0], "wrong scaling should change what the classifier sees"
