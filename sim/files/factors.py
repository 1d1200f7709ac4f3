"""Scenario and cost factors: levers of an experiment that are not registry parameters.

An experiment's ``[parameters.NAME]`` table whose NAME has a dot varies a value of the
base scenario (the package) or of the cost table instead of a registry parameter
(``[parameters.offers.peer_support]`` and ``[parameters."offers.peer_support"]`` are
the same factor):

- ``offers.<intervention>``: the share of users offered a user intervention, 0 to 1
  (bounds default to [0, 1]); it replaces the base scenario's ``[offers]`` value.
- ``places.<intervention>``: the places for that intervention at every ``[[teams]]`` of
  the base scenario, a whole number (the sampled value is rounded); ``low`` and ``high``
  are required (whole numbers >= 0), and the base scenario must have ``[[teams]]``.
- ``costs.<key>``: a unit cost of the cost table that prices the economic outputs
  (a key of ``calibration/costs.toml``, GBP); ``low`` and ``high`` are required (>= 0),
  and ``outputs.metrics`` must name ``cost_gbp`` or a net monetary benefit.
  ``costs.earnings_employed`` needs the societal perspective (the only one that
  counts earnings).

Offers and places change the base scenario only: with a counterfactual (usual care),
the counterfactual keeps its own offers and places, so the effect is that of the
package as the factor sets it. A unit cost prices both arms alike and changes no
simulation (the runs are priced, not re-run). The moderator level of these factors
is ``service`` (what a service decides); it is their default ``group`` in a grouped
design.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sim.core.errors import MAX_AGENTS, UserError
from sim.core.logic_model import USER_INTERVENTIONS
from sim.core.parameters import REGISTRY
from sim.files.costs import COST_KEYS

__all__ = [
    "FACTOR_KINDS",
    "FACTOR_LEVEL",
    "Factor",
    "FactorError",
    "check_priced",
    "factor_level",
    "flatten_factor_tables",
    "is_factor",
    "parse_factor",
    "replaced_by_factors",
    "with_scenario_factors",
]

FACTOR_KINDS = ("offers", "places", "costs")
FACTOR_LEVEL = "service"  # the moderator level of every scenario or cost factor
_SCENARIO_KINDS = ("offers", "places")
_PRICED = ("cost_gbp", "nmb_")  # outputs a unit cost changes (nmb_<lambda> by prefix)


class FactorError(UserError):
    """A scenario or cost factor that cannot be varied (the message names it)."""


def is_factor(name: str) -> bool:
    """Whether ``name`` names a scenario or cost factor (a dot, or a bare kind), not a parameter."""
    return "." in name or name in FACTOR_KINDS


def factor_level(name: str) -> str:
    """The moderator level of a varied name: the registry's, or service for a factor."""
    return FACTOR_LEVEL if is_factor(name) else REGISTRY[name].level


@dataclass(frozen=True)
class Factor:
    """One scenario or cost factor.

    Attributes:
        kind: offers, places or costs.
        target: The user intervention (offers, places) or the cost key (costs).
    """

    kind: str
    target: str

    @property
    def name(self) -> str:
        """The factor's name, ``<kind>.<target>``."""
        return f"{self.kind}.{self.target}"

    @property
    def acts_on_scenario(self) -> bool:
        """Whether it changes the simulated package (offers, places), not only prices."""
        return self.kind in _SCENARIO_KINDS

    def bounds(self, low: float | None, high: float | None) -> tuple[float, float]:
        """Its bounds: offers default to [0, 1]; places and costs must give both.

        Raises:
            FactorError: Missing or out-of-range bounds, naming what is allowed.
        """
        if self.kind == "offers":
            low, high = 0.0 if low is None else float(low), 1.0 if high is None else float(high)
            if not 0.0 <= low < high <= 1.0:
                raise FactorError(
                    f"{self.name}: bounds [{low}, {high}] must be increasing and inside "
                    "[0, 1] (a share of users offered)"
                )
            return low, high
        what = "places per team" if self.kind == "places" else "a unit cost in GBP"
        if low is None or high is None:
            raise FactorError(
                f"{self.name}: give both low and high ({what}); a scenario or cost factor "
                "has no registry bounds to default to"
            )
        top = MAX_AGENTS if self.kind == "places" else float("inf")
        if not 0.0 <= low < high <= top:
            raise FactorError(
                f"{self.name}: bounds [{low}, {high}] must be increasing, >= 0"
                + (f" and at most {MAX_AGENTS:,}" if self.kind == "places" else "")
                + f" ({what})"
            )
        if self.kind == "places" and not (float(low).is_integer() and float(high).is_integer()):
            raise FactorError(
                f"{self.name}: bounds [{low}, {high}] must be whole numbers (places per team)"
            )
        return float(low), float(high)

    def value(self, sampled: float) -> float | int:
        """The value a sampled design value sets: places are rounded to whole numbers."""
        return round(float(sampled)) if self.kind == "places" else float(sampled)


