"""Output folders of scenario runs and comparisons: tables, figures, manifest, report.

A run folder holds ``series.parquet`` (tidy weekly metrics), ``summary.csv``
(mean and 95% interval over replicates at chosen weeks), ``manifest.json``,
three PNG figures and a self-contained ``report.html``. A comparison folder adds
``differences.csv`` (paired differences and SMDs) and ``forest.png``. Folders
are written atomically (see :func:`sim.files.outputs.atomic_folder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.faces.reports.figures import plot_doses, plot_forest, plot_stages, plot_trajectories
from sim.faces.reports.html import Section, write_report
from sim.files.outputs import make_manifest, write_json
from sim.studies.compare import ScenarioResult, paired_differences, summarise

__all__ = ["default_summary_weeks", "scenario_manifest", "write_comparison", "write_run"]

_EXPLAIN = {
    "trajectories": (
        "Mean outcome in each domain week by week; the band is the 95% confidence interval "
        "of the mean over replicates. Functional: the share in competitive work and stably "
        "housed, mean functioning. Existential: personal recovery on the QPR scale (0-60), "
        "hope and empowerment. Social: connectedness and ties to other users."
    ),
    "stages": (
        "Share of users in each of Andresen's five recovery stages (moratorium, awareness, "
        "preparation, rebuilding, growth), derived from the personal-recovery score in equal "
        "bands of 12 QPR points."
    ),
    "doses": (
        "Mean weekly dose of the four mechanisms of the logic model. Usual care adds a signed "
        "alliance and choice dose (negative in custodial teams), and ties to users further on "
        "in recovery add a signed role-modelling dose, so a dose can fall below zero."
    ),
    "summary": (
        "Mean over replicates with the 95% confidence interval of the mean (t distribution) "
        "at the chosen weeks."
    ),
}


def default_summary_weeks(horizon: int) -> list[int]:
    """Weeks 26, 52 and the horizon (those not beyond it)."""
    return sorted({w for w in (26, 52) if w < horizon} | {horizon})


def scenario_manifest(
    results: Sequence[ScenarioResult], *, posterior: str | None = None, **fields: Any
) -> dict[str, Any]:
    """Manifest of one or more scenario results: resolved scenarios, hashes, seeds, timings."""
    uncertainty = (
        "stochastic (replicates); parameters fixed at the scenario's values"
        if posterior is None
        else f"stochastic (replicates) and parameter (one posterior draw per replicate "
        f"from {posterior})"
    )
    return make_manifest(
        scenarios=[
            {
                "name": r.scenario.name,
                "file": str(r.scenario.path or ""),
                "sha256": r.scenario.digest(),
                "resolved": r.scenario.resolved,
                "parameters": r.scenario.parameters(),
                "simulate_seconds": round(r.seconds, 3),
            }
            for r in results
        ],
        seeds=[s.as_dict() for s in results[0].seeds],
        uncertainty=uncertainty,
        **fields,
    )


def _summary_text(manifest: dict[str, Any]) -> str:
    return f"{_EXPLAIN['summary']} Uncertainty included: {manifest['uncertainty']}."


def _figure_sections(series: pd.DataFrame, folder: Path) -> list[Section]:
    return [
        Section(
            "Outcomes by domain",
            _EXPLAIN["trajectories"],
            figure=plot_trajectories(series, folder / "trajectories.png"),
        ),
        Section(
            "Recovery stages", _EXPLAIN["stages"], figure=plot_stages(series, folder / "stages.png")
        ),
        Section(
            "Mechanism doses", _EXPLAIN["doses"], figure=plot_doses(series, folder / "doses.png")
        ),
    ]


def _summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    table = summary[["scenario", "metric", "week", "mean", "ci_low", "ci_high"]]
    return table.sort_values(["metric", "scenario", "week"], kind="stable", ignore_index=True)


def write_run(
    result: ScenarioResult, folder: Path, *, summary_weeks: Sequence[int], manifest: dict[str, Any]
) -> pd.DataFrame:
    """Write one scenario's outputs into ``folder`` (which must exist); return the summary."""
    series = result.series
    series.to_parquet(folder / "series.parquet", index=False)
    summary = summarise(series, summary_weeks)
    summary.to_csv(folder / "summary.csv", index=False)
    write_json(folder / "manifest.json", manifest)
    spec = result.scenario.spec
    intro = (
        f"{spec.description or spec.name}. {len(result.seeds)} replicates of "
        f"{spec.population.size} users over {int(series.week.max())} weeks."
    )
    sections = [
        *_figure_sections(series, folder),
        Section("Summary", _summary_text(manifest), table=_summary_table(summary)),
    ]
    write_report(
        folder / "report.html",
        title=f"Scenario: {result.scenario.name}",
        intro=intro,
        sections=sections,
        manifest=manifest,
    )
    return summary


def write_comparison(
    results: Sequence[ScenarioResult],
    folder: Path,
    *,
    summary_weeks: Sequence[int],
    manifest: dict[str, Any],
    warnings: Sequence[str] = (),
) -> pd.DataFrame:
    """Write a comparison of ``results`` against the first; return the differences table.

    ``warnings`` (from :func:`sim.studies.compare.pairing_warnings`) say why the
    comparison is not fully paired; the report's introduction states each of them.
    """
    series = pd.concat([r.series for r in results], ignore_index=True)
    series.to_parquet(folder / "series.parquet", index=False)
    summary = summarise(series, summary_weeks)
    summary.to_csv(folder / "summary.csv", index=False)
    differences = pd.concat(
        [paired_differences(results[0], r) for r in results[1:]], ignore_index=True
    )
    differences.to_csv(folder / "differences.csv", index=False)
    write_json(folder / "manifest.json", manifest)
    forest = differences.dropna(subset=["smd"])
    names = ", ".join(r.scenario.name for r in results[1:])
    intro = (
        f"{names} against {results[0].scenario.name}, on common random numbers: "
        "replicate r of every scenario uses the same seeds"
        + ("." if warnings else ", so differences are paired.")
    )
    intro = "\n\n".join([intro, *(f"Warning: {w[0].upper()}{w[1:]}." for w in warnings)])
    sections = [
        Section(
            "Standardised differences",
            (
                "Hedges' g of each per-user outcome at the horizon (other minus reference), the "
                "way trials report effects: the difference in means over the pooled SD across "
                "users, averaged over replicates with its 95% interval. The grey band marks small "
                "effects (|g| < 0.2)."
            ),
            figure=plot_forest(forest, folder / "forest.png"),
        ),
        Section(
            "Paired differences",
            (
                "Difference of each outcome's mean at the horizon (other minus reference), paired "
                "by replicate, with the 95% confidence interval of the mean difference."
            ),
            table=differences,
        ),
        *_figure_sections(series, folder),
        Section("Summary", _summary_text(manifest), table=_summary_table(summary)),
    ]
    write_report(
        folder / "report.html",
        title="Scenario comparison",
        intro=intro,
        sections=sections,
        manifest=manifest,
    )
    return differences
