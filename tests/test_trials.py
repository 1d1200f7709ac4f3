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


# --- new metric kinds, by_site, at_week, posterior predictive --------------------------


def test_odds_ratio_by_hand_and_undefined():
    worked = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=float)
    # treated 3 of 4, control 1 of 4: (3/1) / (1/3)
    assert compute_metric(metric("odds_ratio"), worked, TREATED) == pytest.approx(9.0)
    nobody = np.array([1, 0, 1, 1, 0, 0, 0, 0], dtype=float)  # no control event
    assert np.isnan(compute_metric(metric("odds_ratio"), nobody, TREATED))
    everyone = np.array([1, 1, 1, 1, 0, 0, 1, 0], dtype=float)  # every treated user
    assert np.isnan(compute_metric(metric("odds_ratio"), everyone, TREATED))
    stigma = np.array([0.6, 0.7, 0.2, 0.9, 0.1, 0.8, 0.3, 0.2])  # above 0.5: 3 of 4, 1 of 4
    assert compute_metric(metric("odds_ratio", threshold=0.5), stigma, TREATED) == 9.0


def test_correlation_by_hand_and_constant():
    x = np.array([1.0, 2, 3, 5, 1, 2, 3, 4])
    y = np.array([2.0, 1, 4, 3, 9, 9, 9, 9])
    spec = MetricSpec(name="r", kind="correlation", outcome="x", with_="y", arm="treated")
    assert compute_metric(spec, x, TREATED, y) == pytest.approx(np.corrcoef(x[:4], y[:4])[0, 1])
    control = spec.model_copy(update={"arm": "control"})
    assert np.isnan(compute_metric(control, x, TREATED, y))  # y constant in the control arm
    everyone = spec.model_copy(update={"arm": "all"})
    assert compute_metric(everyone, x, TREATED, y) == pytest.approx(np.corrcoef(x, y)[0, 1])


def _metrics_file(tmp_path, metrics: str, extra: str = "", weeks: int = 6) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(
        'name = "m"\nintervention = "supported_employment"\nn_per_arm = 60\n'
        f"follow_up_weeks = {weeks}\nreplicates = 3\nseed = 5\n" + extra + metrics
    )
    return path


ODDS = """
[[metrics]]
name = "or"
kind = "odds_ratio"
outcome = "ever_employed"
[[metrics]]
name = "t"
kind = "share"
outcome = "ever_employed"
arm = "treated"
[[metrics]]
name = "c"
kind = "share"
outcome = "ever_employed"
arm = "control"
"""


def test_odds_ratio_in_a_run_matches_the_arm_shares(tmp_path):
    frame = run_trial(load_trial(_metrics_file(tmp_path, ODDS, weeks=20)))
    odds = frame.t / (1 - frame.t) / (frame.c / (1 - frame.c))
    assert np.isfinite(frame["or"]).all()
    np.testing.assert_allclose(frame["or"], odds, rtol=1e-12)


FOLLOW_UP = """
[[metrics]]
name = "time_housed"
kind = "follow_up_share"
outcome = "housed"
arm = "all"
[[metrics]]
name = "housed_with_weeks"
kind = "correlation"
outcome = "housed"
with = "weeks_housed"
arm = "all"
"""


def test_follow_up_share_is_the_mean_of_weekly_housed_states(tmp_path):
    from sim.core.engine import run_batch
    from sim.core.parameters import validate
    from sim.core.seeding import RunSeed

    trial = load_trial(_metrics_file(tmp_path, FOLLOW_UP))
    frame = run_trial(trial)
    world, _ = trial.world()
    seeds = [RunSeed(5, 0, r) for r in range(3)]
    weekly = run_batch(world, [validate({})] * 3, seeds, 6, agent_series=["housed"])
    by_hand = weekly.agent_series["housed"][:, 1:, :].mean(axis=(1, 2))  # weeks 1..6
    np.testing.assert_allclose(frame["time_housed"], by_hand, rtol=1e-12)
    assert (0 < frame["time_housed"]).all() and (frame["time_housed"] < 1).all()
    assert (frame["housed_with_weeks"] > 0.3).all()


