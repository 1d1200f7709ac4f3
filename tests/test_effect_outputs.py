"""Sensitivity on effects (issue 19 §1): each design point runs the package and a
counterfactual on common random numbers; the outputs are their paired differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.files.experiment import ExperimentError, load_experiment
from sim.studies.sensitivity import SensitivityPlan, domain
from sim.studies.sweep import read_results, run_chunk, run_sweep

PACKAGE = 'name = "package"\n[population]\nsize = 60\n[offers]\nsupported_employment = 0.6\n'
USUAL = 'name = "usual"\n[population]\nsize = 60\n'
BODY = """seed = 7
replicates = 2
weeks = 12
[design]
method = "saltelli"
points = 4
second_order = false
[parameters.unemployment_rate]
[parameters.motivation_median]
[outputs]
metrics = ["employed", "hope"]
weeks = [6, 12]
[execution]
chunk_size = 8
"""


def _experiment(folder: Path, body: str = BODY, counterfactual: str = "usual.toml") -> Path:
    (folder / "package.toml").write_text(PACKAGE)
    (folder / "usual.toml").write_text(USUAL)
    path = folder / "exp.toml"
    head = 'name = "exp"\nscenario = "package.toml"\n'
    if counterfactual:
        head += f'counterfactual = "{counterfactual}"\n'
    path.write_text(head + body)
    return path


def test_effects_are_the_paired_differences_of_the_two_scenarios(tmp_path):
    experiment = load_experiment(_experiment(tmp_path))
    assert experiment.output_columns() == [
        "employed_effect_w6",
        "employed_effect_w12",
        "hope_effect_w6",
        "hope_effect_w12",
    ]
    with_effects = run_chunk(experiment, 0, 8)
    # the same runs (seeds, parameters) with each scenario as the base, without a counterfactual
    alone = {}
    for name in ("package", "usual"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "package.toml").write_text(PACKAGE if name == "package" else USUAL)
        (folder / "usual.toml").write_text(USUAL)
        plain = folder / "exp.toml"
        plain.write_text('name = "exp"\nscenario = "package.toml"\n' + BODY)
        alone[name] = run_chunk(load_experiment(plain), 0, 8)
    for metric in ("employed", "hope"):
        for week in (6, 12):
            level = f"{metric}_w{week}"
            np.testing.assert_array_equal(with_effects[level], alone["package"][level])
            np.testing.assert_array_equal(
                with_effects[f"{metric}_effect_w{week}"],
                alone["package"][level] - alone["usual"][level],
            )
    assert (with_effects["employed_effect_w12"] != 0).any()


def test_a_counterfactual_equal_to_the_package_gives_zero_effects_exactly(tmp_path):
    experiment = load_experiment(_experiment(tmp_path, counterfactual="package.toml"))
    run_sweep(experiment, tmp_path / "out", backend="serial")
    frame = read_results(tmp_path / "out")
    for column in experiment.output_columns():
        assert (frame[column] == 0.0).all(), column


def test_the_analysis_ranks_effects_and_keeps_levels_only_when_asked(tmp_path):
    plan = SensitivityPlan.from_experiment(load_experiment(_experiment(tmp_path)))
    assert all("_effect_w" in output for output in plan.outputs)
    assert domain("employed_effect_w12") == "functional"
    both = BODY.replace("[outputs]\n", "[outputs]\nlevels = true\n")
    plan = SensitivityPlan.from_experiment(load_experiment(_experiment(tmp_path, both)))
    assert {"employed_effect_w12", "employed_w12"} <= set(plan.outputs)


def test_groups_name_the_grouped_design(tmp_path):
    body = (
        BODY.replace("second_order = false\n", "second_order = false\ngrouped = true\n")
        .replace(
            "[parameters.unemployment_rate]\n",
            '[parameters.unemployment_rate]\ngroup = "where you are"\n',
        )
        .replace(
            "[parameters.motivation_median]\n",
            '[parameters.motivation_median]\ngroup = "who you serve"\n',
        )
    )
    experiment = load_experiment(_experiment(tmp_path, body))
    assert experiment.problem()["groups"] == ["where you are", "who you serve"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b, r"population\.size = 80, but the base scenario has 60"),
        (
            lambda b: b.replace(
                "[parameters.unemployment_rate]\n", '[parameters.unemployment_rate]\ngroup = "x"\n'
            ),
            r"group applies only with design\.grouped = true",
        ),
    ],
)
def test_bad_effect_experiments_are_refused(tmp_path, change, message):
    path = _experiment(tmp_path, change(BODY))
    if "population" in message:
        (tmp_path / "usual.toml").write_text(USUAL.replace("size = 60", "size = 80"))
    with pytest.raises(ExperimentError, match=message):
        load_experiment(path)


def test_levels_without_a_counterfactual_are_refused(tmp_path):
    body = BODY.replace("[outputs]\n", "[outputs]\nlevels = true\n")
    with pytest.raises(
        ExperimentError, match=r"outputs\.levels = true applies only with a counterfactual"
    ):
        load_experiment(_experiment(tmp_path, body, counterfactual=""))


def test_a_lever_that_does_nothing_gets_an_effect_index_indistinguishable_from_zero(tmp_path):
    """Issue 19: a dummy lever's total index for an EFFECT output has an interval with 0.

    ``staff_training_attitude_gain`` moves only trained teams' attitudes, and no team of
    either arm is trained, so it cannot change the package's effect on employment; the
    package's IPS offer share plainly does. Two replicates per point, noise-corrected.
    """
    from sim.studies.sensitivity import analyse

    body = """seed = 5
overrides = ["population.size=200"]
replicates = 2
weeks = 26
[design]
method = "saltelli"
points = 64
second_order = false
[parameters.offers.supported_employment]
[parameters.unemployment_rate]
[parameters.staff_training_attitude_gain]
[outputs]
metrics = ["employed"]
weeks = [26]
[execution]
chunk_size = 64
"""
    experiment = load_experiment(_experiment(tmp_path, body))
    run_sweep(experiment, tmp_path / "out", backend="serial")
    result = analyse(read_results(tmp_path / "out"), SensitivityPlan.from_experiment(experiment))
    rows = result.indices
    total = rows[(rows["index"] == "ST") & (rows["method"] == "sobol")]
    total = total[total["output"] == "employed_effect_w26"].set_index("parameter")
    dummy = total.loc["staff_training_attitude_gain"]
    assert dummy.ci_low <= 0.0 <= dummy.ci_high, dummy
    assert total.at["offers.supported_employment", "ci_low"] > 0.2
