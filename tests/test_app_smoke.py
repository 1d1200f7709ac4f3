"""Smoke and unit tests of the teaching app without a browser.

As Mesa tests its examples: import the app module and step the model it builds;
then render the page in-process (solara's test renderer) and press Mesa's Step
button. Also: controls follow the registry, presets follow the scenario files,
side-by-side runs share random numbers, the export matches the CLI's format, and
the ``app`` command is a click command a group can register.
"""

from __future__ import annotations

import json
import re

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.core.parameters import REGISTRY
from sim.studies.compare import SERIES_COLUMNS

# Mesa 3.3.1's ComponentsView trips solara's hook linter at import (a third-party warning).
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*found despite early return:UserWarning:solara.validate_hooks"
)


@pytest.fixture(scope="module")
def app_module():
    import sim.faces.app.page

    return sim.faces.app.page


def test_app_module_builds_a_model_that_steps(app_module) -> None:
    model = app_module.model
    start = model.week
    for _ in range(10):
        model.step()
    assert model.week == start + 10
    frame = model.runs[0].model.datacollector.get_model_vars_dataframe()
    assert len(frame) == model.week + 1


def test_page_renders_and_mesa_step_button_advances(app_module) -> None:
    import ipyvuetify as v
    import solara

    _box, rc = solara.render(solara.AppLayout(children=[app_module.Page()]), handle_error=False)
    try:

        def readout_week() -> int:
            tables = [
                w.unsafe_innerHTML
                for w in _all_widgets(rc)
                if "rp-readout" in (getattr(w, "unsafe_innerHTML", None) or "")
            ]
            return int(re.search(r'data-week="(\d+)"', tables[0]).group(1))

        assert readout_week() == 0
        rc.find(v.Btn, children=["Step"]).widget.fire_event("click", {})
        assert readout_week() == 4  # default: 4 weeks per step
    finally:
        rc.close()


def _all_widgets(rc) -> list:
    import ipywidgets

    found, stack = [], [rc.find().widget]
    while stack:
        widget = stack.pop()
        found.append(widget)
        for child in getattr(widget, "children", None) or []:
            if isinstance(child, ipywidgets.Widget):
                stack.append(child)
        for slot in getattr(widget, "v_slots", None) or []:
            if isinstance(slot.get("children"), ipywidgets.Widget):
                stack.append(slot["children"])
    return found


def test_controls_come_from_the_registry() -> None:
    from sim.core.logic_model import USER_INTERVENTIONS
    from sim.faces.app.controls import CONTEXT_CONTROLS, OFFER_CONTROLS, PEOPLE_CONTROLS

    specs = {**CONTEXT_CONTROLS, "motivation_median": PEOPLE_CONTROLS["motivation_median"]}
    assert set(specs) == {
        "professional_attitudes",
        "unemployment_rate",
        "public_stigma",
        "motivation_median",
    }
    for name, spec in specs.items():
        p = REGISTRY[name]
        assert (spec["min"], spec["max"], spec["value"]) == (p.low, p.high, p.default)
        assert spec["type"] == "SliderFloat"
        assert p.description[1:] in spec["tooltip"] and p.source in spec["tooltip"]
    assert list(OFFER_CONTROLS) == list(USER_INTERVENTIONS)
    assert all("Source:" in spec["tooltip"] for spec in OFFER_CONTROLS.values())


def test_presets_read_the_scenario_files() -> None:
    from sim.faces.app.session import preset_contexts

    (name_a, a), (name_b, b) = preset_contexts("unemployment")
    assert (name_a, name_b) == ("low-unemployment", "high-unemployment")
    assert (a["unemployment_rate"], b["unemployment_rate"]) == (0.04, 0.14)
    (name_a, a), (name_b, b) = preset_contexts("stigma")
    assert (a["public_stigma"], a["professional_attitudes"]) == (0.8, 0.25)
    assert (b["public_stigma"], b["professional_attitudes"]) == (0.2, 0.8)
    with pytest.raises(KeyError, match="valid: stigma"):
        preset_contexts("nonsense")


