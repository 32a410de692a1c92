"""The import graph of the ``jaxnas`` package: no cycles, and the space-agnostic layers never name
NAS-Bench-201 (issue 14: a search space is a registered plug-in).

Imports are read with :mod:`ast` from every module, including imports inside functions (they run
too, only later), so a cycle hidden behind a function-level import still counts. Nothing is
imported or executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "jaxnas"

#: modules that name a specific space or benchmark; the agnostic layers must not import them
NB201_MODULES = frozenset({"jaxnas.spaces.nb201", "jaxnas.benchmarks.nb201", "jaxnas.models.nb201"})
#: packages that must work for any registered space
AGNOSTIC = ("jaxnas.search", "jaxnas.analysis", "jaxnas.darts", "jaxnas.selection", "jaxnas.train")
#: packages whose clean-up is this branch's job: never on the offender list
OWN = ("jaxnas.analysis.landscape", "jaxnas.analysis.theory", "jaxnas.analysis.synthetic",
       "jaxnas.reports")

#: (importer, imported) pairs outside OWN still to be fixed on other branches (issue 14). Printed
#: by the test; empty this set at merge time, when the test then checks every agnostic package.
KNOWN_OFFENDERS: frozenset[tuple[str, str]] = frozenset()

#: import cycles tolerated for now, each as its set of modules (none: keep it empty).
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The ``jaxnas`` modules ``name`` imports anywhere in its body (top level or in functions).

    ``from a.b import c`` is an import of ``a.b.c`` when that is a module, else of ``a.b``;
    relative imports are resolved against the module's package.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            # `import a.b.c` binds the deepest module that exists in the package
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t.startswith("jaxnas") and t != name:
                out.add(t)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = all_modules()
    names = set(mods)
    return {m: imports_of(m, p, names) for m, p in mods.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through every strongly connected component with more than one module
    (Tarjan), each as a closed path ``[a, b, ..., a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    sccs: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for comp in sccs:
        members = set(comp)
        # shortest path back to the start inside the component (BFS)
        start = comp[0]
        prev = {start: None}
        frontier = [start]
        found = None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & members):
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path = [start]
        v = found
        while v is not None:
            path.append(v)
            v = prev[v]
        cycles.append([*reversed(path[1:]), start])  # path = [start, found, ..., start]
    return cycles


def nb201_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(m, t) for m, ts in graph.items() for t in ts
            if t in NB201_MODULES and any(m == p or m.startswith(p + ".") for p in AGNOSTIC)}


# ---- the oracle of the helpers above ------------------------------------------------------


def test_find_cycles_on_small_graphs():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    two = find_cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}})
    assert sorted(two) == [["a", "b", "a"], ["c", "d", "c"]]
    assert find_cycles({"a": {"b", "c"}, "b": {"c"}, "c": {"b"}}) == [["b", "c", "b"]]


def test_imports_are_read_from_function_bodies():
    graph = import_graph()
    assert len(graph) > 30, sorted(graph)
    # a top-level edge
    assert "jaxnas.analysis.theory" in graph["jaxnas.analysis.synthetic"]
    # cli modules import the library inside run(): function-level edges must be seen
    assert "jaxnas.reports.landscape" in graph["jaxnas.cli.landscape"]
    assert "jaxnas.analysis.synthetic" in graph["jaxnas.cli.theory"]


# ---- the checks ---------------------------------------------------------------------------


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    known = [c for c in cycles if frozenset(c) in KNOWN_CYCLES]
    if known:
        print("KNOWN_CYCLES still present (outside this branch):")
        for c in known:
            print("  " + " -> ".join(c))
    new = [c for c in cycles if frozenset(c) not in KNOWN_CYCLES]
    assert not new, "import cycles: " + "; ".join(" -> ".join(c) for c in new)
    own = [c for c in cycles if any(m.startswith(OWN) for m in c)]
    assert not own, "import cycles through analysis/reports: " + "; ".join(
        " -> ".join(c) for c in own)


def test_agnostic_packages_do_not_import_nb201():
    found = nb201_imports(import_graph())
    own = {(m, t) for m, t in found if any(m == p or m.startswith(p + ".") for p in OWN)}
    assert not own, f"landscape/theory/synthetic import NAS-Bench-201 modules: {sorted(own)}"
    assert not [m for m, _ in KNOWN_OFFENDERS if m.startswith(OWN)], "OWN modules may not be excused"
    known = found & KNOWN_OFFENDERS
    if known:
        print("KNOWN_OFFENDERS still importing NAS-Bench-201 (issue 14, other branches):")
        for m, t in sorted(known):
            print(f"  {m} -> {t}")
    new = found - KNOWN_OFFENDERS
    assert not new, (f"new imports of NAS-Bench-201 modules from space-agnostic packages: "
                     f"{sorted(new)}; take a space/Table argument instead")


def test_known_offenders_are_current():
    """An entry fixed on another branch must leave the list, so the list stays the to-do."""
    stale = KNOWN_OFFENDERS - nb201_imports(import_graph())
    if stale:
        pytest.fail(f"KNOWN_OFFENDERS lists imports that no longer exist: {sorted(stale)}; "
                    "remove them")
