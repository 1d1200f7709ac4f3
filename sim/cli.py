"""The ``recovery-sim`` command line (also ``python -m sim``).

Commands:

- ``params [NAME] [--level LEVEL]`` -- the parameter registry, or one parameter.
- ``logic-model [--draw FILE.png]`` -- print the logic model, or draw it.
- ``run`` -- run the baseline scenario and write ``series.parquet``,
  ``summary.csv`` and ``manifest.json``.

Every error a user can cause (an unknown or out-of-bounds parameter, an
impossible world, a bad option, an unwritable output folder) is printed by
:class:`ErrorHandlingGroup` as ``error: ...`` on stderr with exit code 2, without
a traceback. Set ``RECOVERY_SIM_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

import sim
from sim.api import SimulationOutput, design_seeds, simulate
from sim.metrics import METRICS, SUMMARY_METRICS
from sim.parameters import LEVELS, REGISTRY, Parameter, ParameterError, lookup, validate
from sim.world import World, WorldError, make_world

__all__ = ["USER_ERRORS", "ErrorHandlingGroup", "Scenario", "baseline_scenario", "main",
           "parse_assignments", "summary_table"]

USER_ERRORS: tuple[type[Exception], ...] = (ParameterError, WorldError, ValueError, OSError)
OUTPUT_FILES = ("series.parquet", "summary.csv", "manifest.json")


class ErrorHandlingGroup(click.Group):
    """A click group that turns user errors into ``error: ...`` and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        """Invoke the subcommand; print user errors in one or two lines, exit 2."""
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            hint = ""
            if error.ctx is not None:
                hint = f"try '{error.ctx.command_path} --help'"
            _fail(ctx, error.format_message(), hint)
        except USER_ERRORS as error:
            if isinstance(error, OSError) and error.errno == errno.EPIPE:
                raise  # click exits quietly when the reader of stdout goes away
            if os.environ.get("RECOVERY_SIM_DEBUG"):
                raise
            _fail(ctx, str(error) or type(error).__name__)


def _fail(ctx: click.Context, message: str, hint: str = "") -> None:
    lines = [line for line in message.strip().splitlines() if line.strip()] or ["failed"]
    click.echo(f"error: {lines[0]}", err=True)
    second = hint or (" ".join(lines[1:]) if len(lines) > 1 else "")
    if second:
        click.echo(f"  {second}", err=True)
    ctx.exit(2)


@click.group(cls=ErrorHandlingGroup, epilog="""\b
Examples:
  recovery-sim params unemployment_rate
  recovery-sim logic-model --draw logic_model.png
  recovery-sim run --replicates 10 --set unemployment_rate=0.12""")
@click.version_option(sim.__version__, prog_name="recovery-sim")
def main() -> None:
    """Recovery Pathways: an agent-based simulation of personal mental-health recovery."""


# ----------------------------------------------------------------------------- params


def _format_number(value: float) -> str:
    return f"{value:g}"


def _bounds(parameter: Parameter) -> str:
    return f"[{_format_number(parameter.low)}, {_format_number(parameter.high)}]"


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces; a dashed rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _parameter_table(level: str | None) -> str:
    chosen = [p for p in REGISTRY.values() if level is None or p.level == level]
    rows = [("name", "default", "bounds", "unit", "level", "source")]
    rows += [(p.name, _format_number(p.default), _bounds(p), p.unit, p.level,
              "published" if p.published else "assumption") for p in chosen]
    published = sum(p.published for p in chosen)
    footer = (f"{len(chosen)} parameters ({published} with a published source); "
              "`recovery-sim params NAME` shows one in full")
    return "\n".join([*_aligned(rows), "", footer])


def _parameter_card(parameter: Parameter) -> str:
    distribution = parameter.distribution + (" (whole numbers)" if parameter.integer else "")
    fields = (("default", _format_number(parameter.default)), ("bounds", _bounds(parameter)),
              ("unit", parameter.unit), ("level", parameter.level),
              ("distribution", distribution), ("description", parameter.description),
              ("source", parameter.source))
    return "\n".join([parameter.name] + [f"  {key:<13} {value}" for key, value in fields])


