"""Draw the logic model (:mod:`sim.core.logic_model`) as a teaching diagram.

Columns run left to right: interventions -> mechanisms -> processes ->
outcomes by domain (functional, existential, social). Each arrow from an
intervention to a mechanism is as thick as that intervention's weight on the
mechanism (``Intervention.profile``); moderators at the user, service and
environment levels act on the mechanisms; staff training acts on the service
(team) moderator, not on the mechanisms.

Drawing uses matplotlib's object API with the Agg canvas only (no pyplot, no
display), so it works on headless machines and leaves global state alone.

>>> from sim.faces.reports.diagram import draw_logic_model
>>> draw_logic_model("logic_model.png")  # doctest: +SKIP
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.text import Text

from sim.core.logic_model import INTERVENTIONS, MECHANISMS, MODERATORS, OUTCOMES, PROCESSES
from sim.files.outputs import OutputError, write_atomic

__all__ = ["build_figure", "draw_logic_model", "find_text_overlaps"]

# Which processes each mechanism drives, and which outcome domain each process
# feeds, as implemented in sim.core.rules (the review names the links in prose;
# sim.core.logic_model keeps only the labels). Checked against the labels below.
MECHANISM_PROCESSES: dict[str, tuple[str, ...]] = {
    "information_and_skills": ("knowledge",),
    "working_alliance": ("trust",),
    "role_modelling": ("hope", "self_stigma"),
    "increasing_choice": ("empowerment",),
}
PROCESS_DOMAIN: dict[str, str] = {
    "knowledge": "functional",  # fewer relapses
    "self_efficacy": "functional",  # work readiness, functioning
    "hope": "existential",
    "self_stigma": "existential",
    "empowerment": "existential",
    "meaning": "existential",
}
_WIDTH, _HEIGHT = 100.0, 64.0  # drawing units; 1 unit = 0.16 inch
_INCH_PER_UNIT = 0.16
_COLUMN_X = {
    "interventions": (1.0, 25.0),
    "mechanisms": (35.0, 14.0),
    "processes": (58.0, 18.5),
    "outcomes": (84.0, 15.0),
}
_FILL = {
    "interventions": "#dbe9f6",
    "mechanisms": "#fde3c8",
    "processes": "#d9f0d3",
    "functional": "#e5dcf2",
    "existential": "#fff2bf",
    "social": "#d4efec",
    "user": "#f2f2f2",
    "service": "#f2f2f2",
    "environment": "#f2f2f2",
    "team": "#dbe9f6",
}
_EDGE = "#4d4d4d"
_ARROW = "#555555"
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@dataclass(frozen=True)
class _Box:
    """A labelled box in drawing units (x, y = lower-left corner)."""

    x: float
    y: float
    w: float
    h: float

    cx = property(lambda self: self.x + self.w / 2, doc="Centre x.")
    cy = property(lambda self: self.y + self.h / 2, doc="Centre y.")
    right = property(lambda self: self.x + self.w, doc="Right edge.")
    top = property(lambda self: self.y + self.h, doc="Top edge.")


def _pretty(name: str) -> str:
    """``self_efficacy`` -> ``Self-efficacy``; ``personal_recovery`` -> ``personal recovery``."""
    text = name.replace("self_", "self-").replace("_", " ")
    return text[:1].upper() + text[1:]


def _split_label(label: str) -> tuple[str, str]:
    """Split ``"Name (detail)"`` into the name and the detail, arrows made typographic."""
    label = label.replace("->", "\u2192")
    head, tail = label, ""
    if label.endswith(")") and " (" in label:
        head, _, tail = label.partition(" (")
        tail = tail[:-1]
    if ": " in head:  # "empowerment: sense of choice ..." -> title and gloss
        head, _, gloss = head.partition(": ")
        tail = f"{gloss}; {tail}" if tail else gloss
    return head, tail


def _evenly(count: int, top: float, bottom: float) -> list[float]:
    """``count`` centre heights spread evenly from ``top`` to ``bottom``."""
    if count == 1:
        return [(top + bottom) / 2]
    step = (top - bottom) / (count - 1)
    return [top - i * step for i in range(count)]


class _Canvas:
    """The figure, its single axes in drawing units, and helpers to draw on it."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(_WIDTH * _INCH_PER_UNIT, _HEIGHT * _INCH_PER_UNIT), dpi=150)
        FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_axes((0.0, 0.0, 1.0, 1.0))
        self.ax.set_xlim(0, _WIDTH)
        self.ax.set_ylim(0, _HEIGHT)
        self.ax.set_axis_off()
        self.renderer = self.figure.canvas.get_renderer()

    def text(
        self, x: float, y: float, text: str, *, max_width: float | None = None, **style: object
    ) -> Text:
        """Place text, shrinking its font until it is at most ``max_width`` units wide."""
        artist = self.ax.text(x, y, text, **style)
        if max_width is not None:
            limit = max_width * _INCH_PER_UNIT * self.figure.dpi
            while (
                artist.get_window_extent(self.renderer).width > limit and artist.get_fontsize() > 5
            ):
                artist.set_fontsize(artist.get_fontsize() - 0.25)
        return artist

    def box(
        self,
        box: _Box,
        fill: str,
        title: str,
        detail: str = "",
        *,
        size: float = 10.0,
        lines: tuple[str, ...] = (),
    ) -> None:
        """A rounded box with a bold title and, below it, a detail line or a list."""
        self.ax.add_patch(
            FancyBboxPatch(
                (box.x, box.y),
                box.w,
                box.h,
                boxstyle="round,pad=0,rounding_size=0.8",
                facecolor=fill,
                edgecolor=_EDGE,
                linewidth=1.0,
                zorder=2,
            )
        )
        rows = [detail] if detail else list(lines)
        inner = box.w - 1.2
        if not rows:
            self.text(
                box.cx,
                box.cy,
                title,
                max_width=inner,
                ha="center",
                va="center",
                fontsize=size,
                fontweight="bold",
                zorder=3,
            )
            return
        step = min(1.55, (box.h - 1.0) / (len(rows) + 1))
        top = box.cy + step * len(rows) / 2
        self.text(
            box.cx,
            top,
            title,
            max_width=inner,
            ha="center",
            va="center",
            fontsize=size,
            fontweight="bold",
            zorder=3,
        )
        for i, row in enumerate(rows, start=1):
            self.text(
                box.cx,
                top - i * step,
                row,
                max_width=inner,
                ha="center",
                va="center",
                fontsize=size - 2.0,
                color="#333333",
                zorder=3,
            )

    def arrow(
        self,
        start: tuple[float, float],
        end: tuple[float, float],
        *,
        color: str = _ARROW,
        width: float = 1.6,
        style: str = "-",
        curve: float = 0.0,
        alpha: float = 1.0,
    ) -> None:
        """An arrow from ``start`` to ``end`` (drawing units), under the boxes' text."""
        self.ax.add_patch(
            FancyArrowPatch(
                start,
                end,
                arrowstyle="-|>",
                mutation_scale=8 + 3 * width,
                linewidth=width,
                linestyle=style,
                color=color,
                alpha=alpha,
                shrinkA=0,
                shrinkB=1,
                connectionstyle=f"arc3,rad={curve}",
                zorder=1.5,
            )
        )


