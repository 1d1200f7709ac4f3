"""Scenario runs and comparisons: replicates, intervals, paired differences, SMDs.

Compared scenarios run on common random numbers: replicate r of every scenario
uses the same seeds, so the difference between two scenarios is estimated
pairwise, replicate by replicate. Standardised mean differences are computed
the way trials report them: the difference in the outcome's mean across users
divided by the pooled SD across users (Hedges' g), per replicate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from sim.core.parameters import REGISTRY, validate
from sim.core.seeding import RunSeed
from sim.files.posterior import posterior_draws
from sim.files.scenario import Scenario, ScenarioError
from sim.studies.effect_sizes import hedges_g
from sim.studies.run import design_seeds, run_simulations, tidy_series

__all__ = [
    "AGENT_OUTCOMES",
    "ENTRY_QUANTITIES",
    "OUTCOME_METRICS",
    "SERIES_COLUMNS",
    "SERVICE_MEASURES",
    "ScenarioResult",
    "check_columns",
    "cumulative_differences",
    "differences_over_time",
    "episode_end_week",
    "interval_summary",
    "mean_interval",
    "paired_differences",
    "pairing_warnings",
    "run_scenario",
    "service_flow_summary",
    "summarise",
]

# per-user outcomes kept for standardised mean differences
AGENT_OUTCOMES = (
    "employed",
    "ever_employed",
    "housed",
    "functioning",
    "personal_recovery",
    "hope",
    "empowerment",
    "connectedness",
)
OUTCOME_METRICS = (*AGENT_OUTCOMES, "ties", "early_stage")
# per-user quantities at entry, for subgroups (sim.studies.equity)
ENTRY_QUANTITIES = ("severity_baseline", "work_history", "stage")
SERIES_COLUMNS = ("scenario", "replicate", "week", "metric", "value")


@dataclass
class ScenarioResult:
    """One scenario's replicates.

    Attributes:
        scenario: The scenario.
        series: Tidy weekly metrics: scenario, replicate, week, metric, value.
        finals: Per-user outcome at the horizon: name -> (replicates, users).
        seeds: The run seeds used, one per replicate.
        seconds: Wall time of the simulation.
        entry: Per-user quantities at entry (week 0): name -> (replicates, users), for
            subgroups (:data:`ENTRY_QUANTITIES`).
    """

    scenario: Scenario
    series: pd.DataFrame
    finals: dict[str, np.ndarray]
    seeds: list[RunSeed]
    seconds: float
    entry: dict[str, np.ndarray] = field(default_factory=dict)


def run_scenario(
    scenario: Scenario,
    *,
    replicates: int | None = None,
    seed: int | None = None,
    weeks: int | None = None,
    progress: Callable[[int], None] | None = None,
    posterior: pd.DataFrame | None = None,
) -> ScenarioResult:
    """Run every replicate of ``scenario`` as one batch.

    Replicate r uses ``RunSeed(seed, 0, r)`` whatever the scenario, so runs of
    different scenarios with the same seed share random numbers. With a
    ``posterior`` ensemble (weighted parameter sets from calibration), replicate
    r also takes parameter draw r, resampled with the same seed, so intervals
    include parameter uncertainty and compared scenarios share draws.
    """
    spec = scenario.spec
    replicates = replicates or spec.replicates
    seed = spec.seed if seed is None else seed
    weeks = weeks or spec.horizon_weeks
    base = scenario.parameters()
    draws = [{}] * replicates if posterior is None else posterior_draws(posterior, replicates, seed)
    where = str(scenario.path or scenario.name)
    params = [validate({**base, **draw}, where=where) for draw in draws]
    seeds = design_seeds(seed, 1, replicates)
    schedule = scenario.schedule()
    late = [change for change in schedule if change.week > weeks]
    if late:
        raise ScenarioError(
            f"{where}: schedule: a change of {late[0].key} at week {late[0].week} would never "
            f"take effect in a run of {weeks} weeks; run at least {late[0].week} weeks"
        )
    runs = run_simulations(
        scenario.world(),
        params,
        seeds,
        weeks,
        finals=AGENT_OUTCOMES,
        progress=progress,
        schedule=schedule,
    )
    series = tidy_series(runs, {"scenario": scenario.name, "replicate": np.arange(replicates)})
    entry = run_simulations(scenario.world(), params, seeds, 0, metrics=[], finals=ENTRY_QUANTITIES)
    return ScenarioResult(scenario, series, runs.finals, runs.seeds, runs.seconds, entry.finals)


def pairing_warnings(scenarios: Sequence[Scenario], *, weeks: int | None = None) -> list[str]:
    """Why a comparison of ``scenarios`` on common random numbers is not fully paired.

    Compared scenarios share seeds replicate by replicate, and that pairs their
    users' draws one to one only when the populations have the same size (every
    stream fills a block of one draw per user each week). Different sizes leave
    the seeds common but not the draws. Different horizons are not compared at
    all: without ``weeks`` (the ``--weeks`` option) every scenario runs for the
    first one's horizon, which is not what the others declare.

    Returns:
        One plain sentence per problem (empty when the comparison is fully paired).
    """
    found = []
    sizes = {s.name: s.spec.population.size for s in scenarios}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name} {size:,}" for name, size in sizes.items())
        found.append(
            f"the scenarios differ in population size ({listed} users): replicates share "
            "seeds, but users do not share random numbers one to one, so the differences "
            "are not paired user by user; they include chance differences between the "
            "populations and are noisier than a paired comparison's (set population.size "
            "to compare like with like)"
        )
    horizons = {s.name: s.spec.horizon_weeks for s in scenarios}
    if weeks is None and len(set(horizons.values())) > 1:
        listed = ", ".join(f"{name} {value}" for name, value in horizons.items())
        first = scenarios[0]
        found.append(
            f"the scenarios differ in horizon ({listed} weeks): all run for "
            f"{first.spec.horizon_weeks} weeks, the first scenario's, so the others are "
            "not compared at their own horizon (set --weeks to choose it)"
        )
    return found


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval of the mean across replicates (a point when n = 1)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2 or np.all(values == values[0]):
        return mean, mean, mean
    half = stats.t.ppf(0.5 + level / 2, values.size - 1) * stats.sem(values)
    return mean, mean - half, mean + half


def interval_summary(
    series: pd.DataFrame, metrics: Sequence[str], *, level: float = 0.95
) -> pd.DataFrame:
    """Mean over replicates with a t-interval, per scenario, metric and week.

    Args:
        series: Tidy frame with columns :data:`SERIES_COLUMNS`.
        metrics: Metrics to keep (others are dropped; absent ones are skipped).
        level: Confidence level of the interval of the mean.

    Returns:
        Columns scenario, metric, week, mean, low, high, n (replicates); low and
        high are NaN where n < 2. Scenarios keep their order of appearance.

    Raises:
        ValueError: If a required column is missing.
    """
    frame = check_columns(series, SERIES_COLUMNS, "series")
    frame = frame.loc[frame["metric"].isin(list(metrics))].astype({"scenario": str, "metric": str})
    grouped = frame.groupby(["scenario", "metric", "week"], sort=False)["value"]
    out = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    dof = np.where(out["n"] > 1, out["n"] - 1, np.nan)
    half = stats.t.ppf(0.5 + level / 2, dof) * out["sd"] / np.sqrt(out["n"])
    out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out.drop(columns="sd").sort_values("week", kind="stable", ignore_index=True)


def check_columns(frame: pd.DataFrame, required: Sequence[str], what: str) -> pd.DataFrame:
    """Return ``frame`` if it has the ``required`` columns, else raise a ValueError naming them."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        hint = (
            "; rename design_point to scenario labels first"
            if "scenario" in missing and "design_point" in frame.columns
            else ""
        )
        raise ValueError(f"{what} lacks columns {missing}; required: {list(required)}{hint}")
    return frame


