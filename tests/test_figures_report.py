"""Figures (PNG) and the self-contained HTML report, built from a small real simulation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.faces.reports.figures import (
    interval_summary,
    plot_doses,
    plot_forest,
    plot_stages,
    plot_trajectories,
)
from sim.faces.reports.html import Section, format_number, write_atomic, write_report
from sim.studies.run import simulate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCENARIOS = {0: "baseline", 1: "high-unemployment"}
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def series() -> pd.DataFrame:
    out = simulate([{}, {"unemployment_rate": 0.2}], replicates=3, seed=1, weeks=6, n_agents=30)
    tidy = out.series.rename(columns={"design_point": "scenario"})
    tidy["scenario"] = tidy["scenario"].map(SCENARIOS)
    return tidy


@pytest.fixture
def differences() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "comparison": ["ips-scale-up vs baseline", "housing-first vs baseline"] * 2,
            "metric": ["employed", "employed", "personal_recovery", "personal_recovery"],
            "smd": [0.45, 0.05, 0.12, 0.30],
            "smd_low": [0.20, -0.20, -0.10, 0.02],
            "smd_high": [0.70, 0.30, 0.35, 0.58],
        }
    )


def assert_png(path: Path) -> None:
    assert path.is_file()
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


@pytest.mark.parametrize("plot", [plot_trajectories, plot_stages, plot_doses])
def test_series_plots_write_a_png(plot, series, tmp_path):
    target = tmp_path / f"{plot.__name__}.png"
    assert plot(series, target) == target
    assert_png(target)
    assert no_temporary_files(tmp_path)


def test_forest_plot_writes_a_png(differences, tmp_path):
    target = plot_forest(differences, tmp_path / "forest.png")
    assert_png(target)
    assert no_temporary_files(tmp_path)


def test_trajectories_with_one_replicate_and_some_metrics(series, tmp_path):
    subset = series[(series["replicate"] == 0) & series["metric"].isin(["employed", "ties"])]
    assert_png(plot_trajectories(subset, tmp_path / "one.png", title="One replicate"))


def test_plot_overwrites_an_existing_file(series, tmp_path):
    target = tmp_path / "stages.png"
    target.write_bytes(b"old")
    plot_stages(series, target)
    assert target.read_bytes().startswith(PNG_MAGIC)
    assert no_temporary_files(tmp_path)


def test_unrenamed_design_point_is_an_actionable_error(series, tmp_path):
    raw = series.rename(columns={"scenario": "design_point"})
    with pytest.raises(ValueError, match="rename design_point"):
        plot_trajectories(raw, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_missing_metrics_are_an_actionable_error(series, tmp_path):
    with pytest.raises(ValueError, match="stage metrics"):
        plot_stages(series[series["metric"] == "employed"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="outcome metrics"):
        plot_trajectories(series[series["metric"] == "uptake"], tmp_path / "x.png")


def test_forest_rejects_an_interval_that_misses_its_estimate(differences, tmp_path):
    differences.loc[0, "smd_low"] = 0.9
    with pytest.raises(ValueError, match="smd_low <= smd <= smd_high"):
        plot_forest(differences, tmp_path / "x.png")


def test_interval_summary_is_the_t_interval_of_the_mean():
    frame = pd.DataFrame(
        {
            "scenario": "a",
            "replicate": [0, 1, 2],
            "week": 0,
            "metric": "hope",
            "value": [1.0, 2.0, 3.0],
        }
    )
    row = interval_summary(frame, ["hope"]).iloc[0]
    half = 4.302652729911275 / np.sqrt(3)  # t(0.975, df=2) * sd(=1) / sqrt(n)
    assert row["mean"] == pytest.approx(2.0)
    assert row["low"] == pytest.approx(2.0 - half)
    assert row["high"] == pytest.approx(2.0 + half)
    single = interval_summary(frame.iloc[:1], ["hope"]).iloc[0]
    assert np.isnan(single["low"]) and np.isnan(single["high"]) and single["n"] == 1


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.123456, "0.123"),
        (12.3456, "12.3"),
        (999.7, "1,000"),
        (123456.7, "123,457"),
        (42, "42"),
        (np.int64(20_000), "20,000"),
        (float("nan"), "–"),
        (None, "–"),
        (True, "yes"),
        ("text", "text"),
    ],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_report_is_self_contained_and_escaped(series, differences, tmp_path):
    figures = [
        plot_trajectories(series, tmp_path / "outcomes.png"),
        plot_forest(differences, tmp_path / "forest.png"),
    ]
    manifest = {
        "version": "0.1.0",
        "git_commit": "0123abcd" * 5,
        "argv": ["recovery-sim", "run"],
        "seeds": [{"seed": 1, "design_point": 0, "replicate": r} for r in range(12)],
        "created": "2025-01-02T03:04:05+00:00",
        "scenario_sha256": "f" * 64,
        "parameters": {"unemployment_rate": 0.07, "notes": "x" * 300},
    }
    table = pd.DataFrame({"metric": ["employed"], "mean": [0.234567], "n": [30]})
    sections = [
        Section(
            "Outcomes",
            "Means by week.\n\nTwo <script>alert(1)</script> paragraphs.",
            figure=figures[0],
            table=table,
        ),
        Section("Differences & effect sizes", "Standardised.", figure=figures[1]),
        Section("Notes only", "No figure here."),
    ]
    target = write_report(
        tmp_path / "report.html",
        title="IPS <b>scale-up</b> briefing",
        intro="Why we ran this.",
        sections=sections,
        manifest=manifest,
    )
    page = target.read_text(encoding="utf-8")
    assert "IPS &lt;b&gt;scale-up&lt;/b&gt; briefing" in page
    for heading in ("Outcomes", "Differences &amp; effect sizes", "Notes only", "Provenance"):
        assert f">{heading}</h2>" in page
    assert page.count("data:image/png;base64,") == len(figures)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not REMOTE.search(page) and "url(http" not in page
    assert "0.235" in page and 'alt="Figure: Outcomes"' in page
    for value in (
        "0.1.0",
        manifest["git_commit"],
        "recovery-sim, run",
        "2025-01-02T03:04:05+00:00",
        "f" * 64,
        "0.07",
        "x" * 300,
    ):
        assert value in page
    assert "<details>" in page  # 12 seeds and the 300-character note are collapsed
    assert no_temporary_files(tmp_path)


def test_report_with_a_missing_figure_leaves_the_old_file(tmp_path):
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="section 'Gone'"):
        write_report(
            target,
            title="t",
            intro="",
            manifest={},
            sections=[Section("Gone", "", figure=tmp_path / "missing.png")],
        )
    assert target.read_text(encoding="utf-8") == "old"
    assert no_temporary_files(tmp_path)


def test_write_atomic_needs_an_existing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_atomic(tmp_path / "absent" / "file.bin", b"data")
