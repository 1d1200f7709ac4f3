"""``recovery-sim sensitivity EXPERIMENT``: run a SALib design's sweep, then analyse it.

The command runs every design point x replicate of an experiment whose
``design.method`` is ``saltelli`` (Sobol'), ``morris`` or ``fast`` (eFAST) through
:func:`sim.studies.sweep.run_sweep` (any backend, resumable), analyses the finished
sweep with :mod:`sim.studies.sensitivity`, writes the tables, figures and ``report.html``
into the sweep folder, and prints the ranking in plain words. With ``--resume``
on a finished sweep it only re-analyses.

Register it on the ``recovery-sim`` group with ``main.add_command(sensitivity)``;
errors a user can cause are ``ValueError`` subclasses with one-line messages, which
the group prints as ``error: ...`` with exit code 2.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sim.faces.cli.sweep import executor_options

if TYPE_CHECKING:
    from sim.files.experiment import Experiment

__all__ = ["sensitivity"]


def _check_options(
    workers: int | None, chunk_size: int | None, resamples: int, conf_level: float
) -> None:
    from sim.studies.sensitivity import SensitivityError

    for option, value, least in (
        ("workers", workers, 1),
        ("chunk-size", chunk_size, 1),
        ("resamples", resamples, 10),
    ):
        if value is not None and value < least:
            raise SensitivityError(f"--{option} must be >= {least}, got {value}")
    if not 0.5 <= conf_level < 1:
        raise SensitivityError(f"--conf-level must be in [0.5, 1), got {conf_level}")


def _echo_paragraph(text: str) -> None:
    click.echo(textwrap.fill(text, width=100, initial_indent="  ", subsequent_indent="    "))


@click.command(
    "sensitivity",
    epilog="""\b
Examples:
  recovery-sim sensitivity experiments/sa_morris_screening.toml
  recovery-sim sensitivity experiments/sa_sobol_levers.toml --workers 2
  recovery-sim sensitivity experiments/sa_sobol_by_level.toml --resume""",
)
@click.argument("experiment", type=click.Path(path_type=Path))
@executor_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Sweep and analysis folder  [default: out/<experiment name>]",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Skip the chunks already written (on a finished sweep: only re-analyse).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Start again over an existing sweep, or resume despite a change; replaces "
    "only this tool's own output of the same kind.",
)
@click.option(
    "--resamples",
    type=int,
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the confidence intervals.",
)
@click.option(
    "--conf-level",
    type=float,
    default=0.95,
    show_default=True,
    help="Confidence level of the intervals.",
)
def sensitivity(
    experiment: Path,
    backend: str | None,
    workers: int | None,
    scheduler: str | None,
    chunk_size: int | None,
    out_dir: Path | None,
    resume: bool,
    force: bool,
    resamples: int,
    conf_level: float,
) -> None:
    """Global sensitivity analysis of EXPERIMENT: which levers matter most, at which level.

    Runs the experiment's SALib design (saltelli, morris or fast) chunk by chunk,
    then writes into OUT: indices.csv (every index with its interval and noise
    floor), noise.csv (stochastic share of each output's variance),
    convergence.csv and stable.csv, analysis.json, figures (ranking.png or
    morris.png or levels.png, second_order.png, convergence.png) and report.html.
    """
    from sim.faces.reports.sensitivity_report import (
        ranking_text,
        reading_notes,
        write_analysis,
    )
    from sim.files.experiment import load_experiment
    from sim.studies.sensitivity import SensitivityPlan, analyse
    from sim.studies.sweep import read_results

    _check_options(workers, chunk_size, resamples, conf_level)
    loaded = load_experiment(experiment)
    plan = SensitivityPlan.from_experiment(loaded, resamples=resamples, conf_level=conf_level)
    chosen = backend or ("process" if workers and workers > 1 else "serial")
    target = out_dir if out_dir is not None else Path("out") / loaded.spec.name
    manifest = _run(
        loaded,
        target,
        backend=chosen,
        workers=workers,
        scheduler=scheduler,
        chunk_size=chunk_size,
        resume=resume,
        force=force,
    )
    started = time.perf_counter()
    result = analyse(read_results(target), plan)
    written = write_analysis(
        result, target, manifest=manifest, title=f"Sensitivity analysis: {loaded.spec.name}"
    )
    click.echo(f"analysed {len(plan.outputs)} outputs in {time.perf_counter() - started:.1f} s")
    click.echo(
        f"\nWhich levers matter most ({plan.method}, base N = {plan.design.points}, "
        f"{plan.replicates} replicates per design point):"
    )
    for paragraph in [*ranking_text(result), *reading_notes(result)]:
        _echo_paragraph(paragraph)
    for warning in result.warnings:
        click.echo(
            textwrap.fill(f"warning: {warning}", width=100, subsequent_indent="  "), err=True
        )
    names = ", ".join(p.name for p in written.values())
    click.echo(f"\nwrote {target}{os.sep} ({names})")


def _run(
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
    """Run (or finish) the sweep with a progress bar; return its manifest."""
    from sim.faces.cli.sweep import run_with_progress

    return run_with_progress(
        loaded,
        target,
        backend=backend,
        workers=workers,
        scheduler=scheduler,
        chunk_size=chunk_size,
        resume=resume,
        force=force,
    )
