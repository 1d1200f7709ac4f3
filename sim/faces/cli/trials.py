"""The ``trial`` and ``calibrate`` commands of ``recovery-sim``.

``trial`` runs replicate virtual trials and reports each metric with the
interval over replicate trials, next to the published figure; ``calibrate``
fits the structural parameters with ABC-SMC and writes the posterior ensemble
and a fit report.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sim.files import shipped

if TYPE_CHECKING:  # numpy, pandas, matplotlib and the studies load inside the commands
    import pandas as pd

    from sim.studies.trials import TrialExperiment

__all__ = ["calibrate", "trial", "trial_summary"]


def _shipped_trials() -> str:
    """The shipped trial names for the help text (never fails the import)."""
    try:
        return ", ".join(shipped.names("trial"))
    except OSError as error:
        return f"(none found: {error})"


def trial_summary(
    trial: TrialExperiment, frame: pd.DataFrame, targets_file: Path | None = None
) -> pd.DataFrame:
    """Each metric over replicate trials: mean, median, 2.5-97.5% interval, published figure.

    The published figures come from ``targets_file``, by default the shipped
    ``calibration/targets.toml`` (:func:`sim.files.shipped.targets_file`), which a
    wheel install carries too; a missing targets file is an error, not an empty column.
    """
    import numpy as np
    import pandas as pd

    from sim.studies.calibration import load_targets, observed_and_scale
    from sim.studies.trials import metric_names

    wanted = any(metric.target and metric.target_key for metric in trial.spec.metrics)
    published = {}
    if wanted:
        published = load_targets(
            targets_file if targets_file is not None else shipped.targets_file()
        )
    rows = []
    for column, metric in metric_names(trial):
        values = frame[column].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        low, median, high = (
            np.quantile(finite, [0.025, 0.5, 0.975]) if finite.size else (np.nan,) * 3
        )
        pooled = column == metric.name
        row = {
            "metric": column,
            "kind": metric.kind,
            "outcome": metric.outcome,
            "week": trial.spec.follow_up_weeks if metric.at_week is None else metric.at_week,
            "mean": float(finite.mean()) if finite.size else np.nan,
            "median": median,
            "low_2.5": low,
            "high_97.5": high,
            "replicate_trials": len(values),
            "published": np.nan,
            "published_low": np.nan,
            "published_high": np.nan,
            "target": metric.target if pooled else None,
        }
        if pooled and metric.target in published and metric.target_key:
            value, _, interval = observed_and_scale(published[metric.target], metric.target_key)
            row["published"] = value
            if interval is not None:
                row["published_low"], row["published_high"] = interval
        rows.append(row)
    return pd.DataFrame(rows)


def _plot(summary: pd.DataFrame, frame: pd.DataFrame, path: Path) -> Path:
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    from sim.files.outputs import write_atomic

    # boxplot's vert= is deprecated from matplotlib 3.11; orientation= exists from 3.10
    version = tuple(int(part) for part in matplotlib.__version__.split(".")[:2])
    horizontal = {"orientation": "horizontal"} if version >= (3, 10) else {"vert": False}
    figure = Figure(figsize=(7.5, 0.9 * len(summary) + 1.0))
    axes = figure.subplots(len(summary), 1, squeeze=False)[:, 0]
    for ax, row in zip(axes, summary.itertuples(), strict=True):
        values = frame[row.metric].to_numpy(dtype=np.float64)
        ax.boxplot(values[np.isfinite(values)], widths=0.5, whis=(2.5, 97.5), **horizontal)
        if np.isfinite(row.published):
            ax.plot(row.published, 1.45, "D", color="#D55E00")
        if np.isfinite(row.published_low):
            ax.hlines(1.45, row.published_low, row.published_high, color="#D55E00")
        ax.set_ylim(0.6, 1.75)
        ax.set_yticks([])
        ax.set_ylabel(row.metric, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    figure.suptitle("Replicate virtual trials (box: 2.5-97.5%) vs published (orange)", fontsize=10)
    figure.subplots_adjust(left=0.3, right=0.97, top=0.9, bottom=0.06, hspace=0.9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=130, facecolor="white")
    return write_atomic(path, buffer.getvalue())


def _interval_meaning(posterior: Path | None) -> str:
    """What the interval over replicate trials holds, for the manifest and report."""
    if posterior is None:
        return "sampling noise only (a trial of this size, the file's parameter values)"
    return (
        f"parameter uncertainty plus sampling noise (posterior predictive: each "
        f"replicate trial with one parameter draw from {posterior})"
    )


@click.command(
    epilog="""\b
