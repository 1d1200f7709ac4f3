"""The social network among service users: an undirected edge list over the batch.

Edges are stored as three int64 arrays (run, a, b) with a < b, so a batch of R
networks of N users each is one block-diagonal graph. Aggregations over
neighbours use ``np.bincount`` on the edge list (the same product as a
block-diagonal ``scipy.sparse`` adjacency matrix, without building it each
week); :meth:`Network.adjacency` returns one run's graph as a
``scipy.sparse.csr_array`` for analysis and drawing.

Every random decision draws a fixed-size block per run (one uniform per user per
decision), so the draws an untouched user sees do not depend on how many ties
other users have (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from sim.core.world import World

__all__ = ["MAX_INITIAL_STUBS", "Network", "decay_ties", "form_group_ties", "group_layout",
           "group_ties",
           "initial_network"]

MAX_INITIAL_STUBS = 8  # cap on ties a user proposes at entry (fixed draw size)


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

    def neighbour_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (R, N) over each user's ties, shape (R, N)."""
        fa, fb = self._flat()
        flat = values.reshape(-1).astype(np.float64)
        size = flat.shape[0]
        total = np.bincount(fa, weights=flat[fb], minlength=size)
        total += np.bincount(fb, weights=flat[fa], minlength=size)
        return total.reshape(values.shape)

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

    def replace(self, run: np.ndarray, a: np.ndarray, b: np.ndarray,
                degree: np.ndarray | None = None) -> None:
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
        return cls(sum(part.n_runs for part in parts), parts[0].n_agents, np.concatenate(runs),
                   np.concatenate([part.a for part in parts]),
                   np.concatenate([part.b for part in parts]))

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

    def select_runs(self, runs: np.ndarray) -> Network:
        """A new network holding only ``runs`` (renumbered 0..len-1)."""
        new_index = np.full(self.n_runs, -1, dtype=np.int64)
        new_index[runs] = np.arange(len(runs))
        mine = new_index[self.run] >= 0
        return Network(len(runs), self.n_agents, new_index[self.run[mine]], self.a[mine],
                       self.b[mine])


GroupLayout = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def group_layout(group: np.ndarray) -> GroupLayout | None:
    """Members sorted by group with each one's group start, size and position.

    Computed once for groups that never change (a site's community) and passed
    to :func:`form_group_ties`; None when fewer than two users are in any group.
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


def _partners_in_group(group: np.ndarray, u_partner: np.ndarray,
                       layout: GroupLayout | None = None) -> np.ndarray:
    """For members labelled by ``group`` (-1 = none), a uniformly chosen other member.

    Returns -1 where a member is alone in its group or not in one.
    """
    partner = np.full(group.shape, -1, dtype=np.int64)
    layout = layout if layout is not None else group_layout(group)
    if layout is None:
        return partner
    order, member_start, member_size, position = layout
    pick = np.floor(u_partner[order] * (member_size - 1)).astype(np.int64)
    pick += pick >= position  # skip oneself
    ok = member_size >= 2
    partner[order[ok]] = order[(member_start + pick)[ok]]
    return partner


def group_ties(group_of_agent: np.ndarray, u_form: np.ndarray, u_partner: np.ndarray,
               probability: np.ndarray, layout: GroupLayout | None = None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ties group members form this week: each, with ``probability``, to a co-member.

    Args:
        group_of_agent: Group label per user, (R, N) int; -1 for none. Labels
            must already be unique across runs.
        u_form: Uniform draws deciding whether each member forms a tie, (R, N).
        u_partner: Uniform draws choosing the co-member, (R, N).
        probability: Weekly tie-formation chance, (R, 1).
        layout: The precomputed :func:`group_layout` of ``group_of_agent``, if static.

    Returns:
        (run, a, b) of the new ties, for :meth:`Network.add`.
    """
    n_agents = group_of_agent.shape[1]
    partner = _partners_in_group(group_of_agent.reshape(-1), u_partner.reshape(-1), layout)
    source = np.flatnonzero((partner >= 0) & (u_form < probability).reshape(-1))
    run, a = np.divmod(source, n_agents)
    return run, a, partner[source] - run * n_agents


def form_group_ties(network: Network, group_of_agent: np.ndarray, u_form: np.ndarray,
                    u_partner: np.ndarray, probability: np.ndarray,
                    layout: GroupLayout | None = None) -> None:
    """Add this week's :func:`group_ties` to ``network`` (updated in place)."""
    run, a, b = group_ties(group_of_agent, u_form, u_partner, probability, layout)
    if run.size:
        network.add(run, a, b)


def decay_ties(network: Network, u_decay: np.ndarray, probability: np.ndarray) -> None:
    """Each tie lapses with ``probability`` (R, 1), decided by one uniform per user.

    Tie (a, b) lapses when frac(u_a + u_b) < p: uniform for each tie, and the
    draws are a fixed block per run whatever the number of ties.
    """
    if network.n_edges == 0:
        return
    u = (u_decay[network.run, network.a] + u_decay[network.run, network.b]) % 1.0
    network.keep(u >= probability[network.run, 0])


def initial_network(world: World, ties_mean: np.ndarray,
                    population: list[np.random.Generator], *,
                    build: Callable[..., tuple[np.ndarray, ...]] | None = None) -> Network:
    """Random ties within each site: each user proposes Poisson(mean / 2) ties.

    Each run draws its stub counts and then its partner uniforms from its own
    population stream. ``build`` (the compiled
    :func:`sim.core.network_kernels.initial_ties`) turns the draws into sorted ties; by
    default numpy does, with the same result.
    """
    n_runs, n_agents = len(population), world.n_agents
    site = world.site_of_agent
    order = np.argsort(site, kind="stable")
    site_sizes = np.bincount(site, minlength=len(world.sites))
    site_starts = np.r_[0, np.cumsum(site_sizes)[:-1]]
    stubs = np.empty((n_runs, n_agents), dtype=np.int64)
    u = np.empty((n_runs, n_agents, MAX_INITIAL_STUBS))
    for r, generator in enumerate(population):
        stubs[r] = np.minimum(generator.poisson(ties_mean[r] / 2.0, n_agents), MAX_INITIAL_STUBS)
        generator.random(out=u[r])
    if build is not None:
        return Network(n_runs, n_agents, *build(stubs, u, site, order, site_sizes,
                                                site_starts, n_runs))
    slot = np.floor(u * site_sizes[site][None, :, None]).astype(np.int64)
    partner = order[site_starts[site][None, :, None] + slot]
    use = np.arange(MAX_INITIAL_STUBS)[None, None, :] < stubs[:, :, None]
    run, src, _ = np.nonzero(use)
    network = Network(n_runs, n_agents, *(np.empty(0, dtype=np.int64) for _ in range(3)))
    network.add(run, src, partner[use])
    return network
