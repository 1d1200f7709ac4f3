"""Equity: outcomes by subgroup of the users, and the gap between the best- and worst-off.

Subgroups are fixed at entry, so that a scenario's effect is compared within the same
people (common random numbers give the same users in every scenario): severity at entry
(terciles of the users' baseline severity in each run), work history at entry (yes/no),
Andresen stage at entry (early: moratorium or awareness; preparation; later: rebuilding
or growth) and team. For each outcome at the horizon, a subgroup's mean is taken per
replicate; the gap is the best-off group's mean minus the worst-off group's (best and
worst as ranked in the reference, the first scenario, so every scenario's gap is between
the same two groups), per replicate; intervals are 95% t intervals over replicates. A
scenario's change in a gap is paired with the reference's, replicate by replicate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.studies.compare import ScenarioResult, mean_interval

__all__ = ["EQUITY_OUTCOMES", "SUBGROUPS", "equity_tables", "subgroups"]

EQUITY_OUTCOMES = ("employed", "personal_recovery", "housed")
SUBGROUPS = ("severity_at_entry", "work_history_at_entry", "stage_at_entry", "team")
_SEVERITY = ("low severity", "middle severity", "high severity")
# stage index (0 moratorium ... 4 growth; 3 and 4 both read as 3) -> group
_STAGE_GROUPS = {0: "early stage", 1: "early stage", 2: "preparation", 3: "later stage"}


def subgroups(result: ScenarioResult) -> dict[str, np.ndarray]:
    """Subgroup -> (replicates, users) labels (strings), from the entry state."""
    entry = result.entry
    severity = entry["severity_baseline"]
    ranks = severity.argsort(axis=1).argsort(axis=1)  # 0..N-1 within each run
    tercile = np.minimum(3 * ranks // severity.shape[1], 2)
    stage = np.minimum(entry["stage"].astype(int), 3)
    world = result.scenario.world()
    teams = np.array([t.name for t in world.teams])[world.team_of_agent]
    return {
        "severity_at_entry": np.array(_SEVERITY)[tercile],
        "work_history_at_entry": np.where(entry["work_history"], "worked before", "never worked"),
        "stage_at_entry": np.vectorize(_STAGE_GROUPS.get)(stage),
        "team": np.broadcast_to(teams, severity.shape),
    }


# the order groups are listed in (others alphabetically)
_ORDER = (*_SEVERITY, "never worked", "worked before", "early stage", "preparation", "later stage")


def _group_means(values: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Label -> per-replicate mean of ``values`` over that group's users (NaN if empty)."""
    out = {}
    present = set(labels.ravel().tolist())
    ordered = [g for g in _ORDER if g in present] + sorted(present - set(_ORDER))
    for label in ordered:
        mask = labels == label
        count = mask.sum(axis=1)
        total = np.where(mask, values, 0.0).sum(axis=1)
        out[label] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def equity_tables(
    results: Sequence[ScenarioResult], outcomes: Sequence[str] = EQUITY_OUTCOMES
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Subgroup means and gaps of every scenario; gap changes against the first.

    Returns:
        ``groups``: scenario, outcome, subgroup, group, users (mean per run), mean, low,
        high. ``gaps``: scenario, outcome, subgroup, best, worst, gap, gap_low,
        gap_high, and for the scenarios after the first, gap_change (this scenario's gap
        minus the reference's, paired), change_low, change_high.
    """
    labels = subgroups(results[0])  # the same users in every scenario
    group_rows, gap_rows = [], []
    reference_gaps: dict[tuple[str, str], np.ndarray] = {}
    pairs: dict[tuple[str, str], tuple[int, int]] = {}
    for k, result in enumerate(results):
        for outcome in outcomes:
            values = result.finals[outcome].astype(np.float64)
            for subgroup, label in labels.items():
                means = _group_means(values, label)
                for group, per_replicate in means.items():
                    mean, low, high = mean_interval(per_replicate)
                    users = float((label == group).sum(axis=1).mean())
                    group_rows.append(
                        (result.scenario.name, outcome, subgroup, group, users, mean, low, high)
                    )
                table = np.column_stack(list(means.values()))
                if k == 0:  # best and worst as in the reference, so changes compare like with like
                    order = np.nanmean(table, axis=0)
                    ranked = np.argsort(order)  # ties: two different groups; NaN last
                    valid = int(np.isfinite(order).sum())
                    pairs[outcome, subgroup] = int(ranked[valid - 1]), int(ranked[0])
                best, worst = pairs[outcome, subgroup]
                gap = table[:, best] - table[:, worst]
                row = {
                    "scenario": result.scenario.name,
                    "outcome": outcome,
                    "subgroup": subgroup,
                    "best": list(means)[best],
                    "worst": list(means)[worst],
                }
                row["gap"], row["gap_low"], row["gap_high"] = mean_interval(gap)
                if k == 0:
                    reference_gaps[outcome, subgroup] = gap
                else:
                    change = gap - reference_gaps[outcome, subgroup]
                    row["gap_change"], row["change_low"], row["change_high"] = mean_interval(change)
                gap_rows.append(row)
    groups = pd.DataFrame(
        group_rows,
        columns=["scenario", "outcome", "subgroup", "group", "users", "mean", "low", "high"],
    )
    return groups, pd.DataFrame(gap_rows)
