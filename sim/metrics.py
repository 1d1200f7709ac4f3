"""Outcome metrics: what is recorded every week, by domain, and the per-run summaries.

Every metric is a mean (or share) over a run's users, so one value per run per
week. :data:`METRICS` names each with its domain and unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.dynamics import personal_recovery, recovery_stage
from sim.logic_model import MECHANISMS, STAGES, USER_INTERVENTIONS

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


def weekly_metrics(simulation: Simulation) -> dict[str, np.ndarray]:
    """All of :data:`METRICS` for the current week, each of shape (R,)."""
    state = simulation.state
    n_runs, n_agents = state.shape
    p = state.process
    qpr = personal_recovery(state)
    stage = recovery_stage(qpr)
    offered = simulation.world.offered[None]
    started = (state.enrolled | state.completed | state.dropped) & offered
    n_offered = offered.sum()
    # shares are exact counts over N, so counting them in one pass changes no bit
    stage_counts = np.bincount((np.arange(n_runs)[:, None] * len(STAGES) + stage).ravel(),
                               minlength=n_runs * len(STAGES)).reshape(n_runs, len(STAGES))
    stage_shares = stage_counts / n_agents
    # numpy reduces a short last axis slowly: loop over the interventions instead
    in_any = state.enrolled[..., 0].copy()
    for k in range(1, state.enrolled.shape[2]):
        in_any |= state.enrolled[..., k]
    values = {
        "employed": _row_means(state.employed),
        "ever_employed": _row_means(state.ever_employed),
        "housed": _row_means(state.housed),
        "functioning": _row_means(state.functioning),
        "personal_recovery": _row_means(qpr),
        "hope": _row_means(p["hope"]),
        "empowerment": _row_means(p["empowerment"]),
        "meaning": _row_means(p["meaning"]),
        "self_stigma": _row_means(state.self_stigma),
        "connectedness": _row_means(state.connectedness),
        "ties": _row_means(state.network.degree()),
        "knowledge": _row_means(p["knowledge"]),
        "self_efficacy": _row_means(p["self_efficacy"]),
        "trust": _row_means(p["trust"]),
        "motivation": _row_means(state.motivation),
        "in_relapse": _row_means(state.in_relapse),
        "in_intervention": _row_means(in_any),
        "uptake": started.sum(axis=(1, 2)) / n_offered if n_offered else np.zeros(n_runs),
        "early_stage": (stage_counts[:, 0] + stage_counts[:, 1]) / n_agents,
    }
    for i, mechanism in enumerate(MECHANISMS):
        values[f"dose_{mechanism}"] = state.doses[..., i].mean(axis=1)
    for i, name in enumerate(STAGES):
        values[f"stage_{name}"] = stage_shares[:, i]
    for k, name in enumerate(USER_INTERVENTIONS):
        values[f"in_{name}"] = _row_means(state.enrolled[..., k])
    return values
