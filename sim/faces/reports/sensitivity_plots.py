"""Figures of a sensitivity analysis: ranked indices, interactions, Morris, levels, convergence.

Every function takes the tidy frames of :mod:`sim.studies.sensitivity` (``indices``,
``convergence``, ``stable``), draws one :class:`matplotlib.figure.Figure` (no pyplot)
with a panel per output and writes one PNG atomically, returning its path.
Parameters are coloured by moderator level in every figure (Okabe-Ito colours,
as :mod:`sim.faces.reports.figures`), so the level that matters can be read at a glance.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from sim.files.experiment import OUTPUTS
from sim.files.outputs import write_atomic

__all__ = [
    "LEVEL_COLOURS",
    "output_title",
    "plot_convergence",
    "plot_levels",
    "plot_morris",
    "plot_ranking",
    "plot_second_order",
]

LEVEL_COLOURS = {
    "user": "#0072B2",
    "service": "#D55E00",
    "environment": "#009E73",
    "structural": "#CC79A7",
    "": "#555555",
}
DPI = 150
_METHOD_NAMES = {"sobol": "Sobol'", "sobol_by_level": "Sobol' (by level)", "efast": "eFAST"}
MAX_BARS = 16  # parameters shown per ranking panel
LABELLED = 6  # Morris points named on the plot


def output_title(output: str) -> str:
    """A readable title of an output column, e.g. "Share in competitive employment, week 104"."""
    metric, _, week = output.rpartition("_w")
    effect = metric.endswith("_effect")
    metric = metric.removesuffix("_effect")
    if metric not in OUTPUTS or not week.isdigit():
        return output
    text = OUTPUTS[metric][1]
    if effect:
        return f"Package effect on {text}, week {week}"
    return f"{text[0].upper()}{text[1:]}, week {week}"


def plot_ranking(indices: pd.DataFrame, path: str | Path, *, conf_level: float = 0.95) -> Path:
    """Total- and first-order indices with intervals, ranked, a panel per output.

    Args:
        indices: Tidy indices (:data:`sim.studies.sensitivity.INDEX_COLUMNS`) of one Sobol',
            grouped Sobol' or eFAST analysis.
        path: Destination PNG file (its folder must exist).
        conf_level: The intervals' confidence level (for the title).

    Returns:
        The path written.

    Raises:
        ValueError: If there are no S1/ST rows.
    """
    data = indices[indices["index"].isin(["S1", "ST"])]
    if data.empty:
        raise ValueError("no first- or total-order indices to plot")
    outputs = list(pd.unique(data["output"]))
    bars = min(MAX_BARS, data["parameter"].nunique())
    fig, axes = _panels(len(outputs), width=6.4, height=0.9 + 0.34 * bars, columns=2)
    for ax, output in zip(axes, outputs, strict=False):
        _ranking_panel(ax, data[data["output"] == output], bars)
        ax.set_title(output_title(output), loc="left", fontsize=10)
    handles = [
        Patch(color="#333333", label="total order (ST)"),
        Patch(facecolor="white", edgecolor="#333333", hatch="////", label="first order (S1)"),
        *_level_handles(data),
    ]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 6),
        frameon=False,
        fontsize=9,
    )
    method = _METHOD_NAMES.get(data["method"].iloc[0], data["method"].iloc[0])
    fig.suptitle(
        f"Which levers matter: {method} indices, ranked by total order "
        f"({_conf_text(data, conf_level)}; base N = {int(data['base_n'].iloc[0])})",
        fontsize=12,
        fontweight="bold",
    )
    return _save(fig, path)


def _ranking_panel(ax: Axes, data: pd.DataFrame, bars: int) -> None:
    total = data[data["index"] == "ST"].set_index("parameter")
    first = data[data["index"] == "S1"].set_index("parameter")
    order = list(total["estimate"].sort_values(ascending=False).index[:bars])[::-1]
    y = np.arange(len(order))
    colours = [LEVEL_COLOURS.get(total.at[p, "level"], "#555555") for p in order]
    for table, offset, style in ((total, 0.19, {}), (first, -0.19, {"hatch": "////"})):
        values = table.loc[order]
        solid = not style
        ax.barh(
            y + offset,
            values["estimate"],
            height=0.36,
            color=colours if solid else "white",
            edgecolor=colours,
            linewidth=1,
            **style,
        )
        errors = _error_bars(values)
        if errors is not None:
            ax.errorbar(
                values["estimate"],
                y + offset,
                xerr=errors,
                fmt="none",
                ecolor="#222222",
                elinewidth=0.9,
                capsize=2,
            )
    ax.set_yticks(y, labels=order, fontsize=8.5)
    for tick, colour in zip(ax.get_yticklabels(), colours, strict=True):
        tick.set_color(colour)
    ax.axvline(0, color="#444444", linewidth=0.8)
    ax.set_xlabel("share of output variance", fontsize=9)
    _tidy(ax)


def plot_second_order(indices: pd.DataFrame, path: str | Path, *, conf_level: float = 0.95) -> Path:
    """Second-order Sobol' indices as a triangular heatmap per output.

    Only pairs whose interval lies above zero are coloured and labelled: a true
    S2 is never negative, so an interval below zero is an estimation artefact.

    Raises:
        ValueError: If there are no S2 rows.
    """
    data = indices[indices["index"] == "S2"]
    if data.empty:
        raise ValueError("no second-order indices to plot (design.second_order = false?)")
    outputs = list(pd.unique(data["output"]))
    names = list(pd.unique(pd.concat([data["parameter"], data["partner"]])))
    size = 2.4 + 0.34 * len(names)
    fig, axes = _panels(len(outputs), width=max(size + 0.8, 5.0), height=size, columns=2)
    clear = data[data["ci_low"] > 0]
    norm = Normalize(0.0, max(0.05, float(clear["estimate"].max()) if len(clear) else 0.05))
    image = None
    for ax, output in zip(axes, outputs, strict=False):
        image = _heatmap(ax, data[data["output"] == output], names, norm)
        ax.set_title(textwrap.fill(output_title(output), 45), loc="left", fontsize=10)
    fig.colorbar(image, ax=list(axes[: len(outputs)]), shrink=0.5, label="S2")
    fig.legend(
        handles=[
            Patch(
                color=_GREY_CELL,
                label=f"grey: {conf_level:.0%} interval not above 0 (estimate in grey)",
            )
        ],
        loc="outside lower center",
        frameon=False,
        fontsize=9,
    )
    fig.suptitle(
        "Interactions: second-order Sobol' indices of pairs of levers",
        fontsize=12,
        fontweight="bold",
    )
    return _save(fig, path)


_GREY_CELL = "#e6e6e6"


def _heatmap(ax: Axes, data: pd.DataFrame, names: list[str], norm: Normalize) -> object:
    """Rows: all names but the last; columns: all but the first (the upper triangle)."""
    size = len(names) - 1
    clear = np.full((size, size), np.nan)
    for r in data.itertuples(index=False):
        i, j = names.index(r.parameter), names.index(r.partner) - 1
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color=_GREY_CELL, linewidth=0, zorder=0))
        if r.ci_low > 0:
            clear[i, j] = r.estimate
        colour = (
            "#999999" if r.ci_low <= 0 else "white" if r.estimate > 0.6 * norm.vmax else "black"
        )
        ax.text(
            j,
            i,
            f"{r.estimate:.2f}".replace("-", "\N{MINUS SIGN}"),
            ha="center",
            va="center",
            fontsize=6.5,
            zorder=2,
            color=colour,
        )
    if np.isnan(clear).all():
        ax.text(
            0.02,
            0.02,
            "no pair clearly above 0",
            transform=ax.transAxes,
            ha="left",
            fontsize=9,
            color="#555555",
        )
    image = ax.imshow(clear, cmap="Reds", norm=norm, zorder=1)
    ax.set_xticks(range(size), labels=names[1:], rotation=90, fontsize=8)
    ax.set_yticks(range(size), labels=names[:-1], fontsize=8)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    return image


def plot_morris(indices: pd.DataFrame, path: str | Path, *, conf_level: float = 0.95) -> Path:
    """Morris mu* against sigma per output, coloured by level, with the noise floor.

    Raises:
        ValueError: If there are no mu_star rows.
    """
    data = indices[indices["method"] == "morris"]
    if data.empty or not (data["index"] == "mu_star").any():
        raise ValueError("no Morris indices to plot")
    outputs = list(pd.unique(data["output"]))
    fig, axes = _panels(len(outputs), width=6.2, height=4.6, columns=2)
    for ax, output in zip(axes, outputs, strict=False):
        _morris_panel(ax, data[data["output"] == output])
        ax.set_title(output_title(output), loc="left", fontsize=10)
    handles = [
        *_level_handles(data),
        Patch(color="#999999", alpha=0.3, label="below the noise floor"),
    ]
    fig.legend(
        handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize=9
    )
    fig.suptitle(
        "Morris screening: mean |elementary effect| (mu*, "
        f"{_conf_text(data, conf_level)}) against its spread (sigma), "
        f"{int(data['base_n'].iloc[0])} trajectories",
        fontsize=12,
        fontweight="bold",
    )
    return _save(fig, path)


def _morris_panel(ax: Axes, data: pd.DataFrame) -> None:
    table = data.pivot(index="parameter", columns="index", values="estimate")
    star = data[data["index"] == "mu_star"].set_index("parameter")
    sigma = table.loc[star.index, "sigma"]
    floor = float(star["noise_floor"].iloc[0])
    right = max(float(star["ci_high"].max()), floor) * 1.08
    top = float(sigma.max()) * 1.15
    ax.axvspan(0, floor, color="#999999", alpha=0.3, linewidth=0)
    for ratio in (0.1, 0.5, 1.0):
        ax.plot([0, right], [0, ratio * right], color="#bbbbbb", linewidth=0.8, linestyle=":")
        end = (right, ratio * right) if ratio * right <= top else (top / ratio, top)
        ax.text(
            0.9 * end[0],
            0.9 * end[1],
            f"sigma/mu* = {ratio} ",
            fontsize=7,
            color="#888888",
            ha="right",
            va="bottom",
        )
    colours = [LEVEL_COLOURS.get(level, "#555555") for level in star["level"]]
    ax.errorbar(
        star["estimate"],
        sigma,
        xerr=_error_bars(star),
        fmt="none",
        ecolor="#aaaaaa",
        elinewidth=0.8,
    )
    ax.scatter(
        star["estimate"], sigma, c=colours, s=28, zorder=3, edgecolors="white", linewidths=0.6
    )
    ax.set(xlim=(0, right), ylim=(0, top))
    leaders = star["estimate"].nlargest(LABELLED).index
    _place_labels(
        ax,
        [
            (n, star.at[n, "estimate"], sigma[n], LEVEL_COLOURS.get(star.at[n, "level"], "#555555"))
            for n in leaders
        ],
    )
    ax.set_xlabel("mu* (output units per full range of the lever)", fontsize=9)
    ax.set_ylabel("sigma (interactions, non-linearity)", fontsize=9)
    _tidy(ax)


def _place_labels(ax: Axes, points: list[tuple[str, float, float, str]]) -> None:
    """Name points without overlaps: labels stacked away from the nearer edge."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    width_in = ax.figure.get_figwidth() / 2 - 1.2  # about one panel's plotting width
    gap, char = 0.05, 7.5 * 0.55 / 72 / width_in  # label height and character width
    placed: list[tuple[float, float, float]] = []
    for name, x, y in sorted(
        ((n, (x - x0) / (x1 - x0), (y - y0) / (y1 - y0)) for n, x, y, _ in points),
        key=lambda p: abs(p[2] - 0.5),
    ):
        length = char * len(name) + 0.02
        start = x + 0.015 if x + length < 1.0 else x - 0.015 - length
        level, step = y, (gap / 2 if y < 0.5 else -gap / 2)
        while any(abs(level - b) < gap and start < e and s < start + length for s, e, b in placed):
            level += step
        placed.append((start, start + length, level))
        colour = next(c for n, *_, c in points if n == name)
        ax.annotate(
            name,
            (x, y),
            xycoords="axes fraction",
            xytext=(start, level),
            textcoords="axes fraction",
            fontsize=7.5,
            color=colour,
            va="center",
            arrowprops={"arrowstyle": "-", "color": "#bbbbbb", "linewidth": 0.6},
        )


