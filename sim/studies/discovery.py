"""Scenario discovery: under which conditions does a sweep's output pass a threshold?

PRIM, the Patient Rule Induction Method of Friedman & Fisher (1999), looks for
boxes in the space of a sweep's varied parameters (limits on a few of them) inside
which most design points meet a condition (``employed_w104 >= 0.25``). It peels
thin slices off the box, one factor at a time, each time the slice whose removal
raises the share of points of interest most, and so traces a trade-off between:

* **coverage**: the share of all points of interest that lie in the box;
* **density**: the share of the points in the box that are points of interest;
* **mass**: the share of all design points that lie in the box.

The implementation is EMA Workbench's (:mod:`ema_workbench.analysis.prim`, Kwakkel
2017), imported only inside :func:`discover`. Along each box's peeling trajectory
the box chosen is the one of highest coverage whose density reaches
``threshold_density`` (the usual scenario-discovery choice, Bryant & Lempert 2010;
of equal coverage, the densest). Restrictions chance could explain (no limit with a
quasi-p value at or below :data:`QP_ALPHA`) are then dropped, least significant first,
while the box keeps that density; the points in it are removed and the next box is
sought among the rest, up to ``max_boxes`` boxes. Over many factors a box still keeps
slivers peeled off factors that do not matter, so the boxes reported come from a second
pass over only the factors some first-pass box restricted significantly
(``Discovery.searched``), unless that pass finds fewer boxes (few design points: limits
too weak to be significant may still be needed to reach the density).

:func:`design_points` turns a sweep's runs (:func:`sim.studies.results.read_sweep`)
into one row per design point: the varied parameters and the chosen output,
averaged over replicates. :func:`discover` runs PRIM; :func:`box_sentence` says
what a box means in plain words.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.core.errors import UserError

__all__ = [
    "BOX_COLUMNS",
    "DIRECTIONS",
    "LIMIT_COLUMNS",
    "QP_ALPHA",
    "TRAJECTORY_COLUMNS",
    "Discovery",
    "DiscoveryError",
    "box_sentence",
    "design_points",
    "discover",
    "output_columns",
]

DIRECTIONS = (">=", "<=")
# A box keeps a restriction only if some restricted limit has a quasi-p value at or below
# this (Bryant & Lempert 2010; EMA Workbench's PrimBox.qp): the rest could be chance.
QP_ALPHA = 0.05
LIMIT_COLUMNS = (  # a box's limit on one factor, and the design's range of it
    "factor",
    "lower",
    "upper",
    "restricted",
    "factor_min",
    "factor_max",
    "qp_lower",
    "qp_upper",
)
BOX_COLUMNS = (
    "box",
    *LIMIT_COLUMNS,
    "coverage",
    "density",
    "mass",
    "points",
    "points_of_interest",
    "step",
)
TRAJECTORY_COLUMNS = (
    "box",
    "step",
    "coverage",
    "density",
    "mass",
    "points",
    "points_of_interest",
    "restricted_factors",
    "chosen",
)
_SHOWN_NAMES = 40  # outcome names listed in an error


class DiscoveryError(UserError):
    """An input scenario discovery cannot use (unknown outcome, no point of interest, ...)."""


def output_columns(frame: pd.DataFrame, parameters: Sequence[str]) -> list[str]:
    """The output columns of a sweep's runs (``<metric>_w<week>``): all but keys and factors."""
    keys = {"design_point", "replicate", *parameters}
    return [str(c) for c in frame.columns if c not in keys]


