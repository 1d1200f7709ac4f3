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
from sim.files.posterior import effective_sample_size, posterior_draws, weighted_quantile
from sim.studies.calibration import Fit, fit_history, simulate_sets

__all__ = [
    "posterior_correlation",
    "posterior_predictive",
    "posterior_summary",
    "predictive_table",
    "write_fit_report",
]


def posterior_predictive(
    fit: Fit, posterior: pd.DataFrame, *, draws: int, seed: int
) -> pd.DataFrame:
    """One simulated value per (draw, target): each draw runs every trial once, at its size.

    Draw ``i`` uses seed ``seed + 1 + i``; the draws run batched per trial.
    """
    sets = posterior_draws(posterior, draws, seed)
    values = simulate_sets(fit, sets, [seed + 1 + i for i in range(draws)], replicates=1)
    return pd.DataFrame({name: [v[0] for v in per_set] for name, per_set in values.items()})


def predictive_table(fit: Fit, predictive: pd.DataFrame) -> pd.DataFrame:
    """Per target: published value, SE and interval; predictive median, 90% interval; residual.

    ``standardised_residual`` is ``(median - published) / SE`` with SE the published
    standard error (the distance's scale without simulation noise). A target beyond 2
    SE carries the fit file's ``structural`` note, or "unexplained".
    """
    rows = []
    for target in fit.targets:
        values = predictive[target.name].to_numpy()
        low, median, high = np.nanquantile(values, [0.05, 0.5, 0.95])
        published_low, published_high = target.interval or (target.observed, target.observed)
        overlaps = published_high >= low and published_low <= high
        residual = (median - target.observed) / target.scale
        rows.append(
            {
                "target": target.name,
                "published": target.observed,
                "se": target.scale,
                "published_low": target.interval[0] if target.interval else np.nan,
                "published_high": target.interval[1] if target.interval else np.nan,
                "median": median,
                "pp_low_5": low,
                "pp_high_95": high,
                "standardised_residual": residual,
                "value_inside": bool(low <= target.observed <= high),
                "interval_overlaps": bool(overlaps),
                "structural": (target.structural or "unexplained") if abs(residual) > 2 else "",
                "citation": target.citation,
            }
        )
    return pd.DataFrame(rows)


def posterior_summary(fit: Fit, posterior: pd.DataFrame) -> pd.DataFrame:
    """Per parameter: prior bounds, weighted median and 90% interval, width vs the prior's.

    ``width_ratio`` is the posterior 90% width over the prior's 90% width (0.9 of the
    uniform prior's range): near 1, the data do not identify the parameter.
    """
    weights = posterior["weight"].to_numpy(dtype=np.float64)
    rows = []
    for name, (low, high) in fit.priors.items():
        values = posterior[name].to_numpy(dtype=np.float64)
        q05, q50, q95 = (weighted_quantile(values, weights, q) for q in (0.05, 0.5, 0.95))
        ratio = (q95 - q05) / (0.9 * (high - low))
        rows.append(
            {
                "parameter": name,
                "prior_low": low,
                "prior_high": high,
                "weighted_median": q50,
                "low_5": q05,
                "high_95": q95,
                "width_ratio": ratio,
                "identified": "yes" if ratio < 0.5 else ("weakly" if ratio < 0.8 else "no"),
            }
        )
    return pd.DataFrame(rows)


def posterior_correlation(fit: Fit, posterior: pd.DataFrame) -> pd.DataFrame:
    """The weighted correlation matrix of the fitted parameters."""
    names = list(fit.priors)
    values = posterior[names].to_numpy(dtype=np.float64)
    covariance = np.cov(values, rowvar=False, aweights=posterior["weight"].to_numpy())
    sd = np.sqrt(np.diag(covariance))
    return pd.DataFrame(covariance / np.outer(sd, sd), index=names, columns=names)


def _png(figure: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, facecolor="white")
    return write_atomic(path, buffer.getvalue())


def _plot_pairs(fit: Fit, posterior: pd.DataFrame, path: Path, seed: int) -> Path:
    """Pairwise scatter of 600 weighted resamples; axes span the priors."""
    names = list(fit.priors)
    draws = pd.DataFrame(posterior_draws(posterior, 600, seed))
    k = len(names)
    figure = Figure(figsize=(1.6 * k, 1.6 * k))
    axes = figure.subplots(k, k, squeeze=False)
    for i, row in enumerate(names):
        for j, column in enumerate(names):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if i == j:
                ax.hist(draws[column], bins=20, range=fit.priors[column], color="#009E73")
                ax.set_xlim(*fit.priors[column])
            elif i > j:
                ax.plot(draws[column], draws[row], ".", ms=1.5, alpha=0.4, color="#0072B2")
                ax.set_xlim(*fit.priors[column])
                ax.set_ylim(*fit.priors[row])
            else:
                ax.set_visible(False)
            if i == k - 1:
                ax.set_xlabel(column.replace("_", " ")[:28], fontsize=6, rotation=30, ha="right")
            if j == 0:
                ax.set_ylabel(row.replace("_", " ")[:28], fontsize=6, rotation=0, ha="right")
    figure.suptitle("Posterior pairs (600 weighted resamples; axes span the prior)", fontsize=10)
    figure.subplots_adjust(left=0.18, bottom=0.14, right=0.98, top=0.95, wspace=0.08, hspace=0.08)
    return _png(figure, path)


