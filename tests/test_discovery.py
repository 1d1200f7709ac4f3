"""Scenario discovery (PRIM boxes) on a sweep: sim.studies.discovery and `recovery-sim discover`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.faces.cli.main import main
from sim.studies.discovery import (
    BOX_COLUMNS,
    TRAJECTORY_COLUMNS,
    DiscoveryError,
    box_sentence,
    design_points,
    discover,
)

ROOT = Path(__file__).resolve().parent.parent
STEP = 0.05  # the synthetic design's grid resolution
EXPERIMENT = """
name = "tiny-grid"
scenario = "scenario.toml"
seed = 5
replicates = 2
weeks = 4
[design]
method = "grid"
levels = 5
[parameters.unemployment_rate]
[parameters.professional_attitudes]
[outputs]
metrics = ["employed", "personal_recovery"]
weeks = [4]
"""
OUTPUTS = {"boxes.csv", "trajectory.csv", "tradeoff.png", "report.html", "manifest.json"}


def known_design(seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """x1, x2 on a 21 x 21 grid, x3 uniform noise; outcome 1 iff x1 > 0.6 and x2 < 0.3."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, 21)
    x1, x2 = (axis.ravel() for axis in np.meshgrid(grid, grid))
    x3 = rng.uniform(size=x1.size)
    inside = (x1 > 0.6 + 1e-9) & (x2 < 0.3 - 1e-9)
    outcome = np.where(inside, 1.0, rng.uniform(0.0, 0.7, size=x1.size))
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3}), pd.Series(outcome, name="employed_w52")


def limits(found, box: int = 1) -> dict[str, tuple[float, float]]:
    rows = found.boxes[found.boxes["box"] == box]
    return {r.factor: (r.lower, r.upper) for r in rows.itertuples()}


@pytest.mark.parametrize("direction", [">=", "<="])
def test_first_box_recovers_the_known_region(direction):
    factors, values = known_design()
    if direction == "<=":  # the same question asked from below
        values = -values
    found = discover(factors, values, 0.8 if direction == ">=" else -0.8, direction)
    box = limits(found)
    assert set(box) == {"x1", "x2"}  # the noise factor x3 is left free
    assert abs(box["x1"][0] - 0.6) <= STEP and box["x1"][1] == 1.0
    assert box["x2"][0] == 0.0 and abs(box["x2"][1] - 0.3) <= STEP
    stats = found.box_stats().iloc[0]
    assert stats.coverage == 1.0 and stats.density >= 0.8
    assert stats.points_of_interest == found.points_of_interest == 8 * 6
    assert list(found.boxes.columns) == list(BOX_COLUMNS)
    assert list(found.trajectory.columns) == list(TRAJECTORY_COLUMNS)
    assert found.trajectory.groupby("box")["chosen"].sum().eq(1).all()
    first = found.trajectory.iloc[0]  # the whole design starts the trajectory
    assert first.coverage == 1.0 and first.mass == 1.0
    assert first.density == pytest.approx(found.base_density)
    sentence = box_sentence(found, 1)
    assert sentence.startswith("In 100% of the 48 design points where x1 >= ")
    assert f"employed_w52 {direction}" in sentence and "100% of all 48 such points" in sentence


def test_whole_number_factors_get_whole_number_limits():
    rng = np.random.default_rng(2)
    factors = pd.DataFrame(
        {
            "teams": rng.integers(0, 10, 400),  # peeled as real numbers (pandas 3)
            "a": rng.uniform(size=400),
            "constant": np.ones(400),  # never restricted: dropped before PRIM
        }
    )
    inside = (factors.teams >= 6) & (factors.a < 0.5)
    values = pd.Series(np.where(inside, 1.0, rng.uniform(0, 0.7, 400)), name="o")
    found = discover(factors, values, 0.8)
    assert found.factors == ["teams", "a"]
    assert limits(found)["teams"] == (6.0, 9.0)
    assert "teams >= 6 and a <= 0.5" in box_sentence(found, 1)


def test_no_box_when_nothing_reaches_the_density():
    factors, values = known_design()
    found = discover(factors, values, 0.8, threshold_density=1.0, mass_min=0.5)
    assert found.boxes.empty and found.trajectory.empty


def test_design_points_average_replicates_and_name_the_outputs():
    frame = pd.DataFrame(
        {
            "design_point": [0, 0, 1, 1],
            "replicate": [0, 1, 0, 1],
            "a": [0.1, 0.1, 0.9, 0.9],
            "employed_w4": [0.2, 0.4, 0.6, np.nan],
            "personal_recovery_w4": [1.0, 2.0, 3.0, 4.0],
        }
    )
    factors, values = design_points(frame, ["a"], "employed_w4")
    assert factors["a"].tolist() == [0.1, 0.9]
    assert values.tolist() == pytest.approx([0.3, 0.6]) and values.name == "employed_w4"
    with pytest.raises(DiscoveryError, match="employed_w4, personal_recovery_w4"):
        design_points(frame, ["a"], "employed_w5")


