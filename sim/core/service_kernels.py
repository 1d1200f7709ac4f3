"""Service use as compiled drivers (docs/ODD.md §3 steps 1-4), and an open service's flows.

Training, referrals and leaving an open service (§7.15), uptake, admission, and
first jobs after referral.

The per-user rules are in :mod:`sim.core.rules` (:func:`~sim.core.rules.trained_attitude`,
:func:`~sim.core.rules.engagement`); admission is first come first served, ties in
waiting time broken by each user's random priority (ODD §7.4).
"""

from __future__ import annotations

import numpy as np

from sim.core import rules
from sim.core.kernels import EMPOWERMENT, HOPE, MEANING, TRUST, _jit
from sim.core.open_service import (
    EMPLOYED_AT_REFERRAL,
    F_EXITS,
    F_FILLED,
    F_FILLED_WAIT,
    F_FIRST_JOBS,
    F_JOB_WEEKS,
    F_JOINS,
    F_REFERRALS,
    F_REMOVED,
    F_REMOVED_WAIT,
    NEVER,
    NO_JOB,
)

__all__ = ["admit_limited", "first_jobs", "service_week", "train_staff", "uptake"]


@_jit
def train_staff(week, training_weeks, gain, participation, trained, start, baseline, attitudes):
    """Trained teams' attitudes this week (ODD §7.1); other teams keep their baseline.

    ``training_weeks`` and ``gain`` are per run (R,), ``participation``,
    ``baseline`` and ``attitudes`` (written) per run and team (R, T), ``trained`` and
    ``start`` (the step its ramp starts from: 0, or a scheduled week - 1) per team.
    """
    for r in range(attitudes.shape[0]):
        for t in range(attitudes.shape[1]):
            attitudes[r, t] = (
                rules.trained_attitude(
                    baseline[r, t], gain[r], participation[r, t], week - start[t], training_weeks[r]
                )
                if trained[t]
                else baseline[r, t]
            )


@_jit
def service_week(
    prm,
    week,
    open_service,
    offer_ptr,
    offer_k,
    motivation,
    process,
    self_stigma,
    connectedness,
    employed,
    u_exit,
    referral_week,
    exit_week,
    exit_reason,
    first_job_week,
    enrolled,
    waiting,
    dropped,
    wait_since,
    flow,
):
    """Referrals and leaving the service at the start of the week (ODD §7.15).

    Counts the week's referrals (users with ``referral_week == week``, week >= 1) and
    marks those already employed (their first job is not one the service found). In an
    open service (``open_service``) each user in service leaves with the chances of
    :func:`sim.core.rules.exit_chances` on the uniform ``u_exit``: a leaver's place in an
    intervention ends (counted as dropout) and their place on a waiting list is given up.
    ``flow`` (R, len(FLOWS)) collects the counts.
    """
    n_runs, n_agents = referral_week.shape
    for r in range(n_runs):
        p = prm[r]
        for i in range(n_agents):
            referred = referral_week[r, i]
            if referred == week:
                flow[r, F_REFERRALS] += week > 0
                if employed[r, i]:
                    first_job_week[r, i] = EMPLOYED_AT_REFERRAL
            if not open_service or referred > week or exit_week[r, i] != NEVER:
                continue
            qpr = rules.personal_recovery_score(
                connectedness[r, i],
                process[r, HOPE, i],
                self_stigma[r, i],
                process[r, MEANING, i],
                process[r, EMPOWERMENT, i],
            )
            chances = rules.exit_chances(
                rules.stage_of(qpr),
                p.advanced_stage,
                rules.engagement(motivation[r, i], process[r, TRUST, i], p.trust_engagement_weight),
                p.service_exit_recovered_per_week,
                p.service_exit_moved_on_per_week,
                p.service_exit_disengaged_per_week,
                p.mortality_per_week,
            )
            reason = rules.exit_reason(u_exit[r, i], chances)
            if reason == 0:
                continue
            exit_week[r, i] = week
            exit_reason[r, i] = reason
            flow[r, F_EXITS + reason - 1] += 1
            for k in offer_k[offer_ptr[i] : offer_ptr[i + 1]]:
                if enrolled[r, i, k]:
                    enrolled[r, i, k] = False
                    dropped[r, i, k] = True
                elif waiting[r, i, k]:
                    waiting[r, i, k] = False
                    flow[r, F_REMOVED] += 1
                    flow[r, F_REMOVED_WAIT] += week - wait_since[r, i, k]


@_jit
def first_jobs(week, referral_week, exit_week, employed, first_job_week, flow):
    """First jobs of users in service this week, and their weeks since referral (ODD §7.15).

    A first job found in week w's step counts w + 1 - referral week (at least 1 week).
    """
    n_runs, n_agents = employed.shape
    for r in range(n_runs):
        for i in range(n_agents):
            if employed[r, i] and first_job_week[r, i] == NO_JOB:
                if referral_week[r, i] <= week < exit_week[r, i]:
                    first_job_week[r, i] = week
                    flow[r, F_FIRST_JOBS] += 1
                    flow[r, F_JOB_WEEKS] += week + 1 - referral_week[r, i]


