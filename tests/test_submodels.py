"""Unit tests for each submodel of docs/ODD.md §7, on the compiled rules themselves.

A rule of :mod:`sim.core.rules` is a numba function over one user; the tests call
it from plain Python with named inputs. Where a behaviour lives in a driver
(who may join, admission order, completion, doses from enrolment and ties, the
outcome draws, tie formation and decay), the test builds a real
:class:`~sim.core.engine.Simulation`, overwrites the arrays it needs by hand,
runs **one week** with hand-chosen draws (:func:`week`; a uniform of 1 triggers
nothing, normals are 0) and compares against a value computed by hand from the
rule in ODD.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.core import rules
from sim.core.engine import N_NETWORK_DRAWS, Simulation
from sim.core.kernels import GROUP_INTERVENTIONS
from sim.core.logic_model import USER_INTERVENTIONS, mechanism_profile_matrix
from sim.core.network import Network, initial_network
from sim.core.network_kernels import initial_ties
from sim.core.parameters import REGISTRY, validate
from sim.core.rules import personal_recovery, recovery_stage
from sim.core.seeding import RunSeed
from sim.core.world import Site, Team, make_world

PS = USER_INTERVENTIONS.index("peer_support")
SM = USER_INTERVENTIONS.index("self_management")
IPS = USER_INTERVENTIONS.index("supported_employment")
HF = USER_INTERVENTIONS.index("supported_housing")
K = len(USER_INTERVENTIONS)
EPS = 1e-9
EVERYTHING = {name: 1.0 for name in USER_INTERVENTIONS}


def build(n_agents: int, params: dict | None = None, *, runs: int = 1, **world_kwargs):
    """A Simulation of ``runs`` runs of a fresh world, with parameters checked by the registry."""
    world = make_world(n_agents, **world_kwargs)
    param_set = validate(params or {})
    seeds = [RunSeed(7, 0, r) for r in range(runs)]
    return Simulation(world, [param_set] * runs, seeds)


def week(sim: Simulation, **draws: object) -> None:
    """Run one week of ``sim`` with the given draws; the others trigger nothing.

    Uniforms default to 1 (above every chance: nobody joins, drops out, finds or
    loses a job or a home, relapses or recovers; no tie forms, none lapses), normals
    to 0. A value is broadcast to the stream's (R, ...) block.
    """
    n_runs, n_agents = sim.state.shape
    shapes = {
        "engagement": (n_runs, n_agents, K),
        "employment": (n_runs, n_agents),
        "housing": (n_runs, n_agents),
        "relapse": (n_runs, n_agents),
        "noise": (n_runs, n_agents, 3),
        "network": (n_runs, N_NETWORK_DRAWS, n_agents),
    }
    full = {
        name: np.ascontiguousarray(
            np.broadcast_to(
                np.asarray(draws.get(name, 0.0 if name == "noise" else 1.0), dtype=np.float64),
                shape,
            )
        )
        for name, shape in shapes.items()
    }
    assert set(draws) <= set(shapes), set(draws) - set(shapes)
    sim._tile_draws = lambda r0, r1: {name: value[r0:r1] for name, value in full.items()}
    sim.step()


def clear_network(sim: Simulation) -> None:
    sim.state.network.keep(np.zeros(sim.state.network.n_edges, dtype=bool))


def empty_network(n_runs: int, n_agents: int) -> Network:
    return Network(n_runs, n_agents, *(np.empty(0, dtype=np.int64) for _ in range(3)))


def edge_set(network: Network) -> set[tuple[int, int, int]]:
    return set(zip(network.run.tolist(), network.a.tolist(), network.b.tolist(), strict=True))


def still(sim: Simulation) -> None:
    """Processes at their set-points and entry levels, no usual care, no ties: a week
    moves no process (v2: the knowledge gain, self-efficacy's dose, is over the entry
    level, and set-points consolidate toward the level and the entry level)."""
    s = sim.state
    for name in s.process:
        s.baseline[name][:] = s.process[name]
        s.entry[name][:] = s.process[name]
    s.self_stigma_baseline[:] = s.self_stigma
    s.self_stigma_entry[:] = s.self_stigma
    clear_network(sim)


# --------------------------------------------------------------------------- services


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_engagement_is_motivation_times_trust_mix(weight):
    motivation, trust = [0.0, 0.4, 0.8, 1.0], [0.5, 0.0, 0.25, 1.0]
    expected = [0.0, 0.4 * (1 - weight), 0.8 * (1 - weight + weight * 0.25), 1.0]
    got = [rules.engagement(m, t, weight) for m, t in zip(motivation, trust, strict=True)]
    np.testing.assert_allclose(got, expected, atol=1e-15)


def engaged_sim(n: int, motivation, params: dict | None = None, **world_kwargs) -> Simulation:
    """Engagement = motivation (no weight on trust)."""
    sim = build(n, {"trust_engagement_weight": 0.0, **(params or {})}, **world_kwargs)
    sim.state.motivation[0] = motivation
    return sim


def test_uptake_only_offered_free_users_join():
    offer = np.array([True, True, True, True, True, False])
    # no places: whoever joins stays on the waiting list
    sim = engaged_sim(
        6, 1.0, offer={"peer_support": offer}, teams=[Team(capacity={"peer_support": 0})]
    )
    state = sim.state
    state.week = 5
    state.enrolled[0, 1, PS] = True
    state.waiting[0, 2, PS] = True
    state.wait_since[0, 2, PS] = 1
    state.completed[0, 3, PS] = True
    state.dropped[0, 4, PS] = True
    week(sim, engagement=0.0)  # every draw below every positive chance
    np.testing.assert_array_equal(state.waiting[0, :, PS], [True, False, True, False, False, False])
    np.testing.assert_array_equal(state.wait_since[0, :, PS], [5, 0, 1, 0, 0, 0])
    # nothing else was offered, so nobody waits for anything else
    assert not np.delete(state.waiting, PS, axis=2).any()
    # uptake only puts users on the waiting list
    np.testing.assert_array_equal(
        state.enrolled[0, :, PS], [False, True, False, False, False, False]
    )


def test_uptake_chance_is_probability_times_engagement():
    engaged = np.array([1.0, 0.5, 0.25])
    chance = 0.4 * engaged
    for shift, joins in [(-EPS, True), (EPS, False)]:
        sim = engaged_sim(
            3,
            engaged,
            {"uptake_probability_per_week": 0.4},
            offer={"peer_support": 1.0},
            teams=[Team(capacity={"peer_support": 0})],
        )
        u = np.ones((1, 3, K))
        u[0, :, PS] = chance + shift
        week(sim, engagement=u)
        np.testing.assert_array_equal(sim.state.waiting[0, :, PS], [joins] * 3)
        assert not np.delete(sim.state.waiting, PS, axis=2).any()


def test_uptake_with_zero_draw_and_zero_engagement_does_not_join():
    sim = engaged_sim(2, 0.0, offer={"peer_support": 1.0})
    week(sim, engagement=0.0)
    assert not (sim.state.waiting | sim.state.enrolled).any()


def test_admit_with_unlimited_capacity_admits_everyone_waiting():
    sim = build(5, runs=2, offer=EVERYTHING)
    state = sim.state
    waiting = np.zeros((2, 5, K), dtype=bool)
    waiting[0, [0, 3], PS] = True
    waiting[1, [1, 2, 4], IPS] = True
    waiting[1, 2, HF] = True
    state.waiting = waiting.copy()
    state.weeks_in[:] = 9
    week(sim)
    np.testing.assert_array_equal(state.enrolled, waiting)
    assert not state.waiting.any()
    np.testing.assert_array_equal(state.weeks_in[waiting], 1)  # admitted, then this week counted
    np.testing.assert_array_equal(state.weeks_in[~waiting], 9)


def test_admit_limited_is_first_come_first_served():
    sim = build(5, teams=[Team(capacity={"peer_support": 2})], offer={"peer_support": 1.0})
    state = sim.state
    state.waiting[0, :, PS] = True
    state.wait_since[0, :, PS] = [4, 1, 3, 2, 5]
    state.priority[0] = [0.0, 0.9, 0.1, 0.8, 0.2]  # priority never beats waiting time
    week(sim)
    np.testing.assert_array_equal(state.enrolled[0, :, PS], [False, True, False, True, False])
    np.testing.assert_array_equal(state.waiting[0, :, PS], [True, False, True, False, True])


@pytest.mark.parametrize("priority", [[0.2, 0.7, 0.5], [0.7, 0.2, 0.5]])
def test_admit_limited_breaks_ties_by_priority(priority):
    sim = build(3, teams=[Team(capacity={"peer_support": 1})], offer={"peer_support": 1.0})
    state = sim.state
    state.waiting[0, :2, PS] = True
    state.wait_since[0, :2, PS] = 3
    state.priority[0] = priority
    week(sim)
    admitted = state.enrolled[0, :, PS]
    assert admitted.sum() == 1
    # the admitted user is the one the priority ranks first, whatever the index
    winner = int(np.argmin(priority[:2]))
    expected = np.zeros(3, dtype=bool)
    expected[winner] = True
    np.testing.assert_array_equal(admitted, expected)


def test_admit_limited_respects_places_per_team_and_run():
    teams = [
        Team(name="a", capacity={"peer_support": 2}),
        Team(name="b"),
        Team(name="c", capacity={"peer_support": 0}),
    ]
    sim = build(12, runs=2, teams=teams, offer={"peer_support": 1.0, "self_management": 1.0})
    state = sim.state  # user i in team i % 3
    team = sim.world.team_of_agent
    state.priority[:] = np.linspace(0, 1, 12)
    # run 0: one place of team a is taken; run 1: none taken
    state.enrolled[0, 0, PS] = True
    state.waiting[0, [3, 6, 9], PS] = True  # team a
    state.waiting[1, [0, 3, 6, 9], PS] = True  # team a
    state.waiting[:, [1, 4, 7, 10], PS] = True  # team b, unlimited
    state.waiting[:, [2, 5], PS] = True  # team c, no places
    state.waiting[:, [3, 4], SM] = True  # no limit on self-management
    week(sim)
    for r in range(2):
        in_team = np.bincount(team[state.enrolled[r, :, PS]], minlength=3)
        np.testing.assert_array_equal(in_team, [2, 4, 0])
    np.testing.assert_array_equal(np.flatnonzero(state.enrolled[0, :, PS] & (team == 0)), [0, 3])
    np.testing.assert_array_equal(np.flatnonzero(state.enrolled[1, :, PS] & (team == 0)), [0, 3])
    np.testing.assert_array_equal(
        state.waiting[0, :, PS] & (team == 0), np.isin(np.arange(12), [6, 9])
    )
    assert state.enrolled[:, [3, 4], SM].all()
    assert state.waiting[:, [2, 5], PS].all()


def test_completion_happens_at_the_interventions_duration():
    sim = build(
        3,
        {"peer_support_weeks": 4, "dropout_probability_per_week": 0.0},
        offer={"peer_support": 1.0},
    )
    state = sim.state
    state.enrolled[0, :, PS] = True
    state.weeks_in[0, :, PS] = [2, 3, 0]
    week(sim, engagement=0.0)
    np.testing.assert_array_equal(state.completed[0, :, PS], [False, True, False])
    np.testing.assert_array_equal(state.enrolled[0, :, PS], [True, False, True])
    np.testing.assert_array_equal(state.weeks_in[0, :, PS], [3, 4, 1])
    assert not state.dropped.any()


def test_enrolment_lasts_exactly_duration_steps():
    weeks = 5
    sim = build(
        1,
        {"self_management_weeks": weeks, "dropout_probability_per_week": 0.0},
        offer={"self_management": 1.0},
    )
    state = sim.state
    state.waiting[0, 0, SM] = True
    steps = 0
    while steps == 0 or state.enrolled[0, 0, SM]:  # admitted in the first week
        week(sim)
        steps += 1
        assert steps <= 2 * weeks
    assert steps == weeks
    assert state.completed[0, 0, SM]


def test_dropout_chance_and_only_for_users_enrolled_before_the_week():
    engaged = np.array([0.5, 0.5, 0.0, 1.0, 0.0])
    sim = engaged_sim(
        5,
        engaged,
        {
            "dropout_probability_per_week": 0.2,
            "peer_support_weeks": 52,
            "dropout_halving_weeks": 4.0,
        },
        offer={"peer_support": 1.0},
    )
    state = sim.state
    weeks_in = np.array([4, 1, 1, 1, 0])
    # v2: probability x (1 - engaged) / (1 + weeks in / halving weeks)
    chance = [rules.dropout_chance(0.2, e, w, 4.0) for e, w in zip(engaged, weeks_in, strict=True)]
    np.testing.assert_allclose(chance, 0.2 * (1.0 - engaged) / (1.0 + weeks_in / 4.0), atol=1e-15)
    assert rules.dropout_chance(0.2, 0.5, 0, 4.0) == pytest.approx(0.1)
    assert rules.dropout_chance(0.2, 0.5, 4, 4.0) == pytest.approx(0.05)  # halved at 4 weeks
    assert rules.dropout_chance(0.2, 0.5, 12, 4.0) == pytest.approx(0.025)
    u = np.ones((1, 5, K))
    u[0, :, PS] = [chance[0] - EPS, chance[1] + EPS, chance[2] - EPS, 0.0, 0.0]
    # user 1 stays only because of the weeks-in term (0.2 x 0.5 / 1.25 = 0.08 < draw < 0.1)
    assert chance[1] < u[0, 1, PS] < 0.2 * 0.5
    state.enrolled[0, :4, PS] = True
    state.weeks_in[0, :4, PS] = weeks_in[:4]
    state.waiting[0, 4, PS] = True  # admitted this week: cannot drop out this week
    week(sim, engagement=u)
    np.testing.assert_array_equal(state.dropped[0, :, PS], [True, False, True, False, False])
    np.testing.assert_array_equal(state.enrolled[0, :, PS], [False, True, False, True, True])
    # weeks in only count for those still enrolled
    np.testing.assert_array_equal(state.weeks_in[0, :, PS], [4, 2, 1, 2, 1])
    assert not state.completed.any()


def test_trained_attitude_rule():
    assert rules.trained_attitude(0.2, 0.6, 0.5, 5, 10.0) == pytest.approx(0.2 + 0.15 * 0.8)
    assert rules.trained_attitude(0.2, 0.6, 0.5, 0, 10.0) == 0.2
    assert rules.trained_attitude(0.2, 0.6, 0.5, 30, 10.0) == rules.trained_attitude(
        0.2, 0.6, 0.5, 10, 10.0
    )


def test_train_staff_ramps_trained_teams_linearly_to_the_gain():
    teams = [
        Team(professional_attitudes=0.2, staff_training_participation=0.5, staff_training=True),
        Team(professional_attitudes=0.4, staff_training=True, staff_training_participation=1.0),
        Team(professional_attitudes=0.4),
    ]
    sim = build(3, {"staff_training_attitude_gain": 0.6, "staff_training_weeks": 10}, teams=teams)
    state = sim.state
    expected_full = np.array([0.2 + 0.6 * 0.5 * 0.8, 0.4 + 0.6 * 1.0 * 0.6, 0.4])
    for at_week, progress in [(0, 0.0), (5, 0.5), (10, 1.0), (30, 1.0)]:
        state.week = at_week  # training is the first step of the week
        week(sim)
        expected = np.array([0.2, 0.4, 0.4]) + progress * (expected_full - [0.2, 0.4, 0.4])
        np.testing.assert_allclose(state.attitudes[0], expected, atol=1e-12)
    np.testing.assert_array_equal(state.attitudes_baseline[0], [0.2, 0.4, 0.4])


def test_train_staff_without_trained_teams_changes_nothing():
    sim = build(2, {"staff_training_attitude_gain": 1.0}, teams=[Team(), Team()])
    sim.state.week = 50
    before = sim.state.attitudes.copy()
    week(sim)
    np.testing.assert_array_equal(sim.state.attitudes, before)


# --------------------------------------------------------------------------- dynamics


def test_personal_recovery_is_twelve_times_chime_sum():
    sim = build(3)
    s = sim.state
    s.connectedness = np.array([[0.0, 1.0, 0.2]])
    s.process["hope"] = np.array([[0.0, 1.0, 0.4]])
    s.self_stigma = np.array([[1.0, 0.0, 0.3]])
    s.process["meaning"] = np.array([[0.0, 1.0, 0.6]])
    s.process["empowerment"] = np.array([[0.0, 1.0, 0.9]])
    qpr = personal_recovery(s)
    np.testing.assert_allclose(qpr, [[0.0, 60.0, 12 * (0.2 + 0.4 + 0.7 + 0.6 + 0.9)]], atol=1e-12)
    assert rules.personal_recovery_score(0.2, 0.4, 0.3, 0.6, 0.9) == qpr[0, 2]


def test_personal_recovery_stays_within_scale():
    sim = build(200)
    rng = np.random.default_rng(3)
    s = sim.state
    for name in ("hope", "meaning", "empowerment"):
        s.process[name] = rng.random((1, 200))
    s.connectedness, s.self_stigma = rng.random((1, 200)), rng.random((1, 200))
    qpr = personal_recovery(s)
    assert qpr.min() >= 0.0 and qpr.max() <= 60.0


def test_recovery_stage_bands():
    qpr = np.array([0.0, 11.99, 12.0, 23.99, 24.0, 36.0, 48.0, 59.9, 60.0])
    np.testing.assert_array_equal(recovery_stage(qpr), [0, 0, 1, 1, 2, 3, 4, 4, 4])
    assert [rules.stage_of(x) for x in qpr] == [0, 0, 1, 1, 2, 3, 4, 4, 4]


def test_no_intervention_dose_without_enrolment():
    sim = build(4, {"usual_care_contact": 0.0})
    clear_network(sim)
    week(sim)
    np.testing.assert_array_equal(sim.state.doses, np.zeros((1, 4, 4)))


@pytest.mark.parametrize("attitude", [0.1, 0.5, 0.9])
def test_usual_care_shifts_levels_by_attitudes_not_doses(attitude):
    """Usual care delivers no mechanism dose; it moves trust, hope and empowerment
    toward set-point + link weight x dose, with the sign of attitudes - neutral (§7.6)."""
    sim = build(2, {"usual_care_contact": 0.6, "process_noise_sd": 0.0})
    clear_network(sim)
    sim.state.attitudes[:] = attitude
    before = {k: sim.state.process[k].copy() for k in ("trust", "hope", "empowerment")}
    set_points = {k: sim.state.baseline[k].copy() for k in before}
    week(sim)
    expected = 0.6 * (2 * attitude - 1)
    assert rules.usual_care_dose(0.6, attitude, 0.5) == pytest.approx(expected, abs=1e-15)
    np.testing.assert_array_equal(sim.state.doses, 0.0)
    for name in before:
        moved = sim.state.process[name] - before[name]
        assert np.all(np.sign(moved) == np.sign(attitude - 0.5)), name
    # the person's set-point consolidates the level net of the team's shift
    if attitude == 0.5:
        for name in before:
            np.testing.assert_allclose(sim.state.baseline[name], set_points[name], atol=1e-15)


def test_usual_care_is_a_lagged_level_effect_without_drift():
    """Usual care in a pro-recovery team lifts trust to a new level and stops there.

    Each week the level L relaxes to b + s at rate d, then the set-point b
    consolidates L - s at rate k (no return to entry): the gap L - b - s shrinks by
    (1 - d)(1 - k) a week and b settles s k (1 - d) / (d + k - d k) below entry, with
    L = b + s. A usual-care drive that consolidated (the earlier model) would carry L
    to the ceiling instead.
    """
    sim = build(
        3,
        {
            "usual_care_contact": 0.2,
            "process_noise_sd": 0.0,
            "set_point_return_rate_per_week": 0.0,
        },
    )
    clear_network(sim)
    sim.state.attitudes[:] = 0.9
    entry = sim.state.baseline["trust"].copy()
    for _ in range(520):
        week(sim)
    shift = 0.2 * (2 * 0.9 - 1) * REGISTRY["working_alliance_to_trust_weight"].default
    decay = REGISTRY["process_decay_rate_per_week"].default
    keep = REGISTRY["consolidation_rate_per_week"].default
    assert np.all(entry + shift < 1.0)
    settled = entry - shift * keep * (1 - decay) / (decay + keep - decay * keep)
    np.testing.assert_allclose(sim.state.baseline["trust"], settled, atol=1e-6)
    np.testing.assert_allclose(sim.state.process["trust"], settled + shift, atol=1e-6)


def test_usual_care_target_clips():
    assert rules.usual_care_target(0.9, 0.3) == 1.0
    assert rules.usual_care_target(0.1, -0.3) == 0.0
    assert rules.usual_care_target(0.4, 0.1) == pytest.approx(0.5)


def test_ips_enrolment_gives_profile_times_fidelity():
    sim = engaged_sim(
        2, 0.6, {"usual_care_contact": 0.0, "fidelity": 0.8}, offer={"supported_employment": 1.0}
    )
    clear_network(sim)
    sim.state.attitudes[:] = 0.7
    sim.state.enrolled[0, 0, IPS] = True
    week(sim)
    doses = sim.state.doses
    profile = mechanism_profile_matrix()[IPS]
    np.testing.assert_allclose(profile, [0.5, 1.0, 0.0, 1.0])
    # v2: information and role modelling by engagement, alliance and choice by the
    # attitude factor offset + slope x attitudes (the role profile of IPS is 0 here)
    p = validate({})
    attitude = p["attitude_dose_offset"] + p["attitude_dose_slope"] * 0.7
    expected = profile * 0.8 * np.array([0.6, attitude, 0.6, attitude])
    np.testing.assert_allclose(doses[0, 0], expected, atol=1e-15)
    np.testing.assert_array_equal(doses[0, 1], 0.0)


def test_role_modelling_from_ties_further_on():
    sim = build(4, {"usual_care_contact": 0.0, "network_role_model_weight": 2.0})
    clear_network(sim)
    # 0 - 1, 0 - 2; user 3 has no ties
    sim.state.network.add(np.array([0, 0]), np.array([0, 0]), np.array([1, 2]))
    # users 1-3 at the top of the recovery scale (growth), user 0 at the bottom
    s = sim.state
    top = np.array([[0.0, 1.0, 1.0, 1.0]])
    s.connectedness[:], s.self_stigma[:] = top, 1.0 - top
    for name in ("hope", "meaning", "empowerment"):
        s.process[name][:] = top
    assert rules.peer_signal(2, 2, 0.5) == 0.5 and rules.peer_signal(0, 1, 0.5) == -0.5
    assert rules.peer_signal(0, 0, 0.5) == 0.0
    week(sim)
    # user 0: both ties advanced -> 2 x (1 - 0.5); users 1, 2: their one tie is not -> 2 x -0.5
    np.testing.assert_allclose(s.doses[0, :, 2], [1.0, -1.0, -1.0, 0.0], atol=1e-15)


def test_move_positive_dose_toward_one_negative_toward_zero():
    p = [0.5, 0.5, 0.2, 0.9, 0.5]
    dose = [1.0, -1.0, 0.5, -0.5, 0.0]
    moved = [rules.move(x, d, 0.2, 0.0, x) for x, d in zip(p, dose, strict=True)]
    np.testing.assert_allclose(
        moved, [0.6, 0.4, 0.2 + 0.2 * 0.5 * 0.8, 0.9 - 0.2 * 0.5 * 0.9, 0.5], atol=1e-15
    )


def test_move_decays_toward_baseline():
    moved = [rules.move(x, 0.0, 0.3, 0.1, 0.5) for x in (0.9, 0.1, 0.5)]
    np.testing.assert_allclose(moved, [0.86, 0.14, 0.5], atol=1e-15)


def test_move_stays_in_unit_interval():
    rng = np.random.default_rng(11)
    p, base = rng.random(1000), rng.random(1000)
    dose = rng.uniform(-5, 5, 1000)
    rate, decay = rng.uniform(0, 1, 1000), rng.uniform(0, 1, 1000)
    moved = np.array([rules.move(*args) for args in zip(p, dose, rate, decay, base, strict=True)])
    assert moved.min() >= 0.0 and moved.max() <= 1.0
    assert [rules.move(0.99, 10.0, 0.5, 0.0, 0.5), rules.move(0.01, -10.0, 0.5, 0.0, 0.5)] == [
        1.0,
        0.0,
    ]
    assert rules.move_noisy(0.99, 0.0, 0.5, 0.0, 0.99, 0.1, 5.0) == 1.0


def test_processes_move_in_a_week_by_their_doses():
    """The week applies rules.move to each process with its mechanism's dose (ODD §7.6)."""
    sim = engaged_sim(
        2, 1.0, {"usual_care_contact": 0.0, "fidelity": 1.0}, offer={"self_management": 1.0}
    )
    still(sim)
    s = sim.state
    s.enrolled[0, 0, SM] = True
    before = {name: s.process[name].copy() for name in s.process}
    week(sim)
    p = validate({"usual_care_contact": 0.0, "fidelity": 1.0})
    info = mechanism_profile_matrix()[SM, 0]  # x fidelity 1 x engagement 1
    k = rules.move(
        before["knowledge"][0, 0],
        info,
        p["knowledge_learning_rate_per_week"],
        p["process_decay_rate_per_week"],
        before["knowledge"][0, 0],
    )
    assert s.process["knowledge"][0, 0] == k > before["knowledge"][0, 0]
    gain = rules.knowledge_gain(k, before["knowledge"][0, 0])
    efficacy = rules.move(
        before["self_efficacy"][0, 0],
        gain,
        p["self_efficacy_rate_per_week"],
        p["process_decay_rate_per_week"],
        before["self_efficacy"][0, 0],
    )
    assert s.process["self_efficacy"][0, 0] == efficacy
    # the user in nothing has no dose: every process stays at its baseline
    for name in ("knowledge", "self_efficacy", "trust", "hope", "empowerment"):
        assert s.process[name][0, 1] == before[name][0, 1], name


