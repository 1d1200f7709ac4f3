"""Deliberately broken models (mutants) for tests/test_mutants.py.

Each mutant is a context manager that breaks one claim of the model for the code
run inside it, in this process: registry defaults replaced (every run validates
its parameters against the registry, so a replaced default reaches every run
that does not set the value itself), or a seam of the engine patched.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np

from sim.core import compiled
from sim.core.parameters import REGISTRY
from sim.core.state import BatchParams

__all__ = ["MUTANTS"]


@contextlib.contextmanager
def _defaults(**values: float) -> Iterator[None]:
    saved = {name: REGISTRY[name] for name in values}
    try:
        for name, value in values.items():
            REGISTRY[name] = dataclasses.replace(REGISTRY[name], default=value)
        yield
    finally:
        REGISTRY.update(saved)


@contextlib.contextmanager
def _profile(profile: np.ndarray) -> Iterator[None]:
    saved = compiled.PROFILE
    compiled.PROFILE = np.ascontiguousarray(profile)
    try:
        yield
    finally:
        compiled.PROFILE = saved


@contextlib.contextmanager
def _fidelity_ignored() -> Iterator[None]:
    """Every team works at fidelity 1, whatever the scenario says."""
    original = BatchParams.__init__

    def init(self, param_sets, world):
        original(self, param_sets, world)
        self.team_values["fidelity"][...] = 1.0

    BatchParams.__init__ = init
    try:
        yield
    finally:
        BatchParams.__init__ = original


MUTANTS = {
    "uniform mechanism profiles": lambda: _profile(np.full_like(compiled.PROFILE, 0.5)),
    "mechanism columns reversed": lambda: _profile(compiled.PROFILE[:, ::-1]),
    "moderators act on levels only": lambda: _defaults(
        attitude_dose_slope=0.0,
        attitude_dose_offset=0.75,
        role_modelling_stigma_modification=0.0,
        social_participation_stigma_modification=0.0,
        unemployment_conversion_per_point=0.0,
    ),
    "no feedback": lambda: _defaults(
        success_boost=0.0, job_loss_setback=0.0, relapse_setback=0.0, hope_motivation_gain=0.0
    ),
    "no consolidation (fixed entry set-points)": lambda: _defaults(consolidation_rate_per_week=0.0),
    "connectedness from ties alone": lambda: _defaults(
        work_connectedness_weight=0.0,
        housing_connectedness_weight=0.0,
        group_connectedness_weight=0.0,
        self_stigma_withdrawal=0.0,
        social_participation_stigma_modification=0.0,
    ),
    "fidelity ignored": _fidelity_ignored,
}