BY_SITE = """
[[sites]]
name = "north"
unemployment_rate = 0.04
[[sites]]
name = "south"
unemployment_rate = 0.2
[[teams]]
name = "a"
site = "north"
[[teams]]
name = "b"
site = "south"
[[teams]]
name = "c"
site = "south"
[[metrics]]
name = "worked"
kind = "share"
outcome = "ever_employed"
arm = "all"
by_site = true
"""


def test_by_site_columns_average_back_to_the_pooled_share(tmp_path):
    trial = load_trial(_metrics_file(tmp_path, BY_SITE, weeks=10))
    frame = run_trial(trial)
    assert list(frame.columns) == ["replicate", "worked", "worked[north]", "worked[south]"]
    world, _ = trial.world()
    site_of_user = np.array([t.site for t in world.teams])[world.team_of_agent]
    sizes = np.bincount(site_of_user)
    assert sizes.tolist() == [40, 80]
    weighted = (frame["worked[north]"] * sizes[0] + frame["worked[south]"] * sizes[1]) / 120
    np.testing.assert_allclose(frame["worked"], weighted, rtol=1e-12)
    assert not np.allclose(frame["worked[north]"], frame["worked[south]"])


AT_WEEKS = """
[[metrics]]
name = "worked"
kind = "share"
outcome = "ever_employed"
[[metrics]]
name = "worked_end"
kind = "share"
outcome = "ever_employed"
at_week = 6
[[metrics]]
name = "worked_w2"
kind = "share"
outcome = "ever_employed"
at_week = 2
[[metrics]]
name = "time_housed_w2"
kind = "follow_up_share"
outcome = "housed"
at_week = 2
"""

PLAIN = """
[[metrics]]
name = "worked"
kind = "share"
outcome = "ever_employed"
[[metrics]]
name = "time_housed"
kind = "follow_up_share"
outcome = "housed"
"""


def test_at_week_equals_the_metric_of_a_trial_that_ends_there(tmp_path):
    import pandas as pd

    frame = run_trial(load_trial(_metrics_file(tmp_path, AT_WEEKS, weeks=6)))
    pd.testing.assert_series_equal(frame["worked_end"], frame["worked"], check_names=False)
    (tmp_path / "short").mkdir()
    short = run_trial(load_trial(_metrics_file(tmp_path / "short", PLAIN, weeks=2)))
    np.testing.assert_array_equal(frame["worked_w2"], short["worked"])
    np.testing.assert_array_equal(frame["time_housed_w2"], short["time_housed"])
    assert (frame["worked_w2"] <= frame["worked"]).all()  # ever employed only grows


@pytest.mark.parametrize(
    "metrics,message",
    [
        (
            '[[metrics]]\nname = "x"\nkind = "share"\noutcome = "hope"\nat_week = 7\n',
            r"metrics\.0\.at_week = 7 \(x\) is after the end of follow-up; allowed: 0 to "
            r"follow_up_weeks = 6",
        ),
        (
            '[[metrics]]\nname = "x"\nkind = "correlation"\noutcome = "hope"\nwith = "hop"\n',
            r"metrics\.0\.with = 'hop' is not a per-user quantity; allowed: .*hope",
        ),
        (
            '[[metrics]]\nname = "x"\nkind = "correlation"\noutcome = "hope"\n',
            r"metrics\.0 \(x\): kind = 'correlation' needs with = ",
        ),
        (
            '[[metrics]]\nname = "x"\nkind = "share"\noutcome = "hope"\nwith = "meaning"\n',
            r"with is only for kind = 'correlation'",
        ),
        (
            '[[metrics]]\nname = "x"\nkind = "odds_ratio"\noutcome = "hope"\n',
            r"metrics\.0\.outcome = 'hope': kind = 'odds_ratio' needs a yes/no outcome "
            r"\(employed, .*\) or a threshold",
        ),
        (
            '[[metrics]]\nname = "x"\nkind = "follow_up_share"\noutcome = "hope"\n',
            r"outcome = 'hope' is not one; allowed: housed, employed, in_hospital",
        ),
        (
            '[[metrics]]\nname = "x"\nkind = "follow_up_share"\noutcome = "housed"\nat_week = 0\n',
            r"needs at least one week of follow-up",
        ),
        (
            '[[metrics]]\nname = "x"\nkind = "share"\noutcome = "hope"\nby_site = 1\n',
            r"metrics\.0\.by_site = 1 is invalid: Input should be a valid boolean",
        ),
        (
            '[[sites]]\nname = "s"\n[[sites]]\nname = "s"\n[[teams]]\nsite = 1\n'
            '[[metrics]]\nname = "x"\nkind = "share"\noutcome = "hope"\nby_site = true\n',
            r"metrics\.0\.by_site = true needs distinct \[\[sites\]\] names",
        ),
    ],
)
def test_new_metric_keys_are_validated(tmp_path, metrics, message):
    with pytest.raises(TrialError, match=message):
        load_trial(_metrics_file(tmp_path, metrics))


