"""One model parameter: its value, bounds, unit, level and source (:class:`Parameter`).

The declarations are in :mod:`sim.core.registry_data`; the registry built from them is
in :mod:`sim.core.parameters`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.core.errors import UserError

__all__ = ["DISTRIBUTIONS", "LEVELS", "Parameter", "ParameterError"]


LEVELS = ("user", "service", "environment", "structural")
DISTRIBUTIONS = {"uniform": "unif", "loguniform": "logunif"}  # ours -> SALib's


class ParameterError(UserError):
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
        """The kind of source: "published", "calibrated" (to a target) or "assumption"."""
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
            raise ParameterError(
                f"{self.name}: bounds [{low}, {high}] must be increasing and "
                f"inside the registry's [{self.low}, {self.high}]"
            )
        return low, high
