"""The Mesa face of the model: one run of :class:`sim.core.engine.Simulation` as a ``mesa.Model``.

:class:`RecoveryModel` wraps a batch of one run (R = 1). Its :class:`ServiceUser`
and :class:`TeamAgent` agents are thin ``mesa.Agent`` objects whose attributes are
read-only properties over the state arrays (batch index 0, their own column),
so Mesa users get ``model.agents``, ``AgentSet.select/agg/get``, a
``DataCollector`` and ``mesa.batch_run`` while the weekly step stays vectorised.
The face adds nothing to the dynamics: agents have no step of their own, and a
model's trajectory equals :func:`sim.core.engine.run_batch` with the same world,
parameters and seed.

>>> model = RecoveryModel(n_agents=20, seed=1, weeks=2)
>>> model.run_model()
>>> model.steps, model.running
(2, False)
>>> len(model.datacollector.get_model_vars_dataframe())
3
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

import mesa
import networkx as nx
import numpy as np
import pandas as pd

from sim.core import world as world_module
from sim.core.engine import Simulation
from sim.core.errors import UserError
from sim.core.logic_model import STAGES, USER_INTERVENTIONS
from sim.core.metrics import weekly_metrics
from sim.core.parameters import validate
from sim.core.rules import personal_recovery, recovery_stage
from sim.core.seeding import RunSeed

__all__ = ["AGENT_REPORTERS", "ModelError", "RecoveryModel", "ServiceUser", "TeamAgent"]

# DataCollector agent-reporter column -> ServiceUser attribute. The columns are
# prefixed because mesa.batch_run merges model and agent values into one dict per
# row, where an agent column named like a metric would overwrite the metric.
AGENT_REPORTERS: dict[str, str] = {
    f"user_{name}": name for name in ("personal_recovery", "stage", "employed", "hope")
}
DEFAULT_N_AGENTS = 200
RUN = 0  # the model's one run in the batch axis


class ModelError(UserError):
    """A :class:`RecoveryModel` configuration or query that cannot be honoured."""


def _state_value(name: str, cast: Callable, doc: str) -> property:
    """A read-only property reading ``state.<name>[0, column]``."""

    def read(agent: ServiceUser) -> object:
        return cast(getattr(agent.model.simulation.state, name)[RUN, agent.column])

    return property(read, doc=doc)


def _process_value(name: str, doc: str) -> property:
    """A read-only property reading ``state.process[name][0, column]``."""

    def read(agent: ServiceUser) -> float:
        return float(agent.model.simulation.state.process[name][RUN, agent.column])

    return property(read, doc=doc)


class ServiceUser(mesa.Agent):
    """A service user: a view of one column of the model's state arrays.

    Every attribute is a read-only property computed from the current state, so
    it is always up to date and cannot drift from the dynamics. The agent has
    no step of its own: :meth:`RecoveryModel.step` advances all users at once.

    Args:
        model: The owning model.
        column: The user's index in the state arrays (0 .. N - 1).
    """

    def __init__(self, model: RecoveryModel, column: int) -> None:
        super().__init__(model)
        self._column = column

    @property
    def column(self) -> int:
        """Index of this user in the state arrays."""
        return self._column

    motivation = _state_value("motivation", float, "Motivation (0-1), a user-level moderator.")
    severity = _state_value("severity", float, "Symptom severity (0-1).")
    self_stigma = _state_value("self_stigma", float, "Self-stigma (0-1).")
    employed = _state_value("employed", bool, "Whether in competitive employment.")
    housed = _state_value("housed", bool, "Whether stably housed.")
    functioning = _state_value("functioning", float, "Functioning (0-1).")
    connectedness = _state_value("connectedness", float, "Connectedness (0-1).")
    in_relapse = _state_value("in_relapse", bool, "Whether currently in relapse.")
    relapses = _state_value("relapses", int, "Number of relapses since week 0.")
    in_hospital = _state_value("in_hospital", bool, "Whether in psychiatric hospital.")
    admissions = _state_value("admissions", int, "Psychiatric admissions since week 0.")
    family = _state_value("family", bool, "Partner or family contact (the SIX family item).")
    knowledge = _process_value("knowledge", "Knowledge and skills (0-1).")
    self_efficacy = _process_value("self_efficacy", "Self-efficacy (0-1).")
    trust = _process_value("trust", "Trust / working alliance (0-1).")
    hope = _process_value("hope", "Hope (0-1).")
    empowerment = _process_value("empowerment", "Empowerment (0-1).")
    meaning = _process_value("meaning", "Meaning in life (0-1).")

    @property
    def social_inclusion(self) -> int:
        """Objective social inclusion (0-6), after the SIX index."""
        from sim.core.rules import social_inclusion_score

        return int(social_inclusion_score(self.employed, self.housed, self.family, self.ties))

    @property
    def personal_recovery(self) -> float:
        """Personal recovery on the QPR-15 scale (0-60)."""
        return float(self.model.recovery_scores()[0][self._column])

    @property
    def stage_index(self) -> int:
        """Andresen recovery stage as an index into :data:`sim.core.logic_model.STAGES`."""
        return int(self.model.recovery_scores()[1][self._column])

    @property
    def stage(self) -> str:
        """Andresen recovery stage name (moratorium ... growth)."""
        return STAGES[self.stage_index]

    @property
    def team(self) -> int:
        """Index of the user's team in ``model.world.teams``."""
        return int(self.model.world.team_of_agent[self._column])

    @property
    def site(self) -> int:
        """Index of the user's site in ``model.world.sites``."""
        return int(self.model.world.site_of_agent[self._column])

    @property
    def offered(self) -> list[str]:
        """Names of the user interventions this user is offered."""
        return _names(self.model.world.offered[self._column])

    @property
    def interventions(self) -> list[str]:
        """Names of the user interventions the user is currently enrolled in."""
        return _names(self.model.simulation.state.enrolled[RUN, self._column])

    @property
    def ties(self) -> int:
        """Number of ties to other service users (degree in the network)."""
        return int(self.model.simulation.state.network.degree()[RUN, self._column])


