"""The compiled kernels (sim/core/kernels.py) give bit-identical results to the numpy path.

The numpy path (sim/core/services.py, sim/core/dynamics.py, sim/core/network.py) is the
statement of the model; the numba kernels are an optimisation of it. Every
array of the state and every weekly metric must be *equal*, not close, after
every week: on hand-made worlds that exercise capacity limits, staff training,
several sites and teams with overrides, batches of differing parameter sets,
and on random worlds and parameter vectors over the whole registry box.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import _arrays, parameter_sets, worlds

from sim.core import kernels
from sim.core.compiled import ENVIRONMENT_VARIABLE, CompiledStep, resolve_kernels
from sim.core.engine import Simulation, run_batch
from sim.core.metrics import (
    METRICS,
    _metrics_compiled,
    _metrics_numpy,
    metrics_table,
    weekly_metrics,
)
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.core.world import Site, Team, make_world

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed")

ALL_OFFERED = {"peer_support": 0.6, "self_management": 0.5, "recovery_education": 0.5,
               "supported_employment": 0.5, "supported_housing": 0.3,
               "shared_decision_making": 0.7, "case_management": 0.4}


def _busy_world(n_agents: int = 240):
    sites = [Site("a", unemployment_rate=0.05, housing_availability=0.8),
             Site("b", unemployment_rate=0.15, public_stigma=0.7)]
    teams = [Team("a", site=0, capacity={"peer_support": 10, "supported_employment": 5}),
             Team("b", site=1, staff_training=True, fidelity=0.6),
             Team("c", site=1, professional_attitudes=0.2)]
    return make_world(n_agents, sites=sites, teams=teams, offer=ALL_OFFERED)


def assert_same_run(world, param_sets, seeds, weeks: int, tile_runs: int | None = None) -> int:
    """Step both paths side by side; every state array and metric equal every week.

    Returns the number of ties at the end (so a test can check the network was not empty).
    """
    numpy_sim = Simulation(world, param_sets, seeds, kernels="numpy")
    numba_sim = Simulation(world, param_sets, seeds, kernels="numba")
    if tile_runs is not None:  # step the batch in tiles of this many runs
        numba_sim._compiled = CompiledStep(world, numba_sim.params, numba_sim.state, tile_runs)
        assert len(numba_sim._compiled.tiles) > 1
    for week in range(weeks + 1):
        if week:
            numpy_sim.step()
            numba_sim.step()
        expected, actual = _arrays(numpy_sim.state), _arrays(numba_sim.state)
        assert expected.keys() == actual.keys()
        for name in expected:
            np.testing.assert_array_equal(actual[name], expected[name],
                                          err_msg=f"{name} differs at week {week}")
        for attr in ("run", "a", "b"):
            np.testing.assert_array_equal(getattr(numba_sim.state.network, attr),
                                          getattr(numpy_sim.state.network, attr),
                                          err_msg=f"network.{attr} differs at week {week}")
        np.testing.assert_array_equal(numba_sim.state.network.degree(),
                                      numpy_sim.state.network.degree())
        metrics_numpy, metrics_numba = weekly_metrics(numpy_sim), weekly_metrics(numba_sim)
        assert list(metrics_numba) == list(metrics_numpy)
        for name, value in metrics_numpy.items():
            np.testing.assert_array_equal(metrics_numba[name], value,
                                          err_msg=f"metric {name} differs at week {week}")
        # the compiled tally and numpy's statement of the metrics, on one state
        ours = dict(zip(METRICS, _metrics_compiled(numba_sim), strict=True))
        theirs = _metrics_numpy(numba_sim)
        assert list(ours) == list(theirs)
        for name, value in theirs.items():
            np.testing.assert_array_equal(ours[name], value, err_msg=f"{name}, week {week}")
        np.testing.assert_array_equal(metrics_table(numpy_sim), metrics_table(numba_sim))
    return numba_sim.state.network.n_edges


def test_busy_world_with_capacity_training_and_overrides_is_identical():
    params = [validate({}), validate({"motivation_median": 0.7, "public_stigma": 0.3}),
              validate({"tie_formation_probability_per_week": 0.3, "fidelity": 0.4})]
    seeds = [RunSeed(7, d, 0) for d in range(3)]
    edges = assert_same_run(_busy_world(), params, seeds, weeks=40)
    assert edges > 100  # group and community ties were formed and merged


def test_a_batch_stepped_in_tiles_is_identical():
    # 5 runs in tiles of 2, 2 and 1: the draws, the edge lists and the capacity queues
    # are cut and put back together per tile
    params = [validate({}), validate({"tie_formation_probability_per_week": 0.3}),
              validate({"motivation_median": 0.7}), validate({"fidelity": 0.4}),
              validate({"public_stigma": 0.3})]
    seeds = [RunSeed(9, d, 0) for d in range(5)]
    edges = assert_same_run(_busy_world(), params, seeds, weeks=30, tile_runs=2)
    assert edges > 100


def test_one_large_run_is_identical():
    world = make_world(3_000, offer={"peer_support": 0.5, "supported_employment": 0.5})
    assert_same_run(world, [validate({})], [RunSeed(3)], weeks=15)


@pytest.mark.parametrize("offer", [{}, {"case_management": 1.0}], ids=["no offers", "one"])
def test_edge_worlds_are_identical(offer):
    world = make_world(30, offer=offer)
    assert_same_run(world, [validate({})] * 2, [RunSeed(1, 0, r) for r in range(2)], weeks=12)


def test_a_single_user_is_identical():
    world = make_world(1, offer={"peer_support": 1.0})
    assert_same_run(world, [validate({})], [RunSeed(5)], weeks=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(), first=parameter_sets, second=parameter_sets,
       seed=st.integers(0, 2**32 - 1))
def test_random_worlds_and_parameters_are_identical(world, first, second, seed):
    assert_same_run(world, [first, second], [RunSeed(seed, 0, r) for r in range(2)], weeks=12)


def test_replacing_a_process_array_between_weeks_is_seen_by_both_paths():
    """Code that swaps a state array (instead of writing into it) is not lost by the kernels."""
    world, params, seeds = _busy_world(120), [validate({})], [RunSeed(11)]
    sims = [Simulation(world, params, seeds, kernels=k) for k in ("numpy", "numba")]
    for sim in sims:
        for _ in range(5):
            sim.step()
        sim.state.process["hope"] = np.full(sim.state.shape, 0.9)
        sim.state.motivation = np.full(sim.state.shape, 0.2)
        for _ in range(5):
            sim.step()
    expected, actual = _arrays(sims[0].state), _arrays(sims[1].state)
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_copied_simulation_continues_as_the_original(how):
    """A copy's kernels update the copy's own state (no cached view of the original's)."""
    import copy
    import pickle

    make_copy = copy.deepcopy if how == "deepcopy" else (lambda x: pickle.loads(pickle.dumps(x)))
    world, params = _busy_world(120), [validate({}), validate({"fidelity": 0.4})]
    original = Simulation(world, params, [RunSeed(13, d, 0) for d in range(2)], kernels="numba")
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
    world, params, seeds = make_world(40, offer={"peer_support": 0.5}), [validate({})], [
        RunSeed(17)]
    run_batch(world, params, seeds, 4, kernels="numba")  # builds and caches the tables
    world.offered[:, :] = True
    ours = run_batch(world, params, seeds, 8, kernels="numba").metrics
    theirs = run_batch(world, params, seeds, 8, kernels="numpy").metrics
    for name, value in theirs.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)


def test_run_batch_metrics_identical_across_kernels():
    world, params = _busy_world(150), [validate({}), validate({"unemployment_rate": 0.2})]
    seeds = [RunSeed(2, d, 0) for d in range(2)]
    a = run_batch(world, params, seeds, 20, kernels="numpy")
    b = run_batch(world, params, seeds, 20, kernels="numba")
    assert a.metrics.keys() == b.metrics.keys()
    for name in a.metrics:
        np.testing.assert_array_equal(b.metrics[name], a.metrics[name], err_msg=name)


def test_kernel_choice_from_argument_and_environment(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    assert resolve_kernels() == "numba"
    assert resolve_kernels("numpy") == "numpy"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "numpy")
    assert resolve_kernels() == "numpy"
    world = make_world(10)
    assert Simulation(world, [validate({})], [RunSeed(0)]).kernels == "numpy"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "fortran")
    with pytest.raises(ValueError, match=r"RECOVERY_SIM_KERNELS = 'fortran' is invalid; "
                                         r"allowed: auto, numba, numpy"):
        resolve_kernels()
    with pytest.raises(ValueError, match=r"kernels = 'gpu' is invalid"):
        Simulation(world, [validate({})], [RunSeed(0)], kernels="gpu")