def _plot_history(history: pd.DataFrame, path: Path) -> Path:
    figure = Figure(figsize=(8.0, 2.8))
    left, middle, right = figure.subplots(1, 3)
    finite = history[np.isfinite(history["epsilon"])]
    left.plot(finite["generation"], finite["epsilon"], "o-", color="#0072B2")
    left.set_title("tolerance (epsilon)", fontsize=9)
    middle.plot(history["generation"], history["acceptance_rate"], "o-", color="#D55E00")
    middle.set_title("acceptance rate", fontsize=9)
    right.plot(history["generation"], history["effective_sample_size"], "o-", color="#009E73")
    right.set_title("effective sample size", fontsize=9)
    for ax in (left, middle, right):
        ax.set_xlabel("generation", fontsize=8)
        ax.tick_params(labelsize=7)
    figure.tight_layout()
    return _png(figure, path)


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
    """Fit history, posterior predictive check, identifiability, figures and report.html."""
    predictive = posterior_predictive(fit, posterior, draws=fit.spec.predictive_draws, seed=seed)
    table = predictive_table(fit, predictive)
    table.to_csv(folder / "fit_targets.csv", index=False)
    predictive.to_parquet(folder / "posterior_predictive.parquet", index=False)
    history = fit_history(fit) if fit.database.exists() else pd.DataFrame()
    history.to_csv(folder / "fit_history.csv", index=False)
    summary = posterior_summary(fit, posterior)
    summary.to_csv(folder / "posterior_summary.csv", index=False)
    correlation = posterior_correlation(fit, posterior)
    correlation.to_csv(folder / "posterior_correlation.csv")
    weights = posterior["weight"].to_numpy(dtype=np.float64)
    ess = effective_sample_size(weights)
    within = int((table["standardised_residual"].abs() <= 1).sum())
    beyond = table[table["standardised_residual"].abs() > 2]
    manifest: dict[str, Any] = make_manifest(
        kind="calibration",
        command=command,
        fit_file=str(fit.path),
        fit=fit.spec.model_dump(),
        seed=fit.spec.seed,
        seeding=(
            "numpy's global state (pyABC's) seeded from (seed, generation) before each "
            "generation, which is computed from the stored previous one by a fresh ABCSMC: "
            "a fit resumed after any finished generation equals one run straight through; "
            "proposals and their simulation seeds come from that state, so the number of "
            "workers does not change the posterior"
        ),
        predictive_seed=seed,
        fit_seconds=seconds,
        posterior_particles=len(posterior),
        effective_sample_size=round(ess, 1),
        final_epsilon=fit.final_epsilon,
        targets_within_1_se=f"{within} of {len(table)}",
        priors={k: list(v) for k, v in fit.priors.items()},
    )
    write_json(folder / "manifest.json", manifest)
    verdict = (
        f"{within} of {len(table)} targets have a posterior predictive median within one "
        f"published standard error (|standardised residual| <= 1); "
        + (
            "none is beyond two."
            if beyond.empty
            else "beyond two: "
            + "; ".join(
                f"{r.target} ({r.standardised_residual:+.2f}): {r.structural}"
                for r in beyond.itertuples()
            )
            + "."
        )
    )
    unidentified = summary[summary["identified"] == "no"]["parameter"].tolist()
    sections = [
        Section(
            "Targets against the posterior predictive",
            verdict
            + (
                " Blue: 5%-95% of simulated trials (parameter draws from the posterior, each "
                "trial once at its published size). Orange: the published value and 95% "
                "interval. standardised_residual = (median - published) / published SE."
            ),
            figure=_plot_targets(table, folder / "fit_targets.png"),
            table=table.drop(columns="citation"),
        ),
        Section(
            "ABC-SMC generations",
            f"Final population: {len(posterior)} particles, effective sample size {ess:.0f}; "
            f"final tolerance {fit.final_epsilon:.3f} (the "
            f"{fit.spec.final_tolerance_quantile:.0%} quantile of a chi distribution with "
            f"{len(fit.targets)} degrees of freedom). Simulations: proposals evaluated for "
            "acceptance.",
            figure=_plot_history(history, folder / "fit_history.png") if len(history) else None,
            table=history,
        ),
        Section(
            "Posterior and identifiability",
            "Weighted medians and 90% intervals. width_ratio = posterior 90% width / prior "
            "90% width; 'no' (>= 0.8) means the targets barely narrow the prior"
            + (f": {', '.join(unidentified)}." if unidentified else "; none is unidentified."),
            figure=_plot_marginals(posterior, fit, folder / "posterior.png"),
            table=summary,
        ),
        Section(
            "Pairs and correlations",
            "Strong correlations show parameters the targets identify only in combination.",
            figure=_plot_pairs(fit, posterior, folder / "posterior_pairs.png", seed),
            table=correlation.round(2).reset_index(names="parameter"),
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
