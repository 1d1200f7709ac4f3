"""Generate the file-format references ``docs/formats/<kind>.md`` from the pydantic schemas.

Each input file kind (scenario, experiment, trial, fit, validation, costs) is validated by a
pydantic model; its page is derived from that model -- every key, type, allowed values,
default, whether it is required and the field's ``description`` -- so the reference
cannot drift from what the loader accepts. Each page ends with a shipped file as a
complete example, and that file is validated by the kind's own loader while the page
is generated, so a stale example fails the generation (and ``tests/test_docs_formats.py``).

Registry parameters are not listed one by one: a key that may be any registry parameter
(of a level) is one row pointing to ``docs/PARAMETERS.md``.

Regenerate with::

    python -m sim.faces.reports.formats_gen
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from sim.faces.reports.docs_gen import generator_main, write_atomic
from sim.faces.reports.schema_tables import key_rows, key_table, schema_models, table_row
from sim.files.costs import CostTable, load_costs
from sim.files.experiment import ExperimentSpec, load_experiment
from sim.files.scenario import ScenarioSpec, load_scenario
from sim.studies.calibration import FitSpec, load_fit
from sim.studies.trials import TrialSpec, load_trial
from sim.studies.validation import ValidationSpec, load_validation

__all__ = ["DEFAULT_FOLDER", "KINDS", "format_pages", "main", "schema_models", "write_format_pages"]

_SOURCE_TREE = Path(__file__).resolve().parents[3]
_IN_SOURCE = (_SOURCE_TREE / "pyproject.toml").is_file()
# docs/formats of the source checkout; None in an installed wheel (give a folder then)
DEFAULT_FOLDER = _SOURCE_TREE / "docs" / "formats" if _IN_SOURCE else None
COMMAND = "python -m sim.faces.reports.formats_gen"


@dataclass(frozen=True)
class Kind:
    """One input file kind: its schema, its loader and a shipped example."""

    name: str
    title: str
    model: type[BaseModel]
    intro: tuple[str, ...]
    commands: tuple[str, ...]
    example: str  # path in the source tree
    load: Callable[[Path], object]
    context: type[BaseModel] | None = None  # a trial's other keys: a scenario's
    # (heading, module, first words, words ending the part) of the module docstring quoted
    notes: tuple[tuple[str, str, str, str | None], ...] = ()
    extra_keys: tuple[tuple[str, ...], ...] = ()  # keys read before validation (extends)


KINDS = (
    Kind(
        name="scenario",
        title="Scenario files",
        model=ScenarioSpec,
        intro=(
            "A scenario describes one situation: the population, the sites (environment), "
            "the teams (service), which interventions are offered to what share of users, "
            "the horizon, the replicates and the seed.",
            "Shipped scenarios are in `scenarios/` (`recovery-sim scenarios` lists them).",
        ),
        commands=(
            "recovery-sim run FILE",
            "recovery-sim compare A B",
            "recovery-sim validate FILE",
        ),
        example="scenarios/baseline.toml",
        load=load_scenario,
        extra_keys=(
            (
                "`extends`",
                "string",
                "a scenario file, relative to this file",
                "(none)",
                "no",
                "Inherit every key of that scenario; tables merge key by key, arrays "
                "([[sites]], [[teams]]) and values are replaced.",
            ),
        ),
    ),
    Kind(
        name="experiment",
        title="Experiment files (sweeps and sensitivity analysis)",
        model=ExperimentSpec,
        intro=(
            "An experiment varies registry parameters, and the package's offers, places "
            "and unit costs, over a base scenario: a design of points (grid, Latin "
            "hypercube, Sobol') for a sweep, or a SALib design (saltelli, morris, fast) "
            "for a sensitivity analysis.",
            "Shipped experiments are in `experiments/`.",
        ),
        commands=("recovery-sim sweep FILE", "recovery-sim sensitivity FILE"),
        example="experiments/sweep_small.toml",
        load=load_experiment,
        notes=(
            ("Design methods", "sim.files.experiment", "The SALib methods", "Scenario and cost"),
            ("Scenario and cost factors", "sim.files.factors", "An experiment's", None),
        ),
    ),
    Kind(
        name="trial",
        title="Trial files (virtual trials)",
        model=TrialSpec,
        intro=(
            "A trial file reproduces a published trial's design: the arms, the number per "
            "arm, the follow-up and the metrics computed the way the trial computed them. "
            "Each replicate is one independent trial of that size.",
            "The keys below are the trial's own; every other key is a scenario key (see "
            "[scenario.md](scenario.md)) describing the context: `[offers]` are the "
            "comparator's services, offered to both arms; `population.size` and "
            "`horizon_weeks` are not used (`n_per_arm` and `follow_up_weeks` set them).",
            "Shipped trials are in `experiments/trials/`.",
        ),
        commands=("recovery-sim trial FILE",),
        example="experiments/trials/eqolise.toml",
        load=load_trial,
        context=ScenarioSpec,
        notes=(("Metric kinds and options", "sim.studies.trials", "Metric kinds", "With a"),),
    ),
    Kind(
        name="fit",
        title="Fit files (calibration)",
        model=FitSpec,
        intro=(
            "A fit file names the free registry parameters (uniform priors), the target "
            "trial metrics linked to published figures in the targets file, and the "
            "ABC-SMC settings. The method is described in "
            "[CALIBRATION.md](../CALIBRATION.md).",
        ),
        commands=("recovery-sim calibrate FILE",),
        example="calibration/fit.toml",
        load=load_fit,
    ),
    Kind(
        name="validation",
        title="Validation files (external validation)",
        model=ValidationSpec,
        intro=(
            "A validation file lists published figures the fit never sees, each with the "
            "trial that reproduces its design, and checks each against the posterior "
            "predictive.",
        ),
        commands=("recovery-sim validate-evidence FILE",),
        example="calibration/validation.toml",
        load=load_validation,
        notes=(("Check kinds", "sim.studies.validation", "Check kinds", None),),
    ),
    Kind(
        name="costs",
        title="Costs files (unit costs, utilities, discounting)",
        model=CostTable,
        intro=(
            "A costs file gives the unit costs (GBP, each with its price year), the "
            "utilities of the model's health states, the discount rates and the "
            "perspective used by the economic comparison. Every number carries a unit and "
            "a source: a citation or `assumption: <reason>`. The shipped table is "
            "`calibration/costs.toml`; read its sources before quoting a result.",
        ),
        commands=("recovery-sim compare REFERENCE OTHER... (economics.csv)",),
        example="calibration/costs.toml",
        load=load_costs,
    ),
)


def _docstring_part(module: str, start: str, end: str | None) -> list[str]:
    """Part of a module's docstring, from ``start`` to before ``end``, as Markdown lines."""
    text = sys.modules[module].__doc__ or ""
    if start not in text or (end is not None and end not in text.split(start, 1)[1]):
        raise ValueError(f"{module}'s docstring has no part from {start!r} to {end!r}")
    part = start + text.split(start, 1)[1]
    if end is not None:
        part = part.split(end, 1)[0]
    part = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", part).replace("``", "`")
    return part.strip().splitlines()


def _notes(kind: Kind) -> list[str]:
    lines: list[str] = []
    for heading, module, start, end in kind.notes:
        lines += [
            f"## {heading}",
            "",
            f"From the docstring of `{module}`:",
            "",
            *_docstring_part(module, start, end),
            "",
        ]
    return lines


def _example(kind: Kind, root: Path) -> list[str]:
    """The shipped example, validated by the kind's loader (a stale example raises)."""
    path = root / kind.example
    kind.load(path)
    text = path.read_text(encoding="utf-8").rstrip("\n")
    return [
        "## Complete example",
        "",
        f"`{kind.example}`, shipped with the model and checked by `{kind.load.__module__}."
        f"{kind.load.__name__}` whenever this page is generated:",
        "",
        "```toml",
        text,
        "```",
    ]


