"""Designs: how the design points of an experiment are generated.

:class:`DesignSpec` is the ``[design]`` table of an experiment file. Grid, Latin
hypercube and scrambled Sobol' designs are drawn on the unit cube
(:func:`unit_design`) and scaled to the varied parameters' bounds; the SALib
methods (Saltelli, Morris, eFAST) use SALib's own samplers (:func:`salib_sample`).
Every design is regenerated from the experiment's seed, so a worker can rebuild
any design point from its index.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.stats import qmc

from sim.core.errors import MAX_DESIGN_POINTS, MAX_GRID_LEVELS
from sim.files.scenario import NotBool

__all__ = ["SALIB_METHODS", "DesignSpec", "salib_sample", "unit_design"]

SALIB_METHODS = ("saltelli", "morris", "fast")
_GRID_LEVELS, _MORRIS_LEVELS = 3, 4  # default `levels` of a grid and of a Morris design


class DesignSpec(BaseModel):
    """How design points are generated (see the module docstring for each method)."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["grid", "latin", "sobol", "saltelli", "morris", "fast"] = Field(
        "latin",
        description="Design: full grid, Latin hypercube, scrambled Sobol', or a SALib "
        "sampler for sensitivity analysis (saltelli, morris, fast).",
    )
    points: Annotated[int, Field(ge=1, le=MAX_DESIGN_POINTS), NotBool] = Field(
        32,
        description="latin: design points; sobol: design points (a power of two); "
        "saltelli: base size N (a power of two); morris: trajectories; fast: samples "
        "per parameter (more than 4 x harmonics^2). Unused by grid.",
    )
    levels: Annotated[int, Field(ge=2, le=MAX_GRID_LEVELS), NotBool] | None = Field(
        None,
        description="grid: levels per parameter (default 3); morris: grid levels, even "
        "(default 4).",
    )
    second_order: bool = Field(
        True, description="saltelli: also compute second-order indices (N x (2D + 2) points)."
    )
    grouped: bool = Field(
        False,
        description="saltelli: group the parameters by moderator level (needs two levels or more).",
    )
    harmonics: Annotated[int, Field(ge=1, le=64), NotBool] = Field(
        4, description="fast: the interference factor M of eFAST."
    )

    @property
    def grid_levels(self) -> int:
        """Levels per parameter of a grid or Morris design (with the method's default)."""
        if self.levels is not None:
            return self.levels
        return _MORRIS_LEVELS if self.method == "morris" else _GRID_LEVELS

    def point_count(self, n_params: int) -> int:
        """How many design points the method generates for ``n_params`` parameters."""
        d = max(n_params, 1)
        if self.method == "grid":
            return self.grid_levels**d
        if self.method == "saltelli":
            return self.points * (2 * d + 2 if self.second_order else d + 2)
        if self.method == "morris":
            return self.points * (d + 1)
        if self.method == "fast":
            return self.points * d
        return self.points

    def check(self) -> None:
        """Raise ValueError if the method's options are inconsistent."""
        points, method = self.points, self.method
        if method in ("sobol", "saltelli") and points & (points - 1):
            name = "a Sobol sequence" if method == "sobol" else "the Saltelli (Sobol) sampler"
            raise ValueError(
                f"design.points = {points}: {name} needs a power of two (e.g. 64, 128, 256)"
            )
        if method == "morris" and (self.grid_levels % 2 or points < 2):
            raise ValueError(
                f"design: Morris needs an even number of levels (got "
                f"{self.grid_levels}; 4 is usual) and points >= 2 trajectories "
                f"(got {points})"
            )
        if method == "fast" and points <= 4 * self.harmonics**2:
            raise ValueError(
                f"design.points = {points}: eFAST needs points > 4 x harmonics^2 "
                f"= {4 * self.harmonics**2}"
            )
        if self.grouped and method != "saltelli":
            raise ValueError(f"design.grouped = true needs method = 'saltelli', not {method!r}")


def salib_sample(problem: dict[str, Any], design: DesignSpec, seed: int) -> np.ndarray:
    """A SALib design for ``problem``: the sampler of ``design.method``, seeded by ``seed``.

    The same function generates a model experiment's design and an analytic test
    function's (see :func:`sim.studies.sensitivity.ishigami_frame`).

    Args:
        problem: SALib problem dict (``groups`` is used by the Saltelli sampler only).
        design: A design with ``method`` in :data:`SALIB_METHODS`.
        seed: Seeds a ``numpy.random.Generator`` handed to the sampler.

    Returns:
        The sample, scaled to the problem's bounds and distributions.
    """
    from SALib.sample import fast_sampler, morris, sobol

    design.check()
    rng = np.random.default_rng(seed)
    plain = {k: v for k, v in problem.items() if k != "groups"}
    if design.method == "saltelli":
        return sobol.sample(problem, design.points, calc_second_order=design.second_order, seed=rng)
    if design.method == "morris":
        return morris.sample(plain, design.points, num_levels=design.grid_levels, seed=rng)
    if design.method == "fast":
        return fast_sampler.sample(plain, design.points, M=design.harmonics, seed=rng)
    raise ValueError(
        f"design.method = {design.method!r} is not a SALib method; "
        f"allowed: {', '.join(SALIB_METHODS)}"
    )


def unit_design(spec: DesignSpec, n_params: int, seed: int) -> np.ndarray:
    """A grid, Latin-hypercube or scrambled-Sobol design on the unit cube (points x params)."""
    if spec.method == "grid":
        axis = np.linspace(0.0, 1.0, spec.grid_levels)
        return np.array(list(itertools.product(axis, repeat=n_params)), dtype=np.float64)
    if spec.method == "latin":
        return qmc.LatinHypercube(d=n_params, seed=np.random.default_rng(seed)).random(spec.points)
    sampler = qmc.Sobol(d=n_params, scramble=True, seed=np.random.default_rng(seed))
    return sampler.random_base2(int(np.log2(spec.points)))