# --- --posterior ------------------------------------------------------------------------


def _posterior(tmp_path, rows: dict[str, list[float]]) -> Path:
    import pandas as pd

    path = tmp_path / "posterior.parquet"
    pd.DataFrame({**rows, "weight": [1.0] * len(next(iter(rows.values())))}).to_parquet(path)
    return path


def _cli(*args):
    from click.testing import CliRunner

    from sim.faces.cli.main import main

    return CliRunner().invoke(main, ["trial", *map(str, args)])


WORKED = '[[metrics]]\nname = "worked"\nkind = "share"\noutcome = "ever_employed"\n'


def test_posterior_predictive_interval_is_wider_and_reproducible(tmp_path):
    import json

    import pandas as pd

    trial = _metrics_file(tmp_path, WORKED, weeks=10)
    posterior = _posterior(tmp_path, {"job_finding_probability_per_week": [0.0005, 0.03]})
    runs = {}
    for label, extra in (
        ("plain", []),
        ("post", ["--posterior", posterior]),
        ("again", ["--posterior", posterior]),
    ):
        out = tmp_path / label
        result = _cli(trial, "--replicates", 16, "--seed", 3, "--out", out, *extra)
        assert result.exit_code == 0, result.output
        runs[label] = out
    summary = {k: pd.read_csv(v / "summary.csv").iloc[0] for k, v in runs.items()}
    width = {k: s["high_97.5"] - s["low_2.5"] for k, s in summary.items()}
    assert width["post"] > 2 * width["plain"]
    frames = {k: pd.read_csv(v / "trials.csv") for k, v in runs.items()}
    pd.testing.assert_frame_equal(frames["post"], frames["again"])
    drawn = frames["post"]["posterior.job_finding_probability_per_week"]
    assert set(drawn) == {0.0005, 0.03}
    assert frames["post"]["worked"].nunique() > 8  # distinct seeds per replicate
    manifest = json.loads((runs["post"] / "manifest.json").read_text())
    assert manifest["posterior"] == str(posterior)
    assert "parameter uncertainty plus sampling noise" in manifest["interval"]
    assert "parameter uncertainty plus sampling noise" in (
        (runs["post"] / "report.html").read_text(encoding="utf-8")
    )
    assert (
        "sampling noise only"
        in json.loads((runs["plain"] / "manifest.json").read_text())["interval"]
    )


@pytest.mark.parametrize(
    "extra,column,key",
    [
        (
            "[parameters]\njob_finding_probability_per_week = 0.01\n",
            "job_finding_probability_per_week",
            "parameters.job_finding_probability_per_week = 0.01",
        ),
        ("[population]\nmotivation_median = 0.4\n", "motivation_median", "population."),
        (
            '[[sites]]\nname = "x"\nunemployment_rate = 0.1\n',
            "unemployment_rate",
            "sites.0.unemployment_rate = 0.1",
        ),
    ],
)
def test_posterior_that_overrides_the_trial_file_is_refused(tmp_path, extra, column, key):
    from sim.core.parameters import lookup
    from sim.files.posterior import read_posterior
    from sim.studies.trial_posterior import run_trial_posterior

    trial_path = _metrics_file(tmp_path, WORKED, extra=extra)
    parameter = lookup(column)
    posterior = _posterior(tmp_path, {column: [parameter.low, parameter.high]})
    trial = load_trial(trial_path)
    with pytest.raises(TrialError, match=key.replace(".", r"\.")) as raised:
        run_trial_posterior(trial, read_posterior(posterior), source=posterior)
    assert str(trial_path) in str(raised.value) and str(posterior) in str(raised.value)
    result = _cli(trial_path, "--posterior", posterior, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and key in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    run_trial(trial, replicates=1, params={column: parameter.low})  # the API still overrides
