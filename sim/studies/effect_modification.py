"""Effect modification: how much the same package helps in different contexts.

The review's headline is that the common mechanisms help "especially when
delivered within pro-recovery and non-stigmatising contexts". This study measures
it the way a trial would, on common random numbers: in each context, the package
effect is the paired difference (package arm - usual care) of a run's mean outcome,
replicate by replicate; the interaction of two contexts is the replicate-wise
difference of their package effects, with a t interval over replicates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.core.world import Site, Team, make_world
from sim.studies.run import run_simulations

__all__ = [
    "CONTEXTS",
    "MODERATOR_LEVELS",
    "PACKAGE",
    "ContextEffect",
    "interaction",
    "moderator_curves",
    "package_effects",
]

# the combined package of scenarios/combined_package.toml, without staff training
PACKAGE: dict[str, float] = {
    "peer_support": 0.4,
    "self_management": 0.5,
    "supported_employment": 0.5,
    "shared_decision_making": 0.6,
}
# the 2 x 2 of scenarios/pro_recovery_context.toml and stigmatising_context.toml
CONTEXTS: dict[str, dict[str, float]] = {
    "pro_recovery": {"public_stigma": 0.2, "professional_attitudes": 0.8},
    "stigmatising": {"public_stigma": 0.8, "professional_attitudes": 0.25},
}
_SITE_KEYS = ("unemployment_rate", "public_stigma", "housing_availability")


@dataclass(frozen=True)
class ContextEffect:
    """Package effects in one context: metric -> (replicates, weeks) paired differences."""

    context: Mapping[str, float]
    weeks: np.ndarray
    effects: dict[str, np.ndarray]

    def summary(self, metric: str, week: int) -> tuple[float, float, float]:
        """Mean effect and 95% t interval over replicates at ``week``."""
        return _mean_interval(self.effects[metric][:, list(self.weeks).index(week)])


def _mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def package_effects(
    contexts: Sequence[Mapping[str, float]],
    *,
    package: Mapping[str, float] = PACKAGE,
    n_agents: int = 1000,
    replicates: int = 8,
    weeks: int = 104,
    record_weeks: Sequence[int] = (26, 52, 78, 104),
    metrics: Sequence[str] = ("personal_recovery", "employed"),
    seed: int = 0,
    parameters: Mapping[str, float] | None = None,
    world_hook=None,
) -> list[ContextEffect]:
    """The package effect in each context, paired on common random numbers.

    Every context and arm shares the replicate seeds, so differences between
    contexts are paired too. ``contexts`` map site keys (unemployment, stigma,
    housing) and any registry parameter to values; ``parameters`` apply to all.
    ``world_hook(world) -> world`` may edit the world (tests use it for mutants).
    """
    seeds = [RunSeed(seed, 0, r) for r in range(replicates)]
    record = sorted(set(record_weeks) | {0})
    results = []
    for context in contexts:
        site = Site("site", **{k: v for k, v in context.items() if k in _SITE_KEYS})
        values = {**(parameters or {}), **{k: v for k, v in context.items() if k not in _SITE_KEYS}}
        param_sets = [validate(values)] * replicates
        arms = []
        for offer in ({}, package):
            world = make_world(n_agents, sites=[site], teams=[Team()], offer=dict(offer))
            if world_hook is not None:
                world = world_hook(world)
            runs = run_simulations(
                world, param_sets, seeds, weeks, metrics=list(metrics), record_weeks=record
            )
            arms.append(runs.metrics)
        effects = {m: arms[1][m] - arms[0][m] for m in metrics}
        results.append(ContextEffect(dict(context), np.asarray(record), effects))
    return results


def interaction(
    better: ContextEffect, worse: ContextEffect, metric: str, week: int
) -> tuple[float, float, float]:
    """Effect in ``better`` minus effect in ``worse`` (paired by replicate), with a 95% interval."""
    column = list(better.weeks).index(week)
    return _mean_interval(better.effects[metric][:, column] - worse.effects[metric][:, column])


# each moderator of the review, the levels plotted, and the unit of the axis
MODERATOR_LEVELS: dict[str, tuple[tuple[float, ...], str]] = {
    "motivation_median": ((0.2, 0.35, 0.5, 0.65, 0.8), "user: median motivation (0-1)"),
    "professional_attitudes": (
        (0.0, 0.25, 0.5, 0.75, 1.0),
        "service: professional attitudes (0-1)",
    ),
    "public_stigma": ((0.0, 0.25, 0.5, 0.75, 1.0), "environment: public stigma (0-1)"),
    "unemployment_rate": ((0.03, 0.07, 0.11, 0.15, 0.2), "environment: unemployment rate"),
}


def moderator_curves(
    *,
    moderators: Mapping[str, Sequence[float]] | None = None,
    package: Mapping[str, float] = PACKAGE,
    metrics: Sequence[str] = ("personal_recovery", "employed", "social_inclusion"),
    week: int = 52,
    n_agents: int = 1000,
    replicates: int = 8,
    seed: int = 0,
    progress=None,
):
    """The package effect at each level of each moderator, others at their defaults.

    Returns a tidy frame: moderator, level, metric, week, effect (mean paired
    difference), low and high (95% t interval over replicates).
    """
    import pandas as pd

    levels = moderators or {name: values for name, (values, _) in MODERATOR_LEVELS.items()}
    rows = []
    for moderator, values in levels.items():
        results = package_effects(
            [{moderator: float(v)} for v in values],
            package=package,
            n_agents=n_agents,
            replicates=replicates,
            weeks=week,
            record_weeks=(week,),
            metrics=metrics,
            seed=seed,
        )
        for value, result in zip(values, results, strict=True):
            for metric in metrics:
                mean, low, high = result.summary(metric, week)
                rows.append(
                    {
                        "moderator": moderator,
                        "level": float(value),
                        "metric": metric,
                        "week": week,
                        "effect": mean,
                        "low": low,
                        "high": high,
                    }
                )
            if progress is not None:
                progress(1)
    return pd.DataFrame(rows)
