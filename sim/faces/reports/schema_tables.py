"""Markdown tables of the keys of a pydantic file schema, for ``docs/formats``.

:func:`key_rows` walks a model's fields (recursing into tables, arrays of tables and
tables of named tables) and gives one row per key: the key as it is written in TOML,
its type, the allowed values (literals, numeric bounds, names from the model's
registries), the default, whether it is required and the field's description.
Registry parameters are one row per table ("any user-level registry parameter"),
not one per parameter. Used by :mod:`sim.faces.reports.formats_gen`.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.core.logic_model import USER_INTERVENTIONS
from sim.core.parameters import LEVELS, REGISTRY
from sim.files.experiment import OUTPUTS, ExperimentSpec, OutputsSpec
from sim.files.outputs import check_output_name
from sim.files.scenario import ScenarioSpec, TeamSpec
from sim.studies.calibration import FitSpec
from sim.studies.run import per_user_quantities
from sim.studies.trial_metrics import MetricSpec
from sim.studies.trials import TrialSpec

__all__ = ["COLUMNS", "key_rows", "key_table", "schema_models", "table_row"]

COLUMNS = ("key", "type", "allowed", "default", "required", "description")
_SEE_PARAMETERS = "see [PARAMETERS.md](../PARAMETERS.md)"


_INTERVENTIONS = ", ".join(f"`{n}`" for n in USER_INTERVENTIONS)
# (model, field) -> (placeholder of a table's keys or None, the allowed names)
_NAMED: dict[tuple[type[BaseModel], str], tuple[str | None, str]] = {
    (ScenarioSpec, "offers"): ("<intervention>", f"keys: {_INTERVENTIONS}"),
    (TeamSpec, "places"): ("<intervention>", f"keys: {_INTERVENTIONS}"),
    (TeamSpec, "site"): (None, "a `[[sites]]` name, or an index from 0"),
    (ExperimentSpec, "parameters"): (
        "<parameter>",
        f"any registry parameter, {_SEE_PARAMETERS}; or a scenario or cost factor "
        "`offers.<intervention>`, `places.<intervention>`, `costs.<key>` (see Scenario and "
        "cost factors below)",
    ),
    (FitSpec, "free"): ("<parameter>", f"any registry parameter, {_SEE_PARAMETERS}"),
    (OutputsSpec, "metrics"): (None, ", ".join(f"`{m}`" for m in OUTPUTS)),
    (TrialSpec, "intervention"): (None, f"{_INTERVENTIONS}, `staff_training`"),
    (MetricSpec, "outcome"): (
        None,
        "a per-user quantity: " + ", ".join(f"`{q}`" for q in sorted(per_user_quantities())),
    ),
    (MetricSpec, "with_"): (None, "a per-user quantity (as outcome)"),
}


def _args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    """The type without Annotated and None, and the metadata found on the way."""
    metadata: list[Any] = []
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            metadata += list(tp.__metadata__)
            tp = tp.__origin__
            continue
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            rest = [a for a in _args(tp) if a is not type(None)]
            if len(rest) == 1:
                tp = rest[0]
                continue
        return tp, metadata


def _type_name(tp: Any) -> str:
    tp, _ = _strip(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "string"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in _args(tp) if a is not type(None))
    if origin is list:
        inner = _args(tp)[0]
        return (
            "array of tables" if _is_model(_strip(inner)[0]) else f"array of {_type_name(inner)}s"
        )
    if origin is tuple:
        return f"array of {len(_args(tp))} {_type_name(_args(tp)[0])}s"
    if origin is dict:
        return "table"
    if _is_model(tp):
        return "table"
    return {int: "integer", float: "number", str: "string", bool: "true/false"}.get(tp, str(tp))


def _bounds(metadata: list[Any]) -> list[str]:
    """Numeric bounds and lengths from pydantic / annotated-types metadata."""
    found: list[str] = []
    for item in metadata:
        if isinstance(item, FieldInfo):
            found += _bounds(item.metadata)
            continue
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.append(f"{sign} {value:,}" if isinstance(value, int) else f"{sign} {value:g}")
        length = getattr(item, "min_length", None)
        if isinstance(length, int):
            found.append(f"at least {length} item{'s' if length > 1 else ''}")
        if getattr(item, "func", None) is check_output_name:
            found.append("1-100 letters, digits, `-`, `_`, `.`; not starting with `.`")
    return found


def _range(bounds: list[str]) -> str:
    """``["≥ 0", "≤ 1"]`` as ``0 to 1``; other bounds joined by commas."""
    low = [b for b in bounds if b.startswith("≥ ")]
    high = [b for b in bounds if b.startswith("≤ ")]
    if len(low) == 1 and len(high) == 1:
        rest = [b for b in bounds if b not in (low[0], high[0])]
        bounds = [f"{low[0][2:]} to {high[0][2:]}", *rest]
    return ", ".join(bounds)


def _allowed(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    tp, metadata = _strip(field.annotation)
    if typing.get_origin(tp) is list:
        tp, inner = _strip(_args(tp)[0])
        metadata = metadata + inner
    if typing.get_origin(tp) is dict:
        tp, inner = _strip(_args(tp)[1])
        metadata = metadata + inner
    if typing.get_origin(tp) is Literal:
        return ", ".join(f'`"{v}"`' for v in _args(tp))
    bounds = _range(_bounds([*field.metadata, *metadata]))
    if tp is str:
        bounds = bounds.replace("at least 1 item", "not empty")
    named = _NAMED.get((model, name), (None, ""))[1]
    return f"{named}; values {bounds}" if named and bounds else named or bounds


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "—"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(none)"
    if isinstance(value, BaseModel):
        return "(defaults below)"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return f"{len(value)} with the defaults below"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str | int | float | list | dict):
        return f"`{json.dumps(value, ensure_ascii=False)}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    """Escape a string for a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def table_row(*cells: str) -> str:
    """One Markdown table row; cells are escaped."""
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _registry_row(model: type[BaseModel], prefix: str) -> list[str]:
    given = [n for n in model.model_fields if n in REGISTRY]
    if not given:
        return []
    levels = [lv for lv in LEVELS if any(REGISTRY[n].level == lv for n in given)]
    every_of_levels = [n for n in REGISTRY if REGISTRY[n].level in levels]
    if len(given) < len(every_of_levels):  # a chosen few (e.g. what a schedule may change)
        which = "one of " + ", ".join(f"`{n}`" for n in given)
    elif len(levels) == len(LEVELS):
        which = "any registry parameter"
    else:
        which = f"any {' or '.join(levels)}-level registry parameter"
    return [
        table_row(
            f"`{prefix}<parameter>`",
            "number",
            f"{which}, within its bounds; {_SEE_PARAMETERS}",
            "the registry's",
            "no",
            "Sets that parameter's value here.",
        )
    ]


