"""The one parameter registry: every number the model uses, declared once.

Each :class:`Parameter` carries its default, bounds, unit, distribution for
uncertainty, moderator level and source. Scenario validation, SALib problems,
calibration priors and app controls are all derived from :data:`REGISTRY`.

The declarations themselves live in :mod:`sim.registry_data`; this module holds
the machinery that reads them.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "LEVELS",
    "REGISTRY",
    "Parameter",
    "ParameterError",
    "defaults",
    "lookup",
    "names",
    "salib_problem",
    "suggest",
    "validate",
]

LEVELS = ("user", "service", "environment", "structural")
DISTRIBUTIONS = {"uniform": "unif", "loguniform": "logunif"}  # ours -> SALib's


class ParameterError(ValueError):
    """A parameter name or value that the registry does not accept."""


@dataclass(frozen=True)
class Parameter:
    """One model parameter.

    Attributes:
        name: Identifier, with its unit where it has one (``..._per_week``).
        default: Value used when a scenario does not set it.
        low: Lowest admissible value (inclusive).
        high: Highest admissible value (inclusive).
        unit: Physical or scale unit ("1" for dimensionless shares and scores).
        level: Moderator level: user, service, environment or structural.
        description: One line saying what the number does in the model.
        source: A citation, or "assumption: <reason>".
        distribution: Uncertainty distribution over [low, high] for sampling.
        integer: Whether only whole numbers are meaningful.
    """

    name: str
    default: float
    low: float
    high: float
    unit: str
    level: str
    description: str
    source: str
    distribution: str = "uniform"
    integer: bool = False

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ParameterError(f"{self.name}: level {self.level!r} not in {LEVELS}")
        if self.distribution not in DISTRIBUTIONS:
            raise ParameterError(
                f"{self.name}: distribution {self.distribution!r} not in {tuple(DISTRIBUTIONS)}"
            )
        if not self.low <= self.default <= self.high:
            raise ParameterError(
                f"{self.name}: default {self.default} outside [{self.low}, {self.high}]"
            )
        if self.distribution == "loguniform" and self.low <= 0:
            raise ParameterError(f"{self.name}: loguniform needs a positive lower bound")

    @property
    def source_kind(self) -> str:
        """"published", "calibrated" (to a published target) or "assumption"."""
        lowered = self.source.lower()
        for kind in ("assumption", "calibrated"):
            if lowered.startswith(kind):
                return kind
        return "published"

    @property
    def published(self) -> bool:
        """Whether the value is read from a publication (not calibrated, not assumed)."""
        return self.source_kind == "published"

    def check(self, value: object, *, where: str = "") -> float:
        """Return ``value`` as a float if admissible, else raise :class:`ParameterError`.

        Args:
            value: The candidate value.
            where: Prefix naming the file or context, for the error message.
        """
        prefix = f"{where}: " if where else ""
        unit = "" if self.unit == "1" else f" {self.unit}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(
                f"{prefix}{self.name} = {value!r} is not a number; "
                f"allowed: a number in [{self.low}, {self.high}]{unit}"
            )
        number = float(value)
        if math.isnan(number) or not self.low <= number <= self.high:
            raise ParameterError(
                f"{prefix}{self.name} = {value!r} is out of bounds; "
                f"allowed: [{self.low}, {self.high}]{unit}"
            )
        if self.integer and number != round(number):
            raise ParameterError(f"{prefix}{self.name} = {value!r} must be a whole number")
        return number


    def narrowed(self, low: float | None, high: float | None) -> tuple[float, float]:
        """Bounds inside the registry's (None keeps the registry's), else ParameterError."""
        low = self.low if low is None else float(low)
        high = self.high if high is None else float(high)
        if not self.low <= low < high <= self.high:
            raise ParameterError(f"{self.name}: bounds [{low}, {high}] must be increasing and "
                                 f"inside the registry's [{self.low}, {self.high}]")
        return low, high


def _build_registry() -> dict[str, Parameter]:
    from sim.registry_data import PARAMETERS

    registry: dict[str, Parameter] = {}
    for parameter in PARAMETERS:
        if parameter.name in registry:
            raise ParameterError(f"parameter {parameter.name!r} declared twice")
        registry[parameter.name] = parameter
    return registry


REGISTRY: dict[str, Parameter] = _build_registry()


def names(level: str | None = None) -> list[str]:
    """Names of all parameters, or of one moderator level, in declaration order."""
    if level is not None and level not in LEVELS:
        raise ParameterError(f"level {level!r} not in {LEVELS}")
    return [p.name for p in REGISTRY.values() if level is None or p.level == level]


def defaults() -> dict[str, float]:
    """Mapping of every parameter name to its default value."""
    return {p.name: p.default for p in REGISTRY.values()}


def suggest(name: str) -> str:
    """A ' (did you mean ...?)' hint naming the nearest registered parameter, or ''."""
    close = difflib.get_close_matches(name, REGISTRY, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def lookup(name: str, *, where: str = "") -> Parameter:
    """Return the registered parameter ``name`` or raise with a suggestion."""
    try:
        return REGISTRY[name]
    except KeyError:
        prefix = f"{where}: " if where else ""
        raise ParameterError(
            f"{prefix}unknown parameter {name!r}{suggest(name)}; "
            "see `recovery-sim params` for the list"
        ) from None


def validate(values: Mapping[str, object], *, where: str = "") -> dict[str, float]:
    """Check a partial parameter mapping against the registry.

    Args:
        values: Parameter names to values; names must be registered.
        where: Context (file name) for error messages.

    Returns:
        The full parameter set: defaults overridden by ``values``.

    Raises:
        ParameterError: For an unknown name (with the nearest valid name) or a
            value outside the parameter's bounds.
    """
    resolved = defaults()
    for name, value in values.items():
        resolved[name] = lookup(name, where=where).check(value, where=where)
    return resolved


def salib_problem(subset: Iterable[str] | None = None, *, grouped: bool = False) -> dict:
    """A SALib problem dict for ``subset`` of the registry (all parameters if None).

    Args:
        subset: Parameter names to vary.
        grouped: If true, add ``groups`` with each parameter's moderator level.

    Returns:
        Dict with ``num_vars``, ``names``, ``bounds``, ``dists`` (SALib's names:
        ``unif`` or ``logunif``) and, if grouped, ``groups``.
    """
    chosen = [lookup(n) for n in (subset if subset is not None else REGISTRY)]
    if not chosen:
        raise ParameterError("a SALib problem needs at least one parameter")
    problem = {
        "num_vars": len(chosen),
        "names": [p.name for p in chosen],
        "bounds": [[p.low, p.high] for p in chosen],
        "dists": [DISTRIBUTIONS[p.distribution] for p in chosen],
    }
    if grouped:
        problem["groups"] = [p.level for p in chosen]
    return problem
