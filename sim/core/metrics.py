"""Outcome metrics: what is recorded every week, by domain, and the per-run summaries.

Every metric is one value per run per week: a mean (or share) over the run's users,
except the service flow metrics (:data:`SERVICE_FLOW_METRICS`: counts of users, and
mean waits, which are NaN in a week with nobody to average). :data:`METRICS` names
each with its domain and unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.core.logic_model import MECHANISMS, STAGES, USER_INTERVENTIONS
from sim.core.metric_kernels import QUANTITIES, pairwise_program, tally
from sim.core.open_service import EXIT_REASONS, FLOWS, NEVER

if TYPE_CHECKING:
    from sim.core.engine import Simulation

__all__ = [
    "METRICS",
    "SERVICE_FLOW_METRICS",
    "SOMETIMES_UNDEFINED",
    "SUMMARY_METRICS",
    "metrics_table",
    "weekly_metrics",
]

# the service's flows (docs/ODD.md §7.15): "this week" is the step that ended at the record
SERVICE_FLOW_METRICS: dict[str, tuple[str, str]] = {
    "caseload": ("service", "users in service at the start of the week (count)"),
    "in_service": ("service", "share of users in service (1 in a closed cohort)"),
    "referrals": ("service", "users referred this week (count; 0 in a closed cohort)"),
    **{
        f"exits_{reason}": ("service", f"users who left the service this week, {reason} (count)")
        for reason in EXIT_REASONS
    },
    "list_length": ("service", "places waited for, summed over interventions (count)"),
    "list_joins": ("service", "users who asked for a place this week (count)"),
    "places_filled": ("service", "places taken up this week (count)"),
    "waiting_weeks": ("service", "mean wait of those who took up a place this week (weeks)"),
    "list_removals": ("service", "users who left a waiting list unplaced this week (count)"),
    "removed_waiting_weeks": (
        "service",
        "mean wait of those who left a waiting list unplaced this week (weeks)",
    ),
    "first_jobs": ("functional", "users in service who started their first job this week"),
    "time_to_first_job_weeks": (
        "functional",
        "mean weeks from referral to the first job of those who started one this week",
    ),
}

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
    **SERVICE_FLOW_METRICS,
}

# the row of each of the compiled tally's quantities in the METRICS order
_ROW_OF = np.array(
    [list(METRICS).index(name) for name in QUANTITIES if name in METRICS], dtype=np.int64
)
if sorted([*QUANTITIES, *SERVICE_FLOW_METRICS]) != sorted(METRICS):  # pragma: no cover
    raise RuntimeError("sim.core.metric_kernels.QUANTITIES must name every other metric once")
# means over the week's events, NaN in a week without one (nobody placed, no first job)
SOMETIMES_UNDEFINED = frozenset(
    {"waiting_weeks", "removed_waiting_weeks", "time_to_first_job_weeks"}
)
_FLOW_ROWS = [list(METRICS).index(name) for name in SERVICE_FLOW_METRICS]

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
    table[_FLOW_ROWS] = np.stack(list(service_flow_metrics(state).values()))
    return table


def _mean_of(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Total / count, NaN where nobody was counted."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def service_flow_metrics(state) -> dict[str, np.ndarray]:
    """:data:`SERVICE_FLOW_METRICS` of the state's week, each (R,), from its flows."""
    flow = dict(zip(FLOWS, state.flow.T, strict=True))
    in_service = (state.referral_week <= state.week) & (state.exit_week == NEVER)
    return {
        "caseload": in_service.sum(axis=1).astype(np.float64),
        "in_service": in_service.sum(axis=1) / state.shape[1],
        "referrals": flow["referrals"],
        **{f"exits_{reason}": flow[f"exits_{reason}"] for reason in EXIT_REASONS},
        "list_length": state.waiting.sum(axis=(1, 2)).astype(np.float64),
        "list_joins": flow["list_joins"],
        "places_filled": flow["places_filled"],
        "waiting_weeks": _mean_of(flow["places_filled_waited_weeks"], flow["places_filled"]),
        "list_removals": flow["list_removals"],
        "removed_waiting_weeks": _mean_of(
            flow["list_removals_waited_weeks"], flow["list_removals"]
        ),
        "first_jobs": flow["first_jobs"],
        "time_to_first_job_weeks": _mean_of(
            flow["first_jobs_weeks_since_referral"], flow["first_jobs"]
        ),
    }


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
