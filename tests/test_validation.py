"""External validation (calibration/validation.toml, sim/studies/validation.py, validate-evidence).

Kept fast: 10 posterior draws, and a trimmed validation file where a whole run is needed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.files import shipped
from sim.files.posterior import read_posterior
from sim.studies.validation import (
    COLUMNS,
    ValidationFileError,
    load_validation,
    run_validation,
    validation_table,
)

ROOT = Path(__file__).resolve().parent.parent
DRAWS = 10

BERN = """
[[figure]]
id = "bern_difference"
kind = "interval"
trial = "ips_bern"
metric = "worked_difference"
value = 0.32
se = 0.0947
citation = "Hoffmann H, et al. Am J Psychiatry 2014;171:1183-90."
why = "test"
"""
WRAP = """
[[figure]]
id = "wrap_direction"
kind = "direction"
trial = "wrap"
metric = "smd_hope"
citation = "Cook JA, et al. Schizophr Bull 2012;38:881-91."
why = "test"
"""


def write(tmp_path: Path, text: str, name: str = "validation.toml") -> Path:
    path = tmp_path / name
    path.write_text('name = "test"\nseed = 5\n' + text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def posterior() -> pd.DataFrame:
    return read_posterior(shipped.posterior_file())


def test_shipped_file_loads_and_keeps_its_selection_rule():
    validation = load_validation(shipped.validation_file())  # refuses fitted figures
    ids = {c.figure.id for c in validation.checks}
    assert {"ips_bern_worked_difference", "ips_pooled_rr", "wrap_hope_direction"} <= ids
    kinds = {c.figure.id: c.figure.kind for c in validation.checks}
    assert kinds["wrap_hope_direction"] == "direction"
    assert kinds["recovery_college_upper_bound"] == "upper_bound"
    excluded = {e.target for e in validation.spec.excluded}
    assert {"labour_market_job_entry", "shared_decision_making"} <= excluded
    modini = next(c for c in validation.checks if c.figure.id == "ips_pooled_rr")
    assert "EQOLISE" in modini.figure.overlap
    assert modini.se == pytest.approx((math.log(2.90) - math.log(1.99)) / 3.919928, rel=1e-4)


def test_one_row_per_figure(posterior):
    validation = load_validation(shipped.validation_file())
    table, predictive = run_validation(validation, posterior, draws=DRAWS)
    assert list(table.figure) == [c.figure.id for c in validation.checks]
    assert list(table.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert len(predictive) == DRAWS
    assert table.covered.dtype == bool
    assert (table.pp_low_5 <= table["median"]).all() and (table["median"] <= table.pp_high_95).all()


def test_absurd_posterior_fails_the_bern_figure(tmp_path, posterior):
    """IPS that does nothing (multiplier at its bound 1.0) cannot reproduce Bern's +32 points."""
    validation = load_validation(write(tmp_path, BERN))
    absurd = posterior.assign(ips_job_finding_multiplier=1.0)
    table, _ = run_validation(validation, absurd, draws=DRAWS)
    row = table.set_index("figure").loc["bern_difference"]
    assert not row.covered
    assert row.pp_high_95 < 0.32
    assert row.standardised_residual < -1.5


