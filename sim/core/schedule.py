"""Schedules: site and team settings that change at a given week of a run.

A scenario's ``[[schedule]]`` entries (``sim.files.scenario``) become
:class:`ScheduledChange` values: from week ``week`` on (the step into that week is
the first to use it), setting ``key`` takes ``value`` at the listed sites or teams.
The engine applies the changes of week w just before stepping into week w, so a
run with a schedule equals the same run without it up to week w - 1, on the same
random numbers (``tests/test_schedule.py``).

Settings that may change: the environment's unemployment rate, public stigma and
housing availability (per site) and the service's fidelity and usual-care contact
(per team) -- the values the weekly step reads from its site and team tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sim.core.world import ENVIRONMENT_KEYS

__all__ = ["SCHEDULABLE", "ScheduledChange", "changes_at", "check_schedule"]

# setting -> level ("site" or "team")
SCHEDULABLE: dict[str, str] = {
    **dict.fromkeys(ENVIRONMENT_KEYS, "site"),
    "fidelity": "team",
    "usual_care_contact": "team",
}


@dataclass(frozen=True)
class ScheduledChange:
    """From ``week`` on, ``key`` is ``value`` at the sites or teams numbered ``units``."""

    week: int
    key: str
    units: tuple[int, ...]
    value: float

    @property
    def level(self) -> str:
        """``"site"`` or ``"team"``."""
        return SCHEDULABLE[self.key]


def check_schedule(schedule: Sequence[ScheduledChange], weeks: int) -> None:
    """Refuse a change the run would never apply (a value set must take effect).

    Raises:
        ValueError: For an unknown setting or a week outside 1..``weeks``.
    """
    for change in schedule:
        if change.key not in SCHEDULABLE:
            raise ValueError(
                f"{change.key!r} cannot be scheduled; allowed: {', '.join(SCHEDULABLE)}"
            )
        if not 1 <= change.week <= weeks:
            raise ValueError(
                f"a change of {change.key} at week {change.week} never takes effect in a "
                f"run of {weeks} weeks (allowed weeks: 1..{weeks})"
            )


def changes_at(schedule: Sequence[ScheduledChange], week: int) -> list[ScheduledChange]:
    """The changes that start at ``week``, in the order given."""
    return [change for change in schedule if change.week == week]
