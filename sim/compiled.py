"""The weekly step on the compiled kernels of :mod:`sim.kernels`, with the same results.

:class:`CompiledStep` holds what the kernels need that never changes within a
batch (the per-run parameter matrix, site and team values, offer lists, the
community layout, the exponentials of constant log-odds shifts, scratch
buffers) and runs the week tile of runs by tile: the draws (numpy's streams,
advanced by :mod:`sim.rng_kernels`), staff training and the two ``exp`` calls in
numpy as on the numpy path, the kernels for the rest. Select it with
``Simulation(kernels=...)`` or the ``RECOVERY_SIM_KERNELS`` environment variable
(``numba`` or ``numpy``).
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable

import numpy as np

from sim import kernels, services
from sim.dynamics import GROUP_INTERVENTIONS, PROFILE
from sim.network import group_layout
from sim.network_kernels import network_week
from sim.service_kernels import admit_limited, uptake
from sim.state import PROCESS_NAMES, BatchParams, State
from sim.world import World

__all__ = ["KERNEL_CHOICES", "CompiledStep", "resolve_kernels"]

KERNEL_CHOICES = ("auto", "numba", "numpy")
# users per tile of runs: 16 runs of 1,000 users ran fastest per agent-step in
# benchmarks/bench_core.py (64 and 256 x 1,000 ran ~20% slower untiled: the arrays left the caches)
TILE_AGENTS = 16_384
ENVIRONMENT_VARIABLE = "RECOVERY_SIM_KERNELS"


def resolve_kernels(choice: str | None = None) -> str:
    """The kernels a simulation will use: ``"numba"`` or ``"numpy"``.

    Args:
        choice: ``"auto"`` (default: numba when installed), ``"numba"`` or
            ``"numpy"``; None reads ``RECOVERY_SIM_KERNELS`` (default ``auto``).

    Raises:
        ValueError: For an unknown choice, or ``"numba"`` without numba installed.
    """
    source = "kernels"
    if choice is None:
        choice, source = os.environ.get(ENVIRONMENT_VARIABLE, "auto"), ENVIRONMENT_VARIABLE
    if choice not in KERNEL_CHOICES:
        raise ValueError(f"{source} = {choice!r} is invalid; allowed: {', '.join(KERNEL_CHOICES)}")
    if choice == "numba" and not kernels.AVAILABLE:
        raise ValueError(f"{source} = 'numba' but numba is not installed; use 'numpy'")
    if choice == "auto":
        return "numba" if kernels.AVAILABLE else "numpy"
    return choice


def _parameter_matrix(bp: BatchParams) -> np.ndarray:
    """The (R, P) per-run parameters in :data:`sim.kernels.PARAMETER_COLUMNS` order."""
    community = bp.tie_decay_probability_per_week * bp.initial_ties_mean / 2
    columns = []
    for name in kernels.PARAMETER_COLUMNS:
        if name == "community_tie_probability_per_week":
            columns.append(community)
        elif name.startswith("log_"):
            columns.append(np.log(getattr(bp, name.removeprefix("log_"))))
        elif name.startswith("odds_"):  # as sim.dynamics._odds_to_probability computes it
            probability = getattr(bp, name.removeprefix("odds_"))
            columns.append(probability / (1.0 - probability))
        else:
            columns.append(getattr(bp, name))
    return np.ascontiguousarray(np.concatenate(columns, axis=1))


def _housing_exp(bp: BatchParams) -> np.ndarray:
    """Exp of the housing log-odds shift per site without and with Housing First, (2, R, S).

    The same numpy expression as :func:`sim.dynamics.apply_outcomes`, evaluated
    per site (a user's value is its site's) for the two values of its Housing
    First mask.
    """
    availability = bp.site_values["housing_availability"] / 0.5
    shape = availability.shape
    return np.stack([
        np.exp(np.log(availability) + np.log(bp.housing_first_multiplier)
               * np.full(shape, in_hf))
        for in_hf in (False, True)])


def _community_layout(world: World, n_runs: int) -> tuple[np.ndarray, ...]:
    """Each site's members in the order of :func:`sim.network.group_layout`.

    Returns the order and, per flat (run, user), its group's start and size and
    its position in the group.
    """
    site_group = (np.arange(n_runs)[:, None] * len(world.sites)
                  + world.site_of_agent[None, :]).reshape(-1)
    size = site_group.shape[0]
    start, count, position = (np.zeros(size, dtype=np.int64) for _ in range(3))
    layout = group_layout(site_group)
    if layout is None:
        return np.arange(size, dtype=np.int64), start, count, position
    order, member_start, member_size, member_position = layout
    start[order], count[order], position[order] = member_start, member_size, member_position
    return order.astype(np.int64), start, count, position


class _Scratch:
    """Per-tile working arrays of the kernels, for a tile of ``n_runs`` runs."""

    def __init__(self, world: World, n_runs: int, n_agents: int, n_user: int) -> None:
        names = ("engaged", "advanced", "peer_signal", "job_shift", "relapse_exponent")
        self.arrays = {name: np.empty((n_runs, n_agents)) for name in names}
        self.planes = np.empty((kernels.N_PLANES, n_runs, n_agents))
        self.was_enrolled = np.empty((n_runs, n_agents, n_user), dtype=bool)
        self.queues = np.zeros((2, n_runs, *world.capacity.shape), dtype=np.int64)
        self.community = _community_layout(world, n_runs)


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

    def __init__(self, world: World, bp: BatchParams, state: State,
                 tile_runs: int | None = None) -> None:
        n_runs, n_agents = state.shape
        self.world, self.bp = world, bp
        self.tile_runs = min(n_runs, tile_runs or max(1, TILE_AGENTS // n_agents))
        self.tiles = [(r0, min(r0 + self.tile_runs, n_runs))
                      for r0 in range(0, n_runs, self.tile_runs)]
        self.prm = _parameter_matrix(bp)
        self.durations = np.ascontiguousarray(bp.duration_weeks().reshape(n_runs, -1))
        self.limited = (world.capacity >= 0).any(axis=0)
        self.any_limited = bool(self.limited.any())
        self.any_training = bool(world.staff_training.any())
        self.team_of_agent = np.ascontiguousarray(world.team_of_agent, dtype=np.int64)
        agent, k = np.nonzero(world.offered)  # row-major: by user, then intervention
        self.offer_k = k.astype(np.int64)
        self.offer_ptr = np.r_[0, np.cumsum(np.bincount(agent, minlength=n_agents))]
        # users offered each intervention: k_agents[k_ptr[k]:k_ptr[k + 1]], ascending
        by_k = [np.flatnonzero(world.offered[:, k]) for k in range(world.offered.shape[1])]
        self.offered_to = (np.r_[0, np.cumsum([len(x) for x in by_k])].astype(np.int64),
                           np.concatenate(by_k).astype(np.int64))
        self.capacity = np.ascontiguousarray(world.capacity, dtype=np.int64)
        self.group_ks = np.array(GROUP_INTERVENTIONS, dtype=np.int64)
        self.site_of_agent = np.ascontiguousarray(world.site_of_agent, dtype=np.int64)
        self.by_unit = [np.ascontiguousarray(values[key]) for values, key in (
            (bp.team_values, "fidelity"), (bp.team_values, "usual_care_contact"),
            (bp.site_values, "unemployment_rate"), (bp.site_values, "public_stigma"))]
        housing_exp = _housing_exp(bp)
        self.housing_exp = [np.ascontiguousarray(housing_exp[:, r0:r1]) for r0, r1 in self.tiles]
        n_user = world.offered.shape[1]
        self._scratch = {r1 - r0: _Scratch(world, r1 - r0, n_agents, n_user)
                         for r0, r1 in self.tiles}
        self.attitudes = np.empty(state.attitudes.shape)  # C order, one compiled signature
        self.n_offered = int(world.offered.sum())
        self._blocks: dict[str, tuple[np.ndarray, tuple[np.ndarray, ...]]] = {}

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

    def step(self, state: State,
             tile_draws: Callable[[int, int], dict[str, np.ndarray]]) -> None:
        """Advance every run by one week (docs/ODD.md §3), as ``Simulation.step``.

        ``tile_draws(r0, r1)`` gives the week's draws of runs r0..r1-1.
        """
        process, baseline = self._block(state, "process"), self._block(state, "baseline")
        if self.any_training:
            services.train_staff(state, self.world, self.bp)
        self.attitudes[...] = state.attitudes
        network = state.network
        degree = network.degree()
        edges = np.searchsorted(network.run, [r0 for r0, _ in self.tiles] + [state.shape[0]])
        new_ties = []
        for index, (r0, r1) in enumerate(self.tiles):
            tile = slice(r0, r1)
            e0, e1 = edges[index], edges[index + 1]
            ties = (network.run[e0:e1] - r0, network.a[e0:e1], network.b[e0:e1])
            run, a, b, new_degree = self._step_tile(
                state, tile, index, tile_draws(r0, r1), process[tile], baseline[tile],
                ties, degree[tile])
            new_ties.append((run + r0, a, b, new_degree))
        if len(new_ties) == 1:
            network.replace(*new_ties[0])
        else:
            network.replace(*(np.concatenate(parts) for parts in zip(*new_ties, strict=True)))
        state.week += 1

    def _step_tile(self, state: State, tile: slice, index: int, draws: dict[str, np.ndarray],
                   process: np.ndarray, baseline: np.ndarray, ties: tuple[np.ndarray, ...],
                   degree: np.ndarray) -> tuple[np.ndarray, ...]:
        """One week of the runs in ``tile``; returns their new ties (tile-relative runs)."""
        n_runs = tile.stop - tile.start
        work = self._scratch[n_runs]
        s, prm, enrolled = work.arrays, self.prm[tile], state.enrolled[tile]
        uptake(prm, state.week, self.offer_ptr, self.offer_k, self.limited,
               self.team_of_agent, state.motivation[tile], process, draws["engagement"],
               enrolled, state.waiting[tile], state.completed[tile], state.dropped[tile],
               state.wait_since[tile], state.weeks_in[tile], work.was_enrolled, s["engaged"],
               work.queues)
        if self.any_limited:
            admit_limited(self.capacity, self.limited, *self.offered_to, self.team_of_agent,
                          work.queues, state.priority[tile], state.wait_since[tile], enrolled,
                          state.waiting[tile], state.weeks_in[tile])
        kernels.processes(
            prm, PROFILE, self.offer_ptr, self.offer_k, self.team_of_agent, self.site_of_agent,
            self.attitudes[tile], *(values[tile] for values in self.by_unit), enrolled,
            s["engaged"], process, baseline, state.connectedness[tile], state.self_stigma[tile],
            state.self_stigma_baseline[tile], state.employed[tile], state.motivation[tile],
            state.severity[tile], state.work_history[tile], draws["noise"], *ties, degree,
            s["advanced"], s["peer_signal"], work.planes, state.doses[tile], s["job_shift"],
            s["relapse_exponent"])
        np.exp(s["job_shift"], out=s["job_shift"])
        np.exp(s["relapse_exponent"], out=s["relapse_exponent"])
        kernels.outcomes(
            prm, self.durations[tile], self.offer_ptr, self.offer_k, self.site_of_agent,
            enrolled, work.was_enrolled, s["engaged"], draws["engagement"], draws["employment"],
            draws["housing"], draws["relapse"], draws["noise"], s["job_shift"],
            s["relapse_exponent"], self.housing_exp[index], process, baseline,
            state.motivation[tile], state.motivation_baseline[tile], state.severity[tile],
            state.severity_baseline[tile], state.employed[tile], state.ever_employed[tile],
            state.weeks_employed[tile], state.housed[tile], state.weeks_housed[tile],
            state.in_relapse[tile], state.relapses[tile], state.functioning[tile],
            state.connectedness[tile], degree, state.weeks_in[tile], state.completed[tile],
            state.dropped[tile], work.planes)
        return network_week(enrolled, self.group_ks, *self.offered_to, self.team_of_agent,
                            len(self.world.teams), *work.community, draws["network"], prm, *ties)
