"""The house rules of design.md that code can check: no import cycles in the core package, the
core never imports streamlit, modules stay small enough to read, pages stay thin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "deepad"
MAX_MODULE = 400        # lines, deepad/ and ui/
MAX_PAGE = 100          # lines, views/ (a page composes parts of ui/)
MAX_SCRIPT = 600        # lines, benchmarks/reproduce.py (plan, sweep, render: the rest is imported)


def _modules(package: Path) -> dict[str, Path]:
    out = {}
    for f in package.rglob("*.py"):
        parts = f.relative_to(package.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _imported(mods: dict[str, Path], name: str, tree: ast.AST) -> set[str]:
    """The package's modules that module `name` imports anywhere (lazy imports count)."""
    here = name.split(".") if mods[name].name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here[: len(here) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    # a module importing its own package (or a package its own submodules) is not a cycle
    return {t for t in found if t in mods and t != name
            and not name.startswith(t + ".") and not t.startswith(name + ".")}


def import_cycles(package: Path) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    mods = _modules(package)
    graph = {m: _imported(mods, m, ast.parse(f.read_text())) for m, f in mods.items()}
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
                comps.append(sorted(comp))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return comps


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .sub import c\n")  # lazy imports count
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from ..a import x\n")
    (pkg / "d.py").write_text("import pkg.a\n")
    assert import_cycles(pkg) == [["pkg.a", "pkg.b", "pkg.sub.c"]]


def test_the_core_package_has_no_import_cycles():
    assert import_cycles(CORE) == []


def test_only_the_dashboard_imports_streamlit():
    bad = []
    for f in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{f.relative_to(REPO)}" for n in names if n.split(".")[0] == "streamlit"]
    assert bad == []


@pytest.mark.parametrize("where, limit", [("deepad", MAX_MODULE), ("ui", MAX_MODULE),
                                          ("views", MAX_PAGE), ("benchmarks/reproduce.py", MAX_SCRIPT)])
def test_modules_stay_small_enough_to_read(where, limit):
    p = REPO / where
    files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
    assert files, f"no modules in {where}"
    long = {str(f.relative_to(REPO)): n for f in files
            if (n := len(f.read_text().splitlines())) > limit}
    assert long == {}, f"split these (more than {limit} lines)"


def test_streamlit_reads_the_settings_that_keep_the_app_fast():
    """.streamlit/config.toml, as Streamlit itself reads it from the repository root (where the
    README's `streamlit run app.py` starts): no full garbage collection after every script run
    (~0.4 s per page view with torch loaded: BENCHMARKS.md, Latency) and no file watcher."""
    import subprocess
    import sys
    code = ("from streamlit import config; config.get_config_options(); "
            "print(config.get_option('runner.postScriptGC'), config.get_option('server.fileWatcherType'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == ["False", "none"]
