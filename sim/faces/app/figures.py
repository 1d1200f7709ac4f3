"""The teaching app's charts: matplotlib figures of a live :class:`ContextComparison`.

Each function draws one :class:`matplotlib.figure.Figure` (no pyplot, so no
global figure state and safe in the server's threads) from the current week of
the run. The app shows them as PNG images and :func:`save_charts` writes the very
same figures for export, so what is saved is what the class saw. Context A is a
solid blue line, context B a dashed orange one (Okabe-Ito colours, as in
:mod:`sim.faces.reports.figures`); recovery stages use the report's stage colours.
"""

from __future__ import annotations

import io
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib import image as mimage
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from sim.core.logic_model import MECHANISMS, STAGES
from sim.core.scales import N_STAGES, QPR_MAX
from sim.faces.app.session import ContextComparison, ContextRun, effect_frame, metric_frame
from sim.faces.reports.figures import PALETTE, STAGE_COLOURS

__all__ = [
    "CHARTS",
    "DOMAIN_PANELS",
    "EFFECT_PANELS",
    "NETWORK_FULL_MAX",
    "NETWORK_SAMPLE",
    "PNG_OPTIONS",
    "RUN_STYLES",
    "chart_png",
    "doses_figure",
    "effect_figure",
    "effect_readout",
    "network_caption",
    "network_figure",
    "network_sample",
    "outcomes_figure",
    "pathway_figure",
    "readout",
    "save_charts",
    "stages_figure",
]

RUN_STYLES = {"A": (PALETTE[0], "-"), "B": (PALETTE[4], "--")}
# domain -> panels of (metric, title, unit, scale, minimum visible span)
DOMAIN_PANELS: dict[str, tuple[tuple[str, str, str, float, float], ...]] = {
    "Functional": (
        ("employed", "In paid work", "% of users", 100.0, 10.0),
        ("housed", "Stably housed", "% of users", 100.0, 10.0),
    ),
    "Existential": (
        ("personal_recovery", "Personal recovery", "mean QPR (0-60)", 1.0, 6.0),
        ("hope", "Hope", "mean (0-1)", 1.0, 0.1),
    ),
    "Social": (("connectedness", "Connectedness", "mean (0-1)", 1.0, 0.1),),
}
# The package effect's panels, every domain: (domain, metric, title, unit, scale,
# minimum visible span of the y-axis, so that a null effect does not look like noise).
EFFECT_PANELS: tuple[tuple[str, str, str, str, float, float], ...] = (
    ("Existential", "personal_recovery", "Personal recovery", "QPR points", 1.0, 1.0),
    ("Existential", "hope", "Hope", "0-1 scale", 1.0, 0.02),
    ("Functional", "employed", "In paid work", "percentage points", 100.0, 2.0),
    ("Functional", "housed", "Stably housed", "percentage points", 100.0, 2.0),
    ("Social", "social_inclusion", "Social inclusion", "SIX points, 0-6", 1.0, 0.1),
    ("Social", "connectedness", "Connectedness", "0-1 scale", 1.0, 0.02),
)
INTERACTION_STYLE = ("#000000", ":")
DPI = 110


# Fixed margins, in inches, for the figures redrawn at every step: matplotlib's
# constrained layout measures every tick label on every draw (~40% of a redraw), and
# these views keep one shape, so their margins are set once here instead.
MARGIN_LEFT_IN, MARGIN_RIGHT_IN, MARGIN_BOTTOM_IN, GAP_IN = 0.62, 0.12, 0.48, 0.72


def _fixed_figure(width: float, height: float) -> Figure:
    """A figure without a layout engine (see :data:`MARGIN_LEFT_IN`)."""
    return Figure(figsize=(width, height), dpi=DPI, layout=None)


def _fixed_axes(
    parent: Figure | SubFigure,
    width: float,
    height: float,
    ncols: int,
    *,
    nrows: int = 1,
    top_in: float = 0.8,
    row_gap_in: float = 0.75,
) -> np.ndarray:
    """A grid of axes in ``parent`` (``width`` x ``height`` inches) with fixed margins.

    ``top_in`` leaves room for titles, a legend or a suptitle above the grid.
    """
    usable_w = width - MARGIN_LEFT_IN - MARGIN_RIGHT_IN
    usable_h = height - MARGIN_BOTTOM_IN - top_in
    axis_w = (usable_w - (ncols - 1) * GAP_IN) / ncols
    axis_h = (usable_h - (nrows - 1) * row_gap_in) / nrows
    grid = {
        "left": MARGIN_LEFT_IN / width,
        "right": 1 - MARGIN_RIGHT_IN / width,
        "bottom": MARGIN_BOTTOM_IN / height,
        "top": 1 - top_in / height,
        "wspace": GAP_IN / axis_w,
        "hspace": row_gap_in / axis_h,
    }
    return parent.subplots(nrows, ncols, squeeze=False, gridspec_kw=grid)


def _legend_top_right(fig: Figure, handles: list, width: float, height: float, **kw) -> None:
    fig.legend(
        handles=handles,
        loc="upper right",
        bbox_to_anchor=(1 - MARGIN_RIGHT_IN / width, 1 - 0.04 / height),
        ncols=len(handles),
        frameon=False,
        **kw,
    )


def _style(ax: Axes, title: str, unit: str, weeks: int) -> None:
    ax.set_xlim(0, max(weeks, 1))
    ax.set_title(title, fontsize=11, loc="left", y=1.0)  # a fixed y skips a costly search
    ax.set_xlabel("Week", fontsize=9)
    ax.set_ylabel(unit, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)


def _run_legend(
    fig: Figure, runs: Sequence[ContextRun], size: tuple[float, float] | None = None
) -> None:
    """The runs' legend above the panels.

    At a fixed place for a fixed-margin figure of ``size`` (inches), else outside the
    constrained layout.
    """
    handles = [
        Line2D(
            [],
            [],
            color=RUN_STYLES[r.key][0],
            linestyle=RUN_STYLES[r.key][1],
            lw=2.5,
            label=f"{r.key}: {r.name}",
        )
        for r in runs
    ]
    if size is not None:
        _legend_top_right(fig, handles, *size, fontsize=10)
        return
    fig.legend(
        handles=handles, loc="outside upper right", ncols=len(handles), fontsize=10, frameon=False
    )


