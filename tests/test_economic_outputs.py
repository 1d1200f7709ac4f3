"""Economic outputs of a sweep (issue 19 §1): cumulative person-weeks employed, QALYs,
costs and net monetary benefit per run, and as the package's effects."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.files.experiment import ExperimentError, load_experiment
from sim.files.shipped import costs_file
from sim.studies.economics import ECONOMIC_INPUTS, run_costs, run_qalys
from sim.studies.run import run_simulations, tidy_series
from sim.studies.sweep import _design, _run_values, run_chunk

PACKAGE = """name = "package"
[population]
size = 60
[offers]
supported_employment = 0.6
peer_support = 0.4
[[teams]]
name = "trained"
staff_training = true
"""
USUAL = 'name = "usual"\n[population]\nsize = 60\n'
EXPERIMENT = """name = "exp"
scenario = "package.toml"
counterfactual = "usual.toml"
seed = 11
replicates = 2
weeks = 12
[design]
method = "latin"
points = 2
[parameters.unemployment_rate]
[outputs]
metrics = ["employed", "employed_weeks", "qalys", "cost_gbp", "nmb_20000", "nmb_30000"]
weeks = [5, 12]
levels = true
{extra}"""


def _experiment(folder, extra=""):
    (folder / "package.toml").write_text(PACKAGE)
    (folder / "usual.toml").write_text(USUAL)
    path = folder / "exp.toml"
    path.write_text(EXPERIMENT.format(extra=extra))
    return path


def _priced_alone(experiment, scenario, week):
    """Each run's cost and QALYs as `compare` prices them: its weekly series cut at week."""
    design = _design(experiment)
    runs = range(design.shape[0] * experiment.spec.replicates)
    points, replicates = np.divmod(np.array(runs), experiment.spec.replicates)
    params = [
        validate(_run_values(experiment, design, d, r))
        for d, r in zip(points, replicates, strict=True)
    ]
    seeds = [
        RunSeed(experiment.spec.seed, int(d), int(r))
        for d, r in zip(points, replicates, strict=True)
    ]
    result = run_simulations(scenario.world(), params, seeds, week, metrics=ECONOMIC_INPUTS)
    series = tidy_series(result, {"replicate": np.arange(len(params))})
    share = 1.0 if scenario is experiment.scenario else 0.0  # every user's team is trained
    cost = run_costs(series, experiment.costs, staff_training_share=share)["cost_gbp"]
    employed = series[(series.metric == "employed") & (series.week > 0)]
    weeks_employed = employed.groupby("replicate")["value"].sum()
    return cost.to_numpy(), run_qalys(series, experiment.costs).to_numpy(), weeks_employed


def test_economic_outputs_are_the_compare_pricing_of_each_run_cut_at_the_week(tmp_path):
    experiment = load_experiment(_experiment(tmp_path))
    frame = run_chunk(experiment, 0, 4)
    for week in (5, 12):
        cost, qalys, employed = _priced_alone(experiment, experiment.scenario, week)
        np.testing.assert_allclose(frame[f"cost_gbp_w{week}"], cost, rtol=1e-12)
        np.testing.assert_allclose(frame[f"qalys_w{week}"], qalys, rtol=1e-12)
        np.testing.assert_allclose(frame[f"employed_weeks_w{week}"], employed, rtol=1e-12)
        for threshold in (20_000, 30_000):
            np.testing.assert_allclose(
                frame[f"nmb_{threshold}_w{week}"], threshold * qalys - cost, rtol=1e-12
            )
        usual_cost, usual_qalys, _ = _priced_alone(experiment, experiment.counterfactual, week)
        np.testing.assert_allclose(frame[f"cost_gbp_effect_w{week}"], cost - usual_cost, rtol=1e-9)
        np.testing.assert_allclose(
            frame[f"nmb_20000_effect_w{week}"],
            20_000 * (qalys - usual_qalys) - (cost - usual_cost),
            rtol=1e-9,
        )
    # the package costs more (places, staff training) and employs more by week 12
    assert (frame["cost_gbp_effect_w12"] > 0).all()
    assert (frame["employed_weeks_effect_w12"] > 0).any()
    assert (frame["cost_gbp_w12"] > frame["cost_gbp_w5"]).all()


def test_recording_every_week_for_the_prices_leaves_the_metrics_unchanged(tmp_path):
    priced = run_chunk(load_experiment(_experiment(tmp_path)), 0, 4)
    plain = tmp_path / "plain"
    plain.mkdir()
    path = _experiment(plain)
    path.write_text(
        path.read_text().replace(
            'metrics = ["employed", "employed_weeks", "qalys", "cost_gbp", "nmb_20000", '
            '"nmb_30000"]',
            'metrics = ["employed"]',
        )
    )
    alone = run_chunk(load_experiment(path), 0, 4)
    for column in alone.columns:
        np.testing.assert_array_equal(priced[column], alone[column])


def test_a_costs_file_prices_the_outputs(tmp_path):
    shipped = costs_file().read_text()
    assert "[costs.usual_care]\nvalue = " in shipped
    head, rest = shipped.split("[costs.usual_care]\nvalue = ", 1)
    value, tail = rest.split("\n", 1)
    dear = tmp_path / "dear.toml"  # usual care at twice the shipped weekly cost
    dear.write_text(f"{head}[costs.usual_care]\nvalue = {2 * float(value)}\n{tail}")
    priced = load_experiment(_experiment(tmp_path, 'costs = "dear.toml"'))
    assert priced.costs.costs.usual_care.value == 2 * float(value)
    default = run_chunk(load_experiment(_experiment(tmp_path)), 0, 4)
    doubled = run_chunk(priced, 0, 4)
    cost, _, _ = _priced_alone(priced, priced.scenario, 12)
    np.testing.assert_allclose(doubled["cost_gbp_w12"], cost, rtol=1e-12)
    assert (doubled["cost_gbp_w12"] > default["cost_gbp_w12"]).all()
    np.testing.assert_array_equal(doubled["qalys_w12"], default["qalys_w12"])


@pytest.mark.parametrize(
    ("extra", "metrics", "message"),
    [
        ('costs = "costs.toml"', '["employed"]', "outputs.costs applies only with an economic"),
        ('costs = "missing.toml"', None, "missing.toml"),
        ("", '["employed", "cost"]', "cost_gbp"),
    ],
)
def test_bad_economic_outputs_are_refused(tmp_path, extra, metrics, message):
    path = _experiment(tmp_path, extra)
    if metrics is not None:
        text = path.read_text()
        start = text.index("metrics = [")
        end = text.index("]", start) + 1
        path.write_text(text[:start] + f"metrics = {metrics}" + text[end:])
    with pytest.raises(ExperimentError, match=message):
        load_experiment(path)
