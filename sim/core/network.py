"""The social network among service users: an undirected edge list over the batch.

Edges are stored as three int64 arrays (run, a, b) with a < b, sorted, so a batch
of R networks of N users each is one block-diagonal graph; :meth:`Network.adjacency`
returns one run's graph as a ``scipy.sparse.csr_array`` for analysis and drawing.
The weekly network update (ODD §7.13) is the compiled
:func:`sim.core.network_kernels.network_week`; every random decision draws a
fixed-size block per run (one uniform per user per decision), so the draws an
untouched user sees do not depend on how many ties other users have (common
random numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from sim.core.errors import UserError
from sim.core.world import World

__all__ = ["BatchParameterError", "Network", "group_layout", "initial_network"]


class BatchParameterError(UserError):
    """A parameter that fixes an array shape differs between the runs of one batch.

    ``initial_ties_cap`` is the number of partner draws per user at entry, so every
    run of a batch must share it; run batches with different caps separately
    (:func:`sim.core.engine.run_batch` splits a batch where the cap changes).
    """


@dataclass(eq=False)
class Network:
    """Undirected ties within each run of a batch."""

    n_runs: int
    n_agents: int
    run: np.ndarray
    a: np.ndarray
    b: np.ndarray

    @property
    def n_edges(self) -> int:
        """Total number of ties over the batch."""
        return int(self.run.shape[0])

    def _flat(self) -> tuple[np.ndarray, np.ndarray]:
        offset = self.run * self.n_agents
        return offset + self.a, offset + self.b

    def degree(self) -> np.ndarray:
        """Number of ties of each user, shape (R, N) (read-only; cached until ties change)."""
        cached = self.__dict__.get("_degree")
        if cached is None:
            fa, fb = self._flat()
            size = self.n_runs * self.n_agents
            counts = np.bincount(fa, minlength=size) + np.bincount(fb, minlength=size)
            cached = counts.reshape(self.n_runs, self.n_agents)
            cached.flags.writeable = False
            self.__dict__["_degree"] = cached
        return cached

    def add(self, run: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        """Add ties (duplicates and self-ties are dropped)."""
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = lo != hi
        keys = np.concatenate([self._keys(), self._key(run[keep], lo[keep], hi[keep])])
        keys.sort(kind="stable")  # sort + adjacent dedupe: much faster than np.unique here
        if keys.size:
            keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
        n2 = self.n_agents * self.n_agents
        self.run, rest = np.divmod(keys, n2)
        self.a, self.b = np.divmod(rest, self.n_agents)
        self.__dict__.pop("_degree", None)

    def replace(
        self, run: np.ndarray, a: np.ndarray, b: np.ndarray, degree: np.ndarray | None = None
    ) -> None:
        """Replace every tie (sorted by (run, a, b), a < b), optionally with their degree."""
        self.run, self.a, self.b = run, a, b
        self.__dict__.pop("_degree", None)
        if degree is not None:
            degree.flags.writeable = False
            self.__dict__["_degree"] = degree

    @classmethod
    def concatenate(cls, parts: list[Network]) -> Network:
        """The networks of consecutive batches as one batch (runs renumbered in order)."""
        offsets = np.cumsum([0] + [part.n_runs for part in parts[:-1]])
        runs = [part.run + offset for part, offset in zip(parts, offsets, strict=True)]
        return cls(
            sum(part.n_runs for part in parts),
            parts[0].n_agents,
            np.concatenate(runs),
            np.concatenate([part.a for part in parts]),
            np.concatenate([part.b for part in parts]),
        )

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the ties where ``mask`` is true."""
        self.run, self.a, self.b = self.run[mask], self.a[mask], self.b[mask]
        self.__dict__.pop("_degree", None)

    def _key(self, run: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (run * self.n_agents + a) * self.n_agents + b

    def _keys(self) -> np.ndarray:
        return self._key(self.run, self.a, self.b)

    def adjacency(self, run: int = 0) -> sparse.csr_array:
        """One run's symmetric adjacency matrix as ``scipy.sparse.csr_array`` (N x N)."""
        mine = self.run == run
        a, b = self.a[mine], self.b[mine]
        data = np.ones(2 * a.shape[0], dtype=np.int8)
        rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
        return sparse.csr_array((data, (rows, cols)), shape=(self.n_agents, self.n_agents))


GroupLayout = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def group_layout(group: np.ndarray) -> GroupLayout | None:
    """Members sorted by group with each one's group start, size and position.

    Computed once for groups that never change (a site's community, see
    :mod:`sim.core.compiled`); None when fewer than two users are in any group.
    """
    members = np.flatnonzero(group >= 0)
    if members.size < 2:
        return None
    order = members[np.argsort(group[members], kind="stable")]
    labels = group[order]
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    sizes = np.diff(np.r_[starts, labels.size])
    member_start = np.repeat(starts, sizes)
    member_size = np.repeat(sizes, sizes)
    return order, member_start, member_size, np.arange(labels.size) - member_start


def initial_network(
    world: World,
    ties_mean: np.ndarray,
    population: list[np.random.Generator],
    *,
    build: Callable[..., tuple[np.ndarray, ...]],
    ties_cap: np.ndarray | int,
) -> Network:
    """Random ties within each site: each user proposes Poisson(mean / 2) ties (ODD §5).

    Each run draws its stub counts and then its partner uniforms from its own
    population stream; ``build`` (the compiled
    :func:`sim.core.network_kernels.initial_ties`) turns the draws into sorted ties.
    A user proposes at most ``ties_cap`` ties (``initial_ties_cap``, one value per run)
    and always draws ``ties_cap`` partner uniforms, so the cap fixes the draw layout.

    Raises:
        BatchParameterError: If the runs' ``ties_cap`` values differ.
    """
    caps = np.unique(np.asarray(ties_cap, dtype=np.float64))
    if caps.size != 1:
        raise BatchParameterError(
            f"initial_ties_cap must be the same for every run of a batch (it fixes the number "
            f"of partner draws per user); got {sorted(caps.tolist())}: run each value as a "
            "separate batch"
        )
    cap = int(caps[0])
    n_runs, n_agents = len(population), world.n_agents
    site = world.site_of_agent
    order = np.argsort(site, kind="stable")
    site_sizes = np.bincount(site, minlength=len(world.sites))
    site_starts = np.r_[0, np.cumsum(site_sizes)[:-1]]
    stubs = np.empty((n_runs, n_agents), dtype=np.int64)
    u = np.empty((n_runs, n_agents, cap))
    for r, generator in enumerate(population):
        stubs[r] = np.minimum(generator.poisson(ties_mean[r] / 2.0, n_agents), cap)
        generator.random(out=u[r])
    return Network(n_runs, n_agents, *build(stubs, u, site, order, site_sizes, site_starts, n_runs))