Examples:
  recovery-sim trial eqolise
  recovery-sim trial experiments/trials/eqolise.toml
  recovery-sim trial refocus --replicates 100 --out out/refocus
  recovery-sim trial housing-first --posterior calibration/posterior.parquet

EXPERIMENT is a trial file, or the name of a shipped trial (its stem, - or _):
"""
    + _shipped_trials()
    + """. A file that exists wins over a name."""
)
@click.argument("experiment", type=click.Path(path_type=Path))
@click.option(
    "--replicates", type=int, default=None, help="Replicate trials  [default: the file's]"
)
@click.option("--seed", type=int, default=None, help="Seed  [default: the file's]")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder  [default: out/trial-<name>]",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing --out folder; replaces only this tool's own output of the same kind.",
)
@click.option(
    "--posterior",
    type=click.Path(path_type=Path),
    default=None,
    help="A posterior ensemble (e.g. calibration/posterior.parquet): each replicate "
    "trial takes one parameter draw, so the interval adds parameter uncertainty.",
)
def trial(
    experiment: Path,
    replicates: int | None,
    seed: int | None,
    out_dir: Path | None,
    force: bool,
    posterior: Path | None,
) -> None:
    """Run replicate virtual trials of EXPERIMENT and compare with the published figure.

    Each replicate is an independent trial at the stated size, so the interval
    over replicates is the sampling distribution of the trial's estimate; with
    --posterior each replicate also takes one parameter draw from the ensemble, so
    the interval holds parameter uncertainty plus sampling noise (posterior
    predictive). Writes trials.csv (one row per replicate trial), summary.csv,
    trial.png, manifest.json and report.html.
    """
    from sim.core.errors import MAX_REPLICATES, check_limit
    from sim.faces.reports.html import Section, write_report
    from sim.files.outputs import atomic_folder, make_manifest, write_json
    from sim.files.posterior import read_posterior
    from sim.studies.trial_posterior import check_posterior_fits, run_trial_posterior
    from sim.studies.trials import TrialError, check_trial_size, load_trial, run_trial

    for option, value in (("replicates", replicates), ("seed", seed)):
        if value is not None and value < (0 if option == "seed" else 1):
            raise TrialError(f"--{option} must be >= {0 if option == 'seed' else 1}")
    try:
        experiment = shipped.resolve("trial", experiment)
    except shipped.ShippedNameError as error:
        raise TrialError(str(error)) from None
    loaded = load_trial(experiment)
    if replicates is not None:
        check_limit(replicates, MAX_REPLICATES, "--replicates")
        check_trial_size(loaded, replicates)
    ensemble = None
    if posterior is not None:
        ensemble = read_posterior(posterior)
        check_posterior_fits(loaded, ensemble, posterior)  # before any folder exists
    target = out_dir if out_dir is not None else Path("out") / f"trial-{loaded.spec.name}"
    inputs = [experiment] if posterior is None else [experiment, posterior]
    with atomic_folder(target, "trial", force=force, inputs=inputs) as folder:
        started = time.perf_counter()
        if ensemble is None:
            frame = run_trial(loaded, replicates=replicates, seed=seed)
        else:
            frame = run_trial_posterior(
                loaded, ensemble, replicates=replicates, seed=seed, source=posterior
            )
        seconds = time.perf_counter() - started
        summary = trial_summary(loaded, frame)
        frame.to_csv(folder / "trials.csv", index=False)
        summary.to_csv(folder / "summary.csv", index=False)
        manifest = make_manifest(
            kind="trial",
            command=sys.argv,
            trial_file=str(experiment),
            trial=loaded.spec.model_dump(by_alias=True),
            context=loaded.context.resolved,
            seed=loaded.spec.seed if seed is None else seed,
            posterior=None if posterior is None else str(posterior),
            interval=_interval_meaning(posterior),
            seconds=round(seconds, 3),
        )
        write_json(folder / "manifest.json", manifest)
        spec = loaded.spec
        intro = (
            f"{spec.intervention or 'natural history'} vs {spec.comparator}: "
            f"{len(frame)} replicate trials of {spec.n_per_arm} per arm, follow-up "
            f"{spec.follow_up_weeks} weeks. The 2.5-97.5% interval holds "
            f"{_interval_meaning(posterior)}."
        )
        write_report(
            folder / "report.html",
            title=f"Virtual trial: {spec.name}",
            intro=intro,
            sections=[
                Section(
                    "Metrics",
                    "Each metric as the trial defined it.",
                    figure=_plot(summary, frame, folder / "trial.png"),
                    table=summary,
                )
            ],
            manifest=manifest,
        )
    click.echo(
        summary[["metric", "median", "low_2.5", "high_97.5", "published"]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"
        )
    )
    click.echo(f"\nwrote {target}/ (report.html, trials.csv, summary.csv)")


@click.command(
    epilog="""\b
