"""Sensitivity analysis: SALib designs, the analysis path, noise, outputs and the command.

Analytic checks run SALib's Ishigami function through the same design and analysis
code as the model (:func:`sim.studies.sensitivity.ishigami_frame`); model checks use tiny
sweeps (tens to a hundred users, a few weeks) so the module stays fast.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.core.engine import run_batch
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.faces.reports.sensitivity_report import (
    _stable_text,
    lead_rivals,
    ranking_text,
    reading_notes,
    write_analysis,
)
from sim.files.experiment import DesignSpec, ExperimentError, load_experiment
from sim.studies.sensitivity import (
    CONVERGENCE_COLUMNS,
    INDEX_COLUMNS,
    ISHIGAMI_INDICES,
    NOISE_COLUMNS,
    SensitivityError,
    SensitivityPlan,
    analyse,
    ishigami_frame,
    noise_table,
    noise_warnings,
)
from sim.studies.sweep import read_results, run_sweep

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "experiments").glob("sa_*.toml"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ISHIGAMI_VARIANCE = 7**2 / 8 + 0.1 * np.pi**4 / 5 + 0.1**2 * np.pi**8 / 18 + 0.5


def indices_of(result, index: str, method: str | None = None) -> pd.DataFrame:
    rows = result.indices[result.indices["index"] == index]
    if method is not None:
        rows = rows[rows["method"] == method]
    return rows.set_index("parameter")


def write_experiment(folder: Path, body: str, *, agents: int = 60, name: str = "exp") -> Path:
    (folder / "scenario.toml").write_text(
        f'name = "tiny"\n[population]\nsize = {agents}\n'
        "[offers]\npeer_support = 0.4\nsupported_employment = 0.4\n"
    )
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\nscenario = "scenario.toml"\n' + body)
    return path


# ------------------------------------------------------------------- analytic checks


def test_sobol_recovers_the_published_ishigami_indices_within_their_intervals():
    frame, plan = ishigami_frame(DesignSpec(method="saltelli", points=1024), seed=3, dummies=1)
    result = analyse(frame, plan)
    for index, values in ISHIGAMI_INDICES.items():
        rows = indices_of(result, index, "sobol").loc[["x1", "x2", "x3"]]
        published = np.array(values)
        assert (rows["ci_high"] - rows["ci_low"]).max() < 0.2  # informative intervals
        assert ((rows["ci_low"] <= published) & (published <= rows["ci_high"])).all(), rows
    pair = result.indices[
        (result.indices["index"] == "S2")
        & (result.indices["parameter"] == "x1")
        & (result.indices["partner"] == "x3")
    ].iloc[0]
    assert pair.ci_low <= 0.2437 <= pair.ci_high  # S13 = ST3: x3 acts only with x1
    dummy = indices_of(result, "ST", "sobol").loc["d1"]
    assert dummy.estimate == 0.0 and dummy.ci_low == dummy.ci_high == 0.0


def test_efast_roughly_recovers_the_ishigami_indices():
    """Roughly: eFAST's interference between frequencies biases ST of x2 by about +0.045
    here whatever N (a property of the frequency set, not of sampling), hence 0.05."""
    frame, plan = ishigami_frame(DesignSpec(method="fast", points=1025), seed=5)
    result = analyse(frame, plan)
    for index, published in ISHIGAMI_INDICES.items():
        found = indices_of(result, index, "efast").loc[["x1", "x2", "x3"], "estimate"]
        np.testing.assert_allclose(found, published, atol=0.05)
    assert result.convergence.empty and result.stable.empty  # eFAST samples do not nest


def test_morris_and_pawn_put_the_ignored_input_last():
    frame, plan = ishigami_frame(DesignSpec(method="morris", points=40), seed=2, dummies=1)
    star = indices_of(analyse(frame, plan), "mu_star")
    assert star.at["d1", "estimate"] == 0.0 and (star.loc[["x1", "x2", "x3"], "ci_low"] > 0.5).all()
    frame, plan = ishigami_frame(DesignSpec(method="saltelli", points=512), seed=2, dummies=1)
    pawn = indices_of(analyse(frame, plan), "pawn_median", "pawn")
    assert pawn["estimate"].idxmin() in ("d1", "x3")
    assert pawn.at["x2", "estimate"] > 3 * pawn.at["d1", "noise_floor"]


def test_noise_floor_correction_zeroes_an_ignored_input_under_noise():
    """Noise of known size on Ishigami: the share is estimated and removed from ST."""
    frame, plan = ishigami_frame(
        DesignSpec(method="saltelli", points=512), seed=1, dummies=1, replicates=2, noise_sd=2.0
    )
    result = analyse(frame, plan)
    noise = result.noise.iloc[0]
    expected = (4.0 / 2) / (ISHIGAMI_VARIANCE + 4.0 / 2)
    assert noise.noise_share_mean == pytest.approx(expected, rel=0.1)
    total = indices_of(result, "ST", "sobol")
    dummy = total.loc["d1"]
    assert dummy.raw_estimate > 0.08  # uncorrected, noise shows up as a total effect
    assert dummy.ci_low <= 0.0 <= dummy.ci_high
    assert abs(dummy.raw_estimate - dummy.noise_floor) < 0.02
    assert (total.loc[["x1", "x2", "x3"], "ci_low"] > 0.1).all()
    assert any("stochastic noise is 1" in w for w in result.warnings)


# ------------------------------------------------------------------------ noise


def test_noise_shares_on_a_synthetic_frame_with_known_variances():
    rng = np.random.default_rng(7)
    points, replicates = 2000, 4
    signal = rng.normal(0.0, 2.0, points)  # between-point variance 4
    frame = pd.DataFrame(
        {
            "design_point": np.repeat(np.arange(points), replicates),
            "replicate": np.tile(np.arange(replicates), points),
        }
    )
    frame["y"] = signal[frame["design_point"]] + rng.normal(0.0, 1.0, len(frame))
    frame["flat"] = signal[frame["design_point"]]
    table = noise_table(frame, ["y", "flat"]).set_index("output")
    assert list(table.reset_index().columns) == list(NOISE_COLUMNS)
    assert table.at["y", "within_variance"] == pytest.approx(1.0, rel=0.05)
    assert table.at["y", "noise_share_run"] == pytest.approx(1 / 5, rel=0.08)
    assert table.at["y", "noise_share_mean"] == pytest.approx(0.25 / 4.25, rel=0.1)
    assert table.at["y", "replicates_for_5pc"] in (4.0, 5.0)  # 1 x 0.95 / (0.05 x 4) = 4.75
    assert table.at["flat", "noise_share_run"] == 0.0
    by_hand = frame.groupby("design_point")["y"].var(ddof=1).mean() / frame["y"].var(ddof=1)
    assert table.at["y", "noise_share_run"] == pytest.approx(by_hand, rel=1e-12)


def test_noise_warnings_name_the_output_and_the_remedy():
    table = pd.DataFrame(
        {
            "output": ["quiet", "loud", "single"],
            "replicates": [2, 2, 1],
            "noise_share_mean": [0.02, 0.3, np.nan],
            "replicates_for_5pc": [1.0, 17.0, np.nan],
        }
    )
    found = noise_warnings(table, 0.1)
    assert len(found) == 2
    assert found[0].startswith("loud: stochastic noise is 30%") and "17 replicates" in found[0]
    assert found[1].startswith("single: one replicate")


# ------------------------------------------------------------------- model checks


def test_an_ignored_parameter_gets_a_total_index_indistinguishable_from_zero(tmp_path):
    """A registry parameter the model provably ignores in this scenario, as a dummy.

    Every registry parameter is used somewhere, so the honest dummy is one with no
    effect in the chosen scenario: ``staff_training_attitude_gain`` only moves the
    attitudes of teams that are trained, and no team here is (``train_staff``
    returns before reading it). First the test proves it is ignored (same seed,
    extreme values, identical outputs); then a Sobol' analysis with two replicates
    per design point must give it a noise-corrected total index whose interval
    contains zero, while the levers that matter are clearly above zero.
    """
    body = """seed = 11
