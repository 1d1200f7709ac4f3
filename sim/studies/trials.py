"""Virtual-trial experiments: files, runs and the trials' own metrics.

A trial file describes the context (population, sites, teams, parameters -- the
same keys as a scenario; its ``[offers]`` are the comparator's services, offered to
both arms), the randomisation (individual, or clustered by team
for staff training), the number per arm, the follow-up, the number of replicate
trials, and the metrics computed the way the trial computed them. Each replicate
is one independent trial of the stated size, so the spread of a metric over
replicates is the sampling distribution a real trial of that size would have.

Metric kinds (``outcome`` is a per-user quantity at follow-up, e.g.
``ever_employed``, ``housed``, ``hope``, ``personal_recovery``, ``self_stigma``;
with ``threshold`` it becomes the indicator outcome > threshold):

- ``share``: share in ``arm`` (treated, control or all);
- ``relative_risk`` and ``risk_difference``: treated vs control shares;
- ``odds_ratio``: treated vs control odds of a yes/no outcome (``employed``,
  ``ever_employed``, ``housed``, ``in_hospital``, ``in_relapse``, ...) or of a
  thresholded one; NaN where undefined (no control user with the outcome, or every
  treated user with it);
- ``smd``: Hedges' g, treated vs control;
- ``mean`` and ``mean_difference``: mean in an arm, difference of arm means;
- ``correlation``: Pearson's r across the users of ``arm`` between ``outcome`` and
  a second per-user quantity named by ``with`` (NaN if either is constant);
- ``follow_up_share``: mean over the users of ``arm`` of the share of follow-up
  weeks spent in the state ``outcome`` (``housed``: time stably housed;
  ``employed``: time in work; ``in_hospital``: time in hospital), counted from the
  model's per-user week counters (weeks 1 to the follow-up week).

Options of every metric:

- ``by_site = true``: also one column per site, ``<name>[<site>]``, the metric
  computed among that site's users (a user's site is their team's site);
- ``at_week = N`` (0 <= N <= ``follow_up_weeks``; at least 1 for
  ``follow_up_share``): the metric at week N instead of at the end of follow-up,
  so one file can report several follow-up times. The runs go to the end of
  follow-up once; the per-user quantities are recorded on the way.

With a posterior ensemble (:mod:`sim.studies.trial_posterior`, ``recovery-sim
trial FILE --posterior PATH``) each replicate trial takes one parameter draw, so
the interval over replicates holds parameter uncertainty plus sampling noise; a
posterior column that the trial file sets itself (``[parameters]``,
``[population]``, a site or team) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.core.errors import (
    MAX_AGENTS,
    MAX_REPLICATES,
    MAX_TRIAL_SIZE,
    MAX_WEEKS,
    UserError,
    check_limit,
    check_memory,
)
from sim.core.logic_model import USER_INTERVENTIONS
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.core.world import Team, World, make_world
from sim.files.inputs import read_toml_file
from sim.files.outputs import check_output_name
from sim.files.scenario import NotBool, Scenario, ScenarioError, from_mapping
from sim.studies.run import per_user_quantities, run_simulations, yes_no_quantities
from sim.studies.trial_metrics import (
    MetricSpec,
    compute_metric,
    metric_columns,
    needed_quantities,
    site_column,
)

__all__ = [
    "MetricSpec",
    "TrialError",
    "TrialExperiment",
    "compute_metric",
    "load_trial",
    "metric_names",
    "run_trial",
    "run_trial_sets",
]

ARMS = ("treated", "control", "all")


class TrialError(UserError):
    """A trial file that cannot be run, with an actionable message."""


_NEEDS_CONTROL = ("relative_risk", "risk_difference", "odds_ratio", "smd", "mean_difference")


class TrialSpec(BaseModel):
    """The trial-specific keys of a trial file (the rest is a scenario)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, AfterValidator(check_output_name)] = Field(
        description="The trial's name; names its output folder."
    )
    description: str = Field("", description="One line saying which trial this reproduces.")
    intervention: str | None = Field(  # None: a natural-history cohort, no randomisation
        None,
        description="What the treated arm gets: a user intervention, or staff_training "
        "(randomised by team). Absent: a natural-history cohort of one arm.",
    )
    comparator: str = Field(
        "usual care", description="What the control arm gets, in words (for reports)."
    )
    n_per_arm: Annotated[int, Field(ge=2, le=MAX_AGENTS // 2), NotBool] = Field(
        description="Users per arm, as in the published trial."
    )
    follow_up_weeks: Annotated[int, Field(ge=0, le=MAX_WEEKS), NotBool] = Field(
        description="Weeks from randomisation to the end of follow-up."
    )
    replicates: Annotated[int, Field(ge=1, le=MAX_REPLICATES), NotBool] = Field(
        20, description="Independent replicate trials of this size."
    )
    seed: Annotated[int, Field(ge=0), NotBool] = Field(
        0, description="Seed from which every replicate's random numbers are derived."
    )
    metrics: Annotated[list[MetricSpec], Field(min_length=1)] = Field(
        description="The metrics computed per replicate trial (at least one)."
    )

    @model_validator(mode="after")
    def _metrics_fit_the_design(self) -> TrialSpec:
        names = [m.name for m in self.metrics]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"metrics: duplicate metric names {duplicates}; each name once")
        if self.intervention is None:
            for i, metric in enumerate(self.metrics):
                if metric.kind in _NEEDS_CONTROL or metric.arm == "control":
                    raise ValueError(
                        f"metrics.{i} ({metric.name}): kind = {metric.kind!r}, arm = "
                        f"{metric.arm!r} needs a control arm, and a trial without an "
                        "intervention has none; use kind = 'share' or 'mean'"
                    )
        for i, metric in enumerate(self.metrics):
            week = self.follow_up_weeks if metric.at_week is None else metric.at_week
            if week > self.follow_up_weeks:
                raise ValueError(
                    f"metrics.{i}.at_week = {week} ({metric.name}) is after the end of "
                    f"follow-up; allowed: 0 to follow_up_weeks = {self.follow_up_weeks}"
                )
            if metric.kind == "follow_up_share" and week == 0:
                raise ValueError(
                    f"metrics.{i} ({metric.name}): kind = 'follow_up_share' needs at least "
                    "one week of follow-up (at_week or follow_up_weeks >= 1)"
                )
        return self