def _names(mask: np.ndarray) -> list[str]:
    return [USER_INTERVENTIONS[k] for k in np.flatnonzero(mask)]


class TeamAgent(mesa.Agent):
    """A community mental-health team: a view of one team column of the state.

    Args:
        model: The owning model.
        index: The team's index in ``model.world.teams`` and ``state.attitudes``.
    """

    def __init__(self, model: RecoveryModel, index: int) -> None:
        super().__init__(model)
        self._index = index

    @property
    def index(self) -> int:
        """Index of this team in ``model.world.teams``."""
        return self._index

    @property
    def name(self) -> str:
        """The team's label from the world description."""
        return self.model.world.teams[self._index].name

    @property
    def site(self) -> int:
        """Index of the team's site."""
        return int(self.model.world.team_site[self._index])

    @property
    def professional_attitudes(self) -> float:
        """Current recovery-oriented professional attitudes of the staff (0-1)."""
        return float(self.model.simulation.state.attitudes[RUN, self._index])

    @property
    def staff_training(self) -> bool:
        """Whether the team receives recovery-oriented staff training."""
        return bool(self.model.world.staff_training[self._index])

    @property
    def n_members(self) -> int:
        """Number of service users on the team's caseload."""
        return int(np.count_nonzero(self.model.world.team_of_agent == self._index))

    @property
    def members(self) -> mesa.AgentSet:
        """The team's service users."""
        return self.model.agents_by_type[ServiceUser].select(lambda a: a.team == self._index)


def _metric_reporter(name: str, model: RecoveryModel) -> float:
    """DataCollector model reporter: one metric of the current week."""
    return model.metrics[name]


