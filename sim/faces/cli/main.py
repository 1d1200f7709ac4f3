"""The ``recovery-sim`` command line (also ``python -m sim``).

Commands:

- ``params [NAME] [--level LEVEL]`` -- the parameter registry, or one parameter.
- ``logic-model [--draw FILE.png]`` -- print the logic model, or draw it.
- ``run [SCENARIO]`` -- run a scenario file or a shipped scenario's name (default: the
  embedded baseline) and write tables, figures, a manifest and an HTML report.
- ``compare A B [...]`` -- compare scenarios on common random numbers.
- ``validate FILE...`` -- check scenario files without running them.
- ``scenarios`` -- list the shipped scenarios (and the shipped trials).
- ``sweep``, ``results FOLDER``, ``sensitivity``, ``trial``, ``calibrate``, ... -- the
  studies (registered by :func:`_register_study_commands`); ``results`` prints a sweep's
  runs as one tidy table.

A SCENARIO (or a trial's EXPERIMENT) is a path; if no such file exists, it is the name
of a shipped file (its stem, ``-`` or ``_``: ``ips-scale-up``), read from the package
data (:mod:`sim.files.shipped`), so the shipped names work from any folder.

The module imports only click and the parameter registry; the model, pandas and the
figures load inside the commands (``recovery-sim --help`` stays fast).

Every error a user can cause (an unknown or out-of-bounds parameter, an
impossible world, a bad option, an unreadable input file, an unwritable output
folder, an input over one of the limits of :mod:`sim.core.errors`) is a
:class:`~sim.core.errors.UserError` and is printed by :class:`ErrorHandlingGroup`
as ``error: ...`` on stderr with exit code 2, without a traceback (exit code 1 for
the one user error that is not about an input: a sweep whose worker process died,
which ``--resume`` continues). Ctrl+C exits with 130 and SIGTERM with 143 (128 + the
signal, as a shell reports it), after the same clean-up; never "Aborted!". Set
``RECOVERY_SIM_DEBUG=1`` to see the traceback instead. Any other exception is a
bug and shows its traceback (exit 1).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import sim
from sim.core.errors import MAX_REPLICATES, MAX_WEEKS, UserError, check_limit, check_memory
from sim.core.parameter import LEVELS, Parameter
from sim.core.parameters import REGISTRY, lookup
from sim.files import shipped

if TYPE_CHECKING:  # the model, pandas and the figures load inside the commands that need them
    import pandas as pd

    from sim.files.scenario import Scenario
    from sim.studies.compare import ScenarioResult

__all__ = ["USER_ERRORS", "ErrorHandlingGroup", "load", "main"]

USER_ERRORS: tuple[type[Exception], ...] = (UserError,)


def _is_user_error(error: BaseException) -> bool:
    """Whether ``error`` is the user's to fix (printed as ``error:``), not a bug.

    Exactly :class:`~sim.core.errors.UserError` and its subclasses are; anything else
    shows its traceback.
    """
    return isinstance(error, USER_ERRORS)


class ErrorHandlingGroup(click.Group):
    """A click group that turns user errors into ``error: ...`` and exit code 2.

    Only user errors (:func:`_is_user_error`) are printed this way; any other
    exception is a programming error and shows its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Invoke the subcommand; print user errors in one or two lines, exit 2."""
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            hint = ""
            if error.ctx is not None:
                hint = f"try '{error.ctx.command_path} --help'"
            _fail(ctx, error.format_message(), hint)
        except Exception as error:
            interrupt = _interrupt_behind(error)
            if interrupt is not None:  # e.g. a C extension's import failed on Ctrl+C
                _stopped(ctx, interrupt)
            if not _is_user_error(error) or os.environ.get("RECOVERY_SIM_DEBUG"):
                raise
            _fail(ctx, str(error) or type(error).__name__, code=getattr(error, "exit_code", 2))
        except KeyboardInterrupt as interrupt:  # Ctrl+C, or SIGTERM (see sim.studies.processes)
            _stopped(ctx, interrupt)


def _interrupt_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl+C or SIGTERM that ``error`` was raised while handling, or None.

    A C extension whose import is cut short by Ctrl+C raises ``ImportError`` (from
    the interrupt): the command was stopped, not broken.
    """
    seen: set[int] = set()
    cause = error.__cause__ or error.__context__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _stopped(ctx: click.Context, interrupt: BaseException) -> None:
    """Exit 130 after Ctrl+C, 143 after SIGTERM (clean-up has run while unwinding)."""
    from sim.studies.processes import exit_code

    code = exit_code(interrupt)
    how = "Ctrl+C" if code == 130 else f"signal {code - 128} (SIGTERM)"
    click.echo(f"\nstopped by {how}; cleaned up", err=True)
    ctx.exit(code)


