"""Packaging: a light command line, shipped data found by name, and the wheel's data map.

The full wheel check (build, install into a fresh venv, run from outside the
checkout) is ``.ci/wheel_check``; these tests are the cheap in-tree part of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.faces.app.session import PRESETS, preset_contexts
from sim.faces.cli.main import load, main
from sim.files import shipped

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("dask", "distributed", "pyabc", "solara", "matplotlib", "SALib")


def fresh_python(code: str, cwd: Path) -> dict:
    """Run ``code`` in a fresh interpreter on this tree; it prints one JSON object."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


LOADED = f"sorted(m for m in {HEAVY!r} if m in sys.modules)"


def test_import_sim_cli_loads_no_heavy_stack(tmp_path, capsys):
    code = (
        "import json, sys, time\n"
        "started = time.perf_counter()\n"
        "import sim.cli\n"
        "seconds = time.perf_counter() - started\n"
        f"print(json.dumps({{'seconds': seconds, 'heavy': {LOADED}}}))\n"
    )
    result = fresh_python(code, tmp_path)
    with capsys.disabled():
        print(
            f"\n[test_packaging] import sim.cli: {result['seconds']:.2f} s in a fresh interpreter"
        )
    assert result["heavy"] == []  # the time is printed, not asserted (a benchmark, not a test)


def test_help_loads_no_heavy_stack(tmp_path):
    code = (
        "import contextlib, io, json, sys\n"
        "from sim.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    for args in (['--help'], ['run', '--help'], ['trial', '--help'],\n"
        "                 ['scenarios']):\n"
        "        try:\n"
        "            main(args)\n"
        "        except SystemExit as stop:\n"
        "            assert not stop.code, (args, stop.code)\n"
        f"print(json.dumps({{'heavy': {LOADED}, 'text': out.getvalue()}}))\n"
    )
    result = fresh_python(code, tmp_path)
    assert result["heavy"] == []
    assert "scenarios" in result["text"] and "ips-scale-up" in result["text"]


def test_wheel_maps_every_shipped_folder_into_sim_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    for kind, (packaged, source) in shipped.KINDS.items():
        target = f"sim/data/{packaged}"
        sources = [s for s, t in mapping.items() if t == target or t.startswith(target + "/")]
        assert sources, f"no force-include for {kind} into {target}"
        for src in sources:
            assert (ROOT / src).exists(), src
            assert Path(src).parts[: len(source)] == source, (kind, src)
    assert shipped.targets_file().name == "targets.toml"


@pytest.mark.parametrize(
    "text", ["ips-scale-up", "ips_scale_up", "ips_scale_up.toml", "IPS-Scale-Up"]
)
def test_shipped_scenario_by_name(text):
    assert shipped.resolve("scenario", text) == shipped.scenario_dir() / "ips_scale_up.toml"


def test_existing_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("baseline").write_text('name = "local"\n', encoding="utf-8")
    assert shipped.resolve("scenario", "baseline") == Path("baseline")
    assert load("baseline", ()).name == "local"
    assert load("ips-scale-up", ()).name == "ips-scale-up"


def test_unknown_name_names_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", "no-such-scenario"])
    assert result.exit_code == 2
    assert "error: scenario file not found: no-such-scenario" in result.output
    assert "ips_scale_up" in result.output
    result = CliRunner().invoke(main, ["trial", "no-such-trial"])
    assert result.exit_code == 2
    assert "eqolise" in result.output
    assert not (tmp_path / "out").exists()


def test_scenarios_command_lists_names_files_and_descriptions():
    result = CliRunner().invoke(main, ["scenarios"])
    assert result.exit_code == 0, result.output
    for entry in shipped.listing("scenario"):
        assert entry.path.name in result.output
        assert entry.description and entry.description in result.output
    assert "eqolise" in result.output


def test_every_shipped_file_loads_from_a_copy_outside_the_tree(tmp_path, monkeypatch):
    """As from package data: ``extends`` resolves beside the file, presets read the copy."""
    from sim.studies.trials import load_trial

    copies = {
        kind: shutil.copytree(shipped.data_dir(kind), tmp_path / kind)
        for kind in ("scenario", "trial")
    }
    monkeypatch.setattr(shipped, "data_dir", lambda kind: Path(copies[kind]))
    for name in shipped.names("scenario"):
        scenario = load(name.replace("_", "-"), ())
        assert Path(scenario.path).is_relative_to(tmp_path), name
    for name in shipped.names("trial"):
        assert load_trial(shipped.resolve("trial", name)).spec.name
    for preset in PRESETS:
        (name_a, _), (name_b, _) = preset_contexts(preset.key)
        assert name_a != name_b
    # the presets read the copy: without its file, a preset cannot load
    (Path(copies["scenario"]) / PRESETS[0].file_a).unlink()
    with pytest.raises(ValueError, match=PRESETS[0].file_a):
        preset_contexts(PRESETS[0].key)


def test_trial_summary_finds_the_published_figures_by_default():
    import numpy as np
    import pandas as pd

    from sim.faces.cli.trials import trial_summary
    from sim.studies.trials import load_trial

    trial = load_trial(shipped.resolve("trial", "eqolise"))
    frame = pd.DataFrame({m.name: np.linspace(0.1, 0.3, 5) for m in trial.spec.metrics})
    summary = trial_summary(trial, frame)
    targeted = summary[summary.target.notna()]
    assert len(targeted) > 0
    assert targeted.published.notna().all(), targeted