class RecoveryModel(mesa.Model):
    """One run of the recovery dynamics as a Mesa model.

    Args:
        n_agents: Number of service users when ``world`` is not given (default 200).
        seed: Experiment seed (non-negative integer); the run uses
            ``RunSeed(seed, 0, 0)``, and Mesa's own generators get the same seed.
        params: Partial mapping of registry parameters (others take defaults).
        offer: Intervention name -> share of users or boolean mask (see
            :func:`sim.core.world.make_world`), when ``world`` is not given.
        sites: Environments, when ``world`` is not given.
        teams: Team descriptions (:class:`sim.core.world.Team`), when ``world`` is not given.
        world: A ready-made :class:`sim.core.world.World`; excludes the four above.
        weeks: Optional horizon; ``running`` becomes False once reached.
        **parameter_values: Registry parameters by name, merged into ``params``
            (so ``mesa.batch_run`` and SolaraViz sliders can vary them directly).

    Raises:
        ModelError: For conflicting or malformed arguments.
        sim.core.parameters.ParameterError: For an unknown parameter or a value out of bounds.
        sim.core.world.WorldError: For a world that cannot be simulated.

    Attributes:
        simulation: The wrapped one-run :class:`sim.core.engine.Simulation`.
        world: The service structure.
        params: The full validated parameter set.
        run_seed: ``RunSeed(seed, 0, 0)``.
        metrics: Every :func:`sim.core.metrics.weekly_metrics` value of the current week.
        datacollector: Model reporters for every metric (one row per week,
            week 0 included) and the :data:`AGENT_REPORTERS` (TeamAgent agents
            report None for them).

    Note:
        Mesa 3.3's ``batch_run`` passes only the ``parameters`` you give it: put
        ``seed`` there (e.g. ``"seed": range(5)`` with ``iterations=1``), else
        every iteration repeats seed 0. It also reports the week before the last
        one collected (mesa#2514), so with a ``weeks`` horizon its last ``Step``
        is ``weeks - 1``; the model's own DataCollector has every week.
    """

    def __init__(
        self,
        *,
        n_agents: int | None = None,
        seed: int = 0,
        params: Mapping[str, float] | None = None,
        offer: Mapping[str, object] | None = None,
        sites: Sequence[world_module.Site] | None = None,
        teams: Sequence[world_module.Team] | None = None,
        world: world_module.World | None = None,
        weeks: int | None = None,
        **parameter_values: float,
    ) -> None:
        self.run_seed = RunSeed(seed, 0, 0)
        super().__init__(seed=self.run_seed.seed)
        self.params = _resolve_params(params, parameter_values)
        self.world = _resolve_world(n_agents, offer, sites, teams, world)
        self.weeks = _check_weeks(weeks)
        self.simulation = Simulation(self.world, [self.params], [self.run_seed])
        self.service_users = tuple(ServiceUser(self, i) for i in range(self.world.n_agents))
        self.team_agents = tuple(TeamAgent(self, t) for t in range(len(self.world.teams)))
        self._user_by_id = {u.unique_id: u for u in self.service_users}
        self.metrics: dict[str, float] = self._current_metrics()
        self.datacollector = mesa.DataCollector(
            model_reporters={name: partial(_metric_reporter, name) for name in self.metrics},
            agent_reporters=dict(AGENT_REPORTERS),
        )
        self._record()

    @property
    def week(self) -> int:
        """Weeks simulated so far."""
        return self.simulation.week

    def step(self) -> None:
        """Advance the run by one week (vectorised), then collect the data."""
        self.simulation.step()
        self._record()

    def recovery_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Every user's QPR score and stage index this week, computed once per week.

        Agent attributes read these, so collecting N agents costs O(N), not O(N^2).
        """
        state = self.simulation.state
        cached = self.__dict__.get("_scores")
        if cached is None or cached[0] != (state.week, id(state)):
            qpr = personal_recovery(state)[RUN]
            cached = ((state.week, id(state)), qpr, recovery_stage(qpr))
            self.__dict__["_scores"] = cached
        return cached[1], cached[2]

    def _current_metrics(self) -> dict[str, float]:
        return {name: float(value[RUN]) for name, value in weekly_metrics(self.simulation).items()}

    def _record(self) -> None:
        self.metrics = self._current_metrics()
        self.datacollector.collect(self)
        if self.weeks is not None and self.week >= self.weeks:
            self.running = False

    def user(self, unique_id: int) -> ServiceUser:
        """The service user with Mesa ``unique_id``.

        Raises:
            ModelError: If no service user has that id.
        """
        try:
            return self._user_by_id[unique_id]
        except (KeyError, TypeError):
            ids = [u.unique_id for u in self.service_users]
            raise ModelError(
                f"no service user with unique_id {unique_id!r}; "
                f"service users have ids {ids[0]}..{ids[-1]}"
            ) from None

    def agent_pathway(self, unique_id: int) -> pd.DataFrame:
        """One user's collected agent-reporter series, one row per collected week.

        Args:
            unique_id: The user's Mesa ``unique_id``.

        Returns:
            DataFrame indexed by ``Step`` (the week) with one column per
            :data:`AGENT_REPORTERS` entry, named by the attribute it reads
            (``personal_recovery``, ``stage``, ``employed``, ``hope``).

        Raises:
            ModelError: If no service user has that id.
        """
        user = self.user(unique_id)
        frame = self.datacollector.get_agent_vars_dataframe()
        pathway = frame.xs(user.unique_id, level="AgentID").rename(columns=AGENT_REPORTERS)
        return pathway.astype({"personal_recovery": float, "employed": bool, "hope": float})

    def network_graph(self) -> nx.Graph:
        """The current network of ties among users as a ``networkx.Graph``.

        Nodes are user columns (0 .. N - 1) with attributes ``unique_id``,
        ``stage``, ``personal_recovery``, ``team`` and ``site``.
        """
        adjacency = self.simulation.state.network.adjacency(RUN)
        rows, cols = adjacency.nonzero()
        upper = rows < cols
        graph = nx.Graph()
        qpr = personal_recovery(self.simulation.state)[RUN]
        stage = recovery_stage(qpr[None, :])[0]
        for user in self.service_users:
            i = user.column
            graph.add_node(
                i,
                unique_id=user.unique_id,
                stage=STAGES[stage[i]],
                personal_recovery=float(qpr[i]),
                team=user.team,
                site=user.site,
            )
        graph.add_edges_from(zip(rows[upper].tolist(), cols[upper].tolist(), strict=True))
        return graph


def _resolve_params(params: object, parameter_values: Mapping[str, float]) -> dict[str, float]:
    """Merge ``params`` and keyword parameters and validate them against the registry."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ModelError(
            f"params must be a mapping of parameter names to values, got {params!r}; "
            "in mesa.batch_run wrap a single mapping in a list: {'params': [{...}]}"
        )
    both = sorted(set(params) & set(parameter_values))
    if both:
        raise ModelError(f"parameters {both} given both in params and as keywords; give them once")
    return validate({**params, **parameter_values}, where="RecoveryModel")