@main.command(epilog="""\b
Examples:
  recovery-sim params
  recovery-sim params --level environment
  recovery-sim params unemployment_rate""")
@click.argument("name", required=False)
@click.option("--level", type=click.Choice(LEVELS), help="Only the parameters of this level.")
def params(name: str | None, level: str | None) -> None:
    """Show the parameter registry, or one parameter NAME in full."""
    if name is not None and level is not None:
        raise click.UsageError("give a NAME or --level, not both")
    click.echo(_parameter_card(lookup(name)) if name is not None else _parameter_table(level))


# ------------------------------------------------------------------------ logic-model


@main.command("logic-model", epilog="""\b
Examples:
  recovery-sim logic-model
  recovery-sim logic-model --draw logic_model.png""")
@click.option("--draw", "draw_path", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE.png", help="Draw the logic model to this PNG file instead.")
def logic_model(draw_path: Path | None) -> None:
    """Print the logic model as text, or draw it to a PNG file."""
    if draw_path is None:
        from sim.logic_model import describe

        click.echo(describe())
        return
    if draw_path.suffix.lower() != ".png":
        raise ValueError(f"--draw needs a file name ending in .png, got {str(draw_path)!r}")
    from sim.diagram import draw_logic_model

    click.echo(f"wrote {draw_logic_model(draw_path)}")


# -------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class Scenario:
    """What ``run`` simulates: a named world and parameter overrides.

    Attributes:
        name: Scenario name; the default output folder is ``out/<name>``.
        world: Sites, teams and offers.
        overrides: The parameters the scenario sets (the rest take defaults).
        parameters: The full validated parameter set.
    """

    name: str
    world: World
    overrides: dict[str, float]
    parameters: dict[str, float]


def parse_assignments(assignments: Sequence[str]) -> dict[str, float]:
    """Parse ``--set name=value`` options into a validated override mapping.

    Args:
        assignments: Strings of the form ``name=value``.

    Returns:
        Parameter name -> value, each checked against the registry.

    Raises:
        ParameterError: For a malformed assignment, a repeated or unknown
            name, a value that is not a number or is out of bounds.
    """
    overrides: dict[str, float] = {}
    for text in assignments:
        name, sep, raw = (part.strip() for part in text.partition("="))
        if not sep or not name:
            raise ParameterError(f"--set expects NAME=VALUE, got {text!r}")
        if name in overrides:
            raise ParameterError(f"--set {name} given more than once")
        try:
            value: object = float(raw)
        except ValueError:
            value = raw
        overrides[name] = lookup(name, where="--set").check(value, where="--set")
    return overrides


def baseline_scenario(n_agents: int, overrides: dict[str, float] | None = None) -> Scenario:
    """The embedded baseline: one site, one team, registry defaults, nothing offered.

    Args:
        n_agents: Number of service users.
        overrides: Parameter values replacing the defaults.

    Returns:
        The scenario, with its parameters validated.
    """
    chosen = dict(overrides or {})
    return Scenario("baseline", make_world(n_agents), chosen, validate(chosen))


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% interval over replicates of each summary metric at the final week.

    The interval runs from the 2.5th to the 97.5th percentile of the replicate
    values (linear interpolation), so it describes run-to-run spread.

    Args:
        summary: One row per run with a column per :data:`sim.metrics.SUMMARY_METRICS`.

    Returns:
        One row per metric: ``mean``, ``low_95``, ``high_95``.
    """
    values = summary[list(SUMMARY_METRICS)]
    return pd.DataFrame({"mean": values.mean(), "low_95": values.quantile(0.025),
                         "high_95": values.quantile(0.975)}).rename_axis("metric")


def _format_summary(table: pd.DataFrame) -> str:
    rows = [("metric", "mean", "95% interval", "description")]
    rows += [(metric, f"{row['mean']:.3f}", f"[{row['low_95']:.3f}, {row['high_95']:.3f}]",
              METRICS.get(metric, ("", ""))[1]) for metric, row in table.iterrows()]
    return "\n".join(_aligned(rows))


def _git(*args: str) -> str | None:
    """Output of a git command run in the package's folder, or None if it fails."""
    try:
        done = subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _manifest(scenario: Scenario, settings: dict[str, int], timings: dict[str, float]) -> dict:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "scenario": scenario.name,
        "package": "recovery-pathways",
        "version": sim.__version__,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": list(sys.argv),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "settings": settings,
        "overrides": scenario.overrides,
        "parameters": scenario.parameters,
        "seeds": [s.as_dict() for s in design_seeds(settings["seed"], 1, settings["replicates"])],
        "timings_seconds": {name: round(value, 3) for name, value in timings.items()},
        "files": list(OUTPUT_FILES),
    }


