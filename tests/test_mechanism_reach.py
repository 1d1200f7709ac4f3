"""The realised mechanism x outcome effects against the logic model's declared links.

For each mechanism, every user is offered an intervention whose profile is that
mechanism alone (weight 1), against the same intervention with an all-zero profile
(paired on common random numbers: participation itself, which adds to meaning, is
the same in both arms). A declared direct effect (mechanism -> process, or
mechanism -> process -> outcome in sim.core.logic_model) must be distinguishable
from zero (95% interval); an outcome the declared links cannot reach from the
mechanism must not move at all (exactly zero: the draws are shared).
"""

import numpy as np
import pytest
from mutants import _profile
from scipy import stats

from sim.core import compiled
from sim.core.logic_model import (
    ALTERNATIVE_LINKS,
    MECHANISM_LINKS,
    MECHANISMS,
    PROCESS_LINKS,
    USER_INTERVENTIONS,
)
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.core.world import make_world
from sim.studies.run import run_simulations

CARRIER = "case_management"  # a one-to-one intervention: no group ties
OUTCOMES = {  # declared node -> metric
    "knowledge": "knowledge",
    "self_efficacy": "self_efficacy",
    "trust": "trust",
    "hope": "hope",
    "self_stigma": "self_stigma",
    "empowerment": "empowerment",
    "meaning": "meaning",
    "motivation": "motivation",
    "connectedness": "connectedness",
    "employed": "employed",
    "housed": "housed",
    "functioning": "functioning",
    "personal_recovery": "personal_recovery",
    "social_inclusion": "social_inclusion",
    "hospital": "admissions",
}
REPLICATES, N_AGENTS, WEEKS = 8, 1000, 52


def _edges():
    edges = {}
    for link in (*MECHANISM_LINKS, *PROCESS_LINKS):
        edges.setdefault(link.source, set()).add(link.target)
    return edges


def declared(mechanism):
    """(direct, reachable): nodes within two declared links of the mechanism, and all."""
    edges = _edges()
    first = edges.get(mechanism, set())
    direct = set(first) | {t for node in first for t in edges.get(node, ())}
    reachable, frontier = set(), [mechanism]
    while frontier:
        node = frontier.pop()
        for target in edges.get(node, ()):
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    return direct, reachable


def carrier_profile(weights):
    """The carrier intervention's mechanism profile replaced by ``weights`` (tests/mutants.py)."""
    profile = compiled.PROFILE.copy()
    profile[USER_INTERVENTIONS.index(CARRIER)] = weights
    return _profile(profile)


def _run(weights, params=None):
    world = make_world(N_AGENTS, offer={CARRIER: 1.0})
    seeds = [RunSeed(5, 0, r) for r in range(REPLICATES)]
    with carrier_profile(weights):
        runs = run_simulations(
            world,
            [validate(params or {})] * REPLICATES,
            seeds,
            WEEKS,
            metrics=sorted(set(OUTCOMES.values())),
            record_weeks=[WEEKS],
        )
    return {name: values[:, -1] for name, values in runs.metrics.items()}


@pytest.fixture(scope="module")
def realised():
    """mechanism -> outcome -> (mean effect, interval low, interval high)."""
    control = _run(np.zeros(len(MECHANISMS)))
    table = {}
    for index, mechanism in enumerate(MECHANISMS):
        arm = _run(np.eye(len(MECHANISMS))[index])
        row = {}
        for node, metric in OUTCOMES.items():
            diff = arm[metric] - control[metric]
            half = stats.t.ppf(0.975, REPLICATES - 1) * diff.std(ddof=1) / np.sqrt(REPLICATES)
            row[node] = (float(diff.mean()), float(diff.mean() - half), float(diff.mean() + half))
        table[mechanism] = row
    print("\nrealised mechanism x outcome effects at 52 weeks (mean; * = interval excludes 0)")
    print(f"{'':24s}" + "".join(f"{n[:10]:>11s}" for n in OUTCOMES))
    for mechanism, row in table.items():
        cells = "".join(
            f"{m:+10.4f}{'*' if lo > 0 or hi < 0 else ' '}" for m, lo, hi in row.values()
        )
        print(f"{mechanism:24s}{cells}")
    return table


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_declared_direct_effects_are_realised(realised, mechanism):
    direct, _ = declared(mechanism)
    missing = [
        node
        for node in OUTCOMES
        if node in direct
        and not (realised[mechanism][node][1] > 0 or realised[mechanism][node][2] < 0)
    ]
    assert not missing, f"{mechanism}: declared but not realised: {missing}"


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_undeclared_outcomes_do_not_move(realised, mechanism):
    _, reachable = declared(mechanism)
    moved = [
        node for node in OUTCOMES if node not in reachable and realised[mechanism][node][0] != 0.0
    ]
    assert not moved, f"{mechanism}: moved without a declared path: {moved}"


def test_declared_links_name_known_nodes():
    nodes = set(MECHANISMS) | set(OUTCOMES) | {"engagement", "relapse", "ties"}
    for link in (*MECHANISM_LINKS, *ALTERNATIVE_LINKS, *PROCESS_LINKS):
        assert link.source in nodes and link.target in nodes, link
        assert link.sign in (-1, 1) and link.why and link.provenance, link


@pytest.mark.parametrize("link", ALTERNATIVE_LINKS, ids=lambda link: f"{link.source}-{link.target}")
def test_an_alternative_wiring_acts_only_when_its_weight_is_raised(link):
    # weight 0 (the shipped wiring) is the declared wiring: test_undeclared_outcomes_do_not_move
    # and the saved baseline hold with it; raised, the mechanism moves the new target
    alone = np.eye(len(MECHANISMS))[MECHANISMS.index(link.source)]
    weight = f"{link.source}_to_{link.target}_weight"
    shipped, rewired = _run(alone), _run(alone, {weight: 1.0})
    metric = OUTCOMES[link.target]
    diff = link.sign * (rewired[metric] - shipped[metric])
    half = stats.t.ppf(0.975, REPLICATES - 1) * diff.std(ddof=1) / np.sqrt(REPLICATES)
    assert diff.mean() - half > 0, (link, diff.mean(), half)
