"""The check of notebook 06's training-step exercise (machinery, not lesson).

The reference computation lives here, not in the check cell, so the page shows the student's task and the
verdict only. Messages say what is wrong and hint where to look; they never print the expected weights or loss,
nor spell out the steps to type. One module per notebook: ``course/checks_<notebook>.py``."""

from __future__ import annotations

import numpy as np


def _weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]


def _same(first, second, tolerance=1e-5) -> bool:
    return all(np.allclose(a, b, rtol=tolerance, atol=tolerance) for a, b in zip(first, second))


def check_training_step(train_step, fresh_model, image_features, caption_ids, seed: int) -> str:
    """Runs ``train_step(model, image_features, caption_ids)`` on one fresh copy of the model and Keras'
    ``train_on_batch`` on another (the same starting weights, a fresh Adam each, the same dropout seed), and
    asserts that both end with the same weights. ``fresh_model()`` returns a compiled, untrained model;
    ``caption_ids`` is ``(batch, length)`` word ids, 0 = padding. Returns a one-line verdict."""
    import keras

    keras.utils.set_random_seed(seed)
    student_model = fresh_model()
    keras.utils.set_random_seed(seed)
    keras_model = fresh_model()
    start = _weights(student_model)
    assert _same(start, _weights(keras_model), 0), "the two copies of the model do not start alike: rerun the notebook"

    caption_ids = np.asarray(caption_ids)
    keras.utils.set_random_seed(seed)
    try:
        returned = train_step(student_model, image_features, caption_ids)
    except Exception as error:  # noqa: BLE001 -- shown to the student as a hint
        raise AssertionError(
            f"your train step raised {type(error).__name__}: {error} — check the shapes of the model's two inputs "
            "and of the targets against one batch of section 1"
        ) from None
    keras.utils.set_random_seed(seed)
    keras_loss = keras_model.train_on_batch([image_features, caption_ids[:, :-1]], caption_ids[:, 1:])

    after = _weights(student_model)
    assert not _same(start, after, 0), (
        "the weights did not change: compute the gradients of the loss, then let the model's optimizer apply them"
    )
    steps = int(student_model.optimizer.iterations.numpy())
    assert steps == 1, f"the optimizer took {steps} steps, not one: apply the gradients once"
    if (
        returned is not None
        and np.ndim(returned) == 0
        and not np.isclose(float(returned), float(keras_loss), rtol=1e-4)
    ):
        raise AssertionError(
            "your loss differs from Keras' on the same batch: are the targets the caption shifted by one, "
            "the predictions made in training mode, and is the loss the model was compiled with?"
        )
    if not _same(after, _weights(keras_model), 1e-4):
        raise AssertionError(
            "the weights moved, but not as one step of model.fit moves them: check the targets (shifted by one), "
            "that the tape watches the forward pass, and that the gradients go with model.trainable_variables"
        )
    return "the same weights as Keras' train_on_batch after one step: this is what fit does for every batch"
