"""The import graph keeps the architecture: no circles, no private names across modules, `solver` reaches
`costmodel` only through its front door, `costmodel` never imports `solver`, and the solver core imports neither
the CLI nor the web app. Read from the source with `ast` (every import counts: module level, inside functions and
under TYPE_CHECKING alike, since each is a dependency)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("costmodel", "solver")
UI = ("solver.cli", "solver.web")  # the layers a user drives; nothing in the solver core may import them


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            parts = p.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = _modules()


def _imports(name: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import in one module, relative ones resolved;
    `from pkg import sub` where pkg.sub is a module counts as importing that module."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub, None, node.lineno) if sub in MODULES else (base, a.name, node.lineno))
    return [i for i in out if i[0].split(".")[0] in PACKAGES]


GRAPH = {m: _imports(m) for m in MODULES}


def _where(m: str, line: int) -> str:
    return f"{MODULES[m].relative_to(ROOT)}:{line}"


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    edges = {m: sorted({t for t, _, _ in GRAPH[m] if t in MODULES and t != m}) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
                found.append(sorted(comp))

    for m in MODULES:
        if m not in index:
            visit(m)
    return found


def test_no_import_circle():
    assert _cycles() == []


def test_no_private_name_imported_across_modules():
    bad = [
        f"{_where(m, line)} imports {name} from {t}"
        for m in MODULES
        for t, name, line in GRAPH[m]
        if (name and name.startswith("_") and not name.startswith("__"))
        or any(part.startswith("_") and not part.startswith("__") for part in t.split("."))
    ]
    assert bad == []


def test_costmodel_never_imports_solver():
    bad = [
        f"{_where(m, line)} imports {t}"
        for m in MODULES
        if m.startswith("costmodel")
        for t, _, line in GRAPH[m]
        if t.split(".")[0] == "solver"
    ]
    assert bad == []


def test_solver_reaches_costmodel_only_through_its_public_api():
    import costmodel

    public = set(costmodel.__all__)
    bad = [
        f"{_where(m, line)} imports {t}" + (f".{name}" if name else "")
        for m in MODULES
        if m.startswith("solver")
        for t, name, line in GRAPH[m]
        if t.split(".")[0] == "costmodel" and (t != "costmodel" or name not in public)
    ]
    assert bad == []


def test_costmodel_internals_do_not_use_their_own_front_door():
    bad = [
        f"{_where(m, line)} imports costmodel.{name}"
        for m in MODULES
        if m.startswith("costmodel.")
        for t, name, line in GRAPH[m]
        if t == "costmodel" and name
    ]
    assert bad == []


def test_solver_core_imports_neither_cli_nor_web():
    def ui(m: str) -> bool:
        return any(m == u or m.startswith(u + ".") for u in UI)

    bad = [f"{_where(m, line)} imports {t}" for m in MODULES if not ui(m) for t, _, line in GRAPH[m] if ui(t)]
    assert bad == []


@pytest.mark.parametrize("name", sorted(importlib.import_module("costmodel").__all__))
def test_every_public_name_resolves(name):
    import costmodel

    assert getattr(costmodel, name) is not None


def test_public_table_and_type_checking_imports_agree():
    """costmodel/__init__.py lists each public name twice (the lazy lookup and the imports type checkers read)."""
    import costmodel

    tree = ast.parse(MODULES["costmodel"].read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    typed = {
        (a.asname or a.name): (imp.module.removeprefix("costmodel."), a.name)
        for imp in block.body
        if isinstance(imp, ast.ImportFrom)
        for a in imp.names
    }
    assert typed == costmodel._PUBLIC


def test_no_public_name_is_also_a_submodule():
    """Importing costmodel.X binds the module as the package's attribute X, which then hides a public name X from
    the lazy lookup: `from costmodel import X` would return the module after X's first import."""
    import costmodel

    submodules = {p.stem for p in (ROOT / "costmodel").iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert sorted(set(costmodel.__all__) & submodules) == []


def test_front_door_loads_no_numerical_library():
    """`import costmodel` alone stays cheap (the CLI's --help imports nothing heavier)."""
    import subprocess
    import sys

    code = "import sys, costmodel; print(sorted(m for m in ('numpy', 'scipy', 'costmodel.build') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
