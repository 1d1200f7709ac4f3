"""The weekly step (docs/ODD.md §3) on the compiled drivers, tile of runs by tile.

:class:`CompiledStep` holds what the drivers need that never changes within a
batch (the per-run parameter record, site and team values, offer lists, the
community layout, scratch
buffers) and runs the week tile of runs by tile: the draws (the runs' numpy
generators, called from compiled code by :mod:`sim.core.rng_kernels`), the three
``exp`` calls in numpy, and the compiled drivers (:mod:`sim.core.service_kernels`,
:mod:`sim.core.kernels`, :mod:`sim.core.network_kernels`) for the rest. The rules they apply are in
:mod:`sim.core.rules`; there is no other implementation of the step.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sim.core import kernels
from sim.core.kernels import GROUP_INTERVENTIONS, PROFILE
from sim.core.network import group_layout
from sim.core.network_kernels import network_week
from sim.core.service_kernels import admit_limited, first_jobs, service_week, train_staff, uptake
from sim.core.state import PROCESS_NAMES, BatchParams, State
from sim.core.world import World

__all__ = ["CompiledStep"]

# users per tile of runs: 16 runs of 1,000 users ran fastest per agent-step in
# benchmarks/bench_core.py (64 and 256 x 1,000 ran ~20% slower untiled: the arrays left the caches)
TILE_AGENTS = 16_384
# the state's (R, ...) arrays the kernels read or update in place, sliced per tile
_STATE_NAMES = (
    "motivation",
    "motivation_baseline",
    "motivation_entry",
    "severity",
    "severity_baseline",
    "self_stigma",
    "self_stigma_baseline",
    "self_stigma_entry",
    "work_history",
    "employed",
    "ever_employed",
    "weeks_employed",
    "housed",
    "weeks_housed",
    "functioning",
    "connectedness",
    "in_relapse",
    "relapses",
    "in_hospital",
    "admissions",
    "compulsory_admissions",
    "bed_weeks",
    "enrolled",
    "waiting",
    "wait_since",
    "weeks_in",
    "completed",
    "dropped",
    "priority",
    "doses",
    "referral_week",
    "exit_week",
    "exit_reason",
    "first_job_week",
    "flow",
)
_STATE_ARRAYS = operator.attrgetter(*_STATE_NAMES)


# the per-team and per-site arrays of the step, in the kernels' order; then the housing shift
_BY_UNIT = ("fidelity", "usual_care_contact", "unemployment_rate", "public_stigma")
_HOUSING_SHIFT = len(_BY_UNIT)


def _housing_site_shift(bp: BatchParams) -> np.ndarray:
    """The availability term of the housing log-odds at each site, (R, S) (ODD §7.8).

    elasticity x log(availability / reference) (``housing_availability_elasticity``,
    ``reference_housing_availability``), evaluated in numpy.
    """
    availability = bp.site_values["housing_availability"] / bp.reference_housing_availability
    return bp.housing_availability_elasticity * np.log(availability)


def _community_layout(world: World, n_runs: int) -> tuple[np.ndarray, ...]:
    """Each site's members in the order of :func:`sim.core.network.group_layout`.

    Returns the order and, per flat (run, user), its group's start and size and
    its position in the group.
    """
    site_group = (
        np.arange(n_runs)[:, None] * len(world.sites) + world.site_of_agent[None, :]
    ).reshape(-1)
    size = site_group.shape[0]
    start, count, position = (np.zeros(size, dtype=np.int64) for _ in range(3))
    layout = group_layout(site_group)
    if layout is None:
        return np.arange(size, dtype=np.int64), start, count, position
    order, member_start, member_size, member_position = layout
    start[order], count[order], position[order] = member_start, member_size, member_position
    return order.astype(np.int64), start, count, position


@dataclass(frozen=True)
class _TileArguments:
    """One tile's kernel arguments, in call order, without those that change every week."""

    service: tuple
    uptake: tuple
    admit: tuple
    processes_head: tuple
    processes_tail: tuple
    exponentials: tuple
    outcomes_head: tuple
    outcomes_tail: tuple
    network_head: tuple
    first_jobs: tuple


