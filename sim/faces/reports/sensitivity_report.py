"""Writing a sensitivity analysis: tidy CSV tables, figures, a plain-words ranking, a report.

:func:`write_analysis` puts into a sweep folder ``indices.csv`` (one row per output,
method, index and parameter, with intervals and the noise floor), ``noise.csv``,
``convergence.csv``, ``stable.csv``, ``analysis.json``, the figures of
:mod:`sim.faces.reports.sensitivity_plots` and a self-contained ``report.html`` whose first
section says in plain words, with the numbers, which levers matter most for each
outcome domain. :func:`ranking_text` is that text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.parameter import LEVELS
from sim.faces.reports import sensitivity_plots as plots
from sim.faces.reports.html import Section, write_report
from sim.files.outputs import write_atomic, write_json
from sim.studies.sensitivity import RANKED_BY, SensitivityResult

__all__ = ["DOMAIN_ORDER", "lead_rivals", "ranking_text", "reading_notes", "write_analysis"]

DOMAIN_ORDER = ("functional", "existential", "social")
TOP = 3  # levers named per output


def _interval(row: Any) -> str:
    if pd.isna(row.ci_low):
        return f"{row.estimate:.2f}"
    return f"{row.estimate:.2f} ({row.ci_low:.2f} to {row.ci_high:.2f})"


def _name(row: Any) -> str:
    if row.level == row.parameter:  # grouped indices: a moderator level or a named group
        return f"the {row.parameter} {'level' if row.parameter in LEVELS else 'group'}"
    return f"{row.parameter} ({row.level})" if row.level else str(row.parameter)


def _variance_sentence(part: pd.DataFrame, noise: float) -> str:
    """The variance budget: sum of first orders (unbiased, so not clipped), noise, the rest."""
    first = float(part[part["index"] == "S1"]["estimate"].sum())
    noise = 0.0 if pd.isna(noise) else float(noise)
    rest = max(0.0, 1.0 - first - noise)
    return (
        f"First-order effects add up to {first:.0%} of the variance, stochastic noise "
        f"{noise:.0%}, and interactions (with estimation error) about {rest:.0%}."
    )


def _variance_text(
    part: pd.DataFrame, conf_level: float, noise: float, rivals: list[str] = ()
) -> str:
    """Sobol' or eFAST: leaders by total order, how many are clear, variance budget.

    ``rivals`` (:func:`lead_rivals`) are the levers the first is not separable from;
    the headline then says so, as the Convergence section does.
    """
    total = part[part["index"] == "ST"].sort_values("estimate", ascending=False)
    first = part[part["index"] == "S1"].set_index("parameter")["estimate"]
    has_ci = total["ci_low"].notna().any()
    clear = total[total["ci_low"] > 0] if has_ci else total[total["estimate"] > 0.01]
    unit = "levers"
    if part["method"].iloc[0] == "sobol_by_level":
        unit = "levels" if set(part["parameter"]) <= set(LEVELS) else "groups"
    if clear.empty:
        shown = "" if pd.isna(noise) else f"; stochastic noise is {noise:.0%} of its variance"
        return f"No {unit[:-1]}'s total-order index is distinguishable from zero{shown}."
    leaders = list(clear.head(TOP).itertuples(index=False))
    lead = _name(leaders[0]).replace("the ", "The ", 1)  # a parameter name keeps its case
    claim = "ranks first" if rivals else "matters most"
    words = [
        f"{lead} {claim}: total-order index "
        f"{_interval(leaders[0])}, "
        f"first-order {first[leaders[0].parameter]:.2f}"
    ]
    words += [f"then {_name(r)}, {_interval(r)}" for r in leaders[1:]]
    text = "; ".join(words) + "."
    if rivals:
        text += f" {_not_separable(lead, rivals, conf_level)}"
    criterion = "an interval above zero" if has_ci else "an index above 0.01"
    verb = "has" if len(clear) == 1 else "have"
    text += f" {len(clear)} of {len(total)} {unit} {verb} {criterion}. "
    return text + _variance_sentence(part, noise)


def _morris_text(part: pd.DataFrame, conf_level: float, rivals: list[str] = ()) -> str:
    star = part[part["index"] == "mu_star"].sort_values("estimate", ascending=False)
    sigma = part[part["index"] == "sigma"].set_index("parameter")["estimate"]
    floor = float(star["noise_floor"].iloc[0])
    above = star[star["ci_low"] > floor]
    if above.empty:
        return f"No lever's mu* is clearly above the noise floor ({floor:.3g})."
    words = [f"{_name(r)}, mu* {_interval(r)}" for r in above.head(TOP).itertuples(index=False)]
    bent = [
        r.parameter for r in above.itertuples(index=False) if sigma[r.parameter] > 0.5 * r.estimate
    ]
    text = (
        f"Largest mean elementary effects (per full range of the lever): "
        f"{'; '.join(words)}. {len(above)} of {len(star)} levers clearly above the "
        f"noise floor (mu* {floor:.3g})."
    )
    if rivals:
        text += f" {_not_separable(_name(above.iloc[0]), rivals, conf_level)}"
    if bent:
        text += (
            f" Non-linear or interacting (sigma > mu*/2): {', '.join(bent[:6])}"
            f"{' and others' if len(bent) > 6 else ''}."
        )
    return text


def _pawn_text(part: pd.DataFrame) -> str:
    pawn = part[part["method"] == "pawn"].sort_values("estimate", ascending=False)
    total = part[part["index"] == "ST"].sort_values("estimate", ascending=False)
    if pawn.empty or total.empty or not total["ci_low"].iloc[0] > 0:
        return ""  # nothing clear to cross-check
    lead, other = total["parameter"].iloc[0], pawn["parameter"].iloc[0]
    agree = "agrees" if lead == other else f"differs: it ranks {other} first"
    above = int((pawn["estimate"] > pawn["noise_floor"]).sum())
    return (
        f" Cross-check: PAWN (a density-based method) {agree}; {above} of {len(pawn)} "
        "levers have a PAWN median above that of a random dummy input."
    )


def _names(parameters: list[str]) -> str:
    return (
        parameters[0]
        if len(parameters) == 1
        else ", ".join(parameters[:-1]) + (f" and {parameters[-1]}")
    )


def _not_separable(lead: str, rivals: list[str], conf_level: float) -> str:
    """The headline's sentence for a top lever that is not separable from the next."""
    return (
        f"{lead} is not separable from {_names(rivals)}: their {conf_level:.0%} intervals "
        "overlap, so which matters most is not certain."
    )


