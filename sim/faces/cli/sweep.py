"""The ``sweep`` command of ``recovery-sim``, and the progress runner it shares.

:func:`run_with_progress` runs (or finishes) an experiment's sweep through
:func:`sim.studies.sweep.run_sweep` with a progress bar and ETA on stderr; ``sweep``
and ``sensitivity`` both use it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sim.core.errors import UserError

if TYPE_CHECKING:  # the experiment schema (pydantic) loads inside the commands
    from sim.files.experiment import Experiment

__all__ = ["executor_options", "run_with_progress", "sweep"]


def run_with_progress(
    loaded: Experiment,
    target: Path,
    *,
    backend: str,
    workers: int | None,
    scheduler: str | None,
    chunk_size: int | None,
    resume: bool,
    force: bool,
) -> dict[str, Any]:
    """Run the sweep with a progress bar; print and return its final manifest."""
    from sim.studies.sweep import run_sweep

    with click.progressbar(
        length=1,
        label=f"{loaded.spec.name} [{backend}]",
        file=sys.stderr,
        show_eta=True,
        show_pos=True,
    ) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        manifest = run_sweep(
            loaded,
            target,
            backend=backend,
            workers=workers,
            scheduler=scheduler,
            chunk_size=chunk_size,
            resume=resume,
            force=force,
            progress=progress,
            command=sys.argv,
            notice=lambda message: click.echo(f"\nnote: {message}", err=True),
        )
    session = manifest["this_session"]
    click.echo(
        f"{manifest['runs']} runs in {manifest['chunks']} chunks "
        f"({session['chunks']} this session, {session['seconds']} s, "
        f"{session['runs_per_second']} runs/s, "
        f"{session['agent_steps_per_second']} agent-steps/s)"
    )
    return manifest


def executor_options(function: Any) -> Any:
    """The options that choose where and how a sweep runs (shared by sweep and sensitivity)."""
    options = [
        click.option(
            "--backend",
            type=click.Choice(["serial", "process", "dask"]),
            default=None,
            help="Where chunks run  [default: serial, or process with --workers > 1]",
        ),
        click.option(
            "--workers", type=int, default=None, help="Worker processes  [default: cores]"
        ),
        click.option(
            "--scheduler",
            default=None,
            metavar="ADDRESS",
            help="A running Dask scheduler (implies --backend dask).",
        ),
        click.option("--chunk-size", type=int, default=None, help="Runs per batched chunk."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command(
    epilog="""\b
Examples:
  recovery-sim sweep experiments/sweep_small.toml
  recovery-sim sweep experiments/sweep_small.toml --workers 2 --backend dask
  recovery-sim sweep experiments/sweep_small.toml --scheduler tcp://127.0.0.1:8786
  recovery-sim sweep experiments/sweep_small.toml --resume"""
)
@click.argument("experiment", type=click.Path(path_type=Path))
@executor_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Sweep folder  [default: out/<experiment name>]",
)
@click.option("--resume", is_flag=True, help="Skip the chunks already written.")
@click.option(
    "--force",
    is_flag=True,
    help="Start again over an existing sweep, or resume despite a change; replaces "
    "only this tool's own output of the same kind.",
)
def sweep(
    experiment: Path,
    backend: str | None,
    workers: int | None,
    scheduler: str | None,
    chunk_size: int | None,
    out_dir: Path | None,
    resume: bool,
    force: bool,
) -> None:
    """Run every design point x replicate of EXPERIMENT, chunk by chunk.

    Each finished chunk is written atomically to OUT/chunks/ as Parquet (one row
    per run: design point, replicate, parameter values, metrics), with
    OUT/manifest.json. Results are bit-identical whatever the backend, chunk
    size or number of workers. At the end it prints how to load them (pandas, or
    `recovery-sim results OUT` for one tidy table).
    """
    from sim.faces.cli.results import load_hint
    from sim.files.experiment import load_experiment

    for option, value in (("workers", workers), ("chunk-size", chunk_size)):
        if value is not None and value < 1:
            raise UserError(f"--{option} must be >= 1, got {value}")
    loaded = load_experiment(experiment)
    chosen = backend or ("process" if workers and workers > 1 else "serial")
    target = out_dir if out_dir is not None else Path("out") / loaded.spec.name
    run_with_progress(
        loaded,
        target,
        backend=chosen,
        workers=workers,
        scheduler=scheduler,
        chunk_size=chunk_size,
        resume=resume,
        force=force,
    )
    click.echo(f"wrote {target}{os.sep} (chunks/, manifest.json)")
    click.echo(load_hint(target))
