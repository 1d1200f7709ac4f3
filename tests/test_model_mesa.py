"""The Mesa face: agents read the state arrays, the DataCollector and batch_run work,
and the face adds nothing to the dynamics (trajectory == sim.core.engine.run_batch)."""

import math

import mesa
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from sim.core.engine import run_batch
from sim.core.logic_model import STAGES, USER_INTERVENTIONS
from sim.core.metrics import METRICS
from sim.core.parameters import ParameterError, validate
from sim.core.rules import personal_recovery, recovery_stage
from sim.core.seeding import RunSeed
from sim.core.world import Site, WorldError, make_world
from sim.core.world import Team as TeamSpec
from sim.faces.mesa_model import AGENT_REPORTERS, ModelError, RecoveryModel, ServiceUser, TeamAgent

N_AGENTS = 60
PARAMS = {"unemployment_rate": 0.12, "public_stigma": 0.4}
OFFER = {"peer_support": 0.5, "supported_employment": 0.4}


def two_team_world(n_agents: int = N_AGENTS):
    sites = (Site("north"), Site("south", unemployment_rate=0.15))
    teams = (TeamSpec("a", site=0, staff_training=True), TeamSpec("b", site=1))
    return make_world(n_agents, sites=sites, teams=teams, offer=OFFER)


@pytest.fixture(scope="module")
def stepped():
    model = RecoveryModel(world=two_team_world(), seed=7, params=PARAMS)
    for _ in range(8):
        model.step()
    return model


# --- agents read the arrays ---------------------------------------------------------------

STATE_ATTRIBUTES = (
    "motivation",
    "severity",
    "self_stigma",
    "employed",
    "housed",
    "functioning",
    "connectedness",
    "in_relapse",
    "relapses",
)
PROCESS_ATTRIBUTES = ("knowledge", "self_efficacy", "trust", "hope", "empowerment", "meaning")


@pytest.mark.parametrize("column", [0, 7, 31, N_AGENTS - 1])
def test_user_attributes_equal_the_state_arrays(stepped, column):
    state = stepped.simulation.state
    user = stepped.service_users[column]
    assert user.column == column
    for name in STATE_ATTRIBUTES:
        assert getattr(user, name) == getattr(state, name)[0, column], name
    for name in PROCESS_ATTRIBUTES:
        assert getattr(user, name) == state.process[name][0, column], name
    qpr = personal_recovery(state)
    assert user.personal_recovery == qpr[0, column]
    assert user.stage == STAGES[recovery_stage(qpr)[0, column]]
    assert user.team == stepped.world.team_of_agent[column]
    assert user.site == stepped.world.site_of_agent[column]
    assert user.ties == state.network.degree()[0, column]
    enrolled = [USER_INTERVENTIONS[k] for k in np.flatnonzero(state.enrolled[0, column])]
    assert user.interventions == enrolled
    assert set(user.interventions) <= set(user.offered)


def test_some_users_are_enrolled_after_some_weeks(stepped):
    assert any(user.interventions for user in stepped.service_users)


def test_team_attributes_equal_the_state_arrays(stepped):
    state, world = stepped.simulation.state, stepped.world
    teams = stepped.agents_by_type[TeamAgent]
    assert len(teams) == 2
    for team in teams:
        assert team.professional_attitudes == state.attitudes[0, team.index]
        assert team.staff_training == world.staff_training[team.index]
        assert team.n_members == np.count_nonzero(world.team_of_agent == team.index)
        assert len(team.members) == team.n_members
        assert team.site == team.index  # team a on site 0, team b on site 1
    trained, untrained = stepped.team_agents
    assert trained.name == "a" and trained.staff_training
    assert trained.professional_attitudes > state.attitudes_baseline[0, 0]  # training works
    assert untrained.professional_attitudes == state.attitudes_baseline[0, 1]


def test_attributes_are_read_only_and_agents_have_no_step_of_their_own(stepped):
    user = stepped.service_users[0]
    with pytest.raises(AttributeError):
        user.hope = 0.5
    with pytest.raises(AttributeError):
        stepped.team_agents[0].professional_attitudes = 0.5
    assert "step" not in vars(ServiceUser) and "step" not in vars(TeamAgent)


def test_attributes_follow_the_state_as_it_moves():
    model = RecoveryModel(n_agents=30, seed=2)
    user = model.service_users[4]
    before = user.hope
    model.step()
    assert user.hope == model.simulation.state.process["hope"][0, 4]
    assert user.hope != before


