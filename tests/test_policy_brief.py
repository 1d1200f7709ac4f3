"""docs/POLICY_BRIEF.md must be what the committed results give (issue 19 item 7)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim.core.errors import UserError
from sim.faces.reports import policy_brief
from sim.faces.reports.policy_brief import DEFAULT_PATH, EFFECTS, brief_markdown, main
from sim.faces.reports.sensitivity_plots import output_title

REGENERATE = "regenerate with `python -m sim.faces.reports.policy_brief` and commit the result"


def test_the_committed_brief_is_what_the_results_give():
    if DEFAULT_PATH.read_text(encoding="utf-8") != brief_markdown():
        pytest.fail(f"docs/POLICY_BRIEF.md is out of date with experiments/results; {REGENERATE}")


def test_each_effect_names_its_largest_total_order_first():
    sections = {part.split("\n", 1)[0]: part for part in brief_markdown().split("\n### ")[1:]}
    indices = pd.read_csv(policy_brief.RESULTS / "sa_sobol_leaders" / "indices.csv")
    for output in EFFECTS:
        section = sections[output_title(output)]
        ranked = indices[(indices["output"] == output) & (indices["index"] == "ST")]
        leader = ranked.sort_values("estimate").iloc[-1]
        interval = f"{leader.estimate:.2f} ({leader.ci_low:.2f} to {leader.ci_high:.2f})"
        assert f"1. `{leader.parameter}`" in section and interval in section, output


def test_a_missing_result_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(policy_brief, "RESULTS", tmp_path)
    with pytest.raises(UserError, match="sa_sobol_leaders"):
        brief_markdown()
    assert main([str(tmp_path / "brief.md")]) == 2
    assert "is missing" in capsys.readouterr().err
    assert not (tmp_path / "brief.md").exists()


def test_it_writes_where_it_is_told(tmp_path):
    path = Path(tmp_path / "brief.md")
    assert main([str(path)]) == 0
    assert path.read_text(encoding="utf-8") == brief_markdown()
