"""Extremes and claims of model v2 that hold (a sceptical review, branch `break`).

Every registry parameter at each bound (one at a time, plus all-high and fixed
random corners), contexts at their bounds, and a few claims: the package does not
harm at the context corners, fidelity never lowers its effect, attitudes never
lower its QPR effect, natural history drifts little over 10 years, consolidation
with the defaults does not run set-points to 0 or 1 over 20 years, and parameters
of interventions change nothing under usual care. Small worlds; ~15 s in all.

Known failures (reported, not asserted): all four connectedness weights at 0 gives
NaN connectedness and QPR (division by the weight sum).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sim.core.engine import Simulation
from sim.core.metrics import SOMETIMES_UNDEFINED
from sim.core.parameters import REGISTRY, validate
from sim.core.seeding import RunSeed
from sim.core.world import Site, Team, make_world
from sim.studies.effect_modification import PACKAGE, interaction, package_effects
from sim.studies.run import simulate

ALL_OFFERS = {
    "peer_support": 0.3,
    "self_management": 0.3,
    "supported_employment": 0.3,
    "shared_decision_making": 0.3,
    "supported_housing": 0.2,
    "recovery_education": 0.2,
    "case_management": 0.2,
}
SHARES = (
    "employed", "ever_employed", "housed", "functioning", "hope", "empowerment", "meaning",
    "self_stigma", "connectedness", "knowledge", "self_efficacy", "trust", "motivation",
    "in_relapse", "in_hospital", "in_intervention", "uptake", "early_stage",
)  # fmt: skip
CONNECTEDNESS_WEIGHTS = (
    "ties_connectedness_weight",
    "work_connectedness_weight",
    "housing_connectedness_weight",
    "group_connectedness_weight",
)


def _bound(parameter, which):
    value = getattr(parameter, which)
    return int(value) if parameter.integer else value


def _corner_sets():
    sets = [{p.name: _bound(p, w)} for p in REGISTRY.values() for w in ("low", "high")]
    sets.append({p.name: _bound(p, "high") for p in REGISTRY.values()})
    rng = np.random.default_rng(1)
    for _ in range(20):
        corner = {p.name: _bound(p, rng.choice(["low", "high"])) for p in REGISTRY.values()}
        if all(corner[w] == 0 for w in CONNECTEDNESS_WEIGHTS):  # known NaN, reported
            corner["ties_connectedness_weight"] = REGISTRY["ties_connectedness_weight"].high
        sets.append(corner)
    return sets


def _check_invariants(series, labels):
    defined = series[~series.metric.isin(SOMETIMES_UNDEFINED)]
    bad = defined[~np.isfinite(defined.value.to_numpy())]
    assert bad.empty, [
        (labels[p], m) for p, m in set(zip(bad.design_point, bad.metric, strict=True))
    ][:5]
    table = series.pivot_table(
        index=["design_point", "replicate", "week"],
        columns="metric",
        values="value",
        observed=True,
        dropna=False,
    )
    shares = [c for c in table.columns if c in SHARES or c.startswith(("stage_", "in_"))]
    for point, block in table.groupby(level=0):
        where = labels[point]
        assert np.isfinite(block.drop(columns=list(SOMETIMES_UNDEFINED)).to_numpy()).all(), where
        values = block[shares].to_numpy()
        assert (values >= -1e-12).all() and (values <= 1 + 1e-12).all(), where
        assert block.personal_recovery.between(0, 60).all(), where
        assert block.social_inclusion.between(0, 6).all(), where
        for _, run in block.groupby(level=1):
            for name in ("bed_days", "admissions", "compulsory_admissions", "ever_employed"):
                assert (np.diff(run[name].to_numpy()) >= -1e-12).all(), (where, name)
            assert (run.bed_days >= 0).all(), where
            assert (run.admissions >= run.compulsory_admissions - 1e-12).all(), where


@pytest.mark.parametrize("offer", [ALL_OFFERS, {}], ids=["offers", "usual_care"])
def test_every_bound_and_corner_keeps_metrics_finite_and_in_range(offer):
    sets = _corner_sets()
    out = simulate(
        sets,
        replicates=1,
        seed=3,
        weeks=104,
        world=make_world(120, offer=dict(offer)),
        common_random_numbers=True,
    )
    _check_invariants(out.series, [str(s) if len(s) == 1 else "corner" for s in sets])


def test_context_bounds_keep_metrics_finite_and_in_range():
    labels, series = [], []
    for stigma, att, unemp, fid, avail in itertools.product(
        (0.0, 1.0), (0.0, 1.0), (0.02, 0.25), (0.3, 1.0), (0.05, 1.0)
    ):
        site = Site(public_stigma=stigma, unemployment_rate=unemp, housing_availability=avail)
        team = Team(professional_attitudes=att, fidelity=fid, staff_training=att == 0.0)
        world = make_world(100, sites=[site], teams=[team], offer=ALL_OFFERS)
        out = simulate({}, replicates=1, seed=4, weeks=78, world=world)
        frame = out.series.assign(design_point=len(labels))
        labels.append((stigma, att, unemp, fid, avail))
        series.append(frame)
    import pandas as pd

    _check_invariants(pd.concat(series, ignore_index=True), labels)


WORST = {
    "public_stigma": 1.0,
    "professional_attitudes": 0.0,
    "unemployment_rate": 0.25,
    "fidelity": 0.3,
    "housing_availability": 0.05,
    "motivation_median": 0.1,
}
BEST = {
    "public_stigma": 0.0,
    "professional_attitudes": 1.0,
    "unemployment_rate": 0.02,
    "fidelity": 1.0,
    "housing_availability": 1.0,
    "motivation_median": 0.9,
}


def test_package_does_not_harm_at_the_context_corners():
    metrics = ("personal_recovery", "hope", "empowerment", "connectedness", "self_stigma")
    for result in package_effects(
        [WORST, BEST], n_agents=300, replicates=6, weeks=104, record_weeks=(26, 104),
        metrics=metrics, seed=2,
    ):  # fmt: skip
        for week in (26, 104):
            for metric in metrics:
                mean, low, high = result.summary(metric, week)
                if metric == "self_stigma":
                    assert high < 0, (result.context, metric, week, mean)
                else:
                    assert low > 0, (result.context, metric, week, mean)


def test_more_fidelity_or_better_attitudes_never_lower_the_effect():
    metrics = ("personal_recovery", "hope", "empowerment", "employed", "trust", "connectedness")
    fid = package_effects(
        [{"fidelity": f} for f in (0.3, 0.65, 1.0)], n_agents=300, replicates=6, weeks=104,
        record_weeks=(52, 104), metrics=metrics, seed=5,
    )  # fmt: skip
    for lower, higher in itertools.pairwise(fid):
        for metric in metrics:
            assert interaction(higher, lower, metric, 104)[1] > 0, (metric, higher.context)
    # Attitudes at the end of the episodes (26 weeks). Not asserted later: with the
    # calibrated hope and empowerment rates, attitudes 0.5 -> 1.0 shrink the package's QPR
    # effect after the episodes (about -0.35 [-0.48, -0.22] at 104 weeks): a ceiling
    # (CHANGELOG, calibration v2; an open finding of issue 16).
    att = package_effects(
        [{"professional_attitudes": a} for a in (0.0, 0.5, 1.0)], n_agents=300, replicates=6,
        weeks=26, record_weeks=(26,), metrics=("personal_recovery", "hope"), seed=5,
    )  # fmt: skip
    for lower, higher in itertools.pairwise(att):
        for metric in ("personal_recovery", "hope"):
            assert interaction(higher, lower, metric, 26)[1] > 0, (metric, higher.context)


def test_natural_history_drifts_little_over_ten_years():
    metrics = ["personal_recovery", "hope", "employed", "connectedness"]
    out = simulate({}, replicates=2, seed=5, weeks=520, n_agents=300, metrics=metrics)
    means = out.series.groupby(["metric", "week"], observed=True).value.mean()
    tolerance = {"personal_recovery": 3.0, "hope": 0.12, "employed": 0.12, "connectedness": 0.08}
    for metric, tol in tolerance.items():
        for week in (104, 520):
            drift = means[metric, week] - means[metric, 0]
            assert abs(drift) < tol, (metric, week, drift)


def test_default_consolidation_keeps_set_points_off_the_bounds_for_twenty_years():
    for offer in ({}, PACKAGE):
        seeds = [RunSeed(0, 0, r) for r in (0, 1)]
        sim = Simulation(make_world(200, offer=dict(offer)), [validate({})] * 2, seeds)
        for _ in range(1040):
            sim.step()
        state = sim.state
        set_points = {**state.baseline, "self_stigma": state.self_stigma_baseline,
                      "motivation": state.motivation_baseline}  # fmt: skip
        for name, values in set_points.items():
            assert 0.1 < values.mean() < 0.9, (name, values.mean())
            at_bound = ((values < 0.02) | (values > 0.98)).mean()
            assert at_bound < 0.15, (name, at_bound)


def test_intervention_parameters_do_nothing_under_usual_care():
    inert = [
        "crisis_plan_compulsory_rr", "ips_job_finding_multiplier", "ips_job_retention",
        "housing_first_multiplier", "housing_first_retention", "peer_support_weeks",
        "supported_employment_weeks", "uptake_probability_per_week",
        "dropout_probability_per_week", "staff_training_attitude_gain",
        "information_and_skills_to_knowledge_weight", "increasing_choice_to_empowerment_weight",
        "participation_meaning_weight", "fidelity",
    ]  # fmt: skip
    sets = [{}] + [{n: _bound(REGISTRY[n], w)} for n in inert for w in ("low", "high")]
    metrics = ["personal_recovery", "employed", "housed", "connectedness", "admissions"]
    out = simulate(sets, replicates=1, seed=9, weeks=52, n_agents=200, metrics=metrics,
                   common_random_numbers=True)  # fmt: skip
    final = out.series[out.series.week == 52].pivot_table(
        index="design_point", columns="metric", values="value", observed=True
    )
    np.testing.assert_allclose(final.to_numpy(), np.broadcast_to(final.loc[0], final.shape))
    # family contact enters social inclusion only
    pair = simulate([{"family_contact_share": 0.0}, {"family_contact_share": 1.0}], replicates=1,
                    seed=9, weeks=26, n_agents=200, common_random_numbers=True)  # fmt: skip
    last = pair.series[pair.series.week == 26].pivot_table(
        index="design_point", columns="metric", values="value", observed=True
    )
    changed = last.columns[(last.loc[0] - last.loc[1]).abs() > 1e-12]
    assert list(changed) == ["social_inclusion"]
    assert last.loc[1, "social_inclusion"] - last.loc[0, "social_inclusion"] == pytest.approx(1.0)