replicates = 2
weeks = 20
[design]
method = "saltelli"
points = 64
[parameters.baseline_employment_share]
[parameters.hope_baseline_median]
[parameters.unemployment_rate]
[parameters.staff_training_attitude_gain]
[outputs]
metrics = ["employed", "personal_recovery"]
[execution]
chunk_size = 128
"""
    experiment = load_experiment(write_experiment(tmp_path, body, agents=100))
    params = [validate({"staff_training_attitude_gain": v}) for v in (0.0, 1.0)]
    same = run_batch(experiment.scenario.world(), params, [RunSeed(1, 0, 0)] * 2, 20)
    for series in same.metrics.values():
        np.testing.assert_array_equal(series[0], series[1])
    run_sweep(experiment, tmp_path / "out", backend="serial")
    result = analyse(read_results(tmp_path / "out"), SensitivityPlan.from_experiment(experiment))
    for output, lever in (
        ("employed_w20", "baseline_employment_share"),
        ("personal_recovery_w20", "hope_baseline_median"),
    ):
        total = indices_of(result, "ST", "sobol")
        total = total[total["output"] == output]
        dummy = total.loc["staff_training_attitude_gain"]
        assert dummy.ci_low <= 0.0 <= dummy.ci_high, (output, dummy)
        assert dummy.raw_estimate > 0.0 and dummy.noise_floor > 0.0
        assert total.at[lever, "ci_low"] > 0.3


def test_grouped_design_gives_one_index_per_level_present(tmp_path):
    body = """seed = 2