def _min_span(ax: Axes, span: float, floor: float | None = None) -> None:
    """Widen the y-axis to at least ``span`` so that noise does not look like an effect."""
    bottom, top = ax.get_ylim()
    if top - bottom < span:
        middle = (top + bottom) / 2
        bottom, top = middle - span / 2, middle + span / 2
    if floor is not None and bottom < floor:
        bottom, top = floor, max(top, floor + span)
    ax.set_ylim(bottom, top)


def _autoscale_y(ax: Axes, lines: Sequence[Line2D], *, zero: bool = False) -> None:
    """Fit the y-axis to ``lines`` (and to y = 0 with a zero line), as fresh axes would.

    The data limits are set from the lines' data, not by ``Axes.relim``: relim would
    put an ``axhline`` through the current view's transform, and its rounding error
    (1e-17) turns an all-zero series from a degenerate range into a tiny one.
    """
    limits = Bbox.null()
    for line in lines:
        limits.update_from_path(line.get_path(), ignore=False)
    if zero:
        limits.update_from_data_y(np.zeros(1), ignore=False)
    ax.dataLim.set_points(limits.get_points())
    ax.set_autoscaley_on(True)
    ax.autoscale_view(scalex=False)


class _Chart(NamedTuple):
    """A chart kept between redraws.

    Its figure, a function that puts the run's current weeks into the figure's artists
    (line data, offsets, texts) and, for a chart that can be blitted (see
    :func:`_blitted_png`), a function that lists the artists moved by ``update``: only
    their data change from week to week, and the axes' limits, nothing else.
    """

    figure: Figure
    update: Callable[[], None]
    moving: Callable[[], list[Artist]] | None = None


def _drawn(chart: _Chart) -> Figure:
    chart.update()
    return chart.figure


def outcomes_figure(comparison: ContextComparison) -> Figure:
    """The three outcome domains week by week: functional, existential, social."""
    return _drawn(_outcomes_chart(comparison))


def _outcomes_chart(comparison: ContextComparison) -> _Chart:
    width, height = 13.0, 3.5
    fig = _fixed_figure(width, height)
    weeks = int(comparison.settings["weeks"])
    widths = [len(panels) for panels in DOMAIN_PANELS.values()]
    subfigs = fig.subfigures(1, len(DOMAIN_PANELS), width_ratios=widths, wspace=0.0)
    drawn = []  # (axes, metric, scale, span, {run key: (line, last-week dot)})
    for subfig, (domain, panels), share in zip(subfigs, DOMAIN_PANELS.items(), widths, strict=True):
        subfig.suptitle(  # below the legend's row, above the panel titles
            f"{domain} outcomes",
            fontsize=12,
            fontweight="bold",
            x=0.02,
            y=1 - 0.34 / height,
            ha="left",
            va="top",
        )
        sub_width = width * share / sum(widths)
        axes = _fixed_axes(subfig, sub_width, height, len(panels), top_in=1.0)[0]
        for ax, (metric, title, unit, scale, span) in zip(axes, panels, strict=True):
            lines = {}
            for run in comparison.runs:
                colour, style = RUN_STYLES[run.key]
                (line,) = ax.plot([], [], color=colour, linestyle=style, lw=2)
                (dot,) = ax.plot([], [], "o", color=colour, ms=4)
                lines[run.key] = (line, dot)
            _style(ax, title, unit, weeks)
            drawn.append((ax, metric, scale, span, lines))
    _run_legend(fig, comparison.runs, (width, height))

    def update() -> None:
        frames = {run.key: metric_frame(run.model) for run in comparison.runs}
        for ax, metric, scale, span, lines in drawn:
            for key, (line, dot) in lines.items():
                series = frames[key][metric] * scale
                x, y = series.index.to_numpy(), series.to_numpy()
                line.set_data(x, y)
                dot.set_data(x[-1:], y[-1:])
            _autoscale_y(ax, [drawn for pair in lines.values() for drawn in pair])
            _min_span(ax, span, floor=0.0)

    return _Chart(fig, update)


def stages_figure(comparison: ContextComparison) -> Figure:
    """Share of users in each recovery stage over time, one panel per context."""
    return _drawn(_stages_chart(comparison))


def _stages_chart(comparison: ContextComparison) -> _Chart:
    runs = comparison.runs
    width, height = 6.5 * len(runs), 3.5
    fig = _fixed_figure(width, height)
    axes = _fixed_axes(fig, width, height, len(runs), top_in=0.95)[0]
    names = [f"stage_{s}" for s in STAGES]
    for ax, run in zip(axes, runs, strict=True):
        ax.set_ylim(0, 100)
        _style(ax, f"{run.key}: {run.name}", "% of users", int(comparison.settings["weeks"]))
    handles = [
        Patch(color=c, label=s.capitalize()) for s, c in zip(STAGES, STAGE_COLOURS, strict=True)
    ]
    _legend_top_right(
        fig,
        handles,
        width,
        height,
        fontsize=9,
        title="Recovery stage (Andresen et al. 2003), earliest first",
        title_fontsize=9,
    )
    stacks: dict[int, list] = {}

    def update() -> None:
        for i, (ax, run) in enumerate(zip(axes, runs, strict=True)):
            for area in stacks.pop(i, []):
                area.remove()
            table = metric_frame(run.model, names)
            stacks[i] = ax.stackplot(
                table.index,
                (100 * table.to_numpy()).T,
                colors=STAGE_COLOURS,
                labels=[s.capitalize() for s in STAGES],
                edgecolor="white",
                linewidth=0.3,
            )

    return _Chart(fig, update, lambda: [area for areas in stacks.values() for area in areas])


