"""The counting part of the weekly metrics as one compiled pass (see sim.kernels).

:func:`sim.metrics.weekly_metrics` records shares (counts over N) and means.
A share is an exact integer count divided by N, so counting in one pass over
the users gives the same bits as numpy's row sums; the personal-recovery score
is the same elementwise arithmetic as :func:`sim.dynamics.personal_recovery`.
Means of real-valued quantities stay with numpy's row sums (their summation
order is numpy's).
"""

from __future__ import annotations

import numpy as np

from sim.kernels import _jit
from sim.logic_model import USER_INTERVENTIONS

__all__ = ["COUNTS", "user_counts"]

N_USER = len(USER_INTERVENTIONS)  # a compile-time constant for the kernel
# columns of the kernel's (R, len(COUNTS)) integer output
COUNTS = ("employed", "ever_employed", "housed", "in_relapse", "ties", "in_intervention",
          "started")


@_jit
def user_counts(connectedness, hope, self_stigma, meaning, empowerment, employed, ever_employed,
                housed, in_relapse, degree, enrolled, completed, dropped, offered, qpr, counts,
                stage_counts, in_k):
    """Per run: the :data:`COUNTS`, users per Andresen stage and users in each intervention.

    Writes ``qpr`` (R, N) as ``personal_recovery``, ``counts`` (R, len(COUNTS)),
    ``stage_counts`` (R, 5) and ``in_k`` (R, K); ``started`` counts the offered
    (user, intervention) pairs ever entered (enrolled, completed or dropped).
    """
    n_runs, n_agents, n_user = enrolled.shape
    if n_user != N_USER:
        raise ValueError("enrolled must have one column per user intervention")
    offered_flat = offered.reshape(-1).view(np.uint8)
    for r in range(n_runs):
        stages = np.zeros(5, dtype=np.int64)
        for i in range(n_agents):
            chime = connectedness[r, i] + hope[r, i] + (1.0 - self_stigma[r, i]) + meaning[r, i]
            score = 12.0 * (chime + empowerment[r, i])  # QPR_MAX / 5 = 12 exactly
            qpr[r, i] = score
            stages[min(int(score * (5.0 / 60.0)), 4)] += 1
        stage_counts[r] = stages
        counts[r, 0] = _count(employed[r])
        counts[r, 1] = _count(ever_employed[r])
        counts[r, 2] = _count(housed[r])
        counts[r, 3] = _count(in_relapse[r])
        n_ties = 0
        for i in range(n_agents):
            n_ties += degree[r, i]
        counts[r, 4] = n_ties
        # byte loops over the run's (user, intervention) pairs: they vectorise, and the
        # intervention loop has a constant length, so it unrolls
        entered = enrolled[r].reshape(-1).view(np.uint8)
        done = completed[r].reshape(-1).view(np.uint8)
        left = dropped[r].reshape(-1).view(np.uint8)
        n_started = 0
        for j in range(entered.shape[0]):
            n_started += offered_flat[j] & (entered[j] | done[j] | left[j])
        counts[r, 6] = n_started
        n_in = 0
        in_each = np.zeros(N_USER, dtype=np.int64)
        for i in range(n_agents):
            any_enrolled = np.uint8(0)
            for k in range(N_USER):
                e = entered[i * N_USER + k]
                any_enrolled |= e
                in_each[k] += e
            n_in += any_enrolled
        counts[r, 5] = n_in
        in_k[r] = in_each


@_jit
def _count(flags):
    n = 0
    for i in range(flags.shape[0]):
        n += flags[i]
    return n