def summarise(
    series: pd.DataFrame, weeks: Sequence[int], metrics: Sequence[str] = OUTCOME_METRICS
) -> pd.DataFrame:
    """Mean and 95% interval over replicates of each metric at ``weeks``.

    Returns columns scenario, metric, week, mean, ci_low, ci_high, replicates.
    """
    table = interval_summary(series[series.week.isin(list(weeks))], metrics)
    return table.rename(columns={"low": "ci_low", "high": "ci_high", "n": "replicates"})


def paired_differences(
    reference: ScenarioResult, other: ScenarioResult, metrics: Sequence[str] = OUTCOME_METRICS
) -> pd.DataFrame:
    """Other minus reference at the horizon, paired by replicate, with SMDs.

    Returns one row per metric: comparison, metric, reference, other, difference,
    diff_low, diff_high (95% t-interval of the paired difference), and for
    per-user outcomes smd, smd_low, smd_high (Hedges' g per replicate, mean and
    95% interval).
    """
    if len(reference.seeds) != len(other.seeds):
        raise ValueError("compared scenarios need the same number of replicates")
    label = f"{other.scenario.name} vs {reference.scenario.name}"
    rows = []
    for metric in metrics:
        a, b = _final_values(reference, metric), _final_values(other, metric)
        mean_a, mean_b = float(a.mean()), float(b.mean())
        diff, low, high = mean_interval(b - a)
        row = {
            "comparison": label,
            "metric": metric,
            "reference": mean_a,
            "other": mean_b,
            "difference": diff,
            "diff_low": low,
            "diff_high": high,
        }
        if metric in AGENT_OUTCOMES:
            smds = [
                hedges_g(t, c)
                for t, c in zip(other.finals[metric], reference.finals[metric], strict=True)
            ]
            row["smd"], row["smd_low"], row["smd_high"] = mean_interval(np.array(smds))
        rows.append(row)
    return pd.DataFrame(rows)


