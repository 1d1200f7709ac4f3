"""EQOLISE cost check: the model's per-arm costs in the EQOLISE virtual trial vs published.

Runs the two arms of the shipped EQOLISE trial (``experiments/trials/eqolise.toml``)
through the model, costs them with the shipped unit costs (``calibration/costs.toml``)
and tabulates them against the published figures in ``calibration/cost_checks.toml``
(Knapp et al. 2013, World Psychiatry 12:60-68; Burns et al. 2007, Lancet 370:1146-52),
with the ratio model / published and whether the sign of the incremental cost agrees.

How the arms are run. The trial's context (sites, teams, parameters) becomes two
scenarios of ``n_per_arm`` users each, one offered the trial's intervention, one not,
run by :func:`sim.studies.compare.run_scenario` with the trial's seed, so replicate r
of both arms shares its random numbers (paired, as in ``recovery-sim compare``). Costs
come from :func:`sim.studies.economics.run_costs`, the incremental cost and the
dominance label from :func:`sim.studies.economics.incremental` (with the share who
ever worked as the effect, the trial's primary outcome). Each arm is its own world of
``n_per_arm`` users: ``recovery-sim trial`` instead mixes both arms in the same teams,
so the shares who worked differ slightly from its figures.

Costs are per person over the follow-up, undiscounted (an 18-month within-trial
comparison) unless ``discount=True``, in GBP at the prices of costs.toml (2012-2014),
not inflated or deflated to the published figures' price year (not confirmed).

The model's comparator arm gets usual care only: it has no costed vocational service.
The table shows the comparison as is and with the comparator charged the weekly cost
``[comparator_costing].weekly_cost_gbp`` of cost_checks.toml for every follow-up week
of every user (added to its costs here; no core code or costs.toml key changes).

Run ``python -m sim.studies.cost_check`` (``--replicates``, ``--seed``, ``--discount``).
The reading of the table: docs/cost_check.md.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.errors import UserError
from sim.files.costs import INTERVENTION_KEYS, CostTable, load_costs
from sim.files.inputs import read_toml_file
from sim.files.scenario import Scenario, from_mapping
from sim.files.shipped import data_dir, resolve
from sim.studies.compare import mean_interval, run_scenario
from sim.studies.economics import incremental, run_costs, weekly_discount_factors
from sim.studies.trials import TrialExperiment, load_trial

__all__ = [
    "ARM_COLUMNS",
    "CostCheck",
    "CostCheckError",
    "arm_costs",
    "arm_scenarios",
    "comparator_service_cost",
    "comparison_table",
    "cost_checks_file",
    "format_table",
    "load_cost_checks",
    "main",
    "run_cost_check",
]

# per replicate, per person: the columns of :func:`arm_costs`
ARM_COLUMNS = (
    "intervention_gbp",
    "hospital_gbp",
    "usual_care_gbp",
    "total_gbp",
    "time_in_hospital",
    "worked",
)
_COMPONENTS = ("intervention", "hospital", "total")
_ARMS = {"intervention": "IPS", "comparator": "VS"}


class CostCheckError(UserError):
    """A cost-checks file that cannot be used (the message names the file and the key)."""


def cost_checks_file() -> Path:
    """``calibration/cost_checks.toml`` (package data in a wheel, else the source tree's)."""
    return data_dir("calibration") / "cost_checks.toml"


def load_cost_checks(path: str | Path | None = None) -> dict[str, Any]:
    """Read the published figures and check the keys this module reads.

    Raises:
        CostCheckError: Naming the file and the missing or invalid key.
    """
    file = Path(path) if path is not None else cost_checks_file()
    raw = read_toml_file(file, "cost checks file", CostCheckError)

    def need(table: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        if key not in table:
            raise CostCheckError(f"{file}: {where}{key}: missing")
        value = table[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise CostCheckError(f"{file}: {where}{key} = {value!r} is invalid")
        return value

    trial = need(raw, "eqolise", "", dict)
    need(trial, "trial", "eqolise.", str)
    need(trial, "follow_up_weeks", "eqolise.", int)
    result = need(trial, "result", "eqolise.", dict)
    if need(result, "incremental_cost_sign", "eqolise.result.", int) not in (-1, 0, 1):
        raise CostCheckError(f"{file}: eqolise.result.incremental_cost_sign: allowed -1, 0, 1")
    need(result, "verdict", "eqolise.result.", str)
    for section in ("costs", "hospital", "effect"):
        for name, item in need(trial, section, "eqolise.", dict).items():
            where = f"eqolise.{section}.{name}."
            for key in ("unit", "meaning", "source"):
                need(item, key, where, str)
            need(item, "value", where, (int, float))
            need(item, "confirmed", where, bool)
            if need(item, "arm", where, str) not in _ARMS:
                raise CostCheckError(f"{file}: {where}arm: allowed {', '.join(_ARMS)}")
            if section == "costs" and need(item, "component", where, str) not in _COMPONENTS:
                raise CostCheckError(f"{file}: {where}component: allowed {', '.join(_COMPONENTS)}")
    costing = need(raw, "comparator_costing", "", dict)
    weekly = need(costing, "weekly_cost_gbp", "comparator_costing.", (int, float))
    if not math.isfinite(weekly) or weekly < 0:
        raise CostCheckError(f"{file}: comparator_costing.weekly_cost_gbp: a number >= 0")
    need(costing, "source", "comparator_costing.", str)
    return raw


def arm_scenarios(trial: TrialExperiment) -> tuple[Scenario, Scenario]:
    """The trial's two arms as scenarios: (intervention arm, comparator arm).

    Each has the trial's context, ``n_per_arm`` users, its follow-up as horizon, its
    replicates and seed; the intervention arm is also offered the trial's intervention
    (to every user), on top of the context's ``[offers]`` that both arms get.
    """
    spec = trial.spec
    if spec.intervention is None or trial.cluster:
        raise UserError(f"{trial.path}: the cost check needs an individually randomised trial")
    scenarios = []
    base_offers = dict(trial.context.spec.offers)
    for arm, offers in (
        ("intervention", {**base_offers, spec.intervention: 1.0}),
        ("comparator", base_offers),
    ):
        raw = copy.deepcopy(trial.context.resolved)
        raw.update(
            name=f"{spec.name}-{arm}",
            horizon_weeks=spec.follow_up_weeks,
            replicates=spec.replicates,
            seed=spec.seed,
            offers=offers,
        )
        raw["population"] = {**raw.get("population", {}), "size": spec.n_per_arm}
        scenarios.append(from_mapping(raw, path=trial.path))
    return scenarios[0], scenarios[1]


def _undiscounted(costs: CostTable) -> CostTable:
    rate = costs.discount.costs_rate_per_year.model_copy(update={"value": 0.0})
    discount = costs.discount.model_copy(update={"costs_rate_per_year": rate})
    return costs.model_copy(update={"discount": discount})


def _by_replicate(series: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = series[series["metric"] == metric]
    return rows.pivot_table(index="replicate", columns="week", values="value").sort_index(axis=1)


def arm_costs(series: pd.DataFrame, costs: CostTable, *, discount: bool = False) -> pd.DataFrame:
    """Per replicate of one arm, per person over the horizon (:data:`ARM_COLUMNS`).

    ``intervention_gbp``: the user interventions' costs; ``hospital_gbp``: bed-days and
    compulsory admissions; ``usual_care_gbp``; ``total_gbp``: all of
    :func:`~sim.studies.economics.run_costs`' cost (undiscounted unless ``discount``);
    ``time_in_hospital``: mean share in hospital over weeks 1..H; ``worked``: share who
    ever worked, at the horizon.
    """
    raw = run_costs(series, costs if discount else _undiscounted(costs))
    out = pd.DataFrame(index=raw.index)
    out["intervention_gbp"] = sum(raw[f"{key}_gbp"] for key in INTERVENTION_KEYS)
    out["hospital_gbp"] = raw["bed_days_gbp"] + raw["compulsory_admissions_gbp"]
    out["usual_care_gbp"] = raw["usual_care_gbp"]
    out["total_gbp"] = raw["cost_gbp"]
    hospital = _by_replicate(series, "in_hospital")
    out["time_in_hospital"] = hospital.loc[:, hospital.columns > 0].mean(axis=1)
    worked = _by_replicate(series, "ever_employed")
    out["worked"] = worked[worked.columns.max()]
    return out


def comparator_service_cost(weeks: int, weekly_cost: float, annual_rate: float = 0.0) -> float:
    """Cost per person of a service charged ``weekly_cost`` every week 1..``weeks``.

    Week t is discounted like :func:`~sim.studies.economics.run_costs` does (by the
    years elapsed at its start, ``t - 1`` weeks); ``annual_rate = 0`` gives
    ``weekly_cost x weeks``.
    """
    return float(weekly_cost * weekly_discount_factors(np.arange(weeks), annual_rate).sum())


_MISSING = {"value": math.nan, "confirmed": False}


def _published(checks: dict[str, Any], arm: str, component: str) -> dict[str, Any]:
    """The published cost of one arm and component (NaN if the file has none)."""
    for item in checks["eqolise"]["costs"].values():
        if item["arm"] == arm and item["component"] == component:
            return item
    return _MISSING


def _row(section, quantity, values, item, **extra) -> dict[str, Any]:
    mean, low, high = mean_interval(np.asarray(values, dtype=float))
    published = float(item["value"])
    return {
        "section": section,
        "quantity": quantity,
        "model": mean,
        "model_low": low,
        "model_high": high,
        "published": published,
        "ratio": mean / published if math.isfinite(published) and published != 0 else math.nan,
        "confirmed": bool(item["confirmed"]),
        **extra,
    }


def comparison_table(
    intervention: pd.DataFrame,
    comparator: pd.DataFrame,
    checks: dict[str, Any],
    comparator_extra_gbp: float,
) -> pd.DataFrame:
    """Model vs published, per arm and component, as is and with the comparator costed.

    ``intervention`` and ``comparator`` are :func:`arm_costs` frames, paired by
    replicate; ``comparator_extra_gbp`` is the per-person cost of the comparator's
    vocational service (:func:`comparator_service_cost`), added to its intervention and
    total costs in the ``comparator costed`` section. Columns: ``section``,
    ``quantity``, ``model`` (mean over replicates) with ``model_low``/``model_high``
    (95% t interval), ``published``, ``ratio`` (model / published; NaN where no
    published figure), ``confirmed`` (the published figure read in the paper), and on
    the incremental rows ``sign_agrees`` and ``verdict`` (the
    :func:`~sim.studies.economics.incremental` label with the share who worked as the
    effect: dominant, dominated, or the cost per extra person who worked).
    """
    common = intervention.index.intersection(comparator.index)
    if common.empty:
        raise ValueError("the arms share no replicate")
    ips, vs = intervention.loc[common], comparator.loc[common]
    result = checks["eqolise"]["result"]
    rows = []
    for section, extra in (("as is", 0.0), ("comparator costed", comparator_extra_gbp)):
        arms = {"intervention": ips, "comparator": vs.copy()}
        arms["comparator"]["intervention_gbp"] += extra
        arms["comparator"]["total_gbp"] += extra
        for arm, frame in arms.items():
            for component in _COMPONENTS:
                item = _published(checks, arm, component)
                name = f"{_ARMS[arm]} {component} cost (GBP/person)"
                rows.append(_row(section, name, frame[f"{component}_gbp"], item))
        total_ips = _published(checks, "intervention", "total")
        total_vs = _published(checks, "comparator", "total")
        d_cost = arms["intervention"]["total_gbp"] - arms["comparator"]["total_gbp"]
        inc = incremental(
            arms["intervention"]["total_gbp"],
            arms["intervention"]["worked"],
            arms["comparator"]["total_gbp"],
            arms["comparator"]["worked"],
            thresholds=(),
        )
        icer = inc["icer"]
        verdict = icer if isinstance(icer, str) else f"{icer:,.0f} GBP per extra person who worked"
        item = {
            "value": float(total_ips["value"]) - float(total_vs["value"]),
            "confirmed": bool(total_ips["confirmed"] and total_vs["confirmed"]),
        }
        rows.append(
            _row(
                section,
                "incremental total cost IPS - VS (GBP/person)",
                d_cost,
                item,
                sign_agrees=bool(
                    np.sign(inc["incremental_cost"]) == result["incremental_cost_sign"]
                ),
                verdict=f"model: {verdict}; published: {result['verdict']}",
            )
        )
    figures = checks["eqolise"]
    for arm, frame in (("ips", ips), ("vs", vs)):
        rows.append(
            _row(
                "hospital use",
                f"{arm.upper()} share of follow-up in hospital",
                frame["time_in_hospital"],
                figures["hospital"].get(f"time_in_hospital_{arm}", _MISSING),
            )
        )
    for arm, frame in (("ips", ips), ("vs", vs)):
        rows.append(
            _row(
                "effect",
                f"{arm.upper()} share who worked at least one day",
                frame["worked"],
                figures["effect"].get(f"worked_{arm}", _MISSING),
            )
        )
    return pd.DataFrame(rows)


@dataclass
class CostCheck:
    """What :func:`run_cost_check` returns.

    Attributes:
        table: :func:`comparison_table`.
        intervention: :func:`arm_costs` of the intervention arm.
        comparator: :func:`arm_costs` of the comparator arm.
        replicates: Replicate trials per arm.
        seed: Their seed.
        weeks: The follow-up.
        n_per_arm: Users per arm.
        comparator_extra_gbp: The comparator's vocational-service cost per person.
        weekly_cost_gbp: Its weekly cost.
        discount: Whether costs are discounted.
        seconds: Wall time.
    """

    table: pd.DataFrame
    intervention: pd.DataFrame
    comparator: pd.DataFrame
    replicates: int
    seed: int
    weeks: int
    n_per_arm: int
    comparator_extra_gbp: float
    weekly_cost_gbp: float
    discount: bool
    seconds: float


def run_cost_check(
    *,
    replicates: int | None = None,
    seed: int | None = None,
    discount: bool = False,
    costs: CostTable | None = None,
    checks: dict[str, Any] | None = None,
) -> CostCheck:
    """Run the EQOLISE arms and compare their costs with the published figures.

    Args:
        replicates: Replicate trials per arm (default: the trial file's).
        seed: Seed (default: the trial file's).
        discount: Discount costs at costs.toml's rate (default: undiscounted).
        costs: Unit costs (default: the shipped calibration/costs.toml).
        checks: Published figures (default: calibration/cost_checks.toml).
    """
    started = time.perf_counter()
    checks = checks if checks is not None else load_cost_checks()
    costs = costs if costs is not None else load_costs()
    trial = load_trial(resolve("trial", checks["eqolise"]["trial"]))
    spec = trial.spec
    if spec.follow_up_weeks != checks["eqolise"]["follow_up_weeks"]:
        raise CostCheckError(
            f"the trial follows up {spec.follow_up_weeks} weeks; the published figures are "
            f"over {checks['eqolise']['follow_up_weeks']}"
        )
    replicates = replicates or spec.replicates
    seed = spec.seed if seed is None else seed
    frames = [
        arm_costs(
            run_scenario(arm, replicates=replicates, seed=seed).series, costs, discount=discount
        )
        for arm in arm_scenarios(trial)
    ]
    weekly = float(checks["comparator_costing"]["weekly_cost_gbp"])
    rate = costs.discount.costs_rate_per_year.value if discount else 0.0
    extra = comparator_service_cost(spec.follow_up_weeks, weekly, rate)
    return CostCheck(
        table=comparison_table(frames[0], frames[1], checks, extra),
        intervention=frames[0],
        comparator=frames[1],
        replicates=replicates,
        seed=seed,
        weeks=spec.follow_up_weeks,
        n_per_arm=spec.n_per_arm,
        comparator_extra_gbp=extra,
        weekly_cost_gbp=weekly,
        discount=discount,
        seconds=time.perf_counter() - started,
    )


def _number(value: float, share: bool) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.1%}" if share else f"{value:,.0f}"


def format_table(table: pd.DataFrame) -> str:
    """The comparison as Markdown tables, one per section."""
    lines = []
    for section, group in table.groupby("section", sort=False):
        lines += [
            f"**{section}**",
            "",
            "| quantity | model mean [95% interval] | published | ratio | published figure |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in group.itertuples():
            share = "share" in row.quantity
            model = (
                f"{_number(row.model, share)} "
                f"[{_number(row.model_low, share)}, {_number(row.model_high, share)}]"
            )
            ratio = "n/a" if not math.isfinite(row.ratio) else f"{row.ratio:.2f}"
            status = (
                "not found"
                if not math.isfinite(row.published)
                else "confirmed"
                if row.confirmed
                else "unconfirmed"
            )
            lines.append(
                f"| {row.quantity} | {model} | {_number(row.published, share)} | {ratio} | "
                f"{status} |"
            )
            if isinstance(getattr(row, "verdict", None), str):
                agrees = "yes" if row.sign_agrees else "no"
                lines.append(f"| sign of incremental cost agrees | {agrees} | | | confirmed |")
                lines.append(f"| verdict | {row.verdict} | | | |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sim.studies.cost_check``: run the check and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m sim.studies.cost_check",
        description="EQOLISE cost check: the model's per-arm costs vs the published figures.",
    )
    parser.add_argument("--replicates", type=int, default=None, help="default: the trial's")
    parser.add_argument("--seed", type=int, default=None, help="default: the trial's")
    parser.add_argument("--discount", action="store_true", help="discount at costs.toml's rate")
    args = parser.parse_args(argv)
    if args.replicates is not None and args.replicates < 1:
        parser.error("--replicates must be >= 1")
    try:
        check = run_cost_check(replicates=args.replicates, seed=args.seed, discount=args.discount)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"EQOLISE cost check: {check.replicates} replicate trials per arm, {check.n_per_arm} "
        f"users per arm, {check.weeks} weeks, seed {check.seed}; GBP per person over the "
        f"follow-up, {'discounted' if check.discount else 'undiscounted'}, costs.toml prices "
        f"(2012-2014). Comparator costed: {check.weekly_cost_gbp:,.2f} GBP/week x "
        f"{check.weeks} weeks = {check.comparator_extra_gbp:,.0f} GBP/person. "
        f"{check.seconds:.0f} s.\n"
    )
    print(format_table(check.table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
