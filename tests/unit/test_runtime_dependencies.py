"""Every library the application imports is installed by `pip install .` (the Dockerfile,
`make run`), not only by the test extras: the billing run's print file once joined its volumes
with pypdf, a test-only dependency, so that a production install would have failed at the end
of every billing run with postal invoices.

Imports are read from the source (functions' own imports included: a library imported only
where it is used is the one most easily forgotten) and mapped to the distributions installed
here; each must be a runtime dependency of pyproject.toml or one of theirs."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
OWN = {"guichet", "workers"}


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module → the files importing it."""
    found: dict[str, set[str]] = {}
    for base in (ROOT / "platform" / "guichet", ROOT / "workers"):
        for path in base.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OWN:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def runtime_distributions() -> set[str]:
    """The runtime dependencies and, as installed here, theirs (with the extras asked for)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(spec) for spec in project["dependencies"]]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for spec in metadata.requires(requirement.name) or []:
            needed = Requirement(spec)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras):
                todo.append(needed)
    return {name for name, _extras in seen}


def test_every_imported_library_is_a_runtime_dependency() -> None:
    installed_by = metadata.packages_distributions()
    runtime = runtime_distributions()
    modules = imported_modules()
    assert "weasyprint" in modules and "sqlalchemy" in modules  # the scan sees imports
    missing = {
        module: sorted(files)
        for module, files in modules.items()
        if not {canonicalize_name(d) for d in installed_by.get(module, [])} & runtime
    }
    assert not missing, f"imported but not installed by `pip install .`: {missing}"


def test_a_test_only_library_is_not_a_runtime_one() -> None:
    # what the check above relies on: the test extras are not counted
    runtime = runtime_distributions()
    assert "pytest" not in runtime and "pypdf" not in runtime
    assert "weasyprint" in runtime and "tinycss2" in runtime  # a dependency's dependency