def _fail(ctx: click.Context, message: str, hint: str = "", *, code: int = 2) -> None:
    lines = [line for line in message.strip().splitlines() if line.strip()] or ["failed"]
    click.echo(f"error: {lines[0]}", err=True)
    second = hint or (" ".join(lines[1:]) if len(lines) > 1 else "")
    if second:
        click.echo(f"  {second}", err=True)
    ctx.exit(code)


@click.group(
    cls=ErrorHandlingGroup,
    epilog="""\b
Examples:
  recovery-sim params unemployment_rate
  recovery-sim logic-model --draw logic_model.png
  recovery-sim scenarios
  recovery-sim run ips-scale-up --set unemployment_rate=0.12
  recovery-sim compare baseline ips-scale-up
  recovery-sim run scenarios/ips_scale_up.toml
  recovery-sim validate scenarios/*.toml

A SCENARIO is a TOML file, or the name of a shipped scenario (`recovery-sim
scenarios` lists them); a file that exists wins over a shipped name.""",
)
@click.version_option(sim.__version__, prog_name="recovery-sim")
def main() -> None:
    """Recovery Pathways: an agent-based simulation of personal mental-health recovery."""
    from sim.studies.processes import install_sigterm_as_interrupt

    install_sigterm_as_interrupt()  # `kill` cleans up (temporary folders, locks) as Ctrl+C does


# ----------------------------------------------------------------------------- params


def _format_number(value: float) -> str:
    return f"{value:g}"


def _bounds(parameter: Parameter) -> str:
    return f"[{_format_number(parameter.low)}, {_format_number(parameter.high)}]"


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces; a dashed rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _parameter_table(level: str | None) -> str:
    chosen = [p for p in REGISTRY.values() if level is None or p.level == level]
    rows = [("name", "default", "bounds", "unit", "level", "source")]
    rows += [
        (
            p.name,
            _format_number(p.default),
            _bounds(p),
            p.unit,
            p.level,
            "published" if p.published else "assumption",
        )
        for p in chosen
    ]
    published = sum(p.published for p in chosen)
    footer = (
        f"{len(chosen)} parameters ({published} with a published source); "
        "`recovery-sim params NAME` shows one in full"
    )
    return "\n".join([*_aligned(rows), "", footer])


def _parameter_card(parameter: Parameter) -> str:
    distribution = parameter.distribution + (" (whole numbers)" if parameter.integer else "")
    fields = (
        ("default", _format_number(parameter.default)),
        ("bounds", _bounds(parameter)),
        ("unit", parameter.unit),
        ("level", parameter.level),
        ("distribution", distribution),
        ("description", parameter.description),
        ("source", parameter.source),
    )
    return "\n".join([parameter.name] + [f"  {key:<13} {value}" for key, value in fields])


@main.command(
    epilog="""\b
Examples:
  recovery-sim params
  recovery-sim params --level environment
  recovery-sim params unemployment_rate"""
)
@click.argument("name", required=False)
@click.option("--level", type=click.Choice(LEVELS), help="Only the parameters of this level.")
def params(name: str | None, level: str | None) -> None:
    """Show the parameter registry, or one parameter NAME in full."""
    if name is not None and level is not None:
        raise click.UsageError("give a NAME or --level, not both")
    click.echo(_parameter_card(lookup(name)) if name is not None else _parameter_table(level))


# ------------------------------------------------------------------------ logic-model


