"""Global sensitivity analysis of a finished sweep with SALib: which levers matter, how much.

The sweep's runs (one row per design point x replicate, :func:`sim.studies.sweep.read_results`)
are reduced to replicate means per design point, the model's X -> Y, and handed to
SALib's analyser for the design's sampler: Morris elementary effects, Sobol'
first-, total- and second-order indices (per parameter, or per moderator level when
the design is grouped), or eFAST. Sobol' designs also get PAWN (a density-based
method of another family) on their independent base rows as a cross-check.

Stochastic noise is treated as what it is, an extra input (the seed) that every
design point draws afresh. Its share of the variance is estimated from the
replicates and reported per output. It does not bias the first- and second-order
estimators, but it adds ``noise variance of a mean / output variance`` to every
Jansen total-order estimate (and a like floor to eFAST's and Morris's), so each
index row carries its ``noise_floor`` and ``estimate = raw_estimate - noise_floor``;
a parameter the model ignores then has an estimate indistinguishable from zero.
Convergence is checked by re-analysing nested prefixes of the sample (valid for the
Saltelli and Morris designs), and the smallest base size whose ranking is stable
is reported. :func:`ishigami_frame` runs SALib's Ishigami function through the
same path, to pin the analysis to published indices.

The SALib calls and noise floors are in :mod:`sim.studies.sensitivity_methods`, the figures
in :mod:`sim.faces.reports.sensitivity_plots`, the tables, plain-words ranking and HTML report in
:mod:`sim.faces.reports.sensitivity_report`, the command in :mod:`sim.faces.cli.sensitivity`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.core.seeding import stream_key
from sim.files.design import DesignSpec, salib_sample
from sim.files.experiment import OUTPUTS
from sim.studies.sensitivity_methods import (
    SensitivityError,
    SensitivityPlan,
    analyse_output,
    morris_indices,
    sobol_indices,
    varies,
)

__all__ = [
    "CONVERGENCE_COLUMNS",
    "INDEX_COLUMNS",
    "ISHIGAMI_INDICES",
    "ISHIGAMI_PROBLEM",
    "NOISE_COLUMNS",
    "RANKED_BY",
    "STABLE_COLUMNS",
    "SensitivityError",
    "SensitivityPlan",
    "SensitivityResult",
    "analyse",
    "domain",
    "ishigami_frame",
    "noise_table",
    "noise_warnings",
    "replicate_means",
    "stable_sizes",
]

INDEX_COLUMNS = (
    "output",
    "domain",
    "method",
    "index",
    "parameter",
    "partner",
    "level",
    "estimate",
    "ci_low",
    "ci_high",
    "raw_estimate",
    "noise_floor",
    "base_n",
    "runs",
)
NOISE_COLUMNS = (
    "output",
    "replicates",
    "design_points",
    "within_variance",
    "total_variance",
    "noise_share_run",
    "noise_share_mean",
    "replicates_for_5pc",
)
CONVERGENCE_COLUMNS = (
    "output",
    "method",
    "index",
    "parameter",
    "base_n",
    "estimate",
    "ci_low",
    "ci_high",
)
STABLE_COLUMNS = (
    "output",
    "method",
    "index",
    "stable_n",
    "largest_n",
    "verified",
    "orderings",
    "top",
)
ISHIGAMI_PROBLEM: dict[str, Any] = {
    "num_vars": 3,
    "names": ["x1", "x2", "x3"],
    "bounds": [[-math.pi, math.pi]] * 3,
}
# Published indices of the Ishigami function (a = 7, b = 0.1), e.g. Saltelli et al. (2008).
ISHIGAMI_INDICES = {"S1": (0.3139, 0.4424, 0.0), "ST": (0.5576, 0.4424, 0.2437)}
TARGET_NOISE_SHARE = 0.05  # replicates_for_5pc: replicates that bring noise to this share
MAX_SIZES = 8  # nested base sizes re-analysed for convergence
CONVERGENCE_RESAMPLES = 200  # bootstrap resamples at each of those sizes
# the index each method ranks levers by (stable_sizes, and the report's headline)
RANKED_BY = {"sobol": "ST", "sobol_by_level": "ST", "morris": "mu_star", "efast": "ST"}


@dataclass
class SensitivityResult:
    """Everything an analysis produces (tidy frames with the ``*_COLUMNS`` columns)."""

    plan: SensitivityPlan
    indices: pd.DataFrame
    noise: pd.DataFrame
    convergence: pd.DataFrame
    stable: pd.DataFrame
    warnings: list[str]


# ------------------------------------------------------------------------ inputs


def replicate_means(frame: pd.DataFrame, plan: SensitivityPlan) -> tuple[np.ndarray, pd.DataFrame]:
    """The design matrix and the mean of each output over replicates, per design point.

    Raises:
        SensitivityError: If columns, design points or replicates are missing.
    """
    names = list(plan.problem["names"])
    missing = [c for c in ("design_point", "replicate", *names, *plan.outputs) if c not in frame]
    if missing:
        raise SensitivityError(
            f"the sweep results lack columns {missing}; was the sweep run with this experiment?"
        )
    counts = frame.groupby("design_point").size()
    expected = plan.points * plan.replicates
    if len(frame) != expected or len(counts) != plan.points or counts.min() < plan.replicates:
        raise SensitivityError(
            f"the sweep holds {len(frame)} of {expected} runs; finish it "
            "with --resume before analysing"
        )
    grouped = frame.sort_values(["design_point", "replicate"]).groupby("design_point")
    return grouped[names].first().to_numpy(dtype=float), grouped[list(plan.outputs)].mean()


def noise_table(frame: pd.DataFrame, outputs: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """Stochastic share of each output's variance, from replicates per design point.

    ``noise_share_run`` is the mean within-design-point variance over the variance
    of single runs; ``noise_share_mean`` is the within variance divided by the
    replicates, over the variance of the replicate means (what the indices see).
    Both are NaN with a single replicate.
    """
    grouped = frame.groupby("design_point")[list(outputs)]
    replicates = int(grouped.size().min())
    within = grouped.var(ddof=1).mean() if replicates > 1 else pd.Series(np.nan, outputs)
    total = frame[list(outputs)].var(ddof=1)
    means = grouped.mean().var(ddof=1)
    signal = means - within / replicates
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.ceil(within * (1 - TARGET_NOISE_SHARE) / (TARGET_NOISE_SHARE * signal))
    return pd.DataFrame(
        {
            "output": list(outputs),
            "replicates": replicates,
            "design_points": grouped.ngroups,
            "within_variance": within.to_numpy(),
            "total_variance": total.to_numpy(),
            "noise_share_run": (within / total).to_numpy(),
            "noise_share_mean": (within / replicates / means).to_numpy(),
            "replicates_for_5pc": needed.where(signal > 0).to_numpy(),
        }
    )


# -------------------------------------------------------------------- convergence


def _sizes(plan: SensitivityPlan) -> list[int]:
    """Nested base sizes to re-analyse: powers of two up to the full base size."""
    if plan.method == "efast":
        return []  # eFAST's frequencies depend on N: its samples do not nest
    full = plan.points // plan.step
    smallest = 2 if plan.method == "morris" else 8
    sizes = [2**k for k in range(1, full.bit_length()) if smallest <= 2**k < full]
    return [*sizes[-(MAX_SIZES - 1) :], full]


def _convergence(
    plan: SensitivityPlan, x: np.ndarray, y: np.ndarray, noise_var: float
) -> list[dict[str, Any]]:
    rows = []
    for n in _sizes(plan):
        take = n * plan.step
        if plan.method == "morris":
            found = morris_indices(plan, x[:take], y[:take], noise_var, CONVERGENCE_RESAMPLES)
        else:
            found = sobol_indices(plan, y[:take], noise_var, CONVERGENCE_RESAMPLES)
        rows += [
            {
                "index": r["index"],
                "parameter": r["parameter"],
                "base_n": n,
                "estimate": r["estimate"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
            }
            for r in found
            if r["index"] in ("S1", "ST", "mu_star")
        ]
    return rows


def stable_sizes(convergence: pd.DataFrame, *, top: int = 5) -> pd.DataFrame:
    """The smallest base size from which the ranking of the leading parameters holds.

    At the largest size, take the ``top`` parameters by the ranking index (ST, or
    mu* for Morris) and every ordering of one of them above another parameter that
    is clear there (non-overlapping intervals). The ranking is stable from the
    smallest size at which, and at every larger size, all those orderings hold.
    ``verified`` is false when that is only the largest size itself; ``orderings``
    counts the clear orderings checked (none: nothing can be ranked yet).
    """
    rows = []
    for (output, method), part in convergence.groupby(["output", "method"], sort=False):
        index = RANKED_BY[method]
        chosen = part[part["index"] == index]
        table = chosen.pivot(index="base_n", columns="parameter", values="estimate")
        largest = int(table.index.max())
        final = chosen[chosen["base_n"] == largest].set_index("parameter")
        leaders = list(final["estimate"].nlargest(min(top, len(final))).index)
        pairs = [
            (i, j)
            for i in leaders
            for j in final.index
            if i != j and final.at[i, "ci_low"] > final.at[j, "ci_high"]
        ]
        holds = [all(table.at[n, i] > table.at[n, j] for i, j in pairs) for n in table.index]
        stable = largest
        for n, ok in zip(table.index[::-1], holds[::-1], strict=True):
            if not ok:
                break
            stable = int(n)
        rows.append(
            {
                "output": output,
                "method": method,
                "index": index,
                "stable_n": stable,
                "largest_n": largest,
                "verified": stable < largest,
                "orderings": len(pairs),
                "top": ", ".join(leaders),
            }
        )
    return pd.DataFrame(rows, columns=list(STABLE_COLUMNS))


# ----------------------------------------------------------------------- analysis


def domain(output: str) -> str:
    """The outcome domain of an output column (functional, existential, social, ...)."""
    metric = output.rsplit("_w", 1)[0].removesuffix("_effect")
    return OUTPUTS.get(metric, ("analytic", ""))[0]


def noise_warnings(noise: pd.DataFrame, threshold: float) -> list[str]:
    """Plain warnings for outputs whose stochastic noise can bias or hide the indices."""
    found = []
    for r in noise.itertuples(index=False):
        if r.replicates < 2:
            found.append(
                f"{r.output}: one replicate per design point, so the stochastic "
                "share cannot be estimated and total-order indices are not corrected "
                "for noise; use replicates >= 2"
            )
        elif r.noise_share_mean > threshold:
            more = (
                ""
                if np.isnan(r.replicates_for_5pc)
                else f"; about {int(r.replicates_for_5pc)} replicates per design point would "
                f"bring it to {TARGET_NOISE_SHARE:.0%}"
            )
            found.append(
                f"{r.output}: stochastic noise is {r.noise_share_mean:.0%} of the "
                f"variance of replicate means (above {threshold:.0%}), so effects of "
                "that size cannot be told from noise (see noise_floor in indices.csv; "
                f"Sobol' total orders are corrected for it){more}"
            )
    return found


def analyse(frame: pd.DataFrame, plan: SensitivityPlan) -> SensitivityResult:
    """Analyse a finished sweep (one row per run) with the plan's SALib method.

    Args:
        frame: Runs as from :func:`sim.studies.sweep.read_results`.
        plan: What was sampled and what to analyse.

    Returns:
        Indices, noise shares, convergence, stable sizes and warnings.

    Raises:
        SensitivityError: If the frame does not hold the plan's complete sweep.
    """
    x, means = replicate_means(frame, plan)
    noise = noise_table(frame, plan.outputs)
    indices: list[dict[str, Any]] = []
    convergence: list[dict[str, Any]] = []
    warnings: list[str] = []
    for output, record in zip(plan.outputs, noise.itertuples(index=False), strict=True):
        y = means[output].to_numpy(dtype=float)
        if not varies(plan, y):
            warnings.append(f"{output} does not vary across the design; it has no indices")
            continue
        noise_var = (
            0.0 if np.isnan(record.within_variance) else record.within_variance / record.replicates
        )
        meta = {
            "output": output,
            "domain": domain(output),
            "method": plan.method,
            "base_n": plan.design.points,
            "runs": len(frame),
        }
        indices += [{**meta, **row} for row in analyse_output(plan, x, y, noise_var)]
        convergence += [{**meta, **row} for row in _convergence(plan, x, y, noise_var)]
    warnings += noise_warnings(noise, plan.noise_warning)
    conv = pd.DataFrame(convergence, columns=list(CONVERGENCE_COLUMNS))
    return SensitivityResult(
        plan=plan,
        indices=pd.DataFrame(indices, columns=INDEX_COLUMNS),
        noise=noise,
        convergence=conv,
        stable=stable_sizes(conv),
        warnings=warnings,
    )


def ishigami_frame(
    design: DesignSpec,
    *,
    seed: int,
    replicates: int = 1,
    noise_sd: float = 0.0,
    dummies: int = 0,
    **options: Any,
) -> tuple[pd.DataFrame, SensitivityPlan]:
    """SALib's Ishigami function run like a model sweep, for checking the analysis.

    The design comes from :func:`sim.files.design.salib_sample` as a model
    experiment's does, and the frame has the columns of
    :func:`sim.studies.sweep.read_results`, so :func:`analyse` treats both alike.

    Args:
        design: A saltelli, morris or fast design.
        seed: Seeds the sample, the noise and the analysis.
        replicates: Runs per design point.
        noise_sd: Standard deviation of Gaussian noise added to each run.
        dummies: Extra inputs ``d1, d2, ...`` the function ignores.
        **options: Passed to :class:`SensitivityPlan` (resamples, conf_level, ...).

    Returns:
        The runs and the plan to analyse them with (output column ``ishigami``).
    """
    from SALib.test_functions import Ishigami

    names = [*ISHIGAMI_PROBLEM["names"], *(f"d{i + 1}" for i in range(dummies))]
    problem = {"num_vars": len(names), "names": names, "bounds": [[-math.pi, math.pi]] * len(names)}
    x = salib_sample(problem, design, seed)
    y = Ishigami.evaluate(x[:, :3])
    rng = np.random.default_rng([seed, stream_key("ishigami noise")])
    point, replicate = np.divmod(np.arange(len(x) * replicates), replicates)
    frame = pd.DataFrame(
        {
            "design_point": point,
            "replicate": replicate,
            **{n: x[point, j] for j, n in enumerate(names)},
            "ishigami": y[point] + noise_sd * rng.standard_normal(len(point)),
        }
    )
    plan = SensitivityPlan(
        problem=problem,
        design=design,
        seed=seed,
        outputs=("ishigami",),
        points=len(x),
        replicates=replicates,
        **options,
    )
    return frame, plan
