"""Reproducibility: same inputs and seed give bit-identical outputs; batches are separable."""

import numpy as np

from sim.core.engine import run_batch
from sim.core.metrics import METRICS, metrics_table
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.core.world import make_world
from sim.studies.run import simulate

WORLD = make_world(
    120, offer={"peer_support": 0.5, "supported_employment": 0.3, "self_management": 0.4}
)
P = [
    validate({"unemployment_rate": u, "motivation_median": m})
    for u, m in ((0.04, 0.3), (0.10, 0.5), (0.20, 0.8))
]
SEEDS = [RunSeed(3, d, 0) for d in range(3)]


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_same_seed_bit_identical():
    first = run_batch(WORLD, P, SEEDS, 20).metrics
    second = run_batch(WORLD, P, SEEDS, 20).metrics
    _assert_same(first, second)


def test_different_seed_differs():
    first = run_batch(WORLD, P[:1], [RunSeed(3)], 20).metrics["personal_recovery"]
    other = run_batch(WORLD, P[:1], [RunSeed(4)], 20).metrics["personal_recovery"]
    assert not np.array_equal(first, other)


def test_run_is_independent_of_batch_composition():
    full = run_batch(WORLD, P, SEEDS, 20)
    alone = run_batch(WORLD, P[1:2], SEEDS[1:2], 20)
    reordered = run_batch(WORLD, [P[2], P[1]], [SEEDS[2], SEEDS[1]], 20)
    for name, values in full.metrics.items():
        np.testing.assert_array_equal(values[1], alone.metrics[name][0], err_msg=name)
        np.testing.assert_array_equal(values[1], reordered.metrics[name][1], err_msg=name)
    np.testing.assert_array_equal(full.final.process["hope"][1], alone.final.process["hope"][0])


def test_a_batch_run_in_sub_batches_is_the_batch(monkeypatch):
    """run_batch's sub-batches (2 runs of 120 users each here) change no number."""
    from test_properties import _arrays

    import sim.core.engine
    from sim.core.engine import Simulation

    params, seeds = P + P[:2], [RunSeed(3, d, 0) for d in range(5)]
    whole = Simulation(WORLD, params, seeds)
    weekly, hope = [], []
    for week in range(13):
        if week:
            whole.step()
        weekly.append(metrics_table(whole))
        hope.append(whole.state.process["hope"].copy())
    calls = []
    monkeypatch.setattr(sim.core.engine, "SUB_BATCH_AGENTS", 240)
    split = run_batch(WORLD, params, seeds, 12, agent_series=["hope"], progress=calls.append)
    assert calls == [1] * 12  # one tick per week of the batch, not per sub-batch week
    expected = np.stack(weekly, axis=2)  # (M, R, weeks)
    for row, name in enumerate(METRICS):
        np.testing.assert_array_equal(split.metrics[name], expected[row], err_msg=name)
    np.testing.assert_array_equal(split.agent_series["hope"], np.stack(hope, axis=1))
    expected_state, actual_state = _arrays(whole.state), _arrays(split.final)
    assert expected_state.keys() == actual_state.keys()
    for name in expected_state:
        np.testing.assert_array_equal(actual_state[name], expected_state[name], err_msg=name)
    for attr in ("run", "a", "b"):
        np.testing.assert_array_equal(
            getattr(split.final.network, attr), getattr(whole.state.network, attr), err_msg=attr
        )
    assert split.final.network.n_edges > 0 and split.final.week == 12
    # still in sub-batches of 2 runs
    some = run_batch(WORLD, params, seeds, 12, agent_series=["hope"], record_weeks=[0, 5, 12])
    for row, name in enumerate(METRICS):
        np.testing.assert_array_equal(
            some.metrics[name], expected[row][:, [0, 5, 12]], err_msg=name
        )
    np.testing.assert_array_equal(some.agent_series["hope"], np.stack(hope, axis=1)[:, [0, 5, 12]])


def test_simulate_tables_are_reproducible():
    a = simulate(P[:2], replicates=2, seed=9, weeks=6, n_agents=50)
    b = simulate(P[:2], replicates=2, seed=9, weeks=6, n_agents=50)
    assert a.series.equals(b.series)
    assert a.summary.equals(b.summary)
    assert list(a.summary.columns[:2]) == ["design_point", "replicate"]
    assert len(a.series) == 2 * 2 * 7 * a.series["metric"].nunique()


def test_common_random_numbers_pair_design_points():
    same = simulate(
        [{}, {}], replicates=2, seed=1, weeks=5, n_agents=40, common_random_numbers=True
    ).summary
    independent = simulate([{}, {}], replicates=2, seed=1, weeks=5, n_agents=40).summary
    metrics = same.columns[2:]
    np.testing.assert_array_equal(
        same.loc[same.design_point == 0, metrics].to_numpy(),
        same.loc[same.design_point == 1, metrics].to_numpy(),
    )
    assert not np.array_equal(
        independent.loc[independent.design_point == 0, metrics].to_numpy(),
        independent.loc[independent.design_point == 1, metrics].to_numpy(),
    )
