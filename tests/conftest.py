"""Shared test fixtures.

Tests that use the real data in ``../shared`` (beside the checkout) skip with a
reason when it is absent — a user's fresh clone does not have it.
"""

from __future__ import annotations

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


def pytest_collection_modifyitems(items):
    """Two workers (pytest-xdist, ``-n 2 --dist loadgroup`` in pyproject.toml): every test that reads the shared
    course run goes to one worker, so the course runs once; the other tests go file by file (a file's module
    fixtures are built once), spread over both workers."""
    for item in items:
        group = "course_run" if "course_run" in getattr(item, "fixturenames", ()) else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


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
    # TensorFlow's logging as a student gets it (helpers.quiet), so tests see the outputs a student sees
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