def equal_users(sim: Simulation) -> None:
    """Make every user identical except for the quantity under test."""
    s = sim.state
    for name in s.process:
        s.process[name][:] = 0.5
    s.motivation[:], s.severity[:], s.self_stigma[:] = 0.5, 0.5, 0.5
    s.work_history[:], s.in_relapse[:], s.enrolled[:] = False, False, False


def two_site_sim(rates: tuple[float, float], params: dict | None = None) -> Simulation:
    sites = [Site(unemployment_rate=rates[0]), Site(unemployment_rate=rates[1])]
    return build(2, params, sites=sites, teams=[Team(site=0), Team(site=1)])


def odds(p):
    return p / (1.0 - p)


def job_finding(
    params: dict,
    unemployment_rate: float,
    *,
    public_stigma: float | None = None,
    efficacy: float = 0.5,
    motivation: float = 0.5,
    severity: float = 0.5,
    self_stigma: float = 0.5,
    work_history: bool = False,
    ips_fidelity: float = 0.0,
    in_relapse: bool = False,
) -> float:
    """The weekly job-finding chance of ODD §7.7, from the rules."""
    p = validate(params)
    stigma = p["public_stigma"] if public_stigma is None else public_stigma
    points = 100.0 * (unemployment_rate - p["reference_unemployment_rate"])
    shift = rules.job_log_odds_shift(
        points,
        np.log(p["job_entry_odds_ratio_per_point"]),
        p["unemployment_conversion_per_point"],
        p["stigma_job_penalty"],
        stigma,
        p["reference_public_stigma"],
        p["readiness_job_gradient"],
        p["reference_work_readiness"],
        efficacy,
        motivation,
        severity,
        self_stigma,
        p["self_efficacy_readiness_weight"],
        p["motivation_readiness_weight"],
        p["symptom_readiness_weight"],
        p["self_stigma_readiness_weight"],
        (
            (p["self_efficacy_readiness_weight"] + p["motivation_readiness_weight"])
            + p["symptom_readiness_weight"]
        )
        + p["self_stigma_readiness_weight"],
        np.log(p["work_history_job_multiplier"]),
        work_history,
        np.log(p["ips_job_finding_multiplier"]),
        ips_fidelity,
    )
    chance = rules.odds_to_probability(odds(p["job_finding_probability_per_week"]), np.exp(shift))
    return 0.0 if in_relapse else chance


