"""The X -> Y contract every study uses: parameter sets and seeds in, tidy tables out.

>>> from sim.studies.run import simulate
>>> out = simulate({"unemployment_rate": 0.12}, replicates=2, seed=1, weeks=4, n_agents=50)
>>> sorted(out.series.columns)
['design_point', 'metric', 'replicate', 'value', 'week']
>>> len(out.summary)
2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.core.engine import run_batch
from sim.core.metrics import SUMMARY_METRICS
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.core.world import World, make_world

__all__ = ["SimulationOutput", "design_seeds", "simulate"]


@dataclass
class SimulationOutput:
    """What :func:`simulate` returns.

    Attributes:
        series: Tidy weekly metrics: design_point, replicate, week, metric, value.
        summary: One row per run: design_point, replicate, then each summary
            metric at the final week.
        params: The full (validated) parameter set of each design point.
    """

    series: pd.DataFrame
    summary: pd.DataFrame
    params: list[dict[str, float]]


def design_seeds(seed: int, n_points: int, replicates: int, *,
                 common_random_numbers: bool = False) -> list[RunSeed]:
    """Run seeds for every (design point, replicate), design-point major.

    With ``common_random_numbers`` every design point reuses the seeds of design
    point 0, so compared scenarios see the same draws replicate by replicate
    (paired comparison); otherwise every design point is independent (for
    sensitivity analysis). ``RunSeed.design_point`` then records the seed's
    coordinate, and the returned list's order gives the design point.
    """
    return [RunSeed(seed, 0 if common_random_numbers else d, r)
            for d in range(n_points) for r in range(replicates)]


def _as_list(param_sets: Mapping[str, float] | Sequence[Mapping[str, float]]) -> list:
    if isinstance(param_sets, Mapping):
        return [param_sets]
    sets = list(param_sets)
    if not sets:
        raise ValueError("need at least one parameter set")
    return sets


def simulate(
    param_sets: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None,
    *,
    replicates: int = 1,
    seed: int = 0,
    weeks: int = 104,
    n_agents: int = 500,
    world: World | None = None,
    metrics: Sequence[str] | None = None,
    common_random_numbers: bool = False,
) -> SimulationOutput:
    """Simulate every (parameter set, replicate) as one batch.

    Args:
        param_sets: A partial parameter mapping, or a list of them (design
            points); missing names take registry defaults. Validated against
            the registry.
        replicates: Independent replicates per design point (>= 1).
        seed: Experiment seed (non-negative integer).
        weeks: Horizon in weeks.
        n_agents: Users per run when ``world`` is not given.
        world: The service structure (default: one site, one team, no offers).
        metrics: Weekly metrics to keep in ``series`` (default: all).
        common_random_numbers: Give every design point the same seeds
            (paired scenario comparison) instead of independent ones.

    Returns:
        A :class:`SimulationOutput`.
    """
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise ValueError(f"replicates must be a whole number >= 1, got {replicates!r}")
    full = [validate(ps) for ps in _as_list({} if param_sets is None else param_sets)]
    world = world or make_world(n_agents)
    seeds = design_seeds(seed, len(full), replicates,
                         common_random_numbers=common_random_numbers)
    points = np.repeat(np.arange(len(full)), replicates)
    result = run_batch(world, [full[d] for d in points], seeds, weeks)
    keep = list(metrics) if metrics is not None else list(result.metrics)
    if not keep:
        raise ValueError("metrics must name at least one metric (or be None for all)")
    unknown = sorted(set(keep) - set(result.metrics))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; valid: {sorted(result.metrics)}")
    replicate = np.array([s.replicate for s in seeds])
    return SimulationOutput(series=_tidy(result.metrics, points, replicate, keep),
                            summary=_summary(result.metrics, points, replicate), params=full)


def _tidy(metrics: dict[str, np.ndarray], points: np.ndarray, replicate: np.ndarray,
          keep: list[str]) -> pd.DataFrame:
    n_runs, n_weeks = metrics[keep[0]].shape
    frames = []
    for name in keep:
        frames.append(pd.DataFrame({
            "design_point": np.repeat(points, n_weeks),
            "replicate": np.repeat(replicate, n_weeks),
            "week": np.tile(np.arange(n_weeks), n_runs),
            "metric": name,
            "value": metrics[name].reshape(-1),
        }))
    tidy = pd.concat(frames, ignore_index=True)
    tidy["metric"] = tidy["metric"].astype("category")
    return tidy


def _summary(metrics: dict[str, np.ndarray], points: np.ndarray,
             replicate: np.ndarray) -> pd.DataFrame:
    table = {"design_point": points, "replicate": replicate}
    table.update({name: metrics[name][:, -1] for name in SUMMARY_METRICS})
    return pd.DataFrame(table)