class _WorldTables:
    """What the kernels read of a world, as index lists; built once per world object.

    Batches on the same :class:`~sim.core.world.World` object (``run_batch``'s
    sub-batches, repeated runs of one world) share them; the kernels only read
    them. A copy of the world's arrays is kept so that a world edited in place
    is seen (:func:`_world_tables` rebuilds the tables).
    """

    def __init__(self, world: World) -> None:
        n_agents = world.n_agents
        self.source = tuple(np.array(x, copy=True) for x in _world_arrays(world))
        self.limited = (world.capacity >= 0).any(axis=0)
        self.any_limited = bool(self.limited.any())
        self.any_training = bool(world.staff_training.any())
        self.team_of_agent = np.ascontiguousarray(world.team_of_agent, dtype=np.int64)
        self.site_of_agent = np.ascontiguousarray(world.site_of_agent, dtype=np.int64)
        agent, k = np.nonzero(world.offered)  # row-major: by user, then intervention
        self.offer_k = k.astype(np.int64)
        self.offer_ptr = np.r_[0, np.cumsum(np.bincount(agent, minlength=n_agents))]
        # users offered each intervention: k_agents[k_ptr[k]:k_ptr[k + 1]], ascending
        by_k = [np.flatnonzero(world.offered[:, k]) for k in range(world.offered.shape[1])]
        self.offered_to = (
            np.r_[0, np.cumsum([len(x) for x in by_k])].astype(np.int64),
            np.concatenate(by_k).astype(np.int64),
        )
        self.capacity = np.ascontiguousarray(world.capacity, dtype=np.int64)
        self.n_offered = int(world.offered.sum())
        # _community_layout by number of runs, filled as tiles of each size appear
        self.community_layouts: dict[int, tuple[np.ndarray, ...]] = {}


_TABLES: weakref.WeakKeyDictionary[World, _WorldTables] = weakref.WeakKeyDictionary()


def _world_arrays(world: World) -> tuple[np.ndarray, ...]:
    return (
        world.team_of_agent,
        world.offered,
        world.capacity,
        world.staff_training,
        world.training_starts,
    )


def _world_tables(world: World) -> _WorldTables:
    tables = _TABLES.get(world)
    if tables is None or not all(map(np.array_equal, _world_arrays(world), tables.source)):
        tables = _TABLES[world] = _WorldTables(world)
    return tables


class _Scratch:
    """Per-tile working arrays of the kernels, for a tile of ``n_runs`` runs."""

    def __init__(self, world: World, n_runs: int, n_agents: int, n_user: int) -> None:
        names = ("engaged", "peer_signal", "job_shift", "relapse_exponent", "housing_shift")
        self.arrays = {name: np.empty((n_runs, n_agents)) for name in names}
        # 0/1 flags and their tallies over ties, small to stay in cache (random access)
        self.arrays["advanced"] = np.empty((n_runs, n_agents), dtype=np.uint8)
        self.arrays["advanced_count"] = np.empty((n_runs, n_agents), dtype=np.int32)
        self.planes = np.empty((kernels.N_PLANES, n_runs, n_agents))
        self.was_enrolled = np.empty((n_runs, n_agents, n_user), dtype=bool)
        self.queues = np.zeros((2, n_runs, *world.capacity.shape), dtype=np.int64)
        self.no_exit = np.ones((n_runs, n_agents))  # a closed cohort's exit draws (unused)
        layouts = _world_tables(world).community_layouts
        if n_runs not in layouts:
            layouts[n_runs] = _community_layout(world, n_runs)
        self.community = layouts[n_runs]


