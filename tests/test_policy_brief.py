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


def test_scenario_and_cost_factors_are_named_with_their_kind(tmp_path, monkeypatch):
    """Dotted factors (offers.X, costs.K) in the results: labelled as levers, costs said."""
    import json
    import shutil

    for folder in ("sa_sobol_leaders", "sa_policy_effects"):
        shutil.copytree(policy_brief.RESULTS / folder, tmp_path / folder, ignore=_no_chunks)
    leaders = pd.read_csv(tmp_path / "sa_sobol_leaders" / "indices.csv")
    output = leaders[(leaders["output"] == EFFECTS[0]) & (leaders["index"] == "ST")]
    first = output.sort_values("estimate").index[-1]
    renamed = {leaders.at[first, "parameter"]: "places.self_management"}  # not declared
    leaders["parameter"] = leaders["parameter"].replace(renamed)
    leaders.to_csv(tmp_path / "sa_sobol_leaders" / "indices.csv", index=False)
    path = tmp_path / "sa_sobol_leaders" / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    registry = [n for n in manifest["design"]["parameters"] if "." not in n]
    manifest["design"]["parameters"] = [*registry, "costs.peer_support", "offers.peer_support"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setattr(policy_brief, "RESULTS", tmp_path)
    brief = brief_markdown()
    assert "1. `places.self_management` (what a service can change)" in brief
    assert "the first lever a service controls is `places.self_management`" in brief.lower()
    assert f"The factors are the {len(registry) + 2} of" in brief
    assert "with the package's 1 offers and places and 1 unit costs" in brief
    assert "the ranking varies the unit costs `costs.peer_support`." in brief
    manifest["design"]["parameters"] = registry  # no unit cost varied: said so
    path.write_text(json.dumps(manifest), encoding="utf-8")
    brief = brief_markdown()
    assert f"The factors are the {len(registry)} of" in brief
    assert "`calibration/costs.toml`, whose unit costs are not varied." in brief


def _no_chunks(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "chunks" or name.endswith((".png", ".html"))]
