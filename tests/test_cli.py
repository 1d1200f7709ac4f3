"""The ``recovery-sim`` command line, through ``python -m sim`` and click's CliRunner.

The main paths (params, logic-model, run, compare, validate) run as a real
subprocess with ``cwd=tmp_path``; the rest use click's CliRunner, which is
cheaper. Runs are tiny (tens of users, a few weeks) so the module stays fast.
Bad input is covered in ``test_bad_input.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.core.logic_model import INTERVENTIONS, MECHANISMS
from sim.core.metrics import SOMETIMES_UNDEFINED
from sim.core.parameters import REGISTRY
from sim.faces.cli.main import load, main
from sim.faces.reports.diagram import build_figure, find_text_overlaps
from sim.files.outputs import atomic_folder
from sim.studies.compare import run_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = ("--weeks", "6", "--replicates", "2", "--set", "population.size=60")
RUN_FILES = {
    "series.parquet",
    "summary.csv",
    "manifest.json",
    "trajectories.png",
    "stages.png",
    "doses.png",
    "report.html",
}
SERIES_COLUMNS = ["scenario", "replicate", "week", "metric", "value"]
SUMMARY_COLUMNS = {"scenario", "metric", "week", "mean", "ci_low", "ci_high", "replicates"}
DIFFERENCE_COLUMNS = [
    "comparison",
    "metric",
    "difference",
    "diff_low",
    "diff_high",
    "smd",
    "smd_low",
    "smd_high",
]
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def run_module(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


@pytest.fixture
def cli():
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


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
    assert all(line[column - 2 : column] == "  " for line in lines[2 : 2 + len(REGISTRY)])
    assert f"{len(REGISTRY)} parameters" in result.stdout


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


def test_params_typo_exits_2_with_suggestion(cli):
    result = cli("params", "unemploymnt_rate")  # through a subprocess in test_bad_input.py
    assert result.exit_code == 2
    assert_user_error(result.stderr, "'unemploymnt_rate'", "did you mean 'unemployment_rate'")
    assert result.stdout == ""


def test_params_name_and_level_together_is_a_usage_error(cli):
    result = cli("params", "fidelity", "--level", "user")
    assert result.exit_code == 2
    assert_user_error(result.stderr, "not both")


# ---------------------------------------------------------------------- logic-model


def test_logic_model_prints_the_model(cli):
    result = cli("logic-model")
    assert result.exit_code == 0, result.output
    for item in INTERVENTIONS:
        assert item.name in result.stdout
    for mechanism in MECHANISMS:
        assert mechanism in result.stdout


def test_logic_model_draws_a_png(cli, tmp_path):
    target = tmp_path / "x.png"
    result = cli("logic-model", "--draw", target)
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temporary file left


def test_diagram_text_does_not_overlap():
    assert find_text_overlaps(build_figure()) == []


# ------------------------------------------------------------------------------ run


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The embedded baseline, run once as a subprocess: (output folder, process)."""
    cwd = tmp_path_factory.mktemp("baseline_run")
    done = run_module("run", *TINY, "--out", cwd / "out", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "out", done


def test_run_writes_every_output_and_nothing_else(baseline_run):
    out, done = baseline_run
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # no .out.partial-* left
    assert "baseline: 2 replicates x 60 users x 6 weeks" in done.stderr
    assert "mean (week 6)" in done.stdout and "personal_recovery" in done.stdout
    assert "wrote" in done.stdout


def test_run_series_is_tidy(baseline_run):
    series = pd.read_parquet(baseline_run[0] / "series.parquet")
    assert list(series.columns) == SERIES_COLUMNS
    assert set(series.scenario) == {"baseline"}
    assert sorted(series.replicate.unique()) == [0, 1]
    assert sorted(series.week.unique()) == list(range(7))
    assert {"employed", "personal_recovery", "connectedness"} <= set(series.metric)
    defined = ~series.metric.isin(SOMETIMES_UNDEFINED)
    assert np.isfinite(series.value[defined]).all()
    assert not np.isinf(series.value).any()


def test_run_summary_has_means_and_intervals(baseline_run):
    summary = pd.read_csv(baseline_run[0] / "summary.csv")
    assert set(summary.columns) == SUMMARY_COLUMNS
    assert set(summary.week) == {6}
    assert set(summary.replicates) == {2}
    assert (summary.ci_low <= summary["mean"]).all() and (summary["mean"] <= summary.ci_high).all()


def test_run_manifest_records_provenance(baseline_run):
    manifest = read_json(baseline_run[0] / "manifest.json")
    assert {"version", "git_commit", "command", "seeds", "scenarios"} <= set(manifest)
    assert "run" in manifest["command"]
    assert len(manifest["seeds"]) == 2
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["numba"])
    (scenario,) = manifest["scenarios"]
    assert re.fullmatch(r"[0-9a-f]{64}", scenario["sha256"])
    assert scenario["resolved"]["population"] == {"size": 60}
    assert scenario["sha256"] == load(None, ["population.size=60"]).digest()