@contextmanager
def _staged_folder(target: Path) -> Iterator[Path]:
    """Yield an empty folder next to ``target``; on success it replaces ``target``.

    On any error the staging folder is removed and ``target`` is left as it was.
    """
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"cannot write output folder {target}: it is a file")
    blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(f"cannot write output folder {target}: {blocking} is a file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent))
    except OSError as error:
        raise OSError(f"cannot write output folder {target}: {error.strerror or error}") from error
    try:
        mask = os.umask(0)
        os.umask(mask)
        staging.chmod(0o777 & ~mask)
        yield staging
        _swap_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    previous = staging.with_name(staging.name + ".old")
    os.replace(target, previous)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(previous, target)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _write_outputs(folder: Path, output: SimulationOutput, manifest: dict) -> None:
    """Write the data files, then the manifest (with the time the writes took)."""
    started = time.perf_counter()
    output.series.to_parquet(folder / "series.parquet", index=False)
    output.summary.to_csv(folder / "summary.csv", index=False)
    manifest["timings_seconds"]["write"] = round(time.perf_counter() - started, 3)
    text = json.dumps(manifest, indent=2) + "\n"
    (folder / "manifest.json").write_text(text, encoding="utf-8")


@main.command(epilog="""\b
Examples:
  recovery-sim run
  recovery-sim run --replicates 10 --seed 3 --out out/high_unemployment \\
      --set unemployment_rate=0.14 --set public_stigma=0.7""")
@click.option("--replicates", type=int, default=5, show_default=True,
              help="Independent replicates.")
@click.option("--seed", type=int, default=0, show_default=True, help="Experiment seed (>= 0).")
@click.option("--weeks", type=int, default=104, show_default=True, help="Horizon in weeks.")
@click.option("--agents", "n_agents", type=int, default=500, show_default=True,
              help="Service users per run.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output folder  [default: out/baseline]")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="Override a registry parameter (repeatable).")
def run(replicates: int, seed: int, weeks: int, n_agents: int, out_dir: Path | None,
        assignments: tuple[str, ...]) -> None:
    """Run the baseline scenario and write its results.

    The baseline is one site and one team on the registry defaults, with no
    intervention offered. Writes series.parquet (tidy weekly metrics),
    summary.csv (each summary metric at the final week, one row per
    replicate) and manifest.json (version, commit, parameters, seeds,
    command, timings) into the output folder, which appears only when
    complete.
    """
    _check_counts(replicates=replicates, seed=seed, weeks=weeks, agents=n_agents)
    scenario = baseline_scenario(n_agents, parse_assignments(assignments))
    target = out_dir if out_dir is not None else Path("out") / scenario.name
    settings = {"replicates": replicates, "seed": seed, "weeks": weeks, "n_agents": n_agents}
    started = time.perf_counter()
    with _staged_folder(target) as folder:
        click.echo(f"running {scenario.name}: {replicates} replicates x {n_agents} users x "
                   f"{weeks} weeks (seed {seed}) ...", err=True)
        output = simulate(scenario.overrides, replicates=replicates, seed=seed, weeks=weeks,
                          world=scenario.world)
        timings = {"simulate": time.perf_counter() - started}
        _write_outputs(folder, output, _manifest(scenario, settings, timings))
    click.echo(f"done in {time.perf_counter() - started:.1f} s", err=True)
    click.echo(_format_summary(summary_table(output.summary)))
    click.echo(f"\nwrote {target}{os.sep} ({', '.join(OUTPUT_FILES)})")


def _check_counts(**counts: int) -> None:
    """Raise ValueError naming the option if a count is out of range."""
    for option, value in counts.items():
        least = 0 if option == "seed" else 1
        if value < least:
            raise ValueError(f"--{option} must be >= {least}, got {value}")
