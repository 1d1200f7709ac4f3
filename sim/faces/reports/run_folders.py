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

import numpy as np
import pandas as pd

from sim.faces.reports.figures import (
    plot_ce_plane,
    plot_ceac,
    plot_differences_over_time,
    plot_doses,
    plot_equity,
    plot_forest,
    plot_service_flow,
    plot_stages,
    plot_trajectories,
)
from sim.faces.reports.html import Section, write_report
from sim.files.costs import CostTable, load_costs
from sim.files.outputs import make_manifest, write_json
from sim.studies.compare import (
    ScenarioResult,
    cumulative_differences,
    differences_over_time,
    episode_end_week,
    paired_differences,
    service_flow_summary,
    summarise,
)
from sim.studies.economics import (
    acceptability_curve,
    costs_price_years,
    economics_from_increments,
    replicate_increments,
    staff_training_share,
    value_for_money_sentences,
)
from sim.studies.equity import equity_tables

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
        "Mean weekly dose of the four mechanisms of the logic model that interventions deliver. "
        "Ties to users further on in recovery add a signed role-modelling dose, so a dose can "
        "fall below zero. Usual care is not a dose: it shifts the level trust, hope and "
        "empowerment settle at (up in pro-recovery, down in custodial teams)."
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


_THRESHOLDS_GBP = np.arange(0.0, 100_001.0, 1_000.0)


def _economics_sections(
    results: Sequence[ScenarioResult], folder: Path, costs: CostTable, perspective: str | None
) -> list[Section]:
    """Write economics.csv, ce_plane.png and ceac.png; return the report's sections."""
    reference, others = results[0].series, pd.concat([r.series for r in results[1:]])
    shares = {r.scenario.name: staff_training_share(r.scenario) for r in results}
    points = replicate_increments(reference, others, costs, perspective, shares)
    table = economics_from_increments(points)
    table.to_csv(folder / "economics.csv", index=False)
    curves = pd.concat(
        [
            pd.DataFrame(
                {
                    "scenario": name,
                    "threshold": _THRESHOLDS_GBP,
                    "probability": acceptability_curve(
                        group.incremental_cost, group.incremental_qalys, _THRESHOLDS_GBP
                    ),
                }
            )
            for name, group in points.groupby("scenario", sort=False)
        ],
        ignore_index=True,
    )
    view = perspective or costs.perspective
    text = (
        f"Costs per person in GBP (unit costs of {costs_price_years(costs)}, not inflated to one "
        f"year) and QALYs per person over the horizon, both discounted at "
        f"{costs.discount.costs_rate_per_year.value:.1%} a year; perspective: "
        f"{view.replace('_', ' ')}. Each dot is one replicate: the difference from "
        f"{results[0].scenario.name} in the same people and chance events. Below the dashed "
        "line a scenario buys QALYs at less than £20,000 each, NICE's lower threshold; to the "
        "right and below zero it is dominant (better and cheaper). Net monetary benefit (NMB) "
        "is threshold x extra QALYs - extra cost: positive means worth paying for at that "
        "threshold. Many unit costs and all utility uncertainties are assumptions "
        "(calibration/costs.toml says which): read the sign and rough size, not the pounds."
    )
    sections = [
        Section(
            "Value for money",
            text + "\n\n" + value_for_money_sentences(table),
            figure=plot_ce_plane(points, folder / "ce_plane.png"),
            table=table,
        ),
        Section(
            "Acceptability",
            "For each willingness to pay per QALY, the share of replicates in which the "
            "scenario's net monetary benefit is positive (with --posterior, over parameter "
            "draws too). It shows how sure the model is that a scenario is worth its cost.",
            figure=plot_ceac(curves, folder / "ceac.png"),
        ),
    ]
    return sections


