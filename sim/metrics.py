"""Outcome metrics: what is recorded every week, by domain, and the per-run summaries.

Every metric is a mean (or share) over a run's users, so one value per run per
week. :data:`METRICS` names each with its domain and unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.dynamics import personal_recovery, recovery_stage
from sim.logic_model import MECHANISMS, STAGES, USER_INTERVENTIONS
from sim.metric_kernels import COUNTS, pairwise_program, tally

if TYPE_CHECKING:
    from sim.engine import Simulation
    from sim.state import State

__all__ = ["METRICS", "SUMMARY_METRICS", "weekly_metrics"]

METRICS: dict[str, tuple[str, str]] = {
    # name: (domain, description with unit)
    "employed": ("functional", "share in competitive employment"),
    "ever_employed": ("functional", "share who worked at least one week since week 0"),
    "housed": ("functional", "share stably housed"),
    "functioning": ("functional", "mean functioning (0-1)"),
    "personal_recovery": ("existential", "mean personal recovery (QPR scale 0-60)"),
    "hope": ("existential", "mean hope (0-1)"),
    "empowerment": ("existential", "mean empowerment (0-1)"),
    "meaning": ("existential", "mean meaning (0-1)"),
    "self_stigma": ("existential", "mean self-stigma (0-1)"),
    "connectedness": ("social", "mean connectedness (0-1)"),
    "ties": ("social", "mean number of ties to other users"),
    "knowledge": ("process", "mean knowledge and skills (0-1)"),
    "self_efficacy": ("process", "mean self-efficacy (0-1)"),
    "trust": ("process", "mean trust / working alliance (0-1)"),
    "motivation": ("moderator", "mean motivation (0-1)"),
    "in_relapse": ("process", "share in relapse"),
    "in_intervention": ("service", "share in at least one intervention"),
    "uptake": ("service", "share of offered places taken up so far"),
    "early_stage": ("existential", "share in moratorium or awareness (inequality)"),
    **{f"dose_{m}": ("mechanism", f"mean weekly dose of {m.replace('_', ' ')}")
       for m in MECHANISMS},
    **{f"stage_{s}": ("stage", f"share in the {s} stage") for s in STAGES},
    **{f"in_{k}": ("service", f"share currently in {k.replace('_', ' ')}")
       for k in USER_INTERVENTIONS},
}

# metrics that are a count over the run's users, and means of real-valued quantities
SHARES = ("employed", "ever_employed", "housed", "ties", "in_relapse", "in_intervention")
MEANS = ("functioning", "hope", "empowerment", "meaning", "self_stigma", "connectedness",
         "knowledge", "self_efficacy", "trust", "motivation", "personal_recovery",
         *(f"dose_{m}" for m in MECHANISMS))

SUMMARY_METRICS = ("employed", "ever_employed", "housed", "functioning", "personal_recovery",
                   "hope", "empowerment", "connectedness", "early_stage", "uptake")


def _float_arrays(state: State) -> list[np.ndarray]:
    """The (R, N) arrays behind :data:`MEANS` other than personal recovery and the doses."""
    p = state.process
    return [state.functioning, p["hope"], p["empowerment"], p["meaning"], state.self_stigma,
            state.connectedness, p["knowledge"], p["self_efficacy"], p["trust"],
            state.motivation]


def _tally_numpy(simulation: Simulation) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                  np.ndarray, np.ndarray]:
    """Row sums of :data:`MEANS` (M, R) and the counts behind the shares, in numpy.

    The counts: :data:`~sim.metric_kernels.COUNTS` and users per stage (R, 5)
    and per intervention (R, K).
    """
    state = simulation.state
    n_runs = state.shape[0]
    qpr = personal_recovery(state)
    stage = recovery_stage(qpr)
    stage_counts = np.bincount((np.arange(n_runs)[:, None] * len(STAGES) + stage).ravel(),
                               minlength=n_runs * len(STAGES)).reshape(n_runs, len(STAGES))
    # numpy reduces a short last axis slowly: loop over the interventions instead
    in_any = state.enrolled[..., 0].copy()
    for k in range(1, state.enrolled.shape[2]):
        in_any |= state.enrolled[..., k]
    started = (state.enrolled | state.completed | state.dropped) & simulation.world.offered[None]
    counts = {name: np.count_nonzero(getattr(state, name), axis=1)
              for name in ("employed", "ever_employed", "housed", "in_relapse")}
    counts["ties"] = np.add.reduce(state.network.degree(), axis=1)
    counts["in_intervention"] = np.count_nonzero(in_any, axis=1)
    counts["started"] = started.sum(axis=(1, 2))
    in_k = np.stack([np.count_nonzero(state.enrolled[..., k], axis=1)
                     for k in range(state.enrolled.shape[2])], axis=1)
    arrays = [*_float_arrays(state), qpr, *(state.doses[..., m] for m in range(len(MECHANISMS)))]
    sums = np.stack([np.add.reduce(values, axis=1) for values in arrays])
    return sums, counts, stage_counts, in_k


def _tally_compiled(simulation: Simulation) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                     np.ndarray, np.ndarray]:
    """As :func:`_tally_numpy`, in one call of :func:`sim.metric_kernels.tally`."""
    state = simulation.state
    n_runs, n_agents, n_user = state.enrolled.shape
    sums = np.empty((len(MEANS), n_runs))
    counts = np.empty((n_runs, len(COUNTS)), dtype=np.int64)
    stage_counts = np.empty((n_runs, len(STAGES)), dtype=np.int64)
    in_k = np.empty((n_runs, n_user), dtype=np.int64)
    tally(tuple(_float_arrays(state)), state.doses, state.connectedness,
          state.process["hope"], state.self_stigma, state.process["meaning"],
          state.process["empowerment"], state.employed, state.ever_employed, state.housed,
          state.in_relapse, state.network.degree(), state.enrolled, state.completed,
          state.dropped, simulation.world.offered, pairwise_program(n_agents),
          np.empty(n_agents), sums, counts, stage_counts, in_k)
    return sums, dict(zip(COUNTS, counts.T, strict=True)), stage_counts, in_k


def weekly_metrics(simulation: Simulation) -> dict[str, np.ndarray]:
    """All of :data:`METRICS` for the current week, each of shape (R,).

    Every metric is a sum over the run's users divided by N: shares are exact
    integer counts, and real-valued sums are numpy's pairwise row sums, which
    the compiled tally (``simulation.kernels == "numba"``) reproduces, so both
    paths give the same bits (``tests/test_kernels.py``).
    """
    state = simulation.state
    n_runs, n_agents = state.shape
    tally_of = _tally_compiled if simulation.kernels == "numba" else _tally_numpy
    sums, counts, stage_counts, in_k = tally_of(simulation)
    n_offered = simulation.world.offered.sum()
    # every mean and share in one division: (sums, counts, stages, interventions) / N
    per_user = np.concatenate([sums, np.stack([counts[name] for name in SHARES]),
                               stage_counts.T, in_k.T]) / n_agents
    names = [*MEANS, *SHARES, *(f"stage_{s}" for s in STAGES),
             *(f"in_{k}" for k in USER_INTERVENTIONS)]
    values = dict(zip(names, per_user, strict=True))
    values["uptake"] = counts["started"] / n_offered if n_offered else np.zeros(n_runs)
    values["early_stage"] = (stage_counts[:, 0] + stage_counts[:, 1]) / n_agents
    return {name: values[name] for name in METRICS}
