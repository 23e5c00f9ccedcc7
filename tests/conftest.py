"""Shared test fixtures.

Tests that use the real data in ``../shared`` (beside the checkout) skip with a
reason when it is absent — a user's fresh clone does not have it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
# notebooks the tests execute with papermill (solutions, reference) run unattended, as python -m helpers run's do:
# 08's widget explorer is skipped (papermill can wait forever on an Output widget)
os.environ.setdefault("CAPTIONING_COURSE_UNATTENDED", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
SHARED_TEXT = SHARED / "data" / "flickr8k_text"
SHARED_PHOTOS = SHARED / "data" / "flickr8k_photos"
SHARED_KERAS = SHARED / "keras"
MOBILENET_V2_WEIGHTS = SHARED_KERAS / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


# The test files that read the shared course run (the course_run fixture). The tests run on two workers
# (pytest-xdist, -n 2 in pyproject.toml); these files all go to one of them, so the course runs once, and every other
# file goes whole to either worker (its module fixtures are built once). A test elsewhere that asks for course_run
# fails at setup, before the course runs, naming this list.
COURSE_RUN_FILES = {
    "test_attention.py",
    "test_caption_cli.py",
    "test_course.py",
    "test_decoding.py",
    "test_exercises.py",
    "test_jupyterlab.py",
    "test_quiet.py",
    "test_transformer.py",
}


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class CourseRunFilesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "course_run" if Path(path).name in COURSE_RUN_FILES else path

    return CourseRunFilesTogether(config, log)


def pytest_collection_modifyitems(items):
    for item in items:
        if "course_run" in getattr(item, "fixturenames", ()) and item.path.name not in COURSE_RUN_FILES:
            message = (
                f"{item.nodeid} uses the course_run fixture: add {item.path.name} to COURSE_RUN_FILES in "
                "tests/conftest.py (the tests that share the course run must stay on one worker)"
            )
            item.setup = functools.partial(pytest.fail, message, pytrace=False)  # fails before the course runs


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: this test needs the real data in ../shared (not in a fresh clone)")
    return path


@pytest.fixture(scope="session")
def shared_text() -> Path:
    return need(SHARED_TEXT)


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    return need(MOBILENET_V2_WEIGHTS)


@pytest.fixture(scope="session")
def keras_home(tmp_path_factory) -> Path:
    """A private, writable KERAS_HOME holding the MobileNetV2 ImageNet weights
    from ../shared when present (empty otherwise), so tests never depend on
    or write to the user's ~/.keras."""
    home = tmp_path_factory.mktemp("keras_home")
    (home / "models").mkdir()
    if MOBILENET_V2_WEIGHTS.exists():
        shutil.copy(MOBILENET_V2_WEIGHTS, home / "models" / MOBILENET_V2_WEIGHTS.name)
    return home


@pytest.fixture(scope="session")
def course_run(tmp_path_factory, keras_home):
    """Run the whole course (``python -m helpers run``) once, with default parameters."""
    run_dir = tmp_path_factory.mktemp("course") / "run"
    # TensorFlow's logging as a student gets it (course.quiet), so tests see the outputs a student sees
    env = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, "KERAS_HOME": str(keras_home)}
    # a private feature cache: the tests never read or fill the user's runs/feature_cache
    cache = tmp_path_factory.mktemp("feature_cache")
    result = subprocess.run(
        [sys.executable, "-m", "helpers", "run", "--run-dir", str(run_dir), "-p", "FEATURE_CACHE", str(cache)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        pytest.fail(
            f"python -m helpers run failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return run_dir, result
