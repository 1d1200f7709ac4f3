"""Issue 15, "Errors and bounds": every bad input is one ``error:`` line, exit 2.

Each case asserts: exit code 2, exactly one ``error:`` line that names the file
(or option) and the key, no traceback, and nothing written in the working folder
but the inputs. A programming error (an exception that is not a user error) shows
its traceback instead of being dressed up as the user's fault.
"""

from __future__ import annotations

import math
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.core import errors
from sim.core.errors import UserError
from sim.faces.cli.main import main

TINY = 'name = "tiny"\nhorizon_weeks = 2\nreplicates = 1\n[population]\nsize = 20\n'

TRIAL = """\
name = "tiny-trial"
intervention = "supported_employment"
n_per_arm = 10
follow_up_weeks = 2
replicates = 1
{extra}
[[metrics]]
name = "worked"
kind = "share"
outcome = "ever_employed"
{metric}
"""


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    fragments: tuple[str, ...]  # the file (or option) and the key the error must name
    setup: Callable[[Path], None] | None = None


def _write(name: str, text: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / name).write_text(text, encoding="utf-8")

    return setup


def _chain(folder: Path) -> None:
    for i in range(errors.MAX_EXTENDS_DEPTH + 10):
        (folder / f"c{i}.toml").write_text(f'extends = "c{i + 1}.toml"\n', encoding="utf-8")
    (folder / f"c{errors.MAX_EXTENDS_DEPTH + 10}.toml").write_text(TINY, encoding="utf-8")


def _symlink_loop(folder: Path) -> None:
    (folder / "s.toml").write_text('extends = "loop.toml"\n' + TINY, encoding="utf-8")
    os.symlink("loop2.toml", folder / "loop.toml")
    os.symlink("loop.toml", folder / "loop2.toml")


def _fifo(folder: Path) -> None:
    os.mkfifo(folder / "fifo.toml")


def _deep(folder: Path) -> None:
    depth = 100_000
    (folder / "deep.toml").write_text(f"x = {'[' * depth}{']' * depth}\n", encoding="utf-8")


def _posterior(weight: float, value: float, scenario: str = TINY) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        (folder / "s.toml").write_text(scenario, encoding="utf-8")
        frame = pd.DataFrame({"unemployment_rate": [0.05, value], "weight": [1.0, weight]})
        frame.to_parquet(folder / "post.parquet")

    return setup


def _experiment(folder: Path) -> None:
    (folder / "s.toml").write_text(TINY, encoding="utf-8")
    names = ["motivation_median", "unemployment_rate", "fidelity", "public_stigma"]
    text = 'name = "huge"\nscenario = "s.toml"\n[design]\nmethod = "grid"\nlevels = 1000\n'
    text += "".join(f"[parameters.{n}]\n" for n in names)
    (folder / "huge.toml").write_text(text, encoding="utf-8")


def _fit(target_text: str) -> Callable[[Path], None]:
    """A fit whose one target reads ``target_text`` from its targets file."""

    def setup(folder: Path) -> None:
        metric = 'target = "t1"\ntarget_key = "value"'
        (folder / "t.toml").write_text(TRIAL.format(extra="", metric=metric), encoding="utf-8")
        (folder / "targets.toml").write_text(target_text, encoding="utf-8")
        (folder / "fit.toml").write_text(
            'name = "f"\n[free.hope_rate_per_week]\n[[targets]]\ntrial = "t.toml"\n'
            'metric = "worked"\nscale = 0.1\n',
            encoding="utf-8",
        )

    return setup


RUN = ("run", "s.toml", "--out", "out/x")
CALIBRATE = ("calibrate", "fit.toml", "--out", "out/f")

