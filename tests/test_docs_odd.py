"""docs/ODD.md stays in step with the parameter registry.

The ODD description names registry parameters in code spans (inline backticks or
fenced blocks). Two checks:

- every parameter of :data:`sim.core.parameters.REGISTRY` is named in a code span;
- every name in a code span that looks like a parameter (lower-case snake case
  ending in a parameter-like suffix such as ``_per_week`` or ``_multiplier``) is
  a registry parameter, unless it is a known identifier of the code (a state
  field, a metric, a keyword argument of a model function). Names followed by
  ``(`` are functions and are skipped.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from functools import cache
from pathlib import Path

import pytest

from sim.core.logic_model import INTERVENTIONS
from sim.core.parameters import REGISTRY, suggest
from sim.core.seeding import STREAMS

ODD = Path(__file__).resolve().parent.parent / "docs" / "ODD.md"

# Suffixes that mark a name as a parameter; the last word of every user-level and
# structural parameter is added to these (see parameter_suffixes).
BASE_SUFFIXES = (
    "_per_week",
    "_median",
    "_multiplier",
    "_weeks",
    "_rate",
    "_share",
    "_weight",
    "_gain",
    "_probability",
    "_penalty",
    "_gradient",
    "_retention",
    "_setback",
    "_boost",
    "_protection",
    "_rise",
    "_logit",
    "_correlation",
    "_per_point",
    "_internalisation",
    "_participation",
    "_contact",
    "_half_ties",
    "_ties_mean",
)

# Model-layer modules whose identifiers may legitimately appear in ODD.md.
MODEL_MODULES = (
    "sim.core.logic_model",
    "sim.core.parameters",
    "sim.core.seeding",
    "sim.core.world",
    "sim.core.state",
    "sim.core.network",
    "sim.core.rules",
    "sim.core.kernels",
    "sim.core.service_kernels",
    "sim.core.network_kernels",
    "sim.core.engine",
    "sim.core.metrics",
    "sim.studies.effect_sizes",
    "sim.studies.run",
    "two_arm_trial",
)

FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CANDIDATE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def code_spans(markdown: str) -> list[str]:
    """The contents of the fenced blocks and inline code spans of ``markdown``."""
    spans = [match.group(2) for match in FENCE.finditer(markdown)]
    prose = FENCE.sub("", markdown)
    spans += [match.group(2) for match in INLINE.finditer(prose)]
    return spans


def identifiers(spans: list[str]) -> set[str]:
    """Identifiers in code spans that are not immediately called (``name(``)."""
    found = set()
    for span in spans:
        for match in IDENTIFIER.finditer(span):
            if span[match.end() : match.end() + 1] != "(":
                found.add(match.group(0))
    return found


@cache
def parameter_suffixes() -> tuple[str, ...]:
    derived = {
        "_" + name.rsplit("_", 1)[1]
        for name, p in REGISTRY.items()
        if "_" in name and p.level in ("user", "structural")
    }
    return tuple(sorted(set(BASE_SUFFIXES) | derived))


def looks_like_parameter(name: str) -> bool:
    """Lower-case snake case ending in a parameter-like suffix."""
    return bool(CANDIDATE.fullmatch(name)) and name.endswith(parameter_suffixes())


@cache
def code_identifiers() -> frozenset[str]:
    """Names the model code defines: module attributes, dataclass fields, arguments."""
    from sim.core.metrics import METRICS
    from sim.files.costs import ECONOMIC_OUTPUTS

    names: set[str] = set(METRICS) | set(ECONOMIC_OUTPUTS)  # output names
    # the ids of the published targets (calibration/targets.toml) are quoted too
    targets = Path(__file__).resolve().parent.parent / "calibration" / "targets.toml"
    names.update(re.findall(r'^id = "([a-z0-9_]+)"', targets.read_text(), re.MULTILINE))
    for module_name in MODEL_MODULES:
        module = importlib.import_module(module_name)
        for attribute, obj in vars(module).items():
            if getattr(obj, "__module__", module_name) != module_name:
                continue
            names.add(attribute)
            if dataclasses.is_dataclass(obj):
                names.update(field.name for field in dataclasses.fields(obj))
            if callable(obj):
                try:
                    names.update(inspect.signature(obj).parameters)
                except (TypeError, ValueError):
                    pass
    return frozenset(names)


@pytest.fixture(scope="module")
def odd_identifiers() -> set[str]:
    assert ODD.is_file(), f"{ODD} is missing"
    return identifiers(code_spans(ODD.read_text(encoding="utf-8")))


def test_odd_names_every_registry_parameter(odd_identifiers):
    missing = [name for name in REGISTRY if name not in odd_identifiers]
    assert not missing, (
        "docs/ODD.md does not name these registry parameters in backticks; describe "
        f"them in the submodel (or initialisation) that uses them: {missing}"
    )


def test_odd_names_no_unknown_parameter(odd_identifiers):
    unknown = sorted(
        name
        for name in odd_identifiers
        if looks_like_parameter(name) and name not in REGISTRY and name not in code_identifiers()
    )
    hints = [f"{name}{suggest(name)}" for name in unknown]
    assert not unknown, (
        "docs/ODD.md names parameters that are not in the registry (renamed or removed?): "
        + "; ".join(hints)
    )


def test_odd_names_every_intervention_and_stream(odd_identifiers):
    expected = [i.name for i in INTERVENTIONS] + list(STREAMS)
    missing = [name for name in expected if name not in odd_identifiers]
    assert not missing, f"docs/ODD.md does not name these in backticks: {missing}"


def test_heuristic_recognises_parameter_names():
    for name, parameter in REGISTRY.items():
        if parameter.level in ("user", "structural"):
            assert looks_like_parameter(name), name
    assert looks_like_parameter("job_finding_probabilty_per_week")  # a misspelling
    assert looks_like_parameter("hope_learning_rate")
    for name in ("weeks_in", "ever_employed", "in_relapse", "MAX_INITIAL_STUBS", "hope"):
        assert not looks_like_parameter(name) or name in code_identifiers(), name


def test_code_span_parsing():
    text = (
        "Prose `hope_rate_per_week` and ``a `b` c_weight``.\n"
        "```text\np = expit(logit(job_finding_probability_per_week) + shift)\n"
        "f = functioning_target()\n```\n"
        "Not code: unknown_rate_per_week.\n"
    )
    found = identifiers(code_spans(text))
    assert {"hope_rate_per_week", "c_weight", "job_finding_probability_per_week"} <= found
    assert "functioning_target" not in found  # a call, not a parameter
    assert "unknown_rate_per_week" not in found  # prose outside code spans
