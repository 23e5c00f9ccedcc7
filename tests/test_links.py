"""Badges and links: every notebook opens itself on Binder and Colab, and every relative link, badge target and
image in README.md, docs/ and the notebooks points at something that exists in the repository."""

import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from course import paths

REPO_ROOT = paths.REPO_ROOT
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import notebook_headers  # noqa: E402

REPO = notebook_headers.repository()
NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")) + sorted((paths.NOTEBOOKS_DIR / "solutions").glob("*.ipynb"))
MARKDOWN_FILES = [
    REPO_ROOT / "README.md",
    *sorted((REPO_ROOT / "docs").glob("*.md")),
    *sorted((REPO_ROOT / "data").glob("**/README.md")),
]
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target) and ![alt](target)
HTML_LINK = re.compile(r"""(?:href|src)=["']([^"']+)["']""")


def markdown_sources():
    for path in MARKDOWN_FILES:
        yield path, path.read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                yield path, cell.source


def links(text):
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks are not links
    return LINK.findall(text) + HTML_LINK.findall(text)


def target_problem(source: Path, target: str) -> str | None:
    """Why ``target`` (found in ``source``) points at nothing in the repository, or None."""
    parts = urlsplit(target)
    if parts.scheme in ("http", "https"):
        host, path = parts.netloc, unquote(parts.path)
        if host == "mybinder.org" and path.startswith("/v2/gh/"):
            repo = "/".join(path.split("/")[3:5])
            labpath = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("labpath", "")
            inside = unquote(labpath)
        elif host == "colab.research.google.com" and path.startswith("/github/"):
            pieces = path.split("/")
            repo, inside = "/".join(pieces[2:4]), "/".join(pieces[6:])
        elif host == "github.com" and path.count("/") >= 2:
            pieces = path.split("/")
            repo, inside = "/".join(pieces[1:3]), "/".join(pieces[5:])
            if pieces[3:5] == ["actions", "workflows"]:  # a workflow's page or badge: the workflow file
                inside = ".github/workflows/" + pieces[5] if len(pieces) > 5 else ""
        else:
            return None  # another site: not checked here (no network)
        if repo != REPO:
            return f"{target}: repository {repo}, but pyproject.toml names {REPO}"
        if inside and not (REPO_ROOT / inside).exists():
            return f"{target}: {inside} does not exist in the repository"
        return None
    if parts.scheme or target.startswith("#"):
        return None  # mailto:, anchors in the same page
    relative = unquote(parts.path)
    if not relative:
        return None
    if not (source.parent / relative).exists():
        return f"{target}: {(source.parent / relative).resolve()} does not exist"
    return None


def test_links_are_found_in_badges_and_plain_markdown():
    badge = notebook_headers.badges_markdown(REPO, "notebooks/00_start_here.ipynb")
    found = links(badge + " [a](docs/x.md) ![b](img.png) <img src='c.png'>")
    assert found[1].startswith("https://mybinder.org/v2/gh/") and found[3].startswith("https://colab")
    assert found[-3:] == ["docs/x.md", "img.png", "c.png"]
    assert target_problem(REPO_ROOT / "README.md", "notebooks/nothing.ipynb")
    assert target_problem(REPO_ROOT / "README.md", notebook_headers.colab_url(REPO, "notebooks/nothing.ipynb"))
    assert target_problem(REPO_ROOT / "README.md", notebook_headers.binder_url("someone/else", "README.md"))
    assert target_problem(REPO_ROOT / "README.md", notebook_headers.binder_url(REPO, "README.md")) is None


@pytest.mark.parametrize("source", [p for p in MARKDOWN_FILES + NOTEBOOKS], ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_link_points_at_something_that_exists(source):
    problems = [
        problem
        for path, text in markdown_sources()
        if path == source
        for target in links(text)
        if (problem := target_problem(path, target))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_notebook_opens_itself_on_binder_and_colab(path):
    relative = path.relative_to(REPO_ROOT).as_posix()
    hint = f"run: python scripts/notebook_headers.py {relative}"
    cells = nbformat.read(path, as_version=4).cells
    badges = [c for c in cells if "badges" in c.metadata.get("tags", [])]
    assert len(badges) == 1 and cells[0] is badges[0], f"{relative}: no badge cell at the top; {hint}"
    targets = links(badges[0].source)
    assert notebook_headers.binder_url(REPO, relative) in targets, f"{relative}: Binder badge is not its own; {hint}"
    assert notebook_headers.colab_url(REPO, relative) in targets, f"{relative}: Colab badge is not its own; {hint}"
    first_code = next(c for c in cells if c.cell_type == "code")
    assert "colab-install" in first_code.metadata.get("tags", []), (
        f"{relative}: the Colab install cell must come first; {hint}"
    )
    assert first_code.source.startswith(notebook_headers.install_source(REPO, relative) + "\n"), (
        f"{relative}: stale Colab cell; {hint}"
    )
    assert first_code.source.startswith("# Setup (run this first):"), f"{relative}: the setup cell says so first"
    assert "quiet.setup()" in first_code.source, f"{relative}: the setup cell quiets TensorFlow before it imports"
    assert sum("quiet.setup()" in c.source for c in cells if c.cell_type == "code") == 1, f"{relative}: one setup"


def test_the_colab_cell_does_nothing_outside_colab():
    namespace: dict = {}
    before = Path.cwd()
    exec(notebook_headers.install_source(REPO, "notebooks/00_start_here.ipynb"), namespace)
    assert Path.cwd() == before and "/content/" not in " ".join(sys.path)


def test_the_header_script_is_idempotent_and_keeps_everything_else(tmp_path, monkeypatch):
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1")]
    )
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    folder = tmp_path / "notebooks"
    folder.mkdir()
    path = folder / "42_test.ipynb"
    nbformat.write(notebook, path)
    monkeypatch.setattr(notebook_headers, "REPO_ROOT", tmp_path)
    assert notebook_headers.refresh(path, REPO) is True
    once = path.read_text()
    assert notebook_headers.refresh(path, REPO) is False and path.read_text() == once
    cells = nbformat.read(path, as_version=4).cells
    assert [c.metadata.get("tags") for c in cells[:2]] == [["badges"], ["colab-install"]]
    assert [c.source for c in cells[2:]] == ["# Title", "x = 1"]
    assert "notebooks%2F42_test.ipynb" in cells[0].source
    # A fork: another repository in pyproject.toml refreshes the cells in place.
    assert notebook_headers.refresh(path, "someone/fork") is True
    cells = nbformat.read(path, as_version=4).cells
    assert len(cells) == 4 and "someone/fork" in cells[0].source and "someone/fork" in cells[1].source


def test_the_repository_is_named_once_in_pyproject():
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", REPO)
    for path in [*NOTEBOOKS, *MARKDOWN_FILES]:
        text = path.read_text(encoding="utf-8")
        for other in set(
            re.findall(r"(?:mybinder\.org/v2/gh|colab\.research\.google\.com/github)/([\w.-]+/[\w.-]+)", text)
        ):
            assert other == REPO, f"{path}: names {other}, pyproject.toml names {REPO}"
