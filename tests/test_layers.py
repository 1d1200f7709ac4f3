"""The package's layers: imports only go downward, and every module imports on its own.

``sim`` is layered (docs/ARCHITECTURE.md): public shims > faces > studies > files > core.
The layers contract lives in pyproject.toml (``[tool.importlinter]``) and is checked by
import-linter; each module must also import in a fresh interpreter, so no import cycle
can hide behind the order in which other modules happen to be loaded.
"""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parents[1]


def all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(sim.__path__, prefix="sim."))


def test_the_layers_contract_is_kept() -> None:
    executable = shutil.which("lint-imports")
    if executable is None:
        pytest.fail("import-linter is not installed: it is part of the test extra")
    result = subprocess.run([executable], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def import_error(module: str) -> str:
    """The last line of the error importing ``module`` alone in a fresh interpreter, or ''."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    return result.stderr.strip().splitlines()[-1] if result.returncode else ""


def test_every_module_imports_on_its_own_in_a_fresh_interpreter() -> None:
    modules = all_modules()
    assert len(modules) > 40 and "sim.core.registry_data" in modules
    with ThreadPoolExecutor(max_workers=2) as pool:
        errors = dict(zip(modules, pool.map(import_error, modules), strict=True))
    failed = {module: error for module, error in errors.items() if error}
    assert not failed, f"modules that fail to import alone: {failed}"