def _leaders(part: pd.DataFrame, method: str) -> pd.DataFrame:
    """The levers the headline ranks, largest first: ST (or mu*) rows clearly above zero.

    Clear: an interval above zero (an ST above 0.01 without intervals); for Morris, an
    interval above the noise floor.
    """
    rows = part[part["index"] == RANKED_BY.get(method, "ST")]
    rows = rows.sort_values("estimate", ascending=False)
    if method == "morris":  # as _morris_text: one floor per output
        return rows[rows["ci_low"] > float(rows["noise_floor"].iloc[0])] if len(rows) else rows
    if rows["ci_low"].notna().any():
        return rows[rows["ci_low"] > 0]
    return rows[rows["estimate"] > 0.01]


def lead_rivals(result: SensitivityResult, output: str) -> tuple[str | None, list[str]]:
    """The top lever the headline names for ``output``, and the levers it is not separable from.

    The top lever is the first of :func:`_leaders` (None if no lever is clear).
    Another lever (clear or not) is not separable from it when its interval reaches
    the top one's lower bound: on the full-size indices, or on the convergence table
    at its largest size (the intervals the Convergence section ranks by); either
    overlap counts, so the headline and the Convergence section say the same.
    Rivals come largest first; none without intervals.
    """
    method = result.plan.method
    part = result.indices[result.indices["output"] == output]
    leaders = _leaders(part, method)
    if leaders.empty:
        return None, []
    leader = str(leaders["parameter"].iloc[0])
    key = RANKED_BY.get(method, "ST")
    rows = part[part["index"] == key].sort_values("estimate", ascending=False)
    tables = [rows.set_index("parameter")]
    conv = result.convergence
    if not conv.empty:
        conv = conv[(conv["output"] == output) & (conv["index"] == key)]
        if not conv.empty:
            tables.append(conv[conv["base_n"] == conv["base_n"].max()].set_index("parameter"))
    rivals = {
        str(parameter)
        for table in tables
        if leader in table.index and pd.notna(table.at[leader, "ci_low"])
        for parameter, high in table["ci_high"].items()
        if parameter != leader and high >= table.at[leader, "ci_low"]
    }
    return leader, [str(p) for p in rows["parameter"] if str(p) in rivals]


