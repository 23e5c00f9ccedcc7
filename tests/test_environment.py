"""The three dependency lists agree: pyproject.toml (pip), environment.yml (conda) and binder/environment.yml
(Binder) name the same packages at compatible minor-version pins; Binder's postBuild installs the package."""

import os
import re
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from course import overview, paths

REPO_ROOT = paths.REPO_ROOT
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: pip name -> conda-forge name, where they differ (conda-forge's CPU TensorFlow is "tensorflow" with a cpu build;
#: pip's "tensorflow" line is for the platforms without a tensorflow-cpu wheel).
CONDA_NAME = {"tensorflow-cpu": "tensorflow"}
#: conda-only lines: the interpreter, pip itself, graphviz + pydot (the model diagram: a system program and its
#: Python side) and openjdk (Java for METEOR): with pip these come from the system, or the course does without.
CONDA_ONLY = {"python", "pip", "graphviz", "pydot", "openjdk"}
sys.path.insert(0, str(REPO_ROOT / "scripts"))


def newest_minor(text: str) -> str:
    """``"2.21.*"`` for a minor-version pin ``name==2.21.*`` or a range ``name>=2.20,<2.22`` (whose newest minor
    is 2.21: the ranges that admit Google Colab's older versions end just after the newest minor tested)."""
    specifiers = sorted(Requirement(text).specifier, key=lambda s: s.operator)
    if len(specifiers) == 1 and specifiers[0].operator == "==" and specifiers[0].version.endswith(".*"):
        return specifiers[0].version
    operators = [s.operator for s in specifiers]
    assert operators == ["<", ">="], f"pyproject.toml: {text!r} is neither name==X.Y.* nor name>=A.B,<X.Y"
    major, minor = (int(part) for part in specifiers[0].version.split("."))
    assert minor >= 1, f"pyproject.toml: {text!r}: end the range at the minor after the newest one tested"
    newest = f"{major}.{minor - 1}"
    assert Requirement(text).specifier.contains(newest + ".0"), f"pyproject.toml: {text!r} excludes {newest}"
    return newest + ".*"


def pip_pins(*groups) -> dict[str, str]:
    """``{conda name: "2.21.*"}`` from pyproject's dependency lists (every platform's line): the newest minor
    each one admits, which the conda files pin."""
    pins: dict[str, str] = {}
    for group in groups:
        for text in group:
            requirement = Requirement(text)
            version = newest_minor(text)
            name = CONDA_NAME.get(requirement.name, requirement.name).lower()
            assert pins.get(name, version) == version, f"two pins for {name}"
            pins[name] = version
    return pins


def conda_pins(path) -> tuple[dict[str, str], dict[str, str], list]:
    """``({name: version}, {name: build}, pip section)`` of a conda environment file."""
    environment = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert environment["channels"] == ["conda-forge"], f"{path}: conda-forge only"
    versions, builds, pip_section = {}, {}, []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip_section += entry.get("pip", [])
            continue
        name, _, rest = str(entry).partition("=")
        version, _, build = rest.partition("=")
        versions[name.strip().lower()] = version.strip()
        if build:
            builds[name.strip().lower()] = build.strip()
    return versions, builds, pip_section


def check_agreement(path, expected: dict[str, str]):
    versions, builds, pip_section = conda_pins(path)
    missing = sorted(set(expected) - set(versions))
    extra = sorted(set(versions) - set(expected) - CONDA_ONLY)
    assert not missing and not extra, f"{path.name}: missing {missing}, not in pyproject.toml {extra}"
    for name, pin in expected.items():
        assert versions[name] == pin, f"{path.name}: {name}={versions[name]}, pyproject.toml pins {name}=={pin}"
    assert builds.get("tensorflow", "").startswith("cpu"), f"{path.name}: pick conda-forge's CPU TensorFlow (=cpu*)"
    assert not pip_section, (
        f"{path.name}: pip would reinstall dependencies (tensorflow-cpu) over conda's; use pip --no-deps"
    )
    python = versions["python"]
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(python + ".0"), (
        f"{path.name}: python={python}"
    )


def test_environment_yml_has_every_dependency_and_test_dependency_at_the_same_pins():
    project = PYPROJECT["project"]
    check_agreement(
        REPO_ROOT / "environment.yml", pip_pins(project["dependencies"], project["optional-dependencies"]["test"])
    )


def test_binder_environment_has_every_runtime_dependency_at_the_same_pins():
    check_agreement(REPO_ROOT / "binder" / "environment.yml", pip_pins(PYPROJECT["project"]["dependencies"]))


def test_a_disagreement_is_caught(tmp_path):
    broken = (REPO_ROOT / "binder" / "environment.yml").read_text().replace("keras=3.15.*", "keras=3.14.*")
    (tmp_path / "environment.yml").write_text(broken)
    with pytest.raises(AssertionError, match="keras=3.14"):
        check_agreement(tmp_path / "environment.yml", pip_pins(PYPROJECT["project"]["dependencies"]))
    dropped = broken.replace("  - scipy=1.17.*\n", "")
    (tmp_path / "environment.yml").write_text(dropped)
    with pytest.raises(AssertionError, match="missing \\['scipy'\\]"):
        check_agreement(tmp_path / "environment.yml", pip_pins(PYPROJECT["project"]["dependencies"]))


def test_binder_postbuild_is_strict_and_installs_the_package():
    path = REPO_ROOT / "binder" / "postBuild"
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert path.read_text().startswith("#!/usr/bin/env bash\n")
    assert lines[0] == "set -euo pipefail"
    assert any(re.search(r"pip install .*--no-deps -e \.$", line) for line in lines)
    assert os.access(path, os.X_OK), "binder/postBuild must be executable (git update-index --chmod=+x)"
    assert not (REPO_ROOT / "binder" / "requirements.txt").exists(), "one Binder environment file, not two"


def test_colab_installs_only_what_colab_lacks_and_never_tensorflow():
    import colab_setup

    have = {"numpy": "1.26.4", "nltk": "3.10.1", "matplotlib": "3.11.0"}
    to_install, notes = colab_setup.plan(version_of=have.get)
    names = {Requirement(r).name for r in to_install}
    assert not names & colab_setup.COLAB_PROVIDES
    assert {"gensim", "pycocoevalcap", "scipy", "papermill"} <= names and not names & set(have)
    assert notes == ["numpy 1.26.4 (the course pins <2.5,>=2.1)"]


def test_notebook_00_sees_conda_forge_tensorflow_as_the_cpu_build(monkeypatch):
    from importlib import metadata

    real = metadata.version

    def conda_like(name):
        if name == "tensorflow-cpu":
            raise metadata.PackageNotFoundError(name)
        return "2.21.0" if name == "tensorflow" else real(name)

    monkeypatch.setattr(metadata, "version", conda_like)
    monkeypatch.setattr(metadata, "requires", lambda _: ["tensorflow-cpu==2.21.*; sys_platform != 'darwin'"])
    rows = overview.installed_requirements()
    assert (
        rows == [{"package": "tensorflow-cpu", "pin": "==2.21.*", "installed": "2.21.0", "ok": True}]
        or sys.platform == "darwin"
    )


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_conda_environments_bring_java_for_meteor_and_the_model_diagram(path):
    versions, _, _ = conda_pins(REPO_ROOT / path)
    assert "openjdk" in versions, f"{path}: Java (openjdk) is needed for METEOR in notebook 08"
    assert {"graphviz", "pydot"} <= set(versions), f"{path}: keras.utils.plot_model needs graphviz and pydot"


@pytest.mark.course  # starts a fresh Python process
def test_a_non_editable_install_fails_at_once_saying_to_clone(tmp_path):
    """`pip install .` copies helpers/ and course/ alone into site-packages: importing it says what to do instead."""
    import shutil
    import subprocess

    site = tmp_path / "site-packages"
    for package in ("helpers", "course"):
        shutil.copytree(REPO_ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    for command in (["-c", "import helpers.datasets"], ["-m", "helpers", "run", "--only", "01"]):
        result = subprocess.run(
            [sys.executable, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode != 0, command
        last = result.stderr.strip().splitlines()[-1]
        assert (
            last.startswith("course.paths.NotACheckoutError: helpers is installed at")
            and "Clone the repository" in last
            and "pip install -e" in last
        ), result.stderr[-1500:]


def test_licence_citation_and_the_github_workflow():
    licence = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "CC BY 4.0" in (REPO_ROOT / "LICENSE-CC-BY-4.0").read_text()
    citation = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0" and citation["license"] == ["MIT", "CC-BY-4.0"]
    assert citation["version"] == PYPROJECT["project"]["version"]
    assert citation["repository-code"] == PYPROJECT["project"]["urls"]["Repository"]
    assert {"title", "authors", "message"} <= set(citation)
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    assert [step["run"] for step in steps if "run" in step] == ["bash .ci/run"], "CI runs exactly .ci/run"
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    badge = PYPROJECT["project"]["urls"]["Repository"].replace("https://github.com/", "") + "/actions/workflows/ci.yml"
    assert f"https://github.com/{badge}/badge.svg" in readme, "README shows the CI badge"
