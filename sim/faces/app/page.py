"""The teaching app: show a class, live, how context changes recovery (``recovery-sim app``).

A solara page built from Mesa's SolaraViz parts around :class:`ContextComparison`:
a controller like Mesa's ``ModelController`` (Reset, Play, Step) drives the run and Mesa's
``update_counter`` redraws the views. The sidebar holds the controls, generated
from the parameter registry (:mod:`sim.faces.app.controls`); the main area shows the
three outcome domains, the stage distribution, the four mechanism doses, the
network coloured by recovery stage and one person's pathway (:mod:`sim.faces.app.views`).

Side by side, contexts A and B run on the same seed: the same people meet the
same chance events and only the context differs. Presets read the two contexts
from the shipped scenario files. Changing any control restarts the run at week 0
(same seed, so the same people), so what is on screen always matches the
controls.

Run it with ``recovery-sim app`` or ``solara run sim.faces.app.page:page``. Like Mesa's
examples, the module builds a ``model`` at import, so a smoke test can step it.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping
from typing import Any

import solara
import solara.lab
from mesa.visualization.utils import force_update

from sim.core.parameters import lookup
from sim.faces.app.controls import (
    CONTEXT_CONTROLS,
    OFFER_CONTROLS,
    PEOPLE_CONTROLS,
    STAFF_TRAINING,
    Control,
    format_value,
)
from sim.faces.app.session import (
    APP_MAX_AGENTS,
    APP_MAX_WEEKS,
    PRESETS,
    ContextComparison,
    preset_contexts,
)
from sim.faces.app.views import (
    EffectView,
    ExportPanel,
    NetworkView,
    OutcomesView,
    PersonView,
    StagesView,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "Page",
    "RunController",
    "apply_preset",
    "bounded_settings",
    "model",
    "model_kwargs",
    "page",
]

TITLE = "Recovery Pathways: how context changes recovery"
CUSTOM = "Custom (set A and B below)"
WEEKS_PER_STEP = [1, 4, 13, 26, 52]
SEED_MAX = 2**32 - 1
NAME_MAX = 80  # characters of a context's label

DEFAULT_SETTINGS: dict[str, Any] = {
    "n_agents": PEOPLE_CONTROLS["n_agents"]["value"],
    "seed": PEOPLE_CONTROLS["seed"]["value"],
    "weeks": 104,
    "side_by_side": False,
    "preset": CUSTOM,
    "params": {"motivation_median": PEOPLE_CONTROLS["motivation_median"]["value"]},
    "offer": {name: spec["value"] for name, spec in OFFER_CONTROLS.items()},
    "staff_training": False,
    "context_a": {name: spec["value"] for name, spec in CONTEXT_CONTROLS.items()},
    "context_b": {name: spec["value"] for name, spec in CONTEXT_CONTROLS.items()},
    "name_a": "context-a",
    "name_b": "context-b",
}

# Room under the main area for solara's banner ("This website runs on Solara", about
# 44 px high, fixed to the bottom right): without it the banner covers the readout's
# last row on a 1024 x 768 classroom projector (issue 20).
FOOTER_ROOM = "56px"

_CSS = """
.rp-readout { border-collapse: collapse; font-size: 0.95rem; margin-top: 4px; }
.rp-readout th, .rp-readout td { padding: 3px 12px; border-bottom: 1px solid #e0e0e0;
  text-align: right; }