def test_run_figures_are_pngs(baseline_run):
    for name in ("trajectories.png", "stages.png", "doses.png"):
        assert (baseline_run[0] / name).read_bytes().startswith(PNG_MAGIC), name


def test_run_report_is_self_contained(baseline_run):
    html = (baseline_run[0] / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html
    assert not REMOTE.search(html)
    assert not re.search(r"""src\s*=\s*["']?https?:""", html, re.IGNORECASE)


def test_same_seed_gives_identical_series(baseline_run, cli, tmp_path):
    result = cli("run", *TINY, "--out", tmp_path / "again")
    assert result.exit_code == 0, result.output
    first = pd.read_parquet(baseline_run[0] / "series.parquet")
    again = pd.read_parquet(tmp_path / "again" / "series.parquet")
    pd.testing.assert_frame_equal(first, again)
    result = cli("run", *TINY, "--seed", "1", "--out", tmp_path / "other")
    assert result.exit_code == 0, result.output
    other = pd.read_parquet(tmp_path / "other" / "series.parquet")
    assert not np.array_equal(first.value.to_numpy(), other.value.to_numpy())


def test_run_replaces_only_its_own_output_and_only_with_force(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old", encoding="utf-8")
    args = ("run", "--weeks", "2", "--replicates", "1", "--set", "population.size=30", "--out", out)
    runner = CliRunner()
    refused = runner.invoke(main, [*map(str, args), "--force"])
    assert refused.exit_code == 2 and "not an output of recovery-sim" in refused.stderr
    assert [p.name for p in out.iterdir()] == ["stale.txt"]  # the user's file is kept
    (out / "stale.txt").unlink()
    assert cli(*args).exit_code == 0  # an empty folder is filled
    again = runner.invoke(main, [str(a) for a in args])
    assert again.exit_code == 2 and "--force" in again.stderr
    result = cli(*args, "--force")  # its own run output is replaced
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_output_folder_permissions_follow_the_umask(tmp_path):
    with atomic_folder(tmp_path / "out") as folder:
        (folder / "a.txt").write_text("a", encoding="utf-8")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~mask


@pytest.fixture(scope="module")
def ips_run(tmp_path_factory) -> Path:
    """A shipped scenario run with path overrides and a bare registry name."""
    cwd = tmp_path_factory.mktemp("ips_run")
    done = run_module(
        "run",
        SCENARIOS / "ips_scale_up.toml",
        "--weeks",
        "3",
        "--replicates",
        "1",
        "--seed",
        "7",
        "--set",
        "population.size=40",
        "--set",
        "sites.0.unemployment_rate=0.12",
        "--set",
        "fidelity=0.9",
        "--out",
        cwd / "out",
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    assert "ips-scale-up: 1 replicates x 40 users x 3 weeks" in done.stderr
    return cwd / "out"


def test_run_shipped_scenario_with_overrides(ips_run):
    manifest = read_json(ips_run / "manifest.json")
    (scenario,) = manifest["scenarios"]
    assert scenario["name"] == "ips-scale-up"
    assert scenario["file"].endswith("ips_scale_up.toml")
    resolved = scenario["resolved"]
    assert resolved["population"]["size"] == 40
    assert resolved["sites"][0]["unemployment_rate"] == 0.12
    assert resolved["sites"][0]["public_stigma"] == 0.5  # inherited from baseline.toml
    assert resolved["offers"] == {"supported_employment": 0.5}
    assert [t["places"] for t in resolved["teams"]] == [{"supported_employment": 60}] * 2
    assert {s["seed"] for s in manifest["seeds"]} == {7}
    series = pd.read_parquet(ips_run / "series.parquet")
    assert set(series.scenario) == {"ips-scale-up"}
    assert series.week.max() == 3


def test_bare_registry_name_in_set_lands_in_resolved_parameters(ips_run):
    (scenario,) = read_json(ips_run / "manifest.json")["scenarios"]
    assert scenario["resolved"]["parameters"]["fidelity"] == 0.9
    assert scenario["parameters"]["fidelity"] == 0.9


def _final_series(path: Path, *overrides: str) -> np.ndarray:
    scenario = load(path, ["population.size=60", *overrides])
    return run_scenario(scenario, replicates=1, seed=1, weeks=8).series.value.to_numpy()


def test_bare_environment_name_in_set_changes_the_simulation():
    low = _final_series(SCENARIOS / "ips_scale_up.toml", "unemployment_rate=0.02")
    high = _final_series(SCENARIOS / "ips_scale_up.toml", "unemployment_rate=0.25")
    assert not np.array_equal(low, high)


def test_bare_user_name_in_set_overrides_the_population_table():
    scenario = load(SCENARIOS / "housing_first.toml", ["baseline_housed_share=0.2"])
    assert scenario.parameters()["baseline_housed_share"] == 0.2


def test_path_override_of_a_site_changes_the_simulation():
    low = _final_series(SCENARIOS / "ips_scale_up.toml", "sites.0.unemployment_rate=0.02")
    high = _final_series(SCENARIOS / "ips_scale_up.toml", "sites.0.unemployment_rate=0.25")
    assert not np.array_equal(low, high)


# -------------------------------------------------------------------------- compare


def test_compare_two_shipped_scenarios(tmp_path):
    done = run_module(
        "compare",
        SCENARIOS / "baseline.toml",
        SCENARIOS / "ips_scale_up.toml",
        "--weeks",
        "3",
        "--replicates",
        "2",
        "--set",
        "population.size=40",
        "--out",
        tmp_path / "cmp",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "cmp"
    assert {"differences.csv", "forest.png"} | RUN_FILES <= {p.name for p in out.iterdir()}
    assert [p.name for p in tmp_path.iterdir()] == ["cmp"]
    differences = pd.read_csv(out / "differences.csv")
    assert set(DIFFERENCE_COLUMNS) <= set(differences.columns)
    assert set(differences.comparison) == {"ips-scale-up vs baseline"}
    assert {"employed", "personal_recovery"} <= set(differences.metric)
    assert (out / "forest.png").read_bytes().startswith(PNG_MAGIC)
    manifest = read_json(out / "manifest.json")
    assert [s["name"] for s in manifest["scenarios"]] == ["baseline", "ips-scale-up"]
    assert manifest["common_random_numbers"] is True
    series = pd.read_parquet(out / "series.parquet")
    assert set(series.scenario) == {"baseline", "ips-scale-up"}
    assert "ips-scale-up vs baseline" in done.stdout


def test_compare_a_scenario_with_itself_gives_exactly_zero(cli, tmp_path):
    copy = tmp_path / "copy.toml"
    copy.write_text(
        f'extends = "{(SCENARIOS / "ips_scale_up.toml").as_posix()}"\nname = "ips-copy"\n',
        encoding="utf-8",
    )
    result = cli(
        "compare",
        SCENARIOS / "ips_scale_up.toml",
        copy,
        "--weeks",
        "3",
        "--replicates",
        "2",
        "--set",
        "population.size=40",
        "--out",
        tmp_path / "cmp",
    )
    assert result.exit_code == 0, result.output
    differences = pd.read_csv(tmp_path / "cmp" / "differences.csv")
    assert len(differences) > 0
    for column in ("difference", "diff_low", "diff_high"):
        assert (differences[column] == 0.0).all(), column
    smd = differences[["smd", "smd_low", "smd_high"]].dropna()
    assert len(smd) > 0 and (smd.to_numpy() == 0.0).all()
    series = pd.read_parquet(tmp_path / "cmp" / "series.parquet")
    by_scenario = [part.value.to_numpy() for _, part in series.groupby("scenario")]
    assert np.array_equal(*by_scenario, equal_nan=True)
    economics = pd.read_csv(tmp_path / "cmp" / "economics.csv")
    assert economics.incremental_cost.tolist() == [0.0]
    assert economics.incremental_qalys.tolist() == [0.0] and economics.nmb_20000.tolist() == [0.0]


ECONOMICS_COLUMNS = [
    f"{name}{suffix}"
    for name in (
        "incremental_cost",
        "incremental_qalys",
        "icer",
        "nmb_20000",
        "nmb_30000",
        "cost_per_extra_person_employed",
    )
    for suffix in ("", "_low", "_high")
]


def test_compare_writes_economics_and_a_costs_file_takes_effect(tmp_path):
    """economics.csv, the CE plane and CEAC; a costs file given with --costs is used."""
    import tomllib

    from sim.files.shipped import costs_file

    text = costs_file().read_text(encoding="utf-8")
    table = tomllib.loads(text)
    ips = table["costs"]["supported_employment"]["value"]
    dearer = tmp_path / "dearer.toml"
    dearer.write_text(
        text.replace(f"value = {ips}\n", f"value = {ips * 11}\n", 1), encoding="utf-8"
    )
    assert tomllib.loads(dearer.read_text())["costs"]["supported_employment"]["value"] > ips
    tables = {}
    for label, extra in (("shipped", ()), ("dearer", ("--costs", dearer))):
        done = run_module(
            "compare",
            SCENARIOS / "baseline.toml",
            SCENARIOS / "ips_scale_up.toml",
            "--weeks",
            "16",
            "--replicates",
            "3",
            "--set",
            "population.size=60",
            "--set",
            "supported_employment_weeks=12",
            *extra,
            "--out",
            tmp_path / label,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        # the printout shows the end of the (shortened) IPS episode and value for money
        assert "at week 12, the end of the longest intervention episode" in done.stdout
        assert "value for money" in done.stdout and "ips-scale-up vs baseline: " in done.stdout
        out = tmp_path / label
        for name in ("ce_plane.png", "ceac.png"):
            assert (out / name).read_bytes().startswith(PNG_MAGIC)
        assert "Value for money" in (out / "report.html").read_text()
        over_time = pd.read_csv(out / "differences_over_time.csv")
        assert sorted(set(over_time.week)) == list(range(17))
        assert {"employed", "social_inclusion"} <= set(over_time.metric)
        gaps = pd.read_csv(out / "equity_gaps.csv")
        assert set(gaps.subgroup) == {
            "severity_at_entry",
            "work_history_at_entry",
            "stage_at_entry",
            "team",
        }
        assert (out / "equity.png").read_bytes().startswith(PNG_MAGIC)
        cumulative = pd.read_csv(out / "cumulative.csv")
        assert cumulative.measure.tolist() == ["person_weeks_employed", "bed_days", "admissions"]
        tables[label] = pd.read_csv(out / "economics.csv")
        assert set(ECONOMICS_COLUMNS) <= set(tables[label].columns)
        assert tables[label].scenario.tolist() == ["ips-scale-up"]
    shipped, dear = tables["shipped"], tables["dearer"]
    assert shipped.incremental_cost[0] > 0  # IPS places cost money
    assert dear.incremental_cost[0] > 5 * shipped.incremental_cost[0]
    assert dear.incremental_qalys[0] == shipped.incremental_qalys[0]


def _tiny_scenario(folder: Path, name: str, size: int, weeks: int = 104) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'extends = "{(SCENARIOS / "baseline.toml").as_posix()}"\nname = "{name}"\n'
        f"horizon_weeks = {weeks}\n[population]\nsize = {size}\n",
        encoding="utf-8",
    )
    return path


def test_pairing_warnings_name_population_size_and_horizon(tmp_path):
    from sim.studies.compare import pairing_warnings

    same = [load(_tiny_scenario(tmp_path, n, 40), ()) for n in ("a", "b")]
    assert pairing_warnings(same) == []
    sizes = [load(_tiny_scenario(tmp_path, n, s), ()) for n, s in (("c", 40), ("d", 60))]
    (warning,) = pairing_warnings(sizes)
    assert "population size (c 40, d 60 users)" in warning and "not paired user by user" in warning
    horizons = [load(_tiny_scenario(tmp_path, n, 40, w), ()) for n, w in (("e", 4), ("f", 6))]
    (warning,) = pairing_warnings(horizons)
    assert "horizon (e 4, f 6 weeks)" in warning and "all run for 4 weeks" in warning
    assert pairing_warnings(horizons, weeks=5) == []  # --weeks: one horizon, chosen


def test_compare_warns_when_scenarios_differ_in_size_or_horizon(cli, tmp_path):
    small = _tiny_scenario(tmp_path, "small_population_with_a_long_name", 40, weeks=3)
    large = _tiny_scenario(tmp_path, "larger_population_with_a_long_name", 60, weeks=5)
    result = cli("compare", small, large, "--replicates", "2", "--out", tmp_path / "cmp")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, result.stderr
    assert "population size" in warnings[0] and "horizon" in warnings[1]
    page = (tmp_path / "cmp" / "report.html").read_text(encoding="utf-8")
    assert "Warning: The scenarios differ in population size" in page
    assert "Warning: The scenarios differ in horizon" in page
    assert "so differences are paired" not in page
    manifest = read_json(tmp_path / "cmp" / "manifest.json")
    assert len(manifest["pairing_warnings"]) == 2
    # the wide differences table scrolls on screen and wraps its long names to fit the page
    section = page.split("<h2>Paired differences</h2>", 1)[1].split("</section>", 1)[0]
    assert '<div class="table-wrap"><table>' in section
    assert "small_<wbr>population_<wbr>" in section and "diff_<wbr>high" in section


# ------------------------------------------------------------------------- validate


def test_validate_every_shipped_scenario(tmp_path):
    done = run_module("validate", *SHIPPED, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == len(SHIPPED)
    for line, path in zip(lines, SHIPPED, strict=True):
        assert line.startswith(f"ok: {path} ("), line
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    "command",
    [[], *([name] for name in sorted(main.commands))],
    ids=lambda command: " ".join(command) or "main",
)
def test_every_command_has_help_with_examples(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout
    assert "recovery-sim" in result.stdout.split("Examples")[1]


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert "recovery-sim" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["simulate"], "No such command 'simulate'"),
        (["run", "--replicates", "many"], "'many' is not a valid integer"),
        (["validate"], "Missing argument 'FILES...'"),
        (["params", "--level", "planet"], "'planet' is not one of"),
    ],
    ids=["unknown-command", "not-an-integer", "missing-argument", "bad-choice"],
)
def test_usage_errors_are_short(cli, tmp_path, args, fragment):
    result = cli(*args)
    assert result.exit_code == 2
    assert_user_error(result.stderr, fragment, "--help")
    assert list(tmp_path.iterdir()) == []


def test_moderators_writes_effects_figure_and_manifest(tmp_path):
    from click.testing import CliRunner

    from sim.faces.cli.main import main

    out = tmp_path / "mod"
    result = CliRunner().invoke(
        main,
        ["moderators", "--week", "4", "--replicates", "2", "--users", "60", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "effects.csv",
        "manifest.json",
        "moderators.png",
        "report.html",
    ]
    import pandas as pd

    frame = pd.read_csv(out / "effects.csv")
    assert set(frame.moderator) == {
        "motivation_median",
        "professional_attitudes",
        "public_stigma",
        "unemployment_rate",
    }
    assert (frame.low <= frame.effect).all() and (frame.effect <= frame.high).all()


def test_moderators_refuses_one_replicate(tmp_path):
    from click.testing import CliRunner

    from sim.faces.cli.main import main

    result = CliRunner().invoke(
        main, ["moderators", "--replicates", "1", "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 2
    assert "--replicates must be >= 2" in result.output
    assert not (tmp_path / "m").exists()
