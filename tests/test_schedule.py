"""Schedules (issue 18 §2): site and team settings that change at a given week."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sim.core.engine import Simulation
from sim.core.parameters import validate
from sim.core.schedule import changes_at
from sim.core.seeding import RunSeed
from sim.faces.cli.main import main
from sim.files.experiment import ExperimentError, load_experiment
from sim.files.scenario import ScenarioError, from_mapping, load_scenario
from sim.studies.compare import run_scenario

BASE = {
    "name": "town",
    "horizon_weeks": 80,
    "replicates": 4,
    "seed": 3,
    "population": {"size": 300, "baseline_employment_share": 0.05},
    "sites": [{"name": "town", "unemployment_rate": 0.07}, {"name": "city"}],
    "teams": [{"name": "north", "site": "town"}, {"name": "south", "site": "city"}],
    "offers": {"supported_employment": 0.5},
}


def _series(raw: dict, metric: str) -> np.ndarray:
    """(replicates, weeks + 1) of one metric."""
    result = run_scenario(from_mapping(raw))
    frame = result.series[result.series.metric == metric]
    return frame.pivot(index="replicate", columns="week", values="value").to_numpy()


def test_a_recession_lowers_job_finding_from_its_week_on_and_not_before():
    """Unemployment 7% -> 20% at week 40 everywhere, on common random numbers."""
    recession = {**BASE, "schedule": [{"week": 40, "unemployment_rate": 0.20}]}
    calm = _series(BASE, "ever_employed")
    hard = _series(recession, "ever_employed")
    np.testing.assert_array_equal(hard[:, :40], calm[:, :40])  # same runs before week 40
    assert (hard[:, 40:] <= calm[:, 40:]).all()
    assert hard[:, -1].mean() < calm[:, -1].mean() - 0.02  # fewer people ever found work


def test_a_change_applies_only_at_the_named_sites_and_teams():
    """Fidelity 0.3 (the registry's lowest) at team north from week 1: only north's users."""
    raw = {**BASE, "schedule": [{"week": 1, "fidelity": 0.3, "teams": ["north"]}]}
    changes = from_mapping(raw).schedule()
    assert [(c.week, c.key, c.units, c.value) for c in changes] == [(1, "fidelity", (0,), 0.3)]
    both = {**BASE, "schedule": [{"week": 1, "fidelity": 0.3}]}
    assert from_mapping(both).schedule()[0].units == (0, 1)
    ips = _series(BASE, "ever_employed")[:, -1].mean()
    north_off = _series(raw, "ever_employed")[:, -1].mean()
    all_off = _series(both, "ever_employed")[:, -1].mean()
    assert all_off < north_off < ips


def test_housing_availability_can_change():
    raw = {**BASE, "population": {"size": 300, "baseline_housed_share": 0.3}}
    better = {**raw, "schedule": [{"week": 20, "housing_availability": 1.0}]}
    a, b = _series(raw, "housed"), _series(better, "housed")
    np.testing.assert_array_equal(a[:, :20], b[:, :20])
    assert b[:, -1].mean() > a[:, -1].mean()


def test_a_staged_roll_out_adds_users_from_its_week_on():
    """IPS offered to 20% of users, then to 60% from week 30: the same runs before."""
    raw = {**BASE, "offers": {"supported_employment": 0.2}}
    staged = {**raw, "schedule": [{"week": 30, "offers": {"supported_employment": 0.6}}]}
    a, b = _series(raw, "in_supported_employment"), _series(staged, "in_supported_employment")
    np.testing.assert_array_equal(a[:, :30], b[:, :30])
    assert (b[:, 40:] > a[:, 40:]).all()


def test_places_open_at_their_week():
    """No IPS places until week 10, then 40 at each team: nobody in IPS before week 10."""
    closed = {
        **BASE,
        "teams": [{**t, "places": {"supported_employment": 0}} for t in BASE["teams"]],
    }
    opened = {**closed, "schedule": [{"week": 10, "places": {"supported_employment": 40}}]}
    share = _series(opened, "in_supported_employment")
    assert (share[:, :10] == 0).all()
    assert (share[:, 12:] > 0).all()
    assert share[:, -1].max() <= 80 / 300 + 1e-12  # at most 40 places at each of two teams
    assert (_series(closed, "in_supported_employment") == 0).all()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"week": 90, "public_stigma": 0.5}, "after the horizon"),
        ({"week": 10}, "changes nothing"),
        ({"week": 10, "fidelity": 0.5, "sites": ["town"]}, "no site setting"),
        ({"week": 10, "unemployment_rate": 0.1, "sites": ["twon"]}, "did you mean 'town'"),
        ({"week": 10, "unemployment_rate": 0.1, "sites": ["town", "town"]}, "each name once"),
        ({"week": 10, "unemployment_rate": 2.0}, "schedule.0.unemployment_rate"),
        ({"week": 0, "unemployment_rate": 0.1}, "schedule.0.week"),
        ({"week": 10, "offers": {"supported_employment": 0.2}}, "may only widen an offer"),
        ({"week": 10, "offers": {"peer_suport": 0.5}}, "did you mean 'peer_support'"),
        ({"week": 10, "places": {"peer_support": -2}}, "schedule.0.places.peer_support"),
        ({"week": 10, "staff_training": "maybe"}, "schedule.0.staff_training"),
        ({"week": True, "unemployment_rate": 0.1}, "schedule.0.week"),
    ],
)
def test_bad_schedules_are_refused_at_load_time(entry, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(")):
        from_mapping({**BASE, "schedule": [entry]})


def test_compare_refuses_a_horizon_that_skips_a_change(tmp_path: Path):
    path = tmp_path / "recession.toml"
    path.write_text(
        'name = "recession"\nhorizon_weeks = 104\n[population]\nsize = 40\n'
        "[[schedule]]\nweek = 52\nunemployment_rate = 0.15\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["run", str(path), "--weeks", "20", "--replicates", "1", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2, result.output
    assert "never take effect" in result.output
    assert not (tmp_path / "o").exists()


def test_sweeps_refuse_a_scenario_with_a_schedule(tmp_path: Path):
    (tmp_path / "s.toml").write_text(
        'name = "s"\n[[schedule]]\nweek = 5\npublic_stigma = 0.9\n', encoding="utf-8"
    )
    experiment = tmp_path / "e.toml"
    experiment.write_text(
        'name = "e"\nscenario = "s.toml"\nweeks = 10\n[design]\nmethod = "latin"\n'
        "points = 4\n[parameters.public_stigma]\n",
        encoding="utf-8",
    )
    with pytest.raises(ExperimentError, match="schedule"):
        load_experiment(experiment)


def test_shipped_schedule_scenarios_load():
    from sim.files.shipped import scenario_dir

    for name in (
        "recession.toml",
        "ips_funding_cut.toml",
        "stigma_campaign.toml",
        "ips_staged_roll_out.toml",
    ):
        scenario = load_scenario(scenario_dir() / name)
        assert scenario.schedule(), name


def test_a_scheduled_staff_training_starts_its_ramp_that_week_and_not_before():
    """Training at team north from week 30: runs equal the untrained ones up to week 29,
    and north's attitudes then follow the ramp of a training from entry, 29 steps later."""

    def attitudes(raw: dict, weeks: int) -> np.ndarray:
        scenario = from_mapping(raw)
        params = [scenario.parameters()] * 2
        sim = Simulation(
            scenario.world(), [validate(p) for p in params], [RunSeed(1, 0, r) for r in range(2)]
        )
        out = []
        for week in range(1, weeks + 1):
            sim.apply(changes_at(scenario.schedule(), week))
            sim.step()
            out.append(sim.state.attitudes[:, 0].copy())
        return np.array(out)

    scheduled = {**BASE, "schedule": [{"week": 30, "staff_training": True, "teams": ["north"]}]}
    at_entry = {
        **BASE,
        "teams": [
            {"name": "north", "site": "town", "staff_training": True},
            {"name": "south", "site": "city"},
        ],
    }
    untrained = attitudes(BASE, 60)
    later = attitudes(scheduled, 60)
    early = attitudes(at_entry, 60)
    np.testing.assert_array_equal(later[:29], untrained[:29])
    np.testing.assert_array_equal(later[29:], early[: 60 - 29])
    assert (later[-1] > untrained[-1]).all()
    calm = _series(BASE, "trust")
    trained = _series(scheduled, "trust")
    np.testing.assert_array_equal(trained[:, :30], calm[:, :30])
    assert trained[:, -1].mean() != calm[:, -1].mean()


def test_a_training_cannot_be_scheduled_for_a_team_already_trained():
    raw = {
        **BASE,
        "teams": [
            {"name": "north", "site": "town", "staff_training": True},
            {"name": "south", "site": "city"},
        ],
        "schedule": [{"week": 10, "staff_training": True}],
    }
    with pytest.raises(ScenarioError, match="team 'north' is already trained"):
        from_mapping(raw)
    withdrawn = {**BASE, "schedule": [{"week": 10, "staff_training": False}]}
    with pytest.raises(ScenarioError, match="staff_training"):
        from_mapping(withdrawn)
