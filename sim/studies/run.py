"""The X -> Y contract every study uses: parameter sets and seeds in, tidy tables out.

This is the one module of :mod:`sim.studies` that calls the engine
(``lint-imports`` checks it). :func:`run_simulations` runs a batch of
(parameter set, run seed) pairs on one world and returns a :class:`Runs`;
:func:`tidy_series` turns its weekly metrics into the long table studies share;
:func:`simulate` is the public, registry-validated entry point built on both.

>>> from sim.studies.run import simulate
>>> out = simulate({"unemployment_rate": 0.12}, replicates=2, seed=1, weeks=4, n_agents=50)
>>> sorted(out.series.columns)
['design_point', 'metric', 'replicate', 'value', 'week']
>>> len(out.summary)
2
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.core.engine import Simulation, agent_value, run_batch, shared_shape_segments
from sim.core.errors import (
    MAX_AGENTS,
    MAX_DESIGN_POINTS,
    MAX_REPLICATES,
    MAX_WEEKS,
    UserError,
    check_limit,
    check_memory,
)
from sim.core.metrics import METRICS, SUMMARY_METRICS, weekly_metrics
from sim.core.parameters import validate
from sim.core.schedule import ScheduledChange
from sim.core.seeding import RunSeed
from sim.core.state import concatenate
from sim.core.world import World, make_world, shadowed

__all__ = [
    "Runs",
    "SimulationOutput",
    "design_seeds",
    "per_user_quantities",
    "run_simulations",
    "simulate",
    "tidy_series",
    "yes_no_quantities",
]


@dataclass
class Runs:
    """What :func:`run_simulations` returns; every array has one row per run, in input order.

    Attributes:
        metrics: Metric name -> (runs, len(weeks)): the value at each recorded week.
        weeks: The recorded weeks (0 is the entry state).
        finals: Per-user quantity name -> (runs, users) float64, at the horizon.
        seeds: The run seeds, one per run.
        seconds: Wall time of the simulation.
        finals_at: Week -> the ``finals`` quantities at that week, for each week of
            ``finals_weeks`` (the horizon's entry is ``finals`` itself).
    """

    metrics: dict[str, np.ndarray]
    weeks: np.ndarray
    finals: dict[str, np.ndarray]
    seeds: list[RunSeed]
    seconds: float
    finals_at: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)


def run_simulations(
    world: World,
    param_sets: Sequence[Mapping[str, float]],
    run_seeds: Sequence[RunSeed],
    weeks: int,
    *,
    metrics: Sequence[str] | None = None,
    record_weeks: Sequence[int] | None = None,
    finals: Sequence[str] = (),
    finals_weeks: Sequence[int] = (),
    progress: Callable[[int], None] | None = None,
    schedule: Sequence[ScheduledChange] = (),
) -> Runs:
    """Run one batch: run i has ``param_sets[i]`` and ``run_seeds[i]``, all on ``world``.

    A run's numbers depend only on its world, parameter set, seed and horizon, not
    on the other runs of the batch.

    Args:
        world: Sites, teams, offers and users shared by the batch.
        param_sets: One full parameter mapping per run (already validated, e.g.
            by :func:`sim.core.parameters.validate`).
        run_seeds: One seed per run.
        weeks: Horizon in weeks; 0 gives the entry state (nothing is stepped).
        metrics: Weekly metrics to keep (default: all, in the registry's order);
            an empty list keeps none (and records only week 0, the cheapest).
        record_weeks: Weeks at which to record the metrics (default: every week
            from 0 to ``weeks``).
        finals: Per-user quantities (``employed``, ``hope``, ``personal_recovery``,
            ...) to return at the horizon.
        finals_weeks: Weeks (0..``weeks``) at which to return the ``finals`` too
            (``Runs.finals_at``), recorded on the way to the horizon: the same
            trajectories, one simulation.
        progress: Called with 1 once per simulated week of the batch.
        schedule: Site and team settings that change at given weeks
            (:class:`sim.core.schedule.ScheduledChange`; a scenario's ``[[schedule]]``).

    Returns:
        The :class:`Runs`.

    Raises:
        ValueError: If a metric is unknown, or the engine rejects the batch.
    """
    keep = _known_metrics(metrics)
    seeds = list(run_seeds)
    check_batch(world.n_agents, len(seeds), weeks)
    if not keep and record_weeks is None:
        record_weeks = [0]
    started = time.perf_counter()
    bad = [w for w in finals_weeks if not 0 <= w <= weeks]
    if bad:
        raise ValueError(f"finals_weeks must lie in 0..{weeks}, got {bad}")
    early_finals: dict[int, dict[str, np.ndarray]] = {}
    if weeks == 0 and not isinstance(weeks, bool):
        if schedule:
            raise ValueError("a schedule needs at least one week to take effect (weeks = 0)")
        if record_weeks is not None and set(record_weeks) != {0}:
            raise ValueError(f"record_weeks must lie in 0..0, got {list(record_weeks)}")
        if len(param_sets) != len(seeds) or not seeds:
            raise ValueError("need one parameter set per run seed, and at least one run")
        parts = [
            Simulation(world, param_sets[r0:r1], seeds[r0:r1])
            for r0, r1 in shared_shape_segments(param_sets)
        ]
        state, recorded = concatenate([part.state for part in parts]), np.arange(1)
        tables = [weekly_metrics(part) for part in parts] if keep else []
        values = {name: np.concatenate([table[name] for table in tables])[:, None] for name in keep}
    else:
        early = sorted({int(w) for w in finals_weeks} - {weeks})
        wanted = np.arange(weeks + 1) if record_weeks is None else np.unique(record_weeks)
        union = np.union1d(wanted, early).astype(np.int64)
        result = run_batch(
            world,
            param_sets,
            seeds,
            weeks,
            progress=progress,
            record_weeks=union,
            agent_series=finals if early else (),
            schedule=schedule,
        )
        state, recorded = result.final, wanted
        pick = np.searchsorted(union, wanted)
        values = {name: result.metrics[name][:, pick] for name in keep}
        at = {w: int(np.searchsorted(union, w)) for w in early}
        early_finals = {
            w: {n: result.agent_series[n][:, i].astype(np.float64) for n in finals}
            for w, i in at.items()
        }
    seconds = time.perf_counter() - started
    per_user = {name: agent_value(state, name).astype(np.float64) for name in finals}
    finals_at = {w: early_finals[w] if w in early_finals else per_user for w in finals_weeks}
    return Runs(values, recorded, per_user, seeds, seconds, finals_at=finals_at)


def _known_metrics(metrics: Sequence[str] | None) -> list[str]:
    keep = list(METRICS) if metrics is None else list(metrics)
    unknown = sorted(set(keep) - set(METRICS))
    if unknown:
        raise UserError(f"unknown metrics {unknown}; valid: {sorted(METRICS)}")
    return keep


def tidy_series(
    runs: Runs, labels: Mapping[str, Any], metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """The weekly metrics as one long table: the label columns, week, metric, value.

    Rows run metric by metric, then run by run, then week by week.

    Args:
        runs: What :func:`run_simulations` returned.
        labels: Column name -> one value per run (an array, e.g. the replicate)
            or one value for every run (a scalar, e.g. a scenario's name).
        metrics: Metrics to include (default: all of ``runs.metrics``).
    """
    keep = list(runs.metrics) if metrics is None else list(metrics)
    if not keep:
        raise ValueError("need at least one metric for a tidy series")
    n_runs, n_weeks = runs.metrics[keep[0]].shape
    columns = {
        name: value if np.ndim(value) == 0 else np.repeat(value, n_weeks)
        for name, value in labels.items()
    }
    week = np.tile(runs.weeks, n_runs)
    frames = [
        pd.DataFrame(
            {**columns, "week": week, "metric": name, "value": runs.metrics[name].reshape(-1)}
        )
        for name in keep
    ]
    return pd.concat(frames, ignore_index=True)


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


def design_seeds(
    seed: int, n_points: int, replicates: int, *, common_random_numbers: bool = False
) -> list[RunSeed]:
    """Run seeds for every (design point, replicate), design-point major.

    With ``common_random_numbers`` every design point reuses the seeds of design
    point 0, so compared scenarios see the same draws replicate by replicate
    (paired comparison); otherwise every design point is independent (for
    sensitivity analysis). ``RunSeed.design_point`` then records the seed's
    coordinate, and the returned list's order gives the design point.
    """
    return [
        RunSeed(seed, 0 if common_random_numbers else d, r)
        for d in range(n_points)
        for r in range(replicates)
    ]


@functools.cache
def per_user_quantities() -> frozenset[str]:
    """The names ``finals=`` accepts (per-user quantities of the state), found once.

    Lets a file that names an outcome (a trial's metric) be checked at load time,
    before anything is simulated.
    """
    state = Simulation(make_world(2), [validate({})], [RunSeed(0)]).state
    candidates = {"personal_recovery", "stage", *state.process}
    candidates |= {f.name for f in dataclasses.fields(state)}
    found = set()
    for name in candidates:
        try:
            agent_value(state, name)
        except (ValueError, TypeError, AttributeError):
            continue
        found.add(name)
    return frozenset(found)


@functools.cache
def yes_no_quantities() -> frozenset[str]:
    """The per-user quantities that are yes/no (boolean in the state), found once.

    An odds ratio needs a yes/no outcome (or a threshold that makes one).
    """
    state = Simulation(make_world(2), [validate({})], [RunSeed(0)]).state
    return frozenset(
        name for name in per_user_quantities() if agent_value(state, name).dtype == np.bool_
    )


def check_batch(users: int, runs: int, weeks: int, knob: str = "") -> None:
    """Refuse a batch over the limits, or one that would not fit in memory.

    Every study reaches the engine through :func:`run_simulations`, which calls this,
    so no input (file, option, API argument) can bypass the horizon limit or ask for
    more memory than the machine has. ``knob`` names what to lower in the message.

    Raises:
        UserError: Naming the knob and the limit.
    """
    if not isinstance(weeks, bool) and isinstance(weeks, int):
        check_limit(weeks, MAX_WEEKS, "weeks")
    check_limit(users, MAX_AGENTS, "users per run (n_agents, population.size)")
    check_limit(runs, MAX_DESIGN_POINTS, "runs in one batch")
    check_memory(users, runs, weeks, knob or "the replicates, the population size or the weeks")


def _as_list(param_sets: Mapping[str, float] | Sequence[Mapping[str, float]]) -> list:
    if isinstance(param_sets, Mapping):
        return [param_sets]
    sets = list(param_sets)
    if not sets:
        raise UserError("need at least one parameter set")
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
        raise UserError(f"replicates must be a whole number >= 1, got {replicates!r}")
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
        raise UserError(f"weeks must be a whole number >= 1, got {weeks!r}")
    if isinstance(n_agents, bool) or not isinstance(n_agents, int) or n_agents < 1:
        raise UserError(f"n_agents must be a whole number >= 1, got {n_agents!r}")
    check_limit(replicates, MAX_REPLICATES, "replicates")
    check_limit(weeks, MAX_WEEKS, "weeks")
    check_limit(n_agents, MAX_AGENTS, "n_agents")
    sets = _as_list({} if param_sets is None else param_sets)
    check_limit(len(sets) * replicates, MAX_DESIGN_POINTS, "runs (parameter sets x replicates)")
    users = n_agents if world is None else world.n_agents
    check_memory(users, len(sets) * replicates, weeks, "replicates, n_agents or weeks")
    full = [validate(ps) for ps in sets]
    if world is not None:
        for i, ps in enumerate(sets):
            clashes = shadowed(world, ps)
            if clashes:
                name = clashes[0].split(" = ")[0].rsplit(".", 1)[-1]
                raise UserError(
                    f"param_sets[{i}]: {name} = {ps[name]} would be ignored: the world's "
                    f"{clashes[0]} sets its own value; set it on the world's sites/teams "
                    "(or leave theirs as None so the parameter applies)"
                )
    keep = _known_metrics(metrics)
    if not keep:
        raise UserError("metrics must name at least one metric (or be None for all)")
    world = world or make_world(n_agents)
    seeds = design_seeds(seed, len(full), replicates, common_random_numbers=common_random_numbers)
    points = np.repeat(np.arange(len(full)), replicates)
    runs = run_simulations(world, [full[d] for d in points], seeds, weeks)
    replicate = np.array([s.replicate for s in seeds])
    series = tidy_series(runs, {"design_point": points, "replicate": replicate}, keep)
    series["metric"] = series["metric"].astype("category")
    return SimulationOutput(
        series=series, summary=_summary(runs.metrics, points, replicate), params=full
    )


def _summary(
    metrics: dict[str, np.ndarray], points: np.ndarray, replicate: np.ndarray
) -> pd.DataFrame:
    table = {"design_point": points, "replicate": replicate}
    table.update({name: metrics[name][:, -1] for name in SUMMARY_METRICS})
    return pd.DataFrame(table)