def test_side_by_side_runs_share_random_numbers() -> None:
    from sim.faces.app.session import ContextComparison, metric_frame

    same = ContextComparison(n_agents=80, seed=5, weeks=20, context_b={})
    same.run_model()
    a, b = (metric_frame(run.model) for run in same.runs)
    pd.testing.assert_frame_equal(a, b)  # identical contexts: identical runs

    pair = ContextComparison(
        n_agents=80,
        seed=5,
        weeks=20,
        context_a={"unemployment_rate": 0.04},
        context_b={"unemployment_rate": 0.25},
    )
    pair.run_model()
    a, b = (metric_frame(run.model) for run in pair.runs)
    assert a.loc[0, "employed"] == b.loc[0, "employed"]  # the same people at week 0
    assert not np.allclose(a["employed"], b["employed"])  # then the context shows
    with pytest.raises(ValueError, match="context_a / context_b"):
        ContextComparison(params={"public_stigma": 0.3})


def test_export_writes_the_cli_format(tmp_path) -> None:
    from sim.faces.app.figures import save_charts
    from sim.faces.app.session import ContextComparison, export_run

    pair = ContextComparison(
        n_agents=40, seed=3, weeks=6, context_b={"public_stigma": 0.9}, name_b="stigma-0.9"
    )
    for _ in range(3):
        pair.step()
    folder = export_run(pair, tmp_path, figures=lambda f: save_charts(pair, f, person=7))
    series = pd.read_parquet(folder / "series.parquet")
    assert tuple(series.columns) == SERIES_COLUMNS
    assert set(series["scenario"]) == {"context-a", "stigma-0.9"}
    assert series["week"].max() == 3 and set(series["replicate"]) == {0}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seeds"] == [{"seed": 3, "design_point": 0, "replicate": 0}]
    assert manifest["common_random_numbers"] is True
    assert manifest["scenarios"][1]["context"]["public_stigma"] == 0.9
    assert set(manifest["charts"]) == {
        "outcomes.png",
        "stages.png",
        "doses.png",
        "network.png",
        "pathway.png",
    }
    assert all((folder / name).stat().st_size > 1000 for name in manifest["charts"])


