"""The sums behind the weekly metrics in one compiled call (docs/ODD.md §4.11, §7.14).

:func:`sim.core.metrics.weekly_metrics` records shares (counts over N) and means.
A share is an exact integer count divided by N. A mean is a float sum divided by
N; :func:`row_sum` adds in numpy's order (its pairwise summation), so a mean is
``values.mean()`` of the state's array bit for bit (``tests/test_kernels.py`` and
``tests/test_rng_kernels.py`` check the sums). Personal recovery and stages are
:func:`sim.core.rules.personal_recovery_score` and :func:`sim.core.rules.stage_of`.
"""

from __future__ import annotations

import functools

import numpy as np

from sim.core import rules
from sim.core.kernels import EMPOWERMENT, HOPE, MEANING, _jit
from sim.core.logic_model import MECHANISMS, STAGES, USER_INTERVENTIONS
from sim.core.scales import N_STAGES
from sim.core.state import PROCESS_NAMES

__all__ = ["QUANTITIES", "pairwise_program", "row_sum", "tally"]

N_USER = len(USER_INTERVENTIONS)  # compile-time constants for the kernel
DAYS_PER_WEEK = 7
# the early stages of the "early_stage" metric (Andresen: before preparation)
EARLY_STAGE, LATER_EARLY_STAGE = STAGES.index("moratorium"), STAGES.index("awareness")

if len(STAGES) != N_STAGES:
    raise ImportError("sim.core.logic_model.STAGES must name the N_STAGES Andresen stages")
_U1, _U2, _U3, _U4, _U5, _U6, _U7 = (np.uint64(k) for k in range(1, 8))
# what the kernel computes, in its order (sim.core.metrics places each in its table row)
QUANTITIES = (
    *PROCESS_NAMES,
    "functioning",
    "self_stigma",
    "connectedness",
    "motivation",
    "personal_recovery",
    *(f"dose_{m}" for m in MECHANISMS),
    "employed",
    "ever_employed",
    "housed",
    "in_relapse",
    "ties",
    "in_intervention",
    "social_inclusion",
    "in_hospital",
    "admissions",
    "compulsory_admissions",
    "bed_days",
    "uptake",
    "early_stage",
    *(f"stage_{s}" for s in STAGES),
    *(f"in_{k}" for k in USER_INTERVENTIONS),
)


@_jit
def tally(
    process,
    functioning,
    self_stigma,
    connectedness,
    motivation,
    doses,
    employed,
    ever_employed,
    housed,
    in_relapse,
    degree,
    family,
    in_hospital,
    admissions,
    compulsory_admissions,
    bed_weeks,
    enrolled,
    completed,
    dropped,
    offered,
    n_offered,
    program,
    qpr,
    row_of,
    table,
):
    """Every weekly metric of every run, into ``table`` (rows in the order of METRICS).

    Quantity q of :data:`QUANTITIES` goes to ``table[row_of[q], r]``, as
    :func:`sim.core.metrics.weekly_metrics` defines it.

    Means are numpy's row sums (``program`` = :func:`pairwise_program` of N)
    over N; personal recovery is computed into the scratch row ``qpr``; shares are
    integer counts over N; uptake is
    the offered (user, intervention) pairs ever entered over ``n_offered``
    (0 when nothing is offered).
    """
    n_runs, n_agents, n_user = enrolled.shape
    if n_user != N_USER:
        raise ValueError("enrolled must have one column per user intervention")
    partial = np.empty(64)
    offered_flat = offered.reshape(-1).view(np.uint8)
    n_process, n_doses = process.shape[1], doses.shape[2]
    for r in range(n_runs):
        q = 0  # the next quantity
        for m in range(n_process):
            table[row_of[q], r] = row_sum(process[r, m], program, partial) / n_agents
            q += 1
        for values in (functioning, self_stigma, connectedness, motivation):
            table[row_of[q], r] = row_sum(values[r], program, partial) / n_agents
            q += 1
        stages = np.zeros(N_STAGES, dtype=np.int64)
        hope, empowerment, meaning = process[r, HOPE], process[r, EMPOWERMENT], process[r, MEANING]
        for i in range(n_agents):
            score = rules.personal_recovery_score(
                connectedness[r, i], hope[i], self_stigma[r, i], meaning[i], empowerment[i]
            )
            qpr[i] = score
            stages[rules.stage_of(score)] += 1
        table[row_of[q], r] = row_sum(qpr, program, partial) / n_agents
        q += 1
        for d in range(n_doses):
            table[row_of[q], r] = row_sum(doses[r, :, d], program, partial) / n_agents
            q += 1
        n_ties = 0
        n_inclusion = 0  # objective social inclusion points (rules.social_inclusion_score)
        for i in range(n_agents):
            n_ties += degree[r, i]
            n_inclusion += rules.social_inclusion_score(
                employed[r, i], housed[r, i], family[r, i], degree[r, i]
            )
        # byte loops over the run's (user, intervention) pairs: they vectorise, and the
        # intervention loop has a constant length, so it unrolls
        entered = enrolled[r].reshape(-1).view(np.uint8)
        done = completed[r].reshape(-1).view(np.uint8)
        left = dropped[r].reshape(-1).view(np.uint8)
        n_started = 0
        for j in range(entered.shape[0]):
            n_started += offered_flat[j] & (entered[j] | done[j] | left[j])
        n_in = 0
        in_each = np.zeros(N_USER, dtype=np.int64)
        for i in range(n_agents):
            any_enrolled = np.uint8(0)
            for k in range(N_USER):
                e = entered[i * N_USER + k]
                any_enrolled |= e
                in_each[k] += e
            n_in += any_enrolled
        for count in (
            _count(employed[r]),
            _count(ever_employed[r]),
            _count(housed[r]),
            _count(in_relapse[r]),
            n_ties,
            n_in,
            n_inclusion,
            _count(in_hospital[r]),
            _count(admissions[r]),
            _count(compulsory_admissions[r]),
            DAYS_PER_WEEK * _count(bed_weeks[r]),
        ):
            table[row_of[q], r] = count / n_agents
            q += 1
        table[row_of[q], r] = n_started / n_offered if n_offered else 0.0
        table[row_of[q + 1], r] = (stages[EARLY_STAGE] + stages[LATER_EARLY_STAGE]) / n_agents
        q += 2
        for stage in range(N_STAGES):
            table[row_of[q], r] = stages[stage] / n_agents
            q += 1
        for k in range(N_USER):
            table[row_of[q], r] = in_each[k] / n_agents
            q += 1


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
    v = a[start : start + n]
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