# --- AgentSet API -------------------------------------------------------------------------


def test_agentset_select_agg_get_agree_with_the_metrics(stepped):
    users = stepped.agents_by_type[ServiceUser]
    assert len(stepped.agents) == N_AGENTS + 2
    assert len(users) == N_AGENTS
    assert users.agg("employed", np.mean) == pytest.approx(stepped.metrics["employed"], abs=1e-15)
    assert users.agg("personal_recovery", np.mean) == pytest.approx(
        stepped.metrics["personal_recovery"], rel=1e-12
    )
    for stage in STAGES:
        chosen = users.select(lambda a, s=stage: a.stage == s)
        assert len(chosen) == round(stepped.metrics[f"stage_{stage}"] * N_AGENTS)
    qpr = personal_recovery(stepped.simulation.state)[0]
    np.testing.assert_array_equal(users.get("personal_recovery"), qpr)
    assert len(stepped.agents.select(agent_type=TeamAgent)) == 2


# --- DataCollector ------------------------------------------------------------------------


def test_model_vars_have_every_metric_and_one_row_per_week(stepped):
    frame = stepped.datacollector.get_model_vars_dataframe()
    assert set(frame.columns) == set(METRICS)
    assert len(frame) == stepped.steps + 1 == 9
    assert same_metrics(frame.iloc[-1].to_dict(), stepped.metrics)


def test_agent_vars_and_pathway(stepped):
    frame = stepped.datacollector.get_agent_vars_dataframe()
    assert list(frame.index.names) == ["Step", "AgentID"]
    assert list(frame.columns) == list(AGENT_REPORTERS)
    assert len(frame) == (stepped.steps + 1) * len(stepped.agents)
    user = stepped.service_users[5]
    pathway = stepped.agent_pathway(user.unique_id)
    assert list(pathway.columns) == ["personal_recovery", "stage", "employed", "hope"]
    assert list(pathway.index) == list(range(stepped.steps + 1))
    last = pathway.iloc[-1]
    assert last["personal_recovery"] == user.personal_recovery
    assert last["stage"] == user.stage and last["employed"] == user.employed


def test_pathway_rejects_ids_that_are_not_users(stepped):
    with pytest.raises(ModelError, match="no service user with unique_id"):
        stepped.agent_pathway(stepped.team_agents[0].unique_id)
    with pytest.raises(ModelError, match="no service user"):
        stepped.user(10_000)


# --- the face adds nothing to the dynamics ------------------------------------------------


def test_trajectory_equals_run_batch():
    world, weeks, seed = two_team_world(), 10, 11
    model = RecoveryModel(world=world, seed=seed, params=PARAMS, weeks=weeks)
    model.run_model()
    series = tuple(AGENT_REPORTERS.values())
    result = run_batch(world, [validate(PARAMS)], [RunSeed(seed, 0, 0)], weeks, agent_series=series)
    frame = model.datacollector.get_model_vars_dataframe()
    for name, values in result.metrics.items():
        np.testing.assert_array_equal(frame[name].to_numpy(), values[0], err_msg=name)
    user = model.service_users[13]
    pathway = model.agent_pathway(user.unique_id)
    for name in ("personal_recovery", "employed", "hope"):
        expected = result.agent_series[name][0, :, user.column]
        np.testing.assert_array_equal(pathway[name].to_numpy(), expected, err_msg=name)
    stages = [STAGES[i] for i in result.agent_series["stage"][0, :, user.column]]
    assert list(pathway["stage"]) == stages


def same_metrics(a: dict, b: dict) -> bool:
    """Equal metric dicts, a NaN (a mean wait in a week nobody was placed) equal to a NaN."""
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a
    )


def test_keyword_parameters_equal_params_mapping():
    a = RecoveryModel(n_agents=30, seed=1, params={"unemployment_rate": 0.2})
    b = RecoveryModel(n_agents=30, seed=1, unemployment_rate=0.2)
    assert a.params == b.params
    for model in (a, b):
        model.step()
    assert same_metrics(a.metrics, b.metrics)


# --- determinism --------------------------------------------------------------------------


def run_frames(seed: int, weeks: int = 6) -> tuple[pd.DataFrame, pd.DataFrame]:
    model = RecoveryModel(n_agents=40, seed=seed, offer=OFFER, weeks=weeks)
    model.run_model()
    dc = model.datacollector
    return dc.get_model_vars_dataframe(), dc.get_agent_vars_dataframe()


