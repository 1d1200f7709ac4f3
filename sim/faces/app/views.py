"""The teaching app's views: solara components that draw a live :class:`ContextComparison`.

Every view reads Mesa's visualisation ``update_counter`` so that it redraws
after each step of the app's run controller (Step, Play, Reset), and draws the
figures of :mod:`sim.faces.app.figures` as PNG images. The readout table carries
``data-metric`` / ``data-run`` attributes so that tests can read the numbers a
class sees.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path

import reacton.ipywidgets as rw
import solara
from mesa.visualization.utils import update_counter

from sim.faces.app.figures import (
    DOMAIN_PANELS,
    chart_png,
    effect_readout,
    readout,
    save_charts,
)
from sim.faces.app.session import ContextComparison, export_run
from sim.faces.cli.app_server import OUT_ENV

__all__ = [
    "Chart",
    "EffectReadout",
    "EffectView",
    "ExportPanel",
    "NetworkView",
    "OutcomesView",
    "PersonView",
    "Readout",
    "StagesView",
    "most_affected_person",
]


@solara.component
def Chart(png: bytes, *, tag: str) -> solara.Element:
    """A chart's PNG (:func:`~sim.faces.app.figures.chart_png`) as an image.

    In a container with CSS class ``rp-chart-<tag>``; the same image widget as
    ``solara.FigureMatplotlib`` shows, given the PNG of a figure kept between redraws.
    """
    with solara.Column(classes=[f"rp-chart-{tag}"], style={"width": "100%"}) as main:
        rw.Image(value=png, format="png")
    return main


def _readout_html(comparison: ContextComparison) -> str:
    table = readout(comparison)
    runs = comparison.runs
    head = "".join(f"<th>{html.escape(f'{r.key}: {r.name}')}</th>" for r in runs)
    if comparison.side_by_side:
        head += "<th>B - A</th>"
    units = {title: unit for panels in DOMAIN_PANELS.values() for _, title, unit, _, _ in panels}
    metrics = {
        title: metric for panels in DOMAIN_PANELS.values() for metric, title, _, _, _ in panels
    }
    rows = []
    for record in table.to_dict("records"):
        title = record["outcome"]
        digits = 1 if "%" in units[title] or "QPR" in units[title] else 3
        cells = "".join(
            f'<td data-metric="{metrics[title]}" data-run="{r.key}">{record[r.key]:.{digits}f}</td>'
            for r in runs
        )
        if comparison.side_by_side:
            cells += (
                f'<td data-metric="{metrics[title]}" data-run="difference">'
                f"{record['difference']:+.{digits}f}</td>"
            )
        rows.append(
            f"<tr><td>{record['domain']}</td><td>{html.escape(title)} "
            f'<span class="rp-unit">({html.escape(units[title])})</span></td>'
            f"{cells}</tr>"
        )
    return (
        f'<table class="rp-readout" data-testid="readout" data-week="{comparison.week}">'
        f"<thead><tr><th>Domain</th><th>Outcome</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


@solara.component
def Readout(comparison: ContextComparison) -> solara.Element:
    """The outcomes at the current week as a small table (A, B and B - A)."""
    update_counter.get()
    return solara.HTML(tag="div", unsafe_innerHTML=_readout_html(comparison))


@solara.component
def OutcomesView(comparison: ContextComparison) -> solara.Element:
    """The three outcome domains over time, with the current values underneath."""
    update_counter.get()
    with solara.Column() as main:
        Chart(chart_png(comparison, "outcomes"), tag="outcomes")
        Readout(comparison)
    return main


def _effect_html(comparison: ContextComparison) -> str:
    table = effect_readout(comparison)
    if table.empty:
        return (
            '<p class="rp-note" data-testid="effect-readout" data-week="none">'
            "No package chosen: offer an intervention (or staff training) on the left, and "
            "each context also runs without it on the same people.</p>"
        )
    runs = comparison.runs
    head = "".join(f"<th>Effect in {html.escape(f'{r.key}: {r.name}')}</th>" for r in runs)
    if comparison.side_by_side:
        head += "<th>Interaction (B - A)</th>"
    columns = [r.key for r in runs] + (["interaction"] if comparison.side_by_side else [])
    rows = []
    for record in table.to_dict("records"):
        digits = 2 if "QPR" in record["unit"] or "percentage" in record["unit"] else 3
        cells = "".join(
            f'<td data-metric="{record["metric"]}" data-run="{key}">{record[key]:+.{digits}f}</td>'
            for key in columns
        )
        rows.append(
            f"<tr><td>{record['domain']}</td><td>{html.escape(record['outcome'])} "
            f'<span class="rp-unit">({html.escape(record["unit"])})</span></td>{cells}</tr>'
        )
    week = int(table["week"].iloc[0])
    return (
        f'<table class="rp-readout" data-testid="effect-readout" data-week="{week}">'
        f"<thead><tr><th>Domain</th><th>Package effect (with - without)</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


@solara.component
def EffectReadout(comparison: ContextComparison) -> solara.Element:
    """The package's effect at the current week in A, B and their difference (a table)."""
    update_counter.get()
    return solara.HTML(tag="div", unsafe_innerHTML=_effect_html(comparison))


