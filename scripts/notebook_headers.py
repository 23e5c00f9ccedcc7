"""Insert or refresh the Binder/Colab badges and the Colab install cell at the top of notebooks.

    python scripts/notebook_headers.py notebooks/00_start_here.ipynb notebooks/solutions/*.ipynb
    python scripts/notebook_headers.py --all          # every notebook in notebooks/ and notebooks/solutions/
    python scripts/notebook_headers.py --check --all  # exit 1 if any header is missing or stale
    python scripts/notebook_headers.py --all --ref v2026.1   # badges and the Colab clone pinned to a release tag

Each notebook gets two cells before everything else:

1. a markdown cell tagged ``badges``: "launch Binder" and "open in Colab" badges
   that open *this* notebook;
2. the notebook's one setup cell, tagged ``colab-install``, first line ``# Setup (run this first): ...``.
   It starts with the Colab block this script writes: on Google Colab it clones the repository,
   installs what Colab lacks (``scripts/colab_setup.py``) and makes ``helpers`` and ``course``
   importable; anywhere else it does nothing. What follows that block in the cell (``quiet.setup()``
   and the notebook's imports) belongs to the notebook and is kept as it is.

The GitHub repository is read from ONE place, ``[project.urls] Repository`` in
pyproject.toml: a fork changes it there and reruns this script. ``--ref`` names the branch or
tag (default ``main``) the badges open and the Colab cell clones: a teacher who pins a semester
to a release (``vYYYY.N``, CHANGELOG.md) reruns this with ``--ref v2026.1`` on a branch of their
own, so every badge opens that release. Idempotent:
running it twice changes nothing; existing cells are updated in place (their ids
kept); outputs stay empty.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
BRANCH = "main"
DONE_MARKER = ".colab-setup-done"  # written by scripts/colab_setup.py once the course is installed
BADGES_TAG, INSTALL_TAG = "badges", "colab-install"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def repository(pyproject: Path = REPO_ROOT / "pyproject.toml") -> str:
    """``owner/name`` from ``[project.urls] Repository = "https://github.com/owner/name"``."""
    url = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["urls"]["Repository"]
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    if not match:
        raise SystemExit(
            f"{pyproject}: [project.urls] Repository should be https://github.com/<owner>/<name>, not {url!r}"
        )
    return match.group(1)


def check_ref(ref: str) -> str:
    """A branch or tag name as git allows it (no spaces, no ``..``, no leading ``-``), else SystemExit."""
    if not re.fullmatch(r"[\w.-]+(?:/[\w.-]+)*", ref) or ".." in ref or ref.startswith("-"):
        raise SystemExit(f"--ref {ref!r}: give a branch or tag name, e.g. main or v2026.1")
    return ref


def binder_url(repo: str, path: str, ref: str = BRANCH) -> str:
    return f"https://mybinder.org/v2/gh/{repo}/{ref}?labpath={quote(path, safe='')}"


def colab_url(repo: str, path: str, ref: str = BRANCH) -> str:
    return f"https://colab.research.google.com/github/{repo}/blob/{ref}/{path}"


def badges_markdown(repo: str, path: str, ref: str = BRANCH) -> str:
    """The two badges for the file ``path`` (relative to the repository root, with ``/``) at ``ref``."""
    return (
        f"[![Launch Binder]({BINDER_BADGE})]({binder_url(repo, path, ref)}) "
        f"[![Open In Colab]({COLAB_BADGE})]({colab_url(repo, path, ref)})"
    )


def install_source(repo: str, path: str, ref: str = BRANCH) -> str:
    name = repo.split("/")[1]
    folder = str(Path(path).parent)
    clone = f'["git", "clone", "--depth", "1", "--branch", "{ref}", "https://github.com/{repo}", "/content/{name}"]'
    return f"""# Setup (run this first): on Google Colab, fetch the course and install what Colab lacks (nothing elsewhere).
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    if not os.path.isdir("/content/{name}"):
        subprocess.run({clone}, check=True)
    if not os.path.exists("/content/{name}/{DONE_MARKER}"):
        subprocess.run([sys.executable, "/content/{name}/scripts/colab_setup.py"], check=True)
    sys.path.insert(0, "/content/{name}")
    os.chdir("/content/{name}/{folder}")"""


def notebook_part(setup_source: str) -> str:
    """What follows the Colab block in a setup cell (``quiet.setup()``, the imports): everything after the
    block's last line, ``os.chdir(...)``; empty when the cell holds the block alone."""
    lines = setup_source.splitlines(keepends=True)
    last = next((k for k, line in enumerate(lines) if line.startswith("    os.chdir(")), None)
    if last is None or last + 1 == len(lines):
        return ""
    return "\n" + "".join(lines[last + 1 :])


def _find(notebook, tag: str):
    for index, cell in enumerate(notebook.cells):
        if tag in cell.metadata.get("tags", []):
            return index, cell
    return None, None


def with_headers(path: Path, repo: str, ref: str = BRANCH) -> tuple[str, str]:
    """``(current text, text with fresh header cells)`` of the notebook ``path``."""
    relative = path.resolve().relative_to(REPO_ROOT).as_posix()
    original = path.read_text(encoding="utf-8")
    notebook = nbformat.reads(original, as_version=4)
    wanted = [
        (BADGES_TAG, "markdown", badges_markdown(repo, relative, ref)),
        (INSTALL_TAG, "code", install_source(repo, relative, ref)),
    ]
    header = []
    for tag, kind, source in wanted:
        index, cell = _find(notebook, tag)
        if cell is None:
            cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
            cell.id = tag
            cell.metadata["tags"] = [tag]
        else:
            notebook.cells.pop(index)
            cell.source = source + notebook_part(cell.source)
        if kind == "code":
            cell.outputs, cell.execution_count = [], None
        header.append(cell)
    notebook.cells = header + notebook.cells
    return original, nbformat.writes(notebook) + "\n"


def refresh(path: Path, repo: str, ref: str = BRANCH) -> bool:
    """Insert or update the two header cells of ``path``; return whether the file changed."""
    original, text = with_headers(path, repo, ref)
    if text == original:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--all", action="store_true", help="every notebook in notebooks/ and notebooks/solutions/")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a header is missing or stale")
    parser.add_argument(
        "--ref",
        default=BRANCH,
        help=f"the branch or tag the badges open and the Colab cell clones (default {BRANCH}; a release: v2026.1)",
    )
    args = parser.parse_args(argv)
    notebooks = list(args.notebooks)
    if args.all:
        notebooks += sorted((REPO_ROOT / "notebooks").glob("*.ipynb")) + sorted(
            (REPO_ROOT / "notebooks" / "solutions").glob("*.ipynb")
        )
    if not notebooks:
        parser.error("give notebooks, or --all")
    repo, ref = repository(), check_ref(args.ref)
    stale = []
    for path in notebooks:
        if args.check:
            original, text = with_headers(path, repo, ref)
            if text != original:
                stale.append(str(path))
        elif refresh(path, repo, ref):
            print(f"updated {path}")
    if stale:
        print("headers missing or stale (run python scripts/notebook_headers.py on them):\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
