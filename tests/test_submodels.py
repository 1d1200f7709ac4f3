"""Unit tests for each submodel on small hand-made states.

Every test builds a real :class:`~sim.engine.Simulation` (so the state has the
shapes and dtypes the engine uses), overwrites the arrays it needs by hand and
calls one submodel function directly, comparing against a value computed by
hand from the rule in the docstring.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.core import services
from sim.core.dynamics import (
    _move,
    apply_outcomes,
    job_finding_probability,
    mechanism_doses,
    personal_recovery,
    recovery_stage,
)
from sim.core.engine import Simulation
from sim.core.logic_model import USER_INTERVENTIONS, mechanism_profile_matrix
from sim.core.network import Network, decay_ties, form_group_ties, initial_network
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.core.world import Site, Team, make_world

PS = USER_INTERVENTIONS.index("peer_support")
SM = USER_INTERVENTIONS.index("self_management")
IPS = USER_INTERVENTIONS.index("supported_employment")
HF = USER_INTERVENTIONS.index("supported_housing")
K = len(USER_INTERVENTIONS)
EPS = 1e-9


def build(n_agents: int, params: dict | None = None, *, runs: int = 1, **world_kwargs):
    """A Simulation of ``runs`` runs of a fresh world, with parameters checked by the registry."""
    world = make_world(n_agents, **world_kwargs)
    param_set = validate(params or {})
    seeds = [RunSeed(7, 0, r) for r in range(runs)]
    return Simulation(world, [param_set] * runs, seeds)


def clear_network(sim: Simulation) -> None:
    sim.state.network.keep(np.zeros(sim.state.network.n_edges, dtype=bool))


def empty_network(n_runs: int, n_agents: int) -> Network:
    return Network(n_runs, n_agents, *(np.empty(0, dtype=np.int64) for _ in range(3)))


def edge_set(network: Network) -> set[tuple[int, int, int]]:
    return set(zip(network.run.tolist(), network.a.tolist(), network.b.tolist(), strict=True))


# --------------------------------------------------------------------------- services


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_engagement_is_motivation_times_trust_mix(weight):
    sim = build(4, {"trust_engagement_weight": weight})
    sim.state.motivation = np.array([[0.0, 0.4, 0.8, 1.0]])
    sim.state.process["trust"] = np.array([[0.5, 0.0, 0.25, 1.0]])
    expected = np.array([[0.0, 0.4 * (1 - weight), 0.8 * (1 - weight + weight * 0.25), 1.0]])
    np.testing.assert_allclose(services.engagement(sim.state, sim.params), expected, atol=1e-15)


def test_uptake_only_offered_free_users_join():
    offer = np.array([True, True, True, True, True, False])
    sim = build(6, offer={"peer_support": offer})
    state = sim.state
    state.week = 5
    state.enrolled[0, 1, PS] = True
    state.waiting[0, 2, PS] = True
    state.wait_since[0, 2, PS] = 1
    state.completed[0, 3, PS] = True
    state.dropped[0, 4, PS] = True
    u = np.zeros((1, 6, K))  # every draw below every positive chance
    services.uptake(state, sim.world, sim.params, u, np.ones((1, 6)))
    np.testing.assert_array_equal(state.waiting[0, :, PS], [True, False, True, False, False, False])
    np.testing.assert_array_equal(state.wait_since[0, :, PS], [5, 0, 1, 0, 0, 0])
    # nothing else was offered, so nobody waits for anything else
    assert not np.delete(state.waiting, PS, axis=2).any()
    # uptake only puts users on the waiting list
    np.testing.assert_array_equal(
        state.enrolled[0, :, PS], [False, True, False, False, False, False]
    )


def test_uptake_chance_is_probability_times_engagement():
    params = {"uptake_probability_per_week": 0.4}
    engaged = np.array([[1.0, 0.5, 0.25]])
    chance = 0.4 * engaged[0]
    for shift, joins in [(-EPS, True), (EPS, False)]:
        sim = build(3, params, offer={"peer_support": 1.0})
        u = np.ones((1, 3, K))
        u[0, :, PS] = chance + shift
        services.uptake(sim.state, sim.world, sim.params, u, engaged)
        np.testing.assert_array_equal(sim.state.waiting[0, :, PS], [joins] * 3)
        assert not np.delete(sim.state.waiting, PS, axis=2).any()


def test_uptake_with_zero_draw_and_zero_engagement_does_not_join():
    sim = build(2, offer={"peer_support": 1.0})
    services.uptake(sim.state, sim.world, sim.params, np.zeros((1, 2, K)), np.zeros((1, 2)))
    assert not sim.state.waiting.any()


def test_admit_with_unlimited_capacity_admits_everyone_waiting():
    sim = build(5, runs=2)
    state = sim.state
    waiting = np.zeros((2, 5, K), dtype=bool)
    waiting[0, [0, 3], PS] = True
    waiting[1, [1, 2, 4], IPS] = True
    waiting[1, 2, HF] = True
    state.waiting = waiting.copy()
    state.weeks_in[:] = 9
    admitted = services.admit(state, sim.world)
    np.testing.assert_array_equal(admitted, waiting)
    np.testing.assert_array_equal(state.enrolled, waiting)
    assert not state.waiting.any()
    np.testing.assert_array_equal(state.weeks_in[waiting], 0)
    np.testing.assert_array_equal(state.weeks_in[~waiting], 9)


def test_admit_limited_is_first_come_first_served():
    sim = build(5, teams=[Team(capacity={"peer_support": 2})])
    state = sim.state
    state.waiting[0, :, PS] = True
    state.wait_since[0, :, PS] = [4, 1, 3, 2, 5]
    state.priority[0] = [0.0, 0.9, 0.1, 0.8, 0.2]  # priority never beats waiting time
    admitted = services.admit(state, sim.world)
    np.testing.assert_array_equal(admitted[0, :, PS], [False, True, False, True, False])
    np.testing.assert_array_equal(state.waiting[0, :, PS], [True, False, True, False, True])


@pytest.mark.parametrize("priority", [[0.2, 0.7, 0.5], [0.7, 0.2, 0.5]])
def test_admit_limited_breaks_ties_by_priority(priority):
    sim = build(3, teams=[Team(capacity={"peer_support": 1})])
    state = sim.state
    state.waiting[0, :2, PS] = True
    state.wait_since[0, :2, PS] = 3
    state.priority[0] = priority
    admitted = services.admit(state, sim.world)[0, :, PS]
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
    sim = build(12, runs=2, teams=teams)  # user i in team i % 3
    state = sim.state
    team = sim.world.team_of_agent
    state.priority[:] = np.linspace(0, 1, 12)
    # run 0: one place of team a is taken; run 1: none taken
    state.enrolled[0, 0, PS] = True
    state.waiting[0, [3, 6, 9], PS] = True  # team a
    state.waiting[1, [0, 3, 6, 9], PS] = True  # team a
    state.waiting[:, [1, 4, 7, 10], PS] = True  # team b, unlimited
    state.waiting[:, [2, 5], PS] = True  # team c, no places
    state.waiting[:, [3, 4], SM] = True  # no limit on self-management
    services.admit(state, sim.world)
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
    sim = build(3, {"peer_support_weeks": 4, "dropout_probability_per_week": 0.0})
    state = sim.state
    state.enrolled[0, :, PS] = True
    state.weeks_in[0, :, PS] = [2, 3, 0]
    was = state.enrolled.copy()
    services.disengage_and_complete(state, sim.params, np.zeros((1, 3, K)), was, np.ones((1, 3)))
    np.testing.assert_array_equal(state.completed[0, :, PS], [False, True, False])
    np.testing.assert_array_equal(state.enrolled[0, :, PS], [True, False, True])
    np.testing.assert_array_equal(state.weeks_in[0, :, PS], [3, 4, 1])
    assert not state.dropped.any()


def test_enrolment_lasts_exactly_duration_steps():
    weeks = 5
    sim = build(1, {"self_management_weeks": weeks, "dropout_probability_per_week": 0.0})
    state = sim.state
    state.waiting[0, 0, SM] = True
    services.admit(state, sim.world)
    steps = 0
    while state.enrolled[0, 0, SM]:
        was = state.enrolled.copy()
        services.disengage_and_complete(state, sim.params, np.ones((1, 1, K)), was, np.ones((1, 1)))
        steps += 1
        assert steps <= 2 * weeks
    assert steps == weeks
    assert state.completed[0, 0, SM]


def test_dropout_chance_and_only_for_users_enrolled_before_the_week():
    sim = build(5, {"dropout_probability_per_week": 0.2, "peer_support_weeks": 52})
    state = sim.state
    engaged = np.array([[0.5, 0.5, 0.0, 1.0, 0.0]])
    chance = 0.2 * (1.0 - engaged[0])
    u = np.ones((1, 5, K))
    u[0, :, PS] = [chance[0] - EPS, chance[1] + EPS, chance[2] - EPS, 0.0, 0.0]
    state.enrolled[0, :, PS] = True
    state.weeks_in[0, :, PS] = 1
    was = state.enrolled.copy()
    was[0, 4, PS] = False  # admitted this week: cannot drop out this week
    services.disengage_and_complete(state, sim.params, u, was, engaged)
    np.testing.assert_array_equal(state.dropped[0, :, PS], [True, False, True, False, False])
    np.testing.assert_array_equal(state.enrolled[0, :, PS], [False, True, False, True, True])
    # weeks in only count for those still enrolled
    np.testing.assert_array_equal(state.weeks_in[0, :, PS], [1, 2, 1, 2, 2])
    assert not state.completed.any()


def test_train_staff_ramps_trained_teams_linearly_to_the_gain():
    teams = [
        Team(professional_attitudes=0.2, staff_training_participation=0.5, staff_training=True),
        Team(professional_attitudes=0.4, staff_training=True, staff_training_participation=1.0),
        Team(professional_attitudes=0.4),
    ]
    sim = build(3, {"staff_training_attitude_gain": 0.6, "staff_training_weeks": 10}, teams=teams)
    state = sim.state
    expected_full = np.array([0.2 + 0.6 * 0.5 * 0.8, 0.4 + 0.6 * 1.0 * 0.6, 0.4])
    for week, progress in [(0, 0.0), (5, 0.5), (10, 1.0), (30, 1.0)]:
        state.week = week
        services.train_staff(state, sim.world, sim.params)
        expected = np.array([0.2, 0.4, 0.4]) + progress * (expected_full - [0.2, 0.4, 0.4])
        np.testing.assert_allclose(state.attitudes[0], expected, atol=1e-12)
    np.testing.assert_array_equal(state.attitudes_baseline[0], [0.2, 0.4, 0.4])


def test_train_staff_without_trained_teams_changes_nothing():
    sim = build(2, {"staff_training_attitude_gain": 1.0}, teams=[Team(), Team()])
    sim.state.week = 50
    before = sim.state.attitudes.copy()
    services.train_staff(sim.state, sim.world, sim.params)
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


def test_no_intervention_dose_without_enrolment():
    sim = build(4, {"usual_care_contact": 0.0})
    clear_network(sim)
    doses = mechanism_doses(
        sim.state, sim.world, sim.params, np.ones((1, 4)), np.ones((1, 4), dtype=bool)
    )
    np.testing.assert_array_equal(doses, np.zeros((1, 4, 4)))


@pytest.mark.parametrize("attitude", [0.1, 0.5, 0.9])
def test_usual_care_dose_sign_follows_attitudes(attitude):
    sim = build(2, {"usual_care_contact": 0.6})
    clear_network(sim)
    sim.state.attitudes[:] = attitude
    doses = mechanism_doses(
        sim.state, sim.world, sim.params, np.ones((1, 2)), np.zeros((1, 2), dtype=bool)
    )
    expected = 0.6 * (2 * attitude - 1)
    np.testing.assert_allclose(doses[0, :, 1], expected, atol=1e-15)
    np.testing.assert_allclose(doses[0, :, 3], expected, atol=1e-15)
    np.testing.assert_array_equal(doses[0, :, [0, 2]], 0.0)
    assert np.all(np.sign(doses[0, :, 1]) == np.sign(attitude - 0.5))


def test_ips_enrolment_gives_profile_times_fidelity():
    sim = build(2, {"usual_care_contact": 0.0, "fidelity": 0.8})
    clear_network(sim)
    sim.state.attitudes[:] = 0.7
    sim.state.enrolled[0, 0, IPS] = True
    engaged = np.array([[0.6, 0.6]])
    doses = mechanism_doses(sim.state, sim.world, sim.params, engaged, np.zeros((1, 2), dtype=bool))
    profile = mechanism_profile_matrix()[IPS]
    np.testing.assert_allclose(profile, [0.5, 1.0, 0.0, 1.0])
    expected = profile * 0.8 * np.array([0.6, 1.2, 0.6, 1.2])
    np.testing.assert_allclose(doses[0, 0], expected, atol=1e-15)
    np.testing.assert_array_equal(doses[0, 1], 0.0)


def test_role_modelling_from_ties_further_on():
    sim = build(4, {"usual_care_contact": 0.0, "network_role_model_weight": 2.0})
    clear_network(sim)
    # 0 - 1, 0 - 2; user 3 has no ties
    sim.state.network.add(np.array([0, 0]), np.array([0, 0]), np.array([1, 2]))
    advanced = np.array([[False, True, True, True]])
    doses = mechanism_doses(sim.state, sim.world, sim.params, np.ones((1, 4)), advanced)
    # user 0: both ties advanced -> 2 x (1 - 0.5); users 1, 2: their one tie is not -> 2 x -0.5
    np.testing.assert_allclose(doses[0, :, 2], [1.0, -1.0, -1.0, 0.0], atol=1e-15)


def test_move_positive_dose_toward_one_negative_toward_zero():
    p = np.array([0.5, 0.5, 0.2, 0.9, 0.5])
    dose = np.array([1.0, -1.0, 0.5, -0.5, 0.0])
    moved = _move(p, dose, np.array(0.2), np.array(0.0), p)
    np.testing.assert_allclose(
        moved, [0.6, 0.4, 0.2 + 0.2 * 0.5 * 0.8, 0.9 - 0.2 * 0.5 * 0.9, 0.5], atol=1e-15
    )


def test_move_decays_toward_baseline():
    p = np.array([0.9, 0.1, 0.5])
    base = np.array([0.5, 0.5, 0.5])
    moved = _move(p, np.zeros(3), np.array(0.3), np.array(0.1), base)
    np.testing.assert_allclose(moved, [0.86, 0.14, 0.5], atol=1e-15)


def test_move_stays_in_unit_interval():
    rng = np.random.default_rng(11)
    p, base = rng.random(1000), rng.random(1000)
    dose = rng.uniform(-5, 5, 1000)
    moved = _move(p, dose, rng.uniform(0, 1, 1000), rng.uniform(0, 1, 1000), base)
    assert moved.min() >= 0.0 and moved.max() <= 1.0
    moved = _move(
        np.array([0.99, 0.01]),
        np.array([10.0, -10.0]),
        np.array(0.5),
        np.array(0.0),
        np.array([0.5, 0.5]),
    )
    np.testing.assert_array_equal(moved, [1.0, 0.0])


def equal_users(sim: Simulation) -> None:
    """Make every user identical except for the quantity under test."""
    s = sim.state
    for name in s.process:
        s.process[name][:] = 0.5
    s.motivation[:], s.severity[:] = 0.5, 0.5
    s.work_history[:], s.in_relapse[:], s.enrolled[:] = False, False, False


def two_site_sim(rates: tuple[float, float], params: dict | None = None) -> Simulation:
    sites = [Site(unemployment_rate=rates[0]), Site(unemployment_rate=rates[1])]
    return build(2, params, sites=sites, teams=[Team(site=0), Team(site=1)])


def odds(p: np.ndarray) -> np.ndarray:
    return p / (1.0 - p)


@pytest.mark.parametrize("ratio", [1.0, 1.07, 1.15])
def test_job_finding_odds_ratio_per_point_of_unemployment(ratio):
    sim = two_site_sim((0.07, 0.08), {"job_entry_odds_ratio_per_point": ratio})
    equal_users(sim)
    p = job_finding_probability(sim.state, sim.params)[0]
    assert abs(odds(p[0]) / odds(p[1]) - ratio) < 1e-9


def test_job_finding_falls_with_unemployment():
    rates = np.linspace(0.02, 0.25, 8)
    probabilities = []
    for rate in rates:
        sim = two_site_sim((rate, rate), {"job_entry_odds_ratio_per_point": 1.07})
        equal_users(sim)
        probabilities.append(job_finding_probability(sim.state, sim.params)[0, 0])
    assert np.all(np.diff(probabilities) < 0)
    # at the reference rate, an average unemployed user has the base chance
    sim = two_site_sim((0.07, 0.07), {"reference_unemployment_rate": 0.07, "public_stigma": 0.5})
    equal_users(sim)
    np.testing.assert_allclose(
        job_finding_probability(sim.state, sim.params)[0],
        sim.params.job_finding_probability_per_week[0, 0],
        rtol=1e-12,
    )


def test_job_finding_ips_multiplies_odds_and_relapse_zeroes_it():
    sim = build(3, {"ips_job_finding_multiplier": 4.0})
    equal_users(sim)
    sim.state.enrolled[0, 1, IPS] = True
    sim.state.in_relapse[0, 2] = True
    p = job_finding_probability(sim.state, sim.params)[0]
    np.testing.assert_allclose(odds(p[1]) / odds(p[0]), 4.0, rtol=1e-12)
    assert p[0] > 0.0
    assert p[2] == 0.0


def outcome_sim(n: int, params: dict | None = None) -> Simulation:
    sim = build(n, params)
    equal_users(sim)
    clear_network(sim)
    s = sim.state
    s.employed[:], s.ever_employed[:], s.housed[:] = False, False, True
    s.weeks_employed[:], s.weeks_housed[:] = 0, 0
    s.baseline["knowledge"][:] = 0.5
    return sim


def draws_for(n: int, *, employment=1.0, housing=1.0, relapse=1.0) -> dict[str, np.ndarray]:
    """Draws that by default trigger nothing (a uniform of 1 exceeds every chance)."""

    def full(value):
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (1, n)).copy()

    return {
        "employment": full(employment),
        "housing": full(housing),
        "relapse": full(relapse),
        "noise": np.zeros((1, n, 3)),
    }


def test_job_start_follows_job_finding_probability():
    sim = outcome_sim(3)
    chance = job_finding_probability(sim.state, sim.params)[0]
    draws = draws_for(3, employment=[chance[0] - EPS, chance[1] + EPS, 0.0])
    sim.state.employed[0, 2] = True  # already employed: a draw of 0 means job loss, not start
    apply_outcomes(sim.state, sim.params, draws)
    np.testing.assert_array_equal(sim.state.employed[0], [True, False, False])
    np.testing.assert_array_equal(sim.state.ever_employed[0], [True, False, False])
    np.testing.assert_array_equal(sim.state.weeks_employed[0], [1, 0, 0])


def test_job_loss_follows_its_probability():
    params = {
        "job_loss_probability_per_week": 0.05,
        "ips_job_retention": 0.4,
        "relapse_loss_multiplier": 3.0,
        "relapse_recovery_probability_per_week": 0.02,
    }
    sim = outcome_sim(6, params)
    s = sim.state
    s.employed[:] = s.ever_employed[:] = True
    s.enrolled[0, [2, 3], IPS] = True
    s.in_relapse[0, [4, 5]] = True
    base, ips, relapse = 0.05, 0.05 * 0.6, 0.05 * 3.0
    draws = draws_for(
        6, employment=[base - EPS, base + EPS, ips - EPS, ips + EPS, relapse - EPS, relapse + EPS]
    )
    apply_outcomes(s, sim.params, draws)
    np.testing.assert_array_equal(s.employed[0], [False, True, False, True, False, True])
    assert s.ever_employed.all()
    np.testing.assert_array_equal(s.weeks_employed[0], [0, 1, 0, 1, 0, 1])


def test_housing_gain_and_loss_follow_their_probabilities():
    params = {
        "housing_gain_probability_per_week": 0.01,
        "housing_first_multiplier": 5.0,
        "housing_loss_probability_per_week": 0.02,
        "housing_first_retention": 0.5,
        "housing_availability": 0.5,
    }
    sim = outcome_sim(8, params)
    s = sim.state
    s.housed[0, :4] = False
    s.enrolled[0, [2, 3, 6, 7], HF] = True
    gain = 0.01
    gain_hf = odds(np.array(gain)) * 5.0 / (1 + odds(np.array(gain)) * 5.0)
    lose, lose_hf = 0.02, 0.02 * 0.5
    draws = draws_for(
        8,
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
    apply_outcomes(s, sim.params, draws)
    np.testing.assert_array_equal(s.housed[0], [True, False, True, False, False, True, False, True])
    np.testing.assert_array_equal(s.weeks_housed[0], s.housed[0].astype(int))


def test_housing_gain_scales_with_availability_in_odds():
    sim = outcome_sim(1, {"housing_gain_probability_per_week": 0.01, "housing_availability": 1.0})
    sim.state.housed[:] = False
    chance = 0.02 / 1.01  # odds 0.01/0.99 doubled
    apply_outcomes(sim.state, sim.params, draws_for(1, housing=chance - EPS))
    assert sim.state.housed[0, 0]
    sim = outcome_sim(1, {"housing_gain_probability_per_week": 0.01, "housing_availability": 1.0})
    sim.state.housed[:] = False
    apply_outcomes(sim.state, sim.params, draws_for(1, housing=chance + EPS))
    assert not sim.state.housed[0, 0]


def test_relapse_onset_and_resolution_follow_their_probabilities():
    params = {
        "relapse_probability_per_week": 0.04,
        "relapse_recovery_probability_per_week": 0.3,
        "relapse_knowledge_protection": 2.0,
    }
    sim = outcome_sim(6, params)
    s = sim.state
    s.severity[0] = [0.5, 0.5, 1.0, 0.5, 0.5, 0.5]
    s.process["knowledge"][0, 3] = 0.75  # gain 0.25 over baseline: hazard x exp(-0.5)
    s.in_relapse[0, [4, 5]] = True
    s.relapses[0, [4, 5]] = 1
    onset_mid, onset_high = 0.04, 0.04 * 1.5
    onset_protected = 0.04 * np.exp(-0.5)
    draws = draws_for(
        6,
        relapse=[
            onset_mid - EPS,
            onset_mid + EPS,
            onset_high - EPS,
            onset_protected + EPS,
            0.3 - EPS,
            0.3 + EPS,
        ],
    )
    apply_outcomes(s, sim.params, draws)
    np.testing.assert_array_equal(s.in_relapse[0], [True, False, True, False, False, True])
    np.testing.assert_array_equal(s.relapses[0], [1, 0, 1, 0, 1, 1])


def test_job_start_raises_hope_motivation_and_self_efficacy():
    params = {"success_boost": 0.2, "motivation_rate_per_week": 0.0}
    sim = outcome_sim(2, params)
    s = sim.state
    s.process["hope"][0] = [0.4, 0.4]
    s.process["self_efficacy"][0] = [0.3, 0.3]
    s.motivation[0] = [0.6, 0.6]
    apply_outcomes(s, sim.params, draws_for(2, employment=[0.0, 1.0]))
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
    # user 0 relapses; user 1 loses the job; user 2 neither
    apply_outcomes(s, sim.params, draws_for(3, relapse=[0.0, 1.0, 1.0], employment=[1.0, 0.0, 1.0]))
    assert s.in_relapse[0].tolist() == [True, False, False]
    assert s.employed[0].tolist() == [False, False, False]
    np.testing.assert_allclose(s.process["hope"][0], [0.8 * 0.75, 0.8 * 0.9, 0.8], atol=1e-15)
    np.testing.assert_allclose(s.motivation[0], [0.6 * 0.75, 0.6 * 0.9, 0.6], atol=1e-15)
    np.testing.assert_allclose(s.process["self_efficacy"][0], [0.5 * 0.75, 0.5, 0.5], atol=1e-15)


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


def test_degree_and_neighbour_sum_match_dense_adjacency():
    rng = np.random.default_rng(5)
    net, dense = random_network(rng, 3, 9, 40)
    assert net.n_edges > 10
    values = rng.random((3, 9))
    np.testing.assert_array_equal(net.degree(), dense.sum(axis=2))
    np.testing.assert_allclose(
        net.neighbour_sum(values), np.einsum("rij,rj->ri", dense, values), atol=1e-12
    )


def test_adjacency_is_symmetric_and_matches():
    rng = np.random.default_rng(6)
    net, dense = random_network(rng, 2, 8, 30)
    for r in range(2):
        adjacency = net.adjacency(r).toarray()
        np.testing.assert_array_equal(adjacency, adjacency.T)
        np.testing.assert_array_equal(adjacency, dense[r])
        assert np.all(np.diag(adjacency) == 0)


def test_decay_ties_probability_zero_keeps_all_and_one_removes_all():
    rng = np.random.default_rng(8)
    net, _ = random_network(rng, 2, 10, 30)
    before = edge_set(net)
    decay_ties(net, rng.random((2, 10)), np.zeros((2, 1)))
    assert edge_set(net) == before
    decay_ties(net, rng.random((2, 10)), np.array([[1.0], [0.0]]))
    assert edge_set(net) == {e for e in before if e[0] == 1}
    decay_ties(net, rng.random((2, 10)), np.ones((2, 1)))
    assert net.n_edges == 0


def test_decay_ties_uses_fractional_sum_of_the_two_draws():
    net = empty_network(1, 3)
    net.add(np.zeros(3, dtype=np.int64), np.array([0, 0, 1]), np.array([1, 2, 2]))
    u = np.array([[0.125, 0.25, 0.875]])  # sums: 0.375, 1.0 -> 0.0, 1.125 -> 0.125
    decay_ties(net, u, np.array([[0.3]]))
    assert edge_set(net) == {(0, 0, 1)}
    net.add(np.zeros(3, dtype=np.int64), np.array([0, 0, 1]), np.array([1, 2, 2]))
    decay_ties(net, u, np.array([[0.1]]))
    assert edge_set(net) == {(0, 0, 1), (0, 1, 2)}
    decay_ties(net, np.full((1, 3), 0.5), np.array([[0.0]]))  # frac(1.0) = 0 is kept
    assert edge_set(net) == {(0, 0, 1), (0, 1, 2)}


def test_form_group_ties_only_within_group_and_run():
    rng = np.random.default_rng(9)
    n_runs, n_agents = 2, 12
    group = np.full((n_runs, n_agents), -1, dtype=np.int64)
    group[0, [0, 1, 2, 7]] = 0
    group[0, [3, 4]] = 1
    group[0, 5] = 2  # alone in its group
    group[1, [0, 1, 2, 7]] = 3  # same users as group 0, other run
    group[1, [8, 9, 10, 11]] = 4
    net = empty_network(n_runs, n_agents)
    form_group_ties(
        net,
        group,
        rng.random((n_runs, n_agents)),
        rng.random((n_runs, n_agents)),
        np.ones((n_runs, 1)),
    )
    assert net.n_edges > 0
    np.testing.assert_array_equal(group[net.run, net.a], group[net.run, net.b])
    assert np.all(group[net.run, net.a] >= 0)
    assert np.all(net.a < net.b)
    members = group >= 0
    members[0, 5] = False
    np.testing.assert_array_equal(net.degree() > 0, members)


@pytest.mark.parametrize(
    ("u_partner", "expected"),
    [
        (0.0, {(0, 0, 1), (0, 0, 2)}),  # 0 -> 1, 1 -> 0, 2 -> 0: the first other member
        (0.99, {(0, 0, 2), (0, 1, 2)}),  # 0 -> 2, 1 -> 2, 2 -> 1: the last other member
    ],
)
def test_form_group_ties_picks_another_member_uniformly(u_partner, expected):
    net = empty_network(1, 4)
    group = np.array([[5, 5, 5, -1]])
    form_group_ties(net, group, np.zeros((1, 4)), np.full((1, 4), u_partner), np.ones((1, 1)))
    assert edge_set(net) == expected


def test_form_group_ties_probability_zero_forms_none():
    group = np.zeros((1, 6), dtype=np.int64)
    net = empty_network(1, 6)
    form_group_ties(net, group, np.full((1, 6), 0.5), np.full((1, 6), 0.5), np.zeros((1, 1)))
    assert net.n_edges == 0


def test_initial_network_ties_only_within_sites():
    sites = [Site("x"), Site("y"), Site("z")]
    teams = [Team(site=0), Team(site=1), Team(site=2), Team(site=1)]
    world = make_world(60, sites=sites, teams=teams)
    population = [np.random.default_rng(s) for s in (1, 2, 3)]
    net = initial_network(world, np.array([8.0, 4.0, 0.0]), population)
    site = world.site_of_agent
    assert net.n_edges > 50
    np.testing.assert_array_equal(site[net.a], site[net.b])
    assert np.all(net.a < net.b)
    assert len(edge_set(net)) == net.n_edges
    assert not np.any(net.run == 2)  # a mean of zero ties gives no ties


def test_select_runs_renumbers_and_keeps_only_chosen_runs():
    rng = np.random.default_rng(12)
    net, dense = random_network(rng, 3, 7, 40)
    chosen = net.select_runs(np.array([2, 0]))
    assert chosen.n_runs == 2 and chosen.n_agents == 7
    for new, old in enumerate([2, 0]):
        np.testing.assert_array_equal(chosen.adjacency(new).toarray(), dense[old])
    assert chosen.n_edges == int(dense[[2, 0]].sum() / 2)
