"""Outcome metrics: what is recorded every week, by domain, and the per-run summaries.

Every metric is a mean (or share) over a run's users, so one value per run per
week. :data:`METRICS` names each with its domain and unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.dynamics import personal_recovery, recovery_stage
from sim.logic_model import MECHANISMS, STAGES, USER_INTERVENTIONS
from sim.metric_kernels import COUNTS, user_counts

if TYPE_CHECKING:
    from sim.engine import Simulation

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

SUMMARY_METRICS = ("employed", "ever_employed", "housed", "functioning", "personal_recovery",
                   "hope", "empowerment", "connectedness", "early_stage", "uptake")


def _row_means(values: np.ndarray) -> np.ndarray:
    """``values.mean(axis=1)`` of an (R, N) array, without ``mean``'s Python overhead.

    The same reduction and division as ``np.mean`` (a float64 sum over the row,
    then a true division by N), so the result is identical bit for bit.
    """
    total = np.add.reduce(values, axis=1, dtype=np.float64)
    return np.true_divide(total, values.shape[1], out=total)


def _counts_numpy(simulation: Simulation) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                   np.ndarray, np.ndarray]:
    """Personal recovery (R, N), the :data:`~sim.metric_kernels.COUNTS`, and more counts.

    Also users per stage (R, 5) and per intervention (R, K); all in numpy.
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
    return qpr, counts, stage_counts, in_k


def _counts_compiled(simulation: Simulation) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                      np.ndarray, np.ndarray]:
    """As :func:`_counts_numpy`, in one pass of :func:`sim.metric_kernels.user_counts`."""
    state = simulation.state
    p = state.process
    n_runs, n_agents, n_user = state.enrolled.shape
    qpr = np.empty((n_runs, n_agents))
    counts = np.empty((n_runs, len(COUNTS)), dtype=np.int64)
    stage_counts = np.empty((n_runs, len(STAGES)), dtype=np.int64)
    in_k = np.empty((n_runs, n_user), dtype=np.int64)
    user_counts(state.connectedness, p["hope"], state.self_stigma, p["meaning"],
                p["empowerment"], state.employed, state.ever_employed, state.housed,
                state.in_relapse, state.network.degree(), state.enrolled, state.completed,
                state.dropped, simulation.world.offered, qpr, counts, stage_counts, in_k)
    return qpr, dict(zip(COUNTS, counts.T, strict=True)), stage_counts, in_k


def weekly_metrics(simulation: Simulation) -> dict[str, np.ndarray]:
    """All of :data:`METRICS` for the current week, each of shape (R,).

    Shares are exact counts over N, so the compiled counting pass
    (``simulation.kernels == "numba"``) and numpy give the same bits.
    """
    state = simulation.state
    n_runs, n_agents = state.shape
    p = state.process
    counter = _counts_compiled if simulation.kernels == "numba" else _counts_numpy
    qpr, counts, stage_counts, in_k = counter(simulation)
    n_offered = simulation.world.offered.sum()
    values = {
        "employed": counts["employed"] / n_agents,
        "ever_employed": counts["ever_employed"] / n_agents,
        "housed": counts["housed"] / n_agents,
        "functioning": _row_means(state.functioning),
        "personal_recovery": _row_means(qpr),
        "hope": _row_means(p["hope"]),
        "empowerment": _row_means(p["empowerment"]),
        "meaning": _row_means(p["meaning"]),
        "self_stigma": _row_means(state.self_stigma),
        "connectedness": _row_means(state.connectedness),
        "ties": counts["ties"] / n_agents,
        "knowledge": _row_means(p["knowledge"]),
        "self_efficacy": _row_means(p["self_efficacy"]),
        "trust": _row_means(p["trust"]),
        "motivation": _row_means(state.motivation),
        "in_relapse": counts["in_relapse"] / n_agents,
        "in_intervention": counts["in_intervention"] / n_agents,
        "uptake": counts["started"] / n_offered if n_offered else np.zeros(n_runs),
        "early_stage": (stage_counts[:, 0] + stage_counts[:, 1]) / n_agents,
    }
    for i, mechanism in enumerate(MECHANISMS):
        values[f"dose_{mechanism}"] = _row_means(state.doses[..., i])
    stage_shares = stage_counts / n_agents
    for i, name in enumerate(STAGES):
        values[f"stage_{name}"] = stage_shares[:, i]
    for k, name in enumerate(USER_INTERVENTIONS):
        values[f"in_{name}"] = in_k[:, k] / n_agents
    return values