def _intervention_boxes() -> tuple[dict[str, _Box], _Box]:
    x, w = _COLUMN_X["interventions"]
    users = [i for i in INTERVENTIONS if i.acts_on == "user"]
    centres = _evenly(len(users), 50.8, 22.8)
    boxes = {item.name: _Box(x, c - 1.8, w, 3.6) for item, c in zip(users, centres, strict=True)}
    return boxes, _Box(x, 7.75, w, 4.6)


def _mechanism_boxes() -> dict[str, _Box]:
    x, w = _COLUMN_X["mechanisms"]
    centres = _evenly(len(MECHANISMS), 47.5, 26.0)
    return {m: _Box(x, c - 2.4, w, 4.8) for m, c in zip(MECHANISMS, centres, strict=True)}


def _process_boxes() -> dict[str, _Box]:
    x, w = _COLUMN_X["processes"]
    centres = _evenly(len(PROCESSES), 50.8, 22.8)
    return {p: _Box(x, c - 1.75, w, 3.5) for p, c in zip(PROCESSES, centres, strict=True)}


def _outcome_boxes() -> dict[str, _Box]:
    x, w = _COLUMN_X["outcomes"]
    heights = {"functional": 8.5, "existential": 10.0, "social": 8.5}
    tops = {"functional": 52.6, "existential": 41.0, "social": 27.5}
    return {d: _Box(x, tops[d] - heights[d], w, heights[d]) for d in OUTCOMES}


def _moderator_boxes() -> dict[str, _Box]:
    order = ("service", "user", "environment")  # service first: next to staff training
    xs = {"service": 28.5, "user": 45.5, "environment": 62.5}
    return {level: _Box(xs[level], 2.5, 15.5, 12.0) for level in order if level in MODERATORS}


def _draw_headers(canvas: _Canvas) -> None:
    canvas.text(
        1.0, 61.2, "Recovery Pathways: logic model", fontsize=17, fontweight="bold", va="center"
    )
    canvas.text(
        1.0,
        58.9,
        "after Winsper et al. (2020), Clin Psychol Rev 76:101815. "
        "Arrow width = weight of the intervention on the mechanism.",
        fontsize=10,
        color="#444444",
        va="center",
    )
    for column, (x, w) in _COLUMN_X.items():
        canvas.text(
            x + w / 2,
            55.2,
            column.capitalize(),
            ha="center",
            va="center",
            fontsize=13,
            fontweight="bold",
            color="#222222",
        )
    canvas.ax.add_line(
        Line2D([1, 99], [17.8, 17.8], color="#999999", linewidth=0.8, linestyle=(0, (4, 3)))
    )
    canvas.text(
        1.0,
        16.4,
        "Moderators (act on the mechanisms) and staff training (acts on teams)",
        fontsize=11,
        fontweight="bold",
        va="center",
        color="#222222",
    )


