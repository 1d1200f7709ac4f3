"""Scenario files (TOML): read, inherit, override, validate, and turn into a world.

A scenario describes one situation: the population, the sites (environment),
the teams (service), which interventions are offered to what share of users,
the horizon, the replicates and the seed. Validation is generated from the
parameter registry with pydantic, so bounds are never retyped; every error names
the file, the key path, the bad value and what is allowed.

Layout::

    extends = "baseline.toml"      # optional, relative to this file
    name = "ips-scale-up"
    horizon_weeks = 104
    replicates = 10
    seed = 1
    [population]                   # size + user-level registry parameters
    size = 500
    motivation_median = 0.5
    [parameters]                   # any registry parameter (run-level values)
    job_loss_probability_per_week = 0.02
    [[sites]]                      # environment-level overrides per site
    name = "town"
    unemployment_rate = 0.07
    [[teams]]                      # service-level overrides per team
    name = "cmht"
    site = "town"
    staff_training = false
    places = { supported_employment = 40 }
    [offers]                       # intervention -> share of users offered
    supported_employment = 0.5
    [service]                      # optional: an open service (default: a closed cohort)
    initial_caseload = 300         # of the population's users; the others are referred later
    referrals_per_week = 4.0
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)

from sim.core.errors import MAX_AGENTS, MAX_EXTENDS_DEPTH, MAX_REPLICATES, MAX_WEEKS, UserError
from sim.core.logic_model import USER_INTERVENTIONS
from sim.core.open_service import EXIT_PARAMETERS, expected_referrals
from sim.core.parameters import REGISTRY, Parameter, names
from sim.core.schedule import SCHEDULABLE, STAFF_TRAINING, ScheduledChange, level_of
from sim.core.world import OpenService, Site, Team, World, make_world, shadowed
from sim.files.inputs import read_toml_file
from sim.files.kinds import wrong_kind
from sim.files.outputs import check_output_name

__all__ = [
    "Scenario",
    "ScenarioError",
    "apply_override",
    "apply_text_override",
    "from_mapping",
    "load_scenario",
    "parse_override",
]


class ScenarioError(UserError):
    """A scenario file or override that cannot be used, with an actionable message."""


def _not_bool(value: Any) -> Any:
    """Refuse booleans where a number is expected (pydantic would read true as 1)."""
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")
    return value


NotBool = BeforeValidator(_not_bool)
# A finite number that is not a boolean (bounds, scales, thresholds in the study files).
Number = Annotated[float, NotBool, Field(allow_inf_nan=False)]


def _field(p: Parameter, *, required: bool = False) -> tuple[Any, Any]:
    kind = Annotated[int if p.integer else float, NotBool]
    spec = Field(... if required else None, ge=p.low, le=p.high, description=p.description)
    return (kind | None, spec) if not required else (kind, spec)


def _model(name: str, params: Sequence[str], extra: dict[str, tuple[Any, Any]]) -> type:
    fields = {n: _field(REGISTRY[n]) for n in params}
    fields.update(extra)
    return create_model(name, __config__=ConfigDict(extra="forbid", strict=False), **fields)


_Share = Annotated[float, Field(ge=0.0, le=1.0), NotBool]
_Places = Annotated[int, Field(ge=0, le=MAX_AGENTS), NotBool]  # more places than users is no limit

PopulationSpec = _model(
    "PopulationSpec",
    names("user"),
    {
        "size": (
            Annotated[int, Field(ge=1, le=MAX_AGENTS), NotBool],
            Field(500, description="Number of simulated service users."),
        )
    },
)
SiteSpec = _model(
    "SiteSpec",
    names("environment"),
    {"name": (str, Field("site", description="The site's name; teams refer to it by name."))},
)
TeamSpec = _model(
    "TeamSpec",
    names("service"),
    {
        "name": (str, Field("team", description="The team's name.")),
        "site": (
            str | int,
            Field(0, description="The team's site: a [[sites]] name, or its index from 0."),
        ),
        "staff_training": (
            bool,
            Field(
                False,
                description="Whether the team's staff receive recovery-oriented training "
                "(the staff_training_* parameters set its effect).",
            ),
        ),
        "places": (
            dict[str, _Places],
            Field(
                {},
                description="Places per intervention at this team (users in it at once; the "
                "others wait); a missing intervention has no limit.",
            ),
        ),
    },
)
ParametersSpec = _model("ParametersSpec", list(REGISTRY), {})
ScheduleSpec = _model(
    "ScheduleSpec",
    list(SCHEDULABLE),
    {
        "week": (
            Annotated[int, Field(ge=1, le=MAX_WEEKS), NotBool],
            Field(
                description="The first week the new values apply (the step into this week "
                "uses them); at most the horizon."
            ),
        ),
        "sites": (
            list[str] | None,
            Field(
                None,
                description="[[sites]] names the environment settings change at (default: "
                "every site).",
            ),
        ),
        "teams": (
            list[str] | None,
            Field(
                None,
                description="[[teams]] names the service settings and places change at "
                "(default: every team).",
            ),
        ),
        "offers": (
            dict[str, _Share] | None,
            Field(
                None,
                description="Intervention -> the share of users offered it from this week "
                "(the first share x N users, so a larger share adds users; offers may only "
                "grow).",
            ),
        ),
        "places": (
            dict[str, Annotated[int, Field(ge=-1, le=MAX_AGENTS), NotBool]] | None,
            Field(
                None,
                description="Intervention -> places at each of `teams` from this week (-1: no "
                "limit); users already in it stay.",
            ),
        ),
        STAFF_TRAINING: (
            Literal[True] | None,
            Field(
                None,
                description="true: recovery-oriented staff training starts at each of `teams` "
                "this week (its ramp of staff_training_weeks runs from here); only untrained "
                "teams, and training cannot be withdrawn.",
            ),
        ),
    },
)


class ServiceSpec(BaseModel):
    """An open service: users referred over the run, leaving at the registry's exit rates."""

    model_config = ConfigDict(extra="forbid")
    initial_caseload: Annotated[int, Field(ge=0, le=MAX_AGENTS), NotBool] = Field(
        description="Users in service at week 0; the rest of [population] size are referred "
        "later (size must cover the referrals over the horizon)."
    )
    referrals_per_week: Annotated[float, Field(gt=0.0, le=MAX_AGENTS), NotBool] = Field(
        description="Mean referrals a week (Poisson), over the whole service."
    )
    seasonal_amplitude: Annotated[float, Field(ge=0.0, le=1.0), NotBool] = Field(
        0.0,
        description="Relative amplitude of an annual cycle of referrals: the rate is "
        "referrals_per_week x (1 + amplitude x cos(2 pi (week - peak_week) / 52)).",
    )
    peak_week: Annotated[int, Field(ge=0, le=51), NotBool] = Field(
        0, description="Week of the year (0-51) at which referrals peak."
    )