def _resolve_world(
    n_agents: int | None,
    offer: Mapping[str, object] | None,
    sites: Sequence[world_module.Site] | None,
    teams: Sequence[world_module.Team] | None,
    world: world_module.World | None,
) -> world_module.World:
    """The given world, or one built by :func:`sim.core.world.make_world`."""
    if world is None:
        n = DEFAULT_N_AGENTS if n_agents is None else n_agents
        return world_module.make_world(n, sites=sites, teams=teams, offer=offer)
    if not isinstance(world, world_module.World):
        raise ModelError(f"world must be a sim.core.world.World, got {type(world).__name__}")
    given = [
        name
        for name, value in (
            ("n_agents", n_agents),
            ("offer", offer),
            ("sites", sites),
            ("teams", teams),
        )
        if value is not None
    ]
    if given:
        raise ModelError(
            f"give either world or {', '.join(given)}, not both; "
            "build the world with sim.core.world.make_world(...) to combine them"
        )
    return world


def _check_weeks(weeks: object) -> int | None:
    """``weeks`` if None or a whole number >= 1."""
    if weeks is None:
        return None
    if isinstance(weeks, bool) or not isinstance(weeks, int | np.integer) or weeks < 1:
        raise ModelError(f"weeks must be None or a whole number >= 1, got {weeks!r}")
    return int(weeks)
