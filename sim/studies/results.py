"""A sweep's results as one tidy table: one row per run and output, with its parameters.

A sweep folder (``recovery-sim sweep``, or ``recovery-sim sensitivity``, which
analyses a sweep in the same folder) keeps its runs in ``chunks/chunk-NNNNNN.parquet``:
one row per run with ``design_point``, ``replicate``, the design's parameter
columns and one column per recorded output, ``<metric>_w<week>``.
:func:`read_sweep` reads them (through :func:`sim.studies.sweep.read_results`,
which never counts a stray copy), refusing a folder that is not a sweep output
(or has no finished runs) with a message naming the folder and what it holds;
:func:`tidy_results` melts the outputs into rows: columns ``design_point``,
``replicate``, the parameters, ``output``, ``metric``, ``week`` and ``value``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.errors import UserError
from sim.files.outputs import output_kind
from sim.studies.sweep import finished_chunks, read_results

__all__ = [
    "RUN_COLUMNS",
    "ResultsError",
    "missing_runs",
    "parameter_columns",
    "read_sweep",
    "tidy_results",
]

RUN_COLUMNS = ("design_point", "replicate")
_OUTPUT = re.compile(r"(?P<metric>.+)_w(?P<week>\d+)")
_LISTED = 6  # entries of a foreign folder named in the error


class ResultsError(UserError):
    """A folder that is not a sweep output (or one with no finished runs yet)."""


def _holdings(folder: Path) -> str:
    """What ``folder`` holds, in a few words: its kind of output, or some of its entries."""
    kind = output_kind(folder)
    if kind is not None:
        return f"it holds a recovery-sim {kind} output"
    names = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in folder.iterdir())
    if not names:
        return "it is empty"
    more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return f"it holds {', '.join(names[:_LISTED])}{more}, and no sweep manifest.json"


def read_sweep(folder: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The finished runs of a sweep folder (one row per run) and its manifest.

    Raises:
        ResultsError: If ``folder`` is missing, not a folder, not a sweep (or
            sensitivity) output, or has no finished chunk; the message names the
            folder and what it holds.
    """
    import json

    path = Path(folder)
    if not path.exists():
        raise ResultsError(f"{path}: no such folder; give a sweep's output folder (--out)")
    if not path.is_dir():
        raise ResultsError(f"{path} is a file, not a sweep output folder")
    if output_kind(path) != "sweep":
        raise ResultsError(
            f"{path} is not a sweep output: {_holdings(path)}; results reads the folder "
            "that `recovery-sim sweep` or `recovery-sim sensitivity` wrote"
        )
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    if not finished_chunks(path):
        found = [name for name in ("indices.csv", "report.html") if (path / name).is_file()]
        kept = f"; it keeps only the analysis ({', '.join(found)})" if found else ""
        raise ResultsError(
            f"{path} is a sweep output with no finished runs (no chunks/chunk-*.parquet)"
            f"{kept}; `recovery-sim sweep EXPERIMENT --out {path} --resume` runs them"
        )
    return read_results(path), manifest


def missing_runs(frame: pd.DataFrame, manifest: dict[str, Any]) -> int:
    """How many of the design's runs (``manifest["runs"]``) ``frame`` lacks (0 if unknown)."""
    runs = manifest.get("runs")
    return max(0, runs - len(frame)) if isinstance(runs, int) else 0


def parameter_columns(frame: pd.DataFrame, manifest: dict[str, Any]) -> list[str]:
    """The design's parameter columns: as the manifest lists them, else every non-output."""
    design = manifest.get("design")
    listed = design.get("parameters") if isinstance(design, dict) else None
    if isinstance(listed, list) and all(name in frame.columns for name in listed):
        return [str(name) for name in listed]
    return [c for c in frame.columns if c not in RUN_COLUMNS and _OUTPUT.fullmatch(str(c)) is None]


def tidy_results(frame: pd.DataFrame, parameters: list[str]) -> pd.DataFrame:
    """One row per run and output of a sweep's runs, with the design's parameters.

    Args:
        frame: One row per run (:func:`read_sweep`).
        parameters: The design's parameter columns (:func:`parameter_columns`).

    Returns:
        Columns ``design_point``, ``replicate``, the parameters (in design order),
        ``output`` (the sweep's column name, e.g. ``employed_w52``), ``metric``,
        ``week`` and ``value``; rows by output, then design point and replicate.
    """
    keys = [*RUN_COLUMNS, *parameters]
    outputs = [c for c in frame.columns if c not in keys]
    tidy = frame.melt(id_vars=keys, value_vars=outputs, var_name="output", value_name="value")
    parts = tidy["output"].str.extract(_OUTPUT.pattern)
    tidy.insert(len(keys) + 1, "metric", parts["metric"].fillna(tidy["output"]))
    tidy.insert(len(keys) + 2, "week", pd.to_numeric(parts["week"]).astype("Int64"))
    return tidy
