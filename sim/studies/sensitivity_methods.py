"""SALib's analysers for one output of a sweep, and the plan that says what was sampled.

:class:`SensitivityPlan` holds the SALib problem, the design, the seed and the
outputs; the functions here turn one output's replicate means (Y, with the design
X) into tidy index rows with ``noise_floor`` and ``estimate``: SALib's Sobol'
(first, total, second order; per parameter or per group), Morris, eFAST (SALib's
``compute_orders``) and PAWN. :mod:`sim.studies.sensitivity` is the public entry point.

Noise floors (the value a factor without any effect gets from stochastic noise
alone, with ``v`` the noise variance of a replicate mean and ``V`` the output
variance): Jansen total order ``v / V`` (subtracted); eFAST total order
``v / V x (1 - floor(omega / 2) / (N / 2 - 1))`` and first order ``v / V x M / (N / 2 - 1)``
(subtracted); Morris mu* ``2 sqrt(v) / (sqrt(pi) delta)`` and PAWN the median of a
random dummy input (thresholds, not subtracted: those biases are not additive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from SALib.analyze import fast, morris, pawn, sobol

from sim.core.errors import UserError
from sim.core.seeding import stream_key
from sim.files.design import DesignSpec
from sim.files.experiment import Experiment
from sim.files.factors import factor_level

__all__ = [
    "PAWN_SLICES",
    "SensitivityError",
    "SensitivityPlan",
    "analyse_output",
    "efast_indices",
    "morris_indices",
    "pawn_indices",
    "sobol_indices",
    "varies",
]

PAWN_SLICES = 10


class SensitivityError(UserError):
    """A sweep or plan that cannot be analysed, with an actionable message."""


@dataclass(frozen=True)
class SensitivityPlan:
    """What the analysis needs to know about a sweep.

    Attributes:
        problem: The SALib problem the design was sampled from (``groups`` if grouped).
        design: The design specification (method, base size, options).
        seed: The experiment seed; bootstrap and PAWN draws derive from it.
        outputs: Output columns to analyse (``<metric>_w<week>``, or the package's effects
            ``<metric>_effect_w<week>`` when the experiment has a counterfactual).
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
                "use saltelli (Sobol), morris or fast (eFAST)"
            )
        outputs = tuple(experiment.output_columns())
        return cls(
            problem=experiment.problem(),
            design=spec.design,
            seed=spec.seed,
            outputs=outputs,
            points=experiment.design().shape[0],
            replicates=spec.replicates,
            levels={n: factor_level(n) for n in experiment.names},
            **options,
        )

    @property
    def method(self) -> str:
        """Method label: sobol, sobol_by_level, morris or efast."""
        if self.design.method == "saltelli":
            return "sobol_by_level" if "groups" in self.problem else "sobol"
        return _METHODS[self.design.method]

    @property
    def factors(self) -> list[str]:
        """What indices are computed for: parameter names, or levels when grouped."""
        return (
            list(pd.unique(np.array(self.problem["groups"])))
            if self.method == "sobol_by_level"
            else list(self.problem["names"])
        )

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
Rows = list[dict[str, Any]]


def _rows(
    plan: SensitivityPlan,
    index: str,
    names: list[str],
    estimate: np.ndarray,
    conf: np.ndarray | None,
    floor: np.ndarray | float = 0.0,
    *,
    subtract: bool = True,
) -> Rows:
    """Tidy index rows; ``floor`` is subtracted, or kept as a threshold if not ``subtract``."""
    raw = np.asarray(estimate, dtype=float)
    half = np.full(raw.shape, np.nan) if conf is None else np.asarray(conf, dtype=float)
    floors = np.broadcast_to(np.asarray(floor, dtype=float), raw.shape)
    value = raw - floors if subtract else raw
    return [
        {
            "index": index,
            "parameter": name,
            "partner": "",
            "level": name if plan.method == "sobol_by_level" else plan.levels.get(name, ""),
            "estimate": v,
            "ci_low": v - h,
            "ci_high": v + h,
            "raw_estimate": r,
            "noise_floor": f,
        }
        for name, v, h, r, f in zip(names, value, half, raw, floors, strict=True)
    ]


def sobol_indices(plan: SensitivityPlan, y: np.ndarray, noise_var: float, resamples: int) -> Rows:
    """S1, ST (noise floor subtracted) and S2 rows from ``SALib.analyze.sobol``.

    Args:
        plan: The plan (its problem may hold ``groups``: then one row per group).
        y: Replicate means in sample order; a prefix of whole blocks is allowed.
        noise_var: Noise variance of a replicate mean.
        resamples: Bootstrap resamples.
    """
    result = sobol.analyze(
        plan.problem,
        y,
        calc_second_order=plan.design.second_order,
        num_resamples=resamples,
        conf_level=plan.conf_level,
        seed=plan.seed_for("bootstrap"),
    )
    base = y.reshape(-1, plan.step)[:, [0, -1]]  # the independent A and B rows
    floor = noise_var / np.var(base)  # SALib's denominator
    names = plan.factors
    rows = _rows(plan, "S1", names, result["S1"], result["S1_conf"])
    rows += _rows(plan, "ST", names, result["ST"], result["ST_conf"], floor)
    if plan.design.second_order:
        for j, k in zip(*np.triu_indices(len(names), 1), strict=True):
            row = _rows(
                plan, "S2", [names[j]], result["S2"][j, k : k + 1], result["S2_conf"][j, k : k + 1]
            )[0]
            rows.append({**row, "partner": names[k]})
    return rows


