"""Regenerate the saved model-output baseline (on purpose only).

    python tests/baseline/generate.py

Run it only when a change is meant to change model outputs, and mark that change
in CHANGELOG.md as "changes model outputs".
"""

from pathlib import Path

import numpy as np

from sim.core.engine import run_batch
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.core.world import Site, Team, make_world

HERE = Path(__file__).resolve().parent


def baseline_metrics() -> dict[str, np.ndarray]:
    """A small but busy configuration: two sites, capacity, training, every intervention."""
    sites = [Site("a", unemployment_rate=0.05), Site("b", unemployment_rate=0.15)]
    teams = [
        Team("a", site=0, capacity={"peer_support": 10}),
        Team("b", site=1, staff_training=True),
    ]
    offer = {
        "peer_support": 0.4,
        "self_management": 0.3,
        "recovery_education": 0.3,
        "supported_employment": 0.4,
        "supported_housing": 0.2,
        "shared_decision_making": 0.5,
        "case_management": 0.3,
    }
    world = make_world(150, sites=sites, teams=teams, offer=offer)
    params = [validate({}), validate({"motivation_median": 0.7, "public_stigma": 0.3})]
    seeds = [RunSeed(42, 0, 0), RunSeed(42, 1, 0)]
    return run_batch(world, params, seeds, 30).metrics


if __name__ == "__main__":
    np.savez_compressed(HERE / "metrics.npz", **baseline_metrics())
    print(f"wrote {HERE / 'metrics.npz'}")