def reading_notes(result: SensitivityResult) -> list[str]:
    """One sentence for each puzzling kind of number the tables hold (none if absent)."""
    indices = result.indices
    notes = []
    above = indices[(indices["index"] == "ST") & (indices["ci_high"] > 1)]
    if not above.empty:
        notes.append(
            f"{len(above)} total-order interval{'s reach' if len(above) > 1 else ' reaches'} "
            "above 1: these are bootstrap intervals of a noisy estimator, while in theory "
            "ST <= 1 (no lever explains more than all of the variance), so read them as "
            "large and uncertain."
        )
    negative = indices[(indices["index"] == "S1") & (indices["estimate"] < 0)]
    if not negative.empty:
        notes.append(
            f"{len(negative)} first-order estimate{'s are' if len(negative) > 1 else ' is'} "
            "negative: a share of variance cannot be, so this is Monte Carlo error around "
            "a first-order effect of about 0."
        )
    return notes


def ranking_text(result: SensitivityResult) -> list[str]:
    """Plain-words paragraphs, one per output, ordered by outcome domain."""
    noise = result.noise.set_index("output")["noise_share_mean"]
    indices = result.indices
    paragraphs = []
    outputs = list(pd.unique(indices["output"]))
    order = {d: i for i, d in enumerate(DOMAIN_ORDER)}
    for output in sorted(outputs, key=lambda o: order.get(_domain(indices, o), 99)):
        part = indices[indices["output"] == output]
        head = f"{plots.output_title(output)} ({_domain(indices, output)} outcome): "
        rivals = lead_rivals(result, output)[1]
        conf = result.plan.conf_level
        if result.plan.method == "morris":
            body = _morris_text(part, conf, rivals)
        else:
            body = _variance_text(part, conf, noise.get(output), rivals) + _pawn_text(part)
        paragraphs.append(head + body)
    return paragraphs


def _domain(indices: pd.DataFrame, output: str) -> str:
    return str(indices.loc[indices["output"] == output, "domain"].iloc[0])


def _figures(result: SensitivityResult, folder: Path) -> list[tuple[str, str, Path]]:
    """Draw the figures that apply to the method: (heading, text, path) each."""
    indices, conf = result.indices, result.plan.conf_level
    method = result.plan.method
    found: list[tuple[str, str, Path]] = []
    if method == "morris":
        found.append(
            (
                "Morris screening",
                "Each dot is a lever: far right = large effect on "
                "average, high = non-linear or interacting. Levers inside the grey band "
                "are not distinguishable from stochastic noise.",
                plots.plot_morris(indices, folder / "morris.png", conf_level=conf),
            )
        )
    elif method == "sobol_by_level":
        found.append(
            (
                "Indices by moderator level",
                "One number per level: the share of "
                "variance due to the levers of that level alone (S1) and with all their "
                "interactions (ST).",
                plots.plot_levels(indices, folder / "levels.png", conf_level=conf),
            )
        )
    else:
        found.append(
            (
                "Ranked indices",
                "Total-order (solid) and first-order (hatched) indices, "
                "ranked by total order; total-order indices are corrected for noise.",
                plots.plot_ranking(indices, folder / "ranking.png", conf_level=conf),
            )
        )
    if (indices["index"] == "S2").any():
        pairs = int((indices["index"] == "S2").sum() / indices["output"].nunique())
        found.append(
            (
                "Interactions",
                "Second-order indices: the share of variance due to "
                "each pair of levers acting together, beyond their separate effects. "
                f"Coloured: intervals above zero. With {pairs} pairs per output, about "
                f"{(1 - conf) / 2:.1%} of them lie above zero by chance alone, so read "
                "isolated cells with care.",
                plots.plot_second_order(indices, folder / "second_order.png", conf_level=conf),
            )
        )
    if not result.convergence.empty:
        found.append(
            (
                "Convergence",
                _stable_text(result),
                plots.plot_convergence(
                    result.convergence, result.stable, folder / "convergence.png"
                ),
            )
        )
    return found


def _stable_text(result: SensitivityResult) -> str:
    lines = [
        "Indices re-estimated on nested sub-samples of the design (the first N base "
        "rows), with the base size N from which the ranking of the leading levers holds "
        "at every larger size (orderings clear at the largest N, i.e. with "
        "non-overlapping intervals)."
    ]
    for r in result.stable.itertuples(index=False):
        state = (
            f"stable from N = {r.stable_n}"
            if r.verified
            else f"not shown stable below the largest N = {r.largest_n}; run a larger N"
        )
        if not r.orderings:
            state = "nothing to rank (no ordering is clear at the largest N)"
        lines.append(f"{plots.output_title(r.output)}: {state}.{_lead_state(result, r.output)}")
    return "\n".join(lines)


