"""The ``validate-evidence`` command of ``recovery-sim``: external validation.

Checks published figures that the fit never sees (``calibration/validation.toml``)
against the posterior predictive of the calibrated model, and writes
``validation.csv``, ``predictive.csv``, ``validation.png``, ``report.html`` and
``manifest.json`` (:mod:`sim.studies.validation`).
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sim.files import shipped

if TYPE_CHECKING:  # numpy, pandas, matplotlib and the studies load inside the command
    import pandas as pd

__all__ = ["validate_evidence"]

_COLOURS = {True: "#009E73", False: "#D55E00"}


def _plot(table: pd.DataFrame, path: Path) -> Path:
    """Per figure: the 90% predictive interval and median against the published value."""
    import numpy as np
    from matplotlib.figure import Figure

    from sim.files.outputs import write_atomic

    figure = Figure(figsize=(8.0, 0.75 * len(table) + 1.3))
    axes = figure.subplots(len(table), 1, squeeze=False)[:, 0]
    for ax, row in zip(axes, table.itertuples(), strict=True):
        colour = _COLOURS[bool(row.covered)]
        ax.hlines(0, row.pp_low_5, row.pp_high_95, color="#0072B2", lw=6, alpha=0.6)
        ax.plot(row.median, 0, "o", color="#0072B2")
        if row.kind == "direction":
            ax.axvline(0, color=colour, lw=1.5, ls="--")
        elif row.kind == "upper_bound":
            ax.axvline(row.published, color=colour, lw=1.5, ls="--")
        else:
            if np.isfinite(row.published_low):
                ax.hlines(0.4, row.published_low, row.published_high, color=colour, lw=2)
            ax.plot(row.published, 0.4, "D", color=colour)
        verdict = "covered" if row.covered else "NOT covered"
        ax.set_ylim(-0.6, 0.9)
        ax.set_yticks([])
        ax.set_ylabel(
            f"{row.figure}\n({row.kind}: {verdict})",
            rotation=0,
            ha="right",
            va="center",
            fontsize=7,
        )
        ax.tick_params(axis="x", labelsize=7)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    figure.suptitle(
        "Posterior predictive 90% interval (blue) vs published value, 95% interval or bound "
        "(green: covered, orange: not)",
        fontsize=9,
    )
    figure.subplots_adjust(left=0.36, right=0.97, top=0.92, bottom=0.05, hspace=1.0)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=130, facecolor="white")
    return write_atomic(path, buffer.getvalue())


@click.command(
    "validate-evidence",
    epilog="""\b
Examples:
  recovery-sim validate-evidence
  recovery-sim validate-evidence --draws 400 --seed 7 --out out/validation
  recovery-sim validate-evidence calibration/validation.toml \\
      --posterior calibration/posterior.parquet --force

VALIDATION_FILE defaults to the shipped calibration/validation.toml and --posterior to
the shipped calibration/posterior.parquet (both also in a wheel install). Kinds:
interval (covered if the published value is inside the 90% predictive interval),
direction (the interval lies above 0), upper_bound (the interval lies below the bound).""",
)
@click.argument("validation_file", type=click.Path(path_type=Path), required=False)
@click.option(
    "--posterior",
    "posterior_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Posterior ensemble (Parquet)  [default: the shipped calibration/posterior.parquet]",
)
@click.option(
    "--draws",
    type=int,
    default=200,
    show_default=True,
    help="Posterior draws; each runs one virtual trial per trial at its size",
)
@click.option("--seed", type=int, default=None, help="Seed  [default: the file's]")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder  [default: out/validation-<name>]",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing --out folder; replaces only this tool's own output of the same kind.",
)
def validate_evidence(
    validation_file: Path | None,
    posterior_path: Path | None,
    draws: int,
    seed: int | None,
    out_dir: Path | None,
    force: bool,
) -> None:
    """Check published figures the fit never sees against the posterior predictive.

    Each figure of VALIDATION_FILE runs through --draws parameter sets from the
    posterior, one virtual trial per set at the trial's own size. Writes
    validation.csv (one row per figure), predictive.csv (one row per draw),
    validation.png, report.html and manifest.json, and prints the table and how
    many figures are covered.
    """
    from sim.core.errors import MAX_REPLICATES
    from sim.faces.reports.html import Section, write_report
    from sim.files.outputs import atomic_folder, make_manifest, write_json
    from sim.files.posterior import read_posterior
    from sim.studies.validation import (
        COLUMNS,
        ValidationFileError,
        load_validation,
        run_validation,
    )

    if not 2 <= draws <= MAX_REPLICATES:
        raise ValidationFileError(f"--draws = {draws} is invalid: allowed 2 to {MAX_REPLICATES:,}")
    if seed is not None and seed < 0:
        raise ValidationFileError(f"--seed = {seed} is invalid: must be >= 0")
    validation_file = validation_file or shipped.validation_file()
    posterior_path = posterior_path or shipped.posterior_file()
    validation = load_validation(validation_file)
    posterior = read_posterior(posterior_path)
    seed = validation.spec.seed if seed is None else seed
    target = out_dir or Path("out") / f"validation-{validation.spec.name}"
    inputs = [validation_file, posterior_path, *(c.trial.path for c in validation.checks)]
    with atomic_folder(target, "validation", force=force, inputs=inputs) as folder:
        started = time.perf_counter()
        table, predictive = run_validation(validation, posterior, draws=draws, seed=seed)
        seconds = round(time.perf_counter() - started, 3)
        table.to_csv(folder / "validation.csv", index=False)
        predictive.to_csv(folder / "predictive.csv", index_label="draw")
        covered = int(table.covered.sum())
        manifest = make_manifest(
            kind="validation",
            command=sys.argv,
            validation_file=str(validation_file),
            posterior_file=str(posterior_path),
            validation=validation.spec.model_dump(),
            draws=draws,
            seed=seed,
            seeding="posterior_draws(posterior, draws, seed); draw i of a trial runs "
            "RunSeed(SeedSequence([seed, stream_key(trial name)]).generate_state(draws)[i])",
            trials={c.trial.spec.name: str(c.trial.path) for c in validation.checks},
            covered=covered,
            figures=len(table),
            seconds=seconds,
        )
        write_json(folder / "manifest.json", manifest)
        write_report(
            folder / "report.html",
            title=f"External validation: {validation.spec.name}",
            intro=(
                f"{validation.spec.description or validation.spec.name}. Covered {covered} "
                f"of {len(table)}. {draws} draws from {posterior_path}, one virtual trial "
                "per draw at each trial's published size."
            ),
            sections=[
                Section(
                    "Figures against the posterior predictive",
                    "Blue: median and 5%-95% of simulated trials. Published value and 95% "
                    "interval (interval kind), 0 (direction) or the bound (upper_bound): "
                    "green when covered, orange when not.",
                    figure=_plot(table, folder / "validation.png"),
                    table=table.drop(columns="citation"),
                ),
                Section(
                    "Sources and reasons",
                    "Why each figure was chosen; the selection rule is at the top of the file.",
                    table=_sources(validation),
                ),
            ],
            manifest=manifest,
        )
    click.echo(table[list(COLUMNS[:-1])].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo(f"\ncovered {covered} of {len(table)}")
    click.echo(f"wrote {target}/ (report.html, validation.csv, validation.png)")


def _sources(validation) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "figure": c.figure.id,
                "trial": str(c.trial.path.name),
                "citation": c.figure.citation,
                "why": c.figure.why,
                "overlap": c.figure.overlap,
            }
            for c in validation.checks
        ]
    )
