"""Experiment files (TOML): which parameters vary, how, over which base scenario.

An experiment turns a base scenario into a design: a matrix of design points
(one row per point, one column per varied registry parameter or scenario factor)
generated from the experiment's seed, so a worker can rebuild any point from its
index alone.

Layout::

    name = "unemployment-motivation-lhs"
    scenario = "../scenarios/baseline.toml"   # relative to this file
    overrides = ["population.size=250"]       # optional, as `--set` on the scenario
    seed = 1
    replicates = 3
    weeks = 104                               # optional; default the scenario's
    [design]
    method = "latin"                          # grid | latin | sobol | saltelli | morris | fast
    points = 64                               # latin/sobol: design points (see below)
    levels = 5                                # grid: levels per parameter
    [parameters.unemployment_rate]            # bounds default to the registry's
    low = 0.03
    high = 0.20
    [parameters.motivation_median]
    [parameters.offers.peer_support]          # a scenario factor (sim.files.factors)
    [outputs]
    metrics = ["employed", "personal_recovery"]
    weeks = [52, 104]
    [execution]
    chunk_size = 32                           # runs per batched chunk

With ``counterfactual = "<scenario file>"`` every run is simulated twice on common random
numbers, in the base scenario (the package) and in the counterfactual (the same
population size and horizon, e.g. usual care), and the outputs are the package's
effects, ``<metric>_effect_w<week>`` = package minus counterfactual (with ``[outputs]
levels = true`` the package's levels ``<metric>_w<week>`` are kept beside them).

The SALib methods generate the design with SALib's samplers over
:meth:`Experiment.problem` (the experiment's bounds, the registry's distributions
unless a parameter sets ``distribution``), seeded by the experiment seed, so that
:mod:`sim.studies.sensitivity` can analyse the sweep:

- ``saltelli``: ``SALib.sample.sobol``; ``points`` is the base size N (a power of
  two), giving N x (2D + 2) design points, or N x (D + 2) with
  ``second_order = false``; with ``grouped = true`` the D parameters are grouped by
  moderator level and D counts levels.
- ``morris``: ``SALib.sample.morris``; ``points`` trajectories of D + 1 points on a
  grid of ``levels`` levels (even; default 4).
- ``fast``: ``SALib.sample.fast_sampler`` (eFAST); ``points`` samples per parameter
  (more than 4 x ``harmonics`` squared), N x D design points.

A varied environment- or service-level parameter takes the design value at every
site or team: the base scenario's per-site or per-team values of it are dropped
(:func:`describe_design` lists them), since they would otherwise silently override
the design. A scenario whose sites or teams disagree on such a value is refused.

Scenario and cost factors: a varied name with a dot is not a registry parameter but
``offers.<intervention>`` (share offered), ``places.<intervention>`` (places at every
team) or ``costs.<key>`` (a unit cost); offers and places change the base scenario
(the package) only, a unit cost prices both arms. :mod:`sim.files.factors` gives their
bounds and rules.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from sim.core.errors import MAX_DESIGN_POINTS, MAX_REPLICATES, MAX_WEEKS, UserError
from sim.core.metrics import METRICS
from sim.core.parameters import DISTRIBUTIONS, REGISTRY, ParameterError, lookup, salib_problem
from sim.files.costs import ECONOMIC_OUTPUTS, CostsError, CostTable, load_costs, override_costs
from sim.files.design import SALIB_METHODS, DesignSpec, salib_sample, unit_design
from sim.files.factors import (
    Factor,
    FactorError,
    check_priced,
    factor_level,
    flatten_factor_tables,
    is_factor,
    parse_factor,
    replaced_by_factors,
    with_scenario_factors,
)
from sim.files.inputs import parse_toml, read_input_bytes
from sim.files.kinds import wrong_kind
from sim.files.outputs import check_output_name
from sim.files.scenario import NotBool, Number, Scenario, ScenarioError, from_mapping, load_scenario

__all__ = ["OUTPUTS", "Experiment", "ExperimentError", "describe_design", "load_experiment"]

# What an experiment may record (``[outputs] metrics``): the model's weekly metrics and
# the economic outputs priced from them; name -> (domain, description)
OUTPUTS: dict[str, tuple[str, str]] = {**METRICS, **ECONOMIC_OUTPUTS}

_UNIT_LEVELS = {"environment": "sites", "service": "teams"}  # level -> scenario list


class ExperimentError(UserError):
    """An experiment file that cannot be run, with an actionable message."""


class Bounds(BaseModel):
    """Optional bounds and distribution of a varied parameter (default: the registry's)."""

    model_config = ConfigDict(extra="forbid")
    low: Number | None = Field(
        None,
        description="Lowest value varied (default: the registry's lower bound; offers: 0; "
        "required for places and costs).",
    )
    high: Number | None = Field(
        None,
        description="Highest value varied (default: the registry's upper bound; offers: 1; "
        "required for places and costs).",
    )
    distribution: Literal["uniform", "loguniform"] | None = Field(
        None,
        description="Sampling distribution over the bounds, SALib methods only "
        "(default: the registry's; uniform for a scenario or cost factor).",
    )
    group: Annotated[str, Field(min_length=1, max_length=60)] | None = Field(
        None,
        description="The group of this parameter in a grouped design (design.grouped = "
        'true), e.g. "what you can change" (default: its moderator level).',
    )


class OutputsSpec(BaseModel):
    """Which metrics to record, at which weeks."""

    model_config = ConfigDict(extra="forbid")
    metrics: list[str] = Field(
        default_factory=lambda: ["employed", "personal_recovery", "connectedness"],
        description="Population metrics recorded per run (names from sim/core/metrics.py), "
        "and economic outputs accumulated per person over weeks 1..W: employed_weeks, "
        "qalys, cost_gbp, nmb_20000, nmb_30000 (priced with `costs`).",
    )
    weeks: list[Annotated[int, Field(ge=0, le=MAX_WEEKS), NotBool]] = Field(
        default_factory=list,
        description="Weeks at which the metrics are recorded (default: the last week).",
    )
    costs: str | None = Field(
        None,
        description="Costs file (relative to this file) that prices the economic outputs "
        "(default: the shipped calibration/costs.toml; its perspective applies). Only with "
        "an economic output among the metrics.",
    )
    levels: bool = Field(
        False,
        description="With a counterfactual: also keep the package's levels "
        "(`<metric>_w<week>`) as outputs beside its effects. Without one, levels are the "
        "outputs.",
    )


class ExecutionSpec(BaseModel):
    """How the runs are split into batched chunks."""

    model_config = ConfigDict(extra="forbid")
    chunk_size: Annotated[int, Field(ge=1, le=100_000), NotBool] = Field(
        32, description="Runs simulated together in one batched chunk (a unit of work)."
    )


class ExperimentSpec(BaseModel):
    """The validated content of an experiment file."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, AfterValidator(check_output_name)] = Field(
        "experiment", description="The experiment's name; names its output folder."
    )
    description: str = Field("", description="One line saying what the experiment asks.")
    scenario: str | None = Field(
        None,
        description="Base scenario file, relative to this file (default: the registry "
        "defaults with one site and one team).",
    )
    overrides: list[str] = Field(
        default_factory=list,
        description="KEY.PATH=VALUE changes to the base scenario, as `--set` on the command line.",
    )
    seed: Annotated[int, Field(ge=0), NotBool] = Field(
        0, description="Seed of the design and of every run's random numbers."
    )
    replicates: Annotated[int, Field(ge=1, le=MAX_REPLICATES), NotBool] = Field(
        1, description="Runs per design point."
    )
    weeks: Annotated[int, Field(ge=1, le=MAX_WEEKS), NotBool] | None = Field(
        None, description="Weeks simulated (default: the scenario's horizon_weeks)."
    )
    design: DesignSpec = Field(
        default_factory=DesignSpec, description="How the design points are generated."
    )
    parameters: dict[str, Bounds] = Field(
        default_factory=dict,
        description="What is varied, one table each (at least one): a registry parameter, or "
        "a scenario or cost factor `offers.<intervention>`, `places.<intervention>`, "
        "`costs.<key>` (see Scenario and cost factors below).",
    )
    outputs: OutputsSpec = Field(
        default_factory=OutputsSpec, description="Which metrics are recorded, and when."
    )
    execution: ExecutionSpec = Field(
        default_factory=ExecutionSpec, description="How runs are batched."
    )
    posterior: str | None = Field(
        None,
        description="Posterior ensemble file (.parquet), relative to this file: each run "
        "takes its own parameter draw.",
    )
    counterfactual: str | None = Field(
        None,
        description="Scenario file (relative to this file) the package is compared with: "
        "each run is simulated in both on common random numbers and the outputs are the "
        "effects `<metric>_effect_w<week>` (package minus counterfactual). It must have "
        "the base scenario's population size and no schedule; the design's values apply "
        "to both.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if not self.parameters:
            raise ValueError(
                "[parameters] must name at least one registry parameter or factor to vary"
            )
        self.design.check()
        points = self.design.point_count(len(self.parameters))
        if points * self.replicates > MAX_DESIGN_POINTS:
            raise ValueError(
                f"design: {self.design.method} over {len(self.parameters)} parameters gives "
                f"{points:,} points x {self.replicates} replicates = "
                f"{points * self.replicates:,} runs, over the limit of {MAX_DESIGN_POINTS:,}; "
                "lower design.points, design.levels, replicates or the parameters varied"
            )
        if self.design.method not in SALIB_METHODS:
            chosen = [n for n, b in self.parameters.items() if b.distribution is not None]
            if chosen:
                raise ValueError(
                    f"parameters.{chosen[0]}.distribution applies only to the "
                    f"SALib methods {SALIB_METHODS}"
                )
        return self


@dataclass(frozen=True)
class Experiment:
    """A loaded experiment: its spec, base scenario, bounds and design.

    Attributes:
        path: The experiment file.
        spec: The validated specification.
        scenario: The base scenario (with per-site/team values of varied parameters
            dropped); a run's package is :meth:`package` of its design row.
        names: Varied parameter and factor names, in file order.
        bounds: (low, high) per varied name, shape (P, 2).
        text_sha256: SHA-256 of the experiment file's bytes.
        posterior: Optional weighted posterior ensemble; run (d, r) takes its own draw.
        replaced: Scenario values dropped or replaced because the design varies them
            (e.g. ``"sites.0.unemployment_rate = 0.07"``, ``"offers.peer_support = 0.4"``).
        counterfactual: The scenario the package is compared with, or None (outputs are
            levels); its per-site/team values of varied parameters are dropped too.
        costs: The cost table pricing the economic outputs, or None if none is asked;
            a run's is :meth:`cost_table` of its design row.
    """

    path: Path
    spec: ExperimentSpec
    scenario: Scenario
    names: tuple[str, ...]
    bounds: np.ndarray
    text_sha256: str
    replaced: tuple[str, ...] = field(default=())
    posterior: pd.DataFrame | None = None
    counterfactual: Scenario | None = None
    costs: CostTable | None = None

    @property
    def weeks(self) -> int:
        """Horizon in weeks."""
        return self.spec.weeks or self.scenario.spec.horizon_weeks

    @property
    def record_weeks(self) -> list[int]:
        """Weeks at which outputs are recorded (default: the horizon)."""
        return sorted(set(self.spec.outputs.weeks)) or [self.weeks]

    def level_columns(self) -> list[str]:
        """The package's recorded levels, ``<metric>_w<week>``."""
        metrics, weeks = self.spec.outputs.metrics, self.record_weeks
        return [f"{metric}_w{week}" for metric in metrics for week in weeks]

    def effect_columns(self) -> list[str]:
        """The package's effects, ``<metric>_effect_w<week>`` (none without a counterfactual)."""
        if self.counterfactual is None:
            return []
        metrics, weeks = self.spec.outputs.metrics, self.record_weeks
        return [f"{metric}_effect_w{week}" for metric in metrics for week in weeks]

    def output_columns(self) -> list[str]:
        """The outputs an analysis ranks: effects (and levels if asked), or levels."""
        if self.counterfactual is None or self.spec.outputs.levels:
            return [*self.effect_columns(), *self.level_columns()]
        return self.effect_columns()

    def problem(self) -> dict[str, Any]:
        """The SALib problem of the varied names, with the experiment's bounds.

        Distributions are the registry's (uniform for a factor) unless a name sets
        ``distribution``; ``groups`` (each name's ``group``, else its moderator level)
        is present when ``design.grouped`` is true.
        """
        given = list(self.spec.parameters.values())
        registry = [n for n in self.names if not is_factor(n)]
        dists = (
            dict(zip(registry, salib_problem(registry)["dists"], strict=True)) if registry else {}
        )
        problem: dict[str, Any] = {
            "num_vars": len(self.names),
            "names": list(self.names),
            "bounds": self.bounds.tolist(),
            "dists": [
                DISTRIBUTIONS[g.distribution] if g.distribution else dists.get(n, "unif")
                for n, g in zip(self.names, given, strict=True)
            ],
        }
        if self.spec.design.grouped:
            problem["groups"] = [
                g.group or factor_level(n) for n, g in zip(self.names, given, strict=True)
            ]
        return problem

    def design(self) -> np.ndarray:
        """The design matrix (points x parameters), regenerated from the seed."""
        if self.spec.design.method in SALIB_METHODS:
            sample = salib_sample(self.problem(), self.spec.design, self.spec.seed)
            return np.clip(sample, self.bounds[:, 0], self.bounds[:, 1])
        unit = unit_design(self.spec.design, len(self.names), self.spec.seed)
        return self.bounds[:, 0] + unit * (self.bounds[:, 1] - self.bounds[:, 0])

    def param_set(self, row: np.ndarray) -> dict[str, float]:
        """The base scenario's parameters with one design row's registry values applied."""
        values = self.scenario.parameters()
        for name, value in zip(self.names, row, strict=True):
            if not is_factor(name):
                values[name] = round(float(value)) if REGISTRY[name].integer else float(value)
        return values

    def factors(self) -> dict[int, Factor]:
        """The scenario and cost factors among the varied names, by design column."""
        return {j: parse_factor(name) for j, name in enumerate(self.names) if is_factor(name)}

    def scenario_values(self, row: np.ndarray) -> dict[Factor, float | int]:
        """One design row's offers and places (places rounded): what the package changes."""
        return {f: f.value(row[j]) for j, f in self.factors().items() if f.acts_on_scenario}

    def package(self, row: np.ndarray) -> Scenario:
        """The base scenario with one design row's offers and places set."""
        values = self.scenario_values(row)
        if not values:
            return self.scenario
        raw = with_scenario_factors(self.scenario.resolved, values)
        return from_mapping(raw, path=self.scenario.path)

    def cost_values(self, row: np.ndarray) -> dict[str, float]:
        """One design row's unit costs, by cost key."""
        return {f.target: f.value(row[j]) for j, f in self.factors().items() if f.kind == "costs"}

    def cost_table(self, row: np.ndarray) -> CostTable | None:
        """The cost table with one design row's unit costs set (both arms are priced so)."""
        values = self.cost_values(row)
        if self.costs is None or not values:
            return self.costs
        return override_costs(self.costs, values)

    def digest(self) -> str:
        """Hash of what determines results: spec, resolved base scenario, posterior."""
        ensemble = None if self.posterior is None else self.posterior.to_json()
        other = None if self.counterfactual is None else self.counterfactual.resolved
        costs = None if self.costs is None else self.costs.model_dump()
        text = json.dumps(
            [self.spec.model_dump(), self.scenario.resolved, ensemble, other, costs],
            sort_keys=True,
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _bounds(spec: ExperimentSpec, where: str) -> np.ndarray:
    rows = []
    for name, given in spec.parameters.items():
        if is_factor(name):
            try:
                low, high = parse_factor(name).bounds(given.low, given.high)
            except FactorError as error:
                raise ExperimentError(f"{where}: parameters.{error}") from None
        else:
            try:
                parameter = lookup(name, where=f"{where}: parameters")
            except ParameterError as error:
                raise ExperimentError(str(error)) from None
            try:
                low, high = parameter.narrowed(given.low, given.high)
            except ParameterError as error:
                raise ExperimentError(f"{where}: parameters.{error}") from None
        if given.distribution == "loguniform" and low <= 0:
            raise ExperimentError(
                f"{where}: parameters.{name}: a loguniform distribution needs low > 0, got {low}"
            )
        rows.append((low, high))
    return np.array(rows, dtype=np.float64)


def _check_outputs(spec: ExperimentSpec, weeks: int, where: str) -> None:
    for metric in spec.outputs.metrics:
        if metric not in OUTPUTS:
            raise ExperimentError(
                f"{where}: outputs.metrics: unknown metric {metric!r}; "
                f"allowed: {', '.join(OUTPUTS)}"
            )
    late = [w for w in spec.outputs.weeks if w > weeks]
    if late:
        raise ExperimentError(f"{where}: outputs.weeks {late} are after the horizon ({weeks})")


def _check_groups(spec: ExperimentSpec, where: str) -> None:
    named = [n for n, b in spec.parameters.items() if b.group is not None]
    if named and not spec.design.grouped:
        raise ExperimentError(
            f"{where}: parameters.{named[0]}.group applies only with design.grouped = true"
        )
    groups = {b.group or factor_level(n) for n, b in spec.parameters.items()}
    if spec.design.grouped and len(groups) < 2:
        raise ExperimentError(
            f"{where}: design.grouped = true needs at least two groups (each parameter's "
            "`group`, or its moderator level: user, service, environment, structural)"
        )


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file and its base scenario.

    Raises:
        ExperimentError: With the file, key path, value and what is allowed.
    """
    path = Path(path)
    data = read_input_bytes(path, "experiment file", ExperimentError)
    raw = parse_toml(data, path, "experiment file", ExperimentError)
    spec = _validated(raw, path)
    bounds = _bounds(spec, str(path))
    _check_groups(spec, str(path))
    scenario, replaced = _free_varied(_base_scenario(spec, path), tuple(spec.parameters), str(path))
    weeks = spec.weeks or scenario.spec.horizon_weeks
    _check_outputs(spec, weeks, str(path))
    counterfactual = _counterfactual(spec, path, scenario, weeks)
    costs = _costs(spec, path)
    factors = [parse_factor(name) for name in spec.parameters if is_factor(name)]
    _check_factors(factors, spec, scenario, costs, str(path))
    replaced += tuple(replaced_by_factors(scenario.resolved, factors))
    return Experiment(
        path=path,
        spec=spec,
        scenario=scenario,
        names=tuple(spec.parameters),
        bounds=bounds,
        text_sha256=hashlib.sha256(data).hexdigest(),
        replaced=replaced,
        posterior=_posterior(spec, path),
        counterfactual=counterfactual,
        costs=costs,
    )


def _check_factors(
    factors: list[Factor],
    spec: ExperimentSpec,
    scenario: Scenario,
    costs: CostTable | None,
    where: str,
) -> None:
    """Refuse a factor that would not take effect: places without teams, costs unpriced."""
    for factor in factors:
        if factor.kind == "places" and not scenario.resolved.get("teams"):
            raise ExperimentError(
                f"{where}: parameters.{factor.name}: sets the places of every [[teams]] of the "
                f"base scenario, and {scenario.path or 'it'} has no [[teams]]; add one, or "
                "drop the factor"
            )
        if factor.kind == "costs":
            if costs is None:
                raise ExperimentError(
                    f"{where}: parameters.{factor.name}: a unit cost prices the economic "
                    "outputs, and outputs.metrics names none; add cost_gbp or nmb_20000 "
                    f"(allowed: {', '.join(ECONOMIC_OUTPUTS)}), or drop the factor"
                )
            try:
                check_priced(factor, spec.outputs.metrics, costs.perspective)
            except FactorError as error:
                raise ExperimentError(f"{where}: parameters.{error}") from None


def _costs(spec: ExperimentSpec, path: Path) -> CostTable | None:
    """The cost table of the economic outputs (None if none is asked)."""
    if not set(spec.outputs.metrics) & set(ECONOMIC_OUTPUTS):
        if spec.outputs.costs is not None:
            raise ExperimentError(
                f"{path}: outputs.costs applies only with an economic output among "
                f"outputs.metrics ({', '.join(ECONOMIC_OUTPUTS)}); add one or drop it"
            )
        return None
    file = None if spec.outputs.costs is None else path.parent / spec.outputs.costs
    try:
        return load_costs(file)
    except CostsError as error:
        raise ExperimentError(f"{path}: outputs.costs: {error}") from None


def _counterfactual(
    spec: ExperimentSpec, path: Path, base: Scenario, weeks: int
) -> Scenario | None:
    """The counterfactual scenario, checked to pair with the base run for run."""
    if spec.counterfactual is None:
        if spec.outputs.levels:
            raise ExperimentError(
                f"{path}: outputs.levels = true applies only with a counterfactual "
                "(without one, levels are the outputs already)"
            )
        return None
    where = f"{path}: counterfactual"
    try:
        scenario = load_scenario(path.parent / spec.counterfactual, spec.overrides)
    except ScenarioError as error:
        raise ExperimentError(f"{where}: {error}") from None
    if scenario.spec.schedule:
        raise ExperimentError(f"{where}: {scenario.path} has a [[schedule]], not applied here")
    size, other = base.spec.population.size, scenario.spec.population.size
    if size != other:
        raise ExperimentError(
            f"{where}: population.size = {other}, but the base scenario has {size}; the runs "
            "are paired user by user, so both need the same size"
        )
    if scenario.spec.horizon_weeks < weeks and spec.weeks is None:
        raise ExperimentError(
            f"{where}: horizon_weeks = {scenario.spec.horizon_weeks} is shorter than the "
            f"base scenario's {weeks}; set `weeks` in the experiment"
        )
    free, _ = _free_varied(scenario, tuple(spec.parameters), where)
    return free


def _posterior(spec: ExperimentSpec, path: Path) -> pd.DataFrame | None:
    from sim.files.posterior import PosteriorError, read_posterior

    if spec.posterior is None:
        return None
    try:
        return read_posterior(path.parent / spec.posterior)
    except PosteriorError as error:
        raise ExperimentError(f"{path}: posterior: {error}") from None


def _validated(raw: dict[str, Any], path: Path) -> ExperimentSpec:
    try:
        if "parameters" in raw:  # [parameters.offers.X] is read as a nested table
            raw = {**raw, "parameters": flatten_factor_tables(raw["parameters"])}
    except FactorError as error:
        raise ExperimentError(f"{path}: parameters.{error}") from None
    try:
        return ExperimentSpec.model_validate(raw)
    except ValidationError as error:
        hint = wrong_kind(raw, "experiment", ExperimentSpec.model_fields)
        if hint is not None:
            raise ExperimentError(f"{path}: {hint}") from None
        first = error.errors()[0]
        if not first["loc"]:  # a rule across keys: its message names them
            message = first["msg"].removeprefix("Value error, ")
            raise ExperimentError(f"{path}: {message}") from None
        key = ".".join(str(p) for p in first["loc"])
        raise ExperimentError(
            f"{path}: {key} = {first.get('input')!r} is invalid: "
            f"{first['msg'].removeprefix('Value error, ')}"
        ) from None


def _base_scenario(spec: ExperimentSpec, path: Path) -> Scenario:
    from sim.files.scenario import apply_override, parse_override

    try:
        if spec.scenario is not None:
            scenario = load_scenario(path.parent / spec.scenario, spec.overrides)
        else:
            raw: dict[str, Any] = {"name": "baseline"}
            for text in spec.overrides:
                apply_override(raw, *parse_override(text))
            scenario = from_mapping(raw, path=Path("<embedded baseline>"))
    except ScenarioError as error:
        raise ExperimentError(f"{path}: scenario: {error}") from None
    if scenario.spec.schedule:
        raise ExperimentError(
            f"{path}: scenario: {scenario.path} has a [[schedule]], which sweeps and "
            "sensitivity analyses do not apply yet; use a scenario without one (run and "
            "compare honour schedules)"
        )
    return scenario


def _free_varied(
    scenario: Scenario, varied: tuple[str, ...], where: str
) -> tuple[Scenario, tuple[str, ...]]:
    """Drop per-site/team values of varied parameters, so the design value applies."""
    raw = copy.deepcopy(scenario.resolved)
    replaced = []
    for name in (n for n in varied if not is_factor(n)):
        key = _UNIT_LEVELS.get(REGISTRY[name].level)
        units = (raw.get(key) or []) if key else []
        found = {i: unit.pop(name) for i, unit in enumerate(units) if name in unit}
        if len(set(found.values())) > 1:
            raise ExperimentError(
                f"{where}: the scenario's {key} set different values of {name} "
                f"({sorted(set(found.values()))}); an experiment varies one value for all "
                f"{key}: remove them from the scenario or do not vary {name}"
            )
        replaced += [f"{key}.{i}.{name} = {value}" for i, value in found.items()]
    if not replaced:
        return scenario, ()
    return from_mapping(raw, path=scenario.path), tuple(replaced)


def describe_design(experiment: Experiment) -> dict[str, Any]:
    """A small summary of the design, for manifests."""
    spec = experiment.spec.design
    summary: dict[str, Any] = {
        "method": spec.method,
        "parameters": list(experiment.names),
        "bounds": experiment.bounds.tolist(),
        "points": int(experiment.design().shape[0]),
    }
    if spec.method in SALIB_METHODS:
        options = {
            "saltelli": ("second_order", "grouped"),
            "morris": ("grid_levels",),
            "fast": ("harmonics",),
        }[spec.method]
        summary.update(
            base_size=spec.points,
            dists=experiment.problem()["dists"],
            levels=[factor_level(n) for n in experiment.names],
            **{key: getattr(spec, key) for key in options},
        )
    if experiment.replaced:
        summary["scenario_values_replaced_by_design"] = list(experiment.replaced)
    if experiment.counterfactual is not None:
        summary["counterfactual"] = experiment.counterfactual.name
        summary["outputs"] = experiment.output_columns()
    return summary