def _page(kind: Kind, root: Path) -> str:
    lines = [
        f"# {kind.title}",
        "",
        f"<!-- Generated file: do not edit. Regenerate with `{COMMAND}`. -->",
        "",
        *[line for paragraph in kind.intro for line in (paragraph, "")],
        f"Run with: {_commands(kind)}.",
        "",
        f"Generated from `{kind.model.__module__}.{kind.model.__name__}`. Unknown keys are "
        "refused. In the key column `a.b` is key `b` of table `[a]`, `[[a]]` an array of "
        "tables (each item has the keys `a.*` listed after it), `<...>` a name you choose "
        "from the allowed ones. A default of `(none)` means the key may be left out; its "
        "description says what applies then.",
        "",
        "## Keys",
        "",
        *key_table([*(table_row(*r) for r in kind.extra_keys), *key_rows(kind.model)]),
        "",
    ]
    if kind.context is not None:
        own = frozenset(kind.model.model_fields)
        lines += [
            "## Context keys (as in a scenario)",
            "",
            *key_table(key_rows(kind.context, skip=own)),
            "",
        ]
    lines += _notes(kind)
    lines += _example(kind, root)
    return "\n".join(lines) + "\n"


def _commands(kind: Kind) -> str:
    return ", ".join(f"`{c}`" for c in kind.commands)