def _service_section(results: Sequence[ScenarioResult], folder: Path) -> Section:
    """Write service.csv and service.png; the report's waiting-list section."""
    table = pd.concat([service_flow_summary(r) for r in results], ignore_index=True)
    table.to_csv(folder / "service.csv", index=False)
    series = pd.concat([r.series for r in results], ignore_index=True)
    open_service = any(r.scenario.spec.service is not None for r in results)
    return Section(
        "The service: waiting lists and flow",
        (
            "Over weeks 1 to the horizon, per scenario (mean over replicates with 95% "
            "intervals): users in service, places waited for, places filled, the mean wait of "
            "those placed, users who left a waiting list unplaced (they left the service) and "
            "their wait, first jobs and the mean time from referral to a first job. "
            + (
                "At least one scenario is an open service: referrals arrive each week and "
                "users leave (docs/ODD.md §7.15)."
                if open_service
                else "These are closed cohorts (everyone in service from week 0), so waits "
                "reflect the rush of uptake at the start."
            )
        ),
        figure=plot_service_flow(series, folder / "service.png"),
        table=table,
    )


def _equity_section(results: Sequence[ScenarioResult], folder: Path) -> Section:
    """Write equity.csv, equity_gaps.csv and equity.png; the report's equity section.

    Subgroups pair the same people across scenarios, so scenarios of different
    population sizes get a section saying why there is none.
    """
    sizes = {r.scenario.spec.population.size for r in results}
    if len(sizes) > 1:
        return Section(
            "Equity: who gains",
            "Not computed: the scenarios have different population sizes "
            f"({sorted(sizes)}), so their users are not the same people.",
        )
    groups, gaps = equity_tables(results)
    groups.to_csv(folder / "equity.csv", index=False)
    gaps.to_csv(folder / "equity_gaps.csv", index=False)
    return Section(
        "Equity: who gains",
        (
            "Outcomes at the horizon by subgroup at entry (severity terciles, work history, "
            "recovery stage, team), the same people in every scenario. equity_gaps.csv gives "
            "each gap (best-off minus worst-off group, as ranked in the reference) and, for "
            "the other scenarios, its change against the reference with a 95% interval: a "
            "negative change narrows the gap."
        ),
        figure=plot_equity(groups, folder / "equity.png"),
        table=gaps,
    )


def write_comparison(
    results: Sequence[ScenarioResult],
    folder: Path,
    *,
    summary_weeks: Sequence[int],
    manifest: dict[str, Any],
    warnings: Sequence[str] = (),
    costs: CostTable | None = None,
    perspective: str | None = None,
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
    over_time = pd.concat(
        [differences_over_time(results[0], r) for r in results[1:]], ignore_index=True
    )
    over_time.to_csv(folder / "differences_over_time.csv", index=False)
    horizon = int(series.week.max())
    episode_end = episode_end_week([r.scenario for r in results], horizon)
    headline_weeks = sorted({w for w in (episode_end, horizon) if w is not None})
    headline = over_time[over_time.week.isin(headline_weeks)].sort_values(
        ["comparison", "metric", "week"], ignore_index=True
    )
    cumulative = pd.concat(
        [cumulative_differences(results[0], r) for r in results[1:]], ignore_index=True
    )
    cumulative.to_csv(folder / "cumulative.csv", index=False)
    time_sections = [
        Section(
            "Differences over time",
            (
                "Each outcome's paired difference from the reference week by week, with its "
                "95% band. An effect that comes and goes shows here even when it is gone by "
                "the horizon. "
                + (
                    f"The dotted line marks week {episode_end}, the end of the longest "
                    "intervention episode offered."
                    if episode_end is not None
                    else ""
                )
            ),
            figure=plot_differences_over_time(
                over_time,
                folder / "differences_over_time.png",
                marks=() if episode_end is None else (episode_end,),
            ),
            table=headline,
        ),
        Section(
            "Cumulative differences",
            (
                "Over the whole horizon, per person: weeks in paid work (person-weeks "
                "employed), hospital bed-days and admissions; other minus reference, paired by "
                "replicate, with 95% intervals."
            ),
            table=cumulative,
        ),
    ]
    time_sections.append(_service_section(results, folder))
    time_sections.append(_equity_section(results, folder))
    value_sections = _economics_sections(results, folder, costs or load_costs(), perspective)
    sections = [
        *time_sections,
        *value_sections,
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