@solara.component
def EffectView(comparison: ContextComparison) -> solara.Element:
    """Effect modification: the package's effect in A and in B over time, and the gap."""
    update_counter.get()
    with solara.Column() as main:
        solara.Text(
            "Each context also runs without the package, on the same people and chance "
            "events: the effect is the difference. Side by side, the dotted line is the "
            "interaction: how much more the package does in B than in A.",
            classes=["rp-note"],
        )
        Chart(chart_png(comparison, "effect"), tag="effect")
        EffectReadout(comparison)
    return main


@solara.component
def StagesView(comparison: ContextComparison) -> solara.Element:
    """The stage distribution and the four mechanism doses over time."""
    update_counter.get()
    with solara.Column() as main:
        Chart(chart_png(comparison, "stages"), tag="stages")
        Chart(chart_png(comparison, "doses"), tag="doses")
    return main


@solara.component
def NetworkView(comparison: ContextComparison, person: int | None) -> solara.Element:
    """Ties among users coloured by recovery stage, with the selected person ringed.

    Above :data:`~sim.faces.app.figures.NETWORK_FULL_MAX` people the chart draws a
    sample of ego networks, and its caption says which (so does an exported PNG).
    """
    update_counter.get()
    return Chart(chart_png(comparison, "network", person), tag="network")


def most_affected_person(comparison: ContextComparison) -> int:
    """The person whose personal recovery differs most between B and A this week.

    With one context, the person whose personal recovery changed most since week 0.
    """
    users = comparison.runs[0].model.service_users
    if comparison.side_by_side:
        other = comparison.runs[1].model
        gaps = [abs(other.user(u.unique_id).personal_recovery - u.personal_recovery) for u in users]
    else:
        path = comparison.runs[0].model.datacollector.get_agent_vars_dataframe()
        first = path.xs(0, level="Step")["user_personal_recovery"]
        gaps = [abs(u.personal_recovery - float(first[u.unique_id])) for u in users]
    return users[max(range(len(users)), key=gaps.__getitem__)].unique_id


@solara.component
def PersonView(comparison: ContextComparison, person: solara.Reactive[int]) -> solara.Element:
    """One person's pathway, chosen by number or by a button; the same person in A and B."""
    update_counter.get()
    users = comparison.runs[0].model.service_users
    first, last = users[0].unique_id, users[-1].unique_id
    chosen = min(max(person.value, first), last)

    def pick_random() -> None:
        person.set(int(comparison.rng.integers(first, last + 1)))

    with solara.Column() as main:
        with solara.Row(classes=["rp-person-controls"], style={"align-items": "center"}):
            solara.InputInt(
                f"Person number ({first}-{last})",
                value=chosen,
                on_value=lambda v: person.set(min(max(int(v), first), last)),
                dense=True,
                classes=["rp-person-id"],
            )
            solara.Button(
                "Most affected by the context"
                if comparison.side_by_side
                else "Changed most since week 0",
                on_click=lambda: person.set(most_affected_person(comparison)),
                outlined=True,
                classes=["rp-pick-affected"],
            )
            solara.Button("Random person", on_click=pick_random, outlined=True)
        user = comparison.runs[0].model.user(chosen)
        facts = (
            f"Person {chosen}: motivation {user.motivation:.2f}, "
            f"{user.ties} ties to other users, offered "
            f"{', '.join(o.replace('_', ' ') for o in user.offered) or 'usual care only'}; "
            f"now {user.stage} in A"
            + (
                f", {comparison.runs[1].model.user(chosen).stage} in B"
                if comparison.side_by_side
                else ""
            )
            + "."
        )
        solara.Text(facts)
        Chart(chart_png(comparison, "pathway", chosen), tag="pathway")
    return main


def _out_dir() -> Path:
    return Path(os.environ.get(OUT_ENV) or Path("out") / "app")


@solara.component
def ExportPanel(
    comparison: ContextComparison, person: int, on_saved: Callable[[str], None] | None = None
) -> solara.Element:
    """Buttons that save the current charts (PNG) and the run (Parquet + manifest)."""
    message = solara.use_reactive("")

    def save() -> None:
        try:
            folder = export_run(
                comparison,
                _out_dir(),
                figures=lambda f: save_charts(comparison, f, person=person),
                extra={"person": person},
            )
        except OSError as error:
            message.set(f"Could not save: {error}")
            return
        message.set(str(folder.resolve()))
        if on_saved is not None:
            on_saved(str(folder))

    with solara.Column(gap="6px") as main:
        solara.Button(
            "Save charts and run",
            on_click=save,
            color="primary",
            outlined=True,
            classes=["rp-export"],
        )
        solara.Text(
            "PNG charts, series.parquet and manifest.json, as `recovery-sim run` writes them.",
            style={"font-size": "0.8rem", "color": "#666"},
        )
        if message.value:
            solara.Text(
                f"Saved to {message.value}",
                classes=["rp-export-message"],
                style={"font-size": "0.8rem", "word-break": "break-all"},
            )
    return main