def doses_figure(comparison: ContextComparison) -> Figure:
    """Mean weekly dose of each of the four mechanisms of the logic model."""
    return _drawn(_doses_chart(comparison))


def _doses_chart(comparison: ContextComparison) -> _Chart:
    width, height = 13.0, 3.1
    fig = _fixed_figure(width, height)
    axes = _fixed_axes(fig, width, height, len(MECHANISMS), top_in=0.7)[0]
    weeks = int(comparison.settings["weeks"])
    drawn = []  # (axes, mechanism, {run key: line})
    for ax, mechanism in zip(axes, MECHANISMS, strict=True):
        lines = {}
        for run in comparison.runs:
            colour, style = RUN_STYLES[run.key]
            (lines[run.key],) = ax.plot([], [], color=colour, linestyle=style, lw=2)
        ax.axhline(0.0, color="#999999", lw=0.8)
        _style(ax, mechanism.replace("_", " ").capitalize(), "mean weekly dose", weeks)
        drawn.append((ax, mechanism, lines))
    _run_legend(fig, comparison.runs, (width, height))
    models = {run.key: run.model for run in comparison.runs}

    def update() -> None:
        for ax, mechanism, lines in drawn:
            for key, line in lines.items():
                series = metric_frame(models[key], [f"dose_{mechanism}"]).iloc[:, 0]
                line.set_data(series.index.to_numpy(), series.to_numpy())
            _autoscale_y(ax, list(lines.values()), zero=True)
            _min_span(ax, 0.1)

    return _Chart(fig, update, lambda: [line for _, _, lines in drawn for line in lines.values()])


# Above NETWORK_FULL_MAX people every dot and tie is an unreadable hairball on a
# projector: the network view draws a sample of at most NETWORK_SAMPLE people instead.
NETWORK_FULL_MAX = 300
NETWORK_SAMPLE = 150


def network_sample(
    comparison: ContextComparison, person: int | None = None, size: int = NETWORK_SAMPLE
) -> tuple[np.ndarray, int]:
    """The people drawn in a sampled network view: whole ego networks, at most ``size``.

    Egos are taken in a random order (the experiment's seed, so the same sample for
    the same run), ``person`` first if given; each adds itself and the people tied to
    it in context A when the sample is first drawn, until ``size`` people are in. The
    sample is kept for the run, so the picture does not jump as ties form and lapse.

    Returns:
        The sampled users' columns (sorted) and the number of egos.
    """
    cache = comparison.__dict__.setdefault("_network_samples", {})
    column = None if person is None else comparison.runs[0].model.user(person).column
    key = (column, size)
    if key not in cache:
        graph = comparison.runs[0].model.network_graph()
        n = graph.number_of_nodes()
        rng = np.random.default_rng(int(comparison.settings["seed"]))
        order = [int(c) for c in rng.permutation(n)]
        if column is not None:
            order.remove(column)
            order.insert(0, column)
        chosen: set[int] = set()
        egos = 0
        for ego in order:
            if len(chosen) >= size:
                break
            if ego in chosen and ego != column:
                continue  # already in as someone's tie
            members = [m for m in [ego, *sorted(graph.neighbors(ego))] if m not in chosen]
            if len(chosen) + len(members) > size:
                if chosen:
                    continue  # does not fit whole: a smaller one may
                members = members[:size]  # the ringed person's own, very large, network
            chosen.update(members)
            egos += 1
        cache[key] = (np.array(sorted(chosen), dtype=np.int64), egos)
    return cache[key]


def network_caption(comparison: ContextComparison, person: int | None = None) -> str:
    """What the network view shows: everyone, or (large runs) which sample of people."""
    n = int(comparison.settings["n_agents"])
    if n <= NETWORK_FULL_MAX:
        return f"All {n:,} people and their ties; colour: recovery stage."
    sample, egos = network_sample(comparison, person)
    return (
        f"{n:,} people are too many to draw: shown are {len(sample)} of them, the ego "
        f"networks of {egos} people picked at random (each with the people tied to "
        "them), and only the ties among those shown; colour: recovery stage."
    )


def network_figure(comparison: ContextComparison, person: int | None = None) -> Figure:
    """Ties among users, each dot coloured by its recovery stage; one panel per context.

    Up to :data:`NETWORK_FULL_MAX` people everyone is drawn; above, a sample of whole
    ego networks, at most :data:`NETWORK_SAMPLE` people (:func:`network_sample`), laid
    out on their own, with a caption (the figure's suptitle) that says so.

    Args:
        comparison: The run.
        person: Mesa ``unique_id`` of a user to ring and label, if any.
    """
    return _drawn(_network_chart(comparison, person))


