"""Posterior predictive checks and the fit report, in the HTML format of the other reports.

Each published target is compared with the model's 90% posterior predictive
interval: parameter sets are drawn from the weighted posterior ensemble and each
draw runs the target's trial once at its published size, so the interval holds
parameter uncertainty and the trial's sampling noise together.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.faces.reports.html import Section, write_report
from sim.files.outputs import make_manifest, write_atomic, write_json
from sim.files.posterior import posterior_draws
from sim.studies.calibration import Fit, simulate_targets

__all__ = ["posterior_predictive", "predictive_table", "write_fit_report"]


def posterior_predictive(
    fit: Fit, posterior: pd.DataFrame, *, draws: int, seed: int
) -> pd.DataFrame:
    """One simulated value per (draw, target); draw i uses independent seeds."""
    rows = []
    for i, params in enumerate(posterior_draws(posterior, draws, seed)):
        frame = simulate_targets(fit, params, seed=seed + 1 + i)
        rows.append(frame.iloc[0].to_dict())
    return pd.DataFrame(rows)


def predictive_table(fit: Fit, predictive: pd.DataFrame) -> pd.DataFrame:
    """Target, published value and interval, posterior predictive median and 90% interval."""
    rows = []
    for target in fit.targets:
        values = predictive[target.name].to_numpy()
        low, median, high = np.nanquantile(values, [0.05, 0.5, 0.95])
        published_low, published_high = target.interval or (target.observed, target.observed)
        overlaps = published_high >= low and published_low <= high
        rows.append(
            {
                "target": target.name,
                "published": target.observed,
                "published_low": target.interval[0] if target.interval else np.nan,
                "published_high": target.interval[1] if target.interval else np.nan,
                "median": median,
                "pp_low_5": low,
                "pp_high_95": high,
                "value_inside": bool(low <= target.observed <= high),
                "interval_overlaps": bool(overlaps),
                "citation": target.citation,
            }
        )
    return pd.DataFrame(rows)


def _plot_targets(table: pd.DataFrame, path: Path) -> Path:
    figure = Figure(figsize=(8.0, 0.55 * len(table) + 1.2))
    axes = figure.subplots(len(table), 1, squeeze=False)[:, 0]
    for ax, row in zip(axes, table.itertuples(), strict=True):
        ax.hlines(0, row.pp_low_5, row.pp_high_95, color="#0072B2", lw=6, alpha=0.6)
        ax.plot(row.median, 0, "o", color="#0072B2")
        if np.isfinite(row.published_low):
            ax.hlines(0.35, row.published_low, row.published_high, color="#D55E00", lw=2)
        ax.plot(row.published, 0.35, "D", color="#D55E00")
        ax.set_ylim(-0.6, 0.8)
        ax.set_yticks([])
        ax.set_ylabel(row.target, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    figure.suptitle(
        "Posterior predictive 90% interval (blue) vs published value and CI (orange)", fontsize=10
    )
    figure.subplots_adjust(left=0.42, right=0.97, top=0.93, bottom=0.04, hspace=0.9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=130, facecolor="white")
    return write_atomic(path, buffer.getvalue())


def _plot_marginals(posterior: pd.DataFrame, fit: Fit, path: Path) -> Path:
    names = list(fit.priors)
    columns = 3
    rows = -(-len(names) // columns)
    figure = Figure(figsize=(3.2 * columns, 2.4 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        low, high = fit.priors[name]
        ax.hist(
            posterior[name],
            bins=15,
            range=(low, high),
            weights=posterior["weight"],
            color="#009E73",
            alpha=0.8,
        )
        ax.set_title(name, fontsize=8)
        ax.set_xlim(low, high)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    figure.suptitle("Weighted posterior marginals (x-axis spans the prior)", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=130, facecolor="white")
    return write_atomic(path, buffer.getvalue())


def write_fit_report(
    fit: Fit,
    posterior: pd.DataFrame,
    folder: Path,
    *,
    seed: int,
    seconds: float | None,
    command: list[str],
) -> pd.DataFrame:
    """Posterior predictive check, table, figures and report.html into ``folder``."""
    predictive = posterior_predictive(fit, posterior, draws=fit.spec.predictive_draws, seed=seed)
    table = predictive_table(fit, predictive)
    table.to_csv(folder / "fit_targets.csv", index=False)
    predictive.to_parquet(folder / "posterior_predictive.parquet", index=False)
    manifest: dict[str, Any] = make_manifest(
        kind="calibration",
        command=command,
        fit_file=str(fit.path),
        fit=fit.spec.model_dump(),
        seed=fit.spec.seed,
        seeding=(
            "numpy's global state (pyABC's) seeded from (seed, generation) before each "
            "generation, which is computed from the stored previous one by a fresh ABCSMC: "
            "a fit resumed after any finished generation equals one run straight through"
        ),
        predictive_seed=seed,
        fit_seconds=seconds,
        posterior_particles=len(posterior),
        priors={k: list(v) for k, v in fit.priors.items()},
    )
    write_json(folder / "manifest.json", manifest)
    misses = table[~table.interval_overlaps]["target"].tolist()
    verdict = (
        "Every published value or interval overlaps the model's 90% posterior predictive interval."
        if not misses
        else f"Targets whose published interval lies outside the 90% posterior predictive "
        f"interval: {', '.join(misses)}."
    )
    sections = [
        Section(
            "Targets against the posterior predictive",
            verdict
            + (
                " Blue: 5%-95% of simulated trials (parameter draws from the posterior, each "
                "trial at its published size). Orange: the published value and 95% interval."
            ),
            figure=_plot_targets(table, folder / "fit_targets.png"),
            table=table.drop(columns="citation"),
        ),
        Section(
            "Posterior",
            "Weighted marginals of the final ABC-SMC generation.",
            figure=_plot_marginals(posterior, fit, folder / "posterior.png"),
            table=posterior.describe().T.reset_index(names="parameter"),
        ),
    ]
    write_report(
        folder / "report.html",
        title=f"Calibration: {fit.spec.name}",
        intro=fit.spec.description or fit.spec.name,
        sections=sections,
        manifest=manifest,
    )
    return table
