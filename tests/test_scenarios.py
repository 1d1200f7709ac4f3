"""Scenario files: the shipped library, ``extends`` inheritance, overrides and digests."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sim.core.metrics import SOMETIMES_UNDEFINED
from sim.files.scenario import ScenarioError, load_scenario
from sim.studies.compare import SERIES_COLUMNS, run_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def leading_comments(path: Path) -> str:
    """The comment block a file opens with (before the first non-comment line)."""
    block = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        block.append(line.lstrip("# "))
    return " ".join(block)


# ------------------------------------------------------------------- the library


def test_the_library_is_shipped():
    assert len(SHIPPED) >= 12
    assert SCENARIOS / "baseline.toml" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_scenario_validates_and_runs(path):
    scenario = load_scenario(path)
    weeks = max([4, *(change.week for change in scenario.schedule())])  # reach every change
    result = run_scenario(scenario, weeks=weeks, replicates=1)
    series = result.series
    assert tuple(series.columns) == SERIES_COLUMNS
    assert set(series.scenario) == {scenario.name}
    assert sorted(series.week.unique()) == list(range(weeks + 1))
    assert set(series.replicate) == {0}
    defined = ~series.metric.isin(SOMETIMES_UNDEFINED)
    assert np.isfinite(series.value[defined]).all()
    assert len(result.seeds) == 1


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_scenario_states_its_policy_question_and_sources(path):
    comments = leading_comments(path)
    assert "Policy question:" in comments, path.name
    assert re.search(r"sources:", comments, re.IGNORECASE), path.name


def test_shipped_scenario_names_are_unique():
    names = [load_scenario(path).name for path in SHIPPED]
    assert len(set(names)) == len(names)


def test_shipped_chain_of_inheritance():
    scenario = load_scenario(SCENARIOS / "ips_scale_up_high_unemployment.toml")
    spec = scenario.spec
    assert spec.name == "ips-scale-up-high-unemployment"
    assert spec.sites[0].unemployment_rate == 0.12  # its own
    assert dict(spec.offers) == {"supported_employment": 0.5}  # from ips_scale_up.toml
    assert spec.seed == 20200101 and spec.population.size == 500  # from baseline.toml
    assert "extends" not in scenario.resolved


# ------------------------------------------------------------------------ extends


def test_extends_deep_merges_tables_and_replaces_arrays(tmp_path):
    write(
        tmp_path / "parent.toml",
        """
name = "parent"
seed = 3
[population]
size = 100
motivation_median = 0.4
[parameters]
fidelity = 0.5
usual_care_contact = 0.6
[[sites]]
name = "north"
unemployment_rate = 0.05
[[sites]]
name = "south"
unemployment_rate = 0.1
[[teams]]
name = "t"
site = "south"
places = { peer_support = 10 }
[offers]
peer_support = 0.3
""",
    )
    child = write(
        tmp_path / "child.toml",
        """
extends = "parent.toml"
name = "child"
[population]
size = 50
[parameters]
fidelity = 0.8
[[sites]]
name = "south"
public_stigma = 0.7
[[teams]]
name = "t"
site = "south"
[offers]
self_management = 0.2
""",
    )
    scenario = load_scenario(child)
    resolved = scenario.resolved
    assert resolved["name"] == "child"
    assert resolved["seed"] == 3
    # tables merge key by key
    assert resolved["population"] == {"size": 50, "motivation_median": 0.4}
    assert resolved["parameters"] == {"fidelity": 0.8, "usual_care_contact": 0.6}
    assert resolved["offers"] == {"peer_support": 0.3, "self_management": 0.2}
    # arrays (of tables too) are replaced whole
    assert resolved["sites"] == [{"name": "south", "public_stigma": 0.7}]
    assert resolved["teams"] == [{"name": "t", "site": "south"}]
    world = scenario.world()
    assert [s.name for s in world.sites] == ["south"]
    assert world.sites[0].unemployment_rate is None
    assert (world.capacity == -1).all()  # the parent's places went with its teams
    assert scenario.parameters()["motivation_median"] == 0.4


def test_extends_is_relative_to_the_file_not_the_working_directory(tmp_path, monkeypatch):
    folder = tmp_path / "nested"
    folder.mkdir()
    write(folder / "base.toml", 'name = "base"\nhorizon_weeks = 12\n')
    child = write(folder / "child.toml", 'extends = "base.toml"\nname = "child"\n')
    monkeypatch.chdir(tmp_path)
    assert load_scenario(Path("nested") / "child.toml").spec.horizon_weeks == 12
    assert load_scenario(child).spec.horizon_weeks == 12


def test_child_does_not_change_its_parent(tmp_path):
    write(tmp_path / "parent.toml", 'name = "parent"\n[offers]\npeer_support = 0.3\n')
    write(
        tmp_path / "child.toml",
        'extends = "parent.toml"\nname = "child"\n[offers]\npeer_support = 0.9\n',
    )
    load_scenario(tmp_path / "child.toml")
    assert dict(load_scenario(tmp_path / "parent.toml").spec.offers) == {"peer_support": 0.3}


# ---------------------------------------------------------------------- overrides


def test_set_style_overrides_apply():
    scenario = load_scenario(
        SCENARIOS / "baseline.toml",
        [
            "sites.0.unemployment_rate=0.12",
            "teams.1.staff_training=true",
            "offers.peer_support=0.25",
            "parameters.fidelity=0.8",
            "name=baseline-12pc",
        ],
    )
    spec = scenario.spec
    assert spec.sites[0].unemployment_rate == 0.12
    assert spec.sites[0].public_stigma == 0.5  # untouched values stay
    assert [t.staff_training for t in spec.teams] == [False, True]
    assert dict(spec.offers) == {"peer_support": 0.25}
    assert spec.parameters.fidelity == 0.8
    assert scenario.name == "baseline-12pc"
    assert scenario.world().sites[0].unemployment_rate == 0.12
    # the file itself is not changed
    assert load_scenario(SCENARIOS / "baseline.toml").spec.sites[0].unemployment_rate == 0.07


def test_overrides_are_validated_like_the_file():
    with pytest.raises(ScenarioError, match=r"sites\.0\.unemployment_rate = 0\.9 is invalid"):
        load_scenario(SCENARIOS / "baseline.toml", ["sites.0.unemployment_rate=0.9"])


# ------------------------------------------------------------------------- digest


def test_digest_is_stable_and_tracks_values(tmp_path):
    path = SCENARIOS / "baseline.toml"
    digest = load_scenario(path).digest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert load_scenario(path).digest() == digest
    # the same value set again, or the same content elsewhere with other comments
    assert load_scenario(path, ["sites.0.unemployment_rate=0.07"]).digest() == digest
    text = path.read_text(encoding="utf-8")
    copy = write(tmp_path / "copy.toml", "# another comment\n\n" + text)
    assert load_scenario(copy).digest() == digest
    # any changed value changes it
    assert load_scenario(path, ["sites.0.unemployment_rate=0.12"]).digest() != digest
    assert load_scenario(path, ["seed=1"]).digest() != digest
    changed = write(tmp_path / "changed.toml", text.replace("size = 500", "size = 499"))
    assert load_scenario(changed).digest() != digest
