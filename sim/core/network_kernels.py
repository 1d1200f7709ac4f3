"""The network as compiled drivers (docs/ODD.md §3 step 9, §5): entry network, weekly update.

Each week ties form in every group intervention and in the community, the union
is merged into the sorted edge list (keys sorted by (run, a, b)), and ties lapse.
The per-tie rules (:func:`~sim.core.rules.partner_offset`,
:func:`~sim.core.rules.tie_lapses`) are in :mod:`sim.core.rules`.
"""

from __future__ import annotations

import numpy as np

from sim.core import rules
from sim.core.kernels import _jit

__all__ = ["network_week"]


@_jit
def _tie_key(run, a, b, n_agents):
    lo, hi = min(a, b), max(a, b)
    return (run * n_agents + lo) * n_agents + hi


@_jit
def _group_ties(
    enrolled,
    k,
    agents,
    team_of_agent,
    n_teams,
    u_form,
    u_partner,
    prm,
    members,
    count,
    position,
    order,
    keys,
    n_keys,
):
    """Ties formed in one group intervention this week (ODD §7.13), as keys.

    Members of a group are the users of one run and team enrolled in ``k``,
    ordered by user index as numpy's stable argsort orders them; only the
    users offered ``k`` (``agents``, ascending) can be enrolled.
    """
    n_runs, n_agents = u_form.shape
    for r in range(n_runs):
        n_members = 0
        count[: n_teams + 1] = 0
        for i in agents:
            if enrolled[r, i, k]:
                members[n_members] = i
                n_members += 1
                count[team_of_agent[i] + 1] += 1
        for t in range(n_teams):
            count[t + 1] += count[t]
        for m in range(n_members):  # counting sort by team, stable in user index
            t = team_of_agent[members[m]]
            position[m] = count[t]
            order[count[t]] = members[m]
            count[t] += 1
        for m in range(n_members):  # count[t] is now the end of team t's block
            i = members[m]
            t = team_of_agent[i]
            begin = count[t - 1] if t > 0 else 0
            size = count[t] - begin
            if size < 2 or not u_form[r, i] < prm[r].tie_formation_probability_per_week:
                continue
            pick = rules.partner_offset(u_partner[r, i], size, position[m] - begin)
            keys[n_keys] = _tie_key(r, i, order[begin + pick], n_agents)
            n_keys += 1
    return n_keys


@_jit
def _community_ties(u_form, u_partner, prm, c_order, c_start, c_size, c_position, keys, n_keys):
    """Ties formed within each site this week, from the site's fixed member layout."""
    n_runs, n_agents = u_form.shape
    for r in range(n_runs):
        for i in range(n_agents):
            j = r * n_agents + i
            size = c_size[j]
            if size < 2 or not u_form[r, i] < prm[r].community_tie_probability_per_week:
                continue
            pick = rules.partner_offset(u_partner[r, i], size, c_position[j])
            keys[n_keys] = _tie_key(r, i, c_order[c_start[j] + pick] - r * n_agents, n_agents)
            n_keys += 1
    return n_keys


