"""Bad input through ``python -m sim``: a short error, exit code 2, and nothing written.

Every case runs the real command in a fresh folder (its cwd) with ``--out
<folder>/out`` where the command takes one, then checks: exit code 2, at most
two lines on stderr, the first starting with ``error:`` and naming the problem,
no traceback, and the folder holding exactly the files the case wrote (no
output folder, no ``.out.partial-*`` leftovers).

Starting Python and importing the package takes most of each case's time, so
the selected cases run concurrently in one module fixture and each test checks
its own outcome.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
RUN = ("--weeks", "3", "--replicates", "1", "--out", "{out}")


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        id: The test id.
        args: Command-line arguments; ``{out}`` becomes the case's fresh output
            folder, ``{tmp}`` its folder (the cwd) and ``{scenarios}`` the shipped ones.
        fragments: What the first error line must contain.
        files: Files to write into the case's folder first (name -> text).
    """

    id: str
    args: tuple[str, ...]
    fragments: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)

    def argv(self, folder: Path) -> list[str]:
        return [
            arg.format(out=folder / "out", tmp=folder, scenarios=SCENARIOS) for arg in self.args
        ]


def scenario_case(case_id: str, text: str, *fragments: str) -> Case:
    """``run`` of one malformed scenario file named after the case."""
    name = case_id.replace("-", "_") + ".toml"
    return Case(case_id, ("run", name, *RUN), (name, *fragments), {name: text})


CASES = [
    # ---------------------------------------------------------- scenario content
    scenario_case(
        "unknown-top-level-key",
        'name = "x"\nhorizon = 52\n',
        "horizon: unknown key",
        "did you mean 'horizon_weeks'",
    ),
    scenario_case(
        "registry-key-typo",
        'name = "x"\n[parameters]\nfidelty = 0.8\n',
        "parameters.fidelty: unknown key",
        "did you mean 'fidelity'",
    ),
    scenario_case(
        "site-key-typo",
        'name = "x"\n[[sites]]\nname = "town"\nunemployment_rat = 0.1\n',
        "sites.0.unemployment_rat: unknown key",
        "did you mean 'unemployment_rate'",
    ),
    scenario_case(
        "string-for-a-number",
        'name = "x"\n[[sites]]\nname = "town"\nunemployment_rate = "high"\n',
        "sites.0.unemployment_rate = 'high' is invalid",
        "a number in [0.02, 0.25]",
    ),
    scenario_case(
        "out-of-bounds",
        'name = "x"\n[parameters]\nfidelity = 1.5\n',
        "parameters.fidelity = 1.5 is invalid",
        "[0.3, 1.0]",
    ),
    scenario_case(
        "negative-places",
        'name = "x"\n[[teams]]\nname = "t"\nplaces = { peer_support = -5 }\n',
        "teams.0.places.peer_support = -5 is invalid",
        "greater than or equal to 0",
    ),
    scenario_case(
        "places-for-unknown-intervention",
        'name = "x"\n[[teams]]\nname = "t"\nplaces = { peer_suport = 5 }\n',
        "no intervention 'peer_suport'",
    ),
    scenario_case(
        "offer-share-above-1",
        'name = "x"\n[offers]\npeer_support = 1.5\n',
        "offers.peer_support = 1.5 is invalid",
        "less than or equal to 1",
    ),
    scenario_case(
        "unknown-intervention-in-offers",
        'name = "x"\n[offers]\npeer_suport = 0.5\n',
        "offers.peer_suport: unknown intervention",
        "did you mean 'peer_support'",
    ),
    scenario_case(
        "empty-population", 'name = "x"\n[population]\nsize = 0\n', "population.size = 0 is invalid"
    ),
    scenario_case("invalid-toml", 'name = "x\n[population\n', "invalid TOML"),
    scenario_case(
        "team-names-missing-site",
        'name = "x"\n[[sites]]\nname = "town"\n[[teams]]\nname = "t"\nsite = "city"\n',
        "site = 'city' is not a site",
        "allowed: town",
    ),
    # -------------------------------------------------------------------- files
    Case(
        "missing-scenario-file",
        ("run", "nowhere.toml", *RUN),
        ("scenario file not found", "nowhere.toml"),
    ),
    Case(
        "circular-extends",
        ("run", "a.toml", *RUN),
        ("circular inheritance", "a.toml -> b.toml -> a.toml"),
        {
            "a.toml": 'extends = "b.toml"\nname = "a"\n',
            "b.toml": 'extends = "a.toml"\nname = "b"\n',
        },
    ),
    scenario_case(
        "missing-extends-target",
        'extends = "nowhere.toml"\nname = "x"\n',
        "extends: scenario file not found",
        "nowhere.toml",
    ),
    scenario_case(
        "extends-not-a-string", 'extends = 3\nname = "x"\n', "extends = 3 must be a file name"
    ),
    # ---------------------------------------------------------------------- --set
    Case(
        "set-index-out-of-range",
        ("run", "{scenarios}/baseline.toml", "--set", "sites.3.unemployment_rate=0.1", *RUN),
        ("--set sites.3", "no item '3'", "0-0"),
    ),
    Case(
        "set-without-equals",
        ("run", "--set", "fidelity", *RUN),
        ("--set", "fidelity", "expected KEY.PATH=VALUE"),
    ),
    Case(
        "set-unknown-registry-name",
        ("run", "--set", "fidelty=0.5", *RUN),
        ("'fidelty' is neither a scenario key nor a registry parameter",),
    ),
    Case(
        "set-unknown-nested-key",
        ("run", "--set", "parameters.fidelty=0.5", *RUN),
        ("parameters.fidelty: unknown key", "did you mean 'fidelity'"),
    ),
    # ------------------------------------------------------------------- options
    Case(
        "replicates-0",
        ("run", "--replicates", "0", "--out", "{out}"),
        ("--replicates must be >= 1, got 0",),
    ),
    Case(
        "seed-negative", ("run", "--seed", "-1", "--out", "{out}"), ("--seed must be >= 0, got -1",)
    ),
    Case("weeks-0", ("run", "--weeks", "0", "--out", "{out}"), ("--weeks must be >= 1, got 0",)),
    Case(
        "out-under-a-file",
        ("run", "--weeks", "3", "--replicates", "1", "--out", "{tmp}/afile/out"),
        ("cannot write to", "afile"),
        {"afile": "a file, not a folder\n"},
    ),
    Case(
        "out-is-a-file",
        (
            "run",
            "--weeks",
            "3",
            "--replicates",
            "1",
            "--set",
            "population.size=40",
            "--out",
            "{tmp}/afile",
        ),
        ("cannot write to", "afile", "is a file"),
        {"afile": "a file, not a folder\n"},
    ),
    # ------------------------------------------------------------------- compare
    Case(
        "compare-a-single-scenario",
        ("compare", "{scenarios}/baseline.toml", *RUN),
        ("compare needs at least two scenario files",),
    ),
    Case(
        "compare-same-names",
        ("compare", "one.toml", "two.toml", *RUN),
        ("scenario names must differ", "'same'"),
        {"one.toml": 'name = "same"\n', "two.toml": 'name = "same"\n'},
    ),
    # --------------------------------------------------------- other commands
    Case(
        "params-unknown-name",
        ("params", "fidelty"),
        ("unknown parameter 'fidelty'", "did you mean 'fidelity'"),
    ),
    Case(
        "logic-model-draw-not-png",
        ("logic-model", "--draw", "{tmp}/x.pdf"),
        ("ending in .png", "x.pdf"),
    ),
    Case(
        "logic-model-draw-missing-folder",
        ("logic-model", "--draw", "{tmp}/missing/x.png"),
        ("cannot write", "missing"),
    ),
]
BY_ID = {case.id: case for case in CASES}
XFAIL: dict[str, str] = {}  # case id -> reason, for known bugs