ScheduleSpec.__doc__ = (
    "A change from a given week on: unemployment_rate, public_stigma, "
    "housing_availability (sites), fidelity, usual_care_contact, places, staff_training "
    "(teams), offers."
)


class ScenarioSpec(BaseModel):
    """The validated content of a scenario file (after inheritance)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, AfterValidator(check_output_name)] = Field(
        "scenario", description="The scenario's name; names its output folder."
    )
    description: str = Field("", description="One line saying what the scenario is.")
    horizon_weeks: Annotated[int, Field(ge=1, le=MAX_WEEKS), NotBool] = Field(
        104, description="Weeks simulated (one step is one week)."
    )
    replicates: Annotated[int, Field(ge=1, le=MAX_REPLICATES), NotBool] = Field(
        5, description="Independent runs, each with its own random numbers."
    )
    seed: Annotated[int, Field(ge=0), NotBool] = Field(
        0, description="Seed from which every run's random numbers are derived."
    )
    population: PopulationSpec = Field(  # type: ignore[valid-type]
        default_factory=PopulationSpec,
        description="The users: their number and user-level parameters at entry.",
    )
    parameters: ParametersSpec = Field(  # type: ignore[valid-type]
        default_factory=ParametersSpec,
        description="Run-level values of registry parameters (a site's, team's or "
        "[population]'s own value of the same name wins, so a clash is refused).",
    )
    sites: list[SiteSpec] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [SiteSpec()],
        min_length=1,
        description="The places users live in, each with its environment-level parameters.",
    )
    teams: list[TeamSpec] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [TeamSpec()],
        description="The services users belong to (user i joins team i modulo the "
        "number of teams), each at one site.",
    )
    offers: dict[str, _Share] = Field(
        default_factory=dict,
        description="Intervention -> share of users offered it (0 to 1).",
    )
    schedule: list[ScheduleSpec] = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="Settings that change during the run, each [[schedule]] from its week "
        "on: a recession, a funding cut, a staged roll-out, rising or falling stigma. "
        "Honoured by run and compare; sweeps, sensitivity analyses and trials refuse a "
        "scenario with one.",
    )
    service: ServiceSpec | None = Field(
        None,
        description="An open service: referrals arrive each week and users leave (recovered, "
        "moved on, disengaged, died); places free up and waiting lists form. Without it "
        "the population is a closed cohort, in service from week 0 to the horizon (what "
        "trials need).",
    )


@dataclass(frozen=True)
class Scenario:
    """A resolved scenario, ready to simulate.

    Attributes:
        path: The file it was read from (None when built in code).
        spec: The validated specification.
        resolved: The merged raw mapping (after ``extends`` and overrides).
    """

    path: Path | None
    spec: ScenarioSpec
    resolved: dict[str, Any]

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.spec.name

    def parameters(self) -> dict[str, float]:
        """Run-level registry values: [parameters], then [population] user values."""
        values = {k: v for k, v in self.spec.parameters.model_dump().items() if v is not None}
        population = self.spec.population.model_dump()
        values.update({k: v for k, v in population.items() if k != "size" and v is not None})
        return values

    def world(self) -> World:
        """The sites, teams and offers as a :class:`~sim.core.world.World`."""
        site_names = [s.name for s in self.spec.sites]
        sites = [Site(name=s.name, **_overrides(s, "environment")) for s in self.spec.sites]
        teams = [
            Team(
                name=t.name,
                site=_site_index(t.site, site_names, self.path),
                staff_training=t.staff_training,
                capacity=dict(t.places),
                **_overrides(t, "service"),
            )
            for t in self.spec.teams
        ]
        service = self.spec.service
        return make_world(
            self.spec.population.size,
            sites=sites,
            teams=teams,
            offer=dict(self.spec.offers),
            service=None if service is None else OpenService(**service.model_dump()),
        )

    def schedule(self) -> tuple[ScheduledChange, ...]:
        """The ``[[schedule]]`` entries as engine changes (site and team indices)."""
        site_names = [s.name for s in self.spec.sites]
        team_names = [t.name for t in self.spec.teams]
        changes = []
        for n, entry in enumerate(self.spec.schedule):
            where = f"{self.path or '<scenario>'}: schedule[{n}]"
            sites = _indices(entry.sites, site_names, f"{where}.sites", "[[sites]]")
            teams = _indices(entry.teams, team_names, f"{where}.teams", "[[teams]]")
            values = {k: v for k, v in entry.model_dump().items() if k in SCHEDULABLE}
            given = {k: v for k, v in values.items() if v is not None}
            if entry.staff_training:
                given[STAFF_TRAINING] = 1.0
            for kind in ("offers", "places"):
                for name, value in (getattr(entry, kind) or {}).items():
                    if name not in USER_INTERVENTIONS:
                        raise ScenarioError(
                            f"{where}.{kind}.{name}: unknown intervention"
                            f"{_nearest(name, USER_INTERVENTIONS)}; "
                            f"allowed: {', '.join(USER_INTERVENTIONS)}"
                        )
                    given[f"{kind}.{name}"] = value
            if not given:
                raise ScenarioError(
                    f"{where}: changes nothing; set one of {', '.join(SCHEDULABLE)}, offers, "
                    "places, staff_training"
                )
            levels = {level_of(k) for k in given}
            if entry.sites is not None and "site" not in levels:
                raise ScenarioError(f"{where}.sites: no site setting in this entry to apply")
            if entry.teams is not None and "team" not in levels:
                raise ScenarioError(f"{where}.teams: no team setting in this entry to apply")
            if entry.week > self.spec.horizon_weeks:
                raise ScenarioError(
                    f"{where}.week = {entry.week}: after the horizon "
                    f"({self.spec.horizon_weeks} weeks), so it would never take effect"
                )
            for key, value in given.items():
                level = level_of(key)
                units = {"site": sites, "team": teams, "offer": ()}[level]
                changes.append(ScheduledChange(entry.week, key, units, float(value)))
        self._check_offers_grow(changes)
        self._check_training_starts(changes)
        return tuple(changes)

    def _check_training_starts(self, changes: list[ScheduledChange]) -> None:
        """Refuse a scheduled training of a team already trained (at entry or before)."""
        trained = {t.name for t in self.spec.teams if t.staff_training}
        names = [t.name for t in self.spec.teams]
        for change in sorted(changes, key=lambda c: c.week):
            if change.key != STAFF_TRAINING:
                continue
            again = [names[t] for t in change.units if names[t] in trained]
            if again:
                raise ScenarioError(
                    f"{self.path or '<scenario>'}: schedule: staff_training at week "
                    f"{change.week}: team {again[0]!r} is already trained by then; a schedule "
                    "starts a training once, at untrained teams (name them in `teams`)"
                )
            trained.update(names[t] for t in change.units)

    def _check_offers_grow(self, changes: list[ScheduledChange]) -> None:
        """Refuse a scheduled offer below the one in force (a schedule only widens offers)."""
        current = {name: float(share) for name, share in self.spec.offers.items()}
        for change in sorted(changes, key=lambda c: c.week):
            if change.level != "offer":
                continue
            name = change.key.removeprefix("offers.")
            if change.value < current.get(name, 0.0):
                raise ScenarioError(
                    f"{self.path or '<scenario>'}: schedule: offers.{name} = {change.value} at "
                    f"week {change.week} is below the {current[name]} offered before; a "
                    "schedule may only widen an offer (a withdrawn offer's waiting list is "
                    "not modelled)"
                )
            current[name] = change.value

    def digest(self) -> str:
        """SHA-256 of the resolved scenario (canonical JSON)."""
        text = json.dumps(self.resolved, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _overrides(spec: BaseModel, level: str) -> dict[str, float]:
    return {k: v for k, v in spec.model_dump().items() if k in names(level) and v is not None}


def _site_index(site: str | int, site_names: list[str], path: Path | None) -> int:
    if isinstance(site, int) and 0 <= site < len(site_names):
        return site
    if isinstance(site, str) and site in site_names:
        return site_names.index(site)
    raise ScenarioError(
        f"{path or '<scenario>'}: teams: site = {site!r} is not a site; "
        f"allowed: {', '.join(site_names)} or an index below {len(site_names)}"
    )


def _resolve(path: Path, where: str) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ScenarioError(f"{where}cannot resolve {path}: {exc}") from None


def _read_toml(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError(f"{chain[-1]}: extends: circular inheritance ({cycle})")
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(
            f"{chain[-1]}: extends: a chain of more than {MAX_EXTENDS_DEPTH} files "
            f"exceeds the limit of {MAX_EXTENDS_DEPTH} (starting at {chain[0]})"
        )
    where = f"{chain[-1]}: extends: " if chain else ""
    if not path.exists() and not path.is_symlink():
        raise ScenarioError(f"{where}scenario file not found: {path}")
    try:
        raw = read_toml_file(path, "scenario file", ScenarioError)
    except ScenarioError as error:
        raise ScenarioError(f"{where}{error}") from None
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: extends = {parent!r} must be a file name (string)")
    return _merge(
        _read_toml(_resolve(path.parent / parent, f"{path}: extends: "), (*chain, path)), raw
    )


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, anything else (arrays too) is replaced."""
    merged = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b.0.c=value``; the value is read as TOML (numbers, booleans, strings)."""
    path, sep, value = text.partition("=")
    keys = [k.strip() for k in path.split(".")]
    if not sep or not all(keys):
        raise ScenarioError(
            f"--set {text!r}: expected KEY.PATH=VALUE, e.g. sites.0.unemployment_rate=0.12"
        )
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()  # a bare word is taken as a string
    return keys, parsed


def apply_override(raw: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set ``raw[keys...] = value``; every container on the path must exist."""
    node: Any = raw
    for depth, key in enumerate(keys[:-1]):
        node = _descend(node, key, keys[: depth + 1])
    last = keys[-1]
    if isinstance(node, list):
        _descend(node, last, keys)
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError(f"--set {'.'.join(keys)}: {'.'.join(keys[:-1])} is not a table")


