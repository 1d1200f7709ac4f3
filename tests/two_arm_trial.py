"""Test helper: two-arm virtual trials measured the way the published trials measured them.

Users are individually randomised (or clustered by team for staff training) to
an arm offered the intervention or to usual care; outcomes are analysed by
intention to treat at follow-up: a share (e.g. worked at least one day), a
relative risk, or a standardised mean difference (Hedges' g) of a score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.core.engine import agent_value, run_batch
from sim.core.logic_model import USER_INTERVENTIONS
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.core.world import Site, Team, make_world
from sim.studies.effect_sizes import hedges_g

__all__ = ["TrialResult", "run_two_arm_trial"]


@dataclass
class TrialResult:
    """Per-replicate arm outcomes of a virtual trial.

    Attributes:
        treated: Outcome name -> (replicates, n_treated) per-user values at follow-up.
        control: The same for the control arm.
    """

    treated: dict[str, np.ndarray]
    control: dict[str, np.ndarray]

    def share(self, name: str, arm: str) -> np.ndarray:
        """Per-replicate share (mean of a 0/1 outcome) in ``arm``."""
        return getattr(self, arm)[name].mean(axis=1)

    def smd(self, name: str) -> np.ndarray:
        """Per-replicate Hedges' g of ``name`` (treated vs control)."""
        return np.array(
            [hedges_g(t, c) for t, c in zip(self.treated[name], self.control[name], strict=True)]
        )


def run_two_arm_trial(
    intervention: str,
    *,
    n_per_arm: int,
    follow_up_weeks: int,
    replicates: int,
    seed: int,
    params: Mapping[str, float] | None = None,
    sites: Sequence[Site] | None = None,
    teams: Sequence[Team] | None = None,
    outcomes: Sequence[str] = (
        "ever_employed",
        "housed",
        "personal_recovery",
        "hope",
        "empowerment",
    ),
) -> TrialResult:
    """Randomise 2 x ``n_per_arm`` users; the first arm is offered ``intervention``.

    For ``staff_training`` the randomisation is by team (cluster trial): the
    world's teams alternate between trained and untrained, and users are
    analysed by their team's arm. Each replicate is an independent trial.
    """
    full = validate(params or {})
    n_agents = 2 * n_per_arm
    if intervention == "staff_training":
        base_teams = list(teams) if teams else [Team(name=f"team{i}") for i in range(2)]
        trial_teams = [
            Team(**{**t.__dict__, "staff_training": i % 2 == 0}) for i, t in enumerate(base_teams)
        ]
        world = make_world(n_agents, sites=sites, teams=trial_teams)
        arm = world.staff_training[world.team_of_agent]
    else:
        if intervention not in USER_INTERVENTIONS:
            raise ValueError(f"unknown intervention {intervention!r}")
        n_teams = len(teams) if teams else 1
        arm = (np.arange(n_agents) // n_teams) % 2 == 0  # both arms in every team
        world = make_world(n_agents, sites=sites, teams=teams, offer={intervention: arm})
    seeds = [RunSeed(seed, 0, r) for r in range(replicates)]
    result = run_batch(world, [full] * replicates, seeds, follow_up_weeks)
    values = {name: agent_value(result.final, name).astype(np.float64) for name in outcomes}
    return TrialResult(
        treated={k: v[:, arm] for k, v in values.items()},
        control={k: v[:, ~arm] for k, v in values.items()},
    )