def key_rows(
    model: type[BaseModel], prefix: str = "", skip: frozenset[str] = frozenset()
) -> list[str]:
    """Markdown table rows, one per key of ``model``, recursing into nested tables.

    Args:
        model: The schema (a pydantic model of a file or of one of its tables).
        prefix: Written before each key, e.g. ``"sites."``.
        skip: Field names left out (a trial's own keys in its scenario part).

    Returns:
        Rows for :func:`key_table`.
    """
    rows: list[str] = []
    for name, field in model.model_fields.items():
        if name in skip or name in REGISTRY:
            continue
        key = f"{prefix}{field.alias or name}"
        placeholder = _NAMED.get((model, name), (None, ""))[0]
        tp, _ = _strip(field.annotation)
        origin, args = typing.get_origin(tp), _args(tp)
        inner = _strip(args[0])[0] if origin is list else None
        value = _strip(args[1])[0] if origin is dict else None
        shown = f"`{key}`"
        if _is_model(tp):
            shown = f"`[{key}]`"
        elif _is_model(inner):
            shown = f"`[[{key}]]`"
        elif placeholder and _is_model(value):
            shown = f"`[{key}.{placeholder}]`"
        elif placeholder:
            shown = f"`{key}.{placeholder}`"
        type_name = "table" if placeholder and _is_model(value) else _type_name(field.annotation)
        if placeholder and not _is_model(value):
            type_name = _type_name(args[1])
        required = "yes" if field.is_required() else "no"
        rows.append(
            table_row(
                shown,
                type_name,
                _allowed(model, name, field),
                _default(field),
                required,
                field.description or "",
            )
        )
        nested = tp if _is_model(tp) else inner if _is_model(inner) else value
        if _is_model(nested):
            sub = f"{key}.{placeholder}." if placeholder else f"{key}."
            rows += key_rows(nested, sub)
            rows += _registry_row(nested, sub)
    return rows


def schema_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every model nested in its fields (tables, arrays, named tables)."""
    found = [model]
    for field in model.model_fields.values():
        tp, _ = _strip(field.annotation)
        for candidate in (tp, *_args(tp)):
            candidate = _strip(candidate)[0]
            if _is_model(candidate) and candidate not in found:
                found += [m for m in schema_models(candidate) if m not in found]
    return found


def key_table(rows: list[str]) -> list[str]:
    """A Markdown table of :data:`COLUMNS` with ``rows`` (from :func:`key_rows`)."""
    return [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
        *rows,
    ]