def design_points(
    frame: pd.DataFrame, parameters: Sequence[str], outcome: str
) -> tuple[pd.DataFrame, pd.Series]:
    """One row per design point: its factors and ``outcome`` averaged over replicates.

    Args:
        frame: A sweep's runs, one row per run (:func:`sim.studies.results.read_sweep`).
        parameters: The design's varied parameters (:func:`~sim.studies.results.parameter_columns`).
        outcome: An output column of the sweep, e.g. ``employed_w104``.

    Returns:
        ``(factors, values)``: factors indexed by design point (one column per
        parameter) and the mean of ``outcome`` over each point's replicates (named
        ``outcome``). Points whose outcome is undefined in every replicate (a mean
        wait in a week without one) are left out.

    Raises:
        DiscoveryError: If ``outcome`` is not an output of the sweep (the message lists them).
    """
    outputs = output_columns(frame, parameters)
    if outcome not in outputs:
        shown = ", ".join(outputs[:_SHOWN_NAMES])
        more = f" and {len(outputs) - _SHOWN_NAMES} more" if len(outputs) > _SHOWN_NAMES else ""
        raise DiscoveryError(
            f"--outcome {outcome!r} is not an output of this sweep; its outputs are: {shown}{more}"
        )
    grouped = frame.groupby("design_point", sort=True)
    factors = grouped[list(parameters)].first()
    values = grouped[outcome].mean().rename(outcome)
    kept = values.notna()
    return factors[kept], values[kept]


@dataclass(frozen=True)
class Discovery:
    """What PRIM found.

    Attributes:
        outcome: The output analysed (e.g. ``employed_w104``).
        direction: ``">="`` or ``"<="``: a point is of interest if its outcome is
            at least (at most) ``threshold``.
        threshold: The outcome's threshold.
        threshold_density: The least density a chosen box must reach.
        points: Design points analysed.
        points_of_interest: Of those, the points meeting the condition.
        factors: The factors PRIM could restrict (the varied, non-constant ones).
        searched: The factors of the boxes reported: a first PRIM pass over ``factors``
            keeps those with a restricted limit of quasi-p value <= :data:`QP_ALPHA` in
            some box, and a second pass looks for the boxes over these alone. The first
            pass's boxes stand (and ``searched`` is all of ``factors``) if it kept none
            or all, or if the second pass finds fewer boxes that reach the density.
        ranges: Each factor's smallest and largest value over the design.
        boxes: One row per box and restricted factor (:data:`BOX_COLUMNS`): the
            factor's limits in the box, whether each is a restriction, the factor's
            range, the quasi-p values of the limits (NaN for an unrestricted side),
            and the box's coverage, density, mass, points and points of interest
            (the same on every row of a box); ``step`` is the chosen step of the
            box's peeling trajectory.
        trajectory: Every step of every box's peeling and pasting trajectory
            (:data:`TRAJECTORY_COLUMNS`), ``chosen`` marking the box kept.
        settings: PRIM's settings (max_boxes, peel_alpha, paste_alpha, mass_min).
    """

    outcome: str
    direction: str
    threshold: float
    threshold_density: float
    points: int
    points_of_interest: int
    factors: list[str]
    searched: list[str]
    ranges: dict[str, tuple[float, float]]
    boxes: pd.DataFrame
    trajectory: pd.DataFrame
    settings: dict[str, float]

    @property
    def base_density(self) -> float:
        """The share of all design points that are of interest (density of the whole space)."""
        return self.points_of_interest / self.points

    def box_stats(self) -> pd.DataFrame:
        """One row per box: box, coverage, density, mass, points, points_of_interest, step."""
        columns = ["box", "coverage", "density", "mass", "points", "points_of_interest", "step"]
        return self.boxes[columns].drop_duplicates("box").reset_index(drop=True)


