"""The former model constants (issue 14 §1) are registry parameters that take effect.

Each parameter set away from its default changes the quantity it governs in a
short simulation of a small, busy world (one batch holds every variant: a run's
output depends only on its own parameters and seed). That the defaults leave
model outputs unchanged is ``tests/test_baseline.py``'s bit-for-bit check.
"""

import numpy as np
import pytest

from sim.core.engine import Simulation, run_batch
from sim.core.network import BatchParameterError
from sim.core.open_service import EXIT_PARAMETERS
from sim.core.parameters import REGISTRY, validate
from sim.core.seeding import RunSeed
from sim.core.state import TRAIT_NAMES
from sim.core.world import Site, Team, make_world
from sim.studies.run import run_simulations

WEEKS = 8
# event rates raised so that jobs, homes and relapses change hands within a few weeks
BUSY = {
    "job_finding_probability_per_week": 0.03,
    "housing_gain_probability_per_week": 0.05,
    "relapse_probability_per_week": 0.05,
    "housing_availability": 0.9,
    "readiness_job_gradient": 5.0,
}
_TRAIT_STATE = {
    "motivation": "motivation_baseline",
    "symptom_severity": "severity_baseline",
    "self_stigma": "self_stigma_baseline",
}
# parameter -> (a value away from its default, the final-state quantities it must change)
VARIANTS = {
    "attitude_dose_offset": (1.0, ("doses",)),
    "usual_care_neutral_attitudes": (0.8, ("process_trust",)),
    "peer_signal_neutral_share": (0.0, ("doses",)),
    "advanced_stage": (1, ("doses",)),
    "reference_public_stigma": (0.0, ("self_stigma_baseline", "weeks_employed")),
    "reference_work_readiness": (0.2, ("weeks_employed",)),
    "self_efficacy_readiness_weight": (3.0, ("weeks_employed",)),
    "motivation_readiness_weight": (3.0, ("weeks_employed",)),
    "symptom_readiness_weight": (3.0, ("weeks_employed",)),
    "symptom_functioning_weight": (3.0, ("functioning",)),
    "housing_functioning_weight": (3.0, ("functioning",)),
    "employment_functioning_weight": (3.0, ("functioning",)),
    "self_efficacy_functioning_weight": (3.0, ("functioning",)),
    "reference_housing_availability": (1.0, ("weeks_housed",)),
    "housing_availability_elasticity": (2.0, ("weeks_housed",)),
    "relapse_reference_severity": (0.3, ("relapses",)),
    "relapse_severity_slope": (0.0, ("relapses",)),
    "initial_ties_cap": (4, ("degree",)),
    **{
        f"{trait}_factor_loading": (
            0.5 if REGISTRY[f"{trait}_factor_loading"].default == 0.0 else 0.0,
            (_TRAIT_STATE.get(trait, f"baseline_{trait}"),),
        )
        for trait in TRAIT_NAMES
    },
}
NAMES = list(VARIANTS)


def _world():
    teams = [Team("a", site=0), Team("b", site=1, professional_attitudes=0.8)]
    offer = {
        "peer_support": 0.5,
        "self_management": 0.4,
        "recovery_education": 0.4,
        "supported_employment": 0.5,
        "supported_housing": 0.5,
        "shared_decision_making": 0.5,
        "case_management": 0.4,
    }
    return make_world(
        120, sites=[Site("x"), Site("y", public_stigma=0.7)], teams=teams, offer=offer
    )


def _quantity(state, name):
    if name == "degree":
        return state.network.degree()
    if name.startswith("baseline_"):
        return state.baseline[name.removeprefix("baseline_")]
    if name.startswith("process_"):
        return state.process[name.removeprefix("process_")]
    return getattr(state, name)


@pytest.fixture(scope="module")
def finals():
    """Default run first, then one run per variant; the same seed for all."""
    param_sets = [validate(BUSY)] + [validate({**BUSY, name: VARIANTS[name][0]}) for name in NAMES]
    seeds = [RunSeed(7, 0, 0)] * len(param_sets)
    state = run_batch(_world(), param_sets, seeds, WEEKS, record_weeks=[WEEKS]).final
    return state