def morris_indices(
    plan: SensitivityPlan, x: np.ndarray, y: np.ndarray, noise_var: float, resamples: int
) -> Rows:
    """mu* (with its interval and noise floor), mu and sigma from ``SALib.analyze.morris``.

    Elementary effects are in output units per unit step of the unit hypercube,
    so mu* is comparable across levers (per full range).
    """
    levels = plan.design.grid_levels
    plain = {k: v for k, v in plan.problem.items() if k != "groups"}
    result = morris.analyze(
        plain,
        x,
        y,
        num_resamples=resamples,
        conf_level=plan.conf_level,
        num_levels=levels,
        seed=plan.seed_for("bootstrap"),
    )
    delta = levels / (2.0 * (levels - 1))
    floor = 2.0 * math.sqrt(noise_var) / (math.sqrt(math.pi) * delta)  # E|N(0, 2v)| / delta
    names = plan.factors
    return (
        _rows(
            plan, "mu_star", names, result["mu_star"], result["mu_star_conf"], floor, subtract=False
        )
        + _rows(plan, "mu", names, result["mu"], None)
        + _rows(plan, "sigma", names, result["sigma"], None)
    )


def efast_indices(plan: SensitivityPlan, y: np.ndarray, noise_var: float) -> Rows:
    """S1 and ST from SALib's eFAST estimator (``SALib.analyze.fast.compute_orders``).

    ``SALib.analyze.fast.analyze`` is not called because its bootstrap draws from
    the global ``np.random`` state (and SALib flags those intervals as unreliable),
    so eFAST rows have no interval. White noise spreads evenly over the
    frequencies, which gives the floors of the module docstring.
    """
    n, m = plan.design.points, plan.design.harmonics
    omega = math.floor((n - 1) / (2 * m))
    frequencies = math.ceil(n / 2) - 1
    first, total, shares = [], [], []
    for curve in y.reshape(len(plan.factors), n):
        s1, st = fast.compute_orders(curve, n, m, omega)
        first.append(s1)
        total.append(st)
        shares.append(noise_var / np.var(curve))
    share = np.array(shares)
    return _rows(plan, "S1", plan.factors, np.array(first), None, share * m / frequencies) + _rows(
        plan,
        "ST",
        plan.factors,
        np.array(total),
        None,
        share * (1 - math.floor(omega / 2) / frequencies),
    )


def pawn_indices(plan: SensitivityPlan, x: np.ndarray, y: np.ndarray) -> Rows:
    """PAWN medians (``SALib.analyze.pawn``) on a Saltelli design's independent A and B rows.

    A random dummy input is analysed alongside; its median is every row's
    ``noise_floor`` (what a lever without effect gets at this sample size).
    """
    rows = np.arange(len(y)).reshape(-1, plan.step)[:, [0, -1]].ravel()
    rng = np.random.default_rng(plan.seed_for("pawn dummy"))
    names = [*plan.problem["names"], "(dummy)"]
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": [*plan.problem["bounds"], [0.0, 1.0]],
    }
    sample = np.column_stack([x[rows], rng.random(len(rows))])
    median = np.asarray(pawn.analyze(problem, sample, y[rows], S=PAWN_SLICES)["median"])
    return [
        {**row, "method": "pawn", "level": plan.levels.get(row["parameter"], "")}
        for row in _rows(
            plan, "pawn_median", names[:-1], median[:-1], None, median[-1], subtract=False
        )
    ]


def varies(plan: SensitivityPlan, y: np.ndarray) -> bool:
    """Whether the output varies where the plan's estimator needs it to.

    Everywhere for Morris and eFAST; across the independent base rows (A and B) for
    Sobol' designs, whose variance every index is divided by (an output that moves
    only in the cross rows has no defined index).
    """
    if plan.method in ("morris", "efast"):
        values = y
    else:
        values = y.reshape(-1, plan.step)[:, [0, -1]]
    return bool(np.ptp(values) > 1e-12 * max(1.0, float(np.abs(values).max())))


def analyse_output(plan: SensitivityPlan, x: np.ndarray, y: np.ndarray, noise_var: float) -> Rows:
    """Every index the plan's method gives for one output (Sobol' designs add PAWN).

    Args:
        plan: The plan.
        x: The design matrix, one row per design point.
        y: The output's replicate means, one per design point.
        noise_var: Noise variance of a replicate mean (0 if unknown).
    """
    if plan.method == "morris":
        return morris_indices(plan, x, y, noise_var, plan.resamples)
    if plan.method == "efast":
        return efast_indices(plan, y, noise_var)
    rows = sobol_indices(plan, y, noise_var, plan.resamples)
    if plan.method == "sobol":
        rows += pawn_indices(plan, x, y)
    return rows
