"""Posterior ensemble files: reading them and drawing parameter sets from them.

A posterior file (written by ``recovery-sim calibrate``) is Parquet with one column per
registry parameter and a ``weight`` column. Sweeps draw one set per run from that run's
own seed; scenario runs draw ``n`` sets from one seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.errors import MAX_POSTERIOR_BYTES, UserError
from sim.core.parameters import ParameterError, lookup
from sim.files.inputs import check_input_file

__all__ = [
    "PosteriorError",
    "effective_sample_size",
    "posterior_draw",
    "posterior_draws",
    "read_posterior",
    "weighted_median",
    "weighted_quantile",
]


class PosteriorError(UserError):
    """A posterior file that cannot be read or does not match the registry."""


def read_posterior(path: str | Path) -> pd.DataFrame:
    """A posterior ensemble file: registry parameter columns and a ``weight`` column.

    Refused, naming the file and column: not a regular file, not Parquet, no rows or
    no ``weight``, a column that is not a registry parameter, a value outside the
    registry's bounds (or not a number), a weight that is negative or not finite, or
    weights summing to zero.
    """
    path = Path(path)
    check_input_file(path, "posterior file", PosteriorError, limit=MAX_POSTERIOR_BYTES)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise PosteriorError(f"{path}: cannot read a Parquet ensemble: {error}") from None
    if "weight" not in frame.columns or len(frame) == 0 or len(frame.columns) < 2:
        raise PosteriorError(f"{path}: a posterior needs parameter columns and a 'weight' column")
    for name in frame.columns.drop("weight"):
        try:
            parameter = lookup(name, where=str(path))
        except ParameterError as error:
            raise PosteriorError(str(error)) from None
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise PosteriorError(f"{path}: column {name}: values must be numbers")
        bad = column[column.isna() | (column < parameter.low) | (column > parameter.high)]
        if len(bad):
            raise PosteriorError(
                f"{path}: column {name}: row {bad.index[0]} = {bad.iloc[0]!r} is out of "
                f"bounds; allowed: [{parameter.low}, {parameter.high}]"
            )
    weights = frame["weight"]
    if not pd.api.types.is_numeric_dtype(weights) or pd.api.types.is_bool_dtype(weights):
        raise PosteriorError(f"{path}: column weight: values must be numbers")
    values = weights.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise PosteriorError(
            f"{path}: column weight: weights must be finite, >= 0 and not all 0 "
            "(NaN, infinite or negative weights found, or they sum to 0)"
        )
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


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` under ``weights`` (no interpolation).

    The smallest value whose weighted cumulative share reaches ``q``: a particle's value.
    """
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64)[order])
    cumulative /= cumulative[-1]
    return float(values[order][min(int(np.searchsorted(cumulative, q)), len(values) - 1)])


def weighted_median(posterior: pd.DataFrame, name: str) -> float:
    """The weighted median of parameter ``name`` in a posterior ensemble."""
    return weighted_quantile(posterior[name].to_numpy(), posterior["weight"].to_numpy(), 0.5)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size of importance weights: ``(sum w)^2 / sum w^2``."""
    weights = np.asarray(weights, dtype=np.float64)
    return float(weights.sum() ** 2 / (weights**2).sum())