@main.command(
    "logic-model",
    epilog="""\b
Examples:
  recovery-sim logic-model
  recovery-sim logic-model --draw logic_model.png""",
)
@click.option(
    "--draw",
    "draw_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.png",
    help="Draw the logic model to this PNG file instead.",
)
def logic_model(draw_path: Path | None) -> None:
    """Print the logic model as text, or draw it to a PNG file."""
    if draw_path is None:
        from sim.core.logic_model import describe

        click.echo(describe())
        return
    if draw_path.suffix.lower() != ".png":
        raise UserError(f"--draw needs a file name ending in .png, got {str(draw_path)!r}")
    from sim.faces.reports.diagram import draw_logic_model

    click.echo(f"wrote {draw_logic_model(draw_path)}")


# ------------------------------------------------------------------ run and compare

_SCENARIO_OPTIONS = [
    click.option(
        "--replicates", type=int, default=None, help="Replicates  [default: the scenario's]"
    ),
    click.option(
        "--seed", type=int, default=None, help="Experiment seed  [default: the scenario's]"
    ),
    click.option("--weeks", type=int, default=None, help="Horizon  [default: the scenario's]"),
    click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY.PATH=VALUE",
        help="Override a scenario value, e.g. sites.0.unemployment_rate=0.12 or a "
        "registry name such as fidelity=0.9 (repeatable).",
    ),
    click.option(
        "--out",
        "out_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Output folder  [default: out/<scenario name>]",
    ),
    click.option(
        "--force",
        is_flag=True,
        help="Replace an existing --out folder; replaces only this tool's own "
        "output of the same kind.",
    ),
    click.option(
        "--posterior",
        type=click.Path(path_type=Path),
        default=None,
        help="A posterior ensemble (e.g. calibration/posterior.parquet): each "
        "replicate takes one parameter draw, adding parameter uncertainty.",
    ),
]


def _scenario_options(function: Any) -> Any:
    for option in reversed(_SCENARIO_OPTIONS):
        function = option(function)
    return function


def load(path: Path | str | None, overrides: Sequence[str]) -> Scenario:
    """A scenario file (or shipped name) with overrides; the embedded baseline for None.

    Raises:
        sim.files.shipped.ShippedNameError: If ``path`` is neither an existing file nor a
            shipped scenario's name (the message names the shipped ones).
    """
    from sim.files.scenario import apply_text_override, from_mapping, load_scenario

    if path is not None:
        return load_scenario(shipped.resolve("scenario", path), overrides)
    raw: dict[str, Any] = {
        "name": "baseline",
        "description": "Embedded baseline: usual care, registry defaults",
    }
    for text in overrides:
        apply_text_override(raw, text)
    return from_mapping(raw, path=Path("<embedded baseline>"))


_COUNT_LIMITS = {"replicates": MAX_REPLICATES, "weeks": MAX_WEEKS}


def _check_counts(**counts: int | None) -> None:
    """Raise UserError naming the option if a count is out of range (or over its limit)."""
    for option, value in counts.items():
        least = 0 if option == "seed" else 1
        if value is not None and value < least:
            raise UserError(f"--{option} must be >= {least}, got {value}")
        if value is not None and option in _COUNT_LIMITS:
            check_limit(value, _COUNT_LIMITS[option], f"--{option}")


def _check_size(scenario: Scenario, replicates: int | None, weeks: int | None) -> None:
    """Refuse, before any output folder exists, a run that cannot fit in memory."""
    spec = scenario.spec
    check_memory(
        spec.population.size,
        replicates or spec.replicates,
        weeks or spec.horizon_weeks,
        "--replicates, --weeks or population.size",
        where=str(scenario.path or scenario.name),
    )


def _read_posterior(path: Path | None, scenarios: Sequence[Scenario] = ()) -> pd.DataFrame | None:
    """The posterior file, refused if a scenario's site or team would shadow a column."""
    if path is None:
        return None
    from sim.core.world import shadowed
    from sim.files.posterior import PosteriorError, read_posterior

    frame = read_posterior(path)
    columns = {name: math.nan for name in frame.columns if name != "weight"}
    for scenario in scenarios:
        clashes = shadowed(scenario.world(), columns)
        if clashes:
            name = clashes[0].split(" = ")[0].rsplit(".", 1)[-1]
            raise PosteriorError(
                f"{path}: column {name} would be ignored: {scenario.path or scenario.name} "
                f"sets {clashes[0]}; remove that value from the scenario (or the column)"
            )
    return frame