@pytest.mark.parametrize("ratio", [1.0, 1.07, 1.15])
def test_job_finding_odds_ratio_per_point_of_unemployment(ratio):
    params = {"job_entry_odds_ratio_per_point": ratio}
    p = [job_finding(params, rate) for rate in (0.07, 0.08)]
    assert abs(odds(p[0]) / odds(p[1]) - ratio) < 1e-9


def test_job_finding_falls_with_unemployment():
    rates = np.linspace(0.02, 0.25, 8)
    probabilities = [job_finding({"job_entry_odds_ratio_per_point": 1.07}, rate) for rate in rates]
    assert np.all(np.diff(probabilities) < 0)
    # at the reference rate, an average unemployed user has the base chance
    params = {"reference_unemployment_rate": 0.07, "public_stigma": 0.5}
    np.testing.assert_allclose(
        job_finding(params, 0.07), validate(params)["job_finding_probability_per_week"], rtol=1e-12
    )


def test_job_finding_ips_multiplies_odds_and_relapse_zeroes_it():
    # at the reference unemployment rate, IPS multiplies the odds by multiplier ** fidelity
    params = {"ips_job_finding_multiplier": 4.0, "reference_unemployment_rate": 0.07}
    without = job_finding(params, 0.07)
    with_ips = job_finding(params, 0.07, ips_fidelity=1.0)
    np.testing.assert_allclose(odds(with_ips) / odds(without), 4.0, rtol=1e-12)
    half = job_finding(params, 0.07, ips_fidelity=0.5)
    np.testing.assert_allclose(odds(half) / odds(without), 2.0, rtol=1e-12)
    assert without > 0.0
    assert job_finding(params, 0.07, in_relapse=True) == 0.0
    # in a week: a user in relapse does not start a job even on a draw of 0
    sim = outcome_sim(2, {"ips_job_finding_multiplier": 4.0})
    sim.state.in_relapse[0, 1] = True
    week(sim, employment=0.0)
    np.testing.assert_array_equal(sim.state.employed[0], [True, False])


