"""Posterior predictive virtual trials: each replicate trial with one posterior draw.

A calibration posterior (``recovery-sim calibrate``) is a weighted ensemble of
parameter sets. Running replicate trial r with draw r (resampled by weight) makes
the spread over replicates the posterior predictive distribution of the trial's
estimate: parameter uncertainty plus the sampling noise of a trial of that size.

A draw replaces the trial context's run-level values, so a posterior column that
the trial file sets itself would silently override the file (``[parameters]``,
``[population]``) or be silently ignored (a site's or team's own value wins);
:func:`check_posterior_fits` refuses both. :func:`sim.studies.trials.run_trial`
keeps overriding on purpose: calibration proposes values for the context.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.errors import MAX_REPLICATES, check_limit
from sim.core.world import shadowed
from sim.files.posterior import posterior_draws
from sim.studies.trials import TrialError, TrialExperiment, check_trial_size, run_trial_sets

__all__ = ["check_posterior_fits", "run_trial_posterior", "set_by_file"]


def set_by_file(trial: TrialExperiment, columns: list[str]) -> list[tuple[str, str, object]]:
    """(column, where the trial file sets it, its value) for each clash, in column order."""
    spec = trial.context.spec
    own = {k: ("parameters", v) for k, v in spec.parameters.model_dump().items() if v is not None}
    for key, value in spec.population.model_dump().items():
        if key != "size" and value is not None and key not in own:
            own[key] = ("population", value)
    clashes = [(c, f"{own[c][0]}.{c}", own[c][1]) for c in columns if c in own]
    for text in shadowed(trial.context.world(), {c: math.nan for c in columns}):
        where, value = text.split(" = ")
        clashes.append((where.rsplit(".", 1)[-1], where, value))
    return clashes


def check_posterior_fits(
    trial: TrialExperiment, posterior: pd.DataFrame, source: str | Path = "<posterior>"
) -> None:
    """Refuse a posterior with a column that the trial file sets itself.

    Args:
        trial: The loaded trial.
        posterior: The ensemble (registry columns and ``weight``).
        source: The posterior file, for the message.

    Raises:
        TrialError: Naming the trial file, its key (e.g. ``parameters.X``) and the
            posterior file.
    """
    columns = [c for c in posterior.columns if c != "weight"]
    clashes = set_by_file(trial, columns)
    if clashes:
        column, key, value = clashes[0]
        effect = (
            "would be ignored there (the site's or team's own value wins)"
            if key.startswith(("sites.", "teams."))
            else "would silently override it"
        )
        raise TrialError(
            f"{trial.path}: {key} = {value} is set by the trial file, and the posterior "
            f"{source} has a column {column} whose draws {effect}; remove {key} from the "
            f"trial file (to use the posterior's values) or the column {column} from the "
            "posterior (to keep the trial's value)"
        )


def run_trial_posterior(
    trial: TrialExperiment,
    posterior: pd.DataFrame,
    *,
    replicates: int | None = None,
    seed: int | None = None,
    source: str | Path = "<posterior>",
    max_agent_runs: int = 250_000,
) -> pd.DataFrame:
    """Replicate trials, each with its own posterior draw; one row per replicate.

    Replicate r takes draw r of ``posterior_draws(posterior, replicates, seed)``
    and the run seed ``RunSeed(seed x MAX_REPLICATES + r)``: distinct for every
    replicate and every ``seed``, and the same for the same ``seed``. The
    replicates are batched through :func:`sim.studies.trials.run_trial_sets` (one
    set of one trial per draw). Besides the metric columns, the frame has
    ``posterior.<parameter>`` columns: the values each replicate drew.

    Raises:
        TrialError: If the posterior sets a value the trial file sets
            (:func:`check_posterior_fits`).
    """
    check_posterior_fits(trial, posterior, source)
    replicates = check_limit(replicates or trial.spec.replicates, MAX_REPLICATES, "replicates")
    check_trial_size(trial, replicates)
    seed = trial.spec.seed if seed is None else seed
    draws = posterior_draws(posterior, replicates, seed)
    seeds = [seed * MAX_REPLICATES + r for r in range(replicates)]
    sets = run_trial_sets(trial, draws, seeds, replicates=1, max_agent_runs=max_agent_runs)
    frame = pd.concat(sets, ignore_index=True)
    frame["replicate"] = np.arange(replicates)
    drawn = pd.DataFrame(draws).add_prefix("posterior.")
    return pd.concat([frame, drawn], axis=1)
