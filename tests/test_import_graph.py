"""The package's import graph: no cycle, and no module imports another module's private (``_``) name.

Imports under ``if TYPE_CHECKING:`` never run and are left out; lazy imports inside functions count (a cycle
hidden in a function is still a cycle)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vidalign"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], list[str]]:
    """Modules of the package that ``name`` imports, and the private names it imports from other modules."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    targets, private = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                targets.add(full if full in modules else source)
                if alias.name.startswith("_") and full not in modules and source.startswith("vidalign"):
                    private.append(f"{name} imports {alias.name} from {source}")
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {t for t in targets if t in modules and t != name}, private


def test_no_import_cycle_and_no_private_name_crosses_a_module():
    modules = _modules()
    graph, private = {}, []
    for name, path in modules.items():
        graph[name], found = _imports(name, path, modules)
        private += found
    assert not private, private
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != "open", "import cycle: " + " -> ".join(trail[trail.index(nxt) :] + [nxt])
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert len(graph) > 50  # the walk saw the package


def test_the_check_sees_a_cycle_and_a_private_import(tmp_path, monkeypatch):
    """The check itself can fail: a two-module cycle with a private name, written to a scratch package."""
    package = tmp_path / "vidalign"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from vidalign.b import _secret\n")
    (package / "b.py").write_text("def f():\n    from vidalign import a\n_secret = 1\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["vidalign.a"][1] == ["vidalign.a imports _secret from vidalign.b"]
    assert "vidalign.b" in graph["vidalign.a"][0] and "vidalign.a" in graph["vidalign.b"][0]