@dataclass(frozen=True)
class TrialExperiment:
    """A loaded trial: its spec and the context as a scenario."""

    path: Path
    spec: TrialSpec
    context: Scenario

    @property
    def cluster(self) -> bool:
        """Whether arms are randomised by team (staff training)."""
        return self.spec.intervention == "staff_training"

    def world(self) -> tuple[World, np.ndarray]:
        """The trial's world and the treated-arm mask over users.

        The file's ``[offers]`` are the comparator's services: offered to that share of
        the users of both arms (the first users, who alternate between the arms); the
        trial's intervention goes to the treated arm only.
        """
        base = self.context.world()
        services = dict(self.context.spec.offers)
        arms = 1 if self.spec.intervention is None else 2
        n_agents = arms * self.spec.n_per_arm
        n_teams = len(base.teams)
        if self.cluster:
            teams = [
                Team(**{**t.__dict__, "staff_training": i % 2 == 0})
                for i, t in enumerate(base.teams)
            ]
            world = make_world(n_agents, sites=base.sites, teams=teams, offer=services)
            return world, world.staff_training[world.team_of_agent]
        treated = (np.arange(n_agents) // n_teams) % 2 == 0  # both arms in every team
        if self.spec.intervention is None:
            treated = np.zeros(n_agents, dtype=bool)
            offer = services
        else:
            offer = {**services, self.spec.intervention: treated}
        return make_world(n_agents, sites=base.sites, teams=base.teams, offer=offer), treated


_TRIAL_KEYS = set(TrialSpec.model_fields)


def load_trial(path: str | Path) -> TrialExperiment:
    """Read and validate a trial file.

    Raises:
        TrialError: With the file, key, value and what is allowed.
    """
    path = Path(path)
    raw = read_toml_file(path, "trial file", TrialError)
    trial_part = {k: v for k, v in raw.items() if k in _TRIAL_KEYS}
    context_part = {k: v for k, v in raw.items() if k not in _TRIAL_KEYS}
    try:
        spec = TrialSpec.model_validate(trial_part)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        shown = first.get("input")
        shown = str(shown).lower() if isinstance(shown, bool) else repr(shown)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            raise TrialError(f"{path}: {key}: required key missing") from None
        if not first["loc"]:
            raise TrialError(f"{path}: {message}") from None
        if first["type"] == "value_error" and isinstance(first.get("input"), dict):
            name = first["input"].get("name")
            raise TrialError(f"{path}: {key}{f' ({name})' if name else ''}: {message}") from None
        raise TrialError(
            f"{path}: {key} = {shown} is invalid: {first['msg'].removeprefix('Value error, ')}"
        ) from None
    valid = (*USER_INTERVENTIONS, "staff_training")
    if spec.intervention is not None and spec.intervention not in valid:
        raise TrialError(
            f"{path}: intervention = {spec.intervention!r} is unknown; allowed: {', '.join(valid)}"
        )
    if spec.intervention is not None and spec.intervention in context_part.get("offers", {}):
        raise TrialError(
            f"{path}: offers.{spec.intervention}: [offers] are the comparator's services, "
            f"given to both arms; the trial's intervention ({spec.intervention}) goes to the "
            "treated arm only: remove it from [offers]"
        )
    context_part.setdefault("name", spec.name)
    try:
        context = from_mapping(context_part, path=path)
    except ScenarioError as error:
        raise TrialError(str(error)) from None
    if context.spec.schedule:
        raise TrialError(
            f"{path}: schedule: trials do not apply a [[schedule]] yet; remove it (run and "
            "compare honour schedules)"
        )
    for i, metric in enumerate(spec.metrics):
        _check_metric(path, i, metric, context)
    trial = TrialExperiment(path=path, spec=spec, context=context)
    check_trial_size(trial)
    return trial


def _check_metric(path: Path, i: int, metric: MetricSpec, context: Scenario) -> None:
    """Refuse a metric whose quantities or sites the trial does not have."""
    known = per_user_quantities()
    for key, name in (("outcome", metric.outcome), ("with", metric.with_)):
        if name is not None and name not in known:
            raise TrialError(
                f"{path}: metrics.{i}.{key} = {name!r} is not a per-user "
                f"quantity; allowed: {', '.join(sorted(known))}"
            )
    yes_no = yes_no_quantities()
    if metric.kind == "odds_ratio" and metric.threshold is None and metric.outcome not in yes_no:
        raise TrialError(
            f"{path}: metrics.{i}.outcome = {metric.outcome!r}: kind = 'odds_ratio' needs a "
            f"yes/no outcome ({', '.join(sorted(yes_no))}) or a threshold "
            "(threshold = X makes the outcome 'above X')"
        )
    sites = [site.name for site in context.spec.sites]
    if metric.by_site and len(set(sites)) < len(sites):
        raise TrialError(
            f"{path}: metrics.{i}.by_site = true needs distinct [[sites]] names for the "
            f"columns {metric.name}[<site>]; the sites are named {sites}"
        )


def metric_names(trial: TrialExperiment) -> list[tuple[str, MetricSpec]]:
    """Every column a trial's frame has besides ``replicate``, with its metric, in order.

    A metric gives its own column, then with ``by_site`` one column per site.
    """
    sites = [site.name for site in trial.context.spec.sites]
    return [
        (column, metric)
        for metric in trial.spec.metrics
        for column in [
            metric.name,
            *(site_column(metric.name, s) for s in (sites if metric.by_site else [])),
        ]
    ]


def check_trial_size(trial: TrialExperiment, replicates: int | None = None) -> None:
    """Refuse a trial over :data:`MAX_TRIAL_SIZE` users or the machine's memory.

    Raises:
        TrialError: Naming the file and the knobs (n_per_arm, replicates).
    """
    spec = trial.spec
    replicates = replicates or spec.replicates
    users = (1 if spec.intervention is None else 2) * spec.n_per_arm
    knob = "n_per_arm or replicates"
    try:
        check_limit(users * replicates, MAX_TRIAL_SIZE, f"users simulated ({knob})")
        check_memory(users, replicates, spec.follow_up_weeks, knob)
    except UserError as error:
        raise TrialError(f"{trial.path}: {error}") from None


def run_trial(
    trial: TrialExperiment,
    *,
    replicates: int | None = None,
    seed: int | None = None,
    params: dict[str, float] | None = None,
    design_point: int = 0,
) -> pd.DataFrame:
    """Run replicate trials; one row per replicate with every metric.

    Args:
        trial: The loaded trial.
        replicates: Replicate trials (default: the file's).
        seed: Seed (default: the file's).
        params: Registry values overriding the trial context's (e.g. a
            calibration proposal or a posterior draw).
        design_point: Seed coordinate, so different parameter sets can get
            independent or (same value) common random numbers.
    """
    spec = trial.spec
    return run_trial_sets(
        trial,
        [params or {}],
        [spec.seed if seed is None else seed],
        replicates=replicates or spec.replicates,
        design_point=design_point,
    )[0]


def run_trial_sets(
    trial: TrialExperiment,
    param_sets: list[dict[str, float]],
    seeds: list[int],
    *,
    replicates: int,
    design_point: int = 0,
    max_agent_runs: int = 250_000,
) -> list[pd.DataFrame]:
    """Replicate trials for several parameter sets, batched into few simulations.

    Set ``i`` runs ``replicates`` trials seeded ``RunSeed(seeds[i], design_point, r)``;
    its frame is the same as :func:`run_trial` would give for that set and seed,
    however the sets are batched (a run depends only on its world, parameters and
    seed). Runs sharing the trial's world go through one call of the engine, in
    chunks of at most ``max_agent_runs`` users x runs. A frame has ``replicate``,
    one column per metric name and, for ``by_site`` metrics, one per site
    (:func:`metric_names`); metrics ``at_week`` before the end of follow-up read
    the per-user quantities recorded on the way (same runs, no extra simulation).
    """
    world, treated = trial.world()
    context = trial.context.parameters()
    runs = [
        (validate({**context, **params}, where=str(trial.path)), RunSeed(seed, design_point, r))
        for params, seed in zip(param_sets, seeds, strict=True)
        for r in range(replicates)
    ]
    finals = _per_user_finals(trial, world, runs, max_agent_runs)
    site_of_user = np.array([team.site for team in world.teams])[world.team_of_agent]
    site_names = [site.name for site in world.sites]
    frames = []
    for i in range(len(param_sets)):
        rows = []
        for r in range(replicates):
            row: dict[str, float] = {"replicate": r}
            for metric in trial.spec.metrics:
                week = _week(trial, metric)
                here = {name: values[i * replicates + r] for name, values in finals[week].items()}
                row.update(metric_columns(metric, here, week, treated, site_of_user, site_names))
            rows.append(row)
        frames.append(pd.DataFrame(rows))
    return frames


def _per_user_finals(
    trial: TrialExperiment,
    world: World,
    runs: list[tuple[dict[str, float], RunSeed]],
    max_agent_runs: int,
) -> dict[int, dict[str, list[np.ndarray]]]:
    """Week -> quantity -> one (users,) array per run: what the metrics read."""
    quantities = sorted(set().union(*(needed_quantities(m) for m in trial.spec.metrics)))
    weeks = sorted({_week(trial, m) for m in trial.spec.metrics})
    finals: dict[int, dict[str, list[np.ndarray]]] = {
        week: {name: [] for name in quantities} for week in weeks
    }
    per_run = max(1, max_agent_runs // max(world.n_agents, 1))
    for start in range(0, len(runs), per_run):
        chunk = runs[start : start + per_run]
        result = run_simulations(
            world,
            [values for values, _ in chunk],
            [seed for _, seed in chunk],
            trial.spec.follow_up_weeks,
            metrics=(),
            finals=quantities,
            finals_weeks=weeks,
        ).finals_at
        for week in weeks:
            for name in quantities:
                finals[week][name].extend(result[week][name])
    return finals


def _week(trial: TrialExperiment, metric: MetricSpec) -> int:
    """The follow-up week a metric is measured at."""
    return trial.spec.follow_up_weeks if metric.at_week is None else metric.at_week
