"""A virtual trial's metrics: their specification and how one trial computes them.

:class:`MetricSpec` is one ``[[metrics]]`` table of a trial file;
:func:`compute_metric` computes one metric of one trial from per-user values;
:func:`metric_columns` computes a metric's columns (pooled, and per site with
``by_site``) from the per-user quantities of one run. The kinds and options are
listed in :mod:`sim.studies.trials`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from sim.files.scenario import NotBool
from sim.studies.effect_sizes import hedges_g

__all__ = [
    "FOLLOW_UP_COUNTERS",
    "MetricSpec",
    "compute_metric",
    "metric_columns",
    "needed_quantities",
    "site_column",
]

# outcome state -> the per-user count of simulated weeks in that state since week 0
# (sim.core.kernels adds the week's state after each step, so count / weeks is the
# share of follow-up weeks in the state)
FOLLOW_UP_COUNTERS = {
    "housed": "weeks_housed",
    "employed": "weeks_employed",
    "in_hospital": "bed_weeks",
}

Kind = Literal[
    "share",
    "relative_risk",
    "risk_difference",
    "odds_ratio",
    "smd",
    "mean",
    "mean_difference",
    "correlation",
    "follow_up_share",
]


class MetricSpec(BaseModel):
    """One metric, computed the way the trial computed it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(description="The metric's column name (unique; no '[' or ']').")
    kind: Kind = Field(
        description="What is computed (the kinds are listed in sim/studies/trials.py)."
    )
    outcome: str = Field(description="The per-user quantity at follow-up the metric reads.")
    arm: Literal["treated", "control", "all"] = Field(
        "treated", description="The arm of share, mean, correlation and follow_up_share."
    )
    threshold: Annotated[float, NotBool, Field(allow_inf_nan=False)] | None = Field(
        None, description="If given, the outcome becomes the indicator outcome > threshold."
    )
    with_: str | None = Field(  # correlation's second quantity
        default=None,
        alias="with",
        description="correlation only: the second per-user quantity.",
    )
    by_site: StrictBool = Field(  # also one column per site: <name>[<site>]
        False, description="Also one column per site, <name>[<site>], among that site's users."
    )
    at_week: Annotated[int, Field(ge=0), NotBool] | None = Field(  # default: follow_up_weeks
        None,
        description="Measure at this week (0 to follow_up_weeks) instead of the end of follow-up.",
    )
    target: str | None = Field(  # id in calibration/targets.toml
        None, description="The published figure's id in calibration/targets.toml."
    )
    target_key: str | None = Field(  # which value of the target (e.g. smd_hope)
        None, description="Which value of that target the metric reproduces (e.g. smd_hope)."
    )

    @model_validator(mode="after")
    def _options_fit_the_kind(self) -> MetricSpec:
        if "[" in self.name or "]" in self.name:
            raise ValueError(
                f"name = {self.name!r}: '[' and ']' are kept for the per-site columns "
                "(<name>[<site>]); choose a name without them"
            )
        if self.kind == "correlation" and self.with_ is None:
            raise ValueError(
                "kind = 'correlation' needs with = '<per-user quantity>' "
                "(correlated with the outcome across the arm's users)"
            )
        if self.kind != "correlation" and self.with_ is not None:
            raise ValueError(f"with is only for kind = 'correlation', not {self.kind!r}")
        if self.kind == "follow_up_share" and self.outcome not in FOLLOW_UP_COUNTERS:
            raise ValueError(
                f"kind = 'follow_up_share' needs an outcome whose weeks the model counts; "
                f"outcome = {self.outcome!r} is not one; allowed: {', '.join(FOLLOW_UP_COUNTERS)}"
            )
        return self


def _odds_ratio(t: np.ndarray, c: np.ndarray) -> float:
    """(a d) / (b c) of the 2 x 2 table; NaN where b c = 0 (no finite ratio)."""
    a, b = float(t.sum()), float(t.size - t.sum())
    c_events, d = float(c.sum()), float(c.size - c.sum())
    return a * d / (b * c_events) if b * c_events > 0 else float("nan")


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r; NaN with fewer than two users or a constant variable."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def compute_metric(
    metric: MetricSpec,
    values: np.ndarray,
    treated: np.ndarray,
    other: np.ndarray | None = None,
) -> float:
    """One trial's metric from per-user outcomes ``values`` and the treated mask.

    Args:
        metric: The metric.
        values: Per-user outcome (for ``follow_up_share``: each user's share of
            follow-up weeks in the state).
        treated: Treated-arm mask over the same users.
        other: Per-user ``with`` quantity (``correlation`` only).

    Returns:
        The metric; NaN where it is undefined (an empty arm, a zero denominator).
    """
    values = np.asarray(values, dtype=np.float64)
    treated = np.asarray(treated, dtype=bool)
    values = values if metric.threshold is None else (values > metric.threshold).astype(float)
    arm = {"treated": treated, "control": ~treated, "all": np.ones_like(treated)}[metric.arm]
    t, c = values[treated], values[~treated]
    if metric.kind in ("share", "mean", "follow_up_share"):
        return float(values[arm].mean()) if arm.any() else float("nan")
    if metric.kind == "correlation":
        return _correlation(values[arm], np.asarray(other, dtype=np.float64)[arm])
    if t.size == 0 or c.size == 0:
        return float("nan")
    if metric.kind == "relative_risk":
        return float(t.mean() / c.mean()) if c.mean() > 0 else float("nan")
    if metric.kind == "odds_ratio":
        return _odds_ratio(t, c)
    if metric.kind in ("risk_difference", "mean_difference"):
        return float(t.mean() - c.mean())
    if t.size < 2 or c.size < 2:
        return float("nan")
    return hedges_g(t, c)


def needed_quantities(metric: MetricSpec) -> set[str]:
    """The per-user quantities the metric reads from a run."""
    if metric.kind == "follow_up_share":
        return {FOLLOW_UP_COUNTERS[metric.outcome]}
    return {metric.outcome} | ({metric.with_} if metric.with_ else set())


def site_column(name: str, site: str) -> str:
    """The column of metric ``name`` at one site."""
    return f"{name}[{site}]"


def metric_columns(
    metric: MetricSpec,
    quantities: Mapping[str, np.ndarray],
    week: int,
    treated: np.ndarray,
    site_of_user: np.ndarray,
    site_names: list[str],
) -> dict[str, float]:
    """The metric's columns for one run: ``name``, and ``name[site]`` with ``by_site``.

    Args:
        metric: The metric.
        quantities: Per-user quantity name -> (users,) at ``week``.
        week: The follow-up week the quantities belong to.
        treated: Treated-arm mask over users.
        site_of_user: Site index of each user.
        site_names: Site names, by index.
    """
    if metric.kind == "follow_up_share":
        values = quantities[FOLLOW_UP_COUNTERS[metric.outcome]] / week
    else:
        values = quantities[metric.outcome]
    other = quantities[metric.with_] if metric.with_ else None
    columns = {metric.name: compute_metric(metric, values, treated, other)}
    if metric.by_site:
        for s, site in enumerate(site_names):
            here = site_of_user == s
            columns[site_column(metric.name, site)] = compute_metric(
                metric, values[here], treated[here], None if other is None else other[here]
            )
    return columns