[design]
method = "saltelli"
points = 128
grouped = true
[parameters.motivation_median]
[parameters.hope_baseline_median]
[parameters.unemployment_rate]
[parameters.public_stigma]
"""
    experiment = load_experiment(write_experiment(tmp_path, body))
    design = experiment.design()
    assert design.shape == (128 * (2 * 2 + 2), 4)  # two levels, not four parameters
    plan = SensitivityPlan.from_experiment(experiment)
    frame = pd.DataFrame(design, columns=list(experiment.names))
    frame.insert(0, "replicate", 0)
    frame.insert(0, "design_point", np.arange(len(frame)))
    # only the user level matters: y = motivation + 2 x hope (a stand-in for the model)
    frame["employed_w104"] = frame["motivation_median"] + 2 * frame["hope_baseline_median"]
    frame = frame.assign(
        personal_recovery_w104=frame["employed_w104"], connectedness_w104=frame["employed_w104"]
    )
    result = analyse(frame, plan)
    total = indices_of(result, "ST", "sobol_by_level")
    assert sorted(total.index.unique()) == ["environment", "user"]
    assert len(total[total["output"] == "employed_w104"]) == 2
    first = total[total["output"] == "employed_w104"]
    assert first.at["user", "estimate"] == pytest.approx(1.0, abs=0.05)
    assert first.at["environment", "estimate"] == pytest.approx(0.0, abs=1e-12)
    assert ranking_text(result)[0].count("The user level matters most") == 1


def test_convergence_table_has_one_row_per_size_parameter_and_index():
    frame, plan = ishigami_frame(DesignSpec(method="saltelli", points=256), seed=4)
    result = analyse(frame, plan)
    table = result.convergence
    assert list(table.columns) == list(CONVERGENCE_COLUMNS)
    assert sorted(table["base_n"].unique()) == [8, 16, 32, 64, 128, 256]
    assert len(table) == 6 * 3 * 2  # sizes x parameters x (S1, ST)
    full = table[table["base_n"] == 256].set_index(["index", "parameter"])["estimate"]
    direct = result.indices[result.indices["method"] == "sobol"].set_index(["index", "parameter"])[
        "estimate"
    ]
    np.testing.assert_allclose(full.sort_index(), direct.loc[full.index].sort_index())
    stable = result.stable.iloc[0]
    assert stable["index"] == "ST" and stable["largest_n"] == 256
    assert stable["stable_n"] in (8, 16, 32, 64, 128, 256)


# --------------------------------------------------------------- outputs and designs


def test_written_tables_figures_and_report(tmp_path):
    frame, plan = ishigami_frame(
        DesignSpec(method="saltelli", points=64),
        seed=6,
        dummies=1,
        replicates=2,
        noise_sd=0.5,
        resamples=200,
    )
    written = write_analysis(analyse(frame, plan), tmp_path, manifest={"seed": 6}, title="Ishigami")
    indices = pd.read_csv(tmp_path / "indices.csv")
    assert list(indices.columns) == list(INDEX_COLUMNS)
    assert set(indices["index"]) == {"S1", "ST", "S2", "pawn_median"}
    assert indices[["estimate", "raw_estimate", "noise_floor"]].notna().all().all()
    for name in ("ranking.png", "second_order.png", "convergence.png"):
        assert written[name].read_bytes().startswith(PNG_MAGIC)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Which levers matter most" in page and "x1 ranks first" in page
    assert "x1 is not separable from x2" in page  # noisy: as the Convergence section says
    assert page.count("data:image/png;base64,") == 3


@pytest.fixture(scope="module")
def ishigami_result():
    frame, plan = ishigami_frame(
        DesignSpec(method="saltelli", points=64), seed=6, dummies=1, replicates=2, noise_sd=0.5
    )
    return analyse(frame, plan)


def with_total_order(result, main: dict, converged: dict | None = None, first: dict | None = None):
    """``result`` with ST (estimate, low, high) set per parameter, in the indices and at the
    convergence table's largest size (``converged``, default: the same), and S1 estimates."""
    indices, conv = result.indices.copy(), result.convergence.copy()
    largest = conv["base_n"] == conv["base_n"].max()
    for parameter, (estimate, low, high) in main.items():
        rows = (indices["index"] == "ST") & (indices["parameter"] == parameter)
        indices.loc[rows, ["estimate", "ci_low", "ci_high"]] = (estimate, low, high)
    for parameter, (estimate, low, high) in (converged or main).items():
        rows = largest & (conv["index"] == "ST") & (conv["parameter"] == parameter)
        conv.loc[rows, ["estimate", "ci_low", "ci_high"]] = (estimate, low, high)
    for parameter, estimate in (first or {}).items():
        rows = (indices["index"] == "S1") & (indices["parameter"] == parameter)
        indices.loc[rows, "estimate"] = estimate
        indices.loc[rows, "ci_low"] = indices.loc[rows, "ci_low"].clip(upper=estimate)
        indices.loc[rows, "ci_high"] = indices.loc[rows, "ci_high"].clip(lower=estimate)
    return dataclasses.replace(result, indices=indices, convergence=conv)