def test_unemployment_weakens_the_conversion_of_readiness_and_ips():
    # v2: the readiness and IPS terms of the log-odds are scaled by exp(-conversion x points);
    # readiness includes low self-stigma with its own weight
    params = {
        "ips_job_finding_multiplier": 4.0,
        "unemployment_conversion_per_point": 0.05,
        "reference_unemployment_rate": 0.05,
        "job_entry_odds_ratio_per_point": 1.07,
        "readiness_job_gradient": 2.0,
        "self_stigma_readiness_weight": 2.0,
    }
    p = validate(params)
    w_sum = (
        p["self_efficacy_readiness_weight"]
        + p["motivation_readiness_weight"]
        + p["symptom_readiness_weight"]
        + 2.0
    )
    for rate in (0.05, 0.15):
        conversion = np.exp(-0.05 * 100.0 * (rate - 0.05))  # 1 at the reference, e^-0.5 above
        base = odds(job_finding(params, rate))
        ips = odds(job_finding(params, rate, ips_fidelity=1.0))
        np.testing.assert_allclose(np.log(ips / base), np.log(4.0) * conversion, rtol=1e-12)
        low_stigma = odds(job_finding(params, rate, self_stigma=0.0))
        np.testing.assert_allclose(
            np.log(low_stigma / base), 2.0 * (2.0 * 0.5 / w_sum) * conversion, rtol=1e-12
        )
        efficacious = odds(job_finding(params, rate, efficacy=1.0))
        np.testing.assert_allclose(
            np.log(efficacious / base),
            2.0 * (p["self_efficacy_readiness_weight"] * 0.5 / w_sum) * conversion,
            rtol=1e-12,
        )


