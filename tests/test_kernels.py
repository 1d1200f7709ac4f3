"""The compiled weekly step: tiles, sub-batches, copies, pickles, replaced arrays, metrics.

The model has one statement, the compiled rules of sim/core/rules.py driven by
sim/core/kernels.py and its siblings; tests/test_submodels.py tests the rules and
tests/test_baseline.py pins the outputs. Here: stepping a batch in tiles of runs
gives the same state as stepping it whole, bit for bit; a copy or pickle carries
on as the original; arrays replaced or edited between weeks are seen; and every
weekly metric is the plain numpy mean (or share) of the state it describes, bit
for bit -- on hand-made worlds that exercise capacity limits, staff training,
several sites and teams with overrides, batches of differing parameter sets, and
on random worlds and parameter vectors over the whole registry box.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import _arrays, one_cap, parameter_sets, worlds

from sim.core.compiled import CompiledStep
from sim.core.engine import Simulation, run_batch
from sim.core.logic_model import MECHANISMS, STAGES, USER_INTERVENTIONS
from sim.core.metrics import METRICS, metrics_table, weekly_metrics
from sim.core.open_service import FLOWS, NEVER
from sim.core.parameters import validate
from sim.core.rules import personal_recovery, recovery_stage
from sim.core.seeding import RunSeed
from sim.core.world import Site, Team, make_world

ALL_OFFERED = {
    "peer_support": 0.6,
    "self_management": 0.5,
    "recovery_education": 0.5,
    "supported_employment": 0.5,
    "supported_housing": 0.3,
    "shared_decision_making": 0.7,
    "case_management": 0.4,
}


def _busy_world(n_agents: int = 240):
    sites = [
        Site("a", unemployment_rate=0.05, housing_availability=0.8),
        Site("b", unemployment_rate=0.15, public_stigma=0.7),
    ]
    teams = [
        Team("a", site=0, capacity={"peer_support": 10, "supported_employment": 5}),
        Team("b", site=1, staff_training=True, fidelity=0.6),
        Team("c", site=1, professional_attitudes=0.2),
    ]
    return make_world(n_agents, sites=sites, teams=teams, offer=ALL_OFFERED)


def _row_means(values: np.ndarray) -> np.ndarray:
    """``values.mean(axis=1)`` of an (R, N) array: numpy's row sum, then a division by N."""
    total = np.add.reduce(values, axis=1, dtype=np.float64)
    return np.true_divide(total, values.shape[1], out=total)


def _service_metrics(state) -> dict[str, np.ndarray]:
    """The service flow metrics: counts from the state, events from its week's flows
    (their bookkeeping is checked by Little's law in tests/test_open_service.py)."""
    n_agents = state.shape[1]
    flow = dict(zip(FLOWS, state.flow.T, strict=True))
    in_service = (state.referral_week <= state.week) & (state.exit_week == NEVER)

    def mean_of(total: str, count: str) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(flow[count] > 0, flow[total] / flow[count], np.nan)

    return {
        "caseload": np.count_nonzero(in_service, axis=1).astype(float),
        "in_service": np.count_nonzero(in_service, axis=1) / n_agents,
        "list_length": np.count_nonzero(state.waiting, axis=(1, 2)).astype(float),
        **{name: flow[name] for name in FLOWS if "weeks" not in name},
        "waiting_weeks": mean_of("places_filled_waited_weeks", "places_filled"),
        "removed_waiting_weeks": mean_of("list_removals_waited_weeks", "list_removals"),
        "time_to_first_job_weeks": mean_of("first_jobs_weeks_since_referral", "first_jobs"),
    }


