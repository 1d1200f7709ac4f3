"""Health-economics layer: hand-computed costs, QALYs, ICER, NMB, CEAC and the costs file."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.files.costs import (
    COST_KEYS,
    INTERVENTION_KEYS,
    CostsError,
    load_costs,
    override_costs,
)
from sim.studies.economics import (
    WEEKS_PER_YEAR,
    acceptability_curve,
    cost_per_extra_person_employed,
    economics_table,
    incremental,
    run_costs,
    run_qalys,
    weekly_discount_factors,
)

METRICS = [f"in_{k}" for k in INTERVENTION_KEYS] + [
    "in_hospital",
    "in_relapse",
    "employed",
    "bed_days",
    "compulsory_admissions",
    "in_service",
]


def series(weeks=4, replicates=1, scenario="s", **values):
    """A tidy frame: every metric 0 unless given (a constant, or a list over weeks 0..H).

    ``in_service`` is 1 unless given (a closed cohort, everyone in service).
    """
    rows = []
    for r in range(replicates):
        for metric in METRICS:
            given = values.get(metric, 1.0 if metric == "in_service" else 0.0)
            for w in range(weeks + 1):
                v = given[w] if isinstance(given, list) else given
                rows.append((scenario, r, w, metric, float(v)))
    return pd.DataFrame(rows, columns=["scenario", "replicate", "week", "metric", "value"])


def table(**overrides):
    """The shipped table with round unit costs: usual care 10, every other cost 0."""
    t = load_costs()
    zero = {k: 0.0 for k in COST_KEYS}
    zero["usual_care"] = 10.0
    zero.update(overrides)
    t = override_costs(t, zero)
    return t


def undiscounted(t):
    d = t.discount.model_copy()
    d.costs_rate_per_year = d.costs_rate_per_year.model_copy(update={"value": 0.0})
    d.qalys_rate_per_year = d.qalys_rate_per_year.model_copy(update={"value": 0.0})
    return t.model_copy(update={"discount": d})


# --- discounting -------------------------------------------------------------------


def test_discount_factors_week_zero_and_one_year():
    f = weekly_discount_factors([0, WEEKS_PER_YEAR, 2 * WEEKS_PER_YEAR], 0.035)
    assert f[0] == 1.0
    assert f[1] == pytest.approx(1 / 1.035, rel=1e-12)
    assert f[2] == pytest.approx(1 / 1.035**2, rel=1e-12)


def test_discounted_100_per_week_for_a_year_matches_closed_form():
    # 100/week for 52 weeks: a geometric sum with v = 1.035^(-1/52.1775).
    v = 1.035 ** (-1 / 52.1775)
    closed = 100 * (1 - v**52) / (1 - v)
    total = (100 * weekly_discount_factors(np.arange(52), 0.035)).sum()
    assert total == pytest.approx(closed, rel=1e-12)
    assert 100 * 52 / 1.035 < total < 5200  # between a whole year's discount and none
    assert total == pytest.approx(5113.56, abs=0.005)


def test_run_costs_discounts_week_t_by_elapsed_weeks():
    t = table()  # usual care 10/week, 3.5%/year
    out = run_costs(series(weeks=3), t)
    expected = 10 * (1 + 1.035 ** (-1 / WEEKS_PER_YEAR) + 1.035 ** (-2 / WEEKS_PER_YEAR))
    assert out.loc[0, "cost_gbp"] == pytest.approx(expected, rel=1e-12)
    assert out.loc[0, "cost_gbp_undiscounted"] == 30.0


# --- costs -------------------------------------------------------------------------


def test_intervention_shares_times_weekly_costs():
    t = undiscounted(table(peer_support=50.0, case_management=20.0))
    s = series(weeks=2, in_peer_support=0.5, in_case_management=[0, 0.25, 0.75])
    out = run_costs(s, t)
    # weeks 1..2: usual 10 x 2 = 20; peer 0.5 x 50 x 2 = 50; case (0.25 + 0.75) x 20 = 20
    assert out.loc[0, "peer_support_gbp"] == 50.0
    assert out.loc[0, "case_management_gbp"] == 20.0
    assert out.loc[0, "usual_care_gbp"] == 20.0
    assert out.loc[0, "cost_gbp"] == 90.0


def test_usual_care_is_costed_for_users_in_service_only():
    """An open service: usual care x the share in service each week (0.5 then 0.8)."""
    t = undiscounted(table())
    out = run_costs(series(weeks=2, in_service=[1.0, 0.5, 0.8]), t)
    assert out.loc[0, "usual_care_gbp"] == pytest.approx(10.0 * (0.5 + 0.8))


def test_bed_days_and_compulsory_admissions_from_cumulative_increments():
    t = undiscounted(table(usual_care=0.0, bed_day=300.0, compulsory_admission=1000.0))
    s = series(
        weeks=3,
        bed_days=[0.0, 0.7, 2.1, 2.1],  # increments 0.7, 1.4, 0
        compulsory_admissions=[0.0, 0.1, 0.1, 0.15],  # increments 0.1, 0, 0.05
    )
    out = run_costs(s, t)
    assert out.loc[0, "bed_days_gbp"] == pytest.approx(2.1 * 300)
    assert out.loc[0, "compulsory_admissions_gbp"] == pytest.approx(0.15 * 1000)
    assert out.loc[0, "cost_gbp"] == pytest.approx(630 + 150)


def test_societal_perspective_subtracts_earnings():
    t = undiscounted(table(earnings_employed=600.0))
    s = series(weeks=2, employed=0.25)
    care = run_costs(s, t, "health_and_social_care")
    societal = run_costs(s, t, "societal")
    assert care.loc[0, "cost_gbp"] == 20.0
    assert "earnings_gbp" not in care
    assert societal.loc[0, "earnings_gbp"] == -300.0  # 0.25 x 600 x 2 weeks
    assert societal.loc[0, "cost_gbp"] == -280.0


def test_staff_training_once_at_week_zero():
    t = table(usual_care=0.0, staff_training=12.0)
    out = run_costs(series(weeks=5), t, staff_training_share=0.5)
    assert out.loc[0, "cost_gbp"] == 6.0
    assert out.loc[0, "cost_gbp_undiscounted"] == 6.0


def test_unknown_perspective_refused():
    with pytest.raises(ValueError, match="allowed: health_and_social_care, societal"):
        run_costs(series(), table(), "patient")


# --- QALYs -------------------------------------------------------------------------


def test_qalys_constant_stable_state_one_year():
    t = undiscounted(table())
    weeks = 52
    q = run_qalys(series(weeks=weeks), t)
    assert q.loc[0] == pytest.approx(0.87 * 52 / 52.1775, rel=1e-12)


def test_qalys_hospital_is_part_of_relapse_not_counted_twice():
    t = undiscounted(table())
    u = t.utilities
    # 30% in relapse, of whom 10 points in hospital: stable 0.7, community 0.2, hospital 0.1
    q = run_qalys(series(weeks=1, in_relapse=0.3, in_hospital=0.1), t)
    weekly = 0.7 * u.stable.value + 0.2 * u.relapse.value + 0.1 * u.hospital.value
    assert q.loc[0] == pytest.approx(weekly / WEEKS_PER_YEAR, rel=1e-12)
    assert q.loc[0] == pytest.approx((0.7 * 0.87 + 0.3 * 0.48) / 52.1775, rel=1e-12)


def test_qalys_discounted_second_week():
    t = table()
    q = run_qalys(series(weeks=2), t)
    expected = 0.87 / WEEKS_PER_YEAR * (1 + 1.035 ** (-1 / WEEKS_PER_YEAR))
    assert q.loc[0] == pytest.approx(expected, rel=1e-12)
    assert run_qalys(series(weeks=2), t, discount=False).loc[0] == pytest.approx(
        2 * 0.87 / WEEKS_PER_YEAR
    )


# --- ICER, NMB, dominance ----------------------------------------------------------


def test_icer_is_ratio_of_mean_increments_with_t_interval():
    out = incremental([1100, 1300], [1.2, 1.1], [1000, 1000], [1.0, 1.0])
    assert out["incremental_cost"] == 200.0
    assert out["incremental_qalys"] == pytest.approx(0.15)
    assert out["icer"] == pytest.approx(200 / 0.15)  # not the mean of 500 and 3000
    half = 12.706204736174707 * 100 * math.sqrt(2) / math.sqrt(2)  # t(0.975, 1) x sd / sqrt(n)
    assert out["incremental_cost_low"] == pytest.approx(200 - half)
    assert out["incremental_cost_high"] == pytest.approx(200 + half)
    # NMB at 20,000: 20,000 x 0.15 - 200 = 2,800
    assert out["nmb_20000"] == pytest.approx(2800.0)
    assert out["nmb_30000"] == pytest.approx(4300.0)


def test_dominant_and_dominated_labels():
    cheaper_better = incremental([900, 950], [1.1, 1.2], [1000, 1000], [1.0, 1.0])
    costlier_worse = incremental([1100, 1050], [0.9, 0.95], [1000, 1000], [1.0, 1.0])
    assert cheaper_better["icer"] == "dominant"
    assert costlier_worse["icer"] == "dominated"
    assert math.isnan(cheaper_better["icer_low"])


def test_fieller_interval_brackets_icer_when_qalys_clear_of_zero():
    rng = np.random.default_rng(1)
    dq = 0.1 + rng.normal(0, 0.01, 50)
    dc = 1000 + rng.normal(0, 100, 50)
    out = incremental(dc, dq, np.zeros(50), np.zeros(50))
    assert out["icer_low"] < out["icer"] < out["icer_high"]


def test_cost_per_extra_person_employed():
    out = cost_per_extra_person_employed([500.0, 700.0], [0.1, 0.1])
    assert out["cost_per_extra_person_employed"] == pytest.approx(6000.0)
    none = cost_per_extra_person_employed([500.0, 700.0], [0.0, -0.1])
    assert math.isnan(none["cost_per_extra_person_employed"])


# --- CEAC --------------------------------------------------------------------------


def test_ceac_limits():
    dcost = np.array([-100.0, 50.0, 200.0, -10.0])
    dqaly = np.array([0.01, 0.01, -0.001, -0.01])
    p = acceptability_curve(dcost, dqaly, [0.0, 5_000.0, 1e9])
    assert p[0] == 0.5  # lambda = 0: share with dcost < 0
    # lambda = 5,000: NMB = 150, 0 (not > 0), -205, -40
    assert p[1] == 0.25
    assert p[2] == 0.5  # lambda -> infinity: share with dqaly > 0
    assert np.all(np.diff(acceptability_curve(dcost, np.abs(dqaly), [0, 1e3, 1e4, 1e5])) >= 0)


# --- the table ---------------------------------------------------------------------


def test_economics_table_columns_and_values():
    t = undiscounted(table(usual_care=0.0, peer_support=100.0))
    ref = series(weeks=2, replicates=2, scenario="ref", employed=0.1)
    sc = series(weeks=2, replicates=2, scenario="peer", in_peer_support=1.0, employed=0.3)
    out = economics_table(ref, sc, t)
    assert list(out["scenario"]) == ["peer"]
    for base in (
        "incremental_cost",
        "incremental_qalys",
        "icer",
        "nmb_20000",
        "nmb_30000",
        "cost_per_extra_person_employed",
    ):
        assert {base, f"{base}_low", f"{base}_high"} <= set(out.columns)
    row = out.iloc[0]
    assert row["incremental_cost"] == 200.0
    assert row["incremental_qalys"] == 0.0
    assert row["icer"] == "dominated"
    assert row["nmb_20000"] == -200.0
    assert row["cost_per_extra_person_employed"] == pytest.approx(1000.0)


# --- the costs file ----------------------------------------------------------------


def test_shipped_costs_file_every_entry_sourced():
    t = load_costs()
    assert t.perspective == "health_and_social_care"
    assert t.discount.costs_rate_per_year.value == 0.035
    assert t.discount.qalys_rate_per_year.value == 0.035
    for key in COST_KEYS:
        item = getattr(t.costs, key)
        assert item.source.strip(), key
        assert item.currency == "GBP"
        assert 1990 <= item.price_year <= 2100
    for item in (t.utilities.stable, t.utilities.relapse, t.utilities.hospital):
        assert item.source.strip()
        assert item.se > 0
    assert t.utilities.stable.value > t.utilities.relapse.value >= t.utilities.hospital.value
    assert t.costs.bed_day.value == 334.0


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "costs.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _shipped_text() -> str:
    from sim.files.shipped import costs_file

    return costs_file().read_text(encoding="utf-8")


def test_bad_file_unknown_key(tmp_path):
    text = _shipped_text().replace("[costs.bed_day]", "[costs.bed_dya]")
    path = _write(tmp_path, text)
    with pytest.raises(CostsError) as err:
        load_costs(path)
    message = str(err.value)
    assert str(path) in message
    assert "costs.bed_dya" in message
    assert "did you mean 'bed_day'" in message
    assert "allowed: usual_care, peer_support" in message


def test_bad_file_negative_cost(tmp_path):
    text = _shipped_text().replace("value = 334.0", "value = -334.0")
    path = _write(tmp_path, text)
    with pytest.raises(CostsError, match=r"costs\.bed_day\.value = -334\.0 is invalid"):
        load_costs(path)


def test_bad_file_missing_source(tmp_path):
    lines = _shipped_text().splitlines()
    start = lines.index("[costs.bed_day]")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("source"))
    del lines[end]
    path = _write(tmp_path, "\n".join(lines))
    with pytest.raises(CostsError) as err:
        load_costs(path)
    assert str(path) in str(err.value)
    assert "costs.bed_day.source: missing" in str(err.value)


def test_bad_file_not_found(tmp_path):
    with pytest.raises(CostsError, match="costs file not found"):
        load_costs(tmp_path / "nope.toml")


def test_override_costs_unknown_key_and_negative():
    t = load_costs()
    with pytest.raises(CostsError, match=r"unknown key 'bed_dya'.*allowed: usual_care"):
        override_costs(t, {"bed_dya": 1.0})
    with pytest.raises(CostsError, match=r"bed_day = -1\.0 is invalid"):
        override_costs(t, {"bed_day": -1.0})
    new = override_costs(t, {"bed_day": 400.0})
    assert new.costs.bed_day.value == 400.0
    assert t.costs.bed_day.value == 334.0  # the original is unchanged


def test_import_does_not_load_matplotlib():
    import subprocess

    code = "import sim.cli, sim.studies.economics, sys; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_intervention_keys_are_the_models_user_interventions():
    from sim.core.logic_model import USER_INTERVENTIONS

    assert INTERVENTION_KEYS == USER_INTERVENTIONS
