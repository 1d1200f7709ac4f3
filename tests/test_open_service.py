"""An open service (docs/ODD.md §7.15): referrals, leaving, waiting lists and their bookkeeping."""

import numpy as np
import pytest

from sim.core.engine import run_batch
from sim.core.open_service import EXIT_REASONS, NEVER, expected_referrals, referral_weeks
from sim.core.parameters import REGISTRY, validate
from sim.core.seeding import RunSeed
from sim.core.world import OpenService, Team, WorldError, make_world
from sim.files.scenario import ScenarioError, from_mapping

IPS = "supported_employment"


def _open_world(places: int, weeks: int, caseload: int = 300, rate: float = 4.0, **service):
    size = caseload + int(rate * weeks * 1.2) + 100
    return make_world(
        size,
        teams=[Team("a", capacity={IPS: places})],
        offer={IPS: 0.5},
        service=OpenService(caseload, rate, **service),
    )


def _run(world, weeks, runs=8, params=None, **kwargs):
    ps = [validate(params or {})] * runs
    return run_batch(world, ps, [RunSeed(1, 0, r) for r in range(runs)], weeks, **kwargs)


def test_littles_law_holds_for_the_waiting_list_in_steady_state():
    """Mean list length = joining rate x mean time on the list (those placed and those who left).

    A service of 45 IPS places, four referrals a week and 78-week episodes: the list is held
    in check by users leaving the service while they wait. Over the second half of ten years
    (past the start-up backlog), pooled over 8 runs.
    """
    weeks = 520
    m = _run(_open_world(45, weeks), weeks).metrics
    window = slice(weeks // 2 + 1, weeks + 1)
    length = m["list_length"][:, window].mean()
    joining = m["list_joins"][:, window].mean()
    placed, left = m["places_filled"][:, window], m["list_removals"][:, window]
    waited = np.nansum(m["waiting_weeks"][:, window] * placed) + np.nansum(
        m["removed_waiting_weeks"][:, window] * left
    )
    mean_wait = waited / (placed.sum() + left.sum())
    assert length > 20 and left.sum() > 0, "the test needs a real queue with users leaving it"
    assert length == pytest.approx(joining * mean_wait, rel=0.03)


def test_list_length_adds_up_to_the_waits_week_by_week():
    """The finite-horizon form of Little's law, exactly: the weeks users spent on a list
    (sum of the weekly list lengths) are the waits of those placed, of those who left
    unplaced, and of those still waiting at the horizon.
    """
    weeks = 120
    result = _run(_open_world(15, weeks), weeks, runs=3)
    m, final = result.metrics, result.final
    on_list = m["list_length"][:, 1:].sum(axis=1)
    placed = np.nansum(m["waiting_weeks"] * m["places_filled"], axis=1)
    left = np.nansum(m["removed_waiting_weeks"] * m["list_removals"], axis=1)
    still = np.where(final.waiting, weeks - final.wait_since, 0).sum(axis=(1, 2))
    assert (m["list_removals"].sum(axis=1) > 0).all() and (still > 0).all()
    np.testing.assert_allclose(on_list, placed + left + still, rtol=1e-12)


def test_users_join_lists_only_while_in_service():
    weeks = 60
    world = _open_world(10, weeks)
    result = _run(world, weeks, runs=3, agent_series=("referral_week", "exit_week"))
    final = result.final
    # no one referred after the horizon's last step ever asked for a place
    unseen = final.referral_week >= weeks
    assert unseen.any()
    asked = final.enrolled | final.waiting | final.completed | final.dropped
    assert not asked[unseen].any()
    # nobody who left is still in an intervention or on a list
    gone = final.exit_week != NEVER
    assert gone.any()
    assert not (final.enrolled | final.waiting)[gone].any()
    # whoever asked for a place asked after referral
    asked_at = np.where(asked, final.wait_since, -1).max(axis=2)
    assert (asked_at[asked.any(axis=2)] >= final.referral_week[asked.any(axis=2)]).all()


def test_referrals_arrive_at_the_rate_and_the_caseload_starts_as_set():
    weeks = 400
    world = _open_world(-1 + 1000, weeks, caseload=250, rate=3.0)
    m = _run(world, weeks, runs=4).metrics
    assert (m["caseload"][:, 0] == 250).all()
    assert (m["referrals"][:, 0] == 0).all()
    assert m["referrals"][:, 1:].mean() == pytest.approx(3.0, rel=0.05)


def test_seasonal_referrals_peak_in_the_peak_week():
    service = OpenService(0, 5.0, seasonal_amplitude=0.8, peak_week=10)
    weeks = referral_weeks(service, 20_000, [np.random.default_rng(3)])[0]
    week_of_year = weeks % 52
    near_peak = np.isin(week_of_year, [8, 9, 10, 11, 12]).sum()
    near_trough = np.isin(week_of_year, [34, 35, 36, 37, 38]).sum()
    assert near_peak > 4 * near_trough
    assert expected_referrals(service, 52) == pytest.approx(5.0 * 52, rel=1e-9)


def test_each_exit_reason_follows_its_own_rate():
    """Switch one reason on at a time: only it produces leavers, at about its weekly chance."""
    weeks = 104
    world = _open_world(-1 + 1000, weeks, caseload=600, rate=1.0)
    rates = {
        "recovered": "service_exit_recovered_per_week",
        "moved_on": "service_exit_moved_on_per_week",
        "disengaged": "service_exit_disengaged_per_week",
        "died": "mortality_per_week",
    }
    for reason, name in rates.items():
        params = {other: 0.0 for other in rates.values()}
        params[name] = chance = min(0.01, REGISTRY[name].high)
        m = _run(world, weeks, runs=4, params=params).metrics
        counts = {r: m[f"exits_{r}"].sum() for r in EXIT_REASONS}
        assert counts[reason] > 0
        assert sum(counts.values()) == counts[reason], (reason, counts)
        if reason in ("moved_on", "died"):  # unconditional: the chance x the caseload each week
            expected = chance * m["caseload"][:, :-1].sum()
            assert counts[reason] == pytest.approx(expected, rel=0.15)


def test_a_closed_cohort_has_no_referrals_or_exits_whatever_the_rates():
    world = make_world(200, offer={IPS: 0.5})
    m = _run(world, 30, runs=2, params={"mortality_per_week": 0.001}).metrics
    assert (m["caseload"] == 200).all() and (m["in_service"] == 1.0).all()
    assert m["referrals"].sum() == 0
    assert sum(m[f"exits_{r}"].sum() for r in EXIT_REASONS) == 0


def _scenario(**changes):
    raw = {"name": "s", "horizon_weeks": 52, "population": {"size": 600}}
    raw.update(changes)
    return from_mapping(raw)


def test_scenario_service_table_builds_an_open_world():
    scenario = _scenario(service={"initial_caseload": 200, "referrals_per_week": 4.0})
    assert scenario.world().service == OpenService(200, 4.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"service": {"initial_caseload": 550, "referrals_per_week": 4.0}},
            "population.size = 600 is too small for an open service",
        ),
        (
            {"service": {"initial_caseload": 700, "referrals_per_week": 1.0}},
            "initial_caseload = 700 is more than population.size = 600",
        ),
        (
            {"parameters": {"mortality_per_week": 0.001}},
            "parameters.mortality_per_week acts only in an open service",
        ),
        (
            {"service": {"initial_caseload": 10, "referrals_per_week": 1.0, "peak": 3}},
            "peak",
        ),
    ],
)
def test_bad_service_settings_are_refused_with_the_key(changes, message):
    with pytest.raises(ScenarioError, match=message):
        _scenario(**changes)


def test_world_refuses_a_caseload_larger_than_the_population():
    with pytest.raises(WorldError, match="initial_caseload"):
        make_world(10, service=OpenService(11, 1.0))