def params(cases: Sequence[Case]) -> list:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=XFAIL[case.id])]
            if case.id in XFAIL
            else [],
        )
        for case in cases
    ]


@dataclass(frozen=True)
class Outcome:
    folder: Path
    done: subprocess.CompletedProcess[str]


def run_module(args: Sequence[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def case_of(item: pytest.Item) -> Case | None:
    """The case a collected test is parametrised with, if any."""
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    return case if isinstance(case, Case) else None


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, Outcome]:
    """Run the selected cases concurrently, each in a fresh folder of its own."""
    selected = {case.id: case for case in map(case_of, request.session.items) if case}

    def run_case(case: Case) -> Outcome:
        folder = tmp_path_factory.mktemp(case.id)
        for name, text in case.files.items():
            (folder / name).write_text(text, encoding="utf-8")
        return Outcome(folder, run_module(case.argv(folder), folder))

    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
        return dict(zip(selected, pool.map(run_case, selected.values()), strict=True))


def first_error_line(outcome: Outcome) -> str:
    done = outcome.done
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_input_is_a_short_error_and_writes_nothing(case, outcomes):
    outcome = outcomes[case.id]
    line = first_error_line(outcome)
    for fragment in case.fragments:
        assert fragment in line, (fragment, line)
    folder = outcome.folder
    assert not (folder / "out").exists()
    assert not list(folder.glob(".out.partial-*"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(case.files)  # nothing else


# Message quality: each checks the outcome of one case above.


@pytest.mark.parametrize("case", params([BY_ID["team-names-missing-site"]]))
def test_team_site_error_names_the_file_once(case, outcomes):
    line = first_error_line(outcomes[case.id])
    assert line.count("team_names_missing_site.toml") == 1, line


@pytest.mark.parametrize("case", params([BY_ID["set-without-equals"]]))
def test_set_without_equals_quotes_what_was_typed(case, outcomes):
    line = first_error_line(outcomes[case.id])
    assert "--set 'fidelity'" in line, line


@pytest.mark.parametrize("case", params([BY_ID["set-unknown-registry-name"]]))
def test_set_unknown_registry_name_suggests_the_right_one(case, outcomes):
    line = first_error_line(outcomes[case.id])
    assert "did you mean 'fidelity'" in line, line


# ------------------------------------------------------------------------ validate


def test_validate_reports_every_file(tmp_path):
    good = [SCENARIOS / "baseline.toml", SCENARIOS / "ips_scale_up.toml"]
    (tmp_path / "typo.toml").write_text('name = "x"\nhorizon = 52\n', encoding="utf-8")
    (tmp_path / "bounds.toml").write_text(
        'name = "x"\n[parameters]\nfidelity = 2.0\n', encoding="utf-8"
    )
    files = [good[0], "typo.toml", good[1], "bounds.toml", "missing.toml"]
    done = run_module(["validate", *files], tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    ok = done.stdout.strip().splitlines()
    assert [line.split(" (")[0] for line in ok] == [f"ok: {path}" for path in good]
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors), errors
    assert "typo.toml: horizon: unknown key" in errors[0]
    assert "bounds.toml: parameters.fidelity = 2.0 is invalid" in errors[1]
    assert "scenario file not found" in errors[2] and "missing.toml" in errors[2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bounds.toml", "typo.toml"]