SEPARATE = {"x1": (0.5, 0.4, 0.6), "x2": (0.2, 0.1, 0.3), "x3": (0.1, 0.05, 0.15)}
SEPARATE["d1"] = (0.0, -0.01, 0.01)


def test_headline_and_convergence_agree_on_a_separable_top_lever(ishigami_result):
    result = with_total_order(ishigami_result, SEPARATE)
    assert lead_rivals(result, "ishigami") == ("x1", [])
    (headline,) = ranking_text(result)
    assert "x1 matters most" in headline and "not separable" not in headline
    assert "The top lever, x1, is separable from every other." in _stable_text(result)


def test_headline_says_when_the_top_lever_is_not_separable_from_an_unclear_next(
    ishigami_result,
):
    """The next lever's interval reaches below zero (so the headline did not list it as
    clear) and above the top one's lower bound: the top place is not certain."""
    main = {**SEPARATE, "x2": (0.2, -0.05, 0.45)}
    result = with_total_order(ishigami_result, main)
    assert lead_rivals(result, "ishigami") == ("x1", ["x2"])
    (headline,) = ranking_text(result)
    assert "x1 matters most" not in headline and "x1 ranks first" in headline
    assert "x1 is not separable from x2: their 95% intervals overlap" in headline
    assert "The top lever, x1, is not separable from x2." in _stable_text(result)


