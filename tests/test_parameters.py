"""The parameter registry: declarations, validation and SALib problems."""

import math

import pytest

from sim.core.parameters import (
    LEVELS,
    REGISTRY,
    ParameterError,
    defaults,
    lookup,
    names,
    salib_problem,
    validate,
)


def test_every_parameter_is_fully_declared():
    for p in REGISTRY.values():
        assert p.unit, p.name
        assert p.description and p.source, p.name
        assert p.level in LEVELS
        assert p.low <= p.default <= p.high
        assert p.low < p.high, f"{p.name} has empty bounds"


def test_rates_are_named_with_their_unit():
    for p in REGISTRY.values():
        if p.unit == "1/week":
            assert p.name.endswith("_per_week"), p.name
        if p.unit == "weeks":
            assert p.name.endswith("_weeks"), p.name


def test_every_level_has_parameters():
    for level in LEVELS:
        assert names(level), level


def test_validate_fills_defaults_and_overrides():
    resolved = validate({"unemployment_rate": 0.12})
    assert resolved["unemployment_rate"] == 0.12
    assert resolved["fidelity"] == REGISTRY["fidelity"].default
    assert set(resolved) == set(REGISTRY)


def test_unknown_name_suggests_nearest():
    with pytest.raises(
        ParameterError, match=r"unknown parameter 'unemployment_rte'.*'unemployment_rate'"
    ):
        validate({"unemployment_rte": 0.1})


def test_error_names_the_file():
    with pytest.raises(ParameterError, match=r"^scenarios/x.toml: "):
        validate({"fidelity": 3.0}, where="scenarios/x.toml")


@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan, "high", True, None])
def test_bad_values_are_rejected_with_bounds(value):
    with pytest.raises(
        ParameterError, match=r"professional_attitudes.*\[0\.0, 1\.0\]|not a number"
    ):
        validate({"professional_attitudes": value})


def test_integer_parameters_reject_fractions():
    with pytest.raises(ParameterError, match="whole number"):
        validate({"peer_support_weeks": 10.5})


def test_bounds_are_inclusive():
    p = REGISTRY["unemployment_rate"]
    assert validate({p.name: p.low})[p.name] == p.low
    assert validate({p.name: p.high})[p.name] == p.high


def test_salib_problem_subset_and_groups():
    problem = salib_problem(["unemployment_rate", "motivation_median", "fidelity"], grouped=True)
    assert problem["num_vars"] == 3
    assert problem["names"] == ["unemployment_rate", "motivation_median", "fidelity"]
    assert problem["bounds"][0] == [
        REGISTRY["unemployment_rate"].low,
        REGISTRY["unemployment_rate"].high,
    ]
    assert problem["groups"] == ["environment", "user", "service"]
    assert problem["dists"][0] == "unif"


def test_salib_problem_log_uniform_and_unknown():
    assert salib_problem(["job_finding_probability_per_week"])["dists"] == ["logunif"]
    with pytest.raises(ParameterError, match="did you mean"):
        salib_problem(["fidelty"])
    with pytest.raises(ParameterError, match="at least one"):
        salib_problem([])


def test_salib_problem_samples_with_salib():
    from SALib.sample import sobol

    problem = salib_problem(["unemployment_rate", "job_finding_probability_per_week"])
    x = sobol.sample(problem, 8, seed=1)
    for j, name in enumerate(problem["names"]):
        assert REGISTRY[name].low <= x[:, j].min() and x[:, j].max() <= REGISTRY[name].high


def test_defaults_match_registry():
    assert defaults() == {p.name: p.default for p in REGISTRY.values()}
    assert lookup("fidelity") is REGISTRY["fidelity"]
