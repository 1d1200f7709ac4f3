"""Make the fitted parameters' registry defaults the posterior's weighted medians.

Run after a fit (from the project root)::

    python calibration/set_defaults.py [DATE]     # calibration/fit.toml + its posterior

For each free parameter of the fit, rewrites its declaration in
``sim/core/registry_data.py``: the default becomes the weighted median of the
posterior ensemble (a particle's value, written in full precision) and the source
becomes ``calibrated: <fit name>, <DATE (default: today, UTC)>``. A test
(tests/test_calibration.py) checks that the two agree. Afterwards regenerate what
depends on defaults: ``python -m sim.faces.reports.docs_gen`` (docs/PARAMETERS.md)
and ``python tests/baseline/generate.py`` (the saved baseline, on purpose).
"""

from __future__ import annotations

import ast
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.files.posterior import weighted_median  # noqa: E402
from sim.studies.calibration import load_fit  # noqa: E402

REGISTRY_FILE = ROOT / "sim" / "core" / "registry_data.py"


def calibrated_source(fit_name: str, date: str) -> str:
    """The registry source text of a fitted parameter (its prior is in the fit file)."""
    return f"calibrated: {fit_name}, {date} (weighted posterior median)"


def rewrite(text: str, values: dict[str, float], sources: dict[str, str]) -> str:
    """``text`` (registry_data.py) with the defaults and sources of ``values`` replaced."""
    lines = text.splitlines(keepends=True)
    edits = []  # (start line, start col, end line, end col, new text), applied bottom-up
    found = set()
    for node in ast.walk(ast.parse(text)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "P"):
            continue
        name = node.args[0].value if isinstance(node.args[0], ast.Constant) else None
        if name not in values:
            continue
        found.add(name)
        default, source = node.args[1], node.args[7]
        for arg, new in ((default, repr(float(values[name]))), (source, repr(sources[name]))):
            edits.append((arg.lineno, arg.col_offset, arg.end_lineno, arg.end_col_offset, new))
    missing = set(values) - found
    if missing:
        raise SystemExit(f"not declared in {REGISTRY_FILE}: {sorted(missing)}")
    for start, col, end, end_col, new in sorted(edits, reverse=True):
        first, last = lines[start - 1], lines[end - 1]
        lines[start - 1 : end] = [first[:col] + new + last[end_col:]]
    return "".join(lines)


def main() -> None:
    """Rewrite the fitted parameters' defaults and sources from the shipped posterior."""
    fit = load_fit(ROOT / "calibration" / "fit.toml")
    posterior = pd.read_parquet(fit.posterior_path)
    date = sys.argv[1] if len(sys.argv) > 1 else dt.datetime.now(dt.UTC).date().isoformat()
    values = {name: weighted_median(posterior, name) for name in fit.priors}
    sources = {name: calibrated_source(fit.spec.name, date) for name in fit.priors}
    REGISTRY_FILE.write_text(rewrite(REGISTRY_FILE.read_text(), values, sources))
    for name, value in values.items():
        print(f"{name} = {value!r}")


if __name__ == "__main__":
    main()