Examples:
  recovery-sim calibrate calibration/fit.toml
  recovery-sim calibrate calibration/fit.toml --resume
  recovery-sim calibrate calibration/fit.toml --report-only"""
)
@click.argument("fit_file", type=click.Path(path_type=Path))
@click.option("--resume", is_flag=True, help="Continue from the last finished generation.")
@click.option(
    "--report-only",
    is_flag=True,
    help="Skip fitting; check the existing posterior and write the report.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Report folder  [default: out/calibration-<name>]",
)
@click.option(
    "--force",
    is_flag=True,
    help="Start the fit again over its stored generations, and replace an existing "
    "report folder; replaces only this tool's own output of the same kind.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=256),
    default=None,
    help="Worker processes simulating each batch of proposals; the posterior does not "
    "depend on it  [default: the CPUs available]",
)
def calibrate(
    fit_file: Path,
    resume: bool,
    report_only: bool,
    out_dir: Path | None,
    force: bool,
    workers: int | None,
) -> None:
    """Fit the free parameters of FIT_FILE to the published targets with ABC-SMC.

    Writes the weighted posterior ensemble (the file's `posterior`, Parquet) and a
    fit report: each target against the 90% posterior predictive interval.
    """
    import pandas as pd

    from sim.faces.reports.calibration_report import write_fit_report
    from sim.files.outputs import atomic_folder, check_destination
    from sim.studies.calibration import CalibrationError, load_fit, run_fit

    fit = load_fit(fit_file)
    target = out_dir if out_dir is not None else Path("out") / f"calibration-{fit.spec.name}"
    inputs = [fit.path, fit.database, fit.posterior_path, *(t.trial.path for t in fit.targets)]
    check_destination(target, "calibration", force=force, inputs=inputs)  # before fitting
    seconds = None
    if report_only:
        if not fit.posterior_path.exists():
            raise CalibrationError(
                f"no posterior at {fit.posterior_path}; run without --report-only"
            )
        posterior = pd.read_parquet(fit.posterior_path)
    else:
        click.echo(
            f"fitting {len(fit.priors)} parameters to {len(fit.targets)} targets "
            f"({fit.spec.generations} generations of {fit.spec.population_size})",
            err=True,
        )
        started = time.perf_counter()
        workers = (
            workers or len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (workers or os.cpu_count() or 1)
        )
        posterior = run_fit(fit, resume=resume, force=force, verbose=True, workers=workers)
        seconds = round(time.perf_counter() - started, 1)
    with atomic_folder(target, "calibration", force=force, inputs=inputs) as folder:
        table = write_fit_report(
            fit, posterior, folder, seed=fit.spec.seed + 1, seconds=seconds, command=sys.argv
        )
    click.echo(
        table[
            ["target", "published", "median", "pp_low_5", "pp_high_95", "interval_overlaps"]
        ].to_string(index=False, float_format=lambda v: f"{v:.3f}")
    )
    click.echo(f"\nposterior: {fit.posterior_path}\nwrote {target}/ (report.html, fit_targets.csv)")
