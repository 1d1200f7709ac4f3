"""Briefing figures from the tidy weekly series: outcomes, stages, doses, and a forest plot.

Every function takes a tidy frame (:mod:`sim.studies.run`'s, with ``design_point`` renamed to
a ``scenario`` label), draws one :class:`matplotlib.figure.Figure` (no pyplot: no global
figure state, no display) and writes one PNG atomically, returning its path.

Lines are the mean over replicates; shaded bands are the 95% t-interval of that
mean (no band with a single replicate). Colours follow the Okabe-Ito palette,
which stays distinguishable under the common colour-vision deficiencies, and
scenarios also differ by line style so figures survive grey-scale printing.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from sim.core.logic_model import MECHANISMS, OUTCOMES, STAGES
from sim.core.metrics import METRICS
from sim.files.outputs import write_atomic
from sim.studies.compare import SERIES_COLUMNS, check_columns, interval_summary

__all__ = [
    "DIFFERENCE_COLUMNS",
    "OUTCOME_METRICS",
    "PALETTE",
    "SERIES_COLUMNS",
    "plot_ce_plane",
    "plot_ceac",
    "plot_differences_over_time",
    "plot_doses",
    "plot_equity",
    "plot_forest",
    "plot_moderator_curves",
    "plot_stages",
    "plot_trajectories",
]

DIFFERENCE_COLUMNS = ("comparison", "metric", "smd", "smd_low", "smd_high")
# Okabe & Ito (2008), reordered so the first colours have the most contrast on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
LINE_STYLES = ("-", "--", "-.", ":")
# ColorBrewer YlGnBu (sequential, colour-blind safe): early stages light, growth dark.
STAGE_COLOURS = ("#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494")
SMALL_SMD = 0.2  # Cohen's threshold for a "small" standardised difference
DPI = 150
PANEL_SIZE = (3.7, 2.8)  # inches per panel
MIN_WIDTH = 7.4  # inches: room for a title and a legend above few panels

OUTCOME_METRICS = tuple(m for metrics in OUTCOMES.values() for m in metrics)
_TITLES = {
    "employed": "Competitive employment",
    "housed": "Stably housed",
    "personal_recovery": "Personal recovery (QPR)",
    "ties": "Ties to other users",
}
_UNITS = {  # metric: (axis label, scale, valid range)
    "personal_recovery": ("mean QPR score (0-60)", 1.0, (0.0, 60.0)),
    "ties": ("mean ties per user", 1.0, (0.0, np.inf)),
}


def plot_trajectories(series: pd.DataFrame, path: str | Path, *, title: str = "") -> Path:
    """Outcome trajectories by domain: a row per domain, a panel per outcome.

    Args:
        series: Tidy frame with columns :data:`SERIES_COLUMNS`.
        path: Destination PNG file (its folder must exist).
        title: Optional figure title.

    Returns:
        The path written.

    Raises:
        ValueError: If a column is missing or the frame holds no outcome metric.
    """
    summary = interval_summary(series, list(OUTCOME_METRICS))
    present = set(summary["metric"])
    domains = {
        d: [m for m in ms if m in present] for d, ms in OUTCOMES.items() if present & set(ms)
    }
    if not domains:
        raise ValueError(f"series has none of the outcome metrics {list(OUTCOME_METRICS)}")
    scenarios = list(pd.unique(summary["scenario"]))
    ncols = max(len(ms) for ms in domains.values())
    fig, body = _figure_with_legend(
        ncols, len(domains), scenarios, f"{title or 'Outcomes over time'}: {_replicates(summary)}"
    )
    rows = body.subfigures(len(domains), 1, squeeze=False).ravel()
    for row, (domain, metrics) in zip(rows, domains.items(), strict=True):
        row.suptitle(
            f"{domain.capitalize()} outcomes",
            x=0.005,
            ha="left",
            fontsize=12,
            fontweight="bold",
            color="#333333",
        )
        axes = row.subplots(1, ncols, squeeze=False)[0]
        _draw_metric_panels(axes, metrics, summary, scenarios)
        _hide_unused(axes, len(metrics))
    return _save(fig, path)


def plot_stages(series: pd.DataFrame, path: str | Path) -> Path:
    """Stacked shares of users in each recovery stage over weeks, a panel per scenario.

    Args:
        series: Tidy frame (:data:`SERIES_COLUMNS`) with the ``stage_*`` metrics.
        path: Destination PNG file (its folder must exist).

    Returns:
        The path written.

    Raises:
        ValueError: If a column or any stage metric is missing.
    """
    names = [f"stage_{s}" for s in STAGES]
    summary = interval_summary(series, names)
    missing = sorted(set(names) - set(summary["metric"]))
    if missing:
        raise ValueError(f"series lacks stage metrics {missing}; simulate with all metrics")
    scenarios = list(pd.unique(summary["scenario"]))
    ncols, nrows = _grid(len(scenarios), max_columns=3)
    width, height = PANEL_SIZE
    fig = Figure(
        figsize=(max(width * ncols + 1.4, MIN_WIDTH), height * nrows + 0.5),
        dpi=DPI,
        layout="constrained",
    )
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    for i, (ax, scenario) in enumerate(zip(axes, scenarios, strict=False)):
        table = summary[summary["scenario"] == scenario].pivot(
            index="week", columns="metric", values="mean"
        )[names]
        _stage_panel(ax, table, scenario, ylabel="% of users" if i % ncols == 0 else "")
    _hide_unused(axes, len(scenarios))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles[::-1],
        labels[::-1],
        loc="outside right center",
        frameon=False,
        title="Recovery stage",
        fontsize=9,
        title_fontsize=10,
    )
    fig.suptitle(
        f"Recovery stages (Andresen et al. 2003): {_replicates(summary, band=False)}",
        fontsize=13,
        fontweight="bold",
    )
    return _save(fig, path)


def plot_doses(series: pd.DataFrame, path: str | Path) -> Path:
    """Mean weekly mechanism doses, a panel per mechanism, a line per scenario.

    Args:
        series: Tidy frame (:data:`SERIES_COLUMNS`) with the ``dose_*`` metrics.
        path: Destination PNG file (its folder must exist).

    Returns:
        The path written.

    Raises:
        ValueError: If a column is missing or the frame holds no dose metric.
    """
    names = [f"dose_{m}" for m in MECHANISMS]
    summary = interval_summary(series, names)
    metrics = [m for m in names if m in set(summary["metric"])]
    if not metrics:
        raise ValueError(f"series has none of the dose metrics {names}")
    scenarios = list(pd.unique(summary["scenario"]))
    ncols, nrows = _grid(len(metrics), max_columns=2)
    fig, body = _figure_with_legend(
        ncols, nrows, scenarios, f"Mechanism doses received: {_replicates(summary)}"
    )
    axes = body.subplots(nrows, ncols, squeeze=False).ravel()
    _draw_metric_panels(axes, metrics, summary, scenarios)
    _hide_unused(axes, len(metrics))
    return _save(fig, path)


def plot_forest(differences: pd.DataFrame, path: str | Path) -> Path:
    """Forest plot of standardised mean differences between scenarios, grouped by metric.

    Args:
        differences: Columns :data:`DIFFERENCE_COLUMNS`: comparison (e.g.
            "ips-scale-up vs baseline"), metric, smd, and its 95% interval
            smd_low, smd_high. A positive SMD means the first-named scenario
            is higher.
        path: Destination PNG file (its folder must exist).

    Returns:
        The path written.

    Raises:
        ValueError: If a column is missing, there are no rows, or smd is outside its interval.
    """
    frame = _check_differences(differences)
    rows = _forest_layout(frame)
    comparisons = list(pd.unique(frame["comparison"]))
    longest = max(len(label) for _, label, _ in rows)
    fig = Figure(
        figsize=(min(6.5 + 0.08 * longest, 14.0), 1.7 + 0.3 * len(rows)),
        dpi=DPI,
        layout="constrained",
    )
    ax = fig.add_subplot()
    ax.axvspan(-SMALL_SMD, SMALL_SMD, color="#e8e8e8", zorder=0, linewidth=0)
    ax.axvline(0, color="#444444", linewidth=1, zorder=1)
    for y, _, record in rows:
        if record is not None:
            colour = PALETTE[comparisons.index(record.comparison) % len(PALETTE)]
            ax.plot([record.smd_low, record.smd_high], [y, y], color=colour, linewidth=2)
            ax.plot(record.smd, y, "o", color=colour, markersize=7, markeredgecolor="white")
    _forest_axes(ax, rows, frame)
    fig.suptitle("Differences between scenarios", fontsize=13, fontweight="bold")
    return _save(fig, path)


def _check_differences(differences: pd.DataFrame) -> pd.DataFrame:
    frame = check_columns(differences, DIFFERENCE_COLUMNS, "differences")
    if frame.empty:
        raise ValueError("differences has no rows; nothing to plot")
    frame = frame.assign(
        comparison=frame["comparison"].astype(str), metric=frame["metric"].astype(str)
    )
    bad = frame[(frame["smd_low"] > frame["smd"]) | (frame["smd"] > frame["smd_high"])]
    if not bad.empty:
        first = bad.iloc[0]
        raise ValueError(
            f"differences row {first['comparison']!r} / {first['metric']!r}: "
            "need smd_low <= smd <= smd_high"
        )
    return frame


def _forest_layout(frame: pd.DataFrame) -> list[tuple[float, str, Any]]:
    """Rows top to bottom as (y, label, record): per metric a header, then its comparisons."""
    rows: list[tuple[float, str, Any]] = []
    y = 0.0
    for metric in pd.unique(frame["metric"]):
        rows.append((y, _title(metric), None))
        for record in frame[frame["metric"] == metric].itertuples(index=False):
            y -= 1
            rows.append((y, f"   {record.comparison}", record))
        y -= 1.5
    return rows


def _forest_axes(ax: Axes, rows: list[tuple[float, str, Any]], frame: pd.DataFrame) -> None:
    ys = [y for y, _, _ in rows]
    ax.set_yticks(ys, labels=[label for _, label, _ in rows], fontsize=10)
    for tick, (_, _, record) in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_fontweight("bold" if record is None else "normal")
    ax.tick_params(axis="y", length=0)
    reach = max(0.5, np.nanmax(np.abs(frame[["smd_low", "smd_high", "smd"]].to_numpy())))
    ax.set(xlim=(-1.1 * reach, 1.1 * reach), ylim=(min(ys) - 0.8, 0.8))
    ax.text(
        0,
        1.0,
        f"small (|SMD| < {SMALL_SMD})",
        transform=ax.get_xaxis_transform(),
        ha="center",
        va="bottom",
        fontsize=9,
        color="#555555",
    )
    ax.set_xlabel(
        "Standardised mean difference, other minus reference scenario (95% interval)", fontsize=10
    )
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    numbers = ["SMD [95% interval]"] + [_interval_text(r) for _, _, r in rows[1:]]
    right.set_yticks(ys, labels=numbers, fontsize=9, color="#333333", family="monospace")
    right.tick_params(axis="y", length=0)
    right.spines[:].set_visible(False)


def _interval_text(record: Any) -> str:
    """Estimate and interval as fixed-width text (aligned in a monospace column)."""
    if record is None:
        return ""
    text = f"{record.smd:5.2f} [{record.smd_low:5.2f}, {record.smd_high:5.2f}]"
    return text.replace("-", "\N{MINUS SIGN}")


def _stage_panel(ax: Axes, table: pd.DataFrame, scenario: str, *, ylabel: str) -> None:
    """Stacked area of stage shares (table: week x stage, in STAGES order)."""
    ax.stackplot(
        table.index,
        (100 * table.to_numpy()).T,
        colors=STAGE_COLOURS,
        labels=[s.capitalize() for s in STAGES],
        edgecolor="white",
        linewidth=0.4,
    )
    ax.set_ylim(0, 100)
    _style(ax, scenario, ylabel, weeks=table.index)


def _draw_metric_panels(
    axes: Sequence[Axes], metrics: Sequence[str], summary: pd.DataFrame, scenarios: Sequence[str]
) -> None:
    """One panel per metric: a mean line and interval band per scenario."""
    for ax, metric in zip(axes, metrics, strict=False):
        unit, scale, (lowest, highest) = _unit(metric)
        data = summary[summary["metric"] == metric]
        for i, scenario in enumerate(scenarios):
            line = data[data["scenario"] == scenario]
            colour, style = _look(i)
            ax.plot(line["week"], scale * line["mean"], color=colour, linestyle=style, lw=2)
            if line["low"].notna().any():
                ax.fill_between(
                    line["week"],
                    (scale * line["low"]).clip(lowest, highest),
                    (scale * line["high"]).clip(lowest, highest),
                    color=colour,
                    alpha=0.18,
                    linewidth=0,
                )
        _style(ax, _title(metric), unit, weeks=data["week"])
        _clamp_ylim(ax, lowest, highest)


def _clamp_ylim(ax: Axes, lowest: float, highest: float) -> None:
    """Keep the y-axis within a metric's valid range, plus a hairline margin."""
    bottom, top = ax.get_ylim()
    margin = 0.02 * (min(top, highest) - max(bottom, lowest))
    ax.set_ylim(max(bottom, lowest - margin), min(top, highest + margin))


