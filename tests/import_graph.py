"""The package's import graph, read from the source (every ``import``, at module level or inside
a function, ``TYPE_CHECKING`` blocks included), and the module map drawn from it.

``tests/test_layering.py`` fails on a circle. Run it by hand for the map and the circles:

    python tests/import_graph.py            # the module map, room by room, and the circles
    python tests/import_graph.py --edges    # every import edge between migdoc's modules
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import networkx as nx

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "migdoc"


def module_files(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Dotted module name -> its file, for every module of the package (``__init__`` as the package)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules ``name`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(_nearest_module(alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, is_package, node)
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in modules else _nearest_module(target, modules))
    found.discard("")
    found.discard(name)
    return found


def _nearest_module(dotted: str, modules: set[str]) -> str:
    while dotted and dotted not in modules:
        dotted = dotted.rpartition(".")[0]
    return dotted


def import_graph(root: Path = PACKAGE_ROOT) -> nx.DiGraph:
    """An edge ``a -> b`` for every import of ``b`` in ``a``. A package's own ``__init__`` is not an
    edge of its modules (Python runs it first anyway) unless the module names it."""
    files = module_files(root)
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for name, path in files.items():
        for target in imported_modules(name, path, set(files)):
            if target.startswith("migdoc"):
                graph.add_edge(name, target)
    return graph


def circles(graph: nx.DiGraph) -> list[list[str]]:
    """Every group of modules that import each other, directly or round a loop."""
    return sorted(sorted(group) for group in nx.strongly_connected_components(graph) if len(group) > 1)


def module_map(root: Path = PACKAGE_ROOT) -> str:
    """Room -> its modules, each with the first line of its docstring."""
    lines = []
    files = module_files(root)
    rooms: dict[str, list[str]] = {}
    for name, path in files.items():
        room = name.rpartition(".")[0] if path.name != "__init__.py" else name
        rooms.setdefault(room if room != "" else name, []).append(name)
    for room in sorted(rooms):
        lines.append(f"{room}/" if room != "migdoc" else "migdoc/ (top level)")
        for name in sorted(rooms[room]):
            docstring = ast.get_docstring(ast.parse(files[name].read_text())) or ""
            first = docstring.strip().splitlines()[0] if docstring.strip() else ""
            lines.append(f"  {name.rpartition('.')[2]:<22} {len(files[name].read_text().splitlines()):>5}  {first}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    graph = import_graph()
    if "--edges" in argv:
        for source, target in sorted(graph.edges):
            print(f"{source} -> {target}")
        return 0
    print(module_map())
    found = circles(graph)
    print(f"\n{len(graph)} modules, {graph.number_of_edges()} import edges, {len(found)} circle(s)")
    for group in found:
        print("  circle: " + " <-> ".join(group))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
