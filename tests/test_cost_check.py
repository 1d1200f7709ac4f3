"""EQOLISE cost check: hand-computed arithmetic, the shipped figures file, the arms."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from sim.core.logic_model import USER_INTERVENTIONS
from sim.files.costs import COST_KEYS, INTERVENTION_KEYS, load_costs, override_costs
from sim.files.shipped import resolve
from sim.studies.cost_check import (
    ARM_COLUMNS,
    CostCheckError,
    arm_costs,
    arm_scenarios,
    comparator_service_cost,
    comparison_table,
    cost_checks_file,
    format_table,
    load_cost_checks,
)
from sim.studies.economics import WEEKS_PER_YEAR
from sim.studies.trials import load_trial

METRICS = [f"in_{k}" for k in INTERVENTION_KEYS] + [
    "in_hospital",
    "in_relapse",
    "employed",
    "ever_employed",
    "bed_days",
    "compulsory_admissions",
    "in_service",
]


def series(per_replicate: dict[int, dict[str, list[float]]], weeks: int = 2) -> pd.DataFrame:
    """A tidy frame: replicate -> metric -> values over weeks 0..H (absent metrics 0, but
    ``in_service`` 1: a closed cohort)."""
    rows = [
        (r, w, metric, float(values.get(metric, [float(metric == "in_service")] * (weeks + 1))[w]))
        for r, values in per_replicate.items()
        for metric in METRICS
        for w in range(weeks + 1)
    ]
    frame = pd.DataFrame(rows, columns=["replicate", "week", "metric", "value"])
    frame.insert(0, "scenario", "arm")
    return frame


def costs():
    """Usual care 10, IPS 100 and a bed-day 50 per week; every other cost 0."""
    values = dict.fromkeys(COST_KEYS, 0.0)
    values.update(usual_care=10.0, supported_employment=100.0, bed_day=50.0)
    return override_costs(load_costs(), values)


def checks():
    """The shipped figures with round published totals (IPS 100, VS 200)."""
    figures = copy.deepcopy(load_cost_checks())
    figures["eqolise"]["costs"]["ips_total"]["value"] = 100.0
    figures["eqolise"]["costs"]["vs_total"]["value"] = 200.0
    return figures


# IPS arm, two replicates: in IPS all of weeks 1-2 (replicate 0) or half (replicate 1);
# one bed-day in week 1; half in hospital in week 1; 60% ever worked at the end.
IPS = series(
    {
        r: {
            "in_supported_employment": [0.0, share, share],
            "bed_days": [0.0, 1.0, 1.0],
            "in_hospital": [0.0, 0.5, 0.0],
            "ever_employed": [0.0, 0.3, 0.6],
        }
        for r, share in ((0, 1.0), (1, 0.5))
    }
)
# comparator arm: three bed-days (2 + 1), in hospital 1 and 0.5 of the weeks, 20% worked
VS = series(
    {
        r: {
            "bed_days": [0.0, 2.0, 3.0],
            "in_hospital": [0.0, 1.0, 0.5],
            "ever_employed": [0.0, 0.1, 0.2],
        }
        for r in (0, 1)
    }
)


def test_arm_costs_by_hand():
    ips = arm_costs(IPS, costs())
    assert list(ips.columns) == list(ARM_COLUMNS)
    # replicate 0: IPS 100 x 2 weeks, 1 bed-day x 50, usual care 10 x 2 weeks
    assert ips.loc[0].to_dict() == pytest.approx(
        {
            "intervention_gbp": 200.0,
            "hospital_gbp": 50.0,
            "usual_care_gbp": 20.0,
            "total_gbp": 270.0,
            "time_in_hospital": 0.25,
            "worked": 0.6,
        }
    )
    assert ips.loc[1, "intervention_gbp"] == pytest.approx(100.0)
    assert ips.loc[1, "total_gbp"] == pytest.approx(170.0)
    vs = arm_costs(VS, costs())
    assert vs.loc[0, "hospital_gbp"] == pytest.approx(150.0)
    assert vs.loc[0, "total_gbp"] == pytest.approx(170.0)
    assert vs.loc[0, "time_in_hospital"] == pytest.approx(0.75)


def test_arm_costs_discounted_week_two():
    week_two = 1.035 ** (-1 / WEEKS_PER_YEAR)
    ips = arm_costs(IPS, costs(), discount=True)
    assert ips.loc[0, "intervention_gbp"] == pytest.approx(100.0 * (1 + week_two))
    assert ips.loc[0, "hospital_gbp"] == pytest.approx(50.0)  # the bed-day is in week 1


def test_comparator_service_cost():
    assert comparator_service_cost(78, 74.0) == pytest.approx(5772.0)
    week_two = 1.035 ** (-1 / WEEKS_PER_YEAR)
    assert comparator_service_cost(2, 30.0, 0.035) == pytest.approx(30.0 * (1 + week_two))


def test_comparison_table_by_hand():
    table = comparison_table(arm_costs(IPS, costs()), arm_costs(VS, costs()), checks(), 60.0)
    row = table.set_index(["section", "quantity"])
    ips_total = row.loc[("as is", "IPS total cost (GBP/person)")]
    assert ips_total.model == pytest.approx(220.0)  # mean of 270 and 170
    assert ips_total.published == 100.0 and ips_total.ratio == pytest.approx(2.2)
    assert not ips_total.confirmed
    assert math.isnan(row.loc[("as is", "IPS hospital cost (GBP/person)")].ratio)
    as_is = row.loc[("as is", "incremental total cost IPS - VS (GBP/person)")]
    assert as_is.model == pytest.approx(50.0)  # 220 - 170: IPS costs more
    assert as_is.published == pytest.approx(-100.0)
    assert as_is.ratio == pytest.approx(-0.5)
    assert not as_is.sign_agrees
    assert as_is.verdict.startswith("model: 125 GBP per extra person who worked")  # 50 / 0.4
    costed = row.loc[("comparator costed", "incremental total cost IPS - VS (GBP/person)")]
    assert costed.model == pytest.approx(-10.0)  # 220 - (170 + 60)
    assert costed.sign_agrees
    assert costed.verdict == "model: dominant; published: dominant"
    vs_service = row.loc[("comparator costed", "VS intervention cost (GBP/person)")]
    assert vs_service.model == pytest.approx(60.0)
    assert row.loc[("as is", "VS intervention cost (GBP/person)")].model == 0.0
    hospital = row.loc[("hospital use", "VS share of follow-up in hospital")]
    assert hospital.model == pytest.approx(0.75)
    assert hospital.ratio == pytest.approx(0.75 / 0.089)
    worked = row.loc[("effect", "IPS share who worked at least one day")]
    assert worked.model == pytest.approx(0.6) and worked.confirmed
    text = format_table(table)
    assert "| sign of incremental cost agrees | no |" in text
    assert "| sign of incremental cost agrees | yes |" in text


def test_shipped_file_parses():
    figures = load_cost_checks()
    assert cost_checks_file().name == "cost_checks.toml"
    eqolise = figures["eqolise"]
    assert eqolise["trial"] == "eqolise"
    assert eqolise["follow_up_weeks"] == 78
    assert eqolise["result"]["incremental_cost_sign"] == -1 and eqolise["result"]["confirmed"]
    for section in ("costs", "hospital", "effect"):
        for item in eqolise[section].values():
            assert item["source"].strip() and item["meaning"].strip()
            # a number the paper was read for is never NaN
            assert not (item["confirmed"] and math.isnan(item["value"]))
    assert figures["comparator_costing"]["weekly_cost_gbp"] >= 0


def test_a_broken_file_is_refused(tmp_path):
    path = tmp_path / "cost_checks.toml"
    text = cost_checks_file().read_text(encoding="utf-8")
    path.write_text(text.replace("incremental_cost_sign = -1", "incremental_cost_sign = 2"))
    with pytest.raises(CostCheckError, match="incremental_cost_sign"):
        load_cost_checks(path)
    path.write_text(text.replace("weekly_cost_gbp = 74.0", ""))
    with pytest.raises(CostCheckError, match="weekly_cost_gbp: missing"):
        load_cost_checks(path)


def test_arm_scenarios_offer_the_intervention_to_one_arm_only():
    trial = load_trial(resolve("trial", "eqolise"))
    treated, control = arm_scenarios(trial)
    column = list(USER_INTERVENTIONS).index("supported_employment")
    for scenario, offered in ((treated, True), (control, False)):
        world = scenario.world()
        assert world.n_agents == trial.spec.n_per_arm
        assert scenario.spec.horizon_weeks == trial.spec.follow_up_weeks
        assert scenario.spec.seed == trial.spec.seed
        assert np.all(world.offered[:, column] == offered)
        assert [s.name for s in world.sites] == [s.name for s in trial.context.spec.sites]