def discover(
    factors: pd.DataFrame,
    values: pd.Series,
    threshold: float,
    direction: Literal[">=", "<="] = ">=",
    *,
    threshold_density: float = 0.8,
    max_boxes: int = 3,
    peel_alpha: float = 0.05,
    paste_alpha: float = 0.05,
    mass_min: float = 0.05,
) -> Discovery:
    """Find boxes of factor values in which ``values`` mostly meet ``direction threshold``.

    Args:
        factors: One row per design point, one numeric column per varied factor.
        values: The outcome per design point (same length and order), named after it.
        threshold: A point is of interest if ``value >= threshold`` (or ``<=``).
        direction: ``">="`` or ``"<="``.
        threshold_density: The least density a box must reach to be kept (0-1].
        max_boxes: The most boxes to look for.
        peel_alpha: Share of the box's points peeled off in one step.
        paste_alpha: Share of points pasted back in one step.
        mass_min: The smallest mass a box may shrink to.

    Returns:
        The boxes and the peeling trajectories (:class:`Discovery`); no box if the
        whole design already reaches ``threshold_density`` or no box does.

    Raises:
        DiscoveryError: If the direction or density is invalid, ``factors`` has no
            factor that varies, or no design point (or every one) meets the condition.
    """
    if direction not in DIRECTIONS:
        raise DiscoveryError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not 0 < threshold_density <= 1:
        raise DiscoveryError(
            f"--threshold-density must be in (0, 1] (a share of the box's points), "
            f"got {threshold_density:g}"
        )
    if len(factors) != len(values):
        raise ValueError(f"{len(factors)} rows of factors but {len(values)} values")
    outcome = str(values.name)
    y = np.asarray(values, dtype=float)
    if not np.isfinite(threshold):
        raise DiscoveryError(f"--threshold must be a finite number, got {threshold}")
    interest = y >= threshold if direction == ">=" else y <= threshold
    _check_interest(outcome, direction, threshold, y, interest)
    x, whole = _numeric_factors(factors)
    ranges = {name: (float(x[name].min()), float(x[name].max())) for name in x.columns}
    settings = {
        "threshold_density": threshold_density,
        "max_boxes": max_boxes,
        "peel_alpha": peel_alpha,
        "paste_alpha": paste_alpha,
        "mass_min": mass_min,
    }
    boxes, trajectory = _run_prim(x, interest, whole=whole, **settings)
    searched = list(x.columns)
    kept = _significant(boxes, searched)
    if 0 < len(kept) < len(searched):  # PRIM again over the factors that mattered
        again = _run_prim(x[kept], interest, whole=whole & set(kept), **settings)
        # unless a box is lost: the insignificant limits were needed for the density
        if again[0]["box"].nunique() >= boxes["box"].nunique():
            (boxes, trajectory), searched = again, kept
    return Discovery(
        outcome=outcome,
        direction=direction,
        threshold=float(threshold),
        threshold_density=float(threshold_density),
        points=len(y),
        points_of_interest=int(interest.sum()),
        factors=list(x.columns),
        searched=searched,
        ranges=ranges,
        boxes=boxes,
        trajectory=trajectory,
        settings={
            "max_boxes": max_boxes,
            "peel_alpha": peel_alpha,
            "paste_alpha": paste_alpha,
            "mass_min": mass_min,
        },
    )


def _check_interest(
    outcome: str, direction: str, threshold: float, y: np.ndarray, interest: np.ndarray
) -> None:
    if len(y) == 0:
        raise DiscoveryError(f"{outcome}: no design point has a value to analyse")
    low, high = float(np.min(y)), float(np.max(y))
    seen = f"{outcome} ranges from {low:.4g} to {high:.4g} over {len(y)} design points"
    if not interest.any():
        raise DiscoveryError(
            f"no design point has {outcome} {direction} {threshold:g} ({seen}); "
            "choose a threshold inside that range"
        )
    if interest.all():
        raise DiscoveryError(
            f"every design point has {outcome} {direction} {threshold:g} ({seen}); "
            "nothing to tell apart: choose a threshold inside that range"
        )