def test_every_former_constant_is_covered():
    assert len(VARIANTS) == 27
    for name, (value, _) in VARIANTS.items():
        assert value != REGISTRY[name].default, name
        REGISTRY[name].check(value)


@pytest.mark.parametrize("name", NAMES)
def test_former_constant_takes_effect(finals, name):
    run = 1 + NAMES.index(name)
    for quantity in VARIANTS[name][1]:
        values = _quantity(finals, quantity)
        assert not np.array_equal(values[0], values[run]), (
            f"{name} = {VARIANTS[name][0]} left {quantity} unchanged"
        )


def test_initial_ties_cap_must_be_one_value_per_simulation():
    params = [validate({}), validate({"initial_ties_cap": 12})]
    with pytest.raises(BatchParameterError, match="initial_ties_cap"):
        Simulation(_world(), params, [RunSeed(1, 0, 0), RunSeed(1, 1, 0)])
    assert issubclass(BatchParameterError, ValueError)


def test_run_batch_splits_where_initial_ties_cap_changes():
    world = _world()
    params = [validate({}), validate({"initial_ties_cap": 4}), validate({})]
    seeds = [RunSeed(3, k, 0) for k in range(3)]
    mixed = run_batch(world, params, seeds, 2)
    for k in range(3):
        alone = run_batch(world, params[k : k + 1], seeds[k : k + 1], 2)
        for name, values in alone.metrics.items():
            np.testing.assert_array_equal(mixed.metrics[name][k], values[0], err_msg=name)


@pytest.mark.parametrize("weeks", [0, 2])
def test_run_simulations_accepts_mixed_initial_ties_caps(weeks):
    world = _world()
    params = [validate({}), validate({"initial_ties_cap": 16})]
    seeds = [RunSeed(5, k, 0) for k in range(2)]
    mixed = run_simulations(world, params, seeds, weeks, finals=("connectedness",))
    for k in range(2):
        alone = run_simulations(
            world, params[k : k + 1], seeds[k : k + 1], weeks, finals=("connectedness",)
        )
        np.testing.assert_array_equal(
            mixed.finals["connectedness"][k], alone.finals["connectedness"][0]
        )
        for name, values in alone.metrics.items():
            np.testing.assert_array_equal(mixed.metrics[name][k], values[0], err_msg=name)