def metrics_from_state(simulation: Simulation) -> dict[str, np.ndarray]:
    """What each metric of METRICS is, in numpy, from the state (the test's oracle)."""
    state = simulation.state
    n_runs, n_agents = state.shape
    p = state.process
    qpr = personal_recovery(state)
    stage = recovery_stage(qpr)
    stage_counts = np.stack(
        [np.count_nonzero(stage == s, axis=1) for s in range(len(STAGES))], axis=1
    )
    offered = simulation.world.offered
    started = (state.enrolled | state.completed | state.dropped) & offered[None]
    n_offered = offered.sum()

    def share(flags: np.ndarray) -> np.ndarray:  # an exact count over N
        return np.count_nonzero(flags, axis=1) / n_agents

    values = {
        "employed": share(state.employed),
        "ever_employed": share(state.ever_employed),
        "housed": share(state.housed),
        "functioning": _row_means(state.functioning),
        "personal_recovery": _row_means(qpr),
        **{name: _row_means(p[name]) for name in p},
        "self_stigma": _row_means(state.self_stigma),
        "connectedness": _row_means(state.connectedness),
        "ties": np.add.reduce(state.network.degree(), axis=1) / n_agents,
        "motivation": _row_means(state.motivation),
        "in_relapse": share(state.in_relapse),
        # SIX-style social inclusion (v2): 2 work + 2 home + 1 family + 1 at least one tie
        "social_inclusion": np.add.reduce(
            2 * state.employed.astype(np.int64)
            + 2 * state.housed.astype(np.int64)
            + state.family.astype(np.int64)
            + (state.network.degree() > 0).astype(np.int64),
            axis=1,
        )
        / n_agents,
        "in_hospital": share(state.in_hospital),
        "admissions": np.add.reduce(state.admissions, axis=1) / n_agents,
        "compulsory_admissions": np.add.reduce(state.compulsory_admissions, axis=1) / n_agents,
        "bed_days": 7 * np.add.reduce(state.bed_weeks, axis=1) / n_agents,
        "in_intervention": share(state.enrolled.any(axis=2)),
        "uptake": started.sum(axis=(1, 2)) / n_offered if n_offered else np.zeros(n_runs),
        "early_stage": (stage_counts[:, 0] + stage_counts[:, 1]) / n_agents,
        **{f"dose_{m}": _row_means(state.doses[..., i]) for i, m in enumerate(MECHANISMS)},
        **{f"stage_{name}": stage_counts[:, i] / n_agents for i, name in enumerate(STAGES)},
        **{
            f"in_{name}": share(state.enrolled[..., k]) for k, name in enumerate(USER_INTERVENTIONS)
        },
        **_service_metrics(state),
    }
    assert sorted(values) == sorted(METRICS)
    return {name: values[name] for name in METRICS}


def assert_same_state(expected_sim: Simulation, actual_sim: Simulation, what: str) -> None:
    expected, actual = _arrays(expected_sim.state), _arrays(actual_sim.state)
    assert expected.keys() == actual.keys()
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=f"{name}, {what}")
    for attr in ("run", "a", "b"):
        np.testing.assert_array_equal(
            getattr(actual_sim.state.network, attr),
            getattr(expected_sim.state.network, attr),
            err_msg=f"network.{attr}, {what}",
        )


def assert_metrics_are_the_state(sim: Simulation, week: int) -> None:
    """Every weekly metric equals numpy's mean or share of the state, bit for bit."""
    ours, theirs = weekly_metrics(sim), metrics_from_state(sim)
    assert list(ours) == list(theirs) == list(METRICS)
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=f"metric {name}, week {week}")
    np.testing.assert_array_equal(metrics_table(sim), np.stack(list(ours.values())))


def check_run(world, param_sets, seeds, weeks: int, tile_runs: int | None = None) -> int:
    """Step a batch week by week; metrics are the state's every week, and stepping in
    tiles of ``tile_runs`` runs (if given) gives the same state as stepping whole.

    Returns the number of ties at the end (so a test can check the network was not empty).
    """
    whole = Simulation(world, param_sets, seeds)
    tiled = None
    if tile_runs is not None:  # step the batch in tiles of this many runs
        tiled = Simulation(world, param_sets, seeds)
        tiled._compiled = CompiledStep(world, tiled.params, tiled.state, tile_runs)
        assert len(tiled._compiled.tiles) > 1
    for week in range(weeks + 1):
        if week:
            whole.step()
            if tiled is not None:
                tiled.step()
        assert_metrics_are_the_state(whole, week)
        if tiled is not None:
            assert_same_state(whole, tiled, f"week {week}")
            np.testing.assert_array_equal(
                tiled.state.network.degree(), whole.state.network.degree()
            )
    return whole.state.network.n_edges


def test_busy_world_with_capacity_training_and_overrides():
    params = [
        validate({}),
        validate({"motivation_median": 0.7, "public_stigma": 0.3}),
        validate({"tie_formation_probability_per_week": 0.3, "fidelity": 0.4}),
    ]
    seeds = [RunSeed(7, d, 0) for d in range(3)]
    edges = check_run(_busy_world(), params, seeds, weeks=40)
    assert edges > 100  # group and community ties were formed and merged