def test_same_seed_gives_identical_frames_and_different_seeds_differ():
    model_a, agents_a = run_frames(3)
    model_b, agents_b = run_frames(3)
    pd.testing.assert_frame_equal(model_a, model_b, check_exact=True)
    pd.testing.assert_frame_equal(agents_a, agents_b, check_exact=True)
    model_c, _ = run_frames(4)
    assert not model_a.equals(model_c)


def test_mesa_generators_are_seeded_too():
    a, b = RecoveryModel(n_agents=5, seed=9), RecoveryModel(n_agents=5, seed=9)
    assert a.rng.random() == b.rng.random()
    assert a.random.random() == b.random.random()


# --- horizon and batch_run ----------------------------------------------------------------


def test_horizon_stops_running():
    model = RecoveryModel(n_agents=20, seed=0, weeks=3)
    assert model.running
    model.run_model()
    assert not model.running
    assert model.steps == model.week == 3
    assert len(model.datacollector.get_model_vars_dataframe()) == 4


def test_batch_run_two_values_two_iterations():
    results = mesa.batch_run(
        RecoveryModel,
        parameters={"n_agents": 20, "unemployment_rate": [0.05, 0.2], "seed": 3},
        iterations=2,
        max_steps=3,
        number_processes=1,
        display_progress=False,
    )
    runs = {(row["RunId"], row["iteration"], row["unemployment_rate"]) for row in results}
    assert len(runs) == 4
    expected = {
        "RunId",
        "iteration",
        "Step",
        "n_agents",
        "unemployment_rate",
        "seed",
        "AgentID",
        *METRICS,
        *AGENT_REPORTERS,
    }
    assert set(results[0]) == expected
    assert len(results) == 4 * (20 + 1)  # one row per agent (users and the team) per run
    by_rate = {
        rate: {row["employed"] for row in results if row["unemployment_rate"] == rate}
        for rate in (0.05, 0.2)
    }
    assert all(len(values) == 1 for values in by_rate.values())  # same seed: iterations agree


def test_batch_run_rows_match_the_models_own_collection():
    results = mesa.batch_run(
        RecoveryModel,
        parameters={"n_agents": 20, "weeks": 3, "seed": [1, 2]},
        iterations=1,
        max_steps=10,
        number_processes=1,
        data_collection_period=1,
        display_progress=False,
    )
    for seed in (1, 2):
        model = RecoveryModel(n_agents=20, seed=seed, weeks=3)
        model.run_model()
        frame = model.datacollector.get_model_vars_dataframe()
        for row in (r for r in results if r["seed"] == seed and r["AgentID"] == 1):
            assert row["personal_recovery"] == frame.loc[row["Step"], "personal_recovery"]
    assert {r["seed"] for r in results} == {1, 2}


# --- network graph ------------------------------------------------------------------------


def test_network_graph(stepped):
    graph = stepped.network_graph()
    assert isinstance(graph, nx.Graph)
    assert graph.number_of_nodes() == N_AGENTS
    assert graph.number_of_edges() == stepped.simulation.state.network.n_edges
    for user in stepped.service_users[:10]:
        node = graph.nodes[user.column]
        assert node["stage"] == user.stage and node["unique_id"] == user.unique_id
        assert graph.degree[user.column] == user.ties


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"params": {"unemployment_rat": 0.1}}, ParameterError, "did you mean"),
        ({"params": {"unemployment_rate": 0.9}}, ParameterError, "out of bounds"),
        ({"public_stigmaa": 0.5}, ParameterError, "unknown parameter"),
        ({"params": "unemployment_rate"}, ModelError, "must be a mapping"),
        ({"params": {"public_stigma": 0.4}, "public_stigma": 0.5}, ModelError, "both in params"),
        ({"weeks": 0}, ModelError, "weeks must be"),
        ({"weeks": 2.5}, ModelError, "weeks must be"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
        ({"n_agents": 0}, WorldError, "n_agents"),
        ({"world": make_world(5), "n_agents": 5}, ModelError, "either world or n_agents"),
        ({"world": "a world"}, ModelError, "sim.core.world.World"),
        ({"offer": {"yoga": 0.5}}, WorldError, "cannot offer"),
    ],
)
def test_bad_input_raises_actionable_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        RecoveryModel(**kwargs)
