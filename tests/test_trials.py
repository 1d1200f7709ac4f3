"""Virtual trials: metrics computed as the trials defined them, on hand-made populations."""

from pathlib import Path

import numpy as np
import pytest

from sim.studies.calibration import observed_and_scale
from sim.studies.effect_sizes import hedges_g
from sim.studies.trials import MetricSpec, TrialError, compute_metric, load_trial, run_trial

ROOT = Path(__file__).resolve().parent.parent
TRIALS = sorted((ROOT / "experiments" / "trials").glob("*.toml"))
TREATED = np.array([True, True, True, True, False, False, False, False])


def metric(kind, **extra):
    return MetricSpec(name="m", kind=kind, outcome="x", **extra)


def test_share_of_worked_at_least_one_day():
    worked = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=float)
    assert compute_metric(metric("share", arm="treated"), worked, TREATED) == 0.75
    assert compute_metric(metric("share", arm="control"), worked, TREATED) == 0.25
    assert compute_metric(metric("share", arm="all"), worked, TREATED) == 0.5


def test_relative_risk_and_risk_difference():
    worked = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=float)
    assert compute_metric(metric("relative_risk"), worked, TREATED) == pytest.approx(3.0)
    assert compute_metric(metric("risk_difference"), worked, TREATED) == pytest.approx(0.5)
    nobody = np.array([1, 0, 1, 1, 0, 0, 0, 0], dtype=float)
    assert np.isnan(compute_metric(metric("relative_risk"), nobody, TREATED))


def test_smd_is_hedges_g_by_hand():
    x = np.array([5.0, 6.0, 7.0, 8.0, 4.0, 5.0, 5.0, 6.0])
    t, c = x[:4], x[4:]
    pooled = np.sqrt((3 * t.var(ddof=1) + 3 * c.var(ddof=1)) / 6)
    expected = (1 - 3 / (4 * 8 - 9)) * (t.mean() - c.mean()) / pooled
    assert compute_metric(metric("smd"), x, TREATED) == pytest.approx(expected)
    assert hedges_g(t, c) == pytest.approx(expected)
    assert compute_metric(metric("smd"), -x, TREATED) == pytest.approx(-expected)


def test_means_and_threshold_prevalence():
    qpr = np.array([40.0, 42, 38, 44, 39, 41, 40, 40])
    assert compute_metric(metric("mean", arm="treated"), qpr, TREATED) == 41.0
    assert compute_metric(metric("mean_difference"), qpr, TREATED) == 1.0
    stigma = np.array([0.2, 0.6, 0.7, 0.5, 0.51, 0.1, 0.9, 0.3])
    # moderate/high = strictly above the threshold
    assert compute_metric(metric("share", arm="all", threshold=0.5), stigma, TREATED) == 0.5


@pytest.mark.parametrize("path", TRIALS, ids=lambda p: p.stem)
def test_every_trial_experiment_runs(path):
    trial = load_trial(path)
    frame = run_trial(trial, replicates=2)
    assert len(frame) == 2
    for spec in trial.spec.metrics:
        assert np.isfinite(frame[spec.name]).all(), spec.name


def test_individual_randomisation_balances_arms_within_teams():
    trial = load_trial(ROOT / "experiments/trials/eqolise.toml")
    world, treated = trial.world()
    assert treated.sum() == (~treated).sum() == 156
    for team in range(len(world.teams)):
        members = treated[world.team_of_agent == team]
        assert abs(members.sum() - (~members).sum()) <= 1
    assert (world.offered[:, 3] == treated).all()  # IPS offered to the treated arm only


def test_cluster_randomisation_follows_teams():
    trial = load_trial(ROOT / "experiments/trials/refocus.toml")
    world, treated = trial.world()
    assert trial.cluster
    np.testing.assert_array_equal(treated, world.staff_training[world.team_of_agent])
    assert world.staff_training.sum() == 14 and not world.offered.any()


def test_replicate_trials_are_reproducible_and_independent():
    trial = load_trial(ROOT / "experiments/trials/peer_support.toml")
    a, b = run_trial(trial, replicates=3), run_trial(trial, replicates=3)
    assert a.equals(b)
    assert a["smd_hope"].nunique() == 3


def test_bad_trial_file_names_the_problem(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(
        'name = "t"\nintervention = "peer_suport"\nn_per_arm = 10\n'
        'follow_up_weeks = 4\n[[metrics]]\nname = "m"\nkind = "smd"\n'
        'outcome = "hope"\n'
    )
    with pytest.raises(TrialError, match="intervention = 'peer_suport' is unknown"):
        load_trial(path)


@pytest.mark.parametrize(
    "target,key,value,scale",
    [
        (
            {"value_intervention": 0.73, "value_comparator": 0.31, "difference_ci": [0.36, 0.48]},
            "difference",
            0.42,
            0.12 / 3.92,
        ),
        ({"value_range": [0.10, 0.20]}, "value_range", 0.15, 0.10 / 3.92),
        ({"smd_hope": 0.24, "smd_hope_ci": [0.02, 0.46]}, "smd_hope", 0.24, 0.44 / 3.92),
        ({"value": 2.4, "ci": [1.99, 2.90]}, "value", 2.4, 0.91 / 3.92),
        (
            {
                "value_intervention": 0.545,
                "value_comparator": 0.276,
                "difference_ci": [0.164, 0.374],
            },
            "value_intervention",
            0.545,
            0.21 / 3.92 / np.sqrt(2),
        ),
    ],
)
def test_published_intervals_become_standard_errors(target, key, value, scale):
    observed, se, _ = observed_and_scale(target, key)
    assert observed == pytest.approx(value)
    assert se == pytest.approx(scale, rel=1e-3)


def _trial_file(tmp_path, extra: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(
        'name = "t"\nintervention = "supported_employment"\nn_per_arm = 50\n'
        "follow_up_weeks = 4\nreplicates = 2\n" + extra + "\n[[metrics]]\nname = "
        '"worked"\nkind = "share"\noutcome = "ever_employed"\n'
    )
    return path


def test_offers_are_the_comparators_services_in_both_arms(tmp_path):
    from sim.core.logic_model import USER_INTERVENTIONS
    from sim.studies.trials import load_trial

    trial = load_trial(_trial_file(tmp_path, "[offers]\npeer_support = 1.0\n"))
    world, treated = trial.world()
    peer = world.offered[:, USER_INTERVENTIONS.index("peer_support")]
    ips = world.offered[:, USER_INTERVENTIONS.index("supported_employment")]
    assert peer[treated].all() and peer[~treated].all()  # both arms get the service
    assert ips[treated].all() and not ips[~treated].any()  # the intervention: treated only


def test_the_trials_own_intervention_in_offers_is_refused(tmp_path):
    from sim.studies.trials import TrialError, load_trial

    with pytest.raises(TrialError, match=r"offers\.supported_employment"):
        load_trial(_trial_file(tmp_path, "[offers]\nsupported_employment = 0.5\n"))
