"""Install the course on Google Colab; the first code cell of every notebook runs it there (and only there).

    python scripts/colab_setup.py            # from a clone of the repository, on Colab

Colab already has TensorFlow, Keras, numpy, matplotlib, ipywidgets and most of what the course needs, built to
work together; replacing them would need a runtime restart. So this installs only the dependencies of
pyproject.toml that are missing (gensim, pycocoevalcap, papermill, ...) at their pinned versions, with every
package Colab has held at its installed version (a pip constraints file), never TensorFlow or Keras, and not
JupyterLab (Colab has its own interface); then the course package itself without its dependencies
(``pip install --no-deps -e .``). Versions that differ from the pins are listed; notebook 00 shows them too.
pyproject.toml's ranges admit Colab's versions (.ci/colab-versions.txt); ``.ci/colab`` runs this script and
the course on them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Colab's own builds are kept (a GPU TensorFlow, the Keras that matches it).
COLAB_PROVIDES = {"tensorflow", "tensorflow-cpu", "keras"}
#: Not needed on Colab: its own notebook interface replaces JupyterLab.
COLAB_SKIPS = {"jupyterlab"}
#: Written into the clone once the course is installed: the install cell does not run this script twice.
DONE_MARKER = ".colab-setup-done"


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def plan(pyproject: Path = REPO_ROOT / "pyproject.toml", version_of=installed_version) -> tuple[list[str], list[str]]:
    """``(requirements to install, notes on installed versions that differ from the pins)``."""
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    to_install, notes = [], []
    for text in dependencies:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        if requirement.name in COLAB_PROVIDES | COLAB_SKIPS:
            continue
        version = version_of(requirement.name)
        if version is None:
            to_install.append(f"{requirement.name}{requirement.specifier}")
        elif not requirement.specifier.contains(version, prereleases=True):
            notes.append(f"{requirement.name} {version} (the course pins {requirement.specifier})")
    return to_install, notes


def constraints(distributions=None, own: str = "captioning-course-helpers") -> list[str]:
    """``name==version`` for every installed distribution (except the course itself): what pip may not change."""
    lines = {}
    for distribution in metadata.distributions() if distributions is None else distributions:
        name, version = distribution.metadata["Name"], distribution.version
        if not name or canonicalize_name(name) == canonicalize_name(own):
            continue
        try:
            Version(version)
        except InvalidVersion:
            continue
        lines[canonicalize_name(name)] = f"{canonicalize_name(name)}=={version}"
    return sorted(lines.values())


def pip_install(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *arguments])


def install_missing(to_install: list[str]) -> None:
    """Install ``to_install`` without changing an installed package; if pip cannot, install them anyway and say
    which restart that may need."""
    print("Installing what Colab lacks:", " ".join(to_install), flush=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
        file.write("\n".join(constraints()) + "\n")
    try:
        if pip_install("-c", file.name, *to_install).returncode == 0:
            return
    finally:
        Path(file.name).unlink(missing_ok=True)
    print(
        "pip could not install them without changing a package Colab has; installing them with the versions they "
        "need. If numpy, TensorFlow or IPython changed, restart the session (Runtime > Restart session) and run "
        "this cell again.",
        flush=True,
    )
    if pip_install(*to_install).returncode != 0:
        raise SystemExit(f"pip could not install {' '.join(to_install)} (see its message above)")


def main() -> int:
    to_install, notes = plan()
    if to_install:
        install_missing(to_install)
    result = pip_install("--no-deps", "-e", str(REPO_ROOT))
    if result.returncode != 0:
        raise SystemExit(f"pip could not install the course from {REPO_ROOT} (see its message above)")
    if notes:
        print("Colab's own versions are used for:", "; ".join(notes))
    (REPO_ROOT / DONE_MARKER).write_text("installed\n", encoding="utf-8")
    print("The course is installed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