def _lead_state(result: SensitivityResult, output: str) -> str:
    """Whether the headline's top lever is separable from the rest (the headline's words)."""
    leader, rivals = lead_rivals(result, output)
    if leader is None:
        return ""
    if rivals:
        return f" The top lever, {leader}, is not separable from {_names(rivals)}."
    return f" The top lever, {leader}, is separable from every other."


def _method_text(result: SensitivityResult) -> str:
    plan = result.plan
    runs = plan.points * plan.replicates
    return (
        f"Method {plan.method} ({plan.design.method} sampler of SALib), base size "
        f"{plan.design.points}, {len(plan.factors)} factors, {plan.points} design points x "
        f"{plan.replicates} replicates = {runs} runs. Indices are computed on the mean of "
        f"the replicates of each design point; intervals are {plan.conf_level:.0%} "
        f"bootstrap intervals ({plan.resamples} resamples).\n\n"
        "Every design point has its own random seed, so stochastic noise acts as one more "
        "input. It does not bias first- and second-order estimates, but adds its share of "
        "the variance of replicate means to every total-order estimate; that share (the "
        "noise floor) is subtracted, and raw_estimate in indices.csv keeps SALib's value. "
        "For Morris the floor is the mean |elementary effect| that noise alone would give; "
        "for PAWN it is the median of a random dummy input."
    )


def write_analysis(
    result: SensitivityResult, folder: str | Path, *, manifest: dict[str, Any], title: str
) -> dict[str, Path]:
    """Write tables, figures, analysis.json and report.html into ``folder``.

    Args:
        result: The analysis.
        folder: The sweep folder (must exist).
        manifest: The sweep's manifest, listed as the report's provenance.
        title: Report title.

    Returns:
        Name -> path of every file written.
    """
    folder = Path(folder)
    written = {}
    for name in ("indices", "noise", "convergence", "stable"):
        frame: pd.DataFrame = getattr(result, name)
        written[f"{name}.csv"] = write_atomic(
            folder / f"{name}.csv", frame.to_csv(index=False).encode("utf-8")
        )
    figures = _figures(result, folder)
    written.update({path.name: path for _, _, path in figures})
    written["analysis.json"] = write_json(folder / "analysis.json", _summary(result))
    sections = [
        Section(
            "Which levers matter most",
            "\n\n".join([*ranking_text(result), *reading_notes(result)]),
            table=_top_table(result),
        )
    ]
    sections.append(Section("Stochastic noise", _noise_text(result), table=result.noise))
    sections += [Section(heading, text, figure=path) for heading, text, path in figures]
    sections.append(Section("Method", _method_text(result)))
    written["report.html"] = write_report(
        folder / "report.html",
        title=title,
        sections=sections,
        manifest=manifest,
        intro="Global sensitivity analysis of the recovery model: which levers (user, service "
        "and environment moderators) matter most for each outcome, and how sure we are.",
    )
    return written


def _top_table(result: SensitivityResult) -> pd.DataFrame:
    """The five leading levers per output, ordered by domain, with intervals."""
    key = "mu_star" if result.plan.method == "morris" else "ST"
    rows = result.indices[result.indices["index"] == key]
    order = {d: i for i, d in enumerate(DOMAIN_ORDER)}
    rows = rows.assign(rank=rows["domain"].map(order).fillna(len(order)))
    top = rows.sort_values(["rank", "output", "estimate"], ascending=[True, True, False])
    top = top.groupby("output", sort=False).head(5)
    columns = ["output", "parameter", "estimate", "ci_low", "ci_high"]
    if result.plan.method != "sobol_by_level":
        columns.insert(2, "level")
    return top[columns].rename(columns={"estimate": key}).reset_index(drop=True)


def _noise_text(result: SensitivityResult) -> str:
    text = (
        "Share of each output's variance that is stochastic: noise_share_run is the mean "
        "within-design-point variance over the variance of single runs; noise_share_mean "
        "is the same for the replicate means the indices are computed on."
    )
    return "\n\n".join([text, *(f"Warning: {w}" for w in result.warnings)])


def _summary(result: SensitivityResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "method": plan.method,
        "sampler": plan.design.model_dump(),
        "seed": plan.seed,
        "bootstrap_seed": plan.seed_for("bootstrap"),
        "resamples": plan.resamples,
        "conf_level": plan.conf_level,
        "factors": plan.factors,
        "outputs": plan.outputs,
        "design_points": plan.points,
        "replicates": plan.replicates,
        "stable": result.stable.to_dict("records"),
        "warnings": result.warnings,
        "ranking": ranking_text(result),
    }
