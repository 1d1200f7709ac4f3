"""Generate ``docs/POLICY_BRIEF.md`` from the committed sensitivity and discovery results.

For each of the combined package's effects (week 104, and employment at week 78 too)
the brief says in plain words: the three factors that decide it most (Sobol' total
order with its 95% interval, from ``experiments/results/sa_sobol_leaders``) and the kind
of factor each is; the first factor a service controls; how much each kind of factor
explains (the grouped analysis ``experiments/results/sa_policy_effects``), including
the share of the model's own assumptions; what is certain and what is not; and the
share of chance. Then the conditions the discoveries found
(``experiments/results/discover_*``). It reads only the committed CSV and JSON files,
so it cannot drift from them: ``tests/test_policy_brief.py`` fails when the committed
brief differs from what they give.

A factor's kind is its ``group`` in ``experiments/sa_policy_effects.toml`` when it is
varied there, else follows its moderator level (service: levers, environment: context,
user: population, structural: structure; a scenario or cost factor such as
``offers.peer_support`` or ``costs.peer_support`` is a service lever).

Regenerate (after regenerating the results) with::

    python -m sim.faces.reports.policy_brief
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pandas as pd

from sim.core.errors import UserError
from sim.core.parameters import REGISTRY
from sim.faces.reports.docs_gen import generator_main, write_atomic
from sim.faces.reports.sensitivity_plots import output_title
from sim.files.factors import factor_level, flatten_factor_tables, is_factor

__all__ = ["DEFAULT_PATH", "EFFECTS", "brief_markdown", "main"]

_SOURCE_TREE = Path(__file__).resolve().parents[3]
DEFAULT_PATH = _SOURCE_TREE / "docs" / "POLICY_BRIEF.md"
RESULTS = _SOURCE_TREE / "experiments" / "results"
GROUPED = _SOURCE_TREE / "experiments" / "sa_policy_effects.toml"

EFFECTS = (
    "employed_effect_w78",
    "employed_effect_w104",
    "employed_weeks_effect_w104",
    "personal_recovery_effect_w104",
    "hope_effect_w104",
    "social_inclusion_effect_w104",
    "qalys_effect_w104",
    "cost_gbp_effect_w104",
    "nmb_20000_effect_w104",
)
KINDS = {
    "levers": "what a service can change",
    "context": "where it works",
    "population": "whom it serves",
    "structure": "what the model assumes",
    "logic model": "how we wired the logic model",
}
_LEVEL_KIND = {
    "service": "levers",
    "environment": "context",
    "user": "population",
    "structural": "structure",
}


def _kinds() -> dict[str, str]:
    """Factor name -> its kind, for every registry parameter and declared factor."""
    text = GROUPED.read_text(encoding="utf-8")
    declared = flatten_factor_tables(tomllib.loads(text)["parameters"])
    kinds = {name: _LEVEL_KIND[parameter.level] for name, parameter in REGISTRY.items()}
    kinds.update(
        {name: given.get("group") or _kind(kinds, name) for name, given in declared.items()}
    )
    return kinds


def _kind(kinds: dict[str, str], name: str) -> str:
    """The kind of ``name`` (see the module docstring), declared or not."""
    return kinds.get(name) or _LEVEL_KIND[factor_level(name)]


def _ranked_factors() -> list[str]:
    """The factors of the committed ranking (sa_sobol_leaders), from its manifest."""
    manifest = json.loads(_result("sa_sobol_leaders", "manifest.json").read_text(encoding="utf-8"))
    return list(manifest.get("design", {}).get("parameters", []))


def _factors_sentence(factors: list[str]) -> tuple[str, str]:
    """Which factors the ranking varies and whether it varies unit costs, in words."""
    levers = [name for name in factors if is_factor(name)]
    costs = [name for name in levers if name.startswith("costs.")]
    own = bounds = ""
    if levers:
        own = f", with the package's {len(levers) - len(costs)} offers and places"
        own += f" and {len(costs)} unit costs" if costs else ""
        bounds = " (the package's own levers over the bounds in that file)"
    text = (
        f"The factors are the {len(factors)} of `experiments/sa_sobol_leaders.toml` (the "
        f"registry-wide screens' leaders and the logic model's moderators{own}), varied "
        f"over their registry bounds{bounds}; the kinds come from the grouped analysis "
        "`experiments/sa_policy_effects.toml`."
    )
    if not costs:
        return text, ", whose unit costs are not varied."
    return text, f"; the ranking varies the unit costs {', '.join(f'`{c}`' for c in costs)}."


def _result(folder: str, name: str) -> Path:
    """A committed result file; a missing one is refused with what to run."""
    path = RESULTS / folder / name
    if not path.is_file():
        raise UserError(f"{path} is missing: run the analysis that writes it first")
    return path


def _read(folder: str, name: str) -> pd.DataFrame:
    return pd.read_csv(_result(folder, name))


def _interval(row: pd.Series | object) -> str:
    return f"{row.estimate:.2f} ({row.ci_low:.2f} to {row.ci_high:.2f})"


def _effect_section(
    output: str,
    leaders: pd.DataFrame,
    groups: pd.DataFrame,
    noise: pd.Series,
    kinds: dict[str, str],
) -> list[str]:
    ranked = (
        leaders[(leaders["output"] == output) & (leaders["index"] == "ST")]
        .sort_values("estimate", ascending=False)
        .reset_index(drop=True)
    )
    top = ranked.head(3)
    lines = [f"### {output_title(output)}", ""]
    for rank, row in enumerate(top.itertuples(), start=1):
        kind = _kind(kinds, row.parameter)
        lines.append(
            f"{rank}. `{row.parameter}` ({KINDS.get(kind, kind)}): total order {_interval(row)}"
        )
    lines.append("")
    first, second = ranked.iloc[0], ranked.iloc[1]
    if first.ci_low > second.ci_high:
        certain = f"`{first.parameter}` is clearly first (its interval is above the second's)"
    else:
        certain = (
            f"which of `{first.parameter}` and `{second.parameter}` matters more is not "
            "certain (their intervals overlap)"
        )
    above = int((ranked["ci_low"] > 0).sum())
    levers = ranked[[_kind(kinds, p) == "levers" for p in ranked["parameter"]]]
    if levers.empty:
        lever = "No lever a service controls is among the factors."
    else:
        row = levers.iloc[0]
        lever = (
            f"The first lever a service controls is `{row.parameter}`, ranked "
            f"{int(levers.index[0]) + 1} of {len(ranked)}: {_interval(row)}."
        )
    lines.append(
        f"Certain and not: {certain}; {above} of {len(ranked)} factors have an interval "
        f"above zero. {lever} Chance is {noise[output]:.0%} of the variance of the "
        "replicate means."
    )
    grouped = groups[(groups["output"] == output) & (groups["index"] == "ST")]
    if not grouped.empty:
        shares = ", ".join(
            f"{KINDS.get(row.parameter, row.parameter)} {_interval(row)}"
            for row in grouped.sort_values("estimate", ascending=False).itertuples()
        )
        lines += ["", f"By kind of factor (total order): {shares}."]
    return [*lines, ""]


def _box_lines(folder: Path) -> list[str]:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    boxes = pd.read_csv(folder / "boxes.csv")
    found = (
        f"`{manifest['outcome']}` {manifest['direction']} {manifest['threshold']:g} in "
        f"{manifest['points_of_interest']:,} of {manifest['design_points']:,} design "
        f"points of `{manifest['sweep_folder']}`"
    )
    lines = [f"### {folder.name}", "", found + "."]
    if boxes.empty:
        lines.append(
            f"No box reaches a density of {manifest['threshold_density']:.0%}: no simple "
            "combination of limits picks these points out."
        )
    for box, part in boxes.groupby("box"):
        first = part.iloc[0]
        limits = "; ".join(
            f"`{r.factor}` {r.lower:.3g} to {r.upper:.3g} (design {r.factor_min:.3g} to "
            f"{r.factor_max:.3g})"
            for r in part.itertuples()
        )
        lines.append(
            f"Box {box}: {first.density:.0%} of its {first.points:,} points qualify "
            f"(density), and it holds {first.coverage:.0%} of all that do (coverage), "
            f"where {limits}."
        )
    return [*lines, ""]


def brief_markdown() -> str:
    """The brief, from the committed results."""
    kinds = _kinds()
    factors, priced = _factors_sentence(_ranked_factors())
    leaders = _read("sa_sobol_leaders", "indices.csv")
    groups = _read("sa_policy_effects", "indices.csv")
    noise = _read("sa_sobol_leaders", "noise.csv").set_index("output")["noise_share_mean"]
    lines = [
        "# Policy brief: what decides what the recovery package achieves",
        "",
        "Generated by `python -m sim.faces.reports.policy_brief` from the committed "
        "results; do not edit by hand. The package is `scenarios/combined_package.toml` "
        "against usual care (`scenarios/baseline.toml`), 250 people over 104 weeks on "
        "common random numbers; each effect is package minus usual care. "
        f"{factors} "
        "A total-order index is the share of the effect's variance over those ranges that "
        "involves the factor; 95% bootstrap intervals. These rank the model's levers "
        "over the stated ranges; they are not estimates of the world's. Cost and net "
        "monetary benefit (NMB, GBP 20,000 per QALY) are priced with the shipped "
        f"`calibration/costs.toml`{priced}",
        "",
        "## The effects",
        "",
    ]
    for output in EFFECTS:
        lines += _effect_section(output, leaders, groups, noise, kinds)
    lines += ["## Where the package works", ""]
    for folder in sorted(RESULTS.glob("discover_*")):
        lines += _box_lines(folder)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m sim.faces.reports.policy_brief [PATH]``."""
    usage = "python -m sim.faces.reports.policy_brief [PATH]"
    return generator_main(
        argv, usage, lambda path: write_atomic(path, brief_markdown()), DEFAULT_PATH
    )


if __name__ == "__main__":
    sys.exit(main())
