"""Outcome metrics: what is recorded every week, by domain, and the per-run summaries.

Every metric is a mean (or share) over a run's users, so one value per run per
week. :data:`METRICS` names each with its domain and unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.core.logic_model import MECHANISMS, STAGES, USER_INTERVENTIONS
from sim.core.metric_kernels import QUANTITIES, pairwise_program, tally

if TYPE_CHECKING:
    from sim.core.engine import Simulation

__all__ = ["METRICS", "SUMMARY_METRICS", "metrics_table", "weekly_metrics"]

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
    "social_inclusion": (
        "social",
        "mean objective social inclusion (0-6, after the SIX index: work, home, family, friends)",
    ),
    "connectedness": ("social", "mean connectedness / belonging (0-1)"),
    "ties": ("social", "mean number of ties to other users"),
    "knowledge": ("process", "mean knowledge and skills (0-1)"),
    "self_efficacy": ("process", "mean self-efficacy (0-1)"),
    "trust": ("process", "mean trust / working alliance (0-1)"),
    "motivation": ("moderator", "mean motivation (0-1)"),
    "in_relapse": ("process", "share in relapse"),
    "in_hospital": ("functional", "share in psychiatric hospital"),
    "admissions": ("functional", "mean psychiatric admissions per user since week 0"),
    "compulsory_admissions": ("functional", "mean compulsory admissions per user since week 0"),
    "bed_days": ("functional", "mean hospital bed-days per user since week 0"),
    "in_intervention": ("service", "share in at least one intervention"),
    "uptake": ("service", "share of offered places taken up so far"),
    "early_stage": ("existential", "share in moratorium or awareness (inequality)"),
    **{
        f"dose_{m}": ("mechanism", f"mean weekly dose of {m.replace('_', ' ')}") for m in MECHANISMS
    },
    **{f"stage_{s}": ("stage", f"share in the {s} stage") for s in STAGES},
    **{
        f"in_{k}": ("service", f"share currently in {k.replace('_', ' ')}")
        for k in USER_INTERVENTIONS
    },
}

# the row of each of the compiled tally's quantities in the METRICS order
_ROW_OF = np.array(
    [list(METRICS).index(name) for name in QUANTITIES if name in METRICS], dtype=np.int64
)
if sorted(QUANTITIES) != sorted(METRICS):  # pragma: no cover - a programming error
    raise RuntimeError("sim.core.metric_kernels.QUANTITIES must name every metric once")

SUMMARY_METRICS = (
    "employed",
    "ever_employed",
    "housed",
    "functioning",
    "personal_recovery",
    "hope",
    "empowerment",
    "connectedness",
    "social_inclusion",
    "early_stage",
    "uptake",
)


def _metrics_compiled(simulation: Simulation, out: np.ndarray | None = None) -> np.ndarray:
    """The (M, R) table of :data:`METRICS` from one call of :func:`sim.core.metric_kernels.tally`.

    Written into ``out`` when given.
    """
    state, compiled = simulation.state, simulation._compiled
    n_runs, n_agents = state.shape
    table = np.empty((len(METRICS), n_runs)) if out is None else out
    tally(
        compiled.process_block(state),
        state.functioning,
        state.self_stigma,
        state.connectedness,
        state.motivation,
        state.doses,
        state.employed,
        state.ever_employed,
        state.housed,
        state.in_relapse,
        state.network.degree(),
        state.family,
        state.in_hospital,
        state.admissions,
        state.compulsory_admissions,
        state.bed_weeks,
        state.enrolled,
        state.completed,
        state.dropped,
        simulation.world.offered,
        compiled.n_offered,
        pairwise_program(n_agents),
        np.empty(n_agents),
        _ROW_OF,
        table,
    )
    return table


def metrics_table(simulation: Simulation, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`weekly_metrics` as one (M, R) array, rows in :data:`METRICS` order.

    Args:
        simulation: The batch.
        out: A C-contiguous (M, R) float array to write into (``run_batch``
            passes one row of its record), or None for a new one.
    """
    return _metrics_compiled(simulation, out)


def weekly_metrics(simulation: Simulation) -> dict[str, np.ndarray]:
    """All of :data:`METRICS` for the current week, each of shape (R,).

    Every metric is a sum over the run's users divided by N (uptake: over the
    offered places): shares are exact integer counts, real-valued sums are
    numpy's pairwise row sums (so a metric is ``values.mean()`` of the state's
    array, bit for bit); one compiled call computes them all.
    """
    return dict(zip(METRICS, metrics_table(simulation), strict=True))