@_jit
def network_week(
    enrolled,
    group_ks,
    k_ptr,
    k_agents,
    team_of_agent,
    n_teams,
    c_order,
    c_start,
    c_size,
    c_position,
    u_network,
    prm,
    run,
    a,
    b,
):
    """Form group and community ties, merge them into the network and let ties lapse.

    New ties from each group intervention (``group_ks``; users offered k are
    ``k_agents[k_ptr[k]:k_ptr[k + 1]]``) and from the
    community (fixed layout by site: ``c_order`` and, per flat user, the start
    and size of its group and its position in it), added as a sorted set of
    (run, a, b) keys, then each tie kept when frac(u_a + u_b) is at least the
    decay probability. ``run, a, b`` must be sorted by key (the network's
    invariant). Returns the new (run, a, b) and the degree (R, N).
    """
    n_runs, n_agents = enrolled.shape[0], enrolled.shape[1]
    n_groups = len(group_ks)
    keys = np.empty((n_groups + 1) * n_runs * n_agents, dtype=np.int64)
    members = np.empty(n_agents, dtype=np.int64)
    position = np.empty(n_agents, dtype=np.int64)
    order = np.empty(n_agents, dtype=np.int64)
    count = np.empty(n_teams + 1, dtype=np.int64)
    n_keys = 0
    for q in range(n_groups):
        k = group_ks[q]
        n_keys = _group_ties(
            enrolled,
            k,
            k_agents[k_ptr[k] : k_ptr[k + 1]],
            team_of_agent,
            n_teams,
            u_network[:, 2 * q],
            u_network[:, 2 * q + 1],
            prm,
            members,
            count,
            position,
            order,
            keys,
            n_keys,
        )
    n_draws = u_network.shape[1]
    n_keys = _community_ties(
        u_network[:, n_draws - 3],
        u_network[:, n_draws - 2],
        prm,
        c_order,
        c_start,
        c_size,
        c_position,
        keys,
        n_keys,
    )
    new = np.sort(keys[:n_keys])
    u_decay = u_network[:, n_draws - 1]
    n_old = run.shape[0]
    out_run = np.empty(n_old + n_keys, dtype=np.int64)
    out_a = np.empty_like(out_run)
    out_b = np.empty_like(out_run)
    degree = np.zeros((n_runs, n_agents), dtype=np.int64)
    n2 = n_agents * n_agents
    i_old = i_new = n_out = 0
    last = -1
    old_key = (run[0] * n_agents + a[0]) * n_agents + b[0] if n_old else 0
    while i_old < n_old or i_new < n_keys:  # merge the two sorted lists, dropping repeats
        if i_new >= n_keys or (i_old < n_old and old_key <= new[i_new]):
            key, r, x, y = old_key, run[i_old], a[i_old], b[i_old]
            i_old += 1
            if i_old < n_old:
                old_key = (run[i_old] * n_agents + a[i_old]) * n_agents + b[i_old]
        else:
            key = new[i_new]
            i_new += 1
            if key == last:
                continue
            r, rest = key // n2, key % n2
            x, y = rest // n_agents, rest % n_agents
        if key == last:
            continue
        last = key
        if not rules.tie_lapses(
            u_decay[r, x], u_decay[r, y], prm[r].tie_decay_probability_per_week
        ):
            out_run[n_out], out_a[n_out], out_b[n_out] = r, x, y
            degree[r, x] += 1
            degree[r, y] += 1
            n_out += 1
    return out_run[:n_out], out_a[:n_out], out_b[:n_out], degree


@_jit
def initial_ties(stubs, u, site, order, site_sizes, site_starts, n_runs):
    """The entry network (ODD §5; network.initial_network) from its draws, as sorted (run, a, b).

    ``stubs`` (R, N) ties proposed per user and ``u`` (R, N, S) the partner draws;
    proposal j < stubs[r, i] of user i goes to the member ``floor(u * size)`` of i's
    site (in ``order``). Self-ties and repeats are dropped.
    """
    n_agents, n_slots = u.shape[1], u.shape[2]
    n_users = n_runs * n_agents
    low = np.empty(n_users * n_slots, dtype=np.int64)  # flat (run, lower user) of each tie
    high = np.empty(n_users * n_slots, dtype=np.int64)
    first = np.zeros(n_users + 1, dtype=np.int64)  # ties per lower user, then offsets
    n_props = 0
    for r in range(n_runs):
        for i in range(n_agents):
            size = site_sizes[site[i]]
            for j in range(min(stubs[r, i], n_slots)):
                slot = np.int64(np.floor(u[r, i, j] * size))
                partner = order[site_starts[site[i]] + slot]
                if partner != i:
                    low[n_props] = r * n_agents + min(i, partner)
                    high[n_props] = max(i, partner)
                    first[low[n_props] + 1] += 1
                    n_props += 1
    for f in range(n_users):
        first[f + 1] += first[f]
    bucket = np.empty(n_props, dtype=np.int64)  # partners, grouped by lower user
    fill = first[:n_users].copy()
    for k in range(n_props):
        bucket[fill[low[k]]] = high[k]
        fill[low[k]] += 1
    run = np.empty(n_props, dtype=np.int64)
    a, b = np.empty_like(run), np.empty_like(run)
    n_out = 0
    for f in range(n_users):  # sort each user's few partners, drop repeats: (run, a, b) order
        begin, end = first[f], first[f + 1]
        for k in range(begin + 1, end):
            x, m = bucket[k], k
            while m > begin and bucket[m - 1] > x:
                bucket[m] = bucket[m - 1]
                m -= 1
            bucket[m] = x
        for k in range(begin, end):
            if k == begin or bucket[k] != bucket[k - 1]:
                run[n_out], a[n_out], b[n_out] = f // n_agents, f % n_agents, bucket[k]
                n_out += 1
    return run[:n_out], a[:n_out], b[:n_out]
