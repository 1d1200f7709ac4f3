"""The cost and utility table for the health-economics layer (``calibration/costs.toml``).

The file is data: every number has a value, a unit and a source (a citation, or
``assumption: <why>``); costs also have their currency (GBP) and price year. Unknown
keys, a negative cost, a utility above 1 or a missing source are refused with a
:class:`CostsError` naming the file, the key and what is allowed. The format is
described in ``docs/formats/costs.md``.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.core.errors import UserError
from sim.files.inputs import read_toml_file
from sim.files.shipped import costs_file

__all__ = [
    "COST_KEYS",
    "ECONOMIC_OUTPUTS",
    "INTERVENTION_KEYS",
    "CostItem",
    "CostTable",
    "CostsError",
    "load_costs",
    "override_costs",
]


# The user interventions, named as in the model's metrics (``in_<name>``).
INTERVENTION_KEYS = (
    "peer_support",
    "self_management",
    "recovery_education",
    "supported_employment",
    "supported_housing",
    "shared_decision_making",
    "case_management",
)

Perspective = Literal["health_and_social_care", "societal"]

# Outputs a sweep can record beside the model's metrics (``[outputs] metrics``), per
# person and accumulated over model weeks 1..W at each recorded week W, priced with a
# costs file (sim.studies.economics.accumulated_economics): name -> (domain, description).
ECONOMIC_OUTPUTS = {
    "employed_weeks": ("economic", "weeks in competitive employment per person (undiscounted)"),
    "qalys": ("economic", "QALYs per person (discounted)"),
    "cost_gbp": ("economic", "cost per person in GBP (discounted, the file's perspective)"),
    "nmb_20000": ("economic", "net monetary benefit per person at GBP 20,000/QALY"),
    "nmb_30000": ("economic", "net monetary benefit per person at GBP 30,000/QALY"),
}


class CostsError(UserError):
    """A costs file that cannot be used (the message names the file and the key)."""


class _Sourced(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: str = Field(min_length=1, description="The unit of value, in words.")
    source: str = Field(
        min_length=1,
        description='Full citation of the figure, or "assumption: <reason>" if none was found.',
    )


class CostItem(_Sourced):
    """One unit cost (or, for ``earnings_employed``, a weekly earning)."""

    value: float = Field(ge=0, allow_inf_nan=False, description="The amount, >= 0.")
    currency: Literal["GBP"] = Field(description="Currency of value: GBP.")
    price_year: int = Field(
        ge=1990, le=2100, description="Price year (the year a financial year ends)."
    )


class UtilityItem(_Sourced):
    """The utility of one model state, with its standard error."""

    value: float = Field(
        ge=-1, le=1, allow_inf_nan=False, description="Utility: 1 full health, 0 dead."
    )
    se: float = Field(ge=0, allow_inf_nan=False, description="Standard error of value.")


class RateItem(_Sourced):
    """An annual discount rate."""

    value: float = Field(ge=0, le=1, allow_inf_nan=False, description="Rate per year.")


class Discount(BaseModel):
    """The annual discount rates (NICE reference case: 3.5% for both)."""

    model_config = ConfigDict(extra="forbid")
    costs_rate_per_year: RateItem = Field(description="Discount rate for costs per year.")
    qalys_rate_per_year: RateItem = Field(description="Discount rate for QALYs per year.")


class Costs(BaseModel):
    """Unit costs by key."""

    model_config = ConfigDict(extra="forbid")
    usual_care: CostItem = Field(description="Care coordination (CMHT), per person-week.")
    peer_support: CostItem = Field(description="Peer support, per person-week in it.")
    self_management: CostItem = Field(description="Self-management, per person-week in it.")
    recovery_education: CostItem = Field(description="Recovery education, per person-week in it.")
    supported_employment: CostItem = Field(
        description="Supported employment (IPS), per person-week in it."
    )
    supported_housing: CostItem = Field(description="Supported housing, per person-week in it.")
    shared_decision_making: CostItem = Field(
        description="Shared decision-making, per person-week in it."
    )
    case_management: CostItem = Field(description="Case management, per person-week in it.")
    bed_day: CostItem = Field(description="Adult acute mental health inpatient bed-day.")
    compulsory_admission: CostItem = Field(
        description="Extra cost of a compulsory admission (Mental Health Act assessment)."
    )
    staff_training: CostItem = Field(
        description="Staff training, per user of a trained team, once at week 0."
    )
    earnings_employed: CostItem = Field(
        description="Weekly earnings of an employed person (societal perspective only)."
    )


class Utilities(BaseModel):
    """Utilities of the model's states (hospital is a subset of relapse, ODD §7.9)."""

    model_config = ConfigDict(extra="forbid")
    stable: UtilityItem = Field(description="In the community, not in relapse.")
    relapse: UtilityItem = Field(description="In relapse, not in hospital.")
    hospital: UtilityItem = Field(description="In relapse and in psychiatric hospital.")


class CostTable(BaseModel):
    """The validated content of a costs file."""

    model_config = ConfigDict(extra="forbid")
    perspective: Perspective = Field(
        "health_and_social_care",
        description="Default perspective: health_and_social_care, or societal "
        "(earnings gained count as a negative cost).",
    )
    discount: Discount = Field(description="Annual discount rates.")
    costs: Costs = Field(description="Unit costs by key.")
    utilities: Utilities = Field(description="Utilities of the model's states.")


COST_KEYS = tuple(Costs.model_fields)


def load_costs(path: str | Path | None = None) -> CostTable:
    """Read and validate a costs file (the shipped ``calibration/costs.toml`` by default)."""
    file = Path(path) if path is not None else costs_file()
    raw = read_toml_file(file, "costs file", CostsError)
    try:
        return CostTable.model_validate(raw)
    except ValidationError as exc:
        raise CostsError(_explain(exc, file)) from None


def override_costs(table: CostTable, overrides: dict[str, Any]) -> CostTable:
    """A copy of ``table`` with unit costs replaced by key (``{"bed_day": 400.0}``).

    An unknown key, or a value that is not a number >= 0, raises :class:`CostsError`
    naming the key and what is allowed.
    """
    costs = table.costs.model_copy()
    for key, value in overrides.items():
        if key not in COST_KEYS:
            raise CostsError(
                f"costs override: unknown key {key!r}{_nearest(key, COST_KEYS)}; "
                f"allowed: {', '.join(COST_KEYS)}"
            )
        item = getattr(costs, key)
        try:
            new = CostItem.model_validate({**item.model_dump(), "value": value})
        except ValidationError:
            raise CostsError(
                f"costs override: {key} = {value!r} is invalid; allowed: a number >= 0"
            ) from None
        setattr(costs, key, new)
    return table.model_copy(update={"costs": costs})


def _nearest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _explain(exc: ValidationError, path: Path) -> str:
    """The first validation error as one line: file, key path, value, what is allowed."""
    errors = exc.errors()
    # an unknown key first: a misspelt key also shows up as the right key missing
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return (
            f"{path}: {key}: unknown key{_nearest(loc[-1], allowed)}; allowed: {', '.join(allowed)}"
        )
    if error["type"] == "missing":
        return f"{path}: {key}: missing; every entry needs it"
    allowed = error["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
    return f"{path}: {key} = {error.get('input')!r} is invalid; allowed: {allowed}"


def _allowed_keys(loc: list[str]) -> list[str]:
    model: Any = CostTable
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))
