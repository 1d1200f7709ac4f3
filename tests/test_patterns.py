"""The qualitative patterns the model must reproduce (DESIGN.md §3), with seeds and tolerances.

The model's patterns (effect modification, the trials' figures, lasting change,
the social domain, setbacks) are measured in tests/patterns.py and asserted here;
the monotone context checks below use common random numbers: every context level
reuses the same seeds, so a difference is the context's doing.
Run with ``-s`` to print the measured numbers.
"""

import numpy as np
import pytest
from patterns import PATTERNS

from sim.core.world import make_world
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


@pytest.mark.parametrize("name", list(PATTERNS))
def test_pattern(name):
    """Every pattern of tests/patterns.py holds on the model (the numbers print with -s).

    Each is killed-tested: ``pytest -m mutants`` runs them against broken models.
    """
    verdict = PATTERNS[name]()
    print(f"\n{name}: {verdict.detail}")
    assert verdict.passed, verdict.detail


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
