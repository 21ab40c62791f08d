"""Architecture rules (DESIGN.md), checked statically with ``ast``.

The scanned sources are the packages ``spatial/``, ``layers/``,
``flood_model/``, ``data/``, ``views/`` and the module ``app.py``.

* The core (``spatial``, ``layers``, ``flood_model``) never imports the
  presentation/demo side (``data``, ``app``, ``views``, ``panel``, ``bokeh``),
  not even lazily inside a function.
* ``layers`` and ``flood_model`` stay pure: they do not import ``spatial``.
* No module imports a private (single underscore) name of another module, and
  a private module ``pkg/_x.py`` is imported only by modules of ``pkg/``.
* Packages do not depend on each other in a cycle.
* Routers and CLI commands are registered as objects, never by import string
  (no ``importlib.import_module``/``__import__``, no ``uvicorn.run("m:app")``).

Every import is considered, wherever it sits in the file (function bodies,
``if TYPE_CHECKING:`` blocks, ``try:`` blocks).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("spatial", "layers", "flood_model", "data", "views")
MODULES = ("app.py",)
CORE = ("spatial", "layers", "flood_model")
OUTSIDE_CORE = frozenset({"data", "app", "views", "panel", "bokeh"})
PURE = ("layers", "flood_model")


# --------------------------------------------------------------------------- #
# Source model
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Module:
    path: Path  # absolute
    rel: str  # path relative to the project root, for messages
    name: str  # dotted module name ("spatial.db.engine", "spatial.db", "app")
    is_package: bool  # an __init__.py

    @property
    def package(self) -> str:
        """The package whose directory holds this file ("app" for app.py)."""
        if self.is_package:
            return self.name
        return self.name.rpartition(".")[0] or self.name


@dataclass(frozen=True)
class Import:
    module: Module  # the importing module
    lineno: int
    target: str  # absolute dotted name of the imported module/package
    name: str | None  # for ``from target import name``: the imported name
    resolved: str  # the module the import brings in (target.name when it is a module)


def _module_for(path: Path, root: Path) -> Module:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    rel = path.relative_to(root).as_posix()
    return Module(path=path, rel=rel, name=".".join(parts), is_package=is_package)


def discover(root: Path = ROOT) -> list[Module]:
    files: list[Path] = []
    for pkg in PACKAGES:
        files.extend(sorted((root / pkg).rglob("*.py")))
    files.extend(root / m for m in MODULES)
    return [_module_for(f, root) for f in files if f.is_file()]


@cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(module: Module, known: frozenset[str]) -> Iterator[Import]:
    """Every import statement of ``module`` (anywhere in the file)."""
    for node in ast.walk(_parse(module.path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name, None, alias.name)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                resolved = sub if sub in known else target
                yield Import(module, node.lineno, target, alias.name, resolved)


@cache
def _project() -> tuple[tuple[Module, ...], frozenset[str]]:
    mods = tuple(discover())
    return mods, frozenset(m.name for m in mods)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _fmt(lines: Iterable[str]) -> str:
    return "\n  " + "\n  ".join(lines)


# --------------------------------------------------------------------------- #
# 1. Dependency direction
# --------------------------------------------------------------------------- #


def core_violations(modules: Iterable[Module], known: frozenset[str]) -> list[str]:
    out = []
    for mod in modules:
        if mod.name.split(".")[0] not in CORE:
            continue
        for imp in imports(mod, known):
            top = imp.resolved.split(".")[0]
            if top in OUTSIDE_CORE:
                out.append(f"{mod.rel}:{imp.lineno}: imports {imp.resolved}")
    return sorted(out)


def pure_violations(modules: Iterable[Module], known: frozenset[str]) -> list[str]:
    out = []
    for mod in modules:
        if mod.name.split(".")[0] not in PURE:
            continue
        for imp in imports(mod, known):
            if imp.resolved.split(".")[0] == "spatial":
                out.append(f"{mod.rel}:{imp.lineno}: imports {imp.resolved}")
    return sorted(out)


def test_core_does_not_import_data_app_views_or_panel() -> None:
    modules, known = _project()
    assert {m.name.split(".")[0] for m in modules} >= set(CORE), "core packages not found"
    bad = core_violations(modules, known)
    assert not bad, (
        "the core (spatial, layers, flood_model) must not import "
        f"{sorted(OUTSIDE_CORE)}, not even inside a function:{_fmt(bad)}"
    )


def test_pure_packages_do_not_import_spatial() -> None:
    modules, known = _project()
    bad = pure_violations(modules, known)
    assert not bad, f"layers/ and flood_model/ must not import spatial:{_fmt(bad)}"


# --------------------------------------------------------------------------- #
# 2. Private names and private modules
# --------------------------------------------------------------------------- #


def private_violations(modules: Iterable[Module], known: frozenset[str]) -> list[str]:
    out = []
    for mod in modules:
        for imp in imports(mod, known):
            # a private module anywhere on the imported path: pkg/_x.py is for pkg/ only
            parts = imp.resolved.split(".")
            for i, part in enumerate(parts):
                if not _is_private(part):
                    continue
                owner = ".".join(parts[:i])  # the package whose directory holds it
                if mod.package != owner:
                    out.append(
                        f"{mod.rel}:{imp.lineno}: imports private module {'.'.join(parts[: i + 1])}"
                        f" (only modules directly in {owner or '<root>'}/ may)"
                    )
                break
            # a private name taken out of another module
            if imp.name is not None and imp.resolved == imp.target and _is_private(imp.name):
                out.append(f"{mod.rel}:{imp.lineno}: imports private name {imp.name} from {imp.target}")
    return sorted(out)


def test_no_private_imports_across_modules() -> None:
    modules, known = _project()
    bad = private_violations(modules, known)
    assert not bad, (
        "private (_name) functions/classes are not imported by other modules, and a "
        f"private module pkg/_x.py is imported only from pkg/; make them public:{_fmt(bad)}"
    )


# --------------------------------------------------------------------------- #
# 3. No package cycles
# --------------------------------------------------------------------------- #


def _node(name: str, nodes: frozenset[str]) -> str | None:
    """The package node a dotted module name belongs to (longest prefix)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in nodes:
            return cand
    return None


