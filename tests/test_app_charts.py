"""The app's charts kept between redraws (issue 20): the same picture as a fresh figure."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sim.faces.app import figures
from sim.faces.app.figures import CHARTS, NETWORK_FULL_MAX, chart_png
from sim.faces.app.session import ContextComparison, preset_contexts


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def fresh_png(comparison: ContextComparison, name: str, person: int | None) -> bytes:
    draw = getattr(figures, f"{name}_figure")
    figure = draw(comparison, person) if name in ("network", "pathway") else draw(comparison)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def comparison(n_agents: int, **settings) -> ContextComparison:
    (name_a, a), (name_b, b) = preset_contexts("stigma")
    return ContextComparison(
        n_agents=n_agents,
        seed=2,
        weeks=settings.pop("weeks", 8),
        context_a=a,
        name_a=name_a,
        context_b=b,
        name_b=name_b,
        **settings,
    )


@pytest.mark.parametrize(
    ("n_agents", "offer"),
    [
        (60, {"peer_support": 0.3, "supported_employment": 0.3}),  # every chart, everyone
        (NETWORK_FULL_MAX + 20, {}),  # a sampled network, no package
    ],
)
def test_a_kept_chart_redraws_the_picture_of_a_fresh_figure(n_agents: int, offer: dict) -> None:
    run = comparison(n_agents, offer=offer)
    person = run.runs[0].model.service_users[3].unique_id
    for week in range(5):
        if week:
            run.step()
        if week in (1, 3):
            continue  # a redraw need not follow every step
        for name in CHARTS:
            kept = pixels(chart_png(run, name, person))
            assert np.array_equal(kept, pixels(fresh_png(run, name, person))), (name, week)


def test_a_chart_keeps_its_figure_and_builds_anew_for_another_person() -> None:
    run = comparison(40)
    first = run.runs[0].model.service_users[0].unique_id
    chart_png(run, "outcomes")
    chart_png(run, "pathway", first)
    figure = run._live_charts["outcomes"].chart[0]
    pathway = run._live_charts["pathway"].chart[0]
    run.step()
    chart_png(run, "outcomes")
    assert run._live_charts["outcomes"].chart[0] is figure
    chart_png(run, "pathway", first + 1)
    assert run._live_charts["pathway"].person == first + 1
    assert run._live_charts["pathway"].chart[0] is not pathway
    run.release()
    assert "_live_charts" not in run.__dict__


def test_an_unknown_person_raises_and_keeps_no_chart() -> None:
    from sim.faces.mesa_model import ModelError

    run = comparison(40)
    with pytest.raises(ModelError):
        chart_png(run, "pathway", 10_000)
    assert run._live_charts["pathway"].chart is None


def test_a_blitted_chart_redraws_the_picture_of_a_fresh_figure_every_week() -> None:
    """The effect, stages and doses charts draw only their lines and areas over a kept
    background; an axes whose limits changed is drawn anew, and a figure whose axes
    cannot be kept apart is drawn whole. Week by week, the picture of a fresh figure."""
    run = comparison(120, weeks=20, offer={"peer_support": 0.3, "supported_employment": 0.3})
    for week in range(13):
        if week:
            run.step()
        for name in ("effect", "stages", "doses"):
            kept = pixels(chart_png(run, name))
            assert np.array_equal(kept, pixels(fresh_png(run, name, None))), (name, week)
    redraws = {name: run._live_charts[name].redraws for name in ("effect", "stages", "doses")}
    assert all(counts["blit"] > 0 for counts in redraws.values()), redraws
    assert redraws["stages"]["full"] == 1, redraws  # fixed limits: drawn whole once
    assert redraws["doses"]["panels"] + redraws["effect"]["panels"] > 0, redraws


def test_the_baseline_of_full_draws_is_the_same_picture() -> None:
    run = comparison(40, offer={"peer_support": 0.3})
    for _ in range(3):
        run.step()
        for name in ("effect", "doses"):
            blitted = pixels(chart_png(run, name))
            assert np.array_equal(blitted, pixels(chart_png(run, name, blit=False))), name
    assert run._live_charts["doses (full draws)"].redraws["full"] == 3
