"""Health economics over the model's weekly series: costs, QALYs, ICER, NMB and CEAC.

Pure functions over the tidy weekly frame (columns ``scenario, replicate, week,
metric, value``; weeks 0..H) and a :class:`~sim.files.costs.CostTable`.

Conventions:

* **Weeks.** Record 0 is the state at entry; model week t (t = 1..H) is the step from
  record t-1 to record t. A week's shares (in an intervention, in relapse, in hospital,
  employed) are those of record t, and its events (bed-days, compulsory admissions) are
  the increments of the cumulative series from record t-1 to record t. The horizon is
  H weeks; record 0 itself carries no cost or QALY (only the one-off staff training).
* **Discounting.** Week t is discounted by ``(1 + r) ** (-(t - 1) / 52.1775)``, the
  elapsed years at its start (52.1775 weeks a year), so the first week is undiscounted;
  :func:`weekly_discount_factors` gives ``(1 + r) ** (-w / 52.1775)`` for elapsed weeks w.
* **States.** A stay in hospital is part of a relapse (ODD §7.9: admission happens only
  at a relapse onset and a stay ends when the relapse resolves), so the states are
  stable (not in relapse), relapse in the community (in relapse, not in hospital) and
  hospital (in relapse and in hospital); nothing is counted twice.
* **Perspective.** ``health_and_social_care`` counts services and hospital;
  ``societal`` also subtracts the earnings of users in work (earnings gained are a
  negative cost).

Matplotlib is imported only inside the plotting functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.core.schedule import STAFF_TRAINING
from sim.files.costs import ECONOMIC_OUTPUTS, INTERVENTION_KEYS, CostTable

if TYPE_CHECKING:
    from sim.files.scenario import Scenario

__all__ = [
    "ECONOMIC_INPUTS",
    "WEEKS_PER_YEAR",
    "acceptability_curve",
    "accumulated_economics",
    "cost_per_extra_person_employed",
    "costs_price_years",
    "economics_from_increments",
    "economics_table",
    "incremental",
    "replicate_increments",
    "run_costs",
    "run_qalys",
    "staff_training_share",
    "value_for_money_sentences",
    "weekly_discount_factors",
]

WEEKS_PER_YEAR = 52.1775  # 365.2425 / 7

# The weekly metrics the costs and QALYs are computed from (every week 0..H)
ECONOMIC_INPUTS = (
    *(f"in_{key}" for key in INTERVENTION_KEYS),
    "in_service",
    "bed_days",
    "compulsory_admissions",
    "employed",
    "in_relapse",
    "in_hospital",
)


def weekly_discount_factors(weeks: Any, annual_rate: float) -> np.ndarray:
    """Discount factor ``(1 + r) ** (-w / 52.1775)`` for each elapsed week ``w`` (w = 0: 1)."""
    return (1.0 + annual_rate) ** (-np.asarray(weeks, dtype=float) / WEEKS_PER_YEAR)


def _wide(series: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One metric as a replicate x week frame (records 0..H), sorted."""
    rows = series[series["metric"] == metric]
    if rows.empty:
        raise ValueError(f"the series has no metric {metric!r}")
    return rows.pivot_table(index="replicate", columns="week", values="value").sort_index(axis=1)