def _style(ax: Axes, title: str, unit: str, *, weeks: Sequence[int]) -> None:
    """Shared look of a time panel: left title, light grid, weeks edge to edge."""
    if min(weeks) < max(weeks):
        ax.set_xlim(min(weeks), max(weeks))
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel("Week", fontsize=10)
    ax.set_ylabel(unit, fontsize=10)
    ax.tick_params(labelsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)


def _figure_with_legend(
    ncols: int, nrows: int, scenarios: Sequence[str], title: str
) -> tuple[Figure, SubFigure]:
    """A figure with a title, one scenario legend under it, and a body for the panels."""
    width, height = PANEL_SIZE
    fig_width = max(width * ncols, MIN_WIDTH)
    # Fit the legend to the figure's width: about 0.08 in per character at 10 pt.
    entry_width = 0.8 + 0.08 * max(len(s) for s in scenarios)
    legend_cols = max(1, min(len(scenarios), int(fig_width // entry_width)))
    header = 0.15 + 0.28 * math.ceil(len(scenarios) / legend_cols)
    fig = Figure(figsize=(fig_width, height * nrows + header + 0.45), dpi=DPI, layout="constrained")
    fig.suptitle(title, fontsize=13, fontweight="bold")
    top, body = fig.subfigures(2, 1, height_ratios=[header, height * nrows])
    handles = [
        Line2D([], [], color=_look(i)[0], linestyle=_look(i)[1], linewidth=2)
        for i in range(len(scenarios))
    ]
    top.legend(
        handles,
        scenarios,
        loc="center",
        ncols=legend_cols,
        frameon=False,
        fontsize=10,
        handlelength=3,
    )
    return fig, body


def _grid(panels: int, *, max_columns: int) -> tuple[int, int]:
    ncols = min(panels, max_columns)
    return ncols, math.ceil(panels / ncols)


def _hide_unused(axes: Sequence[Axes], used: int) -> None:
    for ax in axes[used:]:
        ax.set_visible(False)


def _replicates(summary: pd.DataFrame, *, band: bool = True) -> str:
    """Subtitle text, e.g. "mean of 5 replicates, band = 95% interval"."""
    low, high = int(summary["n"].min()), int(summary["n"].max())
    if high < 2:
        return "1 replicate (no interval)" if band else "1 replicate"
    return f"mean of {low if low == high else f'{low}-{high}'} replicates" + (
        ", band = 95% interval" if band else ""
    )


def _look(index: int) -> tuple[str, str]:
    """Colour and line style of the ``index``-th scenario."""
    return PALETTE[index % len(PALETTE)], LINE_STYLES[index % len(LINE_STYLES)]


def _title(metric: str) -> str:
    default = metric.removeprefix("dose_").removeprefix("stage_").replace("_", " ").capitalize()
    return _TITLES.get(metric, default)


def _unit(metric: str) -> tuple[str, float, tuple[float, float]]:
    """Axis label, scale factor and valid range (after scaling; bands are clipped to it)."""
    description = METRICS.get(metric, ("", ""))[1]
    if description.startswith("share"):
        return "% of users", 100.0, (0.0, 100.0)
    if metric in _UNITS:
        return _UNITS[metric]
    if metric.startswith("dose_"):
        return "dose per user per week", 1.0, (0.0, np.inf)
    if "(0-1)" in description:
        return "mean score (0-1)", 1.0, (0.0, 1.0)
    return "value", 1.0, (-np.inf, np.inf)


def _save(fig: Figure | SubFigure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return write_atomic(path, buffer.getvalue())


DIFFERENCE_PANELS = (
    ("employed", "In paid work (share)"),
    ("personal_recovery", "Personal recovery (QPR)"),
    ("social_inclusion", "Social inclusion (SIX, 0-6)"),
    ("hope", "Hope (0-1)"),
    ("empowerment", "Empowerment (0-1)"),
    ("connectedness", "Connectedness (0-1)"),
)


def plot_differences_over_time(
    frame: pd.DataFrame, path: str | Path, *, marks: Sequence[int] = ()
) -> Path:
    """Paired differences (other - reference) week by week with 95% bands, per outcome.

    ``frame`` is :func:`sim.studies.compare.differences_over_time`' table (one or more
    comparisons); ``marks`` are weeks drawn as dotted lines (e.g. the end of an episode).
    """
    panels = [(m, t) for m, t in DIFFERENCE_PANELS if m in set(frame.metric)]
    if not panels:
        raise ValueError("no outcome to plot in the differences")
    ncols = 3
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(3.9 * ncols, 2.9 * nrows + 0.5), dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (metric, title) in zip(axes, panels, strict=False):
        part = frame[frame.metric == metric]
        for k, (label, group) in enumerate(part.groupby("comparison", sort=False)):
            colour = PALETTE[(k + 1) % len(PALETTE)]
            ax.plot(group.week, group.difference, color=colour, lw=1.6, label=str(label))
            ax.fill_between(group.week, group.diff_low, group.diff_high, color=colour, alpha=0.2)
        ax.axhline(0, color="grey", lw=0.8)
        for week in marks:
            ax.axvline(week, color="black", lw=0.8, ls=":")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("week")
    _hide_unused(axes, len(panels))
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("Paired difference from the reference, week by week (95% band)", fontsize=11)
    return _save(fig, path)


SERVICE_PANELS = (
    ("caseload", "users in service"),
    ("list_length", "places waited for"),
    ("waiting_weeks", "wait of those placed (weeks)"),
)


def plot_service_flow(series: pd.DataFrame, path: str | Path) -> Path:
    """Caseload, waiting list and waits week by week, a line per scenario (mean of replicates).

    ``series`` is the tidy comparison series (scenario, replicate, week, metric, value).
    """
    fig = Figure(figsize=(3.9 * len(SERVICE_PANELS), 3.2), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(SERVICE_PANELS), squeeze=False).ravel()
    for ax, (metric, title) in zip(axes, SERVICE_PANELS, strict=True):
        part = series[(series.metric == metric) & (series.week > 0)]
        means = part.groupby(["scenario", "week"], sort=False).value.mean()
        for k, scenario in enumerate(pd.unique(part.scenario)):
            line = means.loc[scenario]
            ax.plot(line.index, line.to_numpy(), color=PALETTE[k % len(PALETTE)], label=scenario)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("week")
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("The service week by week (mean over replicates)", fontsize=11)
    return _save(fig, path)


def plot_equity(groups: pd.DataFrame, path: str | Path) -> Path:
    """Outcome means by subgroup at the horizon, a bar per scenario, with 95% intervals.

    ``groups`` is the first table of :func:`sim.studies.equity.equity_tables`; rows of
    panels are outcomes, columns subgroups.
    """
    outcomes = list(pd.unique(groups.outcome))
    subgroups = list(pd.unique(groups.subgroup))
    scenarios = list(pd.unique(groups.scenario))
    fig = Figure(
        figsize=(3.6 * len(subgroups), 2.7 * len(outcomes) + 0.6), dpi=DPI, layout="constrained"
    )
    axes = fig.subplots(len(outcomes), len(subgroups), squeeze=False)
    width = 0.8 / len(scenarios)
    for i, outcome in enumerate(outcomes):
        for j, subgroup in enumerate(subgroups):
            ax = axes[i, j]
            part = groups[(groups.outcome == outcome) & (groups.subgroup == subgroup)]
            labels = list(pd.unique(part.group))
            for k, scenario in enumerate(scenarios):
                rows = part[part.scenario == scenario].set_index("group").reindex(labels)
                x = np.arange(len(labels)) + (k - (len(scenarios) - 1) / 2) * width
                ax.bar(x, rows["mean"], width, color=PALETTE[k % len(PALETTE)], label=scenario)
                ax.errorbar(
                    x,
                    rows["mean"],
                    yerr=[rows["mean"] - rows["low"], rows["high"] - rows["mean"]],
                    fmt="none",
                    ecolor="black",
                    lw=0.8,
                )
            ax.set_xticks(np.arange(len(labels)), labels, fontsize=7, rotation=15)
            ax.set_title(f"{outcome.replace('_', ' ')}: {subgroup.replace('_', ' ')}", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Outcomes at the horizon by subgroup at entry (95% intervals)", fontsize=11)
    return _save(fig, path)


def plot_ce_plane(increments: pd.DataFrame, path: str | Path, threshold: float = 20_000.0) -> Path:
    """The cost-effectiveness plane: a point per replicate and scenario, and the means.

    The dashed line is the willingness to pay ``threshold`` (GBP per QALY).
    ``increments`` is :func:`sim.studies.economics.replicate_increments`' table.
    """
    fig = Figure(figsize=(6.0, 4.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    for k, (name, group) in enumerate(increments.groupby("scenario", sort=False)):
        colour = PALETTE[k % len(PALETTE)]
        ax.scatter(group.incremental_qalys, group.incremental_cost, s=14, alpha=0.6, color=colour)
        ax.scatter(
            [group.incremental_qalys.mean()],
            [group.incremental_cost.mean()],
            marker="X",
            s=90,
            color=colour,
            edgecolor="black",
            label=f"{name} (mean)",
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    span = max(float(increments.incremental_qalys.abs().max()), 1e-6) * 1.1
    xs = np.array([-span, span])
    ax.plot(xs, threshold * xs, ls="--", color="black", lw=1, label=f"£{threshold:,.0f} per QALY")
    ax.set_xlim(-span, span)
    ax.set_xlabel("Incremental QALYs per person (discounted)")
    ax.set_ylabel("Incremental cost per person (£, discounted)")
    ax.set_title("Cost-effectiveness plane: below the line is cost-effective", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_ceac(curves: pd.DataFrame, path: str | Path) -> Path:
    """Cost-effectiveness acceptability curves: P(net monetary benefit > 0) by threshold.

    ``curves`` has columns ``scenario``, ``threshold`` (GBP per QALY), ``probability``.
    """
    fig = Figure(figsize=(6.0, 4.2), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    for name, group in curves.groupby("scenario", sort=False):
        ax.plot(group.threshold / 1000.0, group.probability, label=str(name))
    for line in (20, 30):
        ax.axvline(line, color="grey", lw=0.8, ls=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Willingness to pay (£ thousand per QALY)")
    ax.set_ylabel("Probability cost-effective")
    ax.set_title("Acceptability curve (share of replicates with NMB > 0)", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_moderator_curves(frame: pd.DataFrame, path: str | Path) -> Path:
    """The package effect against each moderator (rows: outcomes, columns: moderators).

    ``frame`` is :func:`sim.studies.effect_modification.moderator_curves`' table; the
    band is the 95% interval of the mean paired effect over replicates.
    """
    from sim.studies.effect_modification import MODERATOR_LEVELS

    moderators = list(dict.fromkeys(frame["moderator"]))
    metrics = list(dict.fromkeys(frame["metric"]))
    figure = Figure(figsize=(3.0 * len(moderators), 2.4 * len(metrics)))
    axes = figure.subplots(len(metrics), len(moderators), squeeze=False)
    for row, metric in enumerate(metrics):
        for column, moderator in enumerate(moderators):
            ax = axes[row, column]
            part = frame[(frame.metric == metric) & (frame.moderator == moderator)]
            ax.fill_between(part.level, part.low, part.high, color="#0072B2", alpha=0.25)
            ax.plot(part.level, part.effect, "o-", color="#0072B2", markersize=3)
            ax.axhline(0.0, color="0.6", linewidth=0.8)
            unit = METRICS[metric][1] if metric in METRICS else metric
            if column == 0:
                ax.set_ylabel(f"effect on {metric}", fontsize=8)
            if row == len(metrics) - 1:
                ax.set_xlabel(MODERATOR_LEVELS.get(moderator, ((), moderator))[1], fontsize=8)
            ax.set_title(unit if column == 0 else "", fontsize=7, loc="left")
            ax.tick_params(labelsize=7)
    week = int(frame["week"].iloc[0])
    figure.suptitle(
        f"Effect of the same package (paired, week {week}) against each moderator; "
        "band: 95% interval",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, facecolor="white")
    return write_atomic(path, buffer.getvalue())
