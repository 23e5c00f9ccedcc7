"""helpers.attention (notebook 10): spatial features, the attention decoder, its decoding, the bounding-box check;
the sample's boxes.json; and, on the course run, that the attention lands on the shapes it names."""

import importlib.util
import io
import json
import sys

import numpy as np
import pytest

from course import cli, files, paths, runner, spatial_cache
from helpers import attention, attention_comparison, attention_maps, spatial_features, training
from helpers.vocabulary import UNKNOWN_ID, Vocabulary


def load_make_sample():
    spec = importlib.util.spec_from_file_location("make_sample", paths.DATA_DIR / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_sample"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ the sample's boxes


def test_boxes_json_matches_the_generator_and_the_images_are_unchanged():
    make_sample = load_make_sample()
    boxes = attention_maps.read_boxes(paths.SAMPLE_DIR / attention_maps.BOXES_FILE)
    scenes = {s.image_id: s for split in make_sample.make_scenes(make_sample.DEFAULT_SEED).values() for s in split}
    assert len(boxes["boxes"]) == len(scenes) == 500 and boxes["image_size"] == make_sample.IMAGE_SIZE
    for image_id in sorted(scenes)[:12]:
        scene = scenes[image_id]
        image, scene_boxes = make_sample.draw_scene_with_boxes(scene, make_sample.DEFAULT_SEED)
        encoded = io.BytesIO()
        image.save(encoded, "JPEG", quality=make_sample.JPEG_QUALITY, optimize=False)
        committed = (paths.SAMPLE_DIR / make_sample.IMAGE_DIR / f"{image_id}.jpg").read_bytes()
        assert encoded.getvalue() == committed, f"{image_id}: recording boxes changed the image"
        recorded = boxes["boxes"][f"{image_id}.jpg"]
        assert [r["box"] for r in recorded] == scene_boxes and len(recorded) == scene.count
        assert all(r["colour"] == scene.colour and r["shape"] == scene.shape for r in recorded)
        # the box is where the shape is: its centre pixel has the shape's colour, not the background's
        pixels = np.asarray(image, dtype=np.float32)
        for x0, y0, x1, y1 in scene_boxes:
            centre = pixels[(y0 + y1) // 2 + (2 if scene.shape == "triangle" else 0), (x0 + x1) // 2]
            assert np.abs(centre - make_sample.COLOUR_RGB[scene.colour]).max() < 50, (image_id, centre)


# ------------------------------------------------------------------------------------------ the box check


def test_box_coverage_counts_the_covered_fraction_of_each_cell():
    whole = attention_maps.box_coverage([0, 0, 140, 140], 140, (7, 7))
    assert np.allclose(whole, 1.0)
    one_cell = attention_maps.box_coverage([20, 40, 40, 60], 140, (7, 7))  # cells are 20 px: row 2, column 1
    assert one_cell[2, 1] == pytest.approx(1.0) and one_cell.sum() == pytest.approx(1.0)
    half = attention_maps.box_coverage([10, 0, 20, 20], 140, (7, 7))
    assert half[0, 0] == pytest.approx(0.5) and half.sum() == pytest.approx(0.5)


def test_box_ratio_is_one_for_uniform_attention_and_high_when_looking_at_the_shape():
    boxes = {
        "image_size": 140,
        "boxes": {
            "a.jpg": [{"colour": "red", "shape": "circle", "size": "small", "box": [20, 40, 40, 60]}],
            "b.jpg": [
                {"colour": "blue", "shape": "square", "size": "small", "box": [0, 0, 20, 20]},
                {"colour": "blue", "shape": "square", "size": "small", "box": [60, 60, 80, 80]},
            ],
        },
    }
    uniform = np.full((3, 7, 7), 1 / 49)
    focused = np.zeros((3, 7, 7))
    focused[:, 2, 1] = 1.0
    records = attention_maps.box_attention_ratios(
        {
            "a.jpg": (["one", "red", "disc", "endseq"], np.concatenate([uniform[:2], focused[:2]])),
            "b.jpg": (["two", "blue", "squares"], focused),
        },
        boxes,
    )
    # "one": not a colour or shape; "b.jpg": two blue squares, so neither word names a single shape
    assert [(r["image"], r["word"]) for r in records] == [("a.jpg", "red"), ("a.jpg", "disc")]
    assert records[0]["ratio"] == pytest.approx(1.0)
    assert records[1]["ratio"] == pytest.approx(49.0) and records[1]["mass"] == pytest.approx(1.0)


def test_a_file_that_is_not_a_boxes_file_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "boxes.json"
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="boxes.json: not a boxes file"):
        attention_maps.read_boxes(bad)


# ------------------------------------------------------------------------------------------ the model

VOCABULARY = Vocabulary.build(
    ["startseq red circle endseq", "startseq blue square endseq", "startseq green triangle endseq"]
)


def small_model(penalty=0.0, length=None):
    import keras

    keras.utils.set_random_seed(1)
    return attention.build_attention_model(
        len(VOCABULARY), 9, 8, length=length, embedding_dim=6, units=16, attention_units=8, dropout=0.0, penalty=penalty
    )


def test_the_model_predicts_a_distribution_at_every_position_reading_only_the_words_before():
    model = small_model()
    rng = np.random.default_rng(0)
    grid = rng.normal(size=(4, 9, 8)).astype(np.float32)
    words = rng.integers(2, len(VOCABULARY), size=(4, 6)).astype(np.int32)
    words[:, 4:] = 0
    output = np.asarray(model([grid, words]))
    assert output.shape == (4, 6, len(VOCABULARY)) and np.allclose(output.sum(-1), 1.0, atol=1e-5)
    changed = words.copy()
    changed[:, 3] = 2
    assert np.allclose(np.asarray(model([grid, changed]))[:, :3], output[:, :3], atol=1e-6), "causal"
    assert np.allclose(np.asarray(model([grid, words[:, :4]])), output[:, :4], atol=1e-6), "any length, same outputs"
    _, weights = attention.attention_map_model(model)([grid, words])
    assert np.asarray(weights).shape == (4, 6, 9) and np.allclose(np.sum(weights, -1), 1.0, atol=1e-5)


def test_the_saved_model_reloads_in_safe_mode_with_the_same_outputs(tmp_path):
    import keras

    model = small_model(penalty=1.0)
    grid = np.random.default_rng(1).normal(size=(2, 9, 8)).astype(np.float32)
    words = np.array([[2, 4, 5, 0], [2, 6, 0, 0]], np.int32)
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert np.allclose(np.asarray(again([grid, words])), np.asarray(model([grid, words])), atol=1e-6)
    assert again.get_layer("attention_decoder").penalty == 1.0


def test_the_doubly_stochastic_penalty_is_added_to_the_loss_only_when_asked():
    grid = np.random.default_rng(2).normal(size=(8, 9, 8)).astype(np.float32)
    words = np.tile(np.array([[2, 4, 5, 3]], np.int32), (8, 1))
    targets = np.roll(words, -1, axis=1)
    targets[:, -1] = 0
    plain = small_model(0.0).evaluate([grid, words], targets, verbose=0)
    penalised = small_model(1.0).evaluate([grid, words], targets, verbose=0)
    # same seed, same weights: only the penalty differs; it is large when 3 words spread attention over 9 positions
    assert penalised > plain + 1.0
    # training fits the view that computes the softmax only where a word is predicted: the penalty is still in it
    import tensorflow as tf

    batches = training.batches_at_targets(tf.data.Dataset.from_tensors(((grid, words), targets)))
    for penalty, loss in ((0.0, plain), (1.0, penalised)):
        assert np.isclose(training.model_at_targets(small_model(penalty)).evaluate(batches, verbose=0), loss, rtol=1e-5)


def test_the_notebooks_attention_equals_the_helpers_layer():
    import keras

    class AdditiveAttention(keras.layers.Layer):  # the cell of notebook 10, section 2
        def __init__(self, units):
            super().__init__()
            self.W_a = keras.layers.Dense(units, use_bias=False)
            self.W_h = keras.layers.Dense(units)
            self.v = keras.layers.Dense(1, use_bias=False)

        def call(self, grid, hidden):
            scores = self.v(keras.ops.tanh(self.W_a(grid) + self.W_h(hidden)[:, None, :]))[..., 0]
            alpha = keras.ops.softmax(scores, axis=-1)
            return keras.ops.sum(alpha[..., None] * grid, axis=1), alpha

    rng = np.random.default_rng(3)
    grid, hidden = rng.normal(size=(3, 9, 8)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    mine, helper = AdditiveAttention(4), attention.BahdanauAttention(4)
    context, alpha = mine(grid, hidden)
    helper([grid, hidden])
    for theirs, ours in (
        (helper.grid_projection, mine.W_a),
        (helper.hidden_projection, mine.W_h),
        (helper.score, mine.v),
    ):
        theirs.set_weights(ours.get_weights())
    helper_context, helper_alpha = helper([grid, hidden])
    assert np.allclose(helper_alpha, alpha, atol=1e-6) and np.allclose(helper_context, context, atol=1e-5)


def test_decoding_never_writes_unk_even_when_the_model_prefers_it():
    model = small_model()
    layer = model.get_layer("next_word")
    kernel, bias = layer.get_weights()
    bias[UNKNOWN_ID] = 50.0  # <unk> is by far the most probable word everywhere
    layer.set_weights([kernel, bias])
    grid = np.random.default_rng(4).normal(size=(5, 9, 8)).astype(np.float16)
    greedy = attention.greedy_captions(model, grid, VOCABULARY, max_length=6)
    beam = attention.beam_search_captions(model, grid, VOCABULARY, max_length=6, width=3)
    words = {w for caption in greedy + beam for w in caption.split()}
    assert greedy and "<unk>" not in words and "startseq" not in words and "<pad>" not in words
    assert attention.beam_search_captions(model, grid, VOCABULARY, max_length=6, width=1) == greedy


@pytest.mark.course  # METEOR's JVM
def test_comparison_rows_decode_or_take_captions_and_are_scored_through_one_meteor_session(monkeypatch):
    from helpers import evaluation

    model = small_model()
    grid = np.random.default_rng(4).normal(size=(3, 9, 8)).astype(np.float16)
    ids = ["a.png", "b.png", "c.png"]
    options = {"vocabulary": VOCABULARY, "max_length": 6, "width": 2, "alpha": 0.7}
    decoded = attention_comparison.model_row(
        model, grid, ids, **options, seconds_per_epoch=np.float64(1.5), memory=None
    )
    assert decoded["captions"]["greedy"] == dict(zip(ids, attention.greedy_captions(model, grid, VOCABULARY, 6)))
    assert set(decoded["captions"]["beam"]) == set(ids) and decoded["seconds_per_epoch"] == 1.5
    given = ({i: "red circle" for i in ids}, {i: "blue square" for i in ids})
    memory = {"peak_mb": 900.0, "growth_mb": 20.0}
    reused = attention_comparison.model_row(
        model, None, ids, **options, seconds_per_epoch=2, memory=memory, captions=given
    )
    assert reused["captions"] == {"greedy": given[0], "beam": given[1]}
    assert reused["parameters"] == decoded["parameters"] == attention.count_parameters(model)
    sessions, scored = [], []

    def fake_scores(references, hypotheses, say=None):
        sessions.append(list(evaluation._METEOR_SESSION))
        scored.append(hypotheses)
        return {"scores": {"bleu1": 0.5, "cider": 1.0}}

    monkeypatch.setattr(evaluation, "caption_scores", fake_scores)
    rows = attention_comparison.score_rows(
        {"merge (06)": decoded, "attention": reused}, {i: ["red circle"] for i in ids}
    )
    assert sessions == [[None]] * 4, "all four caption sets scored inside one METEOR session"
    assert scored[2:] == list(given) and not evaluation._METEOR_SESSION
    assert all("captions" not in row and set(row["scores"]) == {"greedy", "beam"} for row in rows.values())
    table = attention_comparison.comparison_markdown(rows, beam_width=2)
    assert "| merge (06) | greedy |" in table and "| attention | beam 2 |" in table and "900 (+20)" in table


def test_caption_attention_gives_one_map_per_word_and_endseq():
    model = small_model()
    grid = np.random.default_rng(5).normal(size=(2, 9, 8)).astype(np.float32)
    results = attention_maps.caption_attention(
        attention.attention_map_model(model), grid, VOCABULARY, ["red circle", "blue"], (3, 3)
    )
    assert [words for words, _ in results] == [["red", "circle", "endseq"], ["blue", "endseq"]]
    assert results[0][1].shape == (3, 3, 3) and np.allclose(results[0][1].sum(axis=(1, 2)), 1.0, atol=1e-5)
    average, uses = attention_maps.average_word_map(results, "endseq")
    assert uses == 2 and np.allclose(average, (results[0][1][2] + results[1][1][1]) / 2)


# ------------------------------------------------------------------------------------------ spatial features


def test_float16_is_kept_only_for_values_that_survive_it():
    rng = np.random.default_rng(6)
    imagenet_like = rng.gamma(0.5, 1.0, size=(49, 1280)).astype(np.float32)  # 0 .. ~10, many small
    assert spatial_features.float16_fits(imagenet_like)
    assert not spatial_features.float16_fits(imagenet_like * 1e-12), "below float16's smallest number: all zeros"
    assert not spatial_features.float16_fits(imagenet_like * 1e5), "above float16's largest number: inf"


def test_spatial_features_are_the_unpooled_grid_and_are_cached(tmp_path, monkeypatch):
    from helpers import features
    from helpers.datasets import load_dataset

    sample = load_dataset("sample")
    image_ids = sample.splits["test"][:6]
    images_dir = sample.image_path(image_ids[0]).parent
    weights = features.resolve_weights("mobilenet_v2", "none")
    table = spatial_cache.load_or_extract_spatial_features(
        tmp_path / "spatial.npz",
        image_ids,
        images_dir,
        "mobilenet_v2",
        weights,
        cache_root=tmp_path / "cache",
        seed=7,
        progress=False,
    )
    # untrained MobileNetV2 features are ~1e-13: float16 would turn them into zeros, so they stay float32
    assert table.grid.shape == (6, 49, 1280) and table.grid.dtype == np.float32 and table.grid_shape == (7, 7)
    pooled = features.extract_features(
        features.build_encoder("mobilenet_v2", weights, seed=7),
        [images_dir / i for i in image_ids],
        "mobilenet_v2",
        progress=False,
    )
    average = table.grid.astype(np.float32).mean(axis=1)
    assert np.abs(average - pooled).max() <= 1e-2 * np.abs(pooled).max(), "the grid's mean is the pooled vector"
    # a second call (another run folder) reads the cache: the CNN is not built again
    monkeypatch.setattr(spatial_cache, "spatial_encoder", lambda *a, **k: pytest.fail("extracted again"))
    again = spatial_cache.load_or_extract_spatial_features(
        tmp_path / "other.npz",
        image_ids[::-1],
        images_dir,
        "mobilenet_v2",
        weights,
        cache_root=tmp_path / "cache",
        seed=7,
    )
    assert np.array_equal(again.grid, table.grid[::-1])
    assert spatial_cache.load_spatial_features(tmp_path / "other.npz").image_ids == image_ids[::-1]
    # other weights (another seed) are another cache folder
    folders = {p.name for p in (tmp_path / "cache").iterdir()}
    assert len(folders) == 1


# ------------------------------------------------------------------------------------------ the course


def test_the_course_runs_10_then_11_last_and_skip_leaves_them_out(monkeypatch, tmp_path):
    assert runner.NOTEBOOKS[-2:] == ["10_visual_attention.ipynb", "11_transformer_decoder.ipynb"]
    ran = {}
    monkeypatch.setattr(
        runner, "run_course", lambda parameters, run_dir, notebooks, timeout: ran.setdefault("n", notebooks) and run_dir
    )
    monkeypatch.setattr(runner, "summary", lambda run_dir: "")
    assert cli.main(["run", "--skip", "11", "--run-dir", str(tmp_path / "run")]) == 0
    assert ran.pop("n") == runner.NOTEBOOKS[:-1]
    assert cli.main(["run", "--skip", "10", "11", "--run-dir", str(tmp_path / "run")]) == 0
    assert ran.pop("n") == runner.NOTEBOOKS[:-2]
    assert cli.main(["run", "--skip", "42", "--run-dir", str(tmp_path / "run")]) == 2


def test_the_course_runs_the_training_speed_appendix_after_06_and_skip_06b_leaves_it_out(monkeypatch, tmp_path):
    appendix = "06b_training_speed.ipynb"
    assert runner.NOTEBOOKS.index(appendix) == runner.NOTEBOOKS.index("06_training.ipynb") + 1
    ran = []
    monkeypatch.setattr(runner, "run_course", lambda parameters, run_dir, notebooks, timeout: ran.append(notebooks))
    monkeypatch.setattr(runner, "summary", lambda run_dir: "")
    for arguments in (["--skip", "06b"], ["--only", "06b"], ["--only", "06"], ["--until", "06"], []):
        assert cli.main(["run", *arguments, "--run-dir", str(tmp_path / "run")]) == 0
    skipped, only_appendix, only_06, until_06, everything = ran
    assert appendix not in skipped and "06_training.ipynb" in skipped and len(skipped) == len(runner.NOTEBOOKS) - 1
    assert only_appendix == [appendix] and only_06 == ["06_training.ipynb", appendix]
    assert until_06[-1] == appendix and everything == runner.NOTEBOOKS


@pytest.mark.course
def test_on_the_sample_the_attention_falls_on_the_shape_each_colour_or_shape_word_names(course_run):
    run_dir, _ = course_run
    comparison = json.loads((run_dir / files.ATTENTION_DIR / files.ATTENTION_COMPARISON_FILE).read_text())
    scores = json.loads((run_dir / files.SCORES_FILE).read_text())
    if not scores["pretrained_features"]:
        pytest.skip("the MobileNetV2 ImageNet weights are not available (../shared absent): features were untrained")
    assert comparison["box_words"] >= 30, comparison["box_words"]
    assert comparison["box_ratio"] >= 2.0, (
        f"attention inside the named shape's box / its share of the area: {comparison['box_ratio']}"
    )
    attention_scores = comparison["rows"]["attention"]["scores"]["greedy"]
    assert attention_scores["bleu4"] > scores["best_constant_caption"]["bleu4"]
    captions = json.loads((run_dir / files.ATTENTION_DIR / files.ATTENTION_CAPTIONS_FILE).read_text())
    assert "<unk>" not in " ".join(captions["greedy"].values())


def test_the_loop_over_any_length_gives_what_the_unrolled_loop_gives():
    import tensorflow as tf

    model = small_model()
    rng = np.random.default_rng(7)
    grid = rng.normal(size=(3, 9, 8)).astype(np.float32)
    words = np.array([[2, 4, 5, 0, 0], [2, 6, 7, 8, 0], [2, 0, 0, 0, 0]], np.int32)
    any_length = tf.function(
        lambda g, w: model([g, w]),
        input_signature=[tf.TensorSpec([None, 9, 8], tf.float32), tf.TensorSpec([None, None], tf.int32)],
    )
    assert np.allclose(np.asarray(any_length(grid, words)), np.asarray(model([grid, words])), atol=1e-5)


def test_started_from_the_image_the_decoder_has_the_papers_initial_state(tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    paper = attention.build_attention_model(
        len(VOCABULARY), 9, 8, embedding_dim=6, units=16, attention_units=8, image_state=True
    )
    decoder = paper.get_layer("attention_decoder")
    assert decoder.image_state and decoder.init_h.built
    assert not hasattr(small_model().get_layer("attention_decoder"), "init_h"), "blind by default: no unused weights"
    paper.save(tmp_path / "paper.keras")
    assert keras.saving.load_model(tmp_path / "paper.keras", safe_mode=True).get_layer("attention_decoder").image_state