def _descend(node: Any, key: str, path: list[str]) -> Any:
    dotted = ".".join(path)
    if isinstance(node, list):
        if not key.isdigit() or int(key) >= len(node):
            raise ScenarioError(f"--set {dotted}: no item {key!r}; indices 0-{len(node) - 1} exist")
        return node[int(key)]
    if isinstance(node, dict):
        if key not in node:
            if key in ("sites", "teams"):  # implicit single default site or team
                node[key] = [{}]
            else:
                node[key] = {}
        return node[key]
    raise ScenarioError(f"--set {dotted}: cannot descend into a value")


_TOP_LEVEL = (
    "name",
    "description",
    "horizon_weeks",
    "replicates",
    "seed",
    "population",
    "parameters",
    "sites",
    "teams",
    "offers",
)


def apply_text_override(raw: dict[str, Any], text: str) -> None:
    """Apply one ``--set`` text: ``KEY.PATH=VALUE``, or ``NAME=VALUE`` for a registry name.

    A bare registry name is set where its level lives, so it takes effect
    everywhere: user level in [population], environment level on every site,
    service level on every team (and each also in [parameters]); structural
    parameters in [parameters].
    """
    keys, value = parse_override(text)
    if len(keys) > 1 or keys[0] in _TOP_LEVEL:
        apply_override(raw, keys, value)
        return
    name = keys[0]
    if name not in REGISTRY:
        raise ScenarioError(
            f"--set {text!r}: {name!r} is neither a scenario key nor a "
            f"registry parameter{_nearest(name, [*REGISTRY, *_TOP_LEVEL])}"
        )
    level = REGISTRY[name].level
    raw.setdefault("parameters", {})[name] = value
    if level == "user":
        raw.setdefault("population", {})[name] = value
    for table, wanted in (("sites", "environment"), ("teams", "service")):
        if level == wanted:
            for item in raw.setdefault(table, [{}]):
                item[name] = value


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, inherit, override and validate a scenario file.

    Args:
        path: The TOML file.
        overrides: ``KEY.PATH=VALUE`` strings applied after inheritance.

    Raises:
        ScenarioError: With the file, key path, value and what is allowed.
    """
    file = _resolve(Path(path), "")
    raw = _read_toml(file, ())
    for text in overrides:
        apply_text_override(raw, text)
    return from_mapping(raw, path=Path(path))


def from_mapping(raw: dict[str, Any], *, path: Path | None = None) -> Scenario:
    """Validate a raw scenario mapping (as read from TOML)."""
    try:
        spec = ScenarioSpec.model_validate(raw)
    except ValidationError as exc:
        hint = wrong_kind(raw, "scenario", ScenarioSpec.model_fields)
        if hint is not None:
            raise ScenarioError(f"{path or '<scenario>'}: {hint}") from None
        raise ScenarioError(_explain(exc, path or Path("<scenario>"))) from None
    for name in spec.offers:
        if name not in USER_INTERVENTIONS:
            raise ScenarioError(
                f"{path}: offers.{name}: unknown intervention"
                f"{_nearest(name, USER_INTERVENTIONS)}; "
                f"allowed: {', '.join(USER_INTERVENTIONS)}"
            )
    _check_service(spec, path)
    scenario = Scenario(path=path, spec=spec, resolved=raw)
    try:
        world = scenario.world()
    except ScenarioError:
        raise
    except ValueError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    _check_one_meaning(spec, world, path)
    scenario.schedule()  # checked at load time: names, weeks, empty entries
    return scenario


def _indices(chosen: list[str] | None, names: list[str], where: str, table: str) -> tuple[int, ...]:
    """Indices of the ``chosen`` names (all when None); unknown or repeated names refused."""
    if chosen is None:
        return tuple(range(len(names)))
    unknown = [name for name in chosen if name not in names]
    if unknown:
        raise ScenarioError(
            f"{where}: unknown name {unknown[0]!r}{_nearest(unknown[0], names)}; "
            f"allowed ({table} names): {', '.join(names)}"
        )
    if not chosen or len(set(chosen)) < len(chosen):
        raise ScenarioError(f"{where}: give each name once, at least one")
    return tuple(names.index(name) for name in chosen)


def _check_one_meaning(spec: ScenarioSpec, world: World, path: Path | None) -> None:
    """Refuse a [parameters] value that a site, team or [population] overrides.

    A site's (team's, the population's) own value wins in the model, so a different
    [parameters] value would be recorded in the manifest without having any effect.
    ``--set NAME=VALUE`` sets every level at once and never conflicts.
    """
    given = {k: v for k, v in spec.parameters.model_dump().items() if v is not None}
    clashes = [
        f"population.{k} = {v}"
        for k, v in spec.population.model_dump().items()
        if k in given and k != "size" and v is not None and v != given[k]
    ]
    clashes += shadowed(world, given)
    if clashes:
        name = clashes[0].split(" = ")[0].rsplit(".", 1)[-1]
        raise ScenarioError(
            f"{path or '<scenario>'}: parameters.{name} = {given[name]} would be ignored: "
            f"{clashes[0]} (possibly inherited) sets its own value; set it there "
            f"(e.g. {clashes[0].split(' = ')[0]}), drop it from [parameters], or use "
            f"--set {name}=VALUE, which sets every site, team and [parameters] alike"
        )


def _check_service(spec: ScenarioSpec, path: Path | None) -> None:
    """Refuse exit rates without an open service, and a population too small for its referrals."""
    where = path or "<scenario>"
    given = {k for k, v in spec.parameters.model_dump().items() if v is not None}
    if spec.service is None:
        unused = [name for name in EXIT_PARAMETERS if name in given]
        if unused:
            raise ScenarioError(
                f"{where}: parameters.{unused[0]} acts only in an open service, and this "
                "scenario is a closed cohort; add a [service] table or drop the value"
            )
        return
    size, service = spec.population.size, spec.service
    if service.initial_caseload > size:
        raise ScenarioError(
            f"{where}: service.initial_caseload = {service.initial_caseload} is more than "
            f"population.size = {size}"
        )
    world_service = OpenService(**service.model_dump())
    expected = expected_referrals(world_service, spec.horizon_weeks)
    needed = service.initial_caseload + int(np.ceil(expected + 4.0 * np.sqrt(expected)))
    if size < needed:
        raise ScenarioError(
            f"{where}: population.size = {size} is too small for an open service: "
            f"{service.initial_caseload} in service at entry plus about {expected:.0f} "
            f"referrals over {spec.horizon_weeks} weeks needs size >= {needed} (the users not "
            "yet referred are the pool referrals come from)"
        )


def _nearest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _explain(exc: ValidationError, path: Path) -> str:
    """The first validation error as one line: file, key path, value, what is allowed."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc)
    value = error.get("input")
    shown = str(value).lower() if isinstance(value, bool) else repr(value)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        listing = ", ".join(allowed) if len(allowed) <= 12 else "see `recovery-sim params`"
        return f"{path}: {key}: unknown key{_nearest(loc[-1], allowed)}; allowed: {listing}"
    parameter = REGISTRY.get(loc[-1])
    if parameter is not None:
        unit = "" if parameter.unit == "1" else f" {parameter.unit}"
        allowed = f"a number in [{parameter.low}, {parameter.high}]{unit}"
    else:
        allowed = error["msg"].removeprefix("Value error, ").removeprefix("allowed: ").lower()
    return f"{path}: {key} = {shown} is invalid; allowed: {allowed}"


def _allowed_keys(loc: list[str]) -> list[str]:
    model: Any = ScenarioSpec
    for part in loc:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else annotation
    return list(getattr(model, "model_fields", {}))
