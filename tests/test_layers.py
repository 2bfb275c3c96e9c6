"""The folder says the layer, and the imports keep to it: every import of our own code (lazy ones in
function bodies included) points down the layers the package docstring draws; no two files import
each other, directly or round a loop; no module over 400 lines, no class over 150."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

SHARED = {"config", "contracts"}
BELOW_EDGES = SHARED | {"domain", "resources", "steps"}
# package of pipelines -> the packages it may import (itself always included)
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "contracts": set(),
    "domain": SHARED,
    "resources": SHARED,
    "steps": SHARED | {"domain", "resources"},
    "serving": BELOW_EDGES,
    "onboarding": BELOW_EDGES,
    "orchestration": BELOW_EDGES,
    "cli": BELOW_EDGES | {"serving", "onboarding"},  # the command line starts the other edges
    "__main__": {"cli"},
    "__init__": set(),
}
OUTSIDE = {"dags": BELOW_EDGES | {"orchestration"}, "plugins": SHARED}  # DAG files and the Airflow plugin
SOURCES = ("pipelines", "dags", "plugins", "scripts", "benchmarks")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted target) of every import in the file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def _layer(path: Path, root: Path) -> str:
    rel = path.relative_to(root).parts
    if rel[0] != "pipelines":
        return rel[0]
    return rel[1] if len(rel) > 2 else rel[1].removesuffix(".py")


def layer_violations(root: Path) -> list[str]:
    """Every import of `pipelines.<package>` that the importing file's layer may not make."""
    bad = []
    for top in ("pipelines", *OUTSIDE):
        for path in sorted((root / top).rglob("*.py")):
            me = _layer(path, root)
            allowed = (OUTSIDE[me] if me in OUTSIDE else ALLOWED[me]) | {me}
            for line, target in _imports(path):
                parts = target.split(".")
                if parts[0] != "pipelines" or len(parts) < 2:
                    continue
                if parts[1] not in allowed:
                    bad.append(f"{path.relative_to(root)}:{line} ({me}) imports {target} ({parts[1]})")
    return bad


def _module_file(root: Path, dotted: str) -> Path | None:
    """The repository file a dotted name resolves to: a module, a package's __init__, or None."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:n])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def import_graph(root: Path) -> dict[Path, set[Path]]:
    graph: dict[Path, set[Path]] = {}
    for top in SOURCES:
        for path in (root / top).rglob("*.py"):
            targets = set()
            for _, dotted in _imports(path):
                found = _module_file(root, dotted) or _module_file(path.parent, dotted)  # scripts import siblings
                if found is not None and found != path:
                    targets.add(found)
            graph[path] = targets
    return graph


def circles(graph: dict[Path, set[Path]]) -> list[list[Path]]:
    """Strongly connected sets of more than one file (Tarjan)."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    on: set[Path] = set()
    found: list[list[Path]] = []

    def visit(v: Path) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_imports_point_down_the_layers():
    assert layer_violations(REPO) == []


def test_the_check_fails_when_a_domain_module_imports_a_resource(tmp_path):
    for pkg in ("domain", "resources", "steps"):
        (tmp_path / "pipelines" / pkg).mkdir(parents=True)
    (tmp_path / "pipelines" / "resources" / "lake.py").write_text("class Lake: ...\n")
    (tmp_path / "pipelines" / "domain" / "rows.py").write_text(
        "def rows(uri):\n    from pipelines.resources.lake import Lake  # lazy: still an import\n    return Lake\n")
    (tmp_path / "pipelines" / "resources" / "alerts.py").write_text("from pipelines.steps import summary\n")
    (tmp_path / "pipelines" / "steps" / "extract.py").write_text("from pipelines.domain.rows import rows\nfrom pipelines.resources import lake\n")
    assert layer_violations(tmp_path) == [
        "pipelines/domain/rows.py:2 (domain) imports pipelines.resources.lake.Lake (resources)",
        "pipelines/resources/alerts.py:1 (resources) imports pipelines.steps.summary (steps)",
    ]


def test_no_import_circles_between_files():
    assert circles(import_graph(REPO)) == []


def test_the_circle_check_sees_a_lazy_circle(tmp_path):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "a.py").write_text("from pipelines.b import f\n")
    (tmp_path / "pipelines" / "b.py").write_text("def f():\n    from pipelines.a import g\n")
    (tmp_path / "pipelines" / "c.py").write_text("from pipelines.a import f\n")
    assert circles(import_graph(tmp_path)) == [[tmp_path / "pipelines" / "a.py", tmp_path / "pipelines" / "b.py"]]


@pytest.mark.parametrize("top", SOURCES)
def test_modules_and_classes_stay_small(top):
    big = []
    for path in sorted((REPO / top).rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > 400:
            big.append(f"{path.relative_to(REPO)}: {len(text.splitlines())} lines (module limit 400)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 150:
                big.append(f"{path.relative_to(REPO)}:{node.lineno} class {node.name}: {node.end_lineno - node.lineno + 1} lines (limit 150)")
    assert big == []
