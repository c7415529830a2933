"""The layering rules of docs/architecture.md, checked on the source.

Every ``import`` statement counts: module level, inside functions (a late import
that dodges a cycle at run time is still a dependency) and under
``TYPE_CHECKING``. The units are the subpackages (``cli``, ``connectors``,
``mappings``, ``sync``, ``sandbox``, ``web`` …) and the top-level modules
(``domain``, ``config``, ``errors`` …).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import demandsync

ROOT = Path(demandsync.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Module name -> every module name it imports (absolute, relative ones resolved)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        package = module.split(".") if is_package else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found[module].update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                found[module].add(target)
                # ``from demandsync.connectors import jira`` imports the submodule jira
                found[module].update(f"{target}.{alias.name}" for alias in node.names)
    return found


IMPORTS = _imports()


def _unit(module: str) -> str:
    """``demandsync.sync.linking.link`` -> ``sync``; ``demandsync.domain`` -> ``domain``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "demandsync"


def _ours(name: str) -> bool:
    return name == "demandsync" or name.startswith("demandsync.")


def _known_module(name: str) -> bool:
    """True when ``name`` is a module or package of ours (not a class imported from one)."""
    rel = Path(*name.split(".")[1:])
    return (ROOT / rel).is_dir() or (ROOT / rel).with_suffix(".py").exists()


def test_the_reader_sees_late_imports() -> None:
    # The CLI imports the engine inside its commands (fast start); the graph must still see it.
    assert "demandsync.sync.run" in IMPORTS["demandsync.cli.main"]
    assert "demandsync.sync.store.store" in IMPORTS["demandsync.cli.links"]


def test_no_import_cycle_between_subpackages_and_top_level_modules() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in IMPORTS.items():
        for target in filter(_ours, targets):
            if _unit(target) != _unit(module):
                graph[_unit(module)].add(_unit(target))
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' imports '.join(reversed(exc.args[1]))}") from None


def test_typer_and_rich_only_in_the_cli() -> None:
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in IMPORTS.items() if _unit(module) != "cli"
        for target in targets if target.split(".")[0] in ("typer", "rich", "click")
    )
    assert offenders == []


def test_mappings_depend_on_the_domain_only() -> None:
    allowed = {"mappings", "domain", "keys", "errors"}
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in IMPORTS.items() if _unit(module) == "mappings"
        for target in filter(_ours, targets) if _unit(target) not in allowed
    )
    assert offenders == []


def test_the_engine_never_imports_a_concrete_tracker_or_source() -> None:
    """``sync`` reaches connectors only through their interfaces (``connectors.base``) and
    the shared HTTP errors; trackers and sources are found through entry points."""
    allowed = ("demandsync.connectors", "demandsync.connectors.base", "demandsync.connectors.http")
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in IMPORTS.items() if _unit(module) == "sync"
        for target in targets
        if target.startswith("demandsync.connectors") and _known_module(target)
        and not (target in allowed or target.startswith("demandsync.connectors.http."))
    )
    assert offenders == []


def test_the_cli_module_imports_nothing_heavy() -> None:
    """``demandsync --help`` stays fast (bench/startup.py times it): importing the CLI must not
    pull in the engine, the store, the config models or the linker's numerics."""
    heavy = ["sqlalchemy", "alembic", "numpy", "scipy", "pydantic_settings", "openpyxl",
             "demandsync.config", "demandsync.sync.run", "demandsync.sync.store.store", "demandsync.connectors.jira"]
    code = f"import sys, demandsync.cli.main; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