def _draw_interventions(canvas: _Canvas, boxes: dict[str, _Box], team_box: _Box) -> None:
    for item in INTERVENTIONS:
        title, detail = _split_label(item.label)
        if item.acts_on == "user":
            marker = "\u25cf " if item.group else ""
            canvas.box(boxes[item.name], _FILL["interventions"], marker + title, detail, size=9.5)
        else:
            canvas.box(team_box, _FILL["team"], title, lines=(detail, "acts on teams"), size=9.5)


def _draw_profile_arrows(
    canvas: _Canvas, sources: dict[str, _Box], mechanisms: dict[str, _Box]
) -> None:
    users = [i for i in INTERVENTIONS if i.acts_on == "user"]
    for i, item in enumerate(users):
        colour = _PALETTE[i % len(_PALETTE)]
        source = sources[item.name]
        for j, (mechanism, weight) in enumerate(zip(MECHANISMS, item.profile, strict=True)):
            if weight <= 0:
                continue
            start = (source.right, source.cy + (1.5 - j) * 0.55)
            target = mechanisms[mechanism]
            end = (target.x, target.cy + (len(users) / 2 - 0.5 - i) * 0.5)
            canvas.arrow(start, end, color=colour, width=3.2 * weight, alpha=0.8)


def _draw_processes(
    canvas: _Canvas, mechanisms: dict[str, _Box], processes: dict[str, _Box]
) -> None:
    for name, box in mechanisms.items():
        canvas.box(box, _FILL["mechanisms"], _pretty(name).replace(" and ", " & "), size=10.5)
    for name, text in PROCESSES.items():
        title, detail = _split_label(text)
        canvas.box(processes[name], _FILL["processes"], _pretty(title), detail, size=9.5)
    for mechanism, targets in MECHANISM_PROCESSES.items():
        for process in targets:
            source, target = mechanisms[mechanism], processes[process]
            canvas.arrow((source.right, source.cy), (target.x, target.cy), width=1.8)
            if process == "self_stigma":
                canvas.text(
                    target.x - 3.0,
                    target.cy - 1.1,
                    "lowers",
                    fontsize=8,
                    color=_ARROW,
                    ha="center",
                    va="center",
                    style="italic",
                )
    first, second = processes["knowledge"], processes["self_efficacy"]
    canvas.arrow((first.x + 1.2, first.y), (second.x + 1.2, second.top), width=1.4)


def _draw_outcomes(canvas: _Canvas, processes: dict[str, _Box], outcomes: dict[str, _Box]) -> None:
    notes = {"social": "(ties form in \u25cf group interventions)"}
    for domain, items in OUTCOMES.items():
        rows = tuple(_pretty(i).lower() for i in items) + (
            (notes[domain],) if domain in notes else ()
        )
        canvas.box(outcomes[domain], _FILL[domain], domain.capitalize(), lines=rows, size=11)
    for process, domain in PROCESS_DOMAIN.items():
        source, target = processes[process], outcomes[domain]
        canvas.arrow((source.right, source.cy), (target.x, target.cy), width=1.4, alpha=0.85)
    trust, meaning = processes["trust"], processes["meaning"]
    canvas.arrow(
        (trust.x + 1.0, trust.top),
        (_COLUMN_X["mechanisms"][0] + 15.0, trust.top + 5.5),
        style="--",
        width=1.2,
        curve=0.3,
    )
    canvas.text(
        trust.x - 3.6,
        trust.top + 2.4,
        "engagement",
        fontsize=8,
        color=_ARROW,
        ha="center",
        va="center",
    )
    functional = outcomes["functional"]
    canvas.arrow(
        (functional.x + 1.0, functional.y),
        (meaning.right, meaning.cy + 0.6),
        style="--",
        width=1.2,
        curve=0.2,
    )
    canvas.text(
        functional.x + 7.5,
        functional.y - 1.5,
        "valued roles (work) → meaning",
        fontsize=8,
        color=_ARROW,
        ha="center",
        va="center",
    )


