"""Experiment files (TOML): which parameters vary, how, over which base scenario.

An experiment turns a base scenario into a design: a matrix of design points
(one row per point, one column per varied registry parameter) generated from
the experiment's seed, so a worker can rebuild any point from its index alone.

Layout::

    name = "unemployment-motivation-lhs"
    scenario = "../scenarios/baseline.toml"   # relative to this file
    seed = 1
    replicates = 3
    weeks = 104                               # optional; default the scenario's
    [design]
    method = "latin"                          # grid | latin | sobol
    points = 64                               # latin/sobol: design points
    levels = 5                                # grid: levels per parameter
    [parameters.unemployment_rate]            # bounds default to the registry's
    low = 0.03
    high = 0.20
    [parameters.motivation_median]
    [outputs]
    metrics = ["employed", "personal_recovery"]
    weeks = [52, 104]
    [execution]
    chunk_size = 32                           # runs per batched chunk
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from scipy.stats import qmc

from sim.metrics import METRICS
from sim.parameters import REGISTRY, ParameterError, lookup
from sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["Experiment", "ExperimentError", "describe_design", "load_experiment"]


class ExperimentError(ValueError):
    """An experiment file that cannot be run, with an actionable message."""


class Bounds(BaseModel):
    """Optional bounds of a varied parameter (default: the registry's)."""

    model_config = ConfigDict(extra="forbid")
    low: float | None = None
    high: float | None = None


class DesignSpec(BaseModel):
    """How design points are generated."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["grid", "latin", "sobol"] = "latin"
    points: Annotated[int, Field(ge=1, le=1_000_000)] = 32
    levels: Annotated[int, Field(ge=2, le=1000)] = 3


class OutputsSpec(BaseModel):
    """Which metrics to record, at which weeks."""

    model_config = ConfigDict(extra="forbid")
    metrics: list[str] = Field(default_factory=lambda: ["employed", "personal_recovery",
                                                        "connectedness"])
    weeks: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)


class ExecutionSpec(BaseModel):
    """How the runs are split into batched chunks."""

    model_config = ConfigDict(extra="forbid")
    chunk_size: Annotated[int, Field(ge=1, le=100_000)] = 32


class ExperimentSpec(BaseModel):
    """The validated content of an experiment file."""

    model_config = ConfigDict(extra="forbid")
    name: str = "experiment"
    description: str = ""
    scenario: str | None = None
    seed: Annotated[int, Field(ge=0)] = 0
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 1
    weeks: Annotated[int, Field(ge=1, le=1040)] | None = None
    design: DesignSpec = Field(default_factory=DesignSpec)
    parameters: dict[str, Bounds] = Field(default_factory=dict)
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if not self.parameters:
            raise ValueError("[parameters] must name at least one registry parameter to vary")
        points = self.design.points
        if self.design.method == "sobol" and points & (points - 1):
            raise ValueError(f"design.points = {points}: a Sobol sequence needs a power of "
                             "two (e.g. 64, 128, 256)")
        return self


@dataclass(frozen=True)
class Experiment:
    """A loaded experiment: its spec, base scenario, bounds and design.

    Attributes:
        path: The experiment file.
        spec: The validated specification.
        scenario: The base scenario.
        names: Varied parameter names, in file order.
        bounds: (low, high) per varied parameter, shape (P, 2).
        text_sha256: SHA-256 of the experiment file's bytes.
    """

    path: Path
    spec: ExperimentSpec
    scenario: Scenario
    names: tuple[str, ...]
    bounds: np.ndarray
    text_sha256: str

    @property
    def weeks(self) -> int:
        """Horizon in weeks."""
        return self.spec.weeks or self.scenario.spec.horizon_weeks

    @property
    def record_weeks(self) -> list[int]:
        """Weeks at which outputs are recorded (default: the horizon)."""
        return sorted(set(self.spec.outputs.weeks)) or [self.weeks]

    def design(self) -> np.ndarray:
        """The design matrix (points x parameters), regenerated from the seed."""
        unit = _unit_design(self.spec.design, len(self.names), self.spec.seed)
        return self.bounds[:, 0] + unit * (self.bounds[:, 1] - self.bounds[:, 0])

    def param_set(self, row: np.ndarray) -> dict[str, float]:
        """The base scenario's parameters with one design row applied."""
        values = self.scenario.parameters()
        for name, value in zip(self.names, row, strict=True):
            values[name] = round(float(value)) if REGISTRY[name].integer else float(value)
        return values

    def digest(self) -> str:
        """Hash of what determines results: the spec and the resolved base scenario."""
        text = json.dumps([self.spec.model_dump(), self.scenario.resolved], sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _unit_design(spec: DesignSpec, n_params: int, seed: int) -> np.ndarray:
    if spec.method == "grid":
        axis = np.linspace(0.0, 1.0, spec.levels)
        return np.array(list(itertools.product(axis, repeat=n_params)), dtype=np.float64)
    if spec.method == "latin":
        return qmc.LatinHypercube(d=n_params, seed=np.random.default_rng(seed)).random(
            spec.points)
    sampler = qmc.Sobol(d=n_params, scramble=True, seed=np.random.default_rng(seed))
    return sampler.random_base2(int(np.log2(spec.points)))


def _bounds(spec: ExperimentSpec, where: str) -> np.ndarray:
    rows = []
    for name, given in spec.parameters.items():
        try:
            parameter = lookup(name, where=f"{where}: parameters")
        except ParameterError as error:
            raise ExperimentError(str(error)) from None
        low = parameter.low if given.low is None else given.low
        high = parameter.high if given.high is None else given.high
        if not parameter.low <= low < high <= parameter.high:
            raise ExperimentError(
                f"{where}: parameters.{name}: bounds [{low}, {high}] must be increasing and "
                f"inside the registry's [{parameter.low}, {parameter.high}]")
        rows.append((low, high))
    return np.array(rows, dtype=np.float64)


def _check_outputs(spec: ExperimentSpec, weeks: int, where: str) -> None:
    for metric in spec.outputs.metrics:
        if metric not in METRICS:
            raise ExperimentError(f"{where}: outputs.metrics: unknown metric {metric!r}; "
                                  f"allowed: {', '.join(METRICS)}")
    late = [w for w in spec.outputs.weeks if w > weeks]
    if late:
        raise ExperimentError(f"{where}: outputs.weeks {late} are after the horizon ({weeks})")


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file and its base scenario.

    Raises:
        ExperimentError: With the file, key path, value and what is allowed.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        raw = tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise ExperimentError(f"experiment file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ExperimentError(f"{path}: cannot read: {error}") from None
    try:
        spec = ExperimentSpec.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise ExperimentError(f"{path}: {key} = {first.get('input')!r} is invalid: "
                              f"{first['msg']}") from None
    scenario = _base_scenario(spec, path)
    weeks = spec.weeks or scenario.spec.horizon_weeks
    _check_outputs(spec, weeks, str(path))
    return Experiment(path=path, spec=spec, scenario=scenario,
                      names=tuple(spec.parameters), bounds=_bounds(spec, str(path)),
                      text_sha256=hashlib.sha256(data).hexdigest())


def _base_scenario(spec: ExperimentSpec, path: Path) -> Scenario:
    from sim.scenario import from_mapping

    if spec.scenario is None:
        return from_mapping({"name": "baseline"}, path=Path("<embedded baseline>"))
    try:
        return load_scenario(path.parent / spec.scenario)
    except ScenarioError as error:
        raise ExperimentError(f"{path}: scenario: {error}") from None


def describe_design(experiment: Experiment) -> dict[str, Any]:
    """A small summary of the design, for manifests."""
    spec = experiment.spec
    return {"method": spec.design.method, "parameters": list(experiment.names),
            "bounds": experiment.bounds.tolist(), "points": int(experiment.design().shape[0])}