@_jit
def uptake(
    prm,
    week,
    offer_ptr,
    offer_k,
    limited,
    team_of_agent,
    motivation,
    process,
    u_engage,
    enrolled,
    waiting,
    completed,
    dropped,
    wait_since,
    weeks_in,
    was_enrolled,
    engaged,
    queues,
    referral_week,
    exit_week,
    flow,
):
    """Engagement (ODD §7.2), uptake (§7.3) and admission where places are unlimited (§7.4).

    User i is offered ``offer_k[offer_ptr[i]:offer_ptr[i + 1]]``, and only
    those can be entered, and only while in service (referred, not left: ODD §7.15).
    Writes ``engaged`` (R, N) and ``was_enrolled`` (R, N, K) for offered interventions.
    Joins and admissions are counted in ``flow``. Admission to interventions with limited places
    (``limited[k]``) is left to :func:`admit_limited`, for which this counts
    ``queues[0, r, t, k]`` (users of team t in k) and ``queues[1, r, t, k]`` (waiting).
    """
    n_runs, n_agents = engaged.shape
    queues[:] = 0
    for r in range(n_runs):
        p = prm[r]
        for i in range(n_agents):
            e = rules.engagement(motivation[r, i], process[r, TRUST, i], p.trust_engagement_weight)
            engaged[r, i] = e
            chance = p.uptake_probability_per_week * e
            in_service = referral_week[r, i] <= week < exit_week[r, i]
            for k in offer_k[offer_ptr[i] : offer_ptr[i + 1]]:
                was_enrolled[r, i, k] = enrolled[r, i, k]
                # bitwise, not short-circuit: no branch on a coin flip
                taken = enrolled[r, i, k] | waiting[r, i, k] | completed[r, i, k] | dropped[r, i, k]
                if (not taken) & in_service & (u_engage[r, i, k] < chance):
                    waiting[r, i, k] = True
                    wait_since[r, i, k] = week
                    flow[r, F_JOINS] += 1
                if limited[k]:
                    if enrolled[r, i, k]:
                        queues[0, r, team_of_agent[i], k] += 1
                    elif waiting[r, i, k]:
                        queues[1, r, team_of_agent[i], k] += 1
                elif waiting[r, i, k]:
                    _admit(r, i, k, week, enrolled, waiting, weeks_in, wait_since, flow)


@_jit
def _admit(r, i, k, week, enrolled, waiting, weeks_in, wait_since, flow):
    """User i of run r takes a place in k this week (counted with its wait in ``flow``)."""
    enrolled[r, i, k] = True
    waiting[r, i, k] = False
    weeks_in[r, i, k] = 0
    flow[r, F_FILLED] += 1
    flow[r, F_FILLED_WAIT] += week - wait_since[r, i, k]


@_jit
def admit_limited(
    week,
    capacity,
    limited,
    k_ptr,
    k_agents,
    team_of_agent,
    queues,
    priority,
    wait_since,
    enrolled,
    waiting,
    weeks_in,
    flow,
):
    """Admission where some team has limited places (ODD §7.4).

    For each run and each intervention k with ``limited[k]``: waiting users
    (only users offered k, ``k_agents[k_ptr[k]:k_ptr[k + 1]]``, can wait) fill
    each team's open places in order of (waiting since, priority, user index),
    the order of numpy's lexsort; a team with ``capacity < 0`` takes everyone.
    ``queues`` holds the counts of :func:`uptake`.
    Teams with no open place are skipped, teams with places for all their
    waiting users admit them all, and the others keep the head of their queue
    in one pass (few places open in a week).
    """
    n_runs, n_agents, n_user = enrolled.shape
    n_teams = capacity.shape[0]
    open_places = np.zeros(n_teams, dtype=np.int64)
    candidates = np.empty(n_agents, dtype=np.int64)
    head = np.empty(n_agents, dtype=np.int64)
    for k in range(n_user):
        if not limited[k]:
            continue
        agents = k_agents[k_ptr[k] : k_ptr[k + 1]]
        for r in range(n_runs):
            occupied, queued = queues[0, r, :, k], queues[1, r, :, k]
            selecting = admitting = False
            for t in range(n_teams):
                places = capacity[t, k]
                open_places[t] = n_agents if places < 0 else max(places - occupied[t], 0)
                selecting |= 0 < open_places[t] < queued[t]
                admitting |= open_places[t] > 0 and queued[t] > 0
            if not admitting:
                continue
            n_waiting = 0
            for i in agents:
                t = team_of_agent[i]
                if waiting[r, i, k] and open_places[t] > 0:
                    if queued[t] <= open_places[t]:  # room for every waiting user
                        _admit(r, i, k, week, enrolled, waiting, weeks_in, wait_since, flow)
                    else:
                        candidates[n_waiting] = i
                        n_waiting += 1
            if not selecting:
                continue
            for t in range(n_teams):  # the open_places[t] first of team t's queue
                need = open_places[t]
                if not 0 < need < queued[t]:
                    continue
                n_best = 0  # head[:n_best]: the best so far, sorted by queue order
                for j in range(n_waiting):
                    i = candidates[j]
                    if team_of_agent[i] != t:
                        continue
                    if n_best == need and not _queued_before(
                        wait_since, priority, r, k, i, head[need - 1]
                    ):
                        continue
                    slot = min(n_best, need - 1)  # insert i, dropping the last if full
                    while slot > 0 and _queued_before(
                        wait_since, priority, r, k, i, head[slot - 1]
                    ):
                        head[slot] = head[slot - 1]
                        slot -= 1
                    head[slot] = i
                    n_best = min(n_best + 1, need)
                for i in head[:need]:
                    _admit(r, i, k, week, enrolled, waiting, weeks_in, wait_since, flow)


@_jit
def _queued_before(wait_since, priority, r, k, i, j):
    """Whether user i comes before user j (j < i) in the waiting list of k in run r.

    Queue order is (waiting since, priority, user index), as numpy's lexsort sorts it;
    the index breaks ties, and candidates arrive in ascending index, so ties keep j first.
    """
    return (wait_since[r, i, k], priority[r, i]) < (wait_since[r, j, k], priority[r, j])