def _draw_moderators(
    canvas: _Canvas, moderators: dict[str, _Box], team_box: _Box, mechanisms: dict[str, _Box]
) -> None:
    frame_bottom = min(b.y for b in mechanisms.values()) - 0.8
    xs = _evenly(len(moderators), 46.5, 35.5)
    for (level, box), x_end in zip(moderators.items(), reversed(xs), strict=True):
        lines = tuple(_pretty(m).lower() for m in MODERATORS[level])
        canvas.box(box, _FILL[level], f"{level.capitalize()} level", lines=lines, size=10.5)
        canvas.arrow(
            (box.cx, box.top), (x_end, frame_bottom), width=1.6, style="-", color="#777777"
        )
    x, w = _COLUMN_X["mechanisms"]
    canvas.ax.add_patch(
        FancyBboxPatch(
            (x - 0.8, frame_bottom),
            w + 1.6,
            max(b.top for b in mechanisms.values()) + 0.8 - frame_bottom,
            boxstyle="round,pad=0,rounding_size=1.2",
            facecolor="none",
            edgecolor="#999999",
            linewidth=1.0,
            linestyle=(0, (3, 2)),
            zorder=1,
        )
    )
    service = moderators["service"]
    canvas.arrow(
        (team_box.right, team_box.cy), (service.x, team_box.cy), width=2.2, color="#1f4e79"
    )
    canvas.text(
        (team_box.right + service.x) / 2,
        team_box.cy + 3.5,
        "raises\nattitudes",
        fontsize=8,
        color="#1f4e79",
        ha="center",
        va="center",
        linespacing=1.0,
    )


def _draw_legend(canvas: _Canvas) -> None:
    x, y = 81.0, 14.2
    canvas.text(x, y, "Key", fontsize=10, fontweight="bold", va="center")
    rows = (
        (3.2, "-", "main mechanism (weight 1)"),
        (1.6, "-", "secondary mechanism (0.5)"),
        (1.2, "--", "feedback"),
    )
    for k, (width, style, label) in enumerate(rows, start=1):
        yy = y - 1.9 * k
        canvas.ax.add_line(
            Line2D([x, x + 4.5], [yy, yy], color=_ARROW, linewidth=width, linestyle=style)
        )
        canvas.text(x + 5.3, yy, label, fontsize=8.5, va="center", max_width=13.0)
    canvas.text(x, y - 1.9 * 4, "\u25cf  delivered in groups", fontsize=8.5, va="center")
    canvas.text(
        x,
        y - 1.9 * 5 - 0.4,
        "Weights coded from the review's\nnarrative synthesis (assumption).",
        fontsize=7.5,
        color="#555555",
        va="center",
        linespacing=1.1,
    )


def _check_links() -> None:
    """Fail loudly if the drawing links name mechanisms or processes the model lacks."""
    unknown = set(MECHANISM_PROCESSES) - set(MECHANISMS)
    unknown |= {p for ps in MECHANISM_PROCESSES.values() for p in ps} - set(PROCESSES)
    unknown |= set(PROCESS_DOMAIN) - set(PROCESSES)
    unknown |= set(PROCESS_DOMAIN.values()) - set(OUTCOMES)
    if unknown:
        raise ValueError(f"diagram links name unknown logic-model items: {sorted(unknown)}")


def build_figure() -> Figure:
    """Build the logic-model diagram as a matplotlib figure (Agg canvas).

    Returns:
        The figure; save it with ``figure.savefig(path)``.
    """
    _check_links()
    canvas = _Canvas()
    sources, team_box = _intervention_boxes()
    mechanisms, processes = _mechanism_boxes(), _process_boxes()
    outcomes, moderators = _outcome_boxes(), _moderator_boxes()
    _draw_headers(canvas)
    _draw_interventions(canvas, sources, team_box)
    _draw_profile_arrows(canvas, sources, mechanisms)
    _draw_processes(canvas, mechanisms, processes)
    _draw_outcomes(canvas, processes, outcomes)
    _draw_moderators(canvas, moderators, team_box, mechanisms)
    _draw_legend(canvas)
    return canvas.figure


def find_text_overlaps(figure: Figure) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts of ``figure`` whose bounding boxes overlap.

    Args:
        figure: A figure with an Agg canvas (as from :func:`build_figure`).

    Returns:
        The overlapping pairs, as their strings; empty for a clean drawing.
    """
    renderer = figure.canvas.get_renderer()
    texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.overlaps(box_b)
    ]


def draw_logic_model(path: str | Path) -> Path:
    """Draw the logic model to a PNG file, atomically.

    The image is written to a temporary file in the destination folder, which
    then replaces ``path`` in one step.

    Args:
        path: Destination PNG file; its folder must exist.

    Returns:
        The path written.

    Raises:
        OutputError: If the folder does not exist or is not writable (an OSError).
    """
    target = Path(path)
    buffer = io.BytesIO()
    figure = build_figure()
    figure.savefig(buffer, format="png", dpi=figure.dpi, facecolor="white")
    try:
        return write_atomic(target, buffer.getvalue())
    except OSError as error:
        raise OutputError(f"cannot write {target}: {error.strerror or error}") from error
