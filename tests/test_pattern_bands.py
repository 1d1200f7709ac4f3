"""The trial patterns reject the parameter values that break them.

A band wide enough to pass a broken model is not a test. Each case moves one
parameter (or switches an intervention's mechanisms off) to a value that breaks the
pattern's claim and requires the pattern to fail; the unmoved model passes
(tests/test_patterns.py). Measured edges (this seed, calibrated defaults): the
EQOLISE pattern fails IPS multipliers 2.2 and 7.0 and passes 5.0 and 6.0 (the published
arms' 95% intervals allow no narrower); the peer-support pattern passes hope rates up
to 0.06 and fails 0.07.
Not rejectable: crisis plans without effect (Stovell's compulsory-treatment interval,
0.35-1.02, includes no effect; the model gives RR 0.81 without the plan's own effect,
through the alliance's path to fewer relapses).
"""

import numpy as np
import pytest
from mutants import _defaults, _profile
from patterns import PATTERNS

from sim.core import compiled
from sim.core.logic_model import USER_INTERVENTIONS


def _peer_support_profile_off():
    profile = compiled.PROFILE.copy()
    profile[USER_INTERVENTIONS.index("peer_support")] = 0.0
    return _profile(profile)


BROKEN = {
    "IPS multiplier too weak (2.2)": (
        "ips_matches_eqolise",
        lambda: _defaults(ips_job_finding_multiplier=2.2),
    ),
    "IPS multiplier too strong (7.0)": (
        "ips_matches_eqolise",
        lambda: _defaults(ips_job_finding_multiplier=7.0),
    ),
    "IPS job finding without unemployment moderation": (
        "ips_relative_effect_flat_in_unemployment",
        lambda: _defaults(unemployment_conversion_per_point=0.0),
    ),
    "peer support hope rate too fast (0.07/week)": (
        "peer_support_small_effects",
        lambda: _defaults(hope_rate_per_week=0.07),
    ),
    "peer support without its mechanisms": (
        "peer_support_small_effects",
        _peer_support_profile_off,
    ),
    "staff training switched off": (
        "staff_training_near_null_but_acting",
        lambda: _defaults(staff_training_attitude_gain=0.0),
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_pattern_rejects_a_broken_value(case):
    name, broken = BROKEN[case]
    with broken():
        verdict = PATTERNS[name]()
    print(f"\n{case}: {name} -> {verdict.detail}")
    assert not verdict.passed, f"{name} passes a broken model: {verdict.detail}"


def test_registry_restored_after_a_broken_case():
    from sim.core.parameters import REGISTRY

    before = REGISTRY["hope_rate_per_week"].default
    with _defaults(hope_rate_per_week=0.07):
        assert REGISTRY["hope_rate_per_week"].default == 0.07
    assert REGISTRY["hope_rate_per_week"].default == before
    assert np.all(compiled.PROFILE >= 0.0)