def _final_values(result: ScenarioResult, metric: str) -> np.ndarray:
    frame = result.series
    last = frame[(frame.metric == metric) & (frame.week == frame.week.max())]
    return last.sort_values("replicate")["value"].to_numpy()


def episode_end_week(scenarios: Sequence[Scenario], horizon: int) -> int | None:
    """The end of the longest intervention episode any of ``scenarios`` offers.

    Episode lengths are the scenarios' ``<intervention>_weeks`` values. None when no
    intervention is offered or the episode ends at or after the horizon.
    """
    from sim.core.logic_model import USER_INTERVENTIONS

    ends = []
    for scenario in scenarios:
        values = scenario.parameters()
        world = scenario.world()
        for k, name in enumerate(USER_INTERVENTIONS):
            if world.offered[:, k].any():
                ends.append(int(values.get(f"{name}_weeks", REGISTRY[f"{name}_weeks"].default)))
    end = max(ends, default=None)
    return end if end is not None and end < horizon else None


def differences_over_time(
    reference: ScenarioResult,
    other: ScenarioResult,
    metrics: Sequence[str] = (*OUTCOME_METRICS, "social_inclusion"),
) -> pd.DataFrame:
    """Other minus reference at every recorded week, paired by replicate.

    Columns: comparison, metric, week, difference, diff_low, diff_high (95% t interval).
    """
    label = f"{other.scenario.name} vs {reference.scenario.name}"
    a = _wide_by_replicate(reference.series, metrics)
    b = _wide_by_replicate(other.series, metrics)
    rows = []
    for (metric, week), values in (b - a).items():
        diff, low, high = mean_interval(values.to_numpy())
        rows.append((label, metric, int(week), diff, low, high))
    columns = ["comparison", "metric", "week", "difference", "diff_low", "diff_high"]
    return pd.DataFrame(rows, columns=columns)


