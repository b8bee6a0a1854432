"""The architecture as tests: imports only go down the layers, no cycles (also through imports
inside functions), and every module imports on its own in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "ingest", "vectorstore", "prompts")
# What each layer may import (first-party only); anything not listed is forbidden.
ALLOWED = {
    "prompts": {"prompts"},
    "vectorstore": {"vectorstore"},
    "ingest": {"ingest", "vectorstore"},
}


def module_names() -> dict[str, Path]:
    """Every first-party module by dotted name."""
    names = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            names[name] = path
    return names


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The first-party modules a file imports anywhere in it (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from bot import factory` imports the module bot.factory.
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(path, set(modules)) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_has_no_cycle() -> None:
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layers_import_nothing_above_them(layer: str) -> None:
    for module, targets in import_graph().items():
        if module.split(".")[0] == layer:
            above = {t for t in targets if t.split(".")[0] not in ALLOWED[layer]}
            assert not above, f"{module} imports {sorted(above)}"


def test_nothing_imports_the_command_line() -> None:
    importers = [module for module, targets in import_graph().items() if "bot.cli" in targets]
    assert importers == []


def _import_alone(module: str) -> tuple[str, int, str]:
    result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    return module, result.returncode, result.stderr[-2000:]


# Alembic's environment and revision scripts, which Alembic loads by path inside a migration run
# (the environment reads the connection Alembic hands it; revision files are named by number): no
# modules to import by name.
ALEMBIC_SCRIPTS = "bot.records.migrations."


@pytest.mark.subprocess
def test_every_module_imports_on_its_own() -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        modules = [name for name in module_names() if not name.startswith(ALEMBIC_SCRIPTS)]
        results = list(pool.map(_import_alone, modules))
    failures = [(module, err) for module, code, err in results if code != 0]
    assert not failures, failures