def test_headline_follows_the_convergence_intervals_too(ishigami_result):
    """Separate on the full-size indices, overlapping in the convergence table at its
    largest size (another bootstrap): the headline says what the Convergence section says."""
    converged = {**SEPARATE, "x1": (0.5, 0.25, 0.75), "x2": (0.2, 0.05, 0.35)}
    result = with_total_order(ishigami_result, SEPARATE, converged)
    (headline,) = ranking_text(result)
    assert "x1 is not separable from x2" in headline
    assert "The top lever, x1, is not separable from x2." in _stable_text(result)


def test_reading_notes_explain_total_order_above_one_and_negative_first_order(
    ishigami_result, tmp_path
):
    plain = with_total_order(ishigami_result, SEPARATE, first={"x3": 0.01, "d1": 0.0})
    assert reading_notes(plain) == []
    odd = with_total_order(
        ishigami_result, {**SEPARATE, "x1": (0.8, 0.55, 1.2)}, first={"x3": 0.01, "d1": -0.02}
    )
    above, negative = reading_notes(odd)
    assert above.startswith("1 total-order interval reaches above 1")
    assert "bootstrap intervals of a noisy estimator" in above and "ST <= 1" in above
    assert negative.startswith("1 first-order estimate is negative")
    assert "Monte Carlo error around" in negative
    write_analysis(odd, tmp_path, manifest={"seed": 6}, title="Ishigami")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "bootstrap intervals of a noisy estimator" in page and "Monte Carlo error" in page


@pytest.mark.parametrize(
    "design,points",
    [
        ({"method": "saltelli", "points": 16}, 16 * (2 * 3 + 2)),
        ({"method": "saltelli", "points": 16, "second_order": False}, 16 * (3 + 2)),
        ({"method": "morris", "points": 5}, 5 * (3 + 1)),
        ({"method": "fast", "points": 70}, 70 * 3),
    ],
)
def test_salib_designs_are_deterministic_and_within_bounds(tmp_path, design, points):
    lines = "\n".join(
        f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}" for k, v in design.items()
    ).replace("'", '"')
    body = (
        f"seed = 0\n[design]\n{lines}\n[parameters.motivation_median]\n"
        "[parameters.job_finding_probability_per_week]\n[parameters.unemployment_rate]\n"
        "low = 0.05\nhigh = 0.1\n"
    )
    experiment = load_experiment(write_experiment(tmp_path, body))
    first, again = experiment.design(), load_experiment(experiment.path).design()
    np.testing.assert_array_equal(first, again)
    assert first.shape == (points, 3)
    assert (first >= experiment.bounds[:, 0]).all() and (first <= experiment.bounds[:, 1]).all()
    assert experiment.problem()["dists"] == ["unif", "logunif", "unif"]