def _simulate(
    scenario: Scenario,
    replicates: int | None,
    seed: int | None,
    weeks: int | None,
    posterior: pd.DataFrame | None = None,
) -> ScenarioResult:
    from sim.studies.compare import run_scenario

    spec = scenario.spec
    n_weeks = weeks or spec.horizon_weeks
    n_runs = replicates or spec.replicates
    click.echo(
        f"{scenario.name}: {n_runs} replicates x {spec.population.size} users x {n_weeks} weeks",
        err=True,
    )
    with click.progressbar(
        length=n_weeks, label="  simulating", file=sys.stderr, show_eta=True
    ) as bar:
        return run_scenario(
            scenario,
            replicates=replicates,
            seed=seed,
            weeks=weeks,
            progress=bar.update,
            posterior=posterior,
        )


def _print_summary(summary: pd.DataFrame, week: int) -> None:
    rows = [("scenario", "metric", f"mean (week {week})", "95% CI")]
    final = summary[summary.week == week]
    rows += [
        (r.scenario, r.metric, f"{r.mean:.3f}", f"[{r.ci_low:.3f}, {r.ci_high:.3f}]")
        for r in final.itertuples()
    ]
    click.echo("\n".join(_aligned(rows)))


@main.command(
    epilog="""\b
Examples:
  recovery-sim run
  recovery-sim run ips-scale-up --replicates 20 --weeks 52
  recovery-sim run scenarios/ips_scale_up.toml --replicates 20
  recovery-sim run scenarios/baseline.toml --set sites.0.unemployment_rate=0.12 \\
      --set fidelity=0.9 --out out/baseline-12pc"""
)
@click.argument("scenario", required=False, type=click.Path(path_type=Path))
@_scenario_options
def run(
    scenario: Path | None,
    replicates: int | None,
    seed: int | None,
    weeks: int | None,
    overrides: tuple[str, ...],
    out_dir: Path | None,
    force: bool,
    posterior: Path | None,
) -> None:
    """Run SCENARIO (a TOML file or shipped name; default: the embedded baseline).

    The output folder gets series.parquet (tidy weekly metrics), summary.csv (mean and
    95% interval over replicates at weeks 26, 52 and the horizon), manifest.json, the
    figures trajectories.png, stages.png and doses.png, and a self-contained
    report.html. It appears only when complete. SCENARIO may name a shipped scenario
    (`recovery-sim scenarios` lists them); a file that exists wins over a name.
    """
    from sim.faces.reports.run_folders import (
        default_summary_weeks,
        scenario_manifest,
        write_run,
    )
    from sim.files.outputs import atomic_folder

    _check_counts(replicates=replicates, seed=seed, weeks=weeks)
    loaded = load(scenario, overrides)
    _check_size(loaded, replicates, weeks)
    ensemble = _read_posterior(posterior, [loaded])
    target = out_dir if out_dir is not None else Path("out") / loaded.name
    with atomic_folder(target, "run", force=force, inputs=[scenario, posterior]) as folder:
        result = _simulate(loaded, replicates, seed, weeks, ensemble)
        horizon = int(result.series.week.max())
        manifest = scenario_manifest(
            [result],
            kind="run",
            command=sys.argv,
            posterior=None if posterior is None else str(posterior),
        )
        summary = write_run(
            result, folder, summary_weeks=default_summary_weeks(horizon), manifest=manifest
        )
    _print_summary(summary, horizon)
    click.echo(f"\nwrote {target}{os.sep} (report.html, series.parquet, summary.csv, ...)")