def _weekly(series: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Shares of model weeks 1..H (records 1..H)."""
    wide = _wide(series, metric)
    return wide.loc[:, wide.columns > 0]


def _increments(series: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per-week increments of a cumulative metric for model weeks 1..H."""
    return _wide(series, metric).diff(axis=1).loc[:, lambda f: f.columns > 0]


def _week_factors(columns: pd.Index, annual_rate: float) -> np.ndarray:
    return weekly_discount_factors(np.asarray(columns, dtype=float) - 1.0, annual_rate)


def run_costs(
    series: pd.DataFrame,
    costs: CostTable,
    perspective: str | None = None,
    staff_training_share: float = 0.0,
) -> pd.DataFrame:
    """Cost per person of each replicate of one scenario, in GBP.

    Weekly cost = share in service x usual care + sum over interventions of (share in it
    x its weekly cost) + bed-days that week x bed-day cost + compulsory admissions that
    week x their extra cost, minus (societal perspective) the share employed x weekly
    earnings; plus, once at week 0 (undiscounted), ``staff_training_share`` (the share of
    users whose team is trained) x the training cost per user.

    Returns:
        One row per replicate: ``cost_gbp`` (discounted total), ``cost_gbp_undiscounted``
        and the discounted components ``<component>_gbp``.
    """
    perspective = perspective or costs.perspective
    if perspective not in ("health_and_social_care", "societal"):
        raise ValueError(f"perspective {perspective!r}; allowed: health_and_social_care, societal")
    unit = costs.costs
    rate = costs.discount.costs_rate_per_year.value
    weekly: dict[str, pd.DataFrame] = {}
    for key in INTERVENTION_KEYS:
        weekly[key] = _weekly(series, f"in_{key}") * getattr(unit, key).value
    bed_days = _increments(series, "bed_days")
    # usual care for those in service (all of a closed cohort, the caseload of an open one)
    weekly["usual_care"] = _weekly(series, "in_service") * unit.usual_care.value
    weekly["bed_days"] = bed_days * unit.bed_day.value
    weekly["compulsory_admissions"] = (
        _increments(series, "compulsory_admissions") * unit.compulsory_admission.value
    )
    if perspective == "societal":
        weekly["earnings"] = -_weekly(series, "employed") * unit.earnings_employed.value
    factors = _week_factors(bed_days.columns, rate)
    out = pd.DataFrame(index=bed_days.index)
    out["cost_gbp"] = 0.0
    out["cost_gbp_undiscounted"] = 0.0
    for name, frame in weekly.items():
        out[f"{name}_gbp"] = frame.to_numpy() @ factors
        out["cost_gbp"] += out[f"{name}_gbp"]
        out["cost_gbp_undiscounted"] += frame.to_numpy().sum(axis=1)
    training = staff_training_share * unit.staff_training.value
    out["staff_training_gbp"] = training
    out["cost_gbp"] += training
    out["cost_gbp_undiscounted"] += training
    return out


def run_qalys(series: pd.DataFrame, costs: CostTable, discount: bool = True) -> pd.Series:
    """QALYs per person of each replicate over the horizon (discounted unless told not).

    Weekly utility = u_stable x (1 - relapse) + u_relapse x (relapse - hospital)
    + u_hospital x hospital (hospital is part of relapse, see the module docstring),
    and each week is 1 / 52.1775 of a year.
    """
    u = costs.utilities
    relapse = _weekly(series, "in_relapse")
    hospital = _weekly(series, "in_hospital")
    community_relapse = (relapse - hospital).clip(lower=0.0)
    relapse_any = community_relapse + hospital
    utility = (
        u.stable.value * (1.0 - relapse_any)
        + u.relapse.value * community_relapse
        + u.hospital.value * hospital
    )
    rate = costs.discount.qalys_rate_per_year.value if discount else 0.0
    factors = _week_factors(utility.columns, rate)
    return pd.Series(utility.to_numpy() @ factors / WEEKS_PER_YEAR, index=utility.index)


def _mean_ci(x: Any, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t interval of the mean (NaN bounds with fewer than 2 values)."""
    x = np.asarray(x, dtype=float)
    mean = float(x.mean())
    if x.size < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return mean, mean - half, mean + half


def _fieller(num: Any, den: Any, level: float = 0.95) -> tuple[float, float]:
    """Fieller interval of mean(num) / mean(den) for paired samples (NaN if unbounded)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    n = num.size
    if n < 2:
        return np.nan, np.nan
    t2 = stats.t.ppf(0.5 + level / 2, n - 1) ** 2
    cov = np.cov(num, den, ddof=1) / n
    mn, md = num.mean(), den.mean()
    a = md**2 - t2 * cov[1, 1]
    b = -2.0 * (mn * md - t2 * cov[0, 1])
    c = mn**2 - t2 * cov[0, 0]
    disc = b * b - 4 * a * c
    if a <= 0 or disc < 0:  # the denominator is not clear of zero: no bounded interval
        return np.nan, np.nan
    root = np.sqrt(disc)
    return float((-b - root) / (2 * a)), float((-b + root) / (2 * a))


def incremental(
    costs_a: Any,
    qalys_a: Any,
    costs_b: Any,
    qalys_b: Any,
    thresholds: Sequence[float] = (20_000.0, 30_000.0),
) -> dict[str, Any]:
    """A versus B, paired by replicate (element i of each array is replicate i).

    The ICER is mean(dCost) / mean(dQALY) (a ratio of means, not a mean of ratios);
    it is the label ``"dominant"`` when A costs no more and gives no fewer QALYs
    (and differs), ``"dominated"`` when A costs no less and gives no more QALYs, with
    a Fieller 95% interval (NaN when the QALY difference is not clear of zero or the
    ICER is a label). NMB at threshold lambda = lambda x dQALY - dCost. Intervals are
    95% t intervals over replicates.
    """
    d_cost = np.asarray(costs_a, dtype=float) - np.asarray(costs_b, dtype=float)
    d_qaly = np.asarray(qalys_a, dtype=float) - np.asarray(qalys_b, dtype=float)
    out: dict[str, Any] = {}
    for name, x in (("incremental_cost", d_cost), ("incremental_qalys", d_qaly)):
        out[name], out[f"{name}_low"], out[f"{name}_high"] = _mean_ci(x)
    mc, mq = out["incremental_cost"], out["incremental_qalys"]
    if mc <= 0 and mq >= 0 and (mc, mq) != (0, 0):
        out["icer"], out["icer_low"], out["icer_high"] = "dominant", np.nan, np.nan
    elif mc >= 0 and mq <= 0 and (mc, mq) != (0, 0):
        out["icer"], out["icer_low"], out["icer_high"] = "dominated", np.nan, np.nan
    elif mq == 0:
        out["icer"], out["icer_low"], out["icer_high"] = np.nan, np.nan, np.nan
    else:
        out["icer"] = mc / mq
        out["icer_low"], out["icer_high"] = _fieller(d_cost, d_qaly)
    for lam in thresholds:
        name = f"nmb_{lam:.0f}"
        out[name], out[f"{name}_low"], out[f"{name}_high"] = _mean_ci(lam * d_qaly - d_cost)
    return out


def cost_per_extra_person_employed(dcost: Any, d_employed_share: Any) -> dict[str, float]:
    """Mean incremental cost / mean incremental share employed, with a Fieller 95% interval.

    NaN when the employment gain is not positive. ``d_employed_share`` is per replicate
    (the model's tables use the share employed in the final week).
    """
    dcost = np.asarray(dcost, dtype=float)
    d_emp = np.asarray(d_employed_share, dtype=float)
    if d_emp.mean() <= 0:
        value = np.nan
    else:
        value = float(dcost.mean() / d_emp.mean())
    low, high = _fieller(dcost, d_emp) if np.isfinite(value) else (np.nan, np.nan)
    return {
        "cost_per_extra_person_employed": value,
        "cost_per_extra_person_employed_low": low,
        "cost_per_extra_person_employed_high": high,
    }


def acceptability_curve(dcost: Any, dqaly: Any, thresholds: Any) -> np.ndarray:
    """Share of replicates (or draws) with NMB = lambda x dQALY - dCost > 0, per lambda."""
    dcost = np.asarray(dcost, dtype=float)
    dqaly = np.asarray(dqaly, dtype=float)
    lam = np.asarray(thresholds, dtype=float)[:, None]
    return ((lam * dqaly[None, :] - dcost[None, :]) > 0).mean(axis=1)


def _final_employed(series: pd.DataFrame) -> pd.Series:
    wide = _wide(series, "employed")
    return wide[wide.columns.max()]


def replicate_increments(
    reference_series: pd.DataFrame,
    scenario_series: pd.DataFrame,
    costs: CostTable,
    perspective: str | None = None,
    staff_training_share: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Per scenario and replicate, the paired increments per person over the reference.

    Columns: ``scenario``, ``reference``, ``replicate``, ``incremental_cost`` (GBP),
    ``incremental_qalys`` and ``incremental_employed`` (share employed in the final
    week); the points of the cost-effectiveness plane and the draws of the
    acceptability curve. ``staff_training_share`` maps a scenario name to the share of
    its users whose team is trained (0 if absent).
    """
    shares = staff_training_share or {}
    ref_name = str(reference_series["scenario"].iloc[0])
    ref_cost = run_costs(reference_series, costs, perspective, shares.get(ref_name, 0.0))
    ref_qaly = run_qalys(reference_series, costs)
    ref_emp = _final_employed(reference_series)
    frames = []
    for name, group in scenario_series.groupby("scenario", sort=False):
        cost = run_costs(group, costs, perspective, shares.get(str(name), 0.0))
        qaly = run_qalys(group, costs)
        common = cost.index.intersection(ref_cost.index)
        if common.empty:
            raise ValueError(f"scenario {name!r} shares no replicate with {ref_name!r}")
        frames.append(
            pd.DataFrame(
                {
                    "scenario": name,
                    "reference": ref_name,
                    "replicate": common,
                    "incremental_cost": (
                        cost.loc[common, "cost_gbp"] - ref_cost.loc[common, "cost_gbp"]
                    ).to_numpy(),
                    "incremental_qalys": (qaly.loc[common] - ref_qaly.loc[common]).to_numpy(),
                    "incremental_employed": (
                        _final_employed(group).loc[common] - ref_emp.loc[common]
                    ).to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def economics_from_increments(
    increments: pd.DataFrame, thresholds: Sequence[float] = (20_000.0, 30_000.0)
) -> pd.DataFrame:
    """:func:`economics_table` from :func:`replicate_increments`' table."""
    rows = []
    for (name, reference), group in increments.groupby(["scenario", "reference"], sort=False):
        d_cost, d_qaly = group.incremental_cost.to_numpy(), group.incremental_qalys.to_numpy()
        row: dict[str, Any] = {"scenario": name, "reference": reference}
        row.update(
            incremental(d_cost, d_qaly, np.zeros_like(d_cost), np.zeros_like(d_qaly), thresholds)
        )
        row.update(cost_per_extra_person_employed(d_cost, group.incremental_employed.to_numpy()))
        rows.append(row)
    return pd.DataFrame(rows)


def economics_table(
    reference_series: pd.DataFrame,
    scenario_series: pd.DataFrame,
    costs: CostTable,
    perspective: str | None = None,
    thresholds: Sequence[float] = (20_000.0, 30_000.0),
    staff_training_share: dict[str, float] | None = None,
) -> pd.DataFrame:
    """One row per scenario of ``scenario_series`` against the reference, paired by replicate.

    Columns: ``scenario``, ``reference``, and ``incremental_cost``, ``incremental_qalys``,
    ``icer``, ``nmb_<lambda>`` (one per threshold), ``cost_per_extra_person_employed``,
    each with ``_low`` / ``_high`` 95% bounds. ``staff_training_share`` maps a scenario
    name to the share of its users whose team is trained (0 if absent).
    """
    increments = replicate_increments(
        reference_series, scenario_series, costs, perspective, staff_training_share
    )
    return economics_from_increments(increments, thresholds)


def costs_price_years(costs: CostTable) -> str:
    """The price years of a cost table's unit costs, in words ("2012-2022 prices")."""
    years = sorted({item.price_year for item in costs.costs.__dict__.values()})
    return f"{years[0]} prices" if len(years) == 1 else f"{years[0]}-{years[-1]} prices"


def value_for_money_sentences(table: pd.DataFrame) -> str:
    """One plain sentence per row of :func:`economics_table`: cost, QALYs, ICER, NMB."""
    lines = []
    for row in table.itertuples():
        cost, qaly = row.incremental_cost, row.incremental_qalys
        icer = row.icer
        if isinstance(icer, str):
            verdict = {
                "dominant": "it is dominant: it costs less and gives more QALYs",
                "dominated": "it is dominated: it costs more and gives fewer QALYs",
            }[icer]
        elif np.isfinite(icer):
            verdict = f"each extra QALY costs £{icer:,.0f} (the ICER)"
        else:
            verdict = "it changes QALYs by nothing the replicates can tell from zero"
        nmb, low, high = row.nmb_20000, row.nmb_20000_low, row.nmb_20000_high
        sure = (
            "worth its cost at £20,000 per QALY (NMB interval above zero)"
            if low > 0
            else "not worth its cost at £20,000 per QALY (NMB interval below zero)"
            if high < 0
            else "uncertain at £20,000 per QALY (NMB interval includes zero)"
        )
        lines.append(
            f"{row.scenario} vs {row.reference}: cost {cost:+,.0f} GBP and {qaly:+.4f} QALYs "
            f"per person; {verdict}; NMB at £20,000 {nmb:+,.0f} GBP [{low:+,.0f}, {high:+,.0f}], "
            f"{sure}."
        )
    return "\n\n".join(lines)


def staff_training_share(scenario: Scenario) -> float:
    """Share of the scenario's users whose team receives staff training, at entry or by schedule.

    A scheduled training is costed like one at entry (once, undiscounted).
    """
    world = scenario.world()
    trained = world.staff_training.copy()
    for change in scenario.schedule():
        if change.key == STAFF_TRAINING:
            trained[list(change.units)] = True
    return float(np.mean(trained[world.team_of_agent]))


def accumulated_economics(
    weekly: dict[str, np.ndarray],
    at_weeks: Sequence[int],
    costs: CostTable,
    staff_training_share: float = 0.0,
) -> dict[str, np.ndarray]:
    """Per run, the :data:`~sim.files.costs.ECONOMIC_OUTPUTS` over weeks 1..W, per W.

    Args:
        weekly: :data:`ECONOMIC_INPUTS` -> (runs, H + 1) array of records 0..H.
        at_weeks: The weeks W (0..H) at which to report the accumulated totals.
        costs: Unit costs, utilities, discount rates and perspective.
        staff_training_share: As in :func:`run_costs` (counted from week 0).

    Returns:
        Output name -> (runs, len(at_weeks)) array: ``cost_gbp`` and ``qalys`` as
        :func:`run_costs` and :func:`run_qalys` give them for the series cut at W,
        ``employed_weeks`` the sum of the weekly share employed, and ``nmb_<lambda>`` =
        lambda x QALYs - cost.
    """
    runs, records = weekly["employed"].shape
    series = pd.DataFrame(
        {
            "replicate": np.tile(np.repeat(np.arange(runs), records), len(ECONOMIC_INPUTS)),
            "week": np.tile(np.arange(records), runs * len(ECONOMIC_INPUTS)),
            "metric": np.repeat(ECONOMIC_INPUTS, runs * records),
            "value": np.concatenate([weekly[name].ravel() for name in ECONOMIC_INPUTS]),
        }
    )
    out = {name: np.empty((runs, len(at_weeks))) for name in ECONOMIC_OUTPUTS}
    for j, week in enumerate(at_weeks):
        cut = series[series["week"] <= week]
        cost = run_costs(cut, costs, staff_training_share=staff_training_share)
        cost = cost["cost_gbp"].to_numpy()
        qalys = run_qalys(cut, costs).to_numpy()
        out["cost_gbp"][:, j] = cost
        out["qalys"][:, j] = qalys
        out["employed_weeks"][:, j] = _weekly(cut, "employed").sum(axis=1).to_numpy()
        for name in ECONOMIC_OUTPUTS:
            if name.startswith("nmb_"):  # nmb_<lambda in GBP per QALY>
                out[name][:, j] = float(name.removeprefix("nmb_")) * qalys - cost
    return out