def _index() -> str:
    lines = [
        "# Input file formats",
        "",
        f"<!-- Generated file: do not edit. Regenerate with `{COMMAND}`. -->",
        "",
        "Every input file is TOML. Each page below is generated from the schema the loader "
        "validates with, and ends with a shipped file that the loader checks.",
        "",
        "| kind | page | command | example |",
        "|---|---|---|---|",
    ]
    for kind in KINDS:
        lines.append(
            f"| {kind.name} | [{kind.name}.md]({kind.name}.md) | {_commands(kind)} | "
            f"`{kind.example}` |"
        )
    lines += [
        "",
        "Registry parameters (the values a scenario, experiment or fit may set) are listed "
        "in [PARAMETERS.md](../PARAMETERS.md). Task guides: [../guides/](../guides/).",
    ]
    return "\n".join(lines) + "\n"


def format_pages(root: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The content of every page of ``docs/formats``, by file name.

    Args:
        root: The source tree holding the shipped examples (default: this checkout).

    Returns:
        ``{"README.md": ..., "scenario.md": ..., ...}``.

    Raises:
        OSError: Without a source tree (an installed wheel) or an example file.
        sim.core.errors.UserError: If a shipped example no longer validates.
    """
    if root is None and not _IN_SOURCE:
        raise OSError("no source checkout around this installation: the examples are missing")
    base = Path(root) if root is not None else _SOURCE_TREE
    pages = {"README.md": _index()}
    pages.update({f"{kind.name}.md": _page(kind, base) for kind in KINDS})
    return pages


def write_format_pages(folder: str | os.PathLike[str] | None = DEFAULT_FOLDER) -> list[Path]:
    """Write :func:`format_pages` into ``folder`` (created if missing), each page atomically.

    Returns:
        The paths written.
    """
    if folder is None:
        raise OSError(
            f"no source checkout around this installation: give a folder, e.g. "
            f"{COMMAND} docs/formats"
        )
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    pages = format_pages()
    written = []
    for name, text in pages.items():
        written.append(write_atomic(target / name, text))
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m sim.faces.reports.formats_gen [FOLDER]``.

    Args:
        argv: Arguments after the program name (default: ``sys.argv[1:]``);
            an optional destination folder.

    Returns:
        The process exit code.
    """
    return generator_main(argv, f"{COMMAND} [FOLDER]", write_format_pages, DEFAULT_FOLDER)


if __name__ == "__main__":
    sys.exit(main())
