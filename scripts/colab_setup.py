"""Install the course on Google Colab; the first code cell of every notebook runs it there (and only there).

    python scripts/colab_setup.py            # from a clone of the repository, on Colab

Colab already has TensorFlow, Keras, numpy, matplotlib and most of what the
course needs, built to work together; replacing them would need a runtime
restart. So this installs only the dependencies of pyproject.toml that are
missing (at their pinned versions), never TensorFlow or Keras, then the course
package itself without its dependencies (``pip install --no-deps -e .``).
Versions that differ from the pins are listed; notebook 00 shows them too.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Colab's own builds are kept (a GPU TensorFlow, the Keras that matches it).
COLAB_PROVIDES = {"tensorflow", "tensorflow-cpu", "keras"}


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
        if requirement.name in COLAB_PROVIDES:
            continue
        version = version_of(requirement.name)
        if version is None:
            to_install.append(f"{requirement.name}{requirement.specifier}")
        elif not requirement.specifier.contains(version, prereleases=True):
            notes.append(f"{requirement.name} {version} (the course pins {requirement.specifier})")
    return to_install, notes


def main() -> int:
    to_install, notes = plan()
    if to_install:
        print("Installing:", " ".join(to_install), flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *to_install], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(REPO_ROOT)], check=True)
    if notes:
        print("Colab's own versions are used for:", "; ".join(notes))
    print("The course is installed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
