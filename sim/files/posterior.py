"""Posterior ensemble files: reading them and drawing parameter sets from them.

A posterior file (written by ``recovery-sim calibrate``) is Parquet with one column per
registry parameter and a ``weight`` column. Sweeps draw one set per run from that run's
own seed; scenario runs draw ``n`` sets from one seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.parameters import ParameterError, lookup

__all__ = ["PosteriorError", "posterior_draw", "posterior_draws", "read_posterior"]


class PosteriorError(ValueError):
    """A posterior file that cannot be read or does not match the registry."""


def read_posterior(path: str | Path) -> pd.DataFrame:
    """A posterior ensemble file: registry parameter columns and a ``weight`` column."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise PosteriorError(f"{path}: cannot read a Parquet ensemble: {error}") from None
    if "weight" not in frame.columns or len(frame) == 0:
        raise PosteriorError(f"{path}: a posterior needs parameter columns and a 'weight' column")
    for name in frame.columns.drop("weight"):
        try:
            lookup(name, where=str(path))
        except ParameterError as error:
            raise PosteriorError(str(error)) from None
    return frame


def posterior_draw(
    posterior: pd.DataFrame, seed: int, design_point: int, replicate: int
) -> dict[str, float]:
    """The posterior draw of one run of a sweep, from its own seed (chunking-independent)."""
    generator = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, design_point, replicate, 0xABC]))
    )
    weights = posterior["weight"].to_numpy()
    row = posterior.iloc[int(generator.choice(len(posterior), p=weights / weights.sum()))]
    return {k: float(row[k]) for k in posterior.columns if k != "weight"}


def posterior_draws(posterior: pd.DataFrame, n: int, seed: int) -> list[dict[str, float]]:
    """``n`` parameter sets resampled from the weighted ensemble (seeded, reproducible)."""
    names = [c for c in posterior.columns if c != "weight"]
    for name in names:
        lookup(name)
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0xABC])))
    weights = posterior["weight"].to_numpy()
    index = generator.choice(len(posterior), size=n, p=weights / weights.sum())
    return [{k: float(posterior.iloc[i][k]) for k in names} for i in index]
