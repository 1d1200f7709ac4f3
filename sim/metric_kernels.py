"""The sums behind the weekly metrics in one compiled call (see sim.kernels).

:func:`sim.metrics.weekly_metrics` records shares (counts over N) and means.
A share is an exact integer count divided by N, so counting in one pass gives
the same bits as numpy. A mean is a float sum divided by N; :func:`row_sum`
adds in numpy's order (its pairwise summation), so it too gives numpy's bits
(``tests/test_kernels.py`` compares both paths; ``tests/test_rng_kernels.py``
the sums on their own). The personal-recovery score is the same elementwise
arithmetic as :func:`sim.dynamics.personal_recovery`.
"""

from __future__ import annotations

import functools

import numpy as np

from sim.kernels import _jit
from sim.logic_model import USER_INTERVENTIONS

__all__ = ["COUNTS", "pairwise_program", "row_sum", "tally"]

N_USER = len(USER_INTERVENTIONS)  # a compile-time constant for the kernel
_U1, _U2, _U3, _U4, _U5, _U6, _U7 = (np.uint64(k) for k in range(1, 8))
# columns of the kernel's (R, len(COUNTS)) integer output
COUNTS = ("employed", "ever_employed", "housed", "in_relapse", "ties", "in_intervention",
          "started")


@_jit
def tally(floats, doses, connectedness, hope, self_stigma, meaning, empowerment, employed,
          ever_employed, housed, in_relapse, degree, enrolled, completed, dropped, offered,
          program, qpr, sums, counts, stage_counts, in_k):
    """Per run: the row sums behind the means, :data:`COUNTS`, users per stage and intervention.

    ``sums[m, r]`` is numpy's ``np.add.reduce`` (``program`` =
    :func:`pairwise_program` of N) of row r of ``floats[m]``, then of
    personal recovery (computed into the scratch row ``qpr`` as
    ``dynamics.personal_recovery``), then of each dose column; ``counts`` (R,
    len(COUNTS)), ``stage_counts`` (R, 5) and ``in_k`` (R, K) are integer counts;
    ``started`` counts the offered (user, intervention) pairs ever entered.
    """
    n_runs, n_agents, n_user = enrolled.shape
    if n_user != N_USER:
        raise ValueError("enrolled must have one column per user intervention")
    n_floats = len(floats)
    partial = np.empty(64)
    offered_flat = offered.reshape(-1).view(np.uint8)
    for r in range(n_runs):
        for m in range(n_floats):
            sums[m, r] = row_sum(floats[m][r], program, partial)
        stages = np.zeros(5, dtype=np.int64)
        for i in range(n_agents):
            chime = connectedness[r, i] + hope[r, i] + (1.0 - self_stigma[r, i]) + meaning[r, i]
            score = 12.0 * (chime + empowerment[r, i])  # QPR_MAX / 5 = 12 exactly
            qpr[i] = score
            stages[min(int(score * (5.0 / 60.0)), 4)] += 1
        stage_counts[r] = stages
        sums[n_floats, r] = row_sum(qpr, program, partial)
        for d in range(doses.shape[2]):
            sums[n_floats + 1 + d, r] = row_sum(doses[r, :, d], program, partial)
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


@functools.lru_cache(maxsize=64)
def pairwise_program(n: int) -> np.ndarray:
    """Numpy's summation tree for n values, as a post-order program for :func:`row_sum`.

    numpy's ``pairwise_sum`` (``loops_utils.h``) adds blocks of up to 128 values
    with 8 accumulators and splits a longer run in two at ``n // 2`` rounded down
    to a multiple of 8, adding the halves' sums. Entries >= 0 are block sizes, in
    array order; -1 adds the last two partial sums. (An explicit program because
    numba's cache cannot hold a recursive function.)
    """
    ops: list[int] = []

    def visit(size: int) -> None:
        if size <= 128:
            ops.append(size)
            return
        half = size // 2
        half -= half % 8
        visit(half)
        visit(size - half)
        ops.append(-1)

    visit(n)
    program = np.array(ops, dtype=np.int64)
    program.flags.writeable = False
    return program


@_jit
def row_sum(values, program, partial):
    """``np.add.reduce`` of a 1-d float64 array, bit for bit, following ``program``.

    ``program`` is :func:`pairwise_program` of ``len(values)``; ``partial`` is
    scratch of at least its depth (64 is plenty).
    """
    start = depth = 0
    for op in program:
        if op < 0:
            depth -= 1
            partial[depth - 1] = partial[depth - 1] + partial[depth]
        else:
            partial[depth] = _block_sum(values, start, op)
            start += op
            depth += 1
    return 0.0 + partial[0]


@_jit
def _block_sum(a, start, n):
    """Numpy's sum of up to 128 values: 8 accumulators, or in order below 8."""
    v = a[start:start + n]
    if n < 8:
        total = 0.0
        for j in range(n):
            total += v[j]
        return total
    r0, r1, r2, r3, r4, r5, r6, r7 = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
    whole = n - n % 8
    for b in range(1, whole // 8):  # unsigned indices: no wrap-around test, one vector add
        j = np.uint64(8 * b)
        r0 += v[j]
        r1 += v[j + _U1]
        r2 += v[j + _U2]
        r3 += v[j + _U3]
        r4 += v[j + _U4]
        r5 += v[j + _U5]
        r6 += v[j + _U6]
        r7 += v[j + _U7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for j in range(whole, n):
        total += v[j]
    return total


@_jit
def _count(flags):
    n = 0
    for i in range(flags.shape[0]):
        n += flags[i]
    return n