def outcome_sim(n: int, params: dict | None = None, **world_kwargs) -> Simulation:
    """Identical users whose processes a week does not move (usual care off, no ties)."""
    sim = build(n, {"usual_care_contact": 0.0, **(params or {})}, **world_kwargs)
    equal_users(sim)
    s = sim.state
    s.employed[:], s.ever_employed[:], s.housed[:] = False, False, True
    s.weeks_employed[:], s.weeks_housed[:] = 0, 0
    still(sim)
    return sim


def test_job_start_follows_job_finding_probability():
    sim = outcome_sim(3, {"public_stigma": 0.5})
    # the chance from the rules, with this world's site and the users' own values
    chance = job_finding({"public_stigma": 0.5}, validate({})["unemployment_rate"])
    assert sim.world.sites[0].unemployment_rate is None  # the registry's rate
    sim.state.employed[0, 2] = True  # already employed: a draw of 0 means job loss, not start
    week(sim, employment=[chance - EPS, chance + EPS, 0.0])
    np.testing.assert_array_equal(sim.state.employed[0], [True, False, False])
    np.testing.assert_array_equal(sim.state.ever_employed[0], [True, False, False])
    np.testing.assert_array_equal(sim.state.weeks_employed[0], [1, 0, 0])


def test_job_loss_follows_its_probability():
    params = {
        "job_loss_probability_per_week": 0.05,
        "ips_job_retention": 0.4,
        "relapse_loss_multiplier": 3.0,
        "relapse_recovery_probability_per_week": 0.02,
        "fidelity": 0.5,
        "job_tenure_halving_weeks": 52.0,
    }
    sim = outcome_sim(6, params)
    s = sim.state
    s.employed[:] = s.ever_employed[:] = True
    s.weeks_employed[0, [0, 1]] = 52  # a year's tenure halves the chance
    s.enrolled[0, [2, 3], IPS] = True
    s.in_relapse[0, [4, 5]] = True
    # v2: protection x the IPS team's fidelity; / (1 + weeks employed / halving weeks)
    base, ips, relapse = 0.05 / 2.0, 0.05 * (1.0 - 0.4 * 0.5), 0.05 * 3.0
    assert rules.loss_probability(0.05, 0.4, 0.5, False, 3.0, 0, 52.0) == pytest.approx(ips)
    assert rules.loss_probability(0.05, 0.4, 1.0, False, 3.0, 0, 52.0) == pytest.approx(0.03)
    assert rules.loss_probability(0.05, 0.4, 0.0, True, 3.0, 0, 52.0) == pytest.approx(relapse)
    assert rules.loss_probability(0.05, 0.4, 0.0, False, 3.0, 52, 52.0) == pytest.approx(base)
    assert rules.loss_probability(0.05, 0.0, 0.0, False, 3.0, 156, 52.0) == pytest.approx(0.0125)
    assert rules.loss_probability(0.5, 0.0, 0.0, True, 3.0, 0, 52.0) == 1.0  # at most 1
    week(
        sim, employment=[base - EPS, base + EPS, ips - EPS, ips + EPS, relapse - EPS, relapse + EPS]
    )
    np.testing.assert_array_equal(s.employed[0], [False, True, False, True, False, True])
    assert s.ever_employed.all()
    np.testing.assert_array_equal(s.weeks_employed[0], [52, 53, 0, 1, 0, 1])


