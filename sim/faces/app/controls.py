"""The teaching app's controls, generated from the parameter registry and the logic model.

Each control is described in Mesa's SolaraViz ``model_params`` format
(``{"type": "SliderFloat", "label": ..., "min": ..., "max": ..., "step": ...,
"value": ...}``) with one extra key, ``"tooltip"``: the registry's description,
unit, bounds and source. Bounds and defaults are read from :data:`sim.core.parameters.REGISTRY`
and intervention descriptions from :mod:`sim.core.logic_model`, never retyped.

:func:`Control` renders one spec as a slider (or number box) inside a tooltip.
Mesa's own ``UserInputs`` has no tooltips and cannot be moved by a preset, which
is why the app renders the specs itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import solara

from sim.core.logic_model import INTERVENTIONS, MECHANISMS, USER_INTERVENTIONS, intervention
from sim.core.parameters import lookup
from sim.faces.app.session import APP_MAX_AGENTS

__all__ = [
    "CONTEXT_CONTROLS",
    "OFFER_CONTROLS",
    "PEOPLE_CONTROLS",
    "Control",
    "format_value",
    "offer_control",
    "parameter_control",
]

# Short wording for the few registry parameters on screen (numbers come from the registry).
_LABELS = {
    "professional_attitudes": "Professional attitudes",
    "unemployment_rate": "Unemployment",
    "public_stigma": "Public stigma",
    "motivation_median": "Motivation",
}
_PERCENT = {"unemployment_rate"}


def _number(value: float) -> str:
    return f"{value:g}"


def parameter_control(name: str) -> dict[str, Any]:
    """A SolaraViz ``model_params`` entry for registry parameter ``name``, with a tooltip.

    Raises:
        sim.core.parameters.ParameterError: If ``name`` is not registered.
    """
    p = lookup(name)
    span = p.high - p.low
    step = 1 if p.integer else (0.01 if span <= 0.5 else 0.05)
    unit = "" if p.unit == "1" else f" {p.unit}"
    tooltip = (
        f"{p.description[0].upper()}{p.description[1:]}. Allowed "
        f"{_number(p.low)}-{_number(p.high)}{unit}; default {_number(p.default)}. "
        f"Source: {p.source}. [{p.level} level; parameter {p.name}]"
    )
    return {
        "type": "SliderInt" if p.integer else "SliderFloat",
        "label": _LABELS.get(name, name.replace("_", " ").capitalize()),
        "min": p.low,
        "max": p.high,
        "step": step,
        "value": p.default,
        "tooltip": tooltip,
        "percent": name in _PERCENT,
    }


def offer_control(name: str) -> dict[str, Any]:
    """A control for the share of users offered intervention ``name`` (0 = not offered)."""
    item = intervention(name)
    mechanisms = ", ".join(
        m.replace("_", " ") for m, w in zip(MECHANISMS, item.profile, strict=True) if w > 0
    )
    tooltip = (
        f"{item.label}: share of users offered it (0 = not offered). Works through "
        f"{mechanisms}: {item.why}. Source: mechanism profile coded from Winsper et "
        "al. 2020, Clin Psychol Rev 76:101815 (see `recovery-sim logic-model`)."
    )
    return {
        "type": "SliderFloat",
        "label": item.label.split(" (")[0],
        "min": 0.0,
        "max": 1.0,
        "step": 0.1,
        "value": 0.0,
        "tooltip": tooltip,
        "percent": True,
    }


CONTEXT_CONTROLS: dict[str, dict[str, Any]] = {
    name: parameter_control(name)
    for name in ("professional_attitudes", "unemployment_rate", "public_stigma")
}
PEOPLE_CONTROLS: dict[str, dict[str, Any]] = {
    "motivation_median": parameter_control("motivation_median"),
    "n_agents": {
        "type": "SliderInt",
        "label": "Number of people",
        "min": 50,
        "max": APP_MAX_AGENTS,
        "step": 50,
        "value": 200,
        "percent": False,
        "tooltip": "Service users simulated in each context. More people give "
        "smoother curves; 500 still steps in about 10 ms a week.",
    },
    "seed": {
        "type": "InputInt",
        "label": "Seed",
        "value": 1,
        "min": 0,
        "percent": False,
        "tooltip": "The random seed. The same seed gives the same people and the same "
        "chance events in A and B (common random numbers); change it to meet "
        "a different population.",
    },
}
OFFER_CONTROLS: dict[str, dict[str, Any]] = {
    name: offer_control(name) for name in USER_INTERVENTIONS
}
STAFF_TRAINING = next(i for i in INTERVENTIONS if i.acts_on == "team")


def format_value(spec: dict[str, Any], value: float) -> str:
    """The value as the control's label shows it (percent for shares and rates)."""
    if spec.get("percent"):
        return f"{100 * value:.0f}%"
    if spec["type"] in ("SliderInt", "InputInt"):
        return f"{int(value)}"
    return f"{value:.2f}"


@solara.component
def Control(
    spec: dict[str, Any],
    value: float,
    on_value: Callable[[Any], None],
    *,
    tag: str,
    prefix: str = "",
) -> solara.Element:
    """One control with its tooltip; ``tag`` names it for tests (CSS class ``rp-<tag>``)."""
    label = f"{prefix}{spec['label']}: {format_value(spec, value)}"
    with solara.Tooltip(spec["tooltip"]) as main:
        with solara.Column(gap="0px", classes=[f"rp-{tag}", "rp-control"]):
            if spec["type"] == "InputInt":
                solara.InputInt(spec["label"], value=int(value), on_value=on_value, dense=True)
            else:
                slider = solara.SliderInt if spec["type"] == "SliderInt" else solara.SliderFloat
                solara.Text(label, style={"font-size": "0.85rem"})
                slider(
                    "",
                    value=value,
                    min=spec["min"],
                    max=spec["max"],
                    step=spec["step"],
                    on_value=on_value,
                    thumb_label=False,
                )
    return main
