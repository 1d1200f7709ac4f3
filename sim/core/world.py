"""The structure of a simulated service system: sites, teams, who is offered what.

A :class:`World` is shared by every run of a batch; what varies between runs are
the registry parameters (one set per run) and the seeds. Site and team
attributes left as ``None`` take the run's registry value; set ones override it
(a multi-centre trial gives each site its own unemployment rate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from sim.core.errors import UserError
from sim.core.logic_model import USER_INTERVENTIONS

__all__ = [
    "ENVIRONMENT_KEYS",
    "SERVICE_KEYS",
    "OpenService",
    "Site",
    "Team",
    "World",
    "WorldError",
    "make_world",
    "shadowed",
]

ENVIRONMENT_KEYS = ("unemployment_rate", "public_stigma", "housing_availability")
SERVICE_KEYS = (
    "professional_attitudes",
    "fidelity",
    "usual_care_contact",
    "staff_training_participation",
)


class WorldError(UserError):
    """A world description that cannot be simulated."""


@dataclass(frozen=True)
class Site:
    """An environment: a local labour and housing market with its stigma.

    Attributes left as None take the run's registry value.
    """

    name: str = "site"
    unemployment_rate: float | None = None
    public_stigma: float | None = None
    housing_availability: float | None = None


@dataclass(frozen=True)
class Team:
    """A community mental-health team (the service level).

    Attributes:
        name: Label.
        site: Index of the team's site.
        professional_attitudes, fidelity, usual_care_contact,
        staff_training_participation: Overrides of the registry values (None = use them).
        staff_training: Whether the team receives recovery-oriented staff training.
        capacity: Places per user intervention; a missing key means no limit.
    """

    name: str = "team"
    site: int = 0
    professional_attitudes: float | None = None
    fidelity: float | None = None
    usual_care_contact: float | None = None
    staff_training_participation: float | None = None
    staff_training: bool = False
    capacity: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenService:
    """Referrals into an open service (docs/ODD.md §7.15); None on a world is a closed cohort.

    The world's N users are everyone the service sees over the run: ``initial_caseload``
    of them are in service at week 0, the others are referred later, in an order drawn
    per run, at a Poisson rate of ``referrals_per_week`` x (1 + ``seasonal_amplitude`` x
    cos(2 pi (week - ``peak_week``) / 52)). Users leave the service at the ``service_exit_*``
    and ``mortality_per_week`` rates of the registry.

    Attributes:
        initial_caseload: Users in service at week 0 (0..N).
        referrals_per_week: Mean referrals per week (> 0).
        seasonal_amplitude: Relative amplitude of an annual cycle of referrals (0..1).
        peak_week: Week of the year at which referrals peak (0..51).
    """

    initial_caseload: int
    referrals_per_week: float
    seasonal_amplitude: float = 0.0
    peak_week: int = 0

    def rate(self, week: np.ndarray | int) -> np.ndarray:
        """Mean referrals in ``week`` (>= 1)."""
        phase = 2.0 * np.pi * (np.asarray(week) - self.peak_week) / WEEKS_PER_YEAR
        return self.referrals_per_week * (1.0 + self.seasonal_amplitude * np.cos(phase))

    def capacity_weeks(self, n_agents: int) -> float:
        """Weeks of referrals the not-yet-referred users can supply (at the mean rate)."""
        return (n_agents - self.initial_caseload) / self.referrals_per_week


WEEKS_PER_YEAR = 52


@dataclass(frozen=True, eq=False)
class World:
    """Sites, teams, the users' team membership and who is offered which intervention.

    Attributes:
        sites: The environments.
        teams: The teams; each names its site.
        team_of_agent: Team index of each user, shape (N,).
        offered: Whether each user is offered each user intervention, shape
            (N, len(USER_INTERVENTIONS)).
        capacity: Places per team and intervention, shape (T, K); -1 = unlimited.
        staff_training: Whether each team is trained, shape (T,).
        service: Referrals into an open service, or None for a closed cohort (every
            user in service from week 0 to the horizon).
        training_start_week: The step from which each trained team's training ramp runs,
            shape (T,) (0 for training from entry; a scheduled training starts later);
            None is all 0.
    """

    sites: tuple[Site, ...]
    teams: tuple[Team, ...]
    team_of_agent: np.ndarray
    offered: np.ndarray
    capacity: np.ndarray
    staff_training: np.ndarray
    service: OpenService | None = None
    training_start_week: np.ndarray | None = None

    @property
    def training_starts(self) -> np.ndarray:
        """:attr:`training_start_week`, zeros when None, shape (T,) int."""
        if self.training_start_week is None:
            return np.zeros(len(self.teams), dtype=np.int64)
        return self.training_start_week

    @property
    def n_agents(self) -> int:
        """Number of service users."""
        return int(self.team_of_agent.shape[0])

    @cached_property
    def site_of_agent(self) -> np.ndarray:
        """Site index of each user, shape (N,)."""
        return np.array([t.site for t in self.teams], dtype=np.int64)[self.team_of_agent]

    @property
    def team_site(self) -> np.ndarray:
        """Site index of each team, shape (T,)."""
        return np.array([t.site for t in self.teams], dtype=np.int64)


def shadowed(world: World, values: Mapping[str, float]) -> list[str]:
    """Where a site or team of ``world`` sets its own value for a key of ``values``.

    Such a run-level value would be ignored at that site or team (the unit's own
    value wins), so callers refuse it rather than record a value that had no
    effect. Returns ``"sites.0.unemployment_rate = 0.05"``-style descriptions.
    """
    found = []
    for table, units, keys in (
        ("sites", world.sites, ENVIRONMENT_KEYS),
        ("teams", world.teams, SERVICE_KEYS),
    ):
        for i, unit in enumerate(units):
            for key in keys:
                own = getattr(unit, key)
                if key in values and own is not None and own != values[key]:
                    found.append(f"{table}.{i}.{key} = {own}")
    return found


def _offer_matrix(n_agents: int, offer: Mapping[str, object]) -> np.ndarray:
    offered = np.zeros((n_agents, len(USER_INTERVENTIONS)), dtype=bool)
    for name, who in offer.items():
        if name not in USER_INTERVENTIONS:
            raise WorldError(
                f"cannot offer {name!r}; user interventions are: {', '.join(USER_INTERVENTIONS)}"
            )
        column = USER_INTERVENTIONS.index(name)
        if isinstance(who, int | float) and not isinstance(who, bool):
            if not 0.0 <= who <= 1.0:
                raise WorldError(f"offer share for {name!r} must be in [0, 1], got {who}")
            offered[: round(who * n_agents), column] = True
        else:
            mask = np.asarray(who, dtype=bool)
            if mask.shape != (n_agents,):
                raise WorldError(f"offer mask for {name!r} must have shape ({n_agents},)")
            offered[:, column] = mask
    return offered


def _capacity_matrix(teams: Sequence[Team]) -> np.ndarray:
    capacity = np.full((len(teams), len(USER_INTERVENTIONS)), -1, dtype=np.int64)
    for t, team in enumerate(teams):
        for name, places in team.capacity.items():
            if name not in USER_INTERVENTIONS:
                raise WorldError(f"team {team.name!r}: no intervention {name!r} to give places to")
            if isinstance(places, bool) or not isinstance(places, int) or places < 0:
                raise WorldError(
                    f"team {team.name!r}: places for {name!r} must be a whole number >= 0"
                )
            capacity[t, USER_INTERVENTIONS.index(name)] = places
    return capacity


def make_world(
    n_agents: int,
    *,
    sites: Sequence[Site] | None = None,
    teams: Sequence[Team] | None = None,
    offer: Mapping[str, object] | None = None,
    team_of_agent: Sequence[int] | np.ndarray | None = None,
    service: OpenService | None = None,
) -> World:
    """Build a :class:`World`.

    Args:
        n_agents: Number of service users (>= 1).
        sites: Environments (default: one site with registry values).
        teams: Teams (default: one untrained team with registry values).
        offer: Intervention name -> a share of users (the first ``share x N``
            users, who are a random sample because entry traits are i.i.d.) or
            a boolean mask over users.
        team_of_agent: Team of each user (default: user i joins team i mod T).
        service: Referrals into an open service (default: a closed cohort).

    Returns:
        The world.
    """
    if isinstance(n_agents, bool) or not isinstance(n_agents, int) or n_agents < 1:
        raise WorldError(f"n_agents must be a whole number >= 1, got {n_agents!r}")
    sites = tuple(sites) if sites else (Site(),)
    teams = tuple(teams) if teams else (Team(),)
    for team in teams:
        if not 0 <= team.site < len(sites):
            raise WorldError(f"team {team.name!r} names site {team.site}; there are {len(sites)}")
    if team_of_agent is None:
        membership = np.arange(n_agents, dtype=np.int64) % len(teams)
    else:
        membership = np.asarray(team_of_agent, dtype=np.int64)
        if (
            membership.shape != (n_agents,)
            or membership.min() < 0
            or membership.max() >= len(teams)
        ):
            raise WorldError("team_of_agent must give a valid team index for every user")
    if service is not None:
        _check_service(service, n_agents)
    return World(
        sites=sites,
        teams=teams,
        team_of_agent=membership,
        offered=_offer_matrix(n_agents, offer or {}),
        capacity=_capacity_matrix(teams),
        staff_training=np.array([t.staff_training for t in teams], dtype=bool),
        service=service,
    )


def _check_service(service: OpenService, n_agents: int) -> None:
    caseload = service.initial_caseload
    if isinstance(caseload, bool) or not isinstance(caseload, int) or not 0 <= caseload <= n_agents:
        raise WorldError(
            f"initial_caseload must be a whole number in 0..{n_agents}, got {caseload}"
        )
    if not service.referrals_per_week > 0:
        raise WorldError(f"referrals_per_week must be > 0, got {service.referrals_per_week}")
    if not 0.0 <= service.seasonal_amplitude <= 1.0:
        raise WorldError(f"seasonal_amplitude must be in [0, 1], got {service.seasonal_amplitude}")
    if not 0 <= service.peak_week < WEEKS_PER_YEAR:
        raise WorldError(f"peak_week must be in 0..{WEEKS_PER_YEAR - 1}, got {service.peak_week}")