def _network_chart(comparison: ContextComparison, person: int | None) -> _Chart:
    runs = comparison.runs
    sampled = int(comparison.settings["n_agents"]) > NETWORK_FULL_MAX
    width, height = 5.2 * len(runs), 5.8 if sampled else 5.4
    # fixed margins (no layout engine: savefig would draw the figure twice, once to lay
    # it out): the caption and the titles above, the legend below
    fig = _fixed_figure(width, height)
    top_in = 0.42 + (0.5 if sampled else 0.0)
    axes = fig.subplots(
        1,
        len(runs),
        squeeze=False,
        gridspec_kw={
            "left": 0.1 / width,
            "right": 1 - 0.1 / width,
            "bottom": 0.5 / height,
            "top": 1 - top_in / height,
            "wspace": 0.08,
        },
    )[0]
    panels = []  # (axes, run, ties, people, ring, label)
    for ax, run in zip(axes, runs, strict=True):
        ties = ax.add_collection(_segments(np.empty((0, 2, 2))))
        people = ax.scatter(
            [], [], s=22, edgecolors="#555555", linewidths=0.3, zorder=2, gid="people"
        )
        ring = label = None
        if person is not None:
            ring = ax.scatter(
                [],
                [],
                s=160,
                facecolors="none",
                edgecolors="#D55E00",
                linewidths=2.2,
                zorder=3,
            )
            label = ax.annotate(
                f"person {person}",
                (0.0, 0.0),
                xytext=(8, 8),
                textcoords="offset points",
                fontsize=9,
                color="#D55E00",
                fontweight="bold",
                zorder=4,
            )
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_aspect("equal")
        ax.axis("off")
        panels.append((ax, run, ties, people, ring, label))
    if sampled:
        fig.suptitle(
            textwrap.fill(network_caption(comparison, person), 60 * len(runs)),
            fontsize=10,
            x=0.02,
            y=1 - 0.06 / height,
            ha="left",
            va="top",
        )
    handles = [
        Patch(color=c, label=s.capitalize()) for s, c in zip(STAGES, STAGE_COLOURS, strict=True)
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.02 / height),
        ncols=len(STAGES),
        fontsize=9,
        frameon=False,
    )
    index = {name: i for i, name in enumerate(STAGES)}

    def update() -> None:
        graphs = [run.model.network_graph() for run in runs]
        if sampled:
            shown, _ = network_sample(comparison, person)
            first = graphs[0]
            at = np.full(first.number_of_nodes(), -1)
            at[shown] = np.arange(len(shown))
            sample_edges = np.array(
                [(at[a], at[b]) for a, b in first.edges() if at[a] >= 0 and at[b] >= 0],
                dtype=np.int64,
            ).reshape(-1, 2)
            pos = _sample_layout(len(shown), sample_edges)
        else:
            pos = comparison.layout()
            shown = np.arange(len(pos))
            at = shown
        for (ax, run, ties, people, ring, label), graph in zip(panels, graphs, strict=True):
            edges = np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2)
            if sampled and len(edges):
                edges = at[edges]
                edges = edges[(edges >= 0).all(axis=1)]
            ties.set_segments(np.stack([pos[edges[:, 0]], pos[edges[:, 1]]], axis=1))
            stage = np.array([index[graph.nodes[int(n)]["stage"]] for n in shown])
            people.set_offsets(pos)
            people.set_facecolor([STAGE_COLOURS[s] for s in stage])
            if person is not None:
                column = at[run.model.user(person).column]
                ring.set_offsets([pos[column]])
                label.xy = pos[column]
            ties_text = f"{len(edges)} of {graph.number_of_edges()} ties" if sampled else None
            ax.set_title(
                f"{run.key}: {run.name} ({ties_text or f'{graph.number_of_edges()} ties'})",
                fontsize=11,
                loc="left",
            )

    return _Chart(fig, update)


def _sample_layout(n: int, edges: np.ndarray) -> np.ndarray:
    from sim.faces.app.session import _force_layout

    return _force_layout(n, np.ascontiguousarray(edges, dtype=np.int64).tobytes())


def _segments(segments: np.ndarray) -> object:
    from matplotlib.collections import LineCollection

    return LineCollection(segments, colors="#c8c8c8", linewidths=0.5, zorder=1)


def pathway_figure(comparison: ContextComparison, person: int) -> Figure:
    """One person's personal recovery week by week, over the stage bands, in each context.

    Args:
        comparison: The run.
        person: The person's Mesa ``unique_id`` (the same person in A and B).

    Raises:
        sim.faces.mesa_model.ModelError: If no service user has that id.
    """
    return _drawn(_pathway_chart(comparison, person))


def _pathway_chart(comparison: ContextComparison, person: int) -> _Chart:
    width, height = 9.0, 4.2
    fig = _fixed_figure(width, height)  # fixed margins: room for the stage names at right
    top, bottom = fig.subplots(
        2,
        1,
        sharex=True,
        gridspec_kw={
            "height_ratios": [4, 1],
            "left": 0.78 / width,
            "right": 1 - 0.95 / width,
            "bottom": MARGIN_BOTTOM_IN / height,
            "top": 1 - 0.62 / height,
            "hspace": 0.12,
        },
    )
    weeks = int(comparison.settings["weeks"])
    band = QPR_MAX / N_STAGES  # equal stage bands (sim.core.scales)
    for i, (stage, colour) in enumerate(zip(STAGES, STAGE_COLOURS, strict=True)):
        top.axhspan(i * band, (i + 1) * band, color=colour, alpha=0.35, lw=0)
        top.text(
            weeks,
            (i + 0.5) * band,
            f" {stage}",
            va="center",
            fontsize=8,
            color="#333333",
            clip_on=False,
        )
    drawn = []  # (model, line, work marks)
    for row, run in enumerate(comparison.runs):
        colour, style = RUN_STYLES[run.key]
        (line,) = top.plot([], [], color=colour, linestyle=style, lw=2.2)
        marks = bottom.scatter(np.empty(0), np.full(0, row), marker="|", s=120, color=colour)
        drawn.append((run.model, row, line, marks))
    top.set_ylim(0, QPR_MAX)
    _style(top, f"Person {person}: personal recovery and recovery stage", "QPR score (0-60)", weeks)
    top.set_xlabel("")
    keys = [run.key for run in comparison.runs]
    bottom.set_yticks(range(len(keys)), [f"{k} in work" for k in keys], fontsize=8)
    bottom.set_ylim(-0.7, len(keys) - 0.3)
    _style(bottom, "", "", weeks)
    bottom.grid(False)
    _run_legend(fig, comparison.runs, (width, height))

    def update() -> None:
        for model, row, line, marks in drawn:
            path = model.agent_pathway(person)
            line.set_data(path.index.to_numpy(), path["personal_recovery"].to_numpy())
            worked = path.index.to_numpy()[path["employed"].to_numpy()]
            marks.set_offsets(np.column_stack([worked, np.full(len(worked), row)]))

    return _Chart(fig, update)


