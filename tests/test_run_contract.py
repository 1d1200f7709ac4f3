"""The run contract (sim.studies.run): the one place studies reach the engine."""

import numpy as np
import pytest

from sim.core.parameters import validate
from sim.core.world import make_world
from sim.studies.run import design_seeds, run_simulations, simulate, tidy_series


def _batch(weeks, **kwargs):
    params = [validate({"unemployment_rate": u}) for u in (0.05, 0.15)]
    return run_simulations(make_world(40), params, design_seeds(3, 2, 1), weeks, **kwargs)


def test_entry_state_equals_week_zero_of_a_run():
    entry = _batch(0, finals=["hope", "employed"])
    run = _batch(3, record_weeks=[0])
    assert list(entry.weeks) == [0]
    assert entry.metrics.keys() == run.metrics.keys()
    for name, values in entry.metrics.items():
        np.testing.assert_array_equal(values, run.metrics[name])
    assert entry.finals["hope"].shape == (2, 40) and entry.finals["hope"].dtype == np.float64


def test_selection_of_metrics_weeks_and_finals():
    runs = _batch(4, metrics=["ties", "employed"], record_weeks=[4, 2], finals=["housed"])
    assert list(runs.metrics) == ["ties", "employed"]
    assert list(runs.weeks) == [2, 4] and runs.metrics["ties"].shape == (2, 2)
    np.testing.assert_array_equal(
        runs.metrics["employed"], _batch(4).metrics["employed"][:, [2, 4]]
    )
    assert list(runs.finals) == ["housed"] and len(runs.seeds) == 2
    assert _batch(2, metrics=()).metrics == {}
    with pytest.raises(ValueError, match="unknown metrics"):
        _batch(2, metrics=["nope"])


def test_progress_ticks_once_per_week():
    ticks = []
    _batch(5, metrics=(), progress=ticks.append)
    assert ticks == [1] * 5


def test_simulate_is_the_contract_plus_labels():
    out = simulate(
        [{"unemployment_rate": 0.05}, {"unemployment_rate": 0.15}],
        seed=3,
        weeks=3,
        n_agents=40,
        metrics=["employed", "hope"],
    )
    runs = _batch(3)
    frame = tidy_series(
        runs, {"design_point": np.arange(2), "replicate": np.zeros(2, int)}, ["employed", "hope"]
    )
    np.testing.assert_array_equal(out.series["value"].to_numpy(), frame["value"].to_numpy())
    assert list(out.series.columns) == list(frame.columns)
