"""Service use as compiled drivers (docs/ODD.md §3 steps 1-4): training, uptake, admission.

The per-user rules are in :mod:`sim.core.rules` (:func:`~sim.core.rules.trained_attitude`,
:func:`~sim.core.rules.engagement`); admission is first come first served, ties in
waiting time broken by each user's random priority (ODD §7.4).
"""

from __future__ import annotations

import numpy as np

from sim.core import rules
from sim.core.kernels import TRUST, _jit

__all__ = ["admit_limited", "train_staff", "uptake"]


@_jit
def train_staff(week, training_weeks, gain, participation, trained, baseline, attitudes):
    """Trained teams' attitudes this week (ODD §7.1); other teams keep their baseline.

    ``training_weeks`` and ``gain`` are per run (R,), ``participation``,
    ``baseline`` and ``attitudes`` (written) per run and team (R, T), ``trained`` per team.
    """
    for r in range(attitudes.shape[0]):
        for t in range(attitudes.shape[1]):
            attitudes[r, t] = (
                rules.trained_attitude(
                    baseline[r, t], gain[r], participation[r, t], week, training_weeks[r]
                )
                if trained[t]
                else baseline[r, t]
            )


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
):
    """Engagement (ODD §7.2), uptake (§7.3) and admission where places are unlimited (§7.4).

    User i is offered ``offer_k[offer_ptr[i]:offer_ptr[i + 1]]``, and only
    those can be entered. Writes ``engaged`` (R, N) and ``was_enrolled`` (R, N, K)
    for offered interventions. Admission to interventions with limited places
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
            for k in offer_k[offer_ptr[i] : offer_ptr[i + 1]]:
                was_enrolled[r, i, k] = enrolled[r, i, k]
                # bitwise, not short-circuit: no branch on a coin flip
                taken = enrolled[r, i, k] | waiting[r, i, k] | completed[r, i, k] | dropped[r, i, k]
                if (not taken) & (u_engage[r, i, k] < chance):
                    waiting[r, i, k] = True
                    wait_since[r, i, k] = week
                if limited[k]:
                    if enrolled[r, i, k]:
                        queues[0, r, team_of_agent[i], k] += 1
                    elif waiting[r, i, k]:
                        queues[1, r, team_of_agent[i], k] += 1
                elif waiting[r, i, k]:
                    enrolled[r, i, k] = True
                    waiting[r, i, k] = False
                    weeks_in[r, i, k] = 0


@_jit
def admit_limited(
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
                        enrolled[r, i, k] = True
                        waiting[r, i, k] = False
                        weeks_in[r, i, k] = 0
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
                    enrolled[r, i, k] = True
                    waiting[r, i, k] = False
                    weeks_in[r, i, k] = 0


@_jit
def _queued_before(wait_since, priority, r, k, i, j):
    """Whether user i comes before user j (j < i) in the waiting list of k in run r.

    Queue order is (waiting since, priority, user index), as numpy's lexsort sorts it;
    the index breaks ties, and candidates arrive in ascending index, so ties keep j first.
    """
    return (wait_since[r, i, k], priority[r, i]) < (wait_since[r, j, k], priority[r, j])