# ------------------------------------------------------------------- model v2 (issue 16)
# The parameters model v2 added (the end of sim/core/registry_data.py) take effect in the
# same way. Their world differs from the one above where a v2 rule needs it to act: a site
# above the reference unemployment rate (conversion), a site below the reference housing
# availability (so some users are unhoused), a site away from the reference stigma (the
# stigma modifiers); event rates are raised so admissions, discharges, evictions and
# dropouts happen within the weeks run.
V2_WEEKS = 26
V2_BUSY = {
    **BUSY,
    "relapse_probability_per_week": 0.05,
    "housing_loss_probability_per_week": 0.02,
    "relapse_recovery_probability_per_week": 0.2,
    "dropout_probability_per_week": 0.2,
}
V2_VARIANTS = {
    "information_and_skills_to_knowledge_weight": (0.3, ("process_knowledge",)),
    "working_alliance_to_trust_weight": (0.3, ("process_trust",)),
    "working_alliance_to_hope_weight": (1.0, ("process_hope",)),
    "role_modelling_to_hope_weight": (0.3, ("process_hope",)),
    "role_modelling_to_self_stigma_weight": (0.3, ("self_stigma",)),
    "increasing_choice_to_empowerment_weight": (0.3, ("process_empowerment",)),
    "attitude_dose_slope": (0.5, ("doses",)),
    "role_modelling_stigma_modification": (0.0, ("doses",)),
    "social_participation_stigma_modification": (0.0, ("connectedness",)),
    "unemployment_conversion_per_point": (0.0, ("weeks_employed",)),
    "trust_relapse_protection": (0.0, ("relapses",)),
    "reference_trust": (0.2, ("relapses",)),
    "self_stigma_readiness_weight": (3.0, ("weeks_employed",)),
    "unhoused_relapse_multiplier": (1.0, ("relapses",)),
    "consolidation_rate_per_week": (0.05, ("baseline_hope", "motivation_baseline")),
    "set_point_return_rate_per_week": (0.02, ("baseline_hope", "self_stigma_baseline")),
    "job_tenure_halving_weeks": (4.0, ("weeks_employed",)),
    "tenancy_halving_weeks": (4.0, ("weeks_housed",)),
    "dropout_halving_weeks": (1.0, ("dropped",)),
    "ties_connectedness_weight": (0.5, ("connectedness",)),
    "work_connectedness_weight": (2.0, ("connectedness",)),
    "group_connectedness_weight": (2.0, ("connectedness",)),
    "housing_connectedness_weight": (2.0, ("connectedness",)),
    "self_stigma_withdrawal": (0.8, ("connectedness",)),
    "family_contact_share": (0.1, ("family",)),
    "admission_probability_per_relapse": (0.9, ("admissions",)),
    "compulsory_admission_share": (0.9, ("compulsory_admissions",)),
    "crisis_plan_compulsory_rr": (0.2, ("compulsory_admissions",)),
    "discharge_probability_per_week": (0.5, ("bed_weeks",)),
    "information_and_skills_profile_scale": (1.5, ("doses",)),
    "working_alliance_profile_scale": (1.5, ("doses",)),
    "role_modelling_profile_scale": (1.5, ("doses",)),
    "increasing_choice_profile_scale": (1.5, ("doses",)),
    "role_modelling_to_empowerment_weight": (1.0, ("process_empowerment",)),
    "working_alliance_to_empowerment_weight": (1.0, ("process_empowerment",)),
}
V2_NAMES = list(V2_VARIANTS)


def _v2_world():
    teams = [Team("a", site=0), Team("b", site=1, professional_attitudes=0.8)]
    offer = {
        "peer_support": 0.5,
        "self_management": 0.4,
        "recovery_education": 0.4,
        "supported_employment": 0.5,
        "supported_housing": 0.5,
        "shared_decision_making": 0.8,
        "case_management": 0.4,
    }
    sites = [
        Site("x", unemployment_rate=0.12),
        Site("y", public_stigma=0.7, housing_availability=0.3),
    ]
    return make_world(200, sites=sites, teams=teams, offer=offer)


def _v2_quantity(state, name):
    if name.startswith("process_"):
        return state.process[name.removeprefix("process_")]
    return _quantity(state, name)


@pytest.fixture(scope="module")
def v2_finals():
    param_sets = [validate(V2_BUSY)] + [
        validate({**V2_BUSY, name: V2_VARIANTS[name][0]}) for name in V2_NAMES
    ]
    seeds = [RunSeed(11, 0, 0)] * len(param_sets)
    return run_batch(_v2_world(), param_sets, seeds, V2_WEEKS, record_weeks=[V2_WEEKS]).final


def test_every_v2_parameter_is_covered():
    """Each parameter added since v2 is varied here, or (the exit rates of an open service,
    which a closed cohort ignores) in tests/test_open_service.py."""
    names = list(REGISTRY)
    assert set(V2_VARIANTS) | set(EXIT_PARAMETERS) == set(names[names.index(V2_NAMES[0]) :])
    for name, (value, _) in V2_VARIANTS.items():
        assert value != REGISTRY[name].default, name
        REGISTRY[name].check(value)


@pytest.mark.parametrize("name", V2_NAMES)
def test_v2_parameter_takes_effect(v2_finals, name):
    run = 1 + V2_NAMES.index(name)
    for quantity in V2_VARIANTS[name][1]:
        values = _v2_quantity(v2_finals, quantity)
        assert not np.array_equal(values[0], values[run]), (
            f"{name} = {V2_VARIANTS[name][0]} left {quantity} unchanged"
        )