@pytest.mark.parametrize(
    "design,message",
    [
        ('method = "saltelli"\npoints = 100', "power of two"),
        ('method = "morris"\npoints = 8\nlevels = 5', "even number of levels"),
        ('method = "fast"\npoints = 60', "points > 4 x harmonics^2 = 64"),
        ('method = "morris"\ngrouped = true', "grouped = true needs method = 'saltelli'"),
    ],
)
def test_bad_salib_designs_are_actionable_errors(tmp_path, design, message):
    path = write_experiment(tmp_path, f"[design]\n{design}\n[parameters.fidelity]\n")
    with pytest.raises(ExperimentError, match=re.escape(message)) as caught:
        load_experiment(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_varied_environment_values_replace_the_scenarios_site_values(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(
        f'scenario = "{ROOT / "scenarios" / "baseline.toml"}"\n'
        '[design]\nmethod = "latin"\npoints = 2\n'
        "[parameters.unemployment_rate]\n"
    )
    experiment = load_experiment(path)
    assert experiment.replaced == ("sites.0.unemployment_rate = 0.07",)
    assert experiment.scenario.world().sites[0].unemployment_rate is None
    assert experiment.scenario.world().sites[0].public_stigma == 0.5  # not varied: kept


def test_shipped_experiments_state_their_cost_and_run_when_shrunk(tmp_path):
    assert [p.name for p in SHIPPED] == [
        "sa_morris_screening.toml",
        "sa_policy_effects.toml",
        "sa_screening_all.toml",
        "sa_sobol_by_level.toml",
        "sa_sobol_leaders.toml",
        "sa_sobol_levers.toml",
    ]
    for path in SHIPPED:
        text = path.read_text(encoding="utf-8")
        experiment = load_experiment(path)
        stated = int(re.search(r"= ([\d,]+) runs", text).group(1).replace(",", ""))
        assert stated == experiment.design().shape[0] * experiment.spec.replicates, path.name
        assert text.startswith("# Question:") and "Cost:" in text
        small = re.sub(
            r"points = \d+",
            "points = 4" if "morris" in text else "points = 8",
            text.replace("weeks = [104]", "weeks = [4]")
            .replace("weeks = [78, 104]", "weeks = [2, 4]")
            .replace("weeks = 104", "weeks = 4"),
        )
        small = small.replace("population.size=250", "population.size=30").replace(
            '"../scenarios/', f'"{ROOT / "scenarios"}/'
        )
        copy = tmp_path / path.name
        copy.write_text(small)
        shrunk = load_experiment(copy)
        run_sweep(shrunk, tmp_path / path.stem, backend="serial")
        result = analyse(
            read_results(tmp_path / path.stem),
            SensitivityPlan.from_experiment(shrunk, resamples=50),
        )
        assert set(result.indices["output"]) <= set(SensitivityPlan.from_experiment(shrunk).outputs)


# ----------------------------------------------------------------------- command


TINY = """seed = 5
replicates = 2
weeks = 6
[design]
method = "saltelli"
points = 16
[parameters.motivation_median]
[parameters.unemployment_rate]
[parameters.professional_attitudes]
[outputs]
metrics = ["employed", "personal_recovery"]
[execution]
chunk_size = 64
"""


def invoke(*args: str | Path, cwd: Path) -> tuple[int, str, str]:
    """``python -m sim sensitivity`` if the lead has registered it, else a local group."""
    from sim.faces.cli.main import ErrorHandlingGroup, main
    from sim.faces.cli.sensitivity import sensitivity

    argv = ["sensitivity", *map(str, args)]
    if "sensitivity" in main.commands:
        done = subprocess.run(
            [sys.executable, "-m", "sim", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd,
            check=False,
        )
        return done.returncode, done.stdout, done.stderr
    group = ErrorHandlingGroup(name="recovery-sim", commands=[sensitivity])
    result = CliRunner().invoke(group, argv, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_command_runs_analyses_and_writes_everything(tmp_path):
    path = write_experiment(tmp_path, TINY, agents=40, name="tiny-sa")
    code, out, err = invoke(path, "--out", tmp_path / "out", "--resamples", "100", cwd=tmp_path)
    assert code == 0, err
    folder = tmp_path / "out"
    for name in (
        "indices.csv",
        "noise.csv",
        "convergence.csv",
        "stable.csv",
        "analysis.json",
        "ranking.png",
        "second_order.png",
        "convergence.png",
        "report.html",
        "manifest.json",
    ):
        assert (folder / name).is_file(), name
    assert "Which levers matter most" in out and "wrote" in out
    assert len(pd.read_csv(folder / "indices.csv")) > 0
    code, out, err = invoke(path, "--out", folder, "--resume", cwd=tmp_path)
    assert code == 0 and "(0 this session" in out  # a finished sweep is only re-analysed


def test_command_refuses_a_design_it_cannot_analyse(tmp_path):
    path = write_experiment(tmp_path, TINY.replace('"saltelli"', '"latin"'), name="latin")
    code, _, err = invoke(path, "--out", tmp_path / "out", cwd=tmp_path)
    assert code == 2 and err.startswith("error: ") and "cannot be analysed" in err
    assert not (tmp_path / "out").exists()
    code, _, err = invoke(path, "--conf-level", "1.5", cwd=tmp_path)
    assert code == 2 and "--conf-level" in err


def test_incomplete_sweeps_are_refused(tmp_path):
    frame, plan = ishigami_frame(DesignSpec(method="saltelli", points=16), seed=1)
    with pytest.raises(SensitivityError, match="--resume"):
        analyse(frame.iloc[:-3], plan)