def test_app_command_registers_in_a_group_and_builds_the_server_command(tmp_path) -> None:
    from sim.faces.cli.app_server import app, server_command, server_environment

    group = click.Group("recovery-sim")
    group.add_command(app)
    result = CliRunner().invoke(group, ["app", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output
    command = server_command("127.0.0.1", 8600)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "8600"
    assert "sim.faces.app.page:page" in command and "--no-check-version" in command
    env = server_environment(tmp_path / "out", base={})
    assert env["RECOVERY_SIM_APP_OUT"] == str((tmp_path / "out").resolve())
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    bad = CliRunner().invoke(group, ["app", "--port", "70000"])
    assert bad.exit_code == 2


PACKAGE = {
    "peer_support": 0.4,
    "self_management": 0.5,
    "supported_employment": 0.5,
    "shared_decision_making": 0.6,
}


def test_package_effect_is_with_minus_without_and_larger_in_a_pro_recovery_context() -> None:
    """Four models (A, B; with, without the package) step together on one seed."""
    from sim.faces.app.figures import effect_readout
    from sim.faces.app.session import (
        EFFECT_METRICS,
        ContextComparison,
        effect_frame,
        metric_frame,
        preset_contexts,
    )

    (name_a, stigmatising), (name_b, pro_recovery) = preset_contexts("stigma")
    pair = ContextComparison(
        n_agents=300,
        seed=1,
        weeks=26,
        offer=PACKAGE,
        context_a=stigmatising,
        context_b=pro_recovery,
        name_a=name_a,
        name_b=name_b,
    )
    assert pair.package_effect
    pair.run_model()
    assert {m.week for run in pair.runs for m in run.models} == {26}
    for run in pair.runs:
        effect = effect_frame(run)
        expected = metric_frame(run.model, EFFECT_METRICS) - metric_frame(
            run.without, EFFECT_METRICS
        )
        pd.testing.assert_frame_equal(effect, expected)
        assert (effect.loc[0] == 0).all()  # the same people at week 0
        assert set(EFFECT_METRICS) >= {
            "personal_recovery",
            "hope",
            "employed",
            "social_inclusion",
            "connectedness",
        }
    table = effect_readout(pair).set_index("metric")
    a, b = (effect_frame(run).loc[26] for run in pair.runs)
    assert table.loc["personal_recovery", "A"] == pytest.approx(a["personal_recovery"])
    assert table.loc["employed", "B"] == pytest.approx(100 * b["employed"])
    assert table.loc["hope", "interaction"] == pytest.approx(b["hope"] - a["hope"])
    # the review's lesson: the same package does more in the pro-recovery context (B)
    assert b["personal_recovery"] > a["personal_recovery"] > 0


def test_no_package_runs_no_counterpart_and_usual_care_can_be_compared() -> None:
    from sim.faces.app.session import ContextComparison

    plain = ContextComparison(n_agents=30, seed=2, weeks=3, context_b={})
    assert not plain.package_effect
    assert all(run.without is None for run in plain.runs)
    trained = ContextComparison(n_agents=30, seed=2, weeks=3, staff_training=True)
    assert trained.package_effect
    trained.run_model()
    assert trained.runs[0].without.week == 3


def _readout_week(rc) -> int:
    tables = [
        w.unsafe_innerHTML
        for w in _all_widgets(rc)
        if 'data-testid="readout"' in (getattr(w, "unsafe_innerHTML", None) or "")
    ]
    return int(re.search(r'data-week="(\d+)"', tables[0]).group(1))


def _headline(rc) -> str:
    import ipyvuetify as v

    texts = [
        w.children[0]
        for w in _all_widgets(rc)
        if isinstance(w, v.Html) and w.children and str(w.children[0]).startswith("Week ")
    ]
    return str(texts[0])


def test_changing_a_control_after_the_horizon_re_enables_step(app_module) -> None:
    import ipyvuetify as v
    import solara

    _box, rc = solara.render(solara.AppLayout(children=[app_module.Page()]), handle_error=False)
    try:
        rc.find(v.Select, label="Weeks per step").widget.v_model = 52
        step = rc.find(v.Btn, children=["Step"])
        play = rc.find(v.Btn, children=["▶"])
        for _ in range(2):
            step.widget.fire_event("click", {})
        assert _readout_week(rc) == 104
        assert step.widget.disabled and play.widget.disabled  # the horizon
        slider = rc.find(v.Slider).widgets[0]  # A · professional attitudes
        slider.v_model = 0.8
        rc.find(v.Btn, children=["Step"]).assert_single()
        assert _readout_week(rc) == 0  # restarted at week 0 ...
        assert not rc.find(v.Btn, children=["Step"]).widget.disabled  # ... and steps again
        assert not rc.find(v.Btn, children=["▶"]).widget.disabled
        rc.find(v.Btn, children=["Step"]).widget.fire_event("click", {})
        assert _readout_week(rc) == 52
    finally:
        rc.close()


def test_steps_stop_at_the_horizon_and_table_charts_export_agree(app_module, tmp_path) -> None:
    import ipyvuetify as v
    import solara

    from sim.faces.app.figures import save_charts
    from sim.faces.app.session import ContextComparison, export_run, metric_frame, tidy_series

    pair = ContextComparison(n_agents=40, seed=1, weeks=104, context_b={}, offer=PACKAGE)
    for _ in range(68):
        pair.step()
    for _ in range(52):  # 52 weeks asked for at week 68
        pair.step()
    assert pair.week == 104 and not pair.running
    assert {m.week for run in pair.runs for m in run.models} == {104}
    assert all(len(metric_frame(m)) == 105 for run in pair.runs for m in run.models)
    assert tidy_series(pair)["week"].max() == 104
    folder = export_run(pair, tmp_path, figures=lambda f: save_charts(pair, f))
    assert folder.name.endswith("week104")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["weeks"] == 104 and manifest["package_effect"] is True
    assert "effect.png" in manifest["charts"]
    series = pd.read_parquet(folder / "series.parquet")
    assert series["week"].max() == 104
    assert "context-a (without package)" in set(series["scenario"])

    _box, rc = solara.render(solara.AppLayout(children=[app_module.Page()]), handle_error=False)
    try:
        step = rc.find(v.Btn, children=["Step"])
        for _ in range(17):  # 4 weeks per step
            step.widget.fire_event("click", {})
        assert _readout_week(rc) == 68
        rc.find(v.Select, label="Weeks per step").widget.v_model = 52
        step.widget.fire_event("click", {})
        assert _readout_week(rc) == 104
        assert _headline(rc).startswith("Week 104 of 104.")
        assert step.widget.disabled
    finally:
        rc.close()