def readout(comparison: ContextComparison) -> pd.DataFrame:
    """The outcome panels' values at the current week, one row per panel.

    Returns:
        Columns domain, outcome, unit, A, and (side by side) B and difference (B - A),
        in the charts' scale (percentages for shares).
    """
    rows = []
    values = {run.key: run.model.metrics for run in comparison.runs}
    for domain, panels in DOMAIN_PANELS.items():
        for metric, title, unit, scale, _ in panels:
            row = {
                "domain": domain,
                "outcome": title,
                "unit": unit,
                **{key: scale * current[metric] for key, current in values.items()},
            }
            if comparison.side_by_side:
                row["difference"] = row["B"] - row["A"]
            rows.append(row)
    return pd.DataFrame(rows)


CHARTS = ("outcomes", "effect", "stages", "doses", "network", "pathway")


# How the app encodes a chart: zlib's fastest level. The pixels are the same as at the
# default level (6, lossless both); the PNG is ~5% larger and encoded ~1.7x faster (the
# outcomes chart: 15 instead of 25 ms).
PNG_OPTIONS = {"format": "png", "pil_kwargs": {"compress_level": 1}}

_LIVE_BUILDERS: dict[str, Callable[[ContextComparison, int | None], _Chart]] = {
    "outcomes": lambda comparison, _: _outcomes_chart(comparison),
    "effect": lambda comparison, _: _effect_chart(comparison),
    "stages": lambda comparison, _: _stages_chart(comparison),
    "doses": lambda comparison, _: _doses_chart(comparison),
    "network": _network_chart,
    "pathway": _pathway_chart,
}
_LIVE_LOCK = threading.Lock()


