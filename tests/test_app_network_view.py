"""The app's network view (issue 20): everyone in a small run, a captioned sample in a large one."""

from __future__ import annotations

import numpy as np

from sim.faces.app.figures import (
    NETWORK_FULL_MAX,
    NETWORK_SAMPLE,
    network_caption,
    network_figure,
    network_sample,
)
from sim.faces.app.session import ContextComparison


def people_drawn(figure) -> list[int]:
    """Dots of people plotted in each panel (the scatter tagged ``people``)."""
    return [
        len(c.get_offsets())
        for ax in figure.axes
        for c in ax.collections
        if c.get_gid() == "people"
    ]


def test_a_large_run_draws_a_captioned_sample_of_ego_networks() -> None:
    comparison = ContextComparison(n_agents=1000, seed=3, weeks=4, context_b={})
    comparison.step()
    figure = network_figure(comparison, person=17)
    drawn = people_drawn(figure)
    assert len(drawn) == 2  # A and B
    assert all(0 < n <= NETWORK_SAMPLE for n in drawn), drawn
    sample, egos = network_sample(comparison, 17)
    assert drawn == [len(sample)] * 2 and egos >= 1
    assert comparison.runs[0].model.user(17).column in sample
    caption = figure.get_suptitle().replace("\n", " ")
    assert caption == network_caption(comparison, 17).replace("\n", " ")
    assert "1,000 people" in caption
    assert f"shown are {len(sample)} of them" in caption
    assert f"ego networks of {egos} people" in caption
    # the same sample after another step: the picture does not jump
    comparison.step()
    assert np.array_equal(network_sample(comparison, 17)[0], sample)


def test_a_small_run_draws_everyone_without_a_sample_caption() -> None:
    assert NETWORK_FULL_MAX >= 200
    comparison = ContextComparison(n_agents=200, seed=3, weeks=4)
    comparison.step()
    figure = network_figure(comparison, person=5)
    assert people_drawn(figure) == [200]
    assert figure.get_suptitle() == ""
    assert network_caption(comparison).startswith("All 200 people")
