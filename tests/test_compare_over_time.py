"""Comparisons over time (issue 18 §6): paired differences week by week, cumulative measures."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sim.files.scenario import load_scenario
from sim.files.shipped import scenario_dir
from sim.studies.compare import (
    ScenarioResult,
    cumulative_differences,
    differences_over_time,
    episode_end_week,
)


def _result(name: str, employed: np.ndarray, bed_days: np.ndarray) -> ScenarioResult:
    """Replicates x weeks (0..W) of the share employed and cumulative bed-days."""
    rows = []
    for metric, values in (("employed", employed), ("bed_days", bed_days)):
        for r, row in enumerate(values):
            rows += [(name, r, w, metric, float(v)) for w, v in enumerate(row)]
    rows += [(name, r, w, "admissions", 0.0) for r in range(len(employed)) for w in range(3)]
    series = pd.DataFrame(rows, columns=["scenario", "replicate", "week", "metric", "value"])
    return ScenarioResult(SimpleNamespace(name=name), series, {}, [0] * len(employed), 0.0)


def test_differences_over_time_are_paired_by_replicate_and_week():
    reference = _result("ref", np.array([[0.1, 0.2, 0.3], [0.1, 0.3, 0.2]]), np.zeros((2, 3)))
    other = _result("new", np.array([[0.1, 0.4, 0.4], [0.1, 0.5, 0.3]]), np.zeros((2, 3)))
    frame = differences_over_time(reference, other, metrics=("employed",))
    assert frame.comparison.unique().tolist() == ["new vs ref"]
    assert frame.week.tolist() == [0, 1, 2]
    np.testing.assert_allclose(frame.difference, [0.0, 0.2, 0.1], atol=1e-12)
    # both replicates differ by exactly 0.2 at week 1: a zero-width interval
    assert frame.diff_low[1] == pytest.approx(0.2) and frame.diff_high[1] == pytest.approx(0.2)


def test_cumulative_differences_count_person_weeks_from_week_one():
    # week 0 is the entry state, not a week lived: person-weeks sum weeks 1..horizon
    reference = _result("ref", np.array([[0.5, 0.1, 0.1]]), np.array([[0.0, 1.0, 2.0]]))
    other = _result("new", np.array([[0.9, 0.4, 0.6]]), np.array([[0.0, 0.5, 1.5]]))
    table = cumulative_differences(reference, other).set_index("measure")
    assert table.loc["person_weeks_employed", "reference"] == pytest.approx(0.2)
    assert table.loc["person_weeks_employed", "difference"] == pytest.approx(0.8)
    assert table.loc["bed_days", "difference"] == pytest.approx(-0.5)


def test_episode_end_is_the_longest_offered_episode_before_the_horizon():
    ips = load_scenario(scenario_dir() / "ips_scale_up.toml")
    baseline = load_scenario(scenario_dir() / "baseline.toml")
    assert episode_end_week([baseline, ips], 104) == 78  # IPS, supported_employment_weeks
    assert episode_end_week([baseline], 104) is None  # nothing offered
    assert episode_end_week([ips], 78) is None  # ends at the horizon: nothing to add