def plot_levels(indices: pd.DataFrame, path: str | Path, *, conf_level: float = 0.95) -> Path:
    """Grouped Sobol' indices: S1 and ST per moderator level, a panel per output.

    Raises:
        ValueError: If there are no grouped (``sobol_by_level``) rows.
    """
    data = indices[(indices["method"] == "sobol_by_level") & indices["index"].isin(["S1", "ST"])]
    if data.empty:
        raise ValueError("no indices grouped by level to plot")
    outputs = list(pd.unique(data["output"]))
    fig, axes = _panels(len(outputs), width=4.2, height=3.4, columns=3)
    for ax, output in zip(axes, outputs, strict=False):
        part = data[data["output"] == output]
        levels = list(
            part[part["index"] == "ST"].sort_values("estimate", ascending=False)["parameter"]
        )
        x = np.arange(len(levels))
        for name, offset, hatch in (("ST", -0.19, None), ("S1", 0.19, "////")):
            rows = part[part["index"] == name].set_index("parameter").loc[levels]
            colours = [LEVEL_COLOURS.get(level, "#555555") for level in levels]
            ax.bar(
                x + offset,
                rows["estimate"],
                width=0.36,
                hatch=hatch,
                linewidth=1,
                color="white" if hatch else colours,
                edgecolor=colours,
                yerr=_error_bars(rows),
                ecolor="#222222",
                capsize=3,
            )
        ax.set_xticks(x, labels=levels, fontsize=9)
        ax.axhline(0, color="#444444", linewidth=0.8)
        ax.set_ylabel("share of output variance", fontsize=9)
        ax.set_title(textwrap.fill(output_title(output), 42), loc="left", fontsize=9.5)
        _tidy(ax, grid="y")
    handles = [
        Patch(color="#333333", label="total order (ST)"),
        Patch(facecolor="white", edgecolor="#333333", hatch="////", label="first order (S1)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    by_level = set(data["parameter"]) <= set(LEVEL_COLOURS)
    kind = ("level", "moderator level") if by_level else ("group", "group")
    fig.suptitle(
        f"Which {kind[0]} matters: Sobol' indices by {kind[1]} ({_conf_text(data, conf_level)})",
        fontsize=12,
        fontweight="bold",
    )
    return _save(fig, path)


def plot_convergence(
    convergence: pd.DataFrame, stable: pd.DataFrame, path: str | Path, *, top: int = 5
) -> Path:
    """Leading indices and their interval widths against the base sample size.

    Left panel per output: the ranking index (ST, or mu* for Morris) of the
    ``top`` parameters at the largest size, with intervals, and the size from
    which the ranking is stable. Right: interval widths on log axes, with the
    1/sqrt(N) slope of Monte Carlo convergence for reference.

    Raises:
        ValueError: If the convergence table is empty (eFAST samples do not nest).
    """
    if convergence.empty:
        raise ValueError("no convergence table (eFAST samples do not nest)")
    outputs = list(pd.unique(convergence["output"]))
    fig = Figure(figsize=(12.0, 3.1 * len(outputs) + 0.8), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(outputs), 2, squeeze=False, width_ratios=[1.5, 1])
    for (left, right), output in zip(axes, outputs, strict=True):
        row = stable[stable["output"] == output].iloc[0]
        part = convergence[
            (convergence["output"] == output) & (convergence["index"] == row["index"])
        ]
        _convergence_panels(left, right, part, row, top)
        left.set_title(output_title(output), loc="left", fontsize=10)
    fig.suptitle(
        "Convergence: indices and interval widths against sample size",
        fontsize=12,
        fontweight="bold",
    )
    return _save(fig, path)


def _convergence_panels(
    left: Axes, right: Axes, part: pd.DataFrame, row: pd.Series, top: int
) -> None:
    largest = part[part["base_n"] == row["largest_n"]]
    leaders = list(largest.nlargest(top, "estimate")["parameter"])
    for i, name in enumerate(leaders):
        line = part[part["parameter"] == name].sort_values("base_n")
        colour = LEVEL_COLOURS.get(name) or _cycle(i)
        left.plot(line["base_n"], line["estimate"], "o-", color=colour, ms=3, lw=1.5, label=name)
        left.fill_between(
            line["base_n"], line["ci_low"], line["ci_high"], color=colour, alpha=0.15, linewidth=0
        )
        right.plot(line["base_n"], line["ci_high"] - line["ci_low"], "o-", color=colour, ms=3)
    sizes = np.array(sorted(part["base_n"].unique()), dtype=float)
    widths = (part["ci_high"] - part["ci_low"])[part["parameter"].isin(leaders)]
    if widths.notna().any() and widths.max() > 0:
        start = float(widths[part["base_n"] == sizes[0]].max())
        right.plot(
            sizes, start * np.sqrt(sizes[0] / sizes), "--", color="#999999", label="1/sqrt(N)"
        )
        right.set_yscale("log")
        right.legend(fontsize=8, frameon=False)
    if row["orderings"]:
        verb = "stable" if row["verified"] else "not yet shown stable;"
        left.axvline(row["stable_n"], color="#444444", linestyle=":", linewidth=1)
        symbol = "r" if row["index"] == "mu_star" else "N"
        left.text(
            row["stable_n"],
            1.0,
            f" ranking {verb} from {symbol} = {row['stable_n']}",
            transform=left.get_xaxis_transform(),
            fontsize=8,
            va="top",
        )
    else:
        left.text(
            0.01,
            1.0,
            "no clear ranking at the largest N",
            fontsize=8,
            va="top",
            transform=left.transAxes,
        )
    left.legend(fontsize=7.5, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    size = "trajectories r" if row["index"] == "mu_star" else "base sample size N"
    for ax, label in ((left, row["index"]), (right, f"width of {row['index']} interval")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel(size, fontsize=9)
        ax.set_ylabel(label, fontsize=9)
        _tidy(ax, grid="both")


# --------------------------------------------------------------------------- helpers


def _panels(count: int, *, width: float, height: float, columns: int) -> tuple[Figure, list[Axes]]:
    ncols = min(count, columns)
    nrows = math.ceil(count / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows + 1.0), dpi=DPI, layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes


def _error_bars(rows: pd.DataFrame) -> np.ndarray | None:
    if rows["ci_low"].isna().all():
        return None
    below = (rows["estimate"] - rows["ci_low"]).to_numpy()
    above = (rows["ci_high"] - rows["estimate"]).to_numpy()
    return np.vstack([below, above])


def _level_handles(data: pd.DataFrame) -> Iterator[Patch]:
    for level in LEVEL_COLOURS:
        if level and level in set(data["level"]):
            yield Patch(color=LEVEL_COLOURS[level], label=f"{level} level")


def _conf_text(data: pd.DataFrame, conf_level: float) -> str:
    if data["ci_low"].isna().all():
        return "no intervals"
    return f"bars = {conf_level:.0%} bootstrap intervals"


def _cycle(index: int) -> str:
    palette: Sequence[str] = (
        "#0072B2",
        "#D55E00",
        "#009E73",
        "#CC79A7",
        "#E69F00",
        "#56B4E9",
        "#000000",
    )
    return palette[index % len(palette)]


def _tidy(ax: Axes, *, grid: str = "x") -> None:
    ax.tick_params(labelsize=8.5)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis=grid, color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)


def _save(fig: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return write_atomic(path, buffer.getvalue())