def test_kinds_on_known_predictive_values(tmp_path):
    text = (
        BERN
        + WRAP
        + """
[[figure]]
id = "bound"
kind = "upper_bound"
trial = "wrap"
metric = "smd_hope"
value = 0.5
citation = "x"
why = "test"
"""
    )
    validation = load_validation(write(tmp_path, text))
    values = np.linspace(0.0, 1.0, 101)  # 5%..95%: 0.05..0.95, median 0.5
    predictive = pd.DataFrame(
        {"bern_difference": values, "wrap_direction": values, "bound": values}
    )
    table = validation_table(validation, predictive).set_index("figure")
    assert table.loc["bern_difference", "covered"]  # 0.32 inside [0.05, 0.95]
    assert table.loc["bern_difference", "standardised_residual"] == pytest.approx(
        (0.5 - 0.32) / 0.0947
    )
    assert table.loc["wrap_direction", "covered"]  # 0.05 > 0
    assert not table.loc["bound", "covered"]  # 0.95 is not below 0.5
    shifted = predictive.assign(wrap_direction=values - 0.5, bound=values * 0.4)
    table = validation_table(validation, shifted).set_index("figure")
    assert not table.loc["wrap_direction", "covered"]
    assert table.loc["bound", "covered"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BERN.replace("se = 0.0947\n", ""), "figure.0: kind = 'interval' needs value"),
        (BERN.replace('kind = "interval"', 'kind = "band"'), "figure.0.kind = 'band'"),
        (BERN + "colour = 1\n", "figure.0.colour: unknown key"),
        (BERN.replace('metric = "worked_difference"', 'metric = "nope"'), "figure.0.metric"),
        (BERN.replace('trial = "ips_bern"', 'trial = "no_such"'), "figure.0.trial = 'no_such'"),
        (BERN.replace('why = "test"\n', ""), "figure.0.why: required key missing"),
        (BERN + BERN, "duplicate ids ['bern_difference']"),
        ("", "figure: required key missing"),
    ],
)
def test_bad_file_names_the_key(tmp_path, text, expected):
    with pytest.raises(ValidationFileError) as error:
        load_validation(write(tmp_path, text))
    assert str(tmp_path / "validation.toml") in str(error.value)
    assert expected in str(error.value)


def test_a_fitted_figure_is_refused(tmp_path):
    fitted = BERN.replace('trial = "ips_bern"', 'trial = "eqolise"').replace(
        "worked_difference", "worked_ips"
    )
    fit = f'fit_file = "{ROOT / "calibration" / "fit.toml"}"\n'
    with pytest.raises(ValidationFileError, match=r"fitted by .*fit\.toml"):
        load_validation(write(tmp_path, fit + fitted))


def test_every_target_must_be_accounted_for(tmp_path):
    keys = (
        f'fit_file = "{ROOT / "calibration" / "fit.toml"}"\n'
        f'targets_file = "{ROOT / "calibration" / "targets.toml"}"\n'
    )
    with pytest.raises(ValidationFileError, match="labour_market_job_entry"):
        load_validation(write(tmp_path, keys + BERN))
    with pytest.raises(ValidationFileError, match=r"excluded\.0\.target = 'nope'"):
        load_validation(
            write(tmp_path, keys + BERN + '[[excluded]]\ntarget = "nope"\nreason = "x"\n')
        )


def test_cli_bad_file_exits_2(tmp_path):
    bad = write(tmp_path, BERN.replace('kind = "interval"', 'kind = "band"'))
    result = CliRunner().invoke(main, ["validate-evidence", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "figure.0.kind" in result.output
    assert not (tmp_path / "o").exists()


def test_cli_same_seed_same_csv(tmp_path):
    path = write(tmp_path, BERN + WRAP)
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = ["validate-evidence", str(path), "--draws", str(DRAWS), "--seed", "3"]
        result = CliRunner().invoke(main, [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "covered" in result.output and "of 2" in result.output
        for file in ("validation.csv", "validation.png", "report.html", "manifest.json"):
            assert (out / file).is_file(), file
        outputs.append((out / "validation.csv").read_bytes())
    assert outputs[0] == outputs[1]


def test_shipped_file_loads_from_package_data_layout(tmp_path, monkeypatch):
    """As in a wheel: sim/data/calibration and sim/data/trials, no experiments/ folder."""
    import shutil

    copies = {
        "calibration": shutil.copytree(shipped.data_dir("calibration"), tmp_path / "calibration"),
        "trial": shutil.copytree(shipped.data_dir("trial"), tmp_path / "trials"),
    }
    monkeypatch.setattr(shipped, "data_dir", lambda kind: Path(copies[kind]))
    validation = load_validation(shipped.validation_file())
    assert all(c.trial.path.is_relative_to(tmp_path) for c in validation.checks)
    assert shipped.posterior_file().is_relative_to(tmp_path)


def test_cli_refuses_bad_draws(tmp_path):
    result = CliRunner().invoke(main, ["validate-evidence", "--draws", "1"])
    assert result.exit_code == 2
    assert "--draws = 1" in result.output
