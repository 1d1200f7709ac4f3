"""Outcome metrics: what is recorded every week, by domain, and the per-run summaries.

Every metric is a mean (or share) over a run's users, so one value per run per
week. :data:`METRICS` names each with its domain and unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.core.dynamics import personal_recovery, recovery_stage
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

# the row of each of the compiled tally's quantities in the METRICS order
_ROW_OF = np.array([list(METRICS).index(name) for name in QUANTITIES if name in METRICS],
                   dtype=np.int64)
if sorted(QUANTITIES) != sorted(METRICS):  # pragma: no cover - a programming error
    raise RuntimeError("sim.core.metric_kernels.QUANTITIES must name every metric once")

SUMMARY_METRICS = ("employed", "ever_employed", "housed", "functioning", "personal_recovery",
                   "hope", "empowerment", "connectedness", "early_stage", "uptake")


def _row_means(values: np.ndarray) -> np.ndarray:
    """``values.mean(axis=1)`` of an (R, N) array: numpy's row sum, then a true division by N."""
    total = np.add.reduce(values, axis=1, dtype=np.float64)
    return np.true_divide(total, values.shape[1], out=total)


def _metrics_numpy(simulation: Simulation) -> dict[str, np.ndarray]:
    """:data:`METRICS` in numpy: the statement of what each metric is."""
    state = simulation.state
    n_runs, n_agents = state.shape
    p = state.process
    qpr = personal_recovery(state)
    stage = recovery_stage(qpr)
    stage_counts = np.bincount((np.arange(n_runs)[:, None] * len(STAGES) + stage).ravel(),
                               minlength=n_runs * len(STAGES)).reshape(n_runs, len(STAGES))
    # numpy reduces a short last axis slowly: loop over the interventions instead
    in_any = state.enrolled[..., 0].copy()
    for k in range(1, state.enrolled.shape[2]):
        in_any |= state.enrolled[..., k]
    offered = simulation.world.offered
    started = (state.enrolled | state.completed | state.dropped) & offered[None]
    n_offered = offered.sum()

    def share(flags: np.ndarray) -> np.ndarray:  # an exact count over N
        return np.count_nonzero(flags, axis=1) / n_agents

    values = {
        "employed": share(state.employed),
        "ever_employed": share(state.ever_employed),
        "housed": share(state.housed),
        "functioning": _row_means(state.functioning),
        "personal_recovery": _row_means(qpr),
        **{name: _row_means(p[name]) for name in p},
        "self_stigma": _row_means(state.self_stigma),
        "connectedness": _row_means(state.connectedness),
        "ties": np.add.reduce(state.network.degree(), axis=1) / n_agents,
        "motivation": _row_means(state.motivation),
        "in_relapse": share(state.in_relapse),
        "in_intervention": share(in_any),
        "uptake": started.sum(axis=(1, 2)) / n_offered if n_offered else np.zeros(n_runs),
        "early_stage": (stage_counts[:, 0] + stage_counts[:, 1]) / n_agents,
        **{f"dose_{m}": _row_means(state.doses[..., i]) for i, m in enumerate(MECHANISMS)},
        **{f"stage_{name}": stage_counts[:, i] / n_agents for i, name in enumerate(STAGES)},
        **{f"in_{name}": share(state.enrolled[..., k])
           for k, name in enumerate(USER_INTERVENTIONS)},
    }
    return {name: values[name] for name in METRICS}


def _metrics_compiled(simulation: Simulation, out: np.ndarray | None = None) -> np.ndarray:
    """The (M, R) table of :data:`METRICS` from one call of :func:`sim.core.metric_kernels.tally`.

    The same bits as :func:`_metrics_numpy`; written into ``out`` when given.
    """
    state, compiled = simulation.state, simulation._compiled
    n_runs, n_agents = state.shape
    table = np.empty((len(METRICS), n_runs)) if out is None else out
    tally(compiled.process_block(state), state.functioning, state.self_stigma,
          state.connectedness, state.motivation, state.doses, state.employed,
          state.ever_employed, state.housed, state.in_relapse, state.network.degree(),
          state.enrolled, state.completed, state.dropped, simulation.world.offered,
          compiled.n_offered, pairwise_program(n_agents), np.empty(n_agents), _ROW_OF, table)
    return table


def metrics_table(simulation: Simulation, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`weekly_metrics` as one (M, R) array, rows in :data:`METRICS` order.

    Args:
        simulation: The batch.
        out: A C-contiguous (M, R) float array to write into (``run_batch``
            passes one row of its record), or None for a new one.
    """
    table = np.empty((len(METRICS), simulation.state.shape[0])) if out is None else out
    if simulation.kernels == "numba":
        return _metrics_compiled(simulation, table)
    values = _metrics_numpy(simulation)
    for row, name in enumerate(METRICS):
        table[row] = values[name]
    return table


def weekly_metrics(simulation: Simulation) -> dict[str, np.ndarray]:
    """All of :data:`METRICS` for the current week, each of shape (R,).

    Every metric is a sum over the run's users divided by N (uptake: over the
    offered places): shares are exact integer counts, real-valued sums are
    numpy's pairwise row sums. On the compiled path
    (``simulation.kernels == "numba"``) one kernel computes them all in the same
    order, so both paths give the same bits (``tests/test_kernels.py``).
    """
    return dict(zip(METRICS, metrics_table(simulation), strict=True))
