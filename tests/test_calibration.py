"""Calibration with pyABC: a tiny fit is reproducible, resumable and reported."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.files.outputs import KINDS
from sim.files.posterior import posterior_draws
from sim.studies.calibration import CalibrationError, load_fit, run_fit

ROOT = Path(__file__).resolve().parent.parent

FIT = """
name = "tiny"
seed = {seed}
population_size = 8
generations = {generations}
final_tolerance_quantile = 0.001
noise_replicates = 4
database = "runs/fit.db"
posterior = "posterior.parquet"
targets_file = "{root}/calibration/targets.toml"
predictive_draws = 10
[free.ips_job_finding_multiplier]
[free.job_finding_probability_per_week]
low = 0.001
high = 0.01
[[targets]]
trial = "trial.toml"
metric = "worked_ips"
[[targets]]
trial = "trial.toml"
metric = "worked_usual"
"""


def _fit_file(folder: Path, *, seed=5, generations=2) -> Path:
    eqolise = (ROOT / "experiments/trials/eqolise.toml").read_text()
    (folder / "trial.toml").write_text(
        eqolise.replace("n_per_arm = 156", "n_per_arm = 40").replace(
            "follow_up_weeks = 78", "follow_up_weeks = 30"
        )
    )
    path = folder / "fit.toml"
    path.write_text(FIT.format(seed=seed, generations=generations, root=ROOT))
    return path


def _history_generations(path: Path) -> int:
    """Finished ABC generations in a pyABC database (read with sqlite3: cheap to poll)."""
    import sqlite3

    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as connection:
            max_t = connection.execute("SELECT max(t) FROM populations").fetchone()[0]
    except sqlite3.Error:  # the database may be mid-creation
        return 0
    return 0 if max_t is None or max_t < 0 else int(max_t) + 1


def test_fit_is_reproducible_from_file_and_seed(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    a = run_fit(load_fit(_fit_file(first)))
    b = run_fit(load_fit(_fit_file(second)))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert len(a) == 8 and a["weight"].sum() == pytest.approx(1.0)
    written = pd.read_parquet(first / "posterior.parquet")
    pd.testing.assert_frame_equal(written, a)
    low, high = 0.001, 0.01
    assert a["job_finding_probability_per_week"].between(low, high).all()


def test_interrupted_fit_resumes_and_completes(tmp_path):
    path = _fit_file(tmp_path, generations=6)
    command = [
        sys.executable,
        "-m",
        "sim",
        "calibrate",
        str(path),
        "--out",
        str(tmp_path / "report"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    database = tmp_path / "runs" / "fit.db"
    deadline = time.monotonic() + 120
    while _history_generations(database) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _history_generations(database)
    assert 1 <= done < 6, "the kill came too late to test resuming"
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert _history_generations(database) == 6
    table = pd.read_csv(tmp_path / "report" / "fit_targets.csv")
    assert list(table["target"]) == ["eqolise:worked_ips", "eqolise:worked_usual"]
    html = (tmp_path / "report" / "report.html").read_text()
    assert "posterior predictive" in html.lower() and "data:image/png;base64," in html
    # every file of the report is declared, so `--force` may replace the report folder
    written = {p.name for p in (tmp_path / "report").iterdir()}
    assert written <= set(KINDS["calibration"]), written - set(KINDS["calibration"])
    again = subprocess.run(
        [*command, "--report-only", "--force"], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr


def test_posterior_draws_follow_weights_and_seed():
    posterior = pd.DataFrame({"fidelity": [0.5, 0.9], "weight": [0.0, 1.0]})
    draws = posterior_draws(posterior, 20, seed=3)
    assert all(d == {"fidelity": 0.9} for d in draws)
    mixed = pd.DataFrame({"fidelity": [0.5, 0.9], "weight": [0.5, 0.5]})
    a, b = posterior_draws(mixed, 50, seed=3), posterior_draws(mixed, 50, seed=3)
    assert a == b and 10 < sum(d["fidelity"] == 0.9 for d in a) < 40
    assert posterior_draws(mixed, 50, seed=4) != a


def test_bad_fit_files_are_rejected(tmp_path):
    path = _fit_file(tmp_path)
    path.write_text(
        path.read_text().replace(
            "[free.ips_job_finding_multiplier]", "[free.ips_job_finding_multiplyer]"
        )
    )
    with pytest.raises(CalibrationError, match="did you mean 'ips_job_finding_multiplier'"):
        load_fit(path)
    path.write_text(FIT.format(seed=1, generations=2, root=ROOT).replace("low = 0.001", "low = -1"))
    with pytest.raises(CalibrationError, match="inside the registry"):
        load_fit(path)


def test_shipped_fit_file_loads_with_every_target_scaled():
    fit = load_fit(ROOT / "calibration" / "fit.toml")
    assert len(fit.targets) >= 10
    assert all(np.isfinite(t.scale) and t.scale > 0 for t in fit.targets)


def test_scenarios_can_run_over_the_posterior(tmp_path):
    from sim.files.scenario import load_scenario
    from sim.studies.compare import run_scenario

    scenario = load_scenario(
        ROOT / "scenarios" / "ips_scale_up.toml", ["population.size=60", "replicates=4"]
    )
    posterior = pd.DataFrame(
        {
            "ips_job_finding_multiplier": [1.0, 6.0],
            "job_finding_probability_per_week": [0.001, 0.01],
            "weight": [0.5, 0.5],
        }
    )
    fixed = run_scenario(scenario, weeks=10)
    uncertain = run_scenario(scenario, weeks=10, posterior=posterior)
    again = run_scenario(scenario, weeks=10, posterior=posterior)
    assert uncertain.series.equals(again.series)
    assert not uncertain.series.equals(fixed.series)
    path = tmp_path / "post.parquet"
    posterior.to_parquet(path)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim",
            "run",
            str(ROOT / "scenarios" / "ips_scale_up.toml"),
            "--weeks",
            "5",
            "--set",
            "population.size=40",
            "--posterior",
            str(path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    manifest = (out / "manifest.json").read_text()
    assert "parameter (one posterior draw per replicate" in manifest
    assert "parameter (one posterior draw per replicate" in (out / "report.html").read_text()


def test_fitted_defaults_are_the_posterior_weighted_medians():
    """`recovery-sim run` is calibrated out of the box (calibration/set_defaults.py)."""
    from sim.core.parameters import REGISTRY
    from sim.files.posterior import weighted_median

    fit = load_fit(ROOT / "calibration" / "fit.toml")
    posterior = pd.read_parquet(fit.posterior_path)
    assert set(fit.priors) <= set(posterior.columns)
    for name in fit.priors:
        assert REGISTRY[name].default == weighted_median(posterior, name), name
        assert REGISTRY[name].source.startswith(f"calibrated: {fit.spec.name}, "), name


def test_weighted_median_follows_the_weights():
    from sim.files.posterior import weighted_median

    posterior = pd.DataFrame({"x": [3.0, 1.0, 2.0], "weight": [0.1, 0.2, 0.7]})
    assert weighted_median(posterior, "x") == 2.0
    posterior["weight"] = [0.6, 0.2, 0.2]
    assert weighted_median(posterior, "x") == 3.0


def test_a_free_parameter_that_a_target_trial_sets_is_refused(tmp_path):
    path = _fit_file(tmp_path)
    trial = tmp_path / "trial.toml"
    trial.write_text(
        trial.read_text().replace(
            "[parameters]\n", "[parameters]\njob_finding_probability_per_week = 0.002\n"
        )
    )
    with pytest.raises(CalibrationError, match=r"free.job_finding_probability_per_week.*sets"):
        load_fit(path)


def test_fit_does_not_depend_on_the_number_of_workers(tmp_path):
    """Proposals and their seeds come from the seeded global state, not from the workers."""
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    a = run_fit(load_fit(_fit_file(first, generations=2)), workers=1)
    b = run_fit(load_fit(_fit_file(second, generations=2)), workers=2)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_batch_sampler_hands_every_result_to_its_own_proposal():
    """The batched results reach pyABC's acceptance step in proposal order."""
    from sim.studies.abc_batch import PrimedModel

    model = PrimedModel()
    model.prime({"x": 1.0}, {"y": 1.0})
    model.prime({"x": 2.0}, {"y": 2.0})
    assert model.sample({"x": 1.0}) == {"y": 1.0}
    with pytest.raises(RuntimeError, match="out of proposal order"):
        model.sample({"x": 3.0})


def test_floored_epsilon_snaps_to_the_final_tolerance(monkeypatch):
    """A median within ``snap`` above the final tolerance runs at it; the floor holds."""
    import pyabc

    from sim.studies.abc_batch import FlooredQuantileEpsilon

    epsilon = FlooredQuantileEpsilon(3.0, first=False, snap=0.1)
    for median, expected in [(3.5, 3.5), (3.31, 3.31), (3.29, 3.0), (2.0, 3.0)]:
        monkeypatch.setattr(pyabc.QuantileEpsilon, "__call__", lambda self, t, m=median: m)
        assert epsilon(1) == expected
    unsnapped = FlooredQuantileEpsilon(3.0, first=False)
    monkeypatch.setattr(pyabc.QuantileEpsilon, "__call__", lambda self, t: 3.01)
    assert unsnapped(1) == 3.01