class _LiveChart:
    """A chart kept between redraws of one run, and the lock that serialises its redraws."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chart: _Chart | None = None
        self.person: int | None = None
        self.frozen = False  # x-axis labels kept in place (_freeze_xlabels)
        self.blit: _Blit | None = None  # the kept backgrounds of a blitted chart
        self.blittable = True  # False once a chart turned out not to be (_can_blit)
        self.unblittable: tuple | None = None  # the state in which _blit_setup failed
        # how its redraws were made: "full" (every artist), "panels" (the panels whose
        # limits changed, drawn anew) and "blit" (only the moving artists)
        self.redraws: Counter[str] = Counter()


def chart_png(
    comparison: ContextComparison, name: str, person: int | None = None, *, blit: bool = True
) -> bytes:
    """One of :data:`CHARTS` at the run's current week, as the PNG the app shows.

    The first call for a run builds the figure; later calls keep its figure, axes and
    artists and only put the current weeks into them (line data, offsets, titles)
    before drawing it again, which is what makes a redraw cheap. The charts whose static
    parts (axes, ticks, titles, legend) rarely change, the effect, stages and doses, are
    blitted: only the moving artists are drawn over a kept background
    (:func:`_blitted_png`). The picture is that of a freshly drawn figure
    (:func:`outcomes_figure` and the others). Another ``person`` builds the network or
    pathway figure anew (one kept per chart). Safe to call from several threads: one
    redraw of a chart at a time.

    Args:
        comparison: The run.
        name: The chart, one of :data:`CHARTS`.
        person: The person of the pathway chart (required) or of the network (ringed).
        blit: False draws every artist at every redraw, in a figure of its own (the
            benchmark's baseline for blitting).
    """
    person = person if name in ("network", "pathway") else None
    key = name if blit else f"{name} (full draws)"
    with _LIVE_LOCK:
        live = comparison.__dict__.setdefault("_live_charts", {}).setdefault(key, _LiveChart())
    with live.lock:
        if live.chart is None or live.person != person:
            live.chart = None
            chart = _LIVE_BUILDERS[name](comparison, person)
            # its own Agg canvas: savefig would otherwise make a new canvas for each PNG, with
            # a new renderer, so that matplotlib's cache of text sizes never hit
            FigureCanvasAgg(chart.figure)
            # fixed margins only: a layout engine would make savefig draw the figure twice
            # and move the axes from week to week
            if chart.figure.get_layout_engine() is not None:  # a programming error
                raise RuntimeError(f"{name} chart has a layout engine")
            chart.update()
            live.chart, live.person = chart, person
            live.frozen, live.blit, live.blittable, live.unblittable = False, None, True, None
        else:
            live.chart.update()
        figure = live.chart.figure
        if blit and live.chart.moving is not None and live.blittable:
            png = _blitted_png(live)
            if png is not None:
                return png
        live.redraws["full"] += 1
        buffer = io.BytesIO()
        figure.savefig(buffer, **PNG_OPTIONS)
        if not live.frozen:
            _freeze_xlabels(figure)
            live.frozen = True
        return buffer.getvalue()


# Blitting. A full draw of the effect chart spends two thirds of its time on ~70 texts
# (tick labels, titles, legend) that do not change between most weeks. A blitted chart
# divides its canvas into "cells": rectangles that each hold every pixel of a group of
# axes and no pixel of any other artist. A group is one axes, or several whose boxes
# overlap (wide tick labels can put an axes' y-label over its neighbour). For the first
# axes of each group the cell's pixels without its moving artists are kept (the
# background). A redraw restores each background and draws over it, in the order of a
# full draw, that axes' moving artists and the artists above them (the spines, over a
# line's ends), then the group's other axes whole; an axes whose limits changed (its ticks
# moved) is drawn anew in its cell first. The pixels are those of a full draw, because
# no other artist reaches into a cell (checked whenever an axes' ticks move, else the
# figure is drawn fully).

# Pixels around an axes' box that its drawing may reach: antialiased glyphs reach less
# than one pixel beyond, the ends of the spines 2.2 pixels (measured).
_PAD_PX = 3


class _Panel:
    """A group of axes of a blitted chart, its cell and the cell's kept pixels."""

    def __init__(self, axes: list[Axes], cell: Bbox, above: dict[Axes, list[Artist]]) -> None:
        self.axes = axes  # in drawing order; the first one's background is kept
        self.cell = cell
        self.above = above  # static artists drawn after an axes' moving ones, over them
        self.blank: object = None  # the cell without its axes (the figure's background)
        self.background: object = None  # the cell with the first axes' static artists
        self.xbackground: object = None  # the same without those that the y-limits move
        self.keys: list[tuple] = []  # the axes' _panel_key when they were last checked
        self.boxes: dict[Axes, Bbox] = {}  # the axes' boxes when the cell was made


class _Blit:
    def __init__(self, key: tuple, panels: list[_Panel]) -> None:
        self.key = key
        self.panels = panels


def _figure_key(figure: Figure) -> tuple:
    """What a redraw of single axes does not draw: the figure's size and own texts."""
    return (
        tuple(figure.bbox.bounds),
        tuple(figure.axes),
        tuple(text.get_text() for text in figure.texts),
        tuple(text.get_text() for legend in figure.legends for text in legend.get_texts()),
    )


def _panel_key(ax: Axes) -> tuple:
    """What changes the static pixels of an axes: its limits (and so ticks), its texts.

    A change of anything but the y-limits draws the figure fully (:func:`_redraw_panels`).
    """
    return (
        ax.get_ylim(),
        ax.get_xlim(),
        tuple(ax.get_position().bounds),
        ax.get_title("left"),
        ax.get_title(),
        ax.get_title("right"),
        ax.get_xlabel(),
        ax.get_ylabel(),
    )


def _pixel_box(box: Bbox, pad: float = _PAD_PX) -> Bbox:
    x0, y0, x1, y1 = box.extents
    return Bbox.from_extents(
        np.floor(x0 - pad), np.floor(y0 - pad), np.ceil(x1 + pad), np.ceil(y1 + pad)
    )


def _on_canvas(box: Bbox, figure: Figure) -> Bbox:
    """The part of ``box`` on the figure's canvas (a drawing beyond its edges is lost)."""
    x0, y0, x1, y1 = box.extents
    width, height = figure.bbox.width, figure.bbox.height
    return Bbox.from_extents(max(x0, 0.0), max(y0, 0.0), min(x1, width), min(y1, height))


def _overlap(a: Bbox, b: Bbox) -> bool:
    """Whether two boxes of pixels (half-open, as the canvas copies them) share a pixel."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _inside(inner: Bbox, outer: Bbox) -> bool:
    return (
        outer.x0 <= inner.x0 and outer.y0 <= inner.y0 and inner.x1 <= outer.x1
        and inner.y1 <= outer.y1
    )  # fmt: skip


def _axes_box(ax: Axes, renderer: object) -> Bbox:
    return _on_canvas(_pixel_box(ax.get_tightbbox(renderer)), ax.figure)


def _moved_box(panel: _Panel, ax: Axes, renderer: object) -> Bbox:
    """The box of an axes drawn after its y-limits changed, cheaper than its tight box.

    Only the y-axis changed (the x-limits, titles and x-axis label are in the key): its
    tick labels, which lie between the y-axis label (placed left of them) and the axes,
    and no higher or lower than half a label above or below the axes, within the title
    above it and the x-axis below it.
    """
    label = _pixel_box(ax.yaxis.label.get_window_extent(renderer))
    return _on_canvas(Bbox.union([panel.boxes[ax], label]), ax.figure)


def _draw_order(ax: Axes) -> list[Artist]:
    """The axes' artists in the order :meth:`Axes.draw` draws them (a stable z-sort)."""
    return sorted((a for a in ax.get_children() if a is not ax.patch), key=lambda a: a.zorder)


def _can_blit(figure: Figure, moving: list[Artist]) -> bool:
    """Whether a chart can ever be blitted.

    Not if a layout engine or subfigures move things, nor if a moving artist is not
    clipped to its axes.
    """
    if figure.get_layout_engine() is not None or figure.subfigs:
        return False
    for artist in moving:
        clip = artist.get_clip_box()
        if (
            not artist.get_clip_on()
            or clip is None
            or not np.allclose(clip.extents, artist.axes.bbox.extents, rtol=0, atol=1e-6)
        ):
            return False
    return True


def _state_key(figure: Figure) -> tuple:
    return _figure_key(figure), tuple(_panel_key(ax) for ax in figure.axes)


def _groups(figure: Figure, renderer: object) -> list[tuple[list[Axes], Bbox]] | None:
    """The figure's axes in groups of overlapping boxes, each with its cell.

    Returns:
        None if the cells cannot be kept apart from the figure's own artists.
    """
    groups = [([ax], _axes_box(ax, renderer)) for ax in figure.axes]
    merged = True
    while merged:  # merge any two groups whose boxes overlap
        merged = False
        pairs = [(i, j) for i in range(len(groups)) for j in range(i + 1, len(groups))]
        for i, j in pairs:
            (axes_i, box_i), (axes_j, box_j) = groups[i], groups[j]
            if _overlap(box_i, box_j):
                axes = sorted([*axes_i, *axes_j], key=figure.axes.index)
                groups[i] = (axes, Bbox.union([box_i, box_j]))
                del groups[j]
                merged = True
                break
    cells = []
    for axes, box in groups:
        # room to the left, up to the next group in the row, for wider tick labels
        left = max(
            (b.x1 for _, b in groups if b.x1 <= box.x0 and b.y0 < box.y1 and box.y0 < b.y1),
            default=0.0,
        )
        cells.append((axes, _on_canvas(Bbox.from_extents(left, box.y0, box.x1, box.y1), figure)))
    others = [
        _pixel_box(artist.get_window_extent(renderer))
        for artist in figure.get_children()
        if artist is not figure.patch and artist not in figure.axes and artist.get_visible()
    ]
    for i, (_, cell) in enumerate(cells):
        if any(_overlap(cell, other) for other in [*(c for _, c in cells[i + 1 :]), *others]):
            return None
    return cells


def _blit_setup(live: _LiveChart, moving: list[Artist]) -> _Blit | None:
    """Draw the chart fully and keep its cells' backgrounds.

    Returns:
        None if the cells cannot be kept apart from one another and from the figure's
        own artists (legend, suptitle) at these limits.
    """
    figure = live.chart.figure
    canvas = figure.canvas
    if not live.frozen:  # the x-axis labels' place, found by a first draw
        canvas.draw()
        _freeze_xlabels(figure)
        live.frozen = True
    renderer = canvas.get_renderer()
    groups = _groups(figure, renderer)  # first, so that failing costs no draw
    if groups is None:
        live.unblittable = _state_key(figure)
        return None
    panels = []
    for axes, cell in groups:
        above: dict[Axes, list[Artist]] = {}
        for ax in axes:
            order = _draw_order(ax)
            mine = [order.index(a) for a in moving if a.axes is ax]
            area = _pixel_box(ax.bbox)
            above[ax] = []
            for artist in order[min(mine) + 1 :] if mine else []:
                if artist in moving or not artist.get_visible():
                    continue
                box = artist.get_tightbbox(renderer)
                if box is None or _overlap(_pixel_box(box), area):
                    above[ax].append(artist)
                    artist.set_animated(True)
        panels.append(_Panel(axes, cell, above))
    for ax in figure.axes:
        ax.set_visible(False)
    try:
        canvas.draw()  # the figure's own artists: what a cell holds before its axes
        for panel in panels:
            panel.blank = canvas.copy_from_bbox(panel.cell)
    finally:
        for ax in figure.axes:
            ax.set_visible(True)
    for panel in panels:
        first = panel.axes[0]
        hidden = _y_artists(first)
        for artist in hidden:
            artist.set_visible(False)
        try:
            canvas.restore_region(panel.blank)
            first.draw(renderer)
            panel.xbackground = canvas.copy_from_bbox(panel.cell)
        finally:
            for artist in hidden:
                artist.set_visible(True)
        canvas.restore_region(panel.blank)
        first.draw(renderer)  # not saving: without the animated artists
        panel.background = canvas.copy_from_bbox(panel.cell)
        panel.keys = [_panel_key(ax) for ax in panel.axes]
        panel.boxes = {ax: _axes_box(ax, renderer) for ax in panel.axes}
    return _Blit(_figure_key(figure), panels)


def _redraw_panels(blit: _Blit, moving: list[Artist], renderer: object) -> int | None:
    """Draw every cell: its background, an axes whose limits changed drawn anew.

    Returns:
        How many axes were drawn anew; None if one of them no longer fits its cell (then
        only a full draw will do).
    """
    anew = 0
    for panel in blit.panels:
        first, *rest = panel.axes
        canvas = first.figure.canvas
        keys = [_panel_key(ax) for ax in panel.axes]
        if any(key[1:] != known[1:] for key, known in zip(keys, panel.keys, strict=True)):
            return None  # not only the y-limits changed (see _moved_box)
        if keys[0] == panel.keys[0]:
            canvas.restore_region(panel.background)
        else:
            # the axes' patch, x-axis and titles, then what the y-limits move, in the
            # order of a full draw (the titles, drawn earlier, share no pixel with those)
            canvas.restore_region(panel.xbackground)
            for artist in _y_artists(first):
                artist.draw(renderer)
            if not _inside(_moved_box(panel, first, renderer), panel.cell):
                return None
            panel.background = canvas.copy_from_bbox(panel.cell)
            anew += 1
        _draw_moving(first, moving, panel.above[first], renderer)
        for ax, key, known in zip(rest, keys[1:], panel.keys[1:], strict=True):
            ax.draw(renderer)
            if key != known:
                if not _inside(_moved_box(panel, ax, renderer), panel.cell):
                    return None
                anew += 1
            _draw_moving(ax, moving, panel.above[ax], renderer)
        panel.keys = keys
    return anew


def _y_artists(ax: Axes) -> list[Artist]:
    """The static artists of an axes that its y-limits move, in the order of a full draw.

    All but its patch, x-axis and titles, which lie outside the axes' frame or span it
    whatever its y-limits (the x-limits, in :func:`_panel_key`, stay), and but the moving
    artists and those above them (animated).
    """
    kept = {id(ax.patch), id(ax.xaxis), id(ax.title)}
    kept |= {id(getattr(ax, name)) for name in ("_left_title", "_right_title")}
    return [
        a for a in _draw_order(ax) if id(a) not in kept and a.get_visible() and not a.get_animated()
    ]


def _draw_moving(ax: Axes, moving: list[Artist], above: list[Artist], renderer: object) -> None:
    """Draw the axes' moving artists and those above them, in the order of a full draw."""
    drawn = {id(a) for a in moving if a.axes is ax} | {id(a) for a in above}
    for artist in _draw_order(ax):
        if id(artist) in drawn:
            artist.draw(renderer)


def _blitted_png(live: _LiveChart) -> bytes | None:
    """The chart's PNG, its moving artists drawn over the kept backgrounds.

    Returns:
        None if the chart cannot be blitted (:func:`_can_blit`, :func:`_blit_setup`):
        draw it fully.
    """
    figure = live.chart.figure
    canvas = figure.canvas
    moving = live.chart.moving()
    if not _can_blit(figure, moving):
        live.blittable = False
        return None
    for artist in moving:
        artist.set_animated(True)  # skipped by a draw of an axes, drawn by _draw_moving
    renderer = canvas.get_renderer()
    blit = live.blit
    anew = None
    if blit is not None and blit.key == _figure_key(figure):
        anew = _redraw_panels(blit, moving, renderer)
    if anew is not None:
        live.redraws["blit"] += 1
        live.redraws["panels"] += anew
    else:
        live.blit = None
        # a setup that failed at these limits fails again: draw fully, without trying
        blit = None
        if live.unblittable is None or live.unblittable != _state_key(figure):
            blit = live.blit = _blit_setup(live, moving)
        if blit is None:
            for artist in [*moving, *(a for ax in figure.axes for a in ax.get_children())]:
                artist.set_animated(False)
            return None
        live.redraws["full"] += 1
        for panel in blit.panels:
            canvas.restore_region(panel.background)
            for i, ax in enumerate(panel.axes):
                if i:
                    ax.draw(renderer)
                _draw_moving(ax, moving, panel.above[ax], renderer)
    buffer = io.BytesIO()
    mimage.imsave(
        buffer,
        canvas.buffer_rgba(),
        format="png",
        origin="upper",
        dpi=figure.dpi,
        pil_kwargs=PNG_OPTIONS["pil_kwargs"],
    )
    return buffer.getvalue()


def _freeze_xlabels(figure: Figure) -> None:
    """Keep the x-axis labels where the last draw put them.

    Matplotlib places an axis label below the tick labels' boxes, measured anew on every
    draw (a tenth of a redraw). Below an x-axis that box's height does not depend on
    the labels' text (a line of text is as high as "lp"), so in a figure of fixed
    margins and size the place found by the first draw is the place of every later one.
    """
    for ax in figure.axes:
        label = ax.xaxis.label
        ax.xaxis.set_label_coords(*label.get_position(), transform=label.get_transform())


def save_charts(
    comparison: ContextComparison, folder: str | Path, *, person: int | None = None
) -> list[Path]:
    """Write every chart as PNG into ``folder`` (the pathway only if ``person`` is given).

    Returns:
        The files written, in :data:`CHARTS` order.
    """
    folder = Path(folder)
    figures = {
        "outcomes": outcomes_figure(comparison),
        **({"effect": effect_figure(comparison)} if comparison.package_effect else {}),
        "stages": stages_figure(comparison),
        "doses": doses_figure(comparison),
        "network": network_figure(comparison, person),
    }
    if person is not None:
        figures["pathway"] = pathway_figure(comparison, person)
    written = []
    for name, figure in figures.items():
        path = folder / f"{name}.png"
        figure.savefig(path, dpi=150)
        written.append(path)
    return written


def effect_figure(comparison: ContextComparison) -> Figure:
    """The package's effect (with - without, same people) over time in every domain.

    One panel per outcome: the effect in A (solid blue), in B (dashed orange) and,
    side by side, the interaction, effect in B - effect in A (dotted black). A flat
    zero line means the package changed nothing.
    """
    return _drawn(_effect_chart(comparison))


def _effect_chart(comparison: ContextComparison) -> _Chart:
    width, height = 13.0, 5.8
    fig = _fixed_figure(width, height)
    weeks = int(comparison.settings["weeks"])
    axes = _fixed_axes(fig, width, height, 3, nrows=2, top_in=0.7).ravel()
    if not comparison.package_effect:
        for ax in axes:
            ax.axis("off")
        axes[1].text(0.5, 0.5, "Offer an intervention to see its effect", ha="center", fontsize=12)
        return _Chart(fig, lambda: None)
    drawn = []  # (axes, metric, scale, span, {run key: line}, interaction line or None)
    for ax, (domain, metric, title, unit, scale, span) in zip(axes, EFFECT_PANELS, strict=True):
        ax.axhline(0.0, color="#999999", lw=0.8)
        lines = {}
        for run in comparison.runs:
            colour, style = RUN_STYLES[run.key]
            (lines[run.key],) = ax.plot([], [], color=colour, linestyle=style, lw=2)
        gap = None
        if comparison.side_by_side:
            colour, style = INTERACTION_STYLE
            (gap,) = ax.plot([], [], color=colour, linestyle=style, lw=1.8)
        _style(ax, f"{domain}: {title}", f"effect, {unit}", weeks)
        drawn.append((ax, metric, scale, span, lines, gap))
    handles = [
        Line2D(
            [],
            [],
            color=RUN_STYLES[r.key][0],
            linestyle=RUN_STYLES[r.key][1],
            lw=2.5,
            label=f"Effect in {r.key}: {r.name}",
        )
        for r in comparison.runs
    ]
    if comparison.side_by_side:
        handles.append(
            Line2D(
                [],
                [],
                color=INTERACTION_STYLE[0],
                linestyle=INTERACTION_STYLE[1],
                lw=2,
                label="Interaction: effect in B - effect in A",
            )
        )
    _legend_top_right(fig, handles, width, height, fontsize=10)

    def update() -> None:
        effects = {run.key: effect_frame(run) for run in comparison.runs}
        for ax, metric, scale, span, lines, gap in drawn:
            for key, line in lines.items():
                series = effects[key][metric] * scale
                line.set_data(series.index.to_numpy(), series.to_numpy())
            if gap is not None:
                between = (effects["B"][metric] - effects["A"][metric]) * scale
                gap.set_data(between.index.to_numpy(), between.to_numpy())
            _autoscale_y(ax, [*lines.values(), *([gap] if gap is not None else [])], zero=True)
            _min_span(ax, span)

    moving = [
        line
        for _, _, _, _, lines, gap in drawn
        for line in [*lines.values(), *([gap] if gap is not None else [])]
    ]
    return _Chart(fig, update, lambda: moving)


def effect_readout(comparison: ContextComparison) -> pd.DataFrame:
    """The package's effect at the current week, one row per outcome of :data:`EFFECT_PANELS`.

    Returns:
        Columns domain, outcome, unit, A (effect in A), and side by side B (effect in B)
        and interaction (B - A); empty when the package effect is not computed.
    """
    if not comparison.package_effect:
        return pd.DataFrame(columns=["domain", "outcome", "unit", "A"])
    # the last week collected in all four runs (a step may be under way in another thread)
    frames = {run.key: effect_frame(run) for run in comparison.runs}
    last = min(frame.index[-1] for frame in frames.values())
    rows = []
    for domain, metric, title, unit, scale, _ in EFFECT_PANELS:
        row = {"domain": domain, "outcome": title, "unit": unit, "metric": metric, "week": last}
        for key, frame in frames.items():
            row[key] = scale * float(frame.loc[last, metric])
        if comparison.side_by_side:
            row["interaction"] = row["B"] - row["A"]
        rows.append(row)
    return pd.DataFrame(rows)
