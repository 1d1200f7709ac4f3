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


def weekly_metrics(simulation: Simulation) -> dict[str, np.ndarray]:
    """All of :data:`METRICS` for the current week, each of shape (R,)."""
    state = simulation.state
    p = state.process
    qpr = personal_recovery(state)
    stage = recovery_stage(qpr)
    offered = simulation.world.offered[None]
    started = (state.enrolled | state.completed | state.dropped) & offered
    n_offered = offered.sum()
    values = {
        "employed": state.employed.mean(axis=1),
        "ever_employed": state.ever_employed.mean(axis=1),
        "housed": state.housed.mean(axis=1),
        "functioning": state.functioning.mean(axis=1),
        "personal_recovery": qpr.mean(axis=1),
        "hope": p["hope"].mean(axis=1),
        "empowerment": p["empowerment"].mean(axis=1),
        "meaning": p["meaning"].mean(axis=1),
        "self_stigma": state.self_stigma.mean(axis=1),
        "connectedness": state.connectedness.mean(axis=1),
        "ties": state.network.degree().mean(axis=1),
        "knowledge": p["knowledge"].mean(axis=1),
        "self_efficacy": p["self_efficacy"].mean(axis=1),
        "trust": p["trust"].mean(axis=1),
        "motivation": state.motivation.mean(axis=1),
        "in_relapse": state.in_relapse.mean(axis=1),
        "in_intervention": state.enrolled.any(axis=2).mean(axis=1),
        "uptake": started.sum(axis=(1, 2)) / n_offered if n_offered else np.zeros(state.shape[0]),
        "early_stage": (stage <= 1).mean(axis=1),
    }
    for i, mechanism in enumerate(MECHANISMS):
        values[f"dose_{mechanism}"] = state.doses[..., i].mean(axis=1)
    for i, name in enumerate(STAGES):
        values[f"stage_{name}"] = (stage == i).mean(axis=1)
    for k, name in enumerate(USER_INTERVENTIONS):
        values[f"in_{name}"] = state.enrolled[..., k].mean(axis=1)
    return values
