"""Scenario and cost factors of an experiment: offers, places and unit costs as levers.

``[parameters.offers.X]``, ``[parameters.places.X]`` and ``[parameters.costs.K]`` vary
the package scenario's offers and places and the cost table's unit costs; each must
take effect where it says (offers and places in the package only, costs in pricing
only), and bad names, bounds and uses are refused with the file and the key.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.files.experiment import ExperimentError, load_experiment
from sim.studies import sweep
from sim.studies.sensitivity import SensitivityPlan, analyse
from sim.studies.sweep import read_results, run_chunk, run_sweep

PACKAGE = """name = "package"
[population]
size = 60
[[teams]]
name = "north"
places = { peer_support = 10 }
[[teams]]
name = "south"
[offers]
peer_support = 0.5
supported_employment = 0.5
"""
USUAL = 'name = "usual"\n[population]\nsize = 60\n[offers]\npeer_support = 0.2\n'
HEAD = """name = "exp"
scenario = "package.toml"
counterfactual = "usual.toml"
seed = 11
replicates = 2
weeks = 10
"""
GRID = '[design]\nmethod = "grid"\nlevels = 2\n'
OUTPUTS = "[outputs]\nmetrics = {metrics}\nweeks = [5, 10]\nlevels = true\n"


def _experiment(
    folder: Path,
    factors: str,
    *,
    design: str = GRID,
    metrics: str = '["in_peer_support", "list_length", "employed", "qalys", "cost_gbp"]',
    package: str = PACKAGE,
    name: str = "exp.toml",
) -> Path:
    (folder / "package.toml").write_text(package)
    (folder / "usual.toml").write_text(USUAL)
    path = folder / name
    path.write_text(HEAD + design + factors + OUTPUTS.format(metrics=metrics))
    return path


def _point(frame: pd.DataFrame, point: int, column: str) -> np.ndarray:
    return frame.loc[frame["design_point"] == point, column].to_numpy()


def test_offers_change_the_package_and_not_the_counterfactual(tmp_path):
    path = _experiment(tmp_path, "[parameters.offers.peer_support]\nlow = 0.05\nhigh = 0.95\n")
    frame = run_chunk(load_experiment(path), 0, 4)
    assert list(pd.unique(frame["offers.peer_support"])) == [0.05, 0.95]
    low, high = (_point(frame, d, "in_peer_support_w10") for d in (0, 1))
    assert (high > low + 0.2).all()  # places (10 at one team) do not cap 0.95 x 60 users
    for point in (0, 1):  # usual care offers its own 0.2 whatever the design
        counterfactual = _point(frame, point, "in_peer_support_w10") - _point(
            frame, point, "in_peer_support_effect_w10"
        )
        assert (counterfactual > 0).all() and (counterfactual <= 0.2 + 1e-12).all()
    low, high = (_point(frame, d, "in_peer_support_effect_w10") for d in (0, 1))
    assert (high > low).all()


def test_places_change_who_gets_in_and_who_waits(tmp_path):
    path = _experiment(tmp_path, "[parameters.places.peer_support]\nlow = 1\nhigh = 40\n")
    frame = run_chunk(load_experiment(path), 0, 4)
    few, many = (_point(frame, d, "in_peer_support_w10") for d in (0, 1))
    assert (few <= 2 / 60 + 1e-12).all()  # one place at each of the two teams
    assert (many > few + 0.1).all()
    assert (_point(frame, 0, "list_length_w10") > _point(frame, 1, "list_length_w10")).all()


def test_places_are_whole_numbers_at_every_team(tmp_path):
    path = _experiment(tmp_path, "[parameters.places.peer_support]\nlow = 0\nhigh = 9\n")
    experiment = load_experiment(path)
    assert "teams.0.places.peer_support = 10" in experiment.replaced
    package = experiment.package(np.array([4.6]))
    assert [team.places["peer_support"] for team in package.spec.teams] == [5, 5]
    assert experiment.scenario.spec.teams[1].places == {}  # the base is not changed


def test_unit_costs_change_the_costs_of_both_arms_and_nothing_simulated(tmp_path, monkeypatch):
    costly = _experiment(
        tmp_path, "[parameters.costs.peer_support]\nlow = 10\nhigh = 400\n", name="a.toml"
    )
    cheap = _experiment(
        tmp_path, "[parameters.costs.peer_support]\nlow = 10\nhigh = 11\n", name="b.toml"
    )
    calls = []
    simulate = sweep.run_simulations
    monkeypatch.setattr(
        sweep, "run_simulations", lambda *a, **k: calls.append(1) or simulate(*a, **k)
    )
    a = run_chunk(load_experiment(costly), 0, 4)
    assert len(calls) == 2  # the package and usual care, once each: prices are not re-run
    b = run_chunk(load_experiment(cheap), 0, 4)
    for metric in ("in_peer_support", "list_length", "employed", "qalys"):
        for column in (f"{metric}_w10", f"{metric}_effect_w10"):
            np.testing.assert_array_equal(a[column], b[column])
    at_low = a["design_point"] == 0
    np.testing.assert_array_equal(a.loc[at_low, "cost_gbp_w10"], b.loc[at_low, "cost_gbp_w10"])
    dearer = a["cost_gbp_w10"] - b["cost_gbp_w10"]
    assert (dearer[~at_low] > 0).all()
    # usual care (offering peer support to 0.2) is priced with the design's unit cost too
    usual = a["cost_gbp_w10"] - a["cost_gbp_effect_w10"]
    usual_cheap = b["cost_gbp_w10"] - b["cost_gbp_effect_w10"]
    assert (usual[~at_low] > usual_cheap[~at_low] + 1.0).all()


def test_results_do_not_depend_on_chunking_with_scenario_factors(tmp_path):
    design = '[design]\nmethod = "saltelli"\npoints = 2\nsecond_order = false\ngrouped = true\n'
    factors = (
        '[parameters.unemployment_rate]\ngroup = "context"\n'
        '[parameters.offers.peer_support]\ngroup = "levers"\n'
        '[parameters.places.peer_support]\nlow = 0\nhigh = 20\ngroup = "levers"\n'
        '[parameters.costs.peer_support]\nlow = 10\nhigh = 100\ngroup = "levers"\n'
    )
    experiment = load_experiment(_experiment(tmp_path, factors, design=design))
    run_sweep(experiment, tmp_path / "whole", chunk_size=100)
    run_sweep(experiment, tmp_path / "cut", chunk_size=3)
    whole, cut = read_results(tmp_path / "whole"), read_results(tmp_path / "cut")
    pd.testing.assert_frame_equal(whole, cut)
    assert whole["offers.peer_support"].nunique() == 4  # A and B of 2 base samples
    result = analyse(whole, SensitivityPlan.from_experiment(experiment, resamples=20))
    assert set(result.indices["parameter"]) == {"context", "levers"}


@pytest.mark.parametrize(
    ("factors", "message"),
    [
        (
            "[parameters.offers.peer_suport]\n",
            "parameters.offers.peer_suport: unknown intervention 'peer_suport' "
            "(did you mean 'peer_support'?); allowed: peer_support,",
        ),
        (
            '[parameters."offer.peer_support"]\n',
            "parameters.offer.peer_support: unknown factor kind 'offer' (did you mean 'offers'?)",
        ),
        (
            "[parameters.offers]\nlow = 0.1\n",
            "parameters.offers: name the intervention, e.g. [parameters.offers.peer_support]",
        ),
        (
            "[parameters.costs.peer_work]\nlow = 1\nhigh = 2\n",
            "parameters.costs.peer_work: unknown cost key 'peer_work'",
        ),
        (
            "[parameters.places.peer_support]\nlow = 5\n",
            "parameters.places.peer_support: give both low and high",
        ),
        (
            "[parameters.costs.bed_day]\n",
            "parameters.costs.bed_day: give both low and high",
        ),
        (
            "[parameters.offers.peer_support]\nhigh = 1.5\n",
            "parameters.offers.peer_support: bounds [0.0, 1.5] must be increasing and inside "
            "[0, 1]",
        ),
        (
            "[parameters.places.peer_support]\nlow = -1\nhigh = 5\n",
            "parameters.places.peer_support: bounds [-1.0, 5.0] must be increasing, >= 0",
        ),
        (
            "[parameters.places.peer_support]\nlow = 0\nhigh = 5.5\n",
            "must be whole numbers",
        ),
        (
            "[parameters.costs.bed_day]\nlow = 300\nhigh = 200\n",
            "parameters.costs.bed_day: bounds [300.0, 200.0] must be increasing",
        ),
        (
            '[parameters.offers.peer_support]\n[parameters."offers.peer_support"]\n',
            "parameters.offers.peer_support: given twice",
        ),
        (
            "[parameters.costs.earnings_employed]\nlow = 100\nhigh = 500\n",
            "earnings count only in the societal perspective",
        ),
    ],
)
def test_bad_factors_are_refused_naming_the_file_and_the_key(tmp_path, factors, message):
    path = _experiment(tmp_path, factors)
    with pytest.raises(ExperimentError, match=re.escape(message)) as caught:
        load_experiment(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_places_need_teams(tmp_path):
    package = PACKAGE.split("[[teams]]")[0] + "[offers]\npeer_support = 0.5\n"
    path = _experiment(
        tmp_path, "[parameters.places.peer_support]\nlow = 0\nhigh = 5\n", package=package
    )
    with pytest.raises(ExperimentError, match=r"places\.peer_support: .* has no \[\[teams\]\]"):
        load_experiment(path)


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ('["employed"]', "outputs.metrics names none; add cost_gbp or nmb_20000"),
        ('["employed", "qalys"]', "a unit cost changes only cost_gbp and the net monetary"),
    ],
)
def test_unit_costs_need_a_priced_output(tmp_path, metrics, message):
    path = _experiment(
        tmp_path, "[parameters.costs.peer_support]\nlow = 1\nhigh = 2\n", metrics=metrics
    )
    with pytest.raises(ExperimentError, match=re.escape(message)):
        load_experiment(path)


def test_discovery_names_scenario_factors_in_its_boxes(tmp_path):
    from click.testing import CliRunner

    from sim.faces.cli.main import main

    design = '[design]\nmethod = "latin"\npoints = 24\n'
    factors = "[parameters.offers.peer_support]\n[parameters.motivation_median]\n"
    experiment = load_experiment(_experiment(tmp_path, factors, design=design))
    run_sweep(experiment, tmp_path / "sweep")
    args = ["discover", str(tmp_path / "sweep"), "--outcome", "in_peer_support_w10"]
    args += ["--threshold", "0.4", "--threshold-density", "0.8", "--out", str(tmp_path / "d")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    boxes = pd.read_csv(tmp_path / "d" / "boxes.csv")
    first = boxes[(boxes["box"] == 1) & (boxes["factor"] == "offers.peer_support")]
    assert first["restricted"].iloc[0] == "lower" and first["lower"].iloc[0] > 0.3
    assert "offers.peer_support >= " in result.output