CASES = [
    Case("bool-seed", RUN, ("s.toml", "seed = true"), _write("s.toml", "seed = true\n" + TINY)),
    Case(
        "bool-replicates-true",
        RUN,
        ("s.toml", "replicates = true"),
        _write("s.toml", TINY.replace("replicates = 1", "replicates = true")),
    ),
    Case(
        "bool-set",
        (*RUN, "--set", "sites.0.public_stigma=true"),
        ("s.toml", "sites.0.public_stigma"),
        _write("s.toml", TINY),
    ),
    Case(
        "string-set",
        (*RUN, "--set", "unemployment_rate=z"),
        ("s.toml", "unemployment_rate", "'z'"),
        _write("s.toml", TINY),
    ),
    Case("extends-chain", ("run", "c0.toml"), ("extends", "limit of 32", "c0.toml"), _chain),
    Case("symlink-loop", ("run", "s.toml"), ("s.toml", "extends", "loop"), _symlink_loop),
    Case("fifo-input", ("run", "fifo.toml"), ("fifo.toml", "not a regular file"), _fifo),
    Case(
        "extends-dev-zero",
        ("run", "s.toml"),
        ("s.toml", "extends", "/dev/zero"),
        _write("s.toml", 'extends = "/dev/zero"\n'),
    ),
    Case("deep-nesting", ("run", "deep.toml"), ("deep.toml", "nested"), _deep),
    Case(
        "not-utf8",
        ("run", "s.toml"),
        ("s.toml", "UTF-8"),
        lambda f: (f / "s.toml").write_bytes(b'name = "\xff"\n'),
    ),
    Case(
        "huge-weeks",
        (*RUN, "--weeks", "1000000000000"),
        ("--weeks", "1,040"),
        _write("s.toml", TINY),
    ),
    Case(
        "huge-replicates",
        (*RUN, "--replicates", "1000000000"),
        ("--replicates", "10,000"),
        _write("s.toml", TINY),
    ),
    Case(
        "memory-estimate",
        (*RUN, "--replicates", "10000", "--set", "population.size=200000"),
        ("s.toml", "--replicates", "GiB"),
        _write("s.toml", TINY),
    ),
    Case(
        "huge-population",
        RUN,
        ("s.toml", "population.size"),
        _write("s.toml", TINY.replace("size = 20", "size = 100000000")),
    ),
    Case(
        "huge-places",
        RUN,
        ("s.toml", "teams.0.places.supported_employment"),
        _write(
            "s.toml",
            TINY + "[[teams]]\nplaces = { supported_employment = 10000000000000000000000 }\n",
        ),
    ),
    Case(
        "trial-threshold-nan",
        ("trial", "t.toml", "--out", "out/t"),
        ("t.toml", "threshold"),
        _write("t.toml", TRIAL.format(extra="", metric="threshold = nan")),
    ),
    Case(
        "trial-bool-replicates",
        ("trial", "t.toml", "--out", "out/t"),
        ("t.toml", "replicates = true"),
        _write(
            "t.toml",
            TRIAL.format(extra="", metric="").replace("replicates = 1", "replicates = true"),
        ),
    ),
    Case(
        "trial-duplicate-metric",
        ("trial", "t.toml", "--out", "out/t"),
        ("t.toml", "metrics", "worked"),
        _write(
            "t.toml",
            TRIAL.format(extra="", metric="")
            + '[[metrics]]\nname = "worked"\nkind = "mean"\noutcome = "hope"\n',
        ),
    ),
    Case(
        "trial-rr-without-control",
        ("trial", "t.toml", "--out", "out/t"),
        ("t.toml", "metrics.0", "relative_risk"),
        _write(
            "t.toml",
            TRIAL.format(extra="", metric="")
            .replace('intervention = "supported_employment"\n', "")
            .replace('kind = "share"', 'kind = "relative_risk"'),
        ),
    ),
    Case(
        "trial-size",
        ("trial", "t.toml", "--out", "out/t", "--replicates", "10000"),
        ("t.toml", "n_per_arm or replicates", "20,000,000"),
        _write(
            "t.toml",
            TRIAL.format(extra="", metric="").replace("n_per_arm = 10", "n_per_arm = 5000"),
        ),
    ),
    Case(
        "trial-unknown-outcome",
        ("trial", "t.toml", "--out", "out/t"),
        ("t.toml", "metrics.0.outcome", "'nope'"),
        _write("t.toml", TRIAL.format(extra="", metric="").replace("ever_employed", "nope")),
    ),
    Case(
        "trial-no-metrics",
        ("trial", "t.toml", "--out", "out/t"),
        ("t.toml", "metrics"),
        _write("t.toml", "metrics = []\n" + TRIAL.format(extra="", metric="").split("[[")[0]),
    ),
    Case(
        "trial-fifo",
        ("trial", "fifo.toml", "--out", "out/t"),
        ("fifo.toml", "not a regular file"),
        _fifo,
    ),
    Case(
        "posterior-nan-weight",
        (*RUN, "--posterior", "post.parquet"),
        ("post.parquet", "weight"),
        _posterior(math.nan, 0.06),
    ),
    Case(
        "posterior-out-of-bounds",
        (*RUN, "--posterior", "post.parquet"),
        ("post.parquet", "unemployment_rate", "out of bounds"),
        _posterior(1.0, 0.9),
    ),
    Case(
        "posterior-shadowed-by-site",
        (*RUN, "--posterior", "post.parquet"),
        ("post.parquet", "column unemployment_rate", "sites.0.unemployment_rate"),
        _posterior(1.0, 0.06, TINY + "[[sites]]\nunemployment_rate = 0.05\n"),
    ),
    Case(
        "posterior-fifo",
        (*RUN, "--posterior", "fifo.toml"),
        ("fifo.toml", "not a regular file"),
        lambda f: (_write("s.toml", TINY)(f), _fifo(f)),
    ),
    Case(
        "targets-string-value",
        CALIBRATE,
        ("targets.toml", "'t1'", "'value'"),
        _fit('[[target]]\nid = "t1"\nvalue = "z"\n'),
    ),
    Case(
        "targets-without-id",
        CALIBRATE,
        ("targets.toml", "target.0", "id"),
        _fit("[[target]]\nvalue = 0.5\n"),
    ),
    Case(
        "grid-design-size",
        ("sweep", "huge.toml", "--out", "out/h"),
        ("huge.toml", "design", "design.levels"),
        _experiment,
    ),
    Case(
        "parameters-vs-site",
        RUN,
        ("s.toml", "parameters.unemployment_rate", "sites.0"),
        _write(
            "s.toml",
            TINY + "[parameters]\nunemployment_rate = 0.14\n[[sites]]\nunemployment_rate = 0.05\n",
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_error_line(case: Case, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECOVERY_SIM_DEBUG", raising=False)
    if case.setup is not None:
        case.setup(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(main, list(case.args))
    stderr = result.stderr
    assert result.exit_code == 2, (result.exit_code, stderr, result.exception)
    assert "Traceback" not in stderr + result.stdout
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    for fragment in case.fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_a_programming_error_shows_its_traceback(tmp_path: Path, monkeypatch) -> None:
    """A KeyError (or a plain ValueError) inside a study is a bug, not the user's fault."""
    import sim.studies.compare as compare

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(TINY, encoding="utf-8")
    for exception in (KeyError("stage"), ValueError("internal shape mismatch")):

        def broken(*args, exception=exception, **kwargs):
            raise exception

        monkeypatch.setattr(compare, "run_scenario", broken)
        result = CliRunner().invoke(main, list(RUN))
        assert result.exit_code != 2
        assert isinstance(result.exception, type(exception))
        assert "error:" not in result.stderr
        text = "".join(traceback.format_exception(result.exception))
        assert "Traceback" in text and "broken" in text
        assert not (tmp_path / "out" / "x").exists()


def test_user_errors_share_one_base() -> None:
    from sim.core.parameter import ParameterError
    from sim.core.world import WorldError
    from sim.files.experiment import ExperimentError
    from sim.files.outputs import OutputError
    from sim.files.posterior import PosteriorError
    from sim.files.scenario import ScenarioError
    from sim.studies.calibration import CalibrationError
    from sim.studies.trials import TrialError

    for kind in (
        ParameterError,
        WorldError,
        ScenarioError,
        ExperimentError,
        TrialError,
        CalibrationError,
        PosteriorError,
        OutputError,
    ):
        assert issubclass(kind, UserError) and issubclass(kind, ValueError)
    assert issubclass(OutputError, OSError)


def test_api_refuses_over_limits() -> None:
    from sim.api import simulate

    with pytest.raises(UserError, match="weeks"):
        simulate(weeks=errors.MAX_WEEKS + 1, n_agents=10)
    with pytest.raises(UserError, match="n_agents"):
        simulate(weeks=2, n_agents=True)
    with pytest.raises(UserError, match="replicates"):
        simulate(weeks=2, n_agents=10, replicates=errors.MAX_REPLICATES + 1)


def test_set_overrides_every_site_while_parameters_table_is_refused(tmp_path: Path) -> None:
    """`--set NAME=VALUE` sets every site; the same value in [parameters] alone is refused."""
    from sim.faces.cli.main import load
    from sim.files.scenario import ScenarioError

    base = tmp_path / "base.toml"
    base.write_text(TINY + "[[sites]]\nunemployment_rate = 0.05\n", encoding="utf-8")
    child = tmp_path / "child.toml"
    child.write_text('extends = "base.toml"\n[parameters]\nunemployment_rate = 0.14\n')
    scenario = load(base, ["unemployment_rate=0.14"])
    assert [s.unemployment_rate for s in scenario.world().sites] == [0.14]
    with pytest.raises(ScenarioError, match=r"child\.toml: parameters\.unemployment_rate"):
        load(child, [])
    assert load(child, ["unemployment_rate=0.14"]).parameters()["unemployment_rate"] == 0.14


def test_api_refuses_a_parameter_the_world_overrides() -> None:
    from sim.api import simulate
    from sim.core.world import Site, make_world

    world = make_world(10, sites=[Site(unemployment_rate=0.05)])
    with pytest.raises(UserError, match=r"unemployment_rate = 0.14 would be ignored.*sites\.0"):
        simulate({"unemployment_rate": 0.14}, weeks=2, world=world)


# ------------------------------------------------------------ stopped, not broken


def _stopping_group(raise_it):
    import click

    from sim.faces.cli.main import ErrorHandlingGroup

    @click.group(cls=ErrorHandlingGroup)
    def group() -> None:
        pass

    @group.command()
    def work() -> None:
        raise_it()

    return group


def _ctrl_c() -> None:
    raise KeyboardInterrupt


def _sigterm() -> None:
    from sim.studies.processes import Terminated

    raise Terminated(15)  # what the CLI's SIGTERM handler raises


def _import_cut_short() -> None:
    try:
        raise KeyboardInterrupt  # Ctrl+C while a C extension initialises ...
    except KeyboardInterrupt:
        raise ImportError("initialization failed")  # noqa: B904 -- ... as it reports it


@pytest.mark.parametrize(
    ("raise_it", "code"),
    [(_ctrl_c, 130), (_sigterm, 143), (_import_cut_short, 130)],
    ids=["ctrl-c", "sigterm", "import-cut-short"],
)
def test_an_interrupted_command_exits_128_plus_the_signal_without_traceback(raise_it, code):
    from click.testing import CliRunner

    result = CliRunner().invoke(_stopping_group(raise_it), ["work"])
    assert result.exit_code == code, result.output
    assert "stopped by" in result.stderr and "Aborted" not in result.output
    assert "Traceback" not in result.output and "error:" not in result.stderr


@pytest.mark.parametrize(
    ("command", "path", "kind", "takes"),
    [
        ("run", "experiments/sa_sobol_levers.toml", "an experiment", "recovery-sim sweep"),
        ("sensitivity", "scenarios/baseline.toml", "a scenario", "recovery-sim run"),
        ("run", "experiments/trials/eqolise.toml", "a trial", "recovery-sim trial"),
        ("sweep", "experiments/trials/eqolise.toml", "a trial", "recovery-sim trial"),
        ("run", "calibration/fit.toml", "a fit", "recovery-sim calibrate"),
    ],
)
def test_a_file_given_to_the_wrong_command_names_its_kind_and_command(
    tmp_path, command, path, kind, takes
):
    from click.testing import CliRunner

    from sim.faces.cli.main import main

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [command, str(root / path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"looks like {kind} file" in lines[0] and takes in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()
