"""Global sensitivity analysis of a finished sweep with SALib: which levers matter, how much.

The sweep's runs (one row per design point x replicate, :func:`sim.executor.read_results`)
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from SALib.analyze import fast, morris, pawn, sobol

from sim.experiment import Experiment, DesignSpec, salib_sample
from sim.metrics import METRICS
from sim.parameters import REGISTRY
from sim.seeding import stream_key

__all__ = ["CONVERGENCE_COLUMNS", "INDEX_COLUMNS", "ISHIGAMI_INDICES", "ISHIGAMI_PROBLEM",
           "NOISE_COLUMNS", "SensitivityError", "SensitivityPlan", "SensitivityResult",
           "analyse", "ishigami_frame", "noise_table", "replicate_means", "stable_sizes"]

INDEX_COLUMNS = ("output", "domain", "method", "index", "parameter", "partner", "level",
                 "estimate", "ci_low", "ci_high", "raw_estimate", "noise_floor", "base_n",
                 "runs")
NOISE_COLUMNS = ("output", "replicates", "design_points", "within_variance", "total_variance",
                 "noise_share_run", "noise_share_mean", "replicates_for_5pc")
CONVERGENCE_COLUMNS = ("output", "method", "index", "parameter", "base_n", "estimate",
                       "ci_low", "ci_high")
STABLE_COLUMNS = ("output", "method", "index", "stable_n", "largest_n", "verified", "top")
ISHIGAMI_PROBLEM: dict[str, Any] = {"num_vars": 3, "names": ["x1", "x2", "x3"],
                                    "bounds": [[-math.pi, math.pi]] * 3}
# Published indices of the Ishigami function (a = 7, b = 0.1), e.g. Saltelli et al. (2008).
ISHIGAMI_INDICES = {"S1": (0.3139, 0.4424, 0.0), "ST": (0.5576, 0.4424, 0.2437)}
TARGET_NOISE_SHARE = 0.05  # replicates_for_5pc: replicates that bring noise to this share
PAWN_SLICES = 10
_RANKED_BY = {"sobol": "ST", "sobol_by_level": "ST", "morris": "mu_star", "efast": "ST"}


class SensitivityError(ValueError):
    """A sweep or plan that cannot be analysed, with an actionable message."""


@dataclass(frozen=True)
class SensitivityPlan:
    """What the analysis needs to know about a sweep.

    Attributes:
        problem: The SALib problem the design was sampled from (``groups`` if grouped).
        design: The design specification (method, base size, options).
        seed: The experiment seed; bootstrap and PAWN draws derive from it.
        outputs: Output columns to analyse (``<metric>_w<week>``).
        points: Design points of the full sample.
        replicates: Runs per design point.
        levels: Moderator level of each parameter name (for labels and colours).
        resamples: Bootstrap resamples for confidence intervals.
        conf_level: Confidence level of the intervals.
        noise_warning: Noise share of replicate means above which to warn.
    """

    problem: dict[str, Any]
    design: DesignSpec
    seed: int
    outputs: tuple[str, ...]
    points: int
    replicates: int
    levels: dict[str, str] = field(default_factory=dict)
    resamples: int = 1000
    conf_level: float = 0.95
    noise_warning: float = 0.10

    @classmethod
    def from_experiment(cls, experiment: Experiment, **options: Any) -> SensitivityPlan:
        """The plan of a loaded experiment; ``options`` set resamples, conf_level, ..."""
        spec = experiment.spec
        if spec.design.method not in _METHODS:
            raise SensitivityError(
                f"{experiment.path}: design.method = {spec.design.method!r} cannot be analysed; "
                "use saltelli (Sobol), morris or fast (eFAST)")
        outputs = tuple(f"{m}_w{w}" for m in spec.outputs.metrics
                        for w in experiment.record_weeks)
        return cls(problem=experiment.problem(), design=spec.design, seed=spec.seed,
                   outputs=outputs, points=experiment.design().shape[0],
                   replicates=spec.replicates,
                   levels={n: REGISTRY[n].level for n in experiment.names}, **options)

    @property
    def method(self) -> str:
        """Method label: sobol, sobol_by_level, morris or efast."""
        if self.design.method == "saltelli":
            return "sobol_by_level" if "groups" in self.problem else "sobol"
        return _METHODS[self.design.method]

    @property
    def factors(self) -> list[str]:
        """What indices are computed for: parameter names, or levels when grouped."""
        return list(pd.unique(np.array(self.problem["groups"]))) \
            if self.method == "sobol_by_level" else list(self.problem["names"])

    @property
    def step(self) -> int:
        """Design points per base sample (Saltelli block, Morris trajectory, eFAST: N)."""
        d = len(self.factors)
        if self.design.method == "saltelli":
            return 2 * d + 2 if self.design.second_order else d + 2
        return d + 1 if self.design.method == "morris" else 1

    def seed_for(self, purpose: str) -> int:
        """A positive integer seed for one purpose (SALib ignores a seed of 0)."""
        state = np.random.SeedSequence([self.seed, stream_key(purpose)]).generate_state(1)
        return int(state[0]) % (2**31 - 2) + 1


_METHODS = {"saltelli": "sobol", "morris": "morris", "fast": "efast"}


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


def replicate_means(frame: pd.DataFrame, plan: SensitivityPlan) -> tuple[np.ndarray,
                                                                         pd.DataFrame]:
    """The design matrix and the mean of each output over replicates, per design point.

    Raises:
        SensitivityError: If columns, design points or replicates are missing.
    """
    names = list(plan.problem["names"])
    missing = [c for c in ("design_point", "replicate", *names, *plan.outputs)
               if c not in frame]
    if missing:
        raise SensitivityError(f"the sweep results lack columns {missing}; was the sweep run "
                               "with this experiment?")
    counts = frame.groupby("design_point").size()
    expected = plan.points * plan.replicates
    if len(frame) != expected or len(counts) != plan.points or counts.min() < plan.replicates:
        raise SensitivityError(f"the sweep holds {len(frame)} of {expected} runs; finish it "
                               "with --resume before analysing")
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
    return pd.DataFrame({
        "output": list(outputs), "replicates": replicates, "design_points": grouped.ngroups,
        "within_variance": within.to_numpy(), "total_variance": total.to_numpy(),
        "noise_share_run": (within / total).to_numpy(),
        "noise_share_mean": (within / replicates / means).to_numpy(),
        "replicates_for_5pc": needed.where(signal > 0).to_numpy()})


# ---------------------------------------------------------------------- analysers


def _rows(plan: SensitivityPlan, index: str, names: list[str], estimate: np.ndarray,
          conf: np.ndarray | None, floor: np.ndarray | float = 0.0, *,
          subtract: bool = True) -> list[dict[str, Any]]:
    """Tidy rows; ``floor`` is subtracted when the noise bias is additive, else kept as a
    threshold (Morris mu*, PAWN)."""
    raw = np.asarray(estimate, dtype=float)
    half = np.full(raw.shape, np.nan) if conf is None else np.asarray(conf, dtype=float)
    floors = np.broadcast_to(np.asarray(floor, dtype=float), raw.shape)
    value = raw - floors if subtract else raw
    return [{"index": index, "parameter": name, "partner": "",
             "level": name if plan.method == "sobol_by_level" else plan.levels.get(name, ""),
             "estimate": v, "ci_low": v - h, "ci_high": v + h, "raw_estimate": r,
             "noise_floor": f} for name, v, h, r, f in zip(names, value, half, raw, floors,
                                                           strict=True)]


def _sobol(plan: SensitivityPlan, y: np.ndarray, noise_var: float,
           resamples: int) -> list[dict[str, Any]]:
    result = sobol.analyze(plan.problem, y, calc_second_order=plan.design.second_order,
                           num_resamples=resamples, conf_level=plan.conf_level,
                           seed=plan.seed_for("bootstrap"))
    base = y.reshape(-1, plan.step)[:, [0, -1]]  # the independent A and B rows
    floor = noise_var / np.var(base)
    names = plan.factors
    rows = _rows(plan, "S1", names, result["S1"], result["S1_conf"])
    rows += _rows(plan, "ST", names, result["ST"], result["ST_conf"], floor)
    if plan.design.second_order:
        for j, k in zip(*np.triu_indices(len(names), 1), strict=True):
            row = _rows(plan, "S2", [names[j]], result["S2"][j, k:k + 1],
                        result["S2_conf"][j, k:k + 1])[0]
            rows.append({**row, "partner": names[k]})
    return rows


def _morris(plan: SensitivityPlan, x: np.ndarray, y: np.ndarray, noise_var: float,
            resamples: int) -> list[dict[str, Any]]:
    levels = plan.design.grid_levels
    plain = {k: v for k, v in plan.problem.items() if k != "groups"}
    result = morris.analyze(plain, x, y, num_resamples=resamples, conf_level=plan.conf_level,
                            num_levels=levels, seed=plan.seed_for("bootstrap"))
    delta = levels / (2.0 * (levels - 1))
    # |difference of two independent noisy means| / delta, in expectation
    floor = 2.0 * math.sqrt(noise_var) / (math.sqrt(math.pi) * delta)
    names = plan.factors
    return (_rows(plan, "mu_star", names, result["mu_star"], result["mu_star_conf"], floor,
                  subtract=False)
            + _rows(plan, "mu", names, result["mu"], None)
            + _rows(plan, "sigma", names, result["sigma"], None))


def _efast(plan: SensitivityPlan, y: np.ndarray, noise_var: float) -> list[dict[str, Any]]:
    n, m = plan.design.points, plan.design.harmonics
    omega = math.floor((n - 1) / (2 * m))
    frequencies = math.ceil(n / 2) - 1
    first, total, shares = [], [], []
    for curve in y.reshape(len(plan.factors), n):
        s1, st = fast.compute_orders(curve, n, m, omega)
        first.append(s1)
        total.append(st)
        shares.append(noise_var / np.var(curve))
    shares_arr = np.array(shares)
    # white noise spreads evenly over the frequencies: a little lands on the M harmonics
    # (first order); what lies above omega / 2 counts toward the total order
    return (_rows(plan, "S1", plan.factors, np.array(first), None, shares_arr * m / frequencies)
            + _rows(plan, "ST", plan.factors, np.array(total), None,
                    shares_arr * (1 - math.floor(omega / 2) / frequencies)))


def _pawn(plan: SensitivityPlan, x: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    """PAWN medians on the base rows; the floor is the median of a random dummy input."""
    rows = np.arange(len(y)).reshape(-1, plan.step)[:, [0, -1]].ravel()
    rng = np.random.default_rng(plan.seed_for("pawn dummy"))
    names = [*plan.problem["names"], "(dummy)"]
    problem = {"num_vars": len(names), "names": names,
               "bounds": [*plan.problem["bounds"], [0.0, 1.0]]}
    sample = np.column_stack([x[rows], rng.random(len(rows))])
    median = np.asarray(pawn.analyze(problem, sample, y[rows], S=PAWN_SLICES)["median"])
    return _rows(plan, "pawn_median", names[:-1], median[:-1], None, median[-1],
                 subtract=False)


def _analyse_output(plan: SensitivityPlan, x: np.ndarray, y: np.ndarray,
                    noise_var: float) -> list[dict[str, Any]]:
    if plan.method == "morris":
        return _morris(plan, x, y, noise_var, plan.resamples)
    if plan.method == "efast":
        return _efast(plan, y, noise_var)
    rows = _sobol(plan, y, noise_var, plan.resamples)
    if plan.method == "sobol":
        rows += _pawn(plan, x, y)
    return rows