@pytest.mark.parametrize(
    ("threshold", "direction", "message"),
    [
        (2.0, ">=", "no design point has employed_w52 >= 2"),
        (-1.0, ">=", "every design point has employed_w52 >= -1"),
        (-1.0, "<=", "no design point has employed_w52 <= -1"),
    ],
)
def test_thresholds_that_split_nothing_are_refused(threshold, direction, message):
    factors, values = known_design()
    with pytest.raises(DiscoveryError, match=message) as caught:
        discover(factors, values, threshold, direction)
    assert "ranges from 0" in str(caught.value) and "441 design points" in str(caught.value)


# --------------------------------------------------------------------------- the command


def cli(*args: str | Path):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """A finished tiny sweep: a 5 x 5 grid over two factors, 2 replicates of 30 users."""
    base = tmp_path_factory.mktemp("sweep")
    (base / "scenario.toml").write_text('name = "s"\n[population]\nsize = 30\n')
    (base / "exp.toml").write_text(EXPERIMENT)
    code, _, err = cli("sweep", base / "exp.toml", "--out", base / "out")
    assert code == 0, err
    return base / "out"


def median_of(folder: Path, outcome: str) -> float:
    runs = pd.concat(pd.read_parquet(p) for p in sorted((folder / "chunks").glob("*.parquet")))
    return float(runs.groupby("design_point")[outcome].mean().median())


def test_discover_writes_boxes_trajectory_figure_and_report(swept, tmp_path):
    out = tmp_path / "found"
    threshold = median_of(swept, "personal_recovery_w4")
    args = ("discover", swept, "--outcome", "personal_recovery_w4", "--threshold", threshold)
    code, stdout, err = cli(*args, "--threshold-density", "0.6", "--out", out)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert "of 25 design points" in stdout and f"wrote {out}/" in stdout
    boxes = pd.read_csv(out / "boxes.csv")
    trajectory = pd.read_csv(out / "trajectory.csv")
    assert list(boxes.columns) == list(BOX_COLUMNS)
    assert list(trajectory.columns) == list(TRAJECTORY_COLUMNS)
    assert set(boxes["factor"]) <= {"unemployment_rate", "professional_attitudes"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "discovery" and manifest["outcome"] == "personal_recovery_w4"
    assert manifest["design_points"] == 25 and manifest["averaged_over_replicates"] == 2
    assert manifest["ema_workbench"] == "2.5.3" and manifest["sweep_folder"] == str(swept)
    page = (out / "report.html").read_text()
    assert "Scenario discovery" in page and "Provenance" in page
    assert "such points" in page or "No box found" in page
    assert (out / "tradeoff.png").read_bytes().startswith(b"\x89PNG")

    code, _, err = cli(*args, "--out", out)  # an existing output is kept without --force
    assert code == 2 and "already holds a recovery-sim discovery output" in err
    code, _, err = cli(*args, "--below", "--out", out, "--force")
    assert code == 0, err
    assert json.loads((out / "manifest.json").read_text())["direction"] == "<="


def assert_refused(code: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and 1 <= len(lines) <= 2 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_bad_inputs_exit_2_with_a_short_message(swept, tmp_path):
    out = tmp_path / "never"
    base = ("discover", swept, "--out", out)
    code, _, err = cli(*base, "--outcome", "employed_w9", "--threshold", "0.2")
    assert_refused(code, err, "--outcome 'employed_w9'", "employed_w4, personal_recovery_w4")
    code, _, err = cli(*base, "--outcome", "employed_w4", "--threshold", "2")
    assert_refused(code, err, "no design point has employed_w4 >= 2", "choose a threshold")
    code, _, err = cli(
        *base, "--outcome", "employed_w4", "--threshold", "0.1", "--threshold-density", "0"
    )
    assert_refused(code, err, "--threshold-density must be in (0, 1]")
    code, _, err = cli(
        "discover", swept, "--outcome", "employed_w4", "--threshold", "0.1", "--out", swept / "d"
    )
    assert_refused(code, err, "inside the sweep folder")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("x")
    code, _, err = cli("discover", notes, "--outcome", "employed_w4", "--threshold", "0.1")
    assert_refused(code, err, f"{notes} is not a sweep output", "todo.txt")
    assert not out.exists()


def test_import_sim_cli_does_not_load_prim():
    code = (
        "import sys, sim.cli; "
        "print(sorted(m for m in ('ema_workbench', 'statsmodels', 'seaborn', 'matplotlib') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_factors_that_do_not_matter_are_left_out_of_the_box():
    """Over many factors PRIM peels slivers off noise; the reported box keeps the real two."""
    rng = np.random.default_rng(7)
    n = 1500
    factors = pd.DataFrame({f"noise{i}": rng.uniform(size=n) for i in range(20)})
    factors["x1"], factors["x2"] = rng.uniform(size=n), rng.uniform(size=n)
    inside = (factors.x1 >= 0.6) & (factors.x2 <= 0.4)
    chance = rng.uniform(size=n)
    values = pd.Series(np.where(inside, chance < 0.9, chance < 0.1).astype(float), name="o")
    found = discover(factors, values, 0.5, threshold_density=0.7)
    assert set(limits(found)) == {"x1", "x2"}
    assert set(found.searched) >= {"x1", "x2"} and len(found.searched) < len(found.factors)
    box = limits(found)
    assert abs(box["x1"][0] - 0.6) < 0.15 and abs(box["x2"][1] - 0.4) < 0.15
