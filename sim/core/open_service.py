"""An open service (docs/ODD.md §7.15): who is referred when, why people leave, what flows.

A closed cohort (a world without :class:`~sim.core.world.OpenService`) has every user in
service from week 0 to the horizon; an open one refers users over time and lets them
leave. Either way the step counts the week's service events in ``State.flow`` (one row
per run, columns :data:`FLOWS`), from which :mod:`sim.core.metrics` derives the service
metrics (list length, waits, time to first job).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.core.world import OpenService

__all__ = [
    "EMPLOYED_AT_REFERRAL",
    "EXIT_PARAMETERS",
    "EXIT_REASONS",
    "FLOWS",
    "NEVER",
    "NO_JOB",
    "expected_referrals",
    "referral_weeks",
]

# why users leave an open service; State.exit_reason holds the index + 1 (0: has not left)
EXIT_REASONS = ("recovered", "moved_on", "disengaged", "died")
# the registry parameters that act only in an open service
EXIT_PARAMETERS = (
    "service_exit_recovered_per_week",
    "service_exit_moved_on_per_week",
    "service_exit_disengaged_per_week",
    "mortality_per_week",
)
# a week that never comes (referral or exit week of users not referred / still in service)
NEVER = np.iinfo(np.int64).max
# State.first_job_week before a first job after referral, and for users employed when referred
NO_JOB, EMPLOYED_AT_REFERRAL = -1, -2
# the week's service events, per run (State.flow columns); "..._weeks" are sums of waits
FLOWS = (
    "referrals",
    *(f"exits_{reason}" for reason in EXIT_REASONS),
    "list_joins",
    "places_filled",
    "places_filled_waited_weeks",
    "list_removals",
    "list_removals_waited_weeks",
    "first_jobs",
    "first_jobs_weeks_since_referral",
)
(
    F_REFERRALS,
    F_EXITS,  # first of the exits, one column per reason
    *_,
) = range(len(FLOWS))
F_JOINS = FLOWS.index("list_joins")
F_FILLED, F_FILLED_WAIT = FLOWS.index("places_filled"), FLOWS.index("places_filled_waited_weeks")
F_REMOVED, F_REMOVED_WAIT = FLOWS.index("list_removals"), FLOWS.index("list_removals_waited_weeks")
F_FIRST_JOBS, F_JOB_WEEKS = (
    FLOWS.index("first_jobs"),
    FLOWS.index("first_jobs_weeks_since_referral"),
)
# blocks of referral weeks drawn at a time, until every not-yet-referred user has a week
_REFERRAL_BLOCK_WEEKS = 520


def referral_weeks(
    service: OpenService | None, n_agents: int, generators: Sequence[np.random.Generator]
) -> np.ndarray:
    """Each user's week of referral, (R, N) int (0: in service at entry).

    A closed cohort is all 0. In an open service each run draws, from its own referral
    stream, which users form the initial caseload and the order of the others (a random
    permutation, so referral order is independent of offers, which go to the first
    share x N users), then Poisson counts of referrals week by week (weeks 1, 2, ...)
    until every user has a week; users referred after the horizon are never seen.
    """
    weeks = np.zeros((len(generators), n_agents), dtype=np.int64)
    if service is None:
        return weeks
    for run, generator in enumerate(generators):
        order = generator.permutation(n_agents)
        later = order[service.initial_caseload :]
        counts = np.empty(0, dtype=np.int64)
        while counts.sum() < later.size:
            first = counts.size + 1
            block = np.arange(first, first + _REFERRAL_BLOCK_WEEKS)
            counts = np.r_[counts, generator.poisson(service.rate(block))]
        weeks[run, later] = np.repeat(np.arange(1, counts.size + 1), counts)[: later.size]
    return weeks


def expected_referrals(service: OpenService, weeks: int) -> float:
    """Mean number of referrals in weeks 1..``weeks``."""
    return float(service.rate(np.arange(1, weeks + 1)).sum())