def cumulative_differences(reference: ScenarioResult, other: ScenarioResult) -> pd.DataFrame:
    """Cumulative measures over the horizon, other minus reference, paired by replicate.

    ``person_weeks_employed``: weeks in work per person (the sum of the weekly share
    employed over weeks 1..horizon); ``bed_days`` and ``admissions`` per person by the
    horizon. Columns: comparison, measure, reference, other, difference, diff_low,
    diff_high.
    """
    label = f"{other.scenario.name} vs {reference.scenario.name}"
    measures = {}
    for result in (reference, other):
        wide = _wide_by_replicate(result.series, ("employed", "bed_days", "admissions"))
        weeks = wide["employed"].columns
        measures[id(result)] = {
            "person_weeks_employed": wide["employed"][weeks[weeks > 0]].sum(axis=1),
            "bed_days": wide["bed_days"][weeks.max()],
            "admissions": wide["admissions"][weeks.max()],
        }
    rows = []
    for measure in ("person_weeks_employed", "bed_days", "admissions"):
        a, b = measures[id(reference)][measure], measures[id(other)][measure]
        diff, low, high = mean_interval((b - a).to_numpy())
        rows.append((label, measure, float(a.mean()), float(b.mean()), diff, low, high))
    columns = ["comparison", "measure", "reference", "other", "difference", "diff_low", "diff_high"]
    return pd.DataFrame(rows, columns=columns)


# the service measures of service_flow_summary: name -> (weekly metric, weight metric or None,
# how it is summed over weeks 1..horizon)
SERVICE_MEASURES = {
    "mean_caseload": ("caseload", None, "mean"),
    "mean_list_length": ("list_length", None, "mean"),
    "places_filled": ("places_filled", None, "sum"),
    "mean_wait_weeks": ("waiting_weeks", "places_filled", "weighted"),
    "left_list_unplaced": ("list_removals", None, "sum"),
    "mean_wait_of_those_who_left_weeks": ("removed_waiting_weeks", "list_removals", "weighted"),
    "first_jobs": ("first_jobs", None, "sum"),
    "mean_time_to_first_job_weeks": ("time_to_first_job_weeks", "first_jobs", "weighted"),
}


def service_flow_summary(result: ScenarioResult) -> pd.DataFrame:
    """Waiting lists and flow over weeks 1..horizon of one scenario, per replicate, summarised.

    A mean wait is weighted by the users it averages (a week with more admissions
    counts more). Columns: scenario, measure, mean, low, high (95% t interval over
    replicates; NaN where a replicate had nobody to average).
    """
    names = {m for m, w, _ in SERVICE_MEASURES.values()} | {
        w for _, w, _ in SERVICE_MEASURES.values() if w
    }
    part = result.series[result.series.metric.isin(sorted(names))]
    wide = part.pivot(index="replicate", columns=["metric", "week"], values="value")  # keeps NaN
    rows = []
    for measure, (metric, weight, how) in SERVICE_MEASURES.items():
        values = wide[metric].loc[:, lambda f: f.columns > 0]
        if how == "mean":
            per_replicate = values.mean(axis=1)
        elif how == "sum":
            per_replicate = values.sum(axis=1)
        else:
            weights = wide[weight].loc[:, lambda f: f.columns > 0]
            total = (values.fillna(0.0) * weights).sum(axis=1)
            per_replicate = total / weights.sum(axis=1).replace(0.0, np.nan)
        finite = per_replicate.dropna().to_numpy()
        mean, low, high = mean_interval(finite) if finite.size else (np.nan,) * 3
        rows.append((result.scenario.name, measure, mean, low, high))
    return pd.DataFrame(rows, columns=["scenario", "measure", "mean", "low", "high"])


def _wide_by_replicate(series: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """(replicate) x (metric, week) table of ``series``."""
    part = series[series.metric.isin(list(metrics))]
    return part.pivot_table(index="replicate", columns=["metric", "week"], values="value")