@main.command(
    epilog="""\b
Examples:
  recovery-sim compare baseline ips-scale-up
  recovery-sim compare scenarios/baseline.toml scenarios/ips_scale_up.toml
  recovery-sim compare stigmatising-context pro-recovery-context \\
      --replicates 20 --out out/context"""
)
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
@_scenario_options
@click.option(
    "--costs",
    "costs_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Costs file (unit costs, utilities, discounting; docs/formats/costs.md) "
    "[default: the shipped calibration/costs.toml]",
)
@click.option(
    "--perspective",
    type=click.Choice(["health_and_social_care", "societal"]),
    default=None,
    help="Costing perspective; societal counts earnings gained as a saving "
    "[default: the costs file's]",
)
def compare(
    scenarios: tuple[Path, ...],
    replicates: int | None,
    seed: int | None,
    weeks: int | None,
    overrides: tuple[str, ...],
    out_dir: Path | None,
    force: bool,
    posterior: Path | None,
    costs_path: Path | None,
    perspective: str | None,
) -> None:
    """Compare SCENARIOS (files or shipped names) against the first on common random numbers.

    Every scenario runs with the same seeds replicate by replicate (the first
    scenario's seed, replicates and horizon unless given), so differences are
    paired. Scenarios of different population sizes (users do not share draws one
    to one) or horizons (all run for the first's, unless --weeks) get a warning, on
    stderr and in the report. Writes differences.csv (paired differences and
    standardised mean differences with 95% intervals), forest.png, economics.csv
    (incremental cost and QALYs, ICER, net monetary benefit at £20,000 and £30,000
    per QALY, cost per extra person employed; 95% intervals), ce_plane.png, ceac.png
    and the run outputs.
    """
    from sim.faces.reports.run_folders import (
        default_summary_weeks,
        scenario_manifest,
        write_comparison,
    )
    from sim.files.outputs import atomic_folder
    from sim.studies.compare import pairing_warnings

    if len(scenarios) < 2:
        raise click.UsageError("compare needs at least two scenario files")
    _check_counts(replicates=replicates, seed=seed, weeks=weeks)
    loaded = [load(path, overrides) for path in scenarios]
    for each in loaded:
        _check_size(each, replicates, weeks)
    names = [s.name for s in loaded]
    if len(set(names)) < len(names):
        raise UserError(f"scenario names must differ to be compared, got {names}")
    cautions = pairing_warnings(loaded, weeks=weeks)
    for caution in cautions:
        click.echo(f"warning: {caution}", err=True)
    first = loaded[0].spec
    replicates, seed = replicates or first.replicates, first.seed if seed is None else seed
    weeks = weeks or first.horizon_weeks
    target = out_dir if out_dir is not None else Path("out") / ("compare-" + "-vs-".join(names))
    ensemble = _read_posterior(posterior, loaded)
    from sim.files.costs import load_costs

    costs = load_costs(costs_path)
    with atomic_folder(
        target, "compare", force=force, inputs=[*scenarios, posterior, costs_path]
    ) as folder:
        results = [_simulate(s, replicates, seed, weeks, ensemble) for s in loaded]
        manifest = scenario_manifest(
            results,
            kind="compare",
            command=sys.argv,
            common_random_numbers=True,
            costs_file=str(costs_path) if costs_path else "calibration/costs.toml (shipped)",
            costs=costs.model_dump(),
            perspective=perspective or costs.perspective,
            pairing_warnings=cautions,
            posterior=None if posterior is None else str(posterior),
        )
        differences = write_comparison(
            results,
            folder,
            summary_weeks=default_summary_weeks(weeks),
            manifest=manifest,
            warnings=cautions,
            costs=costs,
            perspective=perspective,
        )
    _print_differences(differences)
    _print_episode_end_and_value(target, loaded, weeks)
    click.echo(
        f"\nwrote {target}{os.sep} (report.html, differences.csv, economics.csv, "
        "ce_plane.png, ceac.png, ...)"
    )


