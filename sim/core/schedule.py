"""Schedules: site and team settings that change at a given week of a run.

A scenario's ``[[schedule]]`` entries (``sim.files.scenario``) become
:class:`ScheduledChange` values: from week ``week`` on (the step into that week is
the first to use it), setting ``key`` takes ``value`` at the listed sites or teams.
The engine applies the changes of week w just before stepping into week w, so a
run with a schedule equals the same run without it up to week w - 1, on the same
random numbers (``tests/test_schedule.py``).

Settings that may change: the environment's unemployment rate, public stigma and
housing availability (per site), the service's fidelity and usual-care contact (per
team) -- the values the weekly step reads from its site and team tables -- and the
world's offers (``offers.<intervention>``: the share of users offered it, the first
share x N users as at the start, so a larger share adds users), places
(``places.<intervention>``, per team; -1 = no limit) and staff training
(``staff_training``, per team: the training ramp starts that week). Offers may only grow
(a withdrawn offer's waiting list is not modelled), and training only starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from sim.core.logic_model import USER_INTERVENTIONS
from sim.core.world import ENVIRONMENT_KEYS, World

__all__ = [
    "SCHEDULABLE",
    "STAFF_TRAINING",
    "ScheduledChange",
    "changed_world",
    "changes_at",
    "check_schedule",
    "level_of",
]

STAFF_TRAINING = "staff_training"  # a team's training starts (value 1)
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
        """``"site"``, ``"team"`` or ``"offer"``."""
        return level_of(self.key)

    @property
    def changes_world(self) -> bool:
        """Whether the change is to the world's offers, places or training (not a unit value)."""
        return self.key.startswith(("offers.", "places.")) or self.key == STAFF_TRAINING


def level_of(key: str) -> str:
    """Where a scheduled setting applies: ``"site"``, ``"team"`` or ``"offer"``."""
    if key.startswith("offers."):
        return "offer"
    if key.startswith("places.") or key == STAFF_TRAINING:
        return "team"
    return SCHEDULABLE[key]


def check_schedule(schedule: Sequence[ScheduledChange], weeks: int) -> None:
    """Refuse a change the run would never apply (a value set must take effect).

    Raises:
        ValueError: For an unknown setting or a week outside 1..``weeks``.
    """
    for change in schedule:
        if change.key not in SCHEDULABLE and not change.changes_world:  # a programming error
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


def changed_world(world: World, changes: Sequence[ScheduledChange]) -> World:
    """``world`` with the offers, places and training of ``changes`` applied (others ignored).

    A training scheduled for week w starts its ramp at the step into week w (step w - 1),
    as a training from entry starts at step 0.

    Raises:
        ValueError: If an offer would shrink, or an intervention is unknown.
    """
    offered, capacity = world.offered.copy(), world.capacity.copy()
    trained, starts = world.staff_training.copy(), world.training_starts.copy()
    for change in changes:
        if change.key == STAFF_TRAINING:
            units = list(change.units)
            if trained[units].any():
                raise ValueError(f"staff training at week {change.week}: a team is already trained")
            trained[units], starts[units] = True, change.week - 1
            continue
        kind, _, name = change.key.partition(".")
        if kind not in ("offers", "places"):
            continue
        if name not in USER_INTERVENTIONS:
            raise ValueError(f"unknown intervention {name!r} in a schedule")
        k = USER_INTERVENTIONS.index(name)
        if kind == "offers":
            n_offered = round(change.value * world.n_agents)
            if n_offered < int(offered[:, k].sum()):
                raise ValueError(
                    f"offers.{name} would fall to {change.value} at week {change.week}: a "
                    "schedule may only widen an offer"
                )
            offered[:n_offered, k] = True
        else:
            capacity[list(change.units), k] = int(change.value)
    return dataclasses.replace(
        world,
        offered=offered,
        capacity=capacity,
        staff_training=trained,
        training_start_week=starts,
    )