class CompiledStep:
    """One batch's weekly step on the kernels (state updated in place).

    The batch is stepped in tiles of runs (every phase of a week for one tile,
    then the next), so that a tile's arrays stay in the CPU caches however many
    runs the batch holds; runs are independent, so tiling changes no result.

    Args:
        world: The batch's world.
        bp: Its parameters.
        state: Its state; the process and baseline dicts are re-pointed at
            views of one (R, 6, N) block each, which the kernels update in place.
        tile_runs: Runs per tile (default: about :data:`TILE_AGENTS` users per tile).
    """

    def __init__(
        self, world: World, bp: BatchParams, state: State, tile_runs: int | None = None
    ) -> None:
        n_runs, n_agents = state.shape
        self.world, self.bp = world, bp
        self.tile_runs = min(n_runs, tile_runs or max(1, TILE_AGENTS // n_agents))
        self.tiles = [
            (r0, min(r0 + self.tile_runs, n_runs)) for r0 in range(0, n_runs, self.tile_runs)
        ]
        self.prm = kernels.run_parameters(bp.registry_values)
        self.durations = np.ascontiguousarray(bp.duration_weeks().reshape(n_runs, -1))
        tables = _world_tables(world)
        self.team_of_agent, self.site_of_agent = tables.team_of_agent, tables.site_of_agent
        self._use_offers(tables)
        self.group_ks = np.array(GROUP_INTERVENTIONS, dtype=np.int64)
        self.by_unit = [
            np.array(bp.team_values[key] if key in bp.team_values else bp.site_values[key])
            for key in _BY_UNIT
        ]
        self.by_unit.append(np.ascontiguousarray(_housing_site_shift(bp)))
        self.links = kernels.link_weights(bp.registry_values)
        n_user = world.offered.shape[1]
        self._scratch = {
            r1 - r0: _Scratch(world, r1 - r0, n_agents, n_user) for r0, r1 in self.tiles
        }
        self.attitudes = np.empty(state.attitudes.shape)  # C order, one compiled signature
        self._blocks: dict[str, tuple[np.ndarray, tuple[np.ndarray, ...]]] = {}
        self._arguments: dict[int, tuple[tuple, _TileArguments]] = {}

    def set_world(self, world: World) -> None:
        """Step on ``world`` from now on: new offers or places (same users, sites, teams)."""
        self.world = world
        self._use_offers(_world_tables(world))
        self._arguments = {}  # the tiles' cached arguments point at the old tables

    def _use_offers(self, tables: _WorldTables) -> None:
        """Who is offered what, the places and training per team, from a world's tables."""
        self.limited, self.any_limited = tables.limited, tables.any_limited
        self.any_training = tables.any_training
        self.offer_k, self.offer_ptr, self.offered_to = (
            tables.offer_k,
            tables.offer_ptr,
            tables.offered_to,
        )
        self.capacity, self.n_offered = tables.capacity, tables.n_offered

    def set_unit_value(self, key: str, units: Sequence[int], value: float) -> None:
        """Set a site's or team's ``key`` to ``value`` in every run, from the next step on.

        ``key`` is one of :data:`sim.core.schedule.SCHEDULABLE`; ``units`` are the sites'
        (or teams') indices. The batch's tables and the step's arrays, which the tile
        arguments view, are updated in place.
        """
        columns = list(units)
        table = self.bp.site_values if key in self.bp.site_values else self.bp.team_values
        table[key][:, columns] = value
        if key == "housing_availability":
            self.by_unit[_HOUSING_SHIFT][:, columns] = _housing_site_shift(self.bp)[:, columns]
        else:
            self.by_unit[_BY_UNIT.index(key)][:, columns] = value

    def __getstate__(self) -> dict:
        """Pickle and copy without the caches of views into the state.

        A copy's arrays are new objects (views come back as separate arrays), so
        the copy rebuilds its blocks and tile arguments from its own state.
        """
        state = self.__dict__.copy()
        state["_blocks"], state["_arguments"] = {}, {}
        return state

    def _block(self, state: State, name: str) -> np.ndarray:
        """The (R, 6, N) block behind ``state.<name>`` (process or baseline).

        Rebuilt if anyone replaced an entry since the last week. (The cache holds
        the entries themselves, so an identity test cannot be fooled by a reused id.)
        """
        values = getattr(state, name)
        entries = tuple(map(values.__getitem__, PROCESS_NAMES))
        cached = self._blocks.get(name)
        if cached is not None and all(map(operator.is_, entries, cached[1])):
            return cached[0]
        block = np.stack(entries, axis=1)
        for index, key in enumerate(PROCESS_NAMES):
            values[key] = block[:, index]
        self._blocks[name] = (block, tuple(map(values.__getitem__, PROCESS_NAMES)))
        return block

    def process_block(self, state: State) -> np.ndarray:
        """The (R, 6, N) block of ``state.process`` (axis 1 in ``PROCESS_NAMES`` order)."""
        return self._block(state, "process")

    def step(self, state: State, tile_draws: Callable[[int, int], dict[str, np.ndarray]]) -> None:
        """Advance every run by one week (docs/ODD.md §3), as ``Simulation.step``.

        ``tile_draws(r0, r1)`` gives the week's draws of runs r0..r1-1.
        """
        process, baseline = self._block(state, "process"), self._block(state, "baseline")
        entry = self._block(state, "entry")
        if self.any_training:
            bp = self.bp
            state.attitudes = np.empty_like(state.attitudes_baseline)
            train_staff(
                state.week,
                bp.staff_training_weeks[:, 0],
                bp.staff_training_attitude_gain[:, 0],
                bp.team_values["staff_training_participation"],
                self.world.staff_training,
                self.world.training_starts,
                state.attitudes_baseline,
                state.attitudes,
            )
        self.attitudes[...] = state.attitudes
        state.flow[...] = 0.0
        network = state.network
        degree = network.degree()
        if len(self.tiles) == 1:
            edges = (0, network.run.shape[0])
        else:
            edges = np.searchsorted(network.run, [r0 for r0, _ in self.tiles] + [state.shape[0]])
        arrays = _STATE_ARRAYS(state)
        new_ties = []
        for index, (r0, r1) in enumerate(self.tiles):
            e0, e1 = edges[index], edges[index + 1]
            ties = (
                network.run[e0:e1] - r0 if r0 else network.run[e0:e1],
                network.a[e0:e1],
                network.b[e0:e1],
            )
            draws = tile_draws(r0, r1)
            run, a, b, new_degree = self._step_tile(
                self._tile_arguments(index, arrays, draws, process, baseline, entry),
                state.week,
                ties,
                degree[r0:r1],
            )
            new_ties.append((run + r0 if r0 else run, a, b, new_degree))
        if len(new_ties) == 1:
            network.replace(*new_ties[0])
        else:
            network.replace(*(np.concatenate(parts) for parts in zip(*new_ties, strict=True)))
        state.week += 1

    def _tile_arguments(
        self,
        index: int,
        arrays: tuple[np.ndarray, ...],
        draws: dict[str, np.ndarray],
        process: np.ndarray,
        baseline: np.ndarray,
        entry: np.ndarray,
    ) -> _TileArguments:
        """The kernel arguments of tile ``index`` that are the same objects week to week.

        Built on the first week and again whenever any of the state's arrays,
        draw buffers or blocks behind them was replaced (identity test on the
        objects, which the cache holds), so slicing is not paid every week.
        """
        key = (*arrays, *draws.values(), process, baseline, entry)
        cached = self._arguments.get(index)
        if cached is not None and all(map(operator.is_, key, cached[0])):
            return cached[1]
        r0, r1 = self.tiles[index]
        tile = slice(r0, r1)
        v = dict(zip(_STATE_NAMES, (x[tile] for x in arrays), strict=True))
        work = self._scratch[r1 - r0]
        s, prm = work.arrays, self.prm[tile]
        process, baseline, entry = process[tile], baseline[tile], entry[tile]
        arguments = _TileArguments(
            service=(
                prm,
                None,
                self.world.service is not None,
                self.offer_ptr,
                self.offer_k,
                v["motivation"],
                process,
                v["self_stigma"],
                v["connectedness"],
                v["employed"],
                draws.get("exit", work.no_exit),
                v["referral_week"],
                v["exit_week"],
                v["exit_reason"],
                v["first_job_week"],
                v["enrolled"],
                v["waiting"],
                v["dropped"],
                v["wait_since"],
                v["flow"],
            ),
            uptake=(
                prm,
                None,
                self.offer_ptr,
                self.offer_k,
                self.limited,
                self.team_of_agent,
                v["motivation"],
                process,
                draws["engagement"],
                v["enrolled"],
                v["waiting"],
                v["completed"],
                v["dropped"],
                v["wait_since"],
                v["weeks_in"],
                work.was_enrolled,
                s["engaged"],
                work.queues,
                v["referral_week"],
                v["exit_week"],
                v["flow"],
            ),
            admit=(
                None,
                self.capacity,
                self.limited,
                *self.offered_to,
                self.team_of_agent,
                work.queues,
                v["priority"],
                v["wait_since"],
                v["enrolled"],
                v["waiting"],
                v["weeks_in"],
                v["flow"],
            ),
            processes_head=(
                prm,
                PROFILE,
                self.links[tile],
                self.offer_ptr,
                self.offer_k,
                self.team_of_agent,
                self.site_of_agent,
                self.attitudes[tile],
                *(values[tile] for values in self.by_unit),
                v["enrolled"],
                v["completed"],
                s["engaged"],
                process,
                baseline,
                entry,
                v["connectedness"],
                v["self_stigma"],
                v["self_stigma_baseline"],
                v["self_stigma_entry"],
                v["employed"],
                v["housed"],
                v["motivation"],
                v["severity"],
                v["work_history"],
                draws["noise"],
            ),
            processes_tail=(
                s["advanced"],
                s["advanced_count"],
                s["peer_signal"],
                work.planes,
                v["doses"],
                s["job_shift"],
                s["relapse_exponent"],
                s["housing_shift"],
            ),
            exponentials=(s["job_shift"], s["relapse_exponent"], s["housing_shift"]),
            outcomes_head=(
                prm,
                self.durations[tile],
                self.offer_ptr,
                self.offer_k,
                v["enrolled"],
                work.was_enrolled,
                s["engaged"],
                draws["engagement"],
                draws["employment"],
                draws["housing"],
                draws["relapse"],
                draws["noise"],
                s["job_shift"],
                s["relapse_exponent"],
                s["housing_shift"],
                process,
                baseline,
                v["motivation"],
                v["motivation_baseline"],
                v["motivation_entry"],
                v["severity"],
                v["severity_baseline"],
                v["employed"],
                v["ever_employed"],
                v["weeks_employed"],
                v["housed"],
                v["weeks_housed"],
                v["in_relapse"],
                v["relapses"],
                v["in_hospital"],
                v["admissions"],
                v["compulsory_admissions"],
                v["bed_weeks"],
                v["functioning"],
            ),
            outcomes_tail=(v["weeks_in"], v["completed"], v["dropped"], work.planes),
            network_head=(
                v["enrolled"],
                self.group_ks,
                *self.offered_to,
                self.team_of_agent,
                len(self.world.teams),
                *work.community,
                draws["network"],
                prm,
            ),
            first_jobs=(
                None,
                v["referral_week"],
                v["exit_week"],
                v["employed"],
                v["first_job_week"],
                v["flow"],
            ),
        )
        self._arguments[index] = (key, arguments)
        return arguments

    def _step_tile(
        self, a: _TileArguments, week: int, ties: tuple[np.ndarray, ...], degree: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """One week of one tile's runs; returns their new ties (tile-relative runs)."""
        service_week(a.service[0], week, *a.service[2:])
        uptake(a.uptake[0], week, *a.uptake[2:])
        if self.any_limited:
            admit_limited(week, *a.admit[1:])
        kernels.processes(*a.processes_head, *ties, degree, *a.processes_tail)
        for values in a.exponentials:
            np.exp(values, out=values)
        kernels.outcomes(*a.outcomes_head, *a.outcomes_tail)
        first_jobs(week, *a.first_jobs[1:])
        return network_week(*a.network_head, *ties)