def package_graph(modules: Iterable[Module], known: frozenset[str]) -> dict[str, dict[str, list[str]]]:
    """node -> {other node -> ["file:line", ...]} for cross-package imports."""
    modules = list(modules)
    nodes = frozenset(m.package for m in modules)
    graph: dict[str, dict[str, list[str]]] = {n: {} for n in nodes}
    for mod in modules:
        for imp in imports(mod, known):
            dst = _node(imp.resolved, nodes)
            if dst is None or dst == mod.package:
                continue
            where = graph[mod.package].setdefault(dst, [])
            if f"{mod.rel}:{imp.lineno}" not in where:
                where.append(f"{mod.rel}:{imp.lineno}")
    return graph


def strongly_connected(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Tarjan's SCC (iterative), components with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    sccs: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
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
                        sccs.append(sorted(comp))
    return sorted(sccs)


def cycle_report(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    out = []
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if a < b and a in graph.get(b, {}):
                out.append(
                    f"{a} <-> {b}: {a} -> {b} at {', '.join(graph[a][b])}; {b} -> {a} at {', '.join(graph[b][a])}"
                )
    for comp in strongly_connected(graph):
        if len(comp) == 2:  # already listed as a pair above
            continue
        members = set(comp)
        edges = [f"{a} -> {b} at {', '.join(graph[a][b])}" for a in comp for b in sorted(graph[a]) if b in members]
        out.append(f"cycle among {{{', '.join(comp)}}}:" + "".join(f"\n      {e}" for e in edges))
    return out


def test_no_import_cycles_between_packages() -> None:
    modules, known = _project()
    graph = package_graph(modules, known)
    assert {"spatial", "spatial.db", "layers", "app"} <= set(graph), sorted(graph)
    bad = cycle_report(graph)
    assert not bad, (
        "packages must not import each other, directly (A <-> B) or through a longer cycle; "
        f"edges are listed with the file:line of each import:{_fmt(bad)}"
    )


# --------------------------------------------------------------------------- #
# 4. Registries hold objects, not import strings
# --------------------------------------------------------------------------- #

IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(.*\))?$")
DYNAMIC_SCOPE = ("spatial",)
DYNAMIC_MODULES = ("app",)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def dynamic_import_violations(modules: Iterable[Module]) -> list[str]:
    out = []
    for mod in modules:
        if mod.name.split(".")[0] not in DYNAMIC_SCOPE and mod.name not in DYNAMIC_MODULES:
            continue
        tree = _parse(mod.path)
        # local aliases of importlib.import_module / uvicorn and its entry points
        importers = {"importlib.import_module", "__import__", "builtins.__import__"}
        uvicorn = {"uvicorn.run", "uvicorn.Config"}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "importlib":
                importers |= {a.asname or a.name for a in node.names if a.name == "import_module"}
            elif isinstance(node, ast.ImportFrom) and node.module == "uvicorn":
                uvicorn |= {a.asname or a.name for a in node.names if a.name in {"run", "Config"}}
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "importlib" and a.asname:
                        importers.add(f"{a.asname}.import_module")
                    if a.name == "uvicorn" and a.asname:
                        uvicorn |= {f"{a.asname}.run", f"{a.asname}.Config"}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = _dotted(node.func)
            if func in importers:
                out.append(f"{mod.rel}:{node.lineno}: {func}() imports by string")
                continue
            if func in uvicorn:
                args = [*node.args[:1], *(k.value for k in node.keywords if k.arg in {"app", "config"})]
                for arg in args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        out.append(f"{mod.rel}:{node.lineno}: {func}({arg.value!r}) gets an import string")
        # "module:attr" strings handed to a uvicorn command line (subprocess, argv lists)
        for node in ast.walk(tree):
            if isinstance(node, ast.List | ast.Tuple):
                strs = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if any(s == "uvicorn" or s.endswith("uvicorn") for s in strs):
                    for s in strs:
                        if IMPORT_STRING.match(s):
                            out.append(f"{mod.rel}:{node.lineno}: uvicorn command line gets {s!r}")
    return sorted(set(out))


def test_routers_and_commands_are_registered_as_objects() -> None:
    modules, _ = _project()
    bad = dynamic_import_violations(modules)
    assert not bad, (
        "routers/CLI commands/apps must be registered as objects, not import strings "
        f"(no importlib.import_module, __import__ or uvicorn 'module:attr'):{_fmt(bad)}"
    )


@pytest.mark.parametrize("package", [*PACKAGES, *MODULES])
def test_scanned_sources_exist(package: str) -> None:
    assert (ROOT / package).exists(), f"{package} is missing: the architecture tests scan nothing"
