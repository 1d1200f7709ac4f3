"""The qualitative patterns the model must reproduce (DESIGN.md §3), with seeds and tolerances.

Monotone context effects use common random numbers: every context level reuses
the same seeds, so a difference is the context's doing. Trial-type patterns are
measured as the trials measured them (intention to treat at follow-up).
Run with ``-s`` to print the measured numbers.
"""

import numpy as np
import pytest
from two_arm_trial import run_two_arm_trial

from sim.core.world import Team, make_world
from sim.studies.run import simulate

REPLICATES = 8


def _final_means(levels, name, metric, *, world, weeks=52, seed=2024):
    out = simulate(
        [{name: v} for v in levels],
        replicates=REPLICATES,
        seed=seed,
        weeks=weeks,
        world=world,
        common_random_numbers=True,
    )
    frame = out.series[out.series.metric == metric]
    late = frame[frame.week > weeks // 2]  # mean over the second half of the horizon
    return late.groupby("design_point", observed=True)["value"].mean().to_numpy()


def test_raising_unemployment_never_raises_employment():
    levels = [0.02, 0.05, 0.08, 0.12, 0.18, 0.25]
    world = make_world(300, offer={"supported_employment": 0.3})
    employed = _final_means(levels, "unemployment_rate", "employed", world=world)
    print("\nunemployment", levels, "-> employed", np.round(employed, 4))
    assert np.all(np.diff(employed) <= 0.0)
    assert employed[0] - employed[-1] > 0.03  # and it is not flat


def test_pro_recovery_attitudes_never_lower_alliance():
    levels = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    world = make_world(300, offer={"case_management": 0.5, "shared_decision_making": 0.5})
    trust = _final_means(levels, "professional_attitudes", "trust", world=world)
    print("\nattitudes", levels, "-> trust", np.round(trust, 4))
    assert np.all(np.diff(trust) >= 0.0)
    assert trust[-1] - trust[0] > 0.05


def test_higher_motivation_never_lowers_uptake():
    levels = [0.1, 0.3, 0.5, 0.7, 0.9]
    world = make_world(
        300, offer={"peer_support": 0.5, "recovery_education": 0.5, "self_management": 0.5}
    )
    uptake = _final_means(levels, "motivation_median", "uptake", world=world, weeks=12)
    print("\nmotivation", levels, "-> uptake", np.round(uptake, 4))
    assert np.all(np.diff(uptake) >= 0.0)
    assert uptake[-1] - uptake[0] > 0.05


PACKAGE = {
    "peer_support": 1.0,
    "supported_employment": 1.0,
    "self_management": 1.0,
    "shared_decision_making": 1.0,
}
PRO_RECOVERY = {"professional_attitudes": 0.8, "public_stigma": 0.2, "unemployment_rate": 0.04}
ADVERSE = {"professional_attitudes": 0.2, "public_stigma": 0.8, "unemployment_rate": 0.14}


def test_context_effect_same_package_does_better_in_pro_recovery_context():
    out = simulate(
        [PRO_RECOVERY, ADVERSE],
        replicates=REPLICATES,
        seed=7,
        weeks=104,
        world=make_world(400, offer=PACKAGE),
        common_random_numbers=True,
    )
    by_point = out.summary.groupby("design_point")
    mean, se = by_point.mean(), by_point.sem()
    for metric in ("employed", "personal_recovery", "empowerment", "functioning"):
        gap = mean.loc[0, metric] - mean.loc[1, metric]
        print(
            f"\ncontext effect on {metric}: pro {mean.loc[0, metric]:.3f} "
            f"adverse {mean.loc[1, metric]:.3f}"
        )
        assert gap > 3 * np.hypot(se.loc[0, metric], se.loc[1, metric]), metric


@pytest.fixture(scope="module")
def ips_trials():
    common = {"n_per_arm": 500, "follow_up_weeks": 78, "replicates": REPLICATES, "seed": 78}
    return {
        u: run_two_arm_trial(
            "supported_employment",
            params={"baseline_employment_share": 0.0, "unemployment_rate": u},
            **common,
        )
        for u in (0.04, 0.07, 0.14)
    }


def test_ips_roughly_doubles_competitive_employment(ips_trials):
    trial = ips_trials[0.07]
    ips = trial.share("ever_employed", "treated").mean()
    usual = trial.share("ever_employed", "control").mean()
    print(
        f"\nIPS worked >= 1 day in 78 weeks: {ips:.3f} vs usual {usual:.3f} "
        f"(RR {ips / usual:.2f}; EQOLISE 0.545 vs 0.276, RR 1.97)"
    )
    assert 1.6 <= ips / usual <= 2.6


def test_absolute_employment_falls_as_unemployment_rises(ips_trials):
    for arm in ("treated", "control"):
        rates = [ips_trials[u].share("ever_employed", arm).mean() for u in (0.04, 0.07, 0.14)]
        print(f"\n{arm} worked at 4/7/14% unemployment: {np.round(rates, 3)}")
        assert rates[0] > rates[1] > rates[2]


def test_peer_support_has_small_effects_on_hope_and_empowerment():
    trial = run_two_arm_trial(
        "peer_support", n_per_arm=500, follow_up_weeks=26, replicates=REPLICATES, seed=26
    )
    for outcome in ("hope", "empowerment"):
        smd = trial.smd(outcome).mean()
        print(f"\npeer support SMD on {outcome} at 26 weeks: {smd:.3f}")
        assert 0.1 <= smd <= 0.4, outcome


def test_staff_training_alone_has_near_null_effect_on_personal_recovery():
    teams = [Team(name=f"team{i}") for i in range(14)]
    trial = run_two_arm_trial(
        "staff_training",
        n_per_arm=210,
        follow_up_weeks=52,
        replicates=REPLICATES,
        seed=52,
        teams=teams,
        outcomes=("personal_recovery",),
    )
    smd = trial.smd("personal_recovery").mean()
    diff = (
        trial.treated["personal_recovery"].mean(axis=1)
        - trial.control["personal_recovery"].mean(axis=1)
    ).mean()
    print(
        f"\nstaff training QPR difference {diff:.2f} points, SMD {smd:.3f} "
        "(REFOCUS 0.68, 95% CI -1.7 to 3.1)"
    )
    assert abs(smd) < 0.15
    assert -1.7 <= diff <= 3.1


def test_individual_pathways_are_non_linear_with_setbacks():
    from sim.core.engine import run_batch
    from sim.core.parameters import validate
    from sim.core.seeding import RunSeed

    world = make_world(400, offer={"peer_support": 0.5, "supported_employment": 0.5})
    result = run_batch(
        world, [validate({})], [RunSeed(5)], 104, agent_series=("personal_recovery",)
    )
    qpr = result.agent_series["personal_recovery"][0]  # (weeks + 1, N)
    running_max = np.maximum.accumulate(qpr, axis=0)
    setback = (running_max - qpr).max(axis=0) >= 3.0  # fell 3+ QPR points below a past peak
    gained = (qpr.max(axis=0) - qpr[0]) >= 3.0
    change = qpr[-1] - qpr[0]
    print(
        f"\nsetbacks: {setback.mean():.2f} of users fell >= 3 points below a peak; "
        f"{(setback & gained).mean():.2f} rose and fell; SD of 2-year change {change.std():.2f}"
    )
    assert (setback & gained).mean() > 0.2
    assert change.std() > 2.0
    assert (change > 0).mean() > 0.2 and (change < 0).mean() > 0.1