def parse_factor(name: str) -> Factor:
    """The factor named ``<kind>.<target>``.

    Raises:
        FactorError: An unknown kind, intervention or cost key, with the allowed ones.
    """
    kind, _, target = name.partition(".")
    if kind in FACTOR_KINDS and not target:
        what = "cost key" if kind == "costs" else "intervention"
        raise FactorError(
            f"{name}: name the {what}, e.g. [parameters.{kind}."
            f"{'bed_day' if kind == 'costs' else 'peer_support'}]"
        )
    if kind not in FACTOR_KINDS:
        raise FactorError(
            f"{name}: unknown factor kind {kind!r}{_nearest(kind, FACTOR_KINDS)}; a name with "
            "a dot varies offers.<intervention>, places.<intervention> or costs.<key>"
        )
    allowed, what = (COST_KEYS, "cost key") if kind == "costs" else (USER_INTERVENTIONS, "")
    what = what or "intervention"
    if target not in allowed:
        raise FactorError(
            f"{name}: unknown {what} {target!r}{_nearest(target, allowed)}; "
            f"allowed: {', '.join(allowed)}"
        )
    return Factor(kind, target)


def check_priced(factor: Factor, outputs: Sequence[str], perspective: str) -> None:
    """Refuse a unit cost that no recorded output would reflect.

    Raises:
        FactorError: No cost or net monetary benefit is recorded, or earnings are varied
            outside the societal perspective.
    """
    if not any(name.startswith(_PRICED) for name in outputs):
        raise FactorError(
            f"{factor.name}: a unit cost changes only cost_gbp and the net monetary benefits "
            "(nmb_20000, nmb_30000), and outputs.metrics names none of them; add one or "
            "drop the factor"
        )
    if factor.target == "earnings_employed" and perspective != "societal":
        raise FactorError(
            f"{factor.name}: earnings count only in the societal perspective, and the cost "
            f'table\'s is {perspective}; use a costs file with perspective = "societal" or '
            "drop the factor"
        )


def flatten_factor_tables(parameters: Any) -> Any:
    """``{"offers": {"peer_support": {...}}}`` -> ``{"offers.peer_support": {...}}``.

    TOML reads ``[parameters.offers.peer_support]`` as a nested table; this gives it
    the dotted name, in file order. Anything else is returned as it is.

    Raises:
        FactorError: The same factor given in both spellings.
    """
    if not isinstance(parameters, dict):
        return parameters
    flat: dict[str, Any] = {}
    for key, value in parameters.items():
        tables = (
            isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values())
        )
        if key in FACTOR_KINDS and tables:
            pairs = [(f"{key}.{target}", bounds) for target, bounds in value.items()]
        else:
            pairs = [(key, value)]
        for name, bounds in pairs:
            if name in flat:
                raise FactorError(f"{name}: given twice (as a dotted name and in a table)")
            flat[name] = bounds
    return flat


def with_scenario_factors(
    resolved: Mapping[str, Any], values: Mapping[Factor, float | int]
) -> dict[str, Any]:
    """A copy of a resolved scenario mapping with offers and places factors set."""
    raw = copy.deepcopy(dict(resolved))
    for factor, value in values.items():
        if factor.kind == "offers":
            raw.setdefault("offers", {})[factor.target] = value
        elif factor.kind == "places":
            for team in raw["teams"]:
                team.setdefault("places", {})[factor.target] = value
    return raw


def replaced_by_factors(resolved: Mapping[str, Any], factors: Sequence[Factor]) -> list[str]:
    """The base scenario's values the factors replace (``"offers.peer_support = 0.4"``)."""
    found = []
    for factor in factors:
        if factor.kind == "offers" and factor.target in (resolved.get("offers") or {}):
            found.append(f"{factor.name} = {resolved['offers'][factor.target]}")
        if factor.kind == "places":
            for i, team in enumerate(resolved.get("teams") or []):
                if factor.target in (team.get("places") or {}):
                    found.append(f"teams.{i}.{factor.name} = {team['places'][factor.target]}")
    return found


def _nearest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