def _print_episode_end_and_value(target: Path, loaded: list, weeks: int) -> None:
    """The headline differences at the end of the longest episode, and value for money.

    An effect that is gone by the horizon (a closed cohort that has finished IPS) is
    still shown, so the printout never reads "no effect" only because it looked late.
    """
    import pandas as pd

    from sim.studies.compare import episode_end_week
    from sim.studies.economics import value_for_money_sentences

    end = episode_end_week(loaded, weeks)
    if end is not None:
        over = pd.read_csv(target / "differences_over_time.csv")
        picked = over[(over.week == end) & over.metric.isin(_EPISODE_METRICS)]
        click.echo(f"\nat week {end}, the end of the longest intervention episode offered:")
        rows = [("comparison", "metric", "difference", "95% CI")]
        rows += [
            (
                r.comparison,
                r.metric,
                f"{r.difference:+.3f}",
                f"[{r.diff_low:+.3f}, {r.diff_high:+.3f}]",
            )
            for r in picked.itertuples()
        ]
        click.echo("\n".join(_aligned(rows)))
    if any(sc.spec.service is not None or (sc.world().capacity >= 0).any() for sc in loaded):
        service = pd.read_csv(target / "service.csv")
        picked = service[service.measure.isin(_SERVICE_PRINTED)]
        click.echo(f"\nthe service over weeks 1-{weeks} (mean over replicates; see service.csv):")
        rows = [("scenario", "measure", "mean", "95% CI")]
        rows += [
            (r.scenario, r.measure, f"{r.mean:.1f}", f"[{r.low:.1f}, {r.high:.1f}]")
            for r in picked.itertuples()
        ]
        click.echo("\n".join(_aligned(rows)))
    economics = pd.read_csv(target / "economics.csv")
    economics["icer"] = [
        value if value in ("dominant", "dominated") else float(value) for value in economics.icer
    ]
    click.echo("\nvalue for money (costs and QALYs per person, discounted; see report.html):")
    click.echo(value_for_money_sentences(economics))


_EPISODE_METRICS = ("employed", "personal_recovery", "social_inclusion")
_SERVICE_PRINTED = (
    "mean_list_length",
    "mean_wait_weeks",
    "left_list_unplaced",
    "mean_time_to_first_job_weeks",
)


def _print_differences(differences: pd.DataFrame) -> None:
    import pandas as pd

    rows = [("comparison", "metric", "difference", "95% CI", "SMD")]
    rows += [
        (
            r.comparison,
            r.metric,
            f"{r.difference:+.3f}",
            f"[{r.diff_low:+.3f}, {r.diff_high:+.3f}]",
            "" if pd.isna(r.smd) else f"{r.smd:+.3f}",
        )
        for r in differences.itertuples()
    ]
    click.echo("\n".join(_aligned(rows)))


@main.command(
    epilog="""\b
Examples:
  recovery-sim validate scenarios/*.toml"""
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check scenario FILES without running them; exit 2 if any is invalid."""
    from sim.files.scenario import ScenarioError, load_scenario

    failures = []
    for path in files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as error:
            failures.append(str(error))
            continue
        spec = scenario.spec
        click.echo(
            f"ok: {path} ({scenario.name}: {spec.population.size} users, "
            f"{len(spec.sites)} sites, {len(spec.teams)} teams, "
            f"{spec.horizon_weeks} weeks)"
        )
    for failure in failures:
        click.echo(f"error: {failure}", err=True)
    if failures:
        click.get_current_context().exit(2)


@main.command(
    "scenarios",
    epilog="""\b
Examples:
  recovery-sim scenarios
  recovery-sim run ips-scale-up --replicates 5
  recovery-sim trial eqolise --replicates 5""",
)
def scenarios_command() -> None:
    """List the shipped scenarios (and trials) that run by name from any folder."""
    rows = [("name", "file", "description")]
    rows += [(f.title, f.path.name, f.description) for f in shipped.listing("scenario")]
    lines = _aligned(rows)
    lines += [
        "",
        f"{len(rows) - 1} shipped scenarios in {shipped.scenario_dir()}",
        "run one with `recovery-sim run NAME` (the file stem; - or _)",
        "",
        "shipped trials (`recovery-sim trial NAME`): " + ", ".join(shipped.names("trial")),
    ]
    click.echo("\n".join(lines))


def _register_study_commands() -> None:
    from sim.faces.cli.app_server import app
    from sim.faces.cli.discover import discover
    from sim.faces.cli.moderators import moderators
    from sim.faces.cli.results import results
    from sim.faces.cli.sensitivity import sensitivity
    from sim.faces.cli.sweep import sweep
    from sim.faces.cli.trials import calibrate, trial
    from sim.faces.cli.validation import validate_evidence

    commands = (sweep, results, sensitivity, trial, calibrate, validate_evidence, moderators, app)
    for command in commands:
        main.add_command(command)
    main.add_command(discover)


_register_study_commands()
