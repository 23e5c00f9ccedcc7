"""The house rules of the two packages, checked on their source (fast, no TensorFlow).

``helpers/`` holds what the notebooks teach, ``course/`` the machinery that runs them (see their
``__init__`` docstrings). A maintainer should be able to hold each module in the head and see every
arrow between them:

- no import cycle among the modules of ``helpers`` and ``course``, counting imports inside functions;
- no module-level ``__getattr__`` (an attribute forwarded at run time is an arrow nobody sees);
- no module over 600 lines (split it by concept);
- no private name (``_name``) imported from, or reached into, another module;
- README.md at most 250 lines (the rest lives in docs/);
- at most 10 lines of measured figures in the packages' comments and docstrings (the measurements live
  in docs/benchmarks.md and docs/timings.json, made from the benchmark scripts' output).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("helpers", "course")
MAX_MODULE_LINES = 600
MAX_README_LINES = 250
MAX_FIGURE_LINES = 10

#: A measured figure: a number with a unit of time or memory ("12 s", "0.9 GB", "3 minutes"), or a
#: speed-up written as a factor ("1.8x", "2.8x faster"). Design constants written the same way count
#: too; the budget of MAX_FIGURE_LINES lines is for those.
FIGURE = re.compile(
    r"\b\d[\d,]*(?:\.\d+)?\s*(?:ms|s|sec|seconds?|min|minutes?|h|hours?|KB|MB|GB|KiB|MiB|GiB)\b"
    r"|\b\d+(?:\.\d+)?x\b",
)


def modules() -> dict[str, Path]:
    return {
        f"{package}.{path.stem}": path for package in PACKAGES for path in sorted((REPO_ROOT / package).glob("*.py"))
    }


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def project_imports(tree: ast.Module, known: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """``(module, names, line)`` of every import of a project module, at any depth (functions included)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in PACKAGES:  # from helpers import text, vocabulary
                for alias in node.names:
                    found.append((f"{node.module}.{alias.name}", [], node.lineno))
            elif node.module.split(".")[0] in PACKAGES:
                found.append((node.module, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    found.append((alias.name, [], node.lineno))
    return [(module, names, line) for module, names, line in found if module in known or module in PACKAGES]


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {module for module, _, _ in project_imports(parse(path), known) if module in known and module != name}
        for name, path in known.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each a cycle or several."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_the_modules_even_inside_functions():
    graph = import_graph()
    assert "course.run_folder" in graph and graph["course.run_folder"], "the graph is read from the source"
    assert cycles(graph) == []


def test_no_module_level_getattr():
    offenders = [
        name
        for name, path in modules().items()
        if any(isinstance(node, ast.FunctionDef) and node.name == "__getattr__" for node in parse(path).body)
    ]
    assert offenders == []


def test_no_module_over_600_lines():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_private_name_crosses_a_module():
    known = modules()
    offenders = []
    for name, path in known.items():
        tree = parse(path)
        aliases = {}  # local name -> project module, for "module._private"
        for module, names, line in project_imports(tree, known):
            offenders += [f"{name}:{line}: from {module} import {n}" for n in names if n.startswith("_")]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in PACKAGES:
                aliases.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                offenders.append(f"{name}:{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    assert offenders == []


def test_the_readme_is_a_page_a_newcomer_reads():
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move details to docs/"


def comment_and_docstring_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, text)`` of every comment line and docstring line of a module."""
    source = path.read_text(encoding="utf-8")
    lines = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            lines.append((token.start[0], token.string))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    start = body[0].lineno
                    lines += [(start + k, text) for k, text in enumerate(body[0].value.value.splitlines())]
    return lines


def figure_lines() -> list[str]:
    return [
        f"{path.relative_to(REPO_ROOT)}:{number}: {text.strip()}"
        for path in modules().values()
        for number, text in comment_and_docstring_lines(path)
        if FIGURE.search(text)
    ]


def test_the_figure_rule_sees_figures():
    assert FIGURE.search("an epoch is 1.8x faster") and FIGURE.search("peak 1.75 GB at 64 images")
    assert FIGURE.search("about 12 s per epoch") and FIGURE.search("it takes 3 minutes")
    assert not FIGURE.search("7 x 7 for MobileNetV2 at 224 px") and not FIGURE.search("3 seeds, 5 captions each")


def test_measured_figures_live_in_docs_not_in_the_packages():
    found = figure_lines()
    assert len(found) <= MAX_FIGURE_LINES, (
        f"{len(found)} lines of measured figures in helpers/ and course/ (at most {MAX_FIGURE_LINES}); "
        "move them to docs/benchmarks.md:\n" + "\n".join(found)
    )
