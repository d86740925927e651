"""The package's shape: stages import only what comes before them, nothing imports in a circle,
and one fingerprint covers every source file."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

from helpers import REPO

from memberportal import code_fingerprint, fingerprint_of

PACKAGE = REPO / "generator"
# What each stage may import from the package, besides itself (stdlib and libraries aside).
ALLOWED = {
    "errors": set(),
    "layout": {"errors"},
    "core": {"errors", "layout"},
    "runtime": {"errors"},
    "render": {"core", "errors", "layout"},
    "inputs": {"core", "errors", "layout", "runtime", "memberportal"},
    "site": {"core", "errors", "layout", "runtime", "render", "inputs", "memberportal"},
    "print": {"core", "errors", "layout", "runtime", "render", "inputs"},
    "staff": {"core", "errors", "layout", "runtime", "render", "inputs"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("memberportal", *path.relative_to(PACKAGE).with_suffix("").parts))
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every package module `path` imports, at the top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (use memberportal.…)")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("memberportal"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("memberportal")}
    return out


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "memberportal"


def test_each_stage_imports_only_earlier_stages():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        stage = _stage(name)
        if stage not in ALLOWED:
            continue  # cli, serve, __main__: the top may use everything
        for target in _imports(path, modules):
            other = _stage(target)
            if other != stage and other not in ALLOWED[stage]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_import_cycle():
    modules = _modules()
    graph = {name: {t for t in _imports(path, modules) if t != "memberportal"}
             for name, path in modules.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph.get(name, ())):
            if state.get(target) == 1:
                cycles.append(trail[trail.index(target):] + [name, target])
            elif target not in state:
                visit(target, trail + [name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not cycles, cycles


def test_every_stage_folder_is_a_package_the_wheel_lists():
    config = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    for folder in [PACKAGE, *(p.parent for p in PACKAGE.rglob("__init__.py"))]:
        name = ".".join(("memberportal", *folder.relative_to(PACKAGE).parts))
        assert f'"{name}"' in config, f"{name} is missing from [tool.setuptools] packages"
    for folder in PACKAGE.rglob("*"):
        if folder.is_dir() and any(folder.glob("*.py")):
            assert (folder / "__init__.py").is_file(), folder


def test_one_fingerprint_over_every_source_file_recursively(tmp_path):
    copy = tmp_path / "pkg"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert fingerprint_of(copy) == code_fingerprint()
    deep = copy / "print" / "stamp" / "__init__.py"
    deep.write_text(deep.read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")
    assert fingerprint_of(copy) != code_fingerprint()
    (copy / "print" / "stamp" / "__init__.py").rename(copy / "print" / "stamp" / "moved.py")
    assert fingerprint_of(copy) != code_fingerprint()


def test_no_module_hashes_source_files_of_its_own():
    """The build index, the manifest, the page workers and the member cache all use
    code_fingerprint(); a second way of hashing the code would go stale when files move."""
    users = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path != PACKAGE / "__init__.py" and ('glob("*.py")' in text or "rglob(" in text
                                                 and ".py" in text):
            users.append(path)
        if "code_fingerprint()" in text:
            users.append(path.relative_to(PACKAGE).as_posix())
    assert [u for u in users if isinstance(u, Path)] == []
    assert {"inputs/cache.py", "site/build.py", "site/pages.py"} <= set(users)