def _numeric_factors(factors: pd.DataFrame) -> tuple[pd.DataFrame, set[str]]:
    """The varied factors as float columns (0..n-1 index), and which hold whole numbers.

    Whole-number factors are peeled as real ones: EMA Workbench 2.5's discrete pasting
    writes a fractional limit into an integer column, which pandas 3 refuses. Their
    limits are rounded inwards afterwards (:func:`_box_rows`).
    """
    x = factors.reset_index(drop=True)
    columns, whole = {}, set()
    for name in x.columns:
        column = x[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_integer_dtype(column):
            whole.add(str(name))
        elif not pd.api.types.is_numeric_dtype(column):
            raise DiscoveryError(f"factor {name!r} is not numeric; PRIM here needs numbers")
        if column.nunique(dropna=False) > 1:
            columns[str(name)] = column.astype(np.float64)
    if not columns:
        raise DiscoveryError("no factor varies over the design points: nothing to restrict")
    return pd.DataFrame(columns), whole & set(columns)


def _import_prim() -> Any:
    """EMA Workbench's PRIM module, without its notices about optional extras."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "ipyparallel not installed", ...
        from ema_workbench.analysis import prim
    return prim


def _run_prim(
    x: pd.DataFrame,
    interest: np.ndarray,
    *,
    threshold_density: float,
    max_boxes: int,
    peel_alpha: float,
    paste_alpha: float,
    mass_min: float,
    whole: set[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    prim = _import_prim()
    box_rows: list[dict[str, Any]] = []
    steps: list[pd.DataFrame] = []
    with warnings.catch_warnings():  # EMA Workbench's own deprecated pandas calls
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"ema_workbench(\.|$)")
        algorithm = prim.Prim(
            x,
            interest.copy(),
            threshold=threshold_density,
            threshold_type=prim.ABOVE,
            peel_alpha=peel_alpha,
            paste_alpha=paste_alpha,
            mass_min=mass_min,
        )
        initial = algorithm.box_init
        taken = np.zeros(len(interest), dtype=bool)  # points in the boxes kept so far
        for number in range(1, max_boxes + 1):
            if not interest[~taken].any():
                break
            box = algorithm.find_box()
            if box is None:
                break
            table = box.peeling_trajectory.reset_index(drop=True)
            good = table[(table["density"] >= threshold_density) & (table["res_dim"] > 0)]
            if good.empty:
                break
            # highest coverage, then highest density, fewest restrictions, earliest step
            order = good.sort_values(
                ["coverage", "density", "res_dim", "id"], ascending=[False, False, True, True]
            )
            chosen = _prune(box, int(order.index[0]), threshold_density)
            table = box.peeling_trajectory.reset_index(drop=True)
            taken[box.yi] = True
            steps.append(_trajectory(number, table, chosen))
            box_rows += _box_rows(number, box, chosen, table.loc[chosen], initial, whole)
    boxes = pd.DataFrame(box_rows, columns=list(BOX_COLUMNS))
    trajectory = (
        pd.concat(steps, ignore_index=True)
        if steps
        else pd.DataFrame(columns=list(TRAJECTORY_COLUMNS))
    )
    return boxes, trajectory


def _significant(boxes: pd.DataFrame, factors: list[str]) -> list[str]:
    """The factors (in ``factors`` order) with a limit of quasi-p <= QP_ALPHA in some box."""
    quasi_p = boxes[["qp_lower", "qp_upper"]].min(axis=1)
    chosen = set(boxes.loc[quasi_p <= QP_ALPHA, "factor"])
    return [name for name in factors if name in chosen]


def _limit_qp(sides: Sequence[float | None]) -> list[float]:
    """The quasi-p values of a factor's restricted limits (EMA marks the others None or -1)."""
    return [float(v) for v in sides if v is not None and v >= 0]


def _prune(box: Any, chosen: int, threshold_density: float) -> int:
    """Select step ``chosen``, then drop the restrictions chance could explain; the step kept.

    A restricted factor whose every restricted limit has a quasi-p value above
    :data:`QP_ALPHA` (EMA Workbench's binomial test of the box against the same box
    without that limit) is dropped, the least significant first, as long as the box keeps
    ``threshold_density``. Each drop is a new step of the trajectory (PrimBox.update).
    Without this, a box over many factors carries slivers peeled off factors that do not
    matter (e.g. a unit cost in a box for an employment effect).
    """
    box.select(chosen)
    while True:
        limits = {name: _limit_qp(sides) for name, sides in box.qp[chosen].items()}
        quasi_p = {name: min(qp) for name, qp in limits.items() if qp}
        weak = {name: qp for name, qp in quasi_p.items() if qp > QP_ALPHA}
        if not weak or len(quasi_p) == 1:
            return chosen
        box.drop_restriction(max(weak, key=lambda name: (weak[name], name)))
        pruned = len(box.peeling_trajectory) - 1
        if box.peeling_trajectory["density"].iloc[pruned] < threshold_density:
            box.select(chosen)  # the drop costs too much density: keep the step before it
            return chosen
        chosen = pruned


def _trajectory(number: int, table: pd.DataFrame, chosen: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "box": number,
            "step": table["id"].astype(int).to_numpy(),
            "coverage": table["coverage"].astype(float).to_numpy(),
            "density": table["density"].astype(float).to_numpy(),
            "mass": table["mass"].astype(float).to_numpy(),
            "points": table["n"].astype(int).to_numpy(),
            "points_of_interest": table["k"].astype(int).to_numpy(),
            "restricted_factors": table["res_dim"].astype(int).to_numpy(),
            "chosen": np.arange(len(table)) == chosen,
        }
    )


