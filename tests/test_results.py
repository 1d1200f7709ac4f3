"""``recovery-sim results``: a sweep's runs as one tidy table; the sweep says how to load them."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.faces.cli.main import main
from sim.studies.results import ResultsError, read_sweep
from sim.studies.sweep import read_results

EXPERIMENT = """
name = "tiny-sweep"
scenario = "scenario.toml"
seed = 5
replicates = 2
weeks = 4
[design]
method = "latin"
points = 3
[parameters.unemployment_rate]
[parameters.professional_attitudes]
[outputs]
metrics = ["employed", "personal_recovery"]
weeks = [2, 4]
[execution]
chunk_size = 2
"""
PARAMETERS = ["unemployment_rate", "professional_attitudes"]
TIDY_COLUMNS = ["design_point", "replicate", *PARAMETERS, "output", "metric", "week", "value"]


def cli(*args: str | Path):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, str]:
    """A finished tiny sweep (3 points x 2 replicates) and what the command printed."""
    base = tmp_path_factory.mktemp("sweep")
    (base / "scenario.toml").write_text('name = "s"\n[population]\nsize = 30\n')
    (base / "exp.toml").write_text(EXPERIMENT)
    code, out, err = cli("sweep", base / "exp.toml", "--out", base / "out")
    assert code == 0, err
    return base / "out", out


def assert_refused(code: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_sweep_prints_how_to_load_its_results(swept, tmp_path):
    folder, out = swept
    assert f"pd.read_parquet('{(folder / 'chunks').as_posix()}')" in out
    assert f"recovery-sim results {folder} --csv {folder}.csv" in out
    one_liner = next(line.strip() for line in out.splitlines() if "read_parquet" in line)
    code = one_liner.split('"')[1].replace("print(", "df = (")
    namespace: dict = {}
    exec(code, namespace)  # the printed pandas line loads every run
    loaded = namespace["df"].sort_values(["design_point", "replicate"], ignore_index=True)
    pd.testing.assert_frame_equal(loaded, read_results(folder), check_dtype=False)


def test_results_prints_one_row_per_run_and_output(swept):
    folder, _ = swept
    code, out, err = cli("results", folder)
    assert code == 0, err
    tidy = pd.read_csv(io.StringIO(out))
    assert list(tidy.columns) == TIDY_COLUMNS
    wide = read_results(folder)
    assert len(tidy) == len(wide) * 4  # 6 runs x (2 metrics x 2 weeks)
    assert set(tidy["output"]) == {
        "employed_w2",
        "employed_w4",
        "personal_recovery_w2",
        "personal_recovery_w4",
    }
    assert set(tidy["metric"]) == {"employed", "personal_recovery"}
    assert set(tidy["week"]) == {2, 4}
    row = tidy[(tidy.output == "employed_w4") & (tidy.design_point == 2) & (tidy.replicate == 1)]
    run = wide[(wide.design_point == 2) & (wide.replicate == 1)].iloc[0]
    assert row["value"].item() == pytest.approx(run["employed_w4"])
    assert row["unemployment_rate"].item() == pytest.approx(run["unemployment_rate"])


def test_results_writes_a_csv_file(swept, tmp_path):
    folder, _ = swept
    target = tmp_path / "runs.csv"
    code, out, err = cli("results", folder, "--csv", target)
    assert code == 0, err
    assert f"wrote {target} (24 rows: 6 runs x 4 outputs)" in out
    assert list(pd.read_csv(target).columns) == TIDY_COLUMNS


def _foreign(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / kind
    folder.mkdir()
    if kind == "compare":
        manifest = {"package": "recovery-pathways", "kind": "compare"}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "differences.csv").write_text("a\n1\n")
    elif kind == "user":
        (folder / "notes.txt").write_text("mine")
        (folder / "data.csv").write_text("a,b\n1,2\n")
    return folder


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("compare", "it holds a recovery-sim compare output"),
        ("user", "it holds data.csv, notes.txt, and no sweep manifest.json"),
        ("empty", "it is empty"),
    ],
)
def test_results_refuses_a_folder_that_is_not_a_sweep(tmp_path, kind, fragment):
    folder = _foreign(tmp_path, kind)
    code, out, err = cli("results", folder)
    assert_refused(code, err, f"{folder} is not a sweep output", fragment)
    assert out == ""


def test_results_refuses_missing_folders_files_and_analysis_only_sweeps(swept, tmp_path):
    assert_refused(*cli("results", tmp_path / "nowhere")[::2], "nowhere: no such folder")
    (tmp_path / "file.csv").write_text("a\n")
    assert_refused(*cli("results", tmp_path / "file.csv")[::2], "is a file")
    folder, _ = swept
    analysis = tmp_path / "analysis-only"
    analysis.mkdir()
    shutil.copy(folder / "manifest.json", analysis / "manifest.json")
    (analysis / "indices.csv").write_text("a\n")
    code, _, err = cli("results", analysis)
    assert_refused(code, err, f"{analysis} is a sweep output with no finished runs", "--resume")
    with pytest.raises(ResultsError, match="no finished runs"):
        read_sweep(analysis)


def test_results_refuses_a_csv_inside_the_sweep_folder(swept):
    folder, _ = swept
    code, _, err = cli("results", folder, "--csv", folder / "runs.csv")
    assert_refused(code, err, "inside the sweep folder")
    assert not (folder / "runs.csv").exists()


def test_results_warns_about_an_unfinished_sweep(swept, tmp_path):
    folder, _ = swept
    partial = tmp_path / "partial"
    shutil.copytree(folder, partial)
    (partial / "chunks" / "chunk-000001.parquet").unlink()
    code, out, err = cli("results", partial)
    assert code == 0 and err.startswith("warning: ") and "2 of 6 runs are missing" in err
    assert len(pd.read_csv(io.StringIO(out))) == 4 * 4


def test_results_runs_as_a_real_command(swept, tmp_path):
    folder, _ = swept
    done = subprocess.run(
        [sys.executable, "-m", "sim", "results", folder, "--csv", tmp_path / "r.csv"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.csv").is_file()
