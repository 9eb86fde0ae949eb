"""The package layers (core -> ops/io/geometry -> sensors/models/viz -> sim/datasets -> detection/train -> cli)
hold, checked by import-linter with the contracts in pyproject.toml, and no two files import each other
through a cycle."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: import edges that close the cycles known when these checks were written; each goes away with the change
#: named beside it, and then its entry here must go too (the test fails on an entry that matches nothing)
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def test_import_contracts_hold():
    """`lint-imports` with this checkout's pyproject.toml: every contract kept."""
    pytest.importorskip("importlinter", reason="import-linter is in the 'test' extras")
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    proc = subprocess.run([sys.executable, "-c", code, "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "0 broken" in out and "KEPT" in out, out


def _import_graph() -> dict[str, set[str]]:
    """{module: modules of depth3d it imports (at module level or inside functions)} for this checkout."""
    pytest.importorskip("grimp", reason="grimp comes with import-linter ('test' extras)")
    # built in a subprocess whose path starts with this checkout, so it is this depth3d, not an installed one
    code = ("import json, grimp; g = grimp.build_graph('depth3d', cache_dir=None); "
            "print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) for m in g.modules}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {m: set(v) for m, v in json.loads(proc.stdout).items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_cycle():
    """The checker itself: a three-module loop and a two-module loop are found, a chain is not."""
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d", "f"}, "f": set(), "g": {"a"}}
    assert sorted(_cycles(g)) == [["a", "b", "c"], ["d", "e"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles_between_files():
    graph = _import_graph()
    assert "depth3d.core.source" in graph and "depth3d.cli" in graph
    for a, b in KNOWN_CYCLE_EDGES:
        assert b in graph.get(a, set()), f"{a} no longer imports {b}: delete it from KNOWN_CYCLE_EDGES"
        graph[a].discard(b)
    cycles = _cycles(graph)
    assert cycles == [], "import cycles between files:\n" + "\n".join(" -> ".join(c) for c in cycles)
