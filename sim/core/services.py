"""Service use: offers, uptake, waiting lists and capacity, dropout, completion, staff training.

Steps 1 and 6 of the weekly schedule (docs/ODD.md). Each user makes at most one
engagement decision per offered intervention per week, from one uniform draw:
take up the place (if not yet in it) or drop out (if in it).
"""

from __future__ import annotations

import numpy as np

from sim.core.state import BatchParams, State
from sim.core.world import World

__all__ = ["admit", "disengage_and_complete", "engagement", "train_staff", "uptake"]


def engagement(state: State, bp: BatchParams) -> np.ndarray:
    """Engagement (0-1): motivation x (1 - w + w x trust), shape (R, N)."""
    weight = bp.trust_engagement_weight
    return state.motivation * (1.0 - weight + weight * state.process["trust"])


def uptake(state: State, world: World, bp: BatchParams, u_engage: np.ndarray,
           engaged: np.ndarray) -> None:
    """Users offered a place they are not yet in join its waiting list.

    Args:
        state: Updated in place.
        world: Who is offered what.
        bp: Parameters.
        u_engage: Uniform draws, (R, N, K).
        engaged: Engagement, (R, N).
    """
    free = world.offered[None] & ~(state.enrolled | state.waiting | state.completed | state.dropped)
    chance = bp.uptake_probability_per_week[..., None] * engaged[..., None]
    join = free & (u_engage < chance)
    state.waiting |= join
    state.wait_since[join] = state.week


def admit(state: State, world: World) -> np.ndarray:
    """Admit waiting users to open places, first come first served.

    Ties in waiting time are broken by each user's random priority. Returns the
    mask (R, N, K) of users admitted this week.
    """
    admitted = state.waiting.copy()
    limited = world.capacity >= 0  # (T, K)
    for k in np.flatnonzero(limited.any(axis=0)):
        admitted[:, :, k] = _admit_limited(state, world, k)
    state.enrolled |= admitted
    state.waiting &= ~admitted
    state.weeks_in[admitted] = 0
    return admitted


def _admit_limited(state: State, world: World, k: int) -> np.ndarray:
    """Admission for one intervention when some teams have a limited number of places."""
    n_runs, n_agents = state.shape
    n_teams = len(world.teams)
    group = np.arange(n_runs)[:, None] * n_teams + world.team_of_agent[None, :]  # (R, N)
    occupied = np.bincount(group[state.enrolled[:, :, k]], minlength=n_runs * n_teams)
    places = np.tile(world.capacity[:, k], n_runs)
    open_places = np.where(places < 0, n_agents, np.maximum(places - occupied, 0))
    waiting = np.flatnonzero(state.waiting[:, :, k].reshape(-1))
    admitted = np.zeros(n_runs * n_agents, dtype=bool)
    if waiting.size == 0:
        return admitted.reshape(n_runs, n_agents)
    g = group.reshape(-1)[waiting]
    order = np.lexsort((state.priority.reshape(-1)[waiting],
                        state.wait_since[:, :, k].reshape(-1)[waiting], g))
    sorted_groups = g[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, sorted_groups.size])
    rank = np.arange(sorted_groups.size) - np.repeat(starts, sizes)
    admitted[waiting[order[rank < open_places[sorted_groups]]]] = True
    return admitted.reshape(n_runs, n_agents)


def disengage_and_complete(state: State, bp: BatchParams, u_engage: np.ndarray,
                           was_enrolled: np.ndarray, engaged: np.ndarray) -> None:
    """Participants drop out (more likely when disengaged) or complete their episode.

    Args:
        state: Updated in place.
        bp: Parameters.
        u_engage: The week's engagement draws (R, N, K); only users enrolled
            before this week's uptake use them here, so no draw decides twice.
        was_enrolled: Enrolment at the start of the week, (R, N, K).
        engaged: Engagement, (R, N).
    """
    chance = bp.dropout_probability_per_week[..., None] * (1.0 - engaged[..., None])
    drop = was_enrolled & state.enrolled & (u_engage < chance)
    state.enrolled &= ~drop
    state.dropped |= drop
    state.weeks_in += state.enrolled
    done = state.enrolled & (state.weeks_in >= bp.duration_weeks())
    state.enrolled &= ~done
    state.completed |= done


def train_staff(state: State, world: World, bp: BatchParams) -> None:
    """Trained teams' attitudes rise linearly over the training period toward 1.

    attitudes = baseline + gain x participation x (1 - baseline) x min(1, week / weeks).
    """
    if not world.staff_training.any():
        return
    progress = np.minimum(1.0, state.week / bp.staff_training_weeks)  # (R, 1)
    participation = bp.team_values["staff_training_participation"]  # (R, T)
    rise = bp.staff_training_attitude_gain * participation * progress
    trained = state.attitudes_baseline + rise * (1.0 - state.attitudes_baseline)
    state.attitudes = np.where(world.staff_training[None, :], trained, state.attitudes_baseline)
