"""Agent state as arrays with a leading batch axis (runs x agents), and its initialisation.

Also resolves a batch of registry parameter sets into arrays that broadcast
against the state: ``(R, 1)`` for run-level values and ``(R, N)`` for site and
team values gathered to each user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
from scipy.special import expit, logit

from sim.core.logic_model import MECHANISMS, PROCESSES, USER_INTERVENTIONS
from sim.core.network import Network, initial_network
from sim.core.open_service import FLOWS, NEVER, NO_JOB, referral_weeks
from sim.core.parameters import REGISTRY
from sim.core.rng_kernels import numpy_blocks
from sim.core.world import ENVIRONMENT_KEYS, SERVICE_KEYS, World

__all__ = ["BatchParams", "State", "concatenate", "initialise"]

# the processes held in State.process, in logic-model order; self-stigma, also a process
# of the logic model, is a user trait with an array of its own (State.self_stigma)
PROCESS_NAMES = tuple(name for name in PROCESSES if name != "self_stigma")
# the entry traits drawn from z[0..8], in order (each has a <name>_factor_loading)
TRAIT_NAMES = ("motivation", "symptom_severity", "self_stigma", *PROCESS_NAMES)
# the entry draws: one standard normal per trait and one for the shared recovery factor,
# and one uniform per entry status
SHARED_FACTOR = len(TRAIT_NAMES)
ENTRY_STATUSES = ("work_history", "employed", "housed", "family")


class BatchParams:
    """Registry values of a batch of runs as broadcastable arrays.

    ``bp.name`` is an ``(R, 1)`` float array for any registry parameter;
    :meth:`per_agent` gives site- and team-level values gathered to users, with
    the world's overrides applied.
    """

    def __init__(self, param_sets: Sequence[Mapping[str, float]], world: World) -> None:
        self.n_runs = len(param_sets)
        self._values = {
            name: np.array([float(ps[name]) for ps in param_sets], dtype=np.float64)[:, None]
            for name in REGISTRY
        }
        self.site_values = {k: self._overridden(k, world.sites) for k in ENVIRONMENT_KEYS}
        self.team_values = {k: self._overridden(k, world.teams) for k in SERVICE_KEYS}
        self._site_of_agent = world.site_of_agent
        self._team_of_agent = world.team_of_agent

    def _overridden(self, key: str, units: Sequence[object]) -> np.ndarray:
        values = np.repeat(self._values[key], len(units), axis=1)
        for index, unit in enumerate(units):
            override = getattr(unit, key)
            if override is not None:
                values[:, index] = override
        return values

    @property
    def registry_values(self) -> Mapping[str, np.ndarray]:
        """Every registry parameter by name, each (R, 1) (as ``bp.<name>``)."""
        return self.__dict__["_values"]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def per_agent(self, key: str) -> np.ndarray:
        """A site- or team-level value gathered to every user, shape (R, N) (read-only)."""
        cache = self.__dict__.setdefault("_per_agent", {})
        if key not in cache:
            if key in self.site_values:
                value = self.site_values[key][:, self._site_of_agent]
            else:
                value = self.team_values[key][:, self._team_of_agent]
            value = np.ascontiguousarray(value)  # a gather along axis 1 comes out in F order
            value.flags.writeable = False
            cache[key] = value
        return cache[key]

    def duration_weeks(self) -> np.ndarray:
        """Episode length of each user intervention, shape (R, 1, K) (read-only)."""
        if "_durations" not in self.__dict__:
            durations = np.stack([self._values[f"{n}_weeks"] for n in USER_INTERVENTIONS], axis=-1)
            durations.flags.writeable = False
            self.__dict__["_durations"] = durations
        return self.__dict__["_durations"]


@dataclass(eq=False)
class State:
    """The state of R runs of N users each (arrays are (R, N) unless noted)."""

    week: int
    # moderators
    motivation: np.ndarray
    motivation_baseline: np.ndarray  # set-point (consolidates)
    motivation_entry: np.ndarray  # entry level (the set-point's long-run anchor)
    severity: np.ndarray
    severity_baseline: np.ndarray
    self_stigma: np.ndarray
    self_stigma_baseline: np.ndarray  # set-point (consolidates)
    self_stigma_entry: np.ndarray
    work_history: np.ndarray  # bool
    family: np.ndarray  # bool: partner or family contact (SIX family item), fixed at entry
    # processes, their set-points ("baseline", consolidating) and entry levels:
    # dict name -> (R, N)
    process: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray]
    entry: dict[str, np.ndarray]
    # outcomes
    employed: np.ndarray  # bool
    ever_employed: np.ndarray  # bool: worked at least one week since week 0
    weeks_employed: np.ndarray  # int
    housed: np.ndarray  # bool
    weeks_housed: np.ndarray  # int
    functioning: np.ndarray
    connectedness: np.ndarray
    in_relapse: np.ndarray  # bool
    relapses: np.ndarray  # int
    in_hospital: np.ndarray  # bool
    admissions: np.ndarray  # int: admissions since week 0
    compulsory_admissions: np.ndarray  # int
    bed_weeks: np.ndarray  # int: weeks in hospital since week 0
    # service use, (R, N, K)
    enrolled: np.ndarray
    waiting: np.ndarray
    wait_since: np.ndarray
    weeks_in: np.ndarray
    completed: np.ndarray
    dropped: np.ndarray
    priority: np.ndarray  # (R, N) tie-break among waiting users
    # the service episode (ODD §7.15): referral week (0: in service at entry), week of
    # leaving (NEVER while in service) and why (EXIT_REASONS index + 1; 0: has not left)
    referral_week: np.ndarray
    exit_week: np.ndarray
    exit_reason: np.ndarray
    first_job_week: np.ndarray  # first week employed after referral (NO_JOB, EMPLOYED_AT_...)
    flow: np.ndarray  # (R, len(FLOWS)): the last week's service events
    # teams, (R, T)
    attitudes: np.ndarray
    attitudes_baseline: np.ndarray
    # last week's mechanism doses (R, N, 4)
    doses: np.ndarray
    network: Network

    @property
    def shape(self) -> tuple[int, int]:
        """(runs, agents)."""
        return self.motivation.shape


def concatenate(parts: list[State]) -> State:
    """The states of consecutive batches (same world, same week) as one batch."""
    weeks = {part.week for part in parts}
    if len(weeks) != 1:
        raise ValueError(f"states to concatenate are at different weeks: {sorted(weeks)}")
    values = {}
    for name in (field.name for field in fields(State)):
        value = getattr(parts[0], name)
        if name == "week":
            values[name] = value
        elif name == "network":
            values[name] = Network.concatenate([part.network for part in parts])
        elif isinstance(value, dict):
            values[name] = {
                key: np.concatenate([getattr(part, name)[key] for part in parts]) for key in value
            }
        else:
            values[name] = np.concatenate([getattr(part, name) for part in parts])
    return State(**values)


def _trait(median: np.ndarray, spread: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Logit-normal trait: monotone in the median for fixed z (common random numbers)."""
    return expit(logit(median) + spread * z)


