"""Equity (issue 18 §5): subgroup means at the horizon and best-worst gaps, hand-computed."""

import numpy as np
import pytest

from sim.files.scenario import from_mapping
from sim.studies.compare import ScenarioResult
from sim.studies.equity import equity_tables, subgroups

SCENARIO = from_mapping(
    {"name": "ref", "population": {"size": 6}, "teams": [{"name": "n"}, {"name": "s"}]}
)
ENTRY = {
    # two replicates of six users; severity ranks give terciles of two users each
    "severity_baseline": np.array([[0.1, 0.9, 0.5, 0.2, 0.8, 0.4], [0.6, 0.1, 0.2, 0.9, 0.3, 0.7]]),
    "work_history": np.array([[1, 0, 0, 1, 0, 0], [1, 1, 0, 0, 0, 0]], dtype=bool),
    "stage": np.array([[0, 1, 2, 3, 4, 2], [2, 2, 2, 2, 2, 2]]),
}


def _result(name: str, employed: np.ndarray) -> ScenarioResult:
    scenario = SCENARIO if name == "ref" else from_mapping({**SCENARIO.resolved, "name": name})
    return ScenarioResult(scenario, None, {"employed": employed}, [0, 1], 0.0, ENTRY)


def test_subgroups_are_fixed_at_entry():
    labels = subgroups(_result("ref", np.zeros((2, 6))))
    assert labels["severity_at_entry"][0].tolist() == [
        "low severity",
        "high severity",
        "middle severity",
        "low severity",
        "high severity",
        "middle severity",
    ]
    assert labels["stage_at_entry"][0].tolist() == [
        "early stage",
        "early stage",
        "preparation",
        "later stage",
        "later stage",
        "preparation",
    ]
    assert labels["team"][1].tolist() == ["n", "s", "n", "s", "n", "s"]  # user i in team i mod 2


def test_group_means_gaps_and_their_change():
    employed = np.array([[1, 0, 0, 1, 0, 0], [1, 1, 0, 0, 0, 0]], dtype=float)
    better = np.array([[1, 1, 0, 1, 1, 0], [1, 1, 1, 1, 0, 0]], dtype=float)
    groups, gaps = equity_tables([_result("ref", employed), _result("new", better)], ("employed",))
    work = groups[(groups.subgroup == "work_history_at_entry") & (groups.scenario == "ref")]
    # reference: everyone who worked before is employed, nobody else
    assert work.set_index("group")["mean"].to_dict() == {"never worked": 0.0, "worked before": 1.0}
    ref_gap = gaps[(gaps.scenario == "ref") & (gaps.subgroup == "work_history_at_entry")].iloc[0]
    assert (ref_gap.best, ref_gap.worst, ref_gap.gap) == ("worked before", "never worked", 1.0)
    new = gaps[(gaps.scenario == "new") & (gaps.subgroup == "work_history_at_entry")].iloc[0]
    # new: never worked 2/4 in replicate 0 and 2/4 in replicate 1; worked before 1 and 1
    assert new.gap == pytest.approx(0.5) and new.gap_change == pytest.approx(-0.5)
    assert (new.best, new.worst) == ("worked before", "never worked")  # the reference's pair