def _box_rows(
    number: int,
    box: Any,
    chosen: int,
    stats: pd.Series,
    initial: pd.DataFrame,
    whole: set[str],
) -> list[dict[str, Any]]:
    limits = box.box_lims[chosen]
    quasi_p = box.qp[chosen]
    rows = []
    for name in initial.columns:
        low, high = float(limits[name].iloc[0]), float(limits[name].iloc[1])
        first, last = float(initial[name].iloc[0]), float(initial[name].iloc[1])
        if low <= first and high >= last:
            continue
        if name in whole:  # the whole numbers inside the limits
            low, high = float(np.ceil(low - 1e-9)), float(np.floor(high + 1e-9))
        qp = [np.nan if v is None or v < 0 else float(v) for v in quasi_p.get(name, [-1, -1])]
        rows.append(
            {
                "box": number,
                "factor": str(name),
                "lower": low,
                "upper": high,
                "restricted": _restricted(low > first, high < last),
                "factor_min": first,
                "factor_max": last,
                "qp_lower": qp[0],
                "qp_upper": qp[1],
                "coverage": float(stats["coverage"]),
                "density": float(stats["density"]),
                "mass": float(stats["mass"]),
                "points": int(stats["n"]),
                "points_of_interest": int(stats["k"]),
                "step": int(stats["id"]),
            }
        )
    return rows


def _restricted(lower: bool, upper: bool) -> str:
    return "both" if lower and upper else "lower" if lower else "upper"


def _condition(row: Any) -> str:
    if row.restricted == "lower":
        return f"{row.factor} >= {row.lower:.4g}"
    if row.restricted == "upper":
        return f"{row.factor} <= {row.upper:.4g}"
    return f"{row.factor} is between {row.lower:.4g} and {row.upper:.4g}"


def box_sentence(discovery: Discovery, box: int) -> str:
    """What box ``box`` (1, 2, ...) means, in plain words.

    E.g. "In 85% of the 420 design points where unemployment_rate <= 0.08 and
    motivation_median >= 0.6, employed_w104 >= 0.25; the box holds 62% of all 910
    such points (and 5.5% of all design points)."
    """
    rows = discovery.boxes[discovery.boxes["box"] == box]
    if rows.empty:
        raise ValueError(f"no box {box}")
    first = rows.iloc[0]
    conditions = [_condition(row) for row in rows.itertuples()]
    where = ", ".join(conditions[:-1]) + (" and " if len(conditions) > 1 else "") + conditions[-1]
    later = " not already in an earlier box" if box > 1 else ""
    return (
        f"In {first.density:.0%} of the {first.points:,} design points{later} where {where}, "
        f"{discovery.outcome} {discovery.direction} {discovery.threshold:g}; the box holds "
        f"{first.coverage:.0%} of all {discovery.points_of_interest:,} such points "
        f"(and {first.mass:.1%} of all {discovery.points:,} design points)."
    )
