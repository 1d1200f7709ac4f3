"""The teaching app's charts: matplotlib figures of a live :class:`ContextComparison`.

Each function draws one :class:`matplotlib.figure.Figure` (no pyplot, so no
global figure state and safe in the server's threads) from the current week of
the run. The app shows them as PNG images and :func:`save_charts` writes the very
same figures for export, so what is saved is what the class saw. Context A is a
solid blue line, context B a dashed orange one (Okabe-Ito colours, as in
:mod:`sim.faces.reports.figures`); recovery stages use the report's stage colours.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

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
    "RUN_STYLES",
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


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


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


def outcomes_figure(comparison: ContextComparison) -> Figure:
    """The three outcome domains week by week: functional, existential, social."""
    width, height = 13.0, 3.5
    fig = _fixed_figure(width, height)
    weeks = int(comparison.settings["weeks"])
    widths = [len(panels) for panels in DOMAIN_PANELS.values()]
    subfigs = fig.subfigures(1, len(DOMAIN_PANELS), width_ratios=widths, wspace=0.0)
    frames = {run.key: metric_frame(run.model) for run in comparison.runs}
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
            for run in comparison.runs:
                colour, style = RUN_STYLES[run.key]
                series = frames[run.key][metric] * scale
                ax.plot(series.index, series.to_numpy(), color=colour, linestyle=style, lw=2)
                ax.plot(series.index[-1:], series.to_numpy()[-1:], "o", color=colour, ms=4)
            _style(ax, title, unit, weeks)
            _min_span(ax, span, floor=0.0)
    _run_legend(fig, comparison.runs, (width, height))
    return fig


def stages_figure(comparison: ContextComparison) -> Figure:
    """Share of users in each recovery stage over time, one panel per context."""
    runs = comparison.runs
    width, height = 6.5 * len(runs), 3.5
    fig = _fixed_figure(width, height)
    axes = _fixed_axes(fig, width, height, len(runs), top_in=0.95)[0]
    names = [f"stage_{s}" for s in STAGES]
    for ax, run in zip(axes, runs, strict=True):
        table = metric_frame(run.model, names)
        ax.stackplot(
            table.index,
            (100 * table.to_numpy()).T,
            colors=STAGE_COLOURS,
            labels=[s.capitalize() for s in STAGES],
            edgecolor="white",
            linewidth=0.3,
        )
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
    return fig


def doses_figure(comparison: ContextComparison) -> Figure:
    """Mean weekly dose of each of the four mechanisms of the logic model."""
    width, height = 13.0, 3.1
    fig = _fixed_figure(width, height)
    axes = _fixed_axes(fig, width, height, len(MECHANISMS), top_in=0.7)[0]
    weeks = int(comparison.settings["weeks"])
    for ax, mechanism in zip(axes, MECHANISMS, strict=True):
        for run in comparison.runs:
            colour, style = RUN_STYLES[run.key]
            series = metric_frame(run.model, [f"dose_{mechanism}"]).iloc[:, 0]
            ax.plot(series.index, series.to_numpy(), color=colour, linestyle=style, lw=2)
        ax.axhline(0.0, color="#999999", lw=0.8)
        _style(ax, mechanism.replace("_", " ").capitalize(), "mean weekly dose", weeks)
        _min_span(ax, 0.1)
    _run_legend(fig, comparison.runs, (width, height))
    return fig


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
    runs = comparison.runs
    sampled = int(comparison.settings["n_agents"]) > NETWORK_FULL_MAX
    fig = _new_figure(5.2 * len(runs), 5.8 if sampled else 5.4)
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    if sampled:
        shown, _ = network_sample(comparison, person)
        first = runs[0].model.network_graph()
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
    index = {name: i for i, name in enumerate(STAGES)}
    for ax, run in zip(axes, runs, strict=True):
        graph = run.model.network_graph()
        edges = np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2)
        if sampled and len(edges):
            edges = at[edges]
            edges = edges[(edges >= 0).all(axis=1)]
        if len(edges):
            segments = np.stack([pos[edges[:, 0]], pos[edges[:, 1]]], axis=1)
            ax.add_collection(_segments(segments))
        stage = np.array([index[graph.nodes[int(n)]["stage"]] for n in shown])
        ax.scatter(
            pos[:, 0],
            pos[:, 1],
            s=22,
            c=[STAGE_COLOURS[s] for s in stage],
            edgecolors="#555555",
            linewidths=0.3,
            zorder=2,
            gid="people",
        )
        if person is not None:
            column = at[run.model.user(person).column]
            ax.scatter(
                *pos[column],
                s=160,
                facecolors="none",
                edgecolors="#D55E00",
                linewidths=2.2,
                zorder=3,
            )
            ax.annotate(
                f"person {person}",
                pos[column],
                xytext=(8, 8),
                textcoords="offset points",
                fontsize=9,
                color="#D55E00",
                fontweight="bold",
                zorder=4,
            )
        ties = f"{len(edges)} of {graph.number_of_edges()} ties" if sampled else None
        ax.set_title(
            f"{run.key}: {run.name} ({ties or f'{graph.number_of_edges()} ties'})",
            fontsize=11,
            loc="left",
        )
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_aspect("equal")
        ax.axis("off")
    if sampled:
        fig.suptitle(
            textwrap.fill(network_caption(comparison, person), 60 * len(runs)),
            fontsize=10,
            x=0.02,
            ha="left",
        )
    handles = [
        Patch(color=c, label=s.capitalize()) for s, c in zip(STAGES, STAGE_COLOURS, strict=True)
    ]
    fig.legend(
        handles=handles, loc="outside lower center", ncols=len(STAGES), fontsize=9, frameon=False
    )
    return fig


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
    fig = _new_figure(9.0, 4.2)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[4, 1])
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
    for row, run in enumerate(comparison.runs):
        path = run.model.agent_pathway(person)
        colour, style = RUN_STYLES[run.key]
        top.plot(path.index, path["personal_recovery"], color=colour, linestyle=style, lw=2.2)
        worked = path.index[path["employed"].to_numpy()]
        bottom.scatter(worked, np.full(len(worked), row), marker="|", s=120, color=colour)
    top.set_ylim(0, QPR_MAX)
    _style(top, f"Person {person}: personal recovery and recovery stage", "QPR score (0-60)", weeks)
    top.set_xlabel("")
    keys = [run.key for run in comparison.runs]
    bottom.set_yticks(range(len(keys)), [f"{k} in work" for k in keys], fontsize=8)
    bottom.set_ylim(-0.7, len(keys) - 0.3)
    _style(bottom, "", "", weeks)
    bottom.grid(False)
    _run_legend(fig, comparison.runs)
    return fig


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
    width, height = 13.0, 5.8
    fig = _fixed_figure(width, height)
    weeks = int(comparison.settings["weeks"])
    axes = _fixed_axes(fig, width, height, 3, nrows=2, top_in=0.7).ravel()
    if not comparison.package_effect:
        for ax in axes:
            ax.axis("off")
        axes[1].text(0.5, 0.5, "Offer an intervention to see its effect", ha="center", fontsize=12)
        return fig
    effects = {run.key: effect_frame(run) for run in comparison.runs}
    for ax, (domain, metric, title, unit, scale, span) in zip(axes, EFFECT_PANELS, strict=True):
        ax.axhline(0.0, color="#999999", lw=0.8)
        for run in comparison.runs:
            colour, style = RUN_STYLES[run.key]
            series = effects[run.key][metric] * scale
            ax.plot(series.index, series.to_numpy(), color=colour, linestyle=style, lw=2)
        if comparison.side_by_side:
            gap = (effects["B"][metric] - effects["A"][metric]) * scale
            colour, style = INTERACTION_STYLE
            ax.plot(gap.index, gap.to_numpy(), color=colour, linestyle=style, lw=1.8)
        _style(ax, f"{domain}: {title}", f"effect, {unit}", weeks)
        _min_span(ax, span)
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
    return fig


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