def test_a_batch_stepped_in_tiles_is_identical():
    # 5 runs in tiles of 2, 2 and 1: the draws, the edge lists and the capacity queues
    # are cut and put back together per tile
    params = [
        validate({}),
        validate({"tie_formation_probability_per_week": 0.3}),
        validate({"motivation_median": 0.7}),
        validate({"fidelity": 0.4}),
        validate({"public_stigma": 0.3}),
    ]
    seeds = [RunSeed(9, d, 0) for d in range(5)]
    edges = check_run(_busy_world(), params, seeds, weeks=30, tile_runs=2)
    assert edges > 100


def test_one_large_run():
    world = make_world(3_000, offer={"peer_support": 0.5, "supported_employment": 0.5})
    check_run(world, [validate({})], [RunSeed(3)], weeks=15)


@pytest.mark.parametrize("offer", [{}, {"case_management": 1.0}], ids=["no offers", "one"])
def test_edge_worlds(offer):
    world = make_world(30, offer=offer)
    check_run(world, [validate({})] * 2, [RunSeed(1, 0, r) for r in range(2)], weeks=12)


def test_a_single_user():
    world = make_world(1, offer={"peer_support": 1.0})
    check_run(world, [validate({})], [RunSeed(5)], weeks=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), first=parameter_sets, second=parameter_sets, seed=st.integers(0, 2**32 - 1))
def test_random_worlds_and_parameters(world, first, second, seed):
    check_run(
        world,
        one_cap([first, second]),
        [RunSeed(seed, 0, r) for r in range(2)],
        weeks=12,
        tile_runs=1,
    )


def test_replacing_a_state_array_between_weeks_is_seen():
    """Code that swaps a state array (instead of writing into it) is not lost by the kernels."""
    world, params, seeds = _busy_world(120), [validate({})], [RunSeed(11)]
    sims = [Simulation(world, params, seeds) for _ in range(2)]
    for replace, sim in zip((True, False), sims, strict=True):
        for _ in range(5):
            sim.step()
        if replace:
            sim.state.process["hope"] = np.full(sim.state.shape, 0.9)
            sim.state.motivation = np.full(sim.state.shape, 0.2)
        else:  # the same values, written in place
            sim.state.process["hope"][...] = 0.9
            sim.state.motivation[...] = 0.2
        for _ in range(5):
            sim.step()
    assert_same_state(sims[1], sims[0], "after replacing arrays")
    untouched = Simulation(world, params, seeds)
    for _ in range(10):
        untouched.step()
    assert not np.array_equal(untouched.state.motivation, sims[0].state.motivation)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_simulation_continues_as_the_original(how):
    """A copy's kernels update the copy's own state (no cached view of the original's)."""
    import copy
    import pickle

    make_copy = copy.deepcopy if how == "deepcopy" else (lambda x: pickle.loads(pickle.dumps(x)))
    world, params = _busy_world(120), [validate({}), validate({"fidelity": 0.4})]
    original = Simulation(world, params, [RunSeed(13, d, 0) for d in range(2)])
    for _ in range(4):
        original.step()
    clone = make_copy(original)
    for _ in range(4):
        original.step()
        clone.step()
    expected, actual = _arrays(original.state), _arrays(clone.state)
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
    assert not np.shares_memory(clone.state.process["hope"], original.state.process["hope"])


def test_a_world_edited_in_place_is_seen_by_the_next_batch():
    """The compiled path's per-world tables are rebuilt when the world's arrays change."""
    world, params, seeds = (
        make_world(40, offer={"peer_support": 0.5}),
        [validate({})],
        [RunSeed(17)],
    )
    run_batch(world, params, seeds, 4)  # builds and caches the tables
    world.offered[:, :] = True
    ours = run_batch(world, params, seeds, 8).metrics
    fresh = make_world(40, offer={"peer_support": 0.5})
    fresh.offered[:, :] = True  # a new world object: no cached tables
    theirs = run_batch(fresh, params, seeds, 8).metrics
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)


def test_run_batch_records_the_weekly_metrics_of_the_stepped_batch():
    world, params = _busy_world(150), [validate({}), validate({"unemployment_rate": 0.2})]
    seeds = [RunSeed(2, d, 0) for d in range(2)]
    recorded = run_batch(world, params, seeds, 20).metrics
    sim = Simulation(world, params, seeds)
    stepped = {name: [] for name in METRICS}
    for week in range(21):
        if week:
            sim.step()
        for name, value in weekly_metrics(sim).items():
            stepped[name].append(value)
    assert list(recorded) == list(METRICS)
    for name in METRICS:
        np.testing.assert_array_equal(recorded[name], np.stack(stepped[name], axis=1), err_msg=name)
