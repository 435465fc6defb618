"""Lint, format, types and the layering of the package are gates: the suite fails when any slips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "cmd",
    [
        ("ruff", "check", "scoring", "tests", "bench"),
        ("ruff", "format", "--check", "scoring", "tests", "bench"),
        ("mypy",),
        ("lint-imports",),
    ],
    ids=["ruff-check", "ruff-format", "mypy", "import-contract"],
)
def test_gate_is_clean(cmd):
    res = _run(str(BIN / cmd[0]), *cmd[1:])
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stdout[-6000:]}\n{res.stderr[-2000:]}"


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.find_modules_directly_imported_by(v) & modules):
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
                out.append(sorted(comp))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return out


def test_no_import_circles():
    graph = grimp.build_graph("scoring", exclude_type_checking_imports=True)
    modules = {m for m in graph.modules if m.startswith("scoring")}
    assert _cycles(graph, modules) == []


def test_cycle_finder_finds_a_planted_circle():
    graph = grimp.ImportGraph()
    for m in ("p.a", "p.b", "p.c"):
        graph.add_module(m)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph, {"p.a", "p.b", "p.c"}) == [["p.a", "p.b"]]


def test_every_subpackage_declares_its_public_names():
    import importlib

    for pkg in sorted(p.parent for p in (ROOT / "scoring").glob("*/__init__.py")):
        mod = importlib.import_module(f"scoring.{pkg.name}")
        assert isinstance(getattr(mod, "__all__", None), list), f"scoring.{pkg.name} has no __all__"
        for name in mod.__all__:
            assert getattr(mod, name) is not None
    assert (ROOT / "scoring" / "py.typed").exists()