def initialise(
    world: World,
    bp: BatchParams,
    population: list[np.random.Generator],
    admission: list[np.random.Generator],
    *,
    blocks: Callable[..., np.ndarray] = numpy_blocks,
    build_ties: Callable[..., tuple[np.ndarray, ...]],
    referral: Sequence[np.random.Generator] = (),
) -> State:
    """Draw the entry state of every run from its own population stream.

    Each run draws a fixed-size block, so a run's entry state depends only on
    its own seed and parameters, never on the other runs in the batch.
    ``blocks`` draws them (:func:`sim.core.rng_kernels.numpy_blocks`, or the compiled
    :func:`sim.core.rng_kernels.blocks`: the same numbers) and ``build_ties`` (the compiled
    :func:`sim.core.network_kernels.initial_ties`) builds the entry network from its
    draws (see :func:`sim.core.network.initial_network`).
    """
    n_runs, n_agents = bp.n_runs, world.n_agents
    n_user = len(USER_INTERVENTIONS)
    # (traits + 1, R, N) normals and (statuses, R, N) uniforms, contiguous as later arrays are
    n_normals, n_uniforms = SHARED_FACTOR + 1, len(ENTRY_STATUSES)
    z = np.ascontiguousarray(blocks(population, (n_normals, n_agents), True).transpose(1, 0, 2))
    u = np.ascontiguousarray(blocks(population, (n_uniforms, n_agents), False).transpose(1, 0, 2))
    spread = bp.trait_spread_logit
    # one shared recovery factor z9 = z[SHARED_FACTOR]:
    # trait j = l_j sqrt(rho) z9 + sqrt(1 - l_j^2 rho) z_j,
    # l_j its <trait>_factor_loading (+1 motivation, hope, empowerment, meaning and
    # self-efficacy, -1 self-stigma, 0 the others at the defaults; l = +-1 gives
    # +-sqrt(rho) z9 + sqrt(1 - rho) z_j and l = 0 leaves z_j as drawn, bit for bit)
    rho = bp.trait_correlation
    shared = np.sqrt(rho)
    for index, name in enumerate(TRAIT_NAMES):
        loading = getattr(bp, f"{name}_factor_loading")
        z[index] = (
            loading * shared * z[SHARED_FACTOR] + np.sqrt(1.0 - loading * loading * rho) * z[index]
        )
    medians = [bp.motivation_median, bp.symptom_severity_median, bp.self_stigma_median] + [
        getattr(bp, f"{name}_baseline_median") for name in PROCESS_NAMES
    ]  # in TRAIT_NAMES order
    traits = [_trait(m, spread, z[i]) for i, m in enumerate(medians)]
    motivation, severity, stigma = traits[:3]
    baseline = dict(zip(PROCESS_NAMES, traits[3:], strict=True))
    stigma_baseline = _stigma_set_point(stigma, bp)
    work_draw, employment_draw, housing_draw, family_draw = u  # in ENTRY_STATUSES order
    employed = employment_draw < bp.baseline_employment_share
    attitudes = bp.team_values["professional_attitudes"].copy()
    shape3 = (n_runs, n_agents, n_user)
    network = initial_network(
        world,
        bp.initial_ties_mean[:, 0],
        population,
        build=build_ties,
        ties_cap=bp.initial_ties_cap[:, 0],
    )
    state = State(
        week=0,
        motivation=motivation,
        motivation_baseline=motivation.copy(),
        motivation_entry=motivation.copy(),
        severity=severity,
        severity_baseline=severity.copy(),
        self_stigma=stigma_baseline.copy(),
        self_stigma_baseline=stigma_baseline,
        self_stigma_entry=stigma_baseline.copy(),
        work_history=(work_draw < bp.work_history_share) | employed,
        family=family_draw < bp.family_contact_share,
        process={k: v.copy() for k, v in baseline.items()},
        baseline=baseline,
        entry={k: v.copy() for k, v in baseline.items()},
        employed=employed,
        ever_employed=employed.copy(),
        weeks_employed=np.zeros((n_runs, n_agents), dtype=np.int64),
        housed=housing_draw < bp.baseline_housed_share,
        weeks_housed=np.zeros((n_runs, n_agents), dtype=np.int64),
        functioning=np.zeros((n_runs, n_agents)),
        connectedness=np.zeros((n_runs, n_agents)),
        in_relapse=np.zeros((n_runs, n_agents), dtype=bool),
        relapses=np.zeros((n_runs, n_agents), dtype=np.int64),
        in_hospital=np.zeros((n_runs, n_agents), dtype=bool),
        admissions=np.zeros((n_runs, n_agents), dtype=np.int64),
        compulsory_admissions=np.zeros((n_runs, n_agents), dtype=np.int64),
        bed_weeks=np.zeros((n_runs, n_agents), dtype=np.int64),
        enrolled=np.zeros(shape3, dtype=bool),
        waiting=np.zeros(shape3, dtype=bool),
        wait_since=np.zeros(shape3, dtype=np.int64),
        weeks_in=np.zeros(shape3, dtype=np.int64),
        completed=np.zeros(shape3, dtype=bool),
        dropped=np.zeros(shape3, dtype=bool),
        priority=blocks(admission, (n_agents,), False),
        referral_week=referral_weeks(world.service, n_agents, referral or [None] * n_runs),
        exit_week=np.full((n_runs, n_agents), NEVER, dtype=np.int64),
        exit_reason=np.zeros((n_runs, n_agents), dtype=np.int8),
        first_job_week=np.full((n_runs, n_agents), NO_JOB, dtype=np.int64),
        flow=np.zeros((n_runs, len(FLOWS))),
        attitudes=attitudes,
        attitudes_baseline=attitudes.copy(),
        doses=np.zeros((n_runs, n_agents, len(MECHANISMS))),
        network=network,
    )
    return state


def _stigma_set_point(stigma: np.ndarray, bp: BatchParams) -> np.ndarray:
    """Self-stigma pulled toward the local public stigma by internalisation."""
    public = bp.per_agent("public_stigma")
    return np.clip(
        stigma + bp.stigma_internalisation * (public - bp.reference_public_stigma), 0.0, 1.0
    )
