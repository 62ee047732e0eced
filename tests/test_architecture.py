"""The package's structure: dependencies point one way, down, and there are no import circles.

Layers, top to bottom: ``book`` -> ``experiments`` -> ``compression`` / ``training`` -> ``metrics`` / ``data`` /
``models`` -> ``config`` / ``fileio``. The methods (models, training, compression, metrics) never import the book's
protocol (experiments, book) nor its profiles, tasks or results I/O.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import ramancmp

PACKAGE = Path(ramancmp.__file__).parent

# what each part of the package may import from ramancmp (besides itself)
ALLOWED = {
    "fileio": set(),
    "config": set(),
    "data": {"config", "fileio"},
    "models": set(),
    "metrics": {"models"},
    "training": {"models", "fileio"},
    "compression": {"models", "training", "metrics", "fileio"},
    "plots": set(),
    "experiments": {"config", "fileio", "data", "models", "metrics", "training", "compression"},
    "predict": {"config", "fileio", "data", "models", "training"},
    "book": {"config", "fileio", "data", "models", "metrics", "training", "compression", "experiments", "plots",
             "navigation"},
    "cli": {"config", "data", "experiments", "book", "predict", "fileio", "navigation"},
    "navigation": {"config"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str) -> list[tuple[str, bool]]:
    """(imported ramancmp module, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ramancmp"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("ramancmp")]
        for name in names:
            found.append((name, id(node) in top_level))
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_parts_import_only_the_layers_below_them():
    modules = _modules()
    bad = []
    for module, path in modules.items():
        part = _part(module)
        if not part or part in ("__main__",):
            continue
        for name, _ in _imports(path, module):
            target = _part(name)
            if name not in modules or target in ("", part):
                continue
            if target not in ALLOWED.get(part, set()):
                bad.append(f"{module} imports {name}")
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(set(bad)))


def test_methods_never_touch_profiles_tasks_or_results():
    forbidden = ("Profile", "get_profile", "PROFILES", "load_task", "save_result", "load_result", "results_dir",
                 "checkpoints_dir", "BOOK_MODELS")
    bad = []
    for module, path in _modules().items():
        if _part(module) in ("models", "training", "compression", "metrics"):
            text = path.read_text(encoding="utf-8")
            bad += [f"{module} uses {word}" for word in forbidden if f"import {word}" in text or f" {word}," in
                    text.split('"""', 2)[-1] and f"{word}(" in text]
    assert not bad, bad


def test_no_import_cycles_and_no_function_level_imports_of_the_package():
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    deferred = []
    for module, path in modules.items():
        for name, top in _imports(path, module):
            target = name if name in modules else name.rsplit(".", 1)[0]
            if target not in modules or target == module:
                continue
            if not top:
                deferred.append(f"{module} -> {target}")
            graph[module].add(target)
    # a package's __init__ importing its own submodules is the normal way to build its namespace
    for module in list(graph):
        graph[module] = {t for t in graph[module] if not (module and t.startswith(module + "."))}
    allowed_deferred = {"ramancmp.cli"}  # each sub-command loads its part lazily (data works without torch)
    deferred = [d for d in deferred if d.split(" ->")[0] not in allowed_deferred]
    # predict's library search must not import torch or scikit-learn: the network parts load on demand
    deferred = [d for d in deferred if not (d.startswith("ramancmp.predict -> ") and
                                            d.split(" -> ")[1].startswith(("ramancmp.training", "ramancmp.models")))]
    assert not deferred, "function-level imports of the package's own modules:\n" + "\n".join(sorted(deferred))

    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]) if nxt in stack else nxt)
            elif state.get(nxt) is None:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    # a submodule importing a sibling through its package's __init__ is not a cycle of the layering
    cycles = [c for c in cycles if not all(p.startswith(c.split(" -> ")[0].rsplit(".", 1)[0]) for p in c.split(" -> "))]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