.rp-readout th:nth-child(-n+2), .rp-readout td:nth-child(-n+2) { text-align: left; }
.rp-unit { color: #777; font-size: 0.8rem; }
.rp-control .v-input__slot { margin-bottom: 0; }
.rp-control .v-messages { display: none; }
.rp-headline { font-size: 1.05rem; }
.rp-note { color: #555; font-size: 0.85rem; }
.v-tooltip__content { font-size: 0.85rem !important; max-width: 460px; line-height: 1.35; }
.rp-chart-outcomes img, .rp-chart-stages img, .rp-chart-doses img, .rp-chart-network img,
.rp-chart-pathway img, .rp-chart-effect img { max-width: 100%; height: auto; }
.rp-main { padding-bottom: FOOTER_ROOM; }
""".replace("FOOTER_ROOM", FOOTER_ROOM)


def _number(value: Any, default: float, low: float, high: float, *, whole: bool) -> float:
    """``value`` clamped to [low, high] (rounded if ``whole``); ``default`` if not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if isinstance(value, float) and math.isnan(value):
        return default
    number = min(max(value, low), high)  # also takes +-inf to the bounds
    return round(number) if whole else float(number)


def _registry_values(values: Any, defaults: Mapping[str, float]) -> dict[str, float]:
    """The keys of ``defaults``, each from ``values`` bounded by the registry, else default."""
    given = values if isinstance(values, Mapping) else {}
    bounded = {}
    for name, default in defaults.items():
        p = lookup(name)
        bounded[name] = _number(given.get(name), default, p.low, p.high, whole=p.integer)
    return bounded


def bounded_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The app's settings with every value checked before anything is built from them.

    A browser can send any value through a control's websocket message (the
    sliders' own limits are only drawn in the page). Here every number is clamped
    into its bounds: registry parameters to the registry's bounds, offer shares
    to [0, 1], the number of people to [1, ``APP_MAX_AGENTS``], weeks to
    [1, ``APP_MAX_WEEKS``], the seed to [0, 2**32 - 1]. A value that is not a
    number (a string, NaN, a list, ...) or an unknown key is refused: the default
    stands in its place. Switches must be booleans, the preset one of the
    presets and a context's label a short string.
    """
    given = settings if isinstance(settings, Mapping) else {}
    default = DEFAULT_SETTINGS

    def flag(key: str) -> bool:
        value = given.get(key)
        return value if isinstance(value, bool) else default[key]

    def label(key: str) -> str:
        value = given.get(key)
        return value[:NAME_MAX] if isinstance(value, str) and value.strip() else default[key]

    offers = given.get("offer") if isinstance(given.get("offer"), Mapping) else {}
    preset = given.get("preset")
    return {
        "n_agents": _number(
            given.get("n_agents"), default["n_agents"], 1, APP_MAX_AGENTS, whole=True
        ),
        "seed": _number(given.get("seed"), default["seed"], 0, SEED_MAX, whole=True),
        "weeks": _number(given.get("weeks"), default["weeks"], 1, APP_MAX_WEEKS, whole=True),
        "side_by_side": flag("side_by_side"),
        "preset": preset if preset in {p.title for p in PRESETS} else CUSTOM,
        "params": _registry_values(given.get("params"), default["params"]),
        "offer": {
            name: _number(offers.get(name), share, 0.0, 1.0, whole=False)
            for name, share in default["offer"].items()
        },
        "staff_training": flag("staff_training"),
        "context_a": _registry_values(given.get("context_a"), default["context_a"]),
        "context_b": _registry_values(given.get("context_b"), default["context_b"]),
        "name_a": label("name_a"),
        "name_b": label("name_b"),
    }


def model_kwargs(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`ContextComparison` keyword arguments of the app's settings.

    The settings are bounded first (:func:`bounded_settings`): whatever the browser
    sent, the model built from them is within the registry and the app's limits.
    """
    settings = bounded_settings(settings)
    return {
        "n_agents": settings["n_agents"],
        "seed": settings["seed"],
        "weeks": settings["weeks"],
        "offer": dict(settings["offer"]),
        "staff_training": settings["staff_training"],
        "params": dict(settings["params"]),
        "context_a": dict(settings["context_a"]),
        "context_b": dict(settings["context_b"]) if settings["side_by_side"] else None,
        "name_a": settings["name_a"],
        "name_b": settings["name_b"],
    }


def apply_preset(settings: dict[str, Any], title: str) -> dict[str, Any]:
    """Settings with both contexts (and their names) read from the preset called ``title``."""
    preset = next((p for p in PRESETS if p.title == title), None)
    if preset is None:
        return {**settings, "preset": CUSTOM}
    (name_a, context_a), (name_b, context_b) = preset_contexts(preset.key)
    return {
        **settings,
        "preset": title,
        "side_by_side": True,
        "context_a": context_a,
        "context_b": context_b,
        "name_a": name_a,
        "name_b": name_b,
    }


# Like Mesa's examples: a model built at import, for smoke tests and notebooks.
model = ContextComparison(**model_kwargs(DEFAULT_SETTINGS))


def _headline(comparison: ContextComparison) -> str:
    week = f"Week {comparison.week} of {comparison.settings['weeks']}"
    contexts = " | ".join(
        f"{run.key}: {run.name} ("
        + ", ".join(
            f"{spec['label'].lower()} {format_value(spec, run.context[name])}"
            for name, spec in CONTEXT_CONTROLS.items()
        )
        + ")"
        for run in comparison.runs
    )
    return f"{week}. {contexts}"


@solara.component
def RunController(
    model: solara.Reactive[ContextComparison],
    *,
    model_parameters: solara.Reactive[dict[str, Any]],
    play_interval: solara.Reactive[int],
    render_interval: solara.Reactive[int],
) -> solara.Element:
    """Reset, play/pause and Step, like Mesa's ``ModelController``, for a model that can change.

    Mesa's controller keeps its own "running" flag: when a control replaced a model that
    had reached its horizon, Step and play stayed disabled until Reset. Here the flag
    follows the model shown (a new model starts enabled), playing stops at the horizon,
    and a step of k weeks stops at the horizon (:meth:`ContextComparison.step`).
    """
    playing = solara.use_reactive(False)
    running = solara.use_reactive(model.value.running)
    error_message = solara.use_reactive(None)

    def follow_model() -> None:
        running.set(bool(model.value.running))

    solara.use_effect(follow_model, [id(model.value)])

    def do_step() -> None:
        shown = model.value
        for _ in range(render_interval.value):
            shown.step()
            if not shown.running:
                break
        if shown is model.value:  # not replaced meanwhile
            running.value = shown.running
            if not shown.running:
                playing.value = False
        force_update()

    def play() -> None:
        try:
            while running.value and playing.value:
                time.sleep(play_interval.value / 1000)
                if playing.value:
                    do_step()
        except Exception as error:  # shown in the page, as Mesa's controller does
            error_message.value = f"error in step: {error}"
            traceback.print_exc()

    solara.lab.use_task(play, dependencies=[playing.value, running.value], prefer_threaded=True)

    def do_reset() -> None:
        error_message.set(None)
        playing.value = False
        model.value = ContextComparison(**model_parameters.value)
        running.value = True
        force_update()

    with solara.Column(gap="0px") as main:
        with solara.Row(justify="space-between"):
            solara.Button(label="Reset", color="primary", on_click=do_reset)
            solara.Button(
                label="▶" if not playing.value else "❚❚",
                color="primary",
                on_click=lambda: playing.set(not playing.value),
                disabled=not running.value,
            )
            solara.Button(
                label="Step",
                color="primary",
                on_click=do_step,
                disabled=playing.value or not running.value,
            )
        if error_message.value:
            solara.Error(label=error_message.value)
    return main


@solara.component
def ContextControls(settings: solara.Reactive[dict[str, Any]], update: Any) -> solara.Element:
    """Side-by-side switch, presets and the context sliders of A (and B)."""
    current = settings.value
    with solara.Card("Contexts", margin=0, classes=["rp-card-contexts"]) as main:
        solara.Switch(
            label="Side by side: A vs B",
            value=current["side_by_side"],
            on_value=lambda v: update(side_by_side=v),
            classes=["rp-side-by-side"],
        )
        if current["side_by_side"]:
            solara.Select(
                "Preset from scenario files",
                values=[CUSTOM, *(p.title for p in PRESETS)],
                value=current["preset"],
                on_value=lambda t: settings.set(bounded_settings(apply_preset(settings.value, t))),
                classes=["rp-preset"],
            )
        runs = ("a", "b") if current["side_by_side"] else ("a",)
        for name, spec in CONTEXT_CONTROLS.items():
            for run in runs:
                key = f"context_{run}"

                def on_value(value: float, key: str = key, name: str = name) -> None:
                    update(
                        **{key: {**settings.value[key], name: value}},
                        preset=CUSTOM,
                        name_a="context-a",
                        name_b="context-b",
                    )

                Control(
                    spec,
                    current[key][name],
                    on_value,
                    tag=f"{name}-{run.upper()}",
                    prefix=f"{run.upper()} · " if current["side_by_side"] else "",
                ).key(f"{name}-{run}")
    return main


@solara.component
def PeopleAndOffers(settings: solara.Reactive[dict[str, Any]], update: Any) -> solara.Element:
    """Population, seed, and which interventions are offered (same in A and B)."""
    current = settings.value
    with solara.Column(gap="8px") as main:
        with solara.Card("People (same in A and B)", margin=0):
            Control(
                PEOPLE_CONTROLS["motivation_median"],
                current["params"]["motivation_median"],
                lambda v: update(params={**settings.value["params"], "motivation_median": v}),
                tag="motivation_median",
            )
            Control(
                PEOPLE_CONTROLS["n_agents"],
                current["n_agents"],
                lambda v: update(n_agents=v),
                tag="n_agents",
            )
            Control(
                PEOPLE_CONTROLS["seed"],
                current["seed"],
                lambda v: update(seed=0 if v is None else v),
                tag="seed",
            )
        with solara.Card("Interventions offered (same in A and B)", margin=0):
            for name, spec in OFFER_CONTROLS.items():
                Control(
                    spec,
                    current["offer"][name],
                    lambda v, name=name: update(offer={**settings.value["offer"], name: v}),
                    tag=f"offer-{name}",
                ).key(f"offer-{name}")
            with solara.Tooltip(
                f"{STAFF_TRAINING.label}: {STAFF_TRAINING.why}. Source: "
                "Slade et al. 2015, Lancet Psychiatry 2:503-14."
            ):
                with solara.Column(gap="0px"):
                    solara.Checkbox(
                        label="Staff training (REFOCUS)",
                        value=current["staff_training"],
                        on_value=lambda v: update(staff_training=v),
                    )
    return main


@solara.component
def Page() -> solara.Element:
    """The whole app: sidebar controls, headline, and the views in tabs."""
    settings = solara.use_reactive(DEFAULT_SETTINGS)
    kwargs = solara.use_reactive(model_kwargs(DEFAULT_SETTINGS))
    first = solara.use_memo(lambda: ContextComparison(**model_kwargs(DEFAULT_SETTINGS)), [])
    current_model = solara.use_reactive(first)
    person = solara.use_reactive(1)
    play_interval = solara.use_reactive(150)
    weeks_per_step = solara.use_reactive(4)

    def update(**changes: Any) -> None:
        settings.set(bounded_settings({**settings.value, **changes}))

    def rebuild() -> None:
        kwargs.set(model_kwargs(settings.value))
        current_model.set(ContextComparison(**kwargs.value))

    solara.use_effect(rebuild, [repr(settings.value)])

    # A model that is no longer shown (a control changed, or Reset built a new one) and,
    # when the session's page closes (solara culls an abandoned session), the one shown
    # are released: their memory goes even if a library still holds a reference.
    shown = solara.use_ref(first)

    def release_replaced() -> None:
        if shown.current is not current_model.value:
            shown.current.release()
            shown.current = current_model.value

    solara.use_effect(release_replaced, [id(current_model.value)])
    solara.use_effect(lambda: lambda: current_model.value.release(), [])
    comparison = current_model.value

    solara.Style(_CSS)
    solara.Title("Recovery Pathways")
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    with solara.Sidebar(), solara.Column(gap="8px"):
        with solara.Card("Run", margin=0, classes=["rp-card-run"]):
            RunController(
                current_model,
                model_parameters=kwargs,
                play_interval=play_interval,
                render_interval=weeks_per_step,
            )
            solara.Select(
                "Weeks per step",
                values=WEEKS_PER_STEP,
                value=weeks_per_step.value,
                on_value=lambda v: weeks_per_step.set(v) if v in WEEKS_PER_STEP else None,
                classes=["rp-weeks-per-step"],
            )
            solara.Text(
                "Changing a control restarts at week 0 with the same people.", classes=["rp-note"]
            )
        ContextControls(settings, update)
        PeopleAndOffers(settings, update)
        with solara.Card("Export", margin=0):
            ExportPanel(comparison, person.value)
    Main(comparison, person)


@solara.component
def Main(comparison: ContextComparison, person: solara.Reactive[int]) -> solara.Element:
    """Headline and the tabs of views."""
    from mesa.visualization.utils import update_counter

    update_counter.get()
    with solara.Column(gap="4px", classes=["rp-main"]) as main:
        solara.Text(_headline(comparison), classes=["rp-headline"])
        note = (
            "A solid blue, B dashed orange. Same seed, same people, same chance events: "
            "every difference between the lines is the context's doing."
            if comparison.side_by_side
            else "Switch on 'Side by side' to run a second context on the same people."
        )
        solara.Text(note, classes=["rp-note"])
        with solara.lab.Tabs(lazy=True):
            with solara.lab.Tab("Outcomes"):
                OutcomesView(comparison)
            with solara.lab.Tab("Package effect"):
                EffectView(comparison)
            with solara.lab.Tab("Stages and mechanisms"):
                StagesView(comparison)
            with solara.lab.Tab("Network"):
                NetworkView(comparison, person.value)
            with solara.lab.Tab("One person"):
                PersonView(comparison, person)
    return main


page = Page()