def test_housing_gain_and_loss_follow_their_probabilities():
    params = {
        "housing_gain_probability_per_week": 0.01,
        "housing_first_multiplier": 5.0,
        "housing_loss_probability_per_week": 0.02,
        "housing_first_retention": 0.5,
        "housing_availability": 0.5,
        "fidelity": 0.6,
        "tenancy_halving_weeks": 26.0,
    }
    sim = outcome_sim(8, params)
    s = sim.state
    s.housed[0, :4] = False
    s.weeks_housed[0, [4, 5]] = 26  # half a year's tenancy halves the eviction chance
    s.enrolled[0, [2, 3, 6, 7], HF] = True
    # v2: Housing First multiplies the odds by multiplier ** fidelity and protects by
    # retention x fidelity; tenure divides the eviction chance by 1 + weeks / halving weeks
    gain = 0.01
    gain_hf = odds(gain) * 5.0**0.6 / (1 + odds(gain) * 5.0**0.6)
    lose, lose_hf = 0.02 / 2.0, 0.02 * (1.0 - 0.5 * 0.6)
    week(
        sim,
        housing=[
            gain - EPS,
            gain + EPS,
            gain_hf - EPS,
            gain_hf + EPS,
            lose - EPS,
            lose + EPS,
            lose_hf - EPS,
            lose_hf + EPS,
        ],
    )
    np.testing.assert_array_equal(s.housed[0], [True, False, True, False, False, True, False, True])
    np.testing.assert_array_equal(s.weeks_housed[0], [1, 0, 1, 0, 26, 27, 0, 1])


@pytest.mark.parametrize("shift", [-EPS, EPS])
def test_housing_gain_scales_with_availability_in_odds(shift):
    sim = outcome_sim(1, {"housing_gain_probability_per_week": 0.01, "housing_availability": 1.0})
    sim.state.housed[:] = False
    chance = 0.02 / 1.01  # odds 0.01/0.99 doubled
    week(sim, housing=chance + shift)
    assert sim.state.housed[0, 0] == (shift < 0)


def test_relapse_onset_and_resolution_follow_their_probabilities():
    params = {
        "relapse_probability_per_week": 0.04,
        "relapse_recovery_probability_per_week": 0.3,
        "relapse_knowledge_protection": 2.0,
        "process_decay_rate_per_week": 0.0,  # knowledge keeps its gain through the week
    }
    sim = outcome_sim(6, params)
    s = sim.state
    s.severity[0] = [0.5, 0.5, 1.0, 0.5, 0.5, 0.5]
    s.process["knowledge"][0, 3] = 0.75  # gain 0.25 over baseline: hazard x exp(-0.5)
    s.in_relapse[0, [4, 5]] = True
    s.relapses[0, [4, 5]] = 1
    onset_mid, onset_high = 0.04, 0.04 * 1.5
    onset_protected = 0.04 * np.exp(-0.5)
    assert rules.relapse_hazard(0.04, 0.5, np.exp(-0.5), 0.5, 1.0) == pytest.approx(onset_protected)
    week(
        sim,
        relapse=[
            onset_mid - EPS,
            onset_mid + EPS,
            onset_high - EPS,
            onset_protected + EPS,
            0.3 - EPS,
            0.3 + EPS,
        ],
    )
    np.testing.assert_array_equal(s.in_relapse[0], [True, False, True, False, False, True])
    np.testing.assert_array_equal(s.relapses[0], [1, 0, 1, 0, 1, 1])


def test_relapse_hazard_factor_of_trust_and_homelessness():
    # v2 (ODD §7.9): factor = exp(-knowledge protection x gain - trust protection x
    # (trust - reference) + log(unhoused multiplier) x not housed)
    params = {
        "relapse_probability_per_week": 0.04,
        "trust_relapse_protection": 1.0,
        "reference_trust": 0.5,
        "unhoused_relapse_multiplier": 1.5,
        "process_decay_rate_per_week": 0.0,
    }
    sim = outcome_sim(6, params)
    s = sim.state
    s.housed[0, [2, 3]] = False
    s.process["trust"][0, [4, 5]] = 0.8
    still(sim)
    base, unhoused, trusting = 0.04, 0.04 * 1.5, 0.04 * np.exp(-0.3)
    eps = 1e-12
    u = [base - eps, base + eps, unhoused - eps, unhoused + eps, trusting - eps, trusting + eps]
    week(sim, relapse=u)
    assert s.in_relapse[0].tolist() == [True, False, True, False, True, False]


