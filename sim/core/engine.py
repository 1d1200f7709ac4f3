"""The batched simulation: the weekly schedule over (runs x agents) arrays.

:class:`Simulation` holds one batch (a world, a parameter set and a seed per
run) and advances it a week at a time; :func:`run_batch` runs it to a horizon
and records the weekly metrics. Run i of a batch follows the same trajectory
whatever else is in the batch: every draw comes from the run's own streams and
every operation is row-wise. A week (docs/ODD.md §3) is
:meth:`sim.core.compiled.CompiledStep.step`: the rules of :mod:`sim.core.rules`,
compiled, applied to every user; there is no other implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise

import numpy as np

from sim.core import rng_kernels
from sim.core.compiled import CompiledStep
from sim.core.kernels import GROUP_INTERVENTIONS
from sim.core.logic_model import USER_INTERVENTIONS
from sim.core.metrics import METRICS, metrics_table
from sim.core.network_kernels import initial_ties
from sim.core.rules import (
    connectedness_set_points,
    functioning_set_points,
    personal_recovery,
    recovery_stage,
    social_inclusion,
)
from sim.core.schedule import ScheduledChange, changed_world, changes_at, check_schedule
from sim.core.seeding import RunSeed, streams_for
from sim.core.state import BatchParams, State, concatenate, initialise
from sim.core.world import World

__all__ = ["BatchResult", "Simulation", "agent_value", "run_batch", "shared_shape_segments"]

# form + partner per group intervention, form + partner in the community, one decay
N_NETWORK_DRAWS = 2 * len(GROUP_INTERVENTIONS) + 3
NORMAL_STREAMS = frozenset({"noise"})  # standard normals; every other weekly draw is uniform
# run_batch runs larger batches as sub-batches of whole runs of at most this many users
# (at least one run): 16 x 1,000 users ran 10-20% faster per agent-step than 64 or 256 x 1,000
# stepped week by week (benchmarks/bench_core.py), whose state leaves the caches every week
SUB_BATCH_AGENTS = 16_384


class Simulation:
    """A batch of runs that share a world.

    Args:
        world: Sites, teams and offers.
        param_sets: One full registry parameter mapping per run (see
            :func:`sim.core.parameters.validate`).
        run_seeds: One :class:`~sim.core.seeding.RunSeed` per run.
    """

    def __init__(
        self, world: World, param_sets: Sequence[Mapping[str, float]], run_seeds: Sequence[RunSeed]
    ) -> None:
        if len(param_sets) != len(run_seeds) or not param_sets:
            raise ValueError("need one parameter set per run seed, and at least one run")
        self.world = world
        self.params = BatchParams(param_sets, world)
        self.run_seeds = list(run_seeds)
        self._streams = streams_for(self.run_seeds)
        self.state: State = initialise(
            world,
            self.params,
            self._streams["population"],
            self._streams["admission"],
            blocks=rng_kernels.blocks,
            build_ties=initial_ties,
            referral=self._streams["referral"],
        )
        self.state.connectedness = connectedness_set_points(
            self.state, self.params.registry_values, self.params.per_agent("public_stigma")
        )
        self.state.functioning = functioning_set_points(self.state, self.params.registry_values)
        self._compiled = CompiledStep(world, self.params, self.state)

    def __getstate__(self) -> dict:
        """Pickle and copy without the draw plan, which a copy rebuilds on its first week.

        The plan holds the generators' memory addresses, valid only for these objects.
        """
        state = self.__dict__.copy()
        for plan in ("_buffers", "_fills", "_tile_plans", "_tile_buffers"):
            state.pop(plan, None)
        return state

    @property
    def week(self) -> int:
        """Weeks simulated so far."""
        return self.state.week

    def _draw_shapes(self) -> dict[str, tuple[int, ...]]:
        n_agents, n_user = self.world.n_agents, len(USER_INTERVENTIONS)
        shapes = {
            "engagement": (n_agents, n_user),
            "employment": (n_agents,),
            "housing": (n_agents,),
            "relapse": (n_agents,),
            "noise": (n_agents, 3),
            "network": (N_NETWORK_DRAWS, n_agents),
        }
        if self.world.service is not None:  # leaving an open service (a closed cohort stays)
            shapes["exit"] = (n_agents,)
        return shapes

    def _draws(self) -> dict[str, np.ndarray]:
        """This week's draws, a fixed-size block per stream and run, written in place.

        The arrays are reused every week: a caller that keeps draws must copy them.
        """
        if not hasattr(self, "_buffers"):
            n_runs = len(self.run_seeds)
            self._buffers = self._new_buffers(n_runs)
            self._fills = self._fill_plan(0, n_runs, self._buffers)
        for fill, *args in self._fills:
            fill(*args)
        return self._buffers

    def _tile_draws(self, r0: int, r1: int) -> dict[str, np.ndarray]:
        """This week's draws of runs r0..r1-1 (the compiled path draws tile by tile).

        The same numbers as rows r0..r1-1 of :meth:`_draws`, into buffers shared by
        the tiles of one size (a tile's draws are used up before the next is drawn).
        """
        plans = self.__dict__.setdefault("_tile_plans", {})
        plan = plans.get(r0)
        if plan is None:
            by_size = self.__dict__.setdefault("_tile_buffers", {})
            if r1 - r0 not in by_size:
                by_size[r1 - r0] = self._new_buffers(r1 - r0)
            plan = plans[r0] = (by_size[r1 - r0], self._fill_plan(r0, r1, by_size[r1 - r0]))
        for fill, *args in plan[1]:
            fill(*args)
        return plan[0]

    def _new_buffers(self, n_runs: int) -> dict[str, np.ndarray]:
        return {name: np.empty((n_runs, *shape)) for name, shape in self._draw_shapes().items()}

    def _fill_plan(self, r0: int, r1: int, buffers: dict[str, np.ndarray]) -> list[tuple]:
        """The calls that fill ``buffers`` with the draws of runs r0..r1-1, stream by stream.

        One compiled call fills every stream's block for every run from the runs' own
        generators (:func:`sim.core.rng_kernels.fill_streams`, numba's ``Generator``
        methods: the same numbers as numpy's); where a generator is not one numba can
        take (not a PCG64), one bound ``Generator`` method per run and stream instead.
        """
        native = {name: rng_kernels.generator_list(self._streams[name][r0:r1]) for name in buffers}
        if all(g is not None for g in native.values()):
            flat = {name: buffer.reshape(r1 - r0, -1) for name, buffer in buffers.items()}
            uniform = [name for name in buffers if name not in NORMAL_STREAMS]
            normal = [name for name in buffers if name in NORMAL_STREAMS]
            return [
                (
                    rng_kernels.fill_streams,
                    rng_kernels.typed_list([native[n] for n in uniform]),
                    rng_kernels.typed_list([flat[n] for n in uniform]),
                    rng_kernels.typed_list([native[n] for n in normal]),
                    rng_kernels.typed_list([flat[n] for n in normal]),
                )
            ]
        fills: list[tuple] = []
        for name, buffer in buffers.items():
            fills.extend(
                (partial(g.standard_normal if name in NORMAL_STREAMS else g.random, out=row),)
                for g, row in zip(self._streams[name][r0:r1], buffer, strict=True)
            )
        return fills

    def stage(self) -> np.ndarray:
        """Current Andresen stage index of every user, (R, N)."""
        return recovery_stage(personal_recovery(self.state))

    def step(self) -> None:
        """Advance every run by one week (the schedule of docs/ODD.md §3)."""
        self._compiled.step(self.state, self._tile_draws)

    def apply(self, changes: Sequence[ScheduledChange]) -> None:
        """Apply scheduled changes from the next step on (every run)."""
        if any(change.changes_world for change in changes):
            self.world = changed_world(self.world, changes)
            self._compiled.set_world(self.world)
        for change in changes:
            if not change.changes_world:
                self._compiled.set_unit_value(change.key, change.units, change.value)


@dataclass
class BatchResult:
    """Weekly metrics of a batch and its final state.

    Attributes:
        metrics: Metric name -> array (R, len(weeks)): the value at each recorded week.
        final: The state after the last week.
        agent_series: Optional per-user series: name -> (R, len(weeks), N).
        weeks: The recorded weeks (0 is the entry state).
    """

    metrics: dict[str, np.ndarray]
    final: State
    agent_series: dict[str, np.ndarray]
    weeks: np.ndarray


def run_batch(
    world: World,
    param_sets: Sequence[Mapping[str, float]],
    run_seeds: Sequence[RunSeed],
    weeks: int,
    *,
    agent_series: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    record_weeks: Sequence[int] | None = None,
    schedule: Sequence[ScheduledChange] = (),
) -> BatchResult:
    """Run a batch for ``weeks`` weeks and record weekly metrics.

    A batch of more than :data:`SUB_BATCH_AGENTS` users is run as consecutive
    sub-batches of whole runs, each to the horizon, so that a sub-batch's state
    stays in the CPU caches from week to week; a sub-batch also ends where
    ``initial_ties_cap`` changes (it fixes an array shape, so a :class:`Simulation`
    needs one value). Runs are independent (each has its own streams), so the
    result is the same as one batch's.

    Args:
        world: Sites, teams and offers shared by the batch.
        param_sets: One full parameter mapping per run.
        run_seeds: One seed triple per run.
        weeks: Horizon in weeks (>= 1).
        agent_series: Per-user quantities to record every week (``personal_recovery``,
            ``employed``, ``hope``, ...), for pathway plots and tests.
        progress: Called with 1 each time another 1/``weeks`` of the batch's
            work is done (``weeks`` calls in all; a progress bar's ``update``).
        record_weeks: Weeks at which to record metrics and agent series
            (default: every week from 0 to ``weeks``). Recording fewer weeks
            makes long sweeps cheaper; the dynamics are the same.
        schedule: Site and team settings that change at given weeks
            (:mod:`sim.core.schedule`); a change at week w is applied just before
            the step into week w.

    Returns:
        The :class:`BatchResult`.
    """
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
        raise ValueError(f"weeks must be a whole number >= 1, got {weeks!r}")
    recorded = np.arange(weeks + 1) if record_weeks is None else np.unique(record_weeks)
    if recorded.size == 0 or recorded[0] < 0 or recorded[-1] > weeks:
        raise ValueError(f"record_weeks must lie in 0..{weeks}, got {list(recorded)}")
    if len(param_sets) != len(run_seeds) or not param_sets:
        raise ValueError("need one parameter set per run seed, and at least one run")
    check_schedule(schedule, weeks)
    per_part = max(1, SUB_BATCH_AGENTS // max(world.n_agents, 1))
    bounds = [
        (r0, min(r0 + per_part, end))
        for start, end in shared_shape_segments(param_sets)
        for r0 in range(start, end, per_part)
    ]
    ticks = _ProgressTicks(progress, len(bounds))
    parts = [
        _run_part(
            world,
            param_sets[r0:r1],
            run_seeds[r0:r1],
            weeks,
            recorded,
            agent_series,
            ticks,
            schedule,
        )
        for r0, r1 in bounds
    ]
    if len(parts) == 1:
        return parts[0]
    return BatchResult(
        metrics={
            name: np.concatenate([part.metrics[name] for part in parts])
            for name in parts[0].metrics
        },
        final=concatenate([part.final for part in parts]),
        agent_series={
            name: np.concatenate([part.agent_series[name] for part in parts])
            for name in agent_series
        },
        weeks=recorded,
    )


def shared_shape_segments(param_sets: Sequence[Mapping[str, float]]) -> list[tuple[int, int]]:
    """Runs r0..r1-1 of consecutive runs that one :class:`Simulation` can hold, in order.

    A segment ends where ``initial_ties_cap`` changes: it fixes the shape of the
    entry draws, so a :class:`Simulation` needs one value
    (:class:`sim.core.network.BatchParameterError` otherwise).
    """
    caps = [float(ps["initial_ties_cap"]) for ps in param_sets]
    starts = [0, *(r for r in range(1, len(caps)) if caps[r] != caps[r - 1]), len(caps)]
    return list(pairwise(starts))


class _ProgressTicks:
    """Turns the weeks of ``n_parts`` sub-batches into one ``progress(1)`` per week of the batch.

    The call for week w comes when ``n_parts`` sub-batch weeks more have been done.
    """

    def __init__(self, progress: Callable[[int], None] | None, n_parts: int) -> None:
        self.progress, self.n_parts = progress, n_parts
        self.done = self.reported = 0

    def week_done(self) -> None:
        if self.progress is None:
            return
        self.done += 1
        while self.reported < self.done // self.n_parts:
            self.reported += 1
            self.progress(1)


def _run_part(
    world: World,
    param_sets: Sequence[Mapping[str, float]],
    run_seeds: Sequence[RunSeed],
    weeks: int,
    recorded: np.ndarray,
    agent_series: Sequence[str],
    ticks: _ProgressTicks,
    schedule: Sequence[ScheduledChange] = (),
) -> BatchResult:
    """One sub-batch of :func:`run_batch`, every week to the horizon."""
    simulation = Simulation(world, param_sets, run_seeds)
    # one (M, R) table per recorded week, written in place
    table = np.empty((recorded.size, len(METRICS), simulation.state.shape[0]))
    series: dict[str, list[np.ndarray]] = {name: [] for name in agent_series}
    row = 0
    for week in range(weeks + 1):
        if week > 0:
            simulation.apply(changes_at(schedule, week))
            simulation.step()
            ticks.week_done()
        if row < recorded.size and week == recorded[row]:
            metrics_table(simulation, table[row])
            row += 1
            for name in agent_series:
                series[name].append(agent_value(simulation.state, name))
    metrics = dict(zip(METRICS, np.ascontiguousarray(table.transpose(1, 2, 0)), strict=True))
    stacked = {name: np.stack(values, axis=1) for name, values in series.items()}
    return BatchResult(
        metrics=metrics, final=simulation.state, agent_series=stacked, weeks=recorded
    )


def agent_value(state: State, name: str) -> np.ndarray:
    """One per-user quantity of the state by name, (R, N)."""
    if name == "personal_recovery":
        return personal_recovery(state)
    if name == "stage":
        return recovery_stage(personal_recovery(state))
    if name == "social_inclusion":
        return social_inclusion(state)
    if name in state.process:
        return state.process[name].copy()
    value = getattr(state, name, None)
    if not isinstance(value, np.ndarray) or value.shape != state.shape:
        raise ValueError(f"no per-user quantity {name!r}")
    return value.copy()
