"""The command line: through ``python -m sim`` and click's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main, parse_assignments, summary_table
from sim.diagram import build_figure, find_text_overlaps
from sim.logic_model import INTERVENTIONS, MECHANISMS
from sim.metrics import SUMMARY_METRICS
from sim.parameters import REGISTRY, ParameterError, defaults

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL_RUN = ["run", "--agents", "60", "--weeks", "4", "--replicates", "2"]
MANIFEST_KEYS = {"version", "git_commit", "parameters", "seeds", "argv", "timings_seconds",
                 "created", "settings", "overrides", "scenario"}


def run_module(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, check=False)


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def assert_user_error(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), stderr
    assert len(lines) <= 2, stderr
    for fragment in fragments:
        assert fragment in stderr


# --------------------------------------------------------------------------- params


def test_params_lists_every_parameter_aligned(cli):
    result = cli("params")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "default", "bounds", "unit", "level", "source"]
    for name in REGISTRY:
        assert any(line.startswith(name + " ") for line in lines), name
    column = lines[0].index("default")
    assert all(line[column - 2:column] == "  " for line in lines[2:2 + len(REGISTRY)])


def test_params_level_filters(cli):
    result = cli("params", "--level", "environment")
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.stdout.splitlines()[2:] if line.strip()}
    expected = {n for n, p in REGISTRY.items() if p.level == "environment"}
    assert expected <= listed
    assert "professional_attitudes" not in result.stdout


def test_params_one_name_shows_everything(cli):
    result = cli("params", "unemployment_rate")
    assert result.exit_code == 0
    parameter = REGISTRY["unemployment_rate"]
    for field in ("default", "bounds", "unit", "level", "distribution", "description", "source"):
        assert field in result.stdout
    assert parameter.description in result.stdout
    assert parameter.source in result.stdout
    assert "[0.02, 0.25]" in result.stdout


def test_params_typo_exits_2_with_suggestion():
    done = run_module("params", "unemploymnt_rate")
    assert done.returncode == 2
    assert_user_error(done.stderr, "'unemploymnt_rate'", "did you mean 'unemployment_rate'")
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_params_name_and_level_together_is_a_usage_error(cli):
    result = cli("params", "fidelity", "--level", "user")
    assert result.exit_code == 2
    assert_user_error(result.stderr, "not both")


# ---------------------------------------------------------------------- logic-model


def test_logic_model_prints_the_model():
    done = run_module("logic-model")
    assert done.returncode == 0, done.stderr
    for item in INTERVENTIONS:
        assert item.name in done.stdout
    for mechanism in MECHANISMS:
        assert mechanism in done.stdout


def test_logic_model_draws_a_png(cli, tmp_path):
    target = tmp_path / "logic_model.png"
    result = cli("logic-model", "--draw", str(target))
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 50_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logic_model.png"]


def test_diagram_text_does_not_overlap():
    assert find_text_overlaps(build_figure()) == []


@pytest.mark.parametrize("name", ["diagram.pdf", "missing/diagram.png"])
def test_logic_model_draw_bad_target_exits_2(cli, tmp_path, name):
    result = cli("logic-model", "--draw", str(tmp_path / name))
    assert result.exit_code == 2
    assert_user_error(result.stderr)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ run


def test_run_writes_series_summary_and_manifest(tmp_path):
    out = tmp_path / "baseline"
    done = run_module(*SMALL_RUN, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "running baseline" in done.stderr
    assert "personal_recovery" in done.stdout and "95% interval" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "series.parquet",
                                                     "summary.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["baseline"]  # no staging folder left

    series = pd.read_parquet(out / "series.parquet")
    assert list(series.columns) == ["design_point", "replicate", "week", "metric", "value"]
    assert sorted(series["replicate"].unique()) == [0, 1]
    assert sorted(series["week"].unique()) == [0, 1, 2, 3, 4]

    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["design_point", "replicate", *SUMMARY_METRICS]
    assert len(summary) == 2

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["parameters"] == defaults()
    assert manifest["seeds"] == [{"seed": 0, "design_point": 0, "replicate": r} for r in (0, 1)]
    assert manifest["settings"] == {"replicates": 2, "seed": 0, "weeks": 4, "n_agents": 60}
    assert manifest["argv"][1:3] == ["run", "--agents"]
    assert manifest["timings_seconds"]["simulate"] >= 0


def test_run_records_overrides_and_replaces_an_existing_folder(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old", encoding="utf-8")
    result = cli(*SMALL_RUN, "--seed", "7", "--out", str(out),
                 "--set", "unemployment_rate=0.12")
    assert result.exit_code == 0, result.output
    assert not (out / "stale.txt").exists()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["overrides"] == {"unemployment_rate": 0.12}
    assert manifest["parameters"]["unemployment_rate"] == 0.12
    assert {s["seed"] for s in manifest["seeds"]} == {7}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize(("assignment", "fragment"), [
    ("unemployment_rate=0.9", "out of bounds"),
    ("unemploymnt_rate=0.1", "did you mean 'unemployment_rate'"),
    ("unemployment_rate=abc", "not a number"),
    ("unemployment_rate", "NAME=VALUE"),
    ("peer_support_weeks=4.5", "whole number"),
])
def test_run_bad_set_exits_2_and_writes_nothing(cli, tmp_path, assignment, fragment):
    out = tmp_path / "out"
    result = cli(*SMALL_RUN, "--out", str(out), "--set", assignment)
    assert result.exit_code == 2
    assert_user_error(result.stderr, fragment)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_run_bad_set_through_the_module_has_no_traceback(tmp_path):
    done = run_module(*SMALL_RUN, "--out", str(tmp_path / "out"), "--set", "fidelity=2")
    assert done.returncode == 2
    assert_user_error(done.stderr, "fidelity")
    assert list(tmp_path.iterdir()) == []


def test_run_unwritable_out_exits_2(cli, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = cli(*SMALL_RUN, "--out", str(blocker / "out"))
    assert result.exit_code == 2
    assert_user_error(result.stderr, "cannot write output folder")
    result = cli(*SMALL_RUN, "--out", str(blocker))
    assert result.exit_code == 2
    assert_user_error(result.stderr, "is a file")
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"]


@pytest.mark.parametrize(("option", "value"), [("--agents", "0"), ("--weeks", "0"),
                                               ("--replicates", "0"), ("--seed", "-1"),
                                               ("--agents", "many")])
def test_run_bad_counts_exit_2(cli, tmp_path, option, value):
    result = cli(*SMALL_RUN, "--out", str(tmp_path / "out"), option, value)
    assert result.exit_code == 2
    assert_user_error(result.stderr, option)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ help and helpers


@pytest.mark.parametrize("command", [[], ["params"], ["logic-model"], ["run"]])
def test_every_command_has_help_with_an_example(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "recovery-sim" in result.stdout.split("Examples:")[1]


def test_unknown_command_is_a_short_error(cli):
    result = cli("simulate")
    assert result.exit_code == 2
    assert_user_error(result.stderr, "simulate")


def test_parse_assignments_validates_and_rejects_repeats():
    assert parse_assignments(["fidelity=0.5", " public_stigma = 0.2 "]) == {
        "fidelity": 0.5, "public_stigma": 0.2}
    with pytest.raises(ParameterError, match="more than once"):
        parse_assignments(["fidelity=0.5", "fidelity=0.6"])


def test_summary_table_mean_and_interval():
    summary = pd.DataFrame({name: [0.0, 1.0, 2.0] for name in SUMMARY_METRICS})
    table = summary_table(summary)
    assert list(table.index) == list(SUMMARY_METRICS)
    assert table.loc["employed", "mean"] == pytest.approx(1.0)
    assert table.loc["employed", "low_95"] == pytest.approx(0.05)
    assert table.loc["employed", "high_95"] == pytest.approx(1.95)