def test_hospital_admission_discharge_and_bed_weeks():
    # v2 (ODD §7.9): at an onset, v = u / hazard; compulsory if v < admit x share x
    # (1 - (1 - rr) x plan), voluntary if v < admit; a stay ends when the relapse
    # resolves or u >= 1 - discharge; bed weeks count the weeks in hospital
    params = {
        "relapse_probability_per_week": 0.04,
        "relapse_recovery_probability_per_week": 0.3,
        "admission_probability_per_relapse": 0.5,
        "compulsory_admission_share": 0.4,
        "crisis_plan_compulsory_rr": 0.59,
        "discharge_probability_per_week": 0.1,
        "fidelity": 0.5,
    }
    sim = outcome_sim(7, params, offer={"shared_decision_making": 1.0})
    s = sim.state
    hazard = 0.04  # severity, trust and housing at their references, no knowledge gain
    s.in_relapse[0, [3, 4, 5]] = s.in_hospital[0, [3, 4, 5]] = True
    s.relapses[0, [3, 4, 5]] = s.admissions[0, [3, 4, 5]] = 1
    sdm = USER_INTERVENTIONS.index("shared_decision_making")
    s.completed[0, 6, sdm] = True  # a crisis plan, kept after shared decision-making
    # user 6: compulsory below 0.5 x 0.4 x (1 - 0.41 x 0.5) = 0.159, voluntary below 0.5
    v = [0.1, 0.3, 0.6, None, None, None, 0.18]
    u = [hazard * x if x is not None else 0.0 for x in v]
    u[3], u[4], u[5] = 0.5, 0.95, 0.1  # stays; discharged (u >= 0.9); relapse resolves
    week(sim, relapse=u)
    assert s.in_hospital[0].tolist() == [True, True, False, True, False, False, True]
    assert s.in_relapse[0].tolist() == [True, True, True, True, True, False, True]
    np.testing.assert_array_equal(s.admissions[0], [1, 1, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(s.compulsory_admissions[0], [1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(s.bed_weeks[0], [1, 1, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(s.relapses[0], [1, 1, 1, 1, 1, 1, 1])
    # without the crisis plan, user 6's draw would have been a compulsory admission
    assert rules.admission(u[6], hazard, 0.5, 0.4, 0.0, 0.59) == 2
    assert rules.admission(u[6], hazard, 0.5, 0.4, 0.5, 0.59) == 1


def test_job_start_raises_hope_motivation_and_self_efficacy():
    params = {"success_boost": 0.2, "motivation_rate_per_week": 0.0}
    sim = outcome_sim(2, params)
    s = sim.state
    s.process["hope"][0] = [0.4, 0.4]
    s.process["self_efficacy"][0] = [0.3, 0.3]
    s.motivation[0] = [0.6, 0.6]
    still(sim)
    week(sim, employment=[0.0, 1.0])
    assert s.employed[0, 0] and not s.employed[0, 1]
    np.testing.assert_allclose(s.process["hope"][0], [0.4 + 0.2 * 0.6, 0.4], atol=1e-15)
    np.testing.assert_allclose(s.process["self_efficacy"][0], [0.3 + 0.2 * 0.7, 0.3], atol=1e-15)
    np.testing.assert_allclose(s.motivation[0], [0.6 + 0.2 * 0.4, 0.6], atol=1e-15)


def test_relapse_onset_and_job_loss_set_hope_back():
    params = {
        "relapse_setback": 0.25,
        "job_loss_setback": 0.1,
        "motivation_rate_per_week": 0.0,
        "relapse_probability_per_week": 0.05,
        "job_loss_probability_per_week": 0.1,
    }
    sim = outcome_sim(3, params)
    s = sim.state
    s.employed[0, 1] = s.ever_employed[0, 1] = True
    s.process["hope"][0] = 0.8
    s.motivation[0] = 0.6
    still(sim)
    # user 0 relapses; user 1 loses the job; user 2 neither
    week(sim, relapse=[0.0, 1.0, 1.0], employment=[1.0, 0.0, 1.0])
    assert s.in_relapse[0].tolist() == [True, False, False]
    assert s.employed[0].tolist() == [False, False, False]
    np.testing.assert_allclose(s.process["hope"][0], [0.8 * 0.75, 0.8 * 0.9, 0.8], atol=1e-15)
    np.testing.assert_allclose(s.motivation[0], [0.6 * 0.75, 0.6 * 0.9, 0.6], atol=1e-15)
    np.testing.assert_allclose(s.process["self_efficacy"][0], [0.5 * 0.75, 0.5, 0.5], atol=1e-15)


def test_feedback_and_slow_variable_rules():
    assert rules.feedback(0.4, 0.2, 0.0, 0.0) == pytest.approx(0.52)
    assert rules.feedback(0.8, 0.0, 0.25, 0.1) == pytest.approx(0.8 * 0.75 * 0.9)
    # motivation relaxes toward baseline + gain x (hope - its baseline)
    assert rules.motivation_update(0.5, 0.0, 0.0, 0.0, 0.5, 0.2, 0.5, 0.1, 0.0, 0.0) == (
        pytest.approx(0.5 + 0.1 * 0.1)
    )
    # severity relaxes toward its baseline, raised during relapse
    assert rules.severity_update(0.4, 0.4, True, 0.3, 0.5) == pytest.approx(0.55)
    assert rules.severity_update(0.4, 0.4, False, 0.3, 0.5) == 0.4
    assert rules.functioning_set_point(0.2, True, False, 0.6, 1.0, 1.0, 1.0, 1.0, 4.0) == (
        pytest.approx(0.25 * 2.4)
    )


def test_connectedness_set_point_rule():
    # v2: (w_T d/(d+half) + participation (w_W work + w_H housed + w_G group)) / w_sum
    # x (1 - withdrawal x self-stigma), clipped to [0, 1]
    def c(degree, employed=False, housed=False, group=0.0, stigma=0.0, part=1.0, wd=0.0):
        return rules.connectedness_set_point(
            degree, 3.0, employed, housed, group, stigma, part, 2.0, 0.5, 1.0, 0.5, 4.0, wd
        )

    assert c(3) == pytest.approx(2.0 * 0.5 / 4.0)  # ties only
    assert c(0) == 0.0
    assert c(0, employed=True) == pytest.approx(0.5 / 4.0)
    assert c(0, housed=True) == pytest.approx(1.0 / 4.0)
    assert c(0, group=0.6) == pytest.approx(0.5 * 0.6 / 4.0)
    expected = (2.0 * 0.5 + 0.8 * (0.5 + 1.0 + 0.5 * 0.6)) / 4.0 * (1.0 - 0.2 * 0.5)
    assert c(3, True, True, 0.6, 0.5, 0.8, 0.2) == pytest.approx(expected)
    assert c(3, True, True, 1.0, 0.0, 0.0, 0.0) == pytest.approx(0.25)  # no participation
    assert c(30, True, True, 1.0, 0.0, 3.0, 0.0) == 1.0  # clipped
    assert c(3, stigma=1.0, wd=2.0) == 0.0  # clipped at 0
    assert rules.connectedness_weight_sum(2.0, 0.5, 1.0, 0.5) == 4.0


def test_stigma_modifier_rule():
    # max(0, 1 - strength x (public stigma - reference))
    assert rules.stigma_modifier(0.5, 0.5, 1.0) == 1.0
    assert rules.stigma_modifier(0.7, 0.5, 1.0) == pytest.approx(0.8)
    assert rules.stigma_modifier(0.3, 0.5, 1.0) == pytest.approx(1.2)
    assert rules.stigma_modifier(0.9, 0.5, 0.0) == 1.0
    assert rules.stigma_modifier(1.0, 0.0, 2.0) == 0.0  # floored at 0


def test_consolidate_rule():
    # set_point + rate (level - set_point) + memory (entry - set_point)
    assert rules.consolidate(0.4, 0.8, 0.2, 0.1, 0.01) == pytest.approx(0.4 + 0.04 - 0.002)
    assert rules.consolidate(0.4, 0.4, 0.4, 0.1, 0.01) == 0.4  # at rest
    assert rules.consolidate(0.4, 0.8, 0.4, 0.0, 0.0) == 0.4  # switched off
    assert rules.consolidate(0.6, 0.6, 0.2, 0.1, 0.05) == pytest.approx(0.6 - 0.02)


def test_admission_rule():
    # v = u / hazard; compulsory if v < admit x share x (1 - (1 - rr) x plan), else
    # voluntary if v < admit, else none
    hazard = 0.1
    assert rules.admission(0.1 * hazard, hazard, 0.3, 0.4, 0.0, 0.59) == 2  # 0.10 < 0.12
    assert rules.admission(0.13 * hazard, hazard, 0.3, 0.4, 0.0, 0.59) == 1  # 0.12 <= 0.13 < 0.3
    assert rules.admission(0.31 * hazard, hazard, 0.3, 0.4, 0.0, 0.59) == 0
    # a crisis plan at fidelity 1: compulsory below 0.3 x 0.4 x 0.59 = 0.0708
    assert rules.admission(0.1 * hazard, hazard, 0.3, 0.4, 1.0, 0.59) == 1
    assert rules.admission(0.07 * hazard, hazard, 0.3, 0.4, 1.0, 0.59) == 2
    # at fidelity 0.5: 0.3 x 0.4 x (1 - 0.41 x 0.5) = 0.0954
    assert rules.admission(0.095 * hazard, hazard, 0.3, 0.4, 0.5, 0.59) == 2
    assert rules.admission(0.096 * hazard, hazard, 0.3, 0.4, 0.5, 0.59) == 1
    assert rules.admission(0.0, hazard, 0.0, 0.4, 0.0, 0.59) == 0  # no admissions


def test_social_inclusion_score_rule():
    # 2 work + 2 home + 1 family + 1 at least one tie, 0-6
    assert rules.social_inclusion_score(True, True, True, 3) == 6
    assert rules.social_inclusion_score(False, False, False, 0) == 0
    assert rules.social_inclusion_score(False, True, False, 0) == 2
    assert rules.social_inclusion_score(True, False, True, 1) == 4
    assert rules.social_inclusion_score(False, False, True, 5) == 2


# --------------------------------------------------------------------------- network


def test_network_add_drops_duplicates_and_self_ties_and_orders_ends():
    net = empty_network(2, 5)
    net.add(
        np.array([0, 0, 0, 0, 1, 1]), np.array([3, 1, 2, 1, 1, 4]), np.array([1, 3, 2, 4, 3, 1])
    )
    assert edge_set(net) == {(0, 1, 3), (0, 1, 4), (1, 1, 3), (1, 1, 4)}
    assert np.all(net.a < net.b)
    net.add(np.array([0, 1]), np.array([4, 3]), np.array([1, 1]))  # both already there
    assert net.n_edges == 4


def random_network(rng: np.random.Generator, n_runs: int, n_agents: int, n_pairs: int):
    net = empty_network(n_runs, n_agents)
    net.add(
        rng.integers(0, n_runs, n_pairs),
        rng.integers(0, n_agents, n_pairs),
        rng.integers(0, n_agents, n_pairs),
    )
    dense = np.zeros((n_runs, n_agents, n_agents))
    dense[net.run, net.a, net.b] = 1.0
    dense[net.run, net.b, net.a] = 1.0
    return net, dense


def test_degree_matches_dense_adjacency():
    rng = np.random.default_rng(5)
    net, dense = random_network(rng, 3, 9, 40)
    assert net.n_edges > 10
    np.testing.assert_array_equal(net.degree(), dense.sum(axis=2))


def test_adjacency_is_symmetric_and_matches():
    rng = np.random.default_rng(6)
    net, dense = random_network(rng, 2, 8, 30)
    for r in range(2):
        adjacency = net.adjacency(r).toarray()
        np.testing.assert_array_equal(adjacency, adjacency.T)
        np.testing.assert_array_equal(adjacency, dense[r])
        assert np.all(np.diag(adjacency) == 0)


def network_draws(n_agents: int, *, form=1.0, partner=0.5, decay=1.0, community=1.0):
    """Network draws (1, N_NETWORK_DRAWS, N): group form/partner rows, community, decay."""
    u = np.empty((1, N_NETWORK_DRAWS, n_agents))
    for q in range(len(GROUP_INTERVENTIONS)):
        u[0, 2 * q], u[0, 2 * q + 1] = form, partner
    u[0, -3], u[0, -2], u[0, -1] = community, partner, decay
    return u


def test_tie_lapses_uses_fractional_sum_of_the_two_draws():
    # sums: 0.375, 1.0 -> 0.0, 1.125 -> 0.125
    assert [
        rules.tie_lapses(a, b, 0.3) for a, b in ((0.125, 0.25), (0.125, 0.875), (0.25, 0.875))
    ] == [False, True, True]
    assert [
        rules.tie_lapses(a, b, 0.1) for a, b in ((0.125, 0.25), (0.125, 0.875), (0.25, 0.875))
    ] == [False, True, False]
    assert not rules.tie_lapses(0.5, 0.5, 0.0)  # frac(1.0) = 0 is kept


@pytest.mark.parametrize(
    ("probability", "kept"),
    [(0.1, {(0, 0, 1), (0, 1, 2)}), (0.0, {(0, 0, 1), (0, 0, 2), (0, 1, 2)})],
)
def test_ties_lapse_in_a_week_by_their_two_draws(probability, kept):
    sim = build(3, {"tie_decay_probability_per_week": probability})
    clear_network(sim)
    sim.state.network.add(np.zeros(3, dtype=np.int64), np.array([0, 0, 1]), np.array([1, 2, 2]))
    week(sim, network=network_draws(3, decay=np.array([0.125, 0.25, 0.875])))
    assert edge_set(sim.state.network) == kept


def test_all_ties_lapse_at_probability_one_of_the_rule():
    assert all(rules.tie_lapses(a, b, 1.0) for a, b in np.random.default_rng(8).random((50, 2)))


def group_sim(
    n_agents: int, enrolled: list[int], *, runs: int = 1, teams=None, params: dict | None = None
) -> Simulation:
    sim = build(n_agents, params, runs=runs, teams=teams or [Team()], offer={"peer_support": 1.0})
    clear_network(sim)
    sim.state.enrolled[:, enrolled, PS] = True
    return sim


def test_group_ties_form_only_within_group_and_run():
    # teams: users i in team i % 3; group = (run, team) of peer-support participants
    teams = [Team(name="a"), Team(name="b"), Team(name="c")]
    members = [0, 1, 3, 4, 6, 9, 8]  # team a: 0 3 6 9; team b: 1 4; team c: 8 alone
    sim = group_sim(
        12, members, runs=2, teams=teams, params={"tie_formation_probability_per_week": 1.0}
    )
    u = network_draws(12, form=0.0, partner=np.random.default_rng(9).random(12))
    week(sim, network=np.concatenate([u, u]))
    net, team = sim.state.network, sim.world.team_of_agent
    assert net.n_edges > 0
    np.testing.assert_array_equal(team[net.a], team[net.b])
    assert np.all(sim.state.enrolled[net.run, net.a, PS] & sim.state.enrolled[net.run, net.b, PS])
    assert np.all(net.a < net.b)
    in_pair_group = np.isin(np.arange(12), [0, 1, 3, 4, 6, 9])
    for r in range(2):
        np.testing.assert_array_equal(net.degree()[r] > 0, in_pair_group)


@pytest.mark.parametrize(
    ("u_partner", "expected"),
    [
        (0.0, {(0, 0, 1), (0, 0, 2)}),  # 0 -> 1, 1 -> 0, 2 -> 0: the first other member
        (0.99, {(0, 0, 2), (0, 1, 2)}),  # 0 -> 2, 1 -> 2, 2 -> 1: the last other member
    ],
)
def test_group_ties_pick_another_member_uniformly(u_partner, expected):
    sim = group_sim(4, [0, 1, 2], params={"tie_formation_probability_per_week": 1.0})
    assert rules.partner_offset(u_partner, 3, 0) == (1 if u_partner == 0.0 else 2)
    week(sim, network=network_draws(4, form=0.0, partner=u_partner))
    assert edge_set(sim.state.network) == expected


@pytest.mark.parametrize(("shift", "forms"), [(-EPS, True), (EPS, False)])
def test_group_ties_form_with_their_probability(shift, forms):
    sim = group_sim(6, list(range(6)), params={"tie_formation_probability_per_week": 0.3})
    week(sim, network=network_draws(6, form=0.3 + shift))
    assert (sim.state.network.n_edges > 0) == forms
    assert (sim.state.network.degree() > 0).all() == forms


def test_initial_network_ties_only_within_sites():
    sites = [Site("x"), Site("y"), Site("z")]
    teams = [Team(site=0), Team(site=1), Team(site=2), Team(site=1)]
    world = make_world(60, sites=sites, teams=teams)
    population = [np.random.default_rng(s) for s in (1, 2, 3)]
    net = initial_network(
        world, np.array([8.0, 4.0, 0.0]), population, build=initial_ties, ties_cap=8
    )
    site = world.site_of_agent
    assert net.n_edges > 50
    np.testing.assert_array_equal(site[net.a], site[net.b])
    assert np.all(net.a < net.b)
    assert len(edge_set(net)) == net.n_edges
    assert not np.any(net.run == 2)  # a mean of zero ties gives no ties
