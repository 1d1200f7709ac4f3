"""The ``results`` command of ``recovery-sim``: a sweep's runs as one tidy table.

``recovery-sim results FOLDER`` prints, as CSV, one row per run and output of
the sweep (or sensitivity analysis) in FOLDER, with the design's parameter
columns (:func:`sim.studies.results.tidy_results`); ``--csv PATH`` writes it to
a file instead. A folder that is not a sweep output is refused with an
``error:`` naming the folder and what it holds.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from sim.core.errors import UserError

__all__ = ["load_hint", "results"]


def load_hint(folder: Path) -> str:
    """How to load a sweep's results: the pandas one-liner and the ``results`` command."""
    chunks = (folder / "chunks").as_posix()
    table = folder.with_name(folder.name + ".csv")
    return "\n".join(
        [
            "load the runs (one row per run: design_point, replicate, parameters, outputs):",
            f'  python -c "import pandas as pd; print(pd.read_parquet({chunks!r}))"',
            "or as a tidy table (one row per run x output, with the parameters):",
            f"  recovery-sim results {shlex.quote(str(folder))} --csv {shlex.quote(str(table))}",
        ]
    )


def _check_destination(csv_path: Path, folder: Path) -> None:
    """Refuse a --csv PATH that is a folder, lacks its folder, or lies inside the sweep."""
    if csv_path.is_dir():
        raise UserError(f"--csv {csv_path} is a folder; give a file name such as results.csv")
    if not csv_path.parent.is_dir():
        raise UserError(f"--csv {csv_path}: folder {csv_path.parent} does not exist")
    if csv_path.resolve().is_relative_to(folder.resolve()):
        raise UserError(
            f"--csv {csv_path} is inside the sweep folder {folder}, which holds only the "
            "sweep's own files; write it elsewhere"
        )


@click.command(
    epilog="""\b
Examples:
  recovery-sim results out/sweep-small
  recovery-sim results out/sweep-small --csv sweep-small.csv
  recovery-sim results out/sa-levers --csv sa-levers-runs.csv"""
)
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="PATH",
    help="Write the table to this CSV file  [default: print it as CSV]",
)
def results(folder: Path, csv_path: Path | None) -> None:
    """Print (or write) the runs of a sweep or sensitivity FOLDER as one tidy table.

    One row per run and output: design_point, replicate, the design's parameter
    columns, output (e.g. employed_w52), metric, week and value. FOLDER is the
    --out folder of `recovery-sim sweep` or `recovery-sim sensitivity`.
    """
    from sim.files.outputs import write_atomic
    from sim.studies.results import missing_runs, parameter_columns, read_sweep, tidy_results

    if csv_path is not None:
        _check_destination(csv_path, folder)
    frame, manifest = read_sweep(folder)
    tidy = tidy_results(frame, parameter_columns(frame, manifest))
    missing = missing_runs(frame, manifest)
    if missing:
        click.echo(
            f"warning: {folder} is an unfinished sweep: {missing} of {manifest['runs']} runs "
            f"are missing (`recovery-sim sweep EXPERIMENT --out {folder} --resume` runs them)",
            err=True,
        )
    text = tidy.to_csv(index=False)
    if csv_path is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:  # `| head` stopped reading: not an error (Python's recipe)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    write_atomic(csv_path, text.encode("utf-8"))
    outputs = tidy["output"].nunique()
    click.echo(f"wrote {csv_path} ({len(tidy):,} rows: {len(frame):,} runs x {outputs} outputs)")
