"""External validation: published figures the fit never sees, through the posterior predictive.

A validation file (``calibration/validation.toml``) lists published figures, each with
its citation, value and standard error (or 95% interval), the trial file that reproduces
its design, the trial's metric and why it was chosen. Each figure is checked against the
posterior predictive: ``draws`` parameter sets are drawn from the weighted posterior
ensemble and each runs one virtual trial at the trial's own size, so the predictive
interval holds parameter uncertainty and the trial's sampling noise together. Figures
sharing a trial share its runs.

Check kinds:

- ``interval``: covered if the published value lies inside the 90% predictive interval;
  the standardised residual is ``(median - published) / SE`` (with ``log = true`` both
  on the log scale, SE from the interval's log width);
- ``direction``: covered if the 90% interval lies above 0 (``direction = "positive"``)
  or below it (``"negative"``);
- ``upper_bound``: covered if the 90% interval lies below the published value (an
  uncontrolled figure bounds a controlled effect from above).

With ``fit_file`` the loader refuses a figure whose published target, or whose trial
metric, the fit uses; with ``fit_file`` and ``targets_file`` together, every entry of
the targets file must be fitted, a figure here, or listed under ``[[excluded]]`` with a
reason, so the selection rule is checked rather than only stated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.core.errors import MAX_REPLICATES, UserError, check_limit
from sim.core.seeding import stream_key
from sim.files import shipped
from sim.files.inputs import read_toml_file
from sim.files.outputs import check_output_name
from sim.files.posterior import posterior_draws
from sim.files.scenario import NotBool, Number
from sim.studies.trials import TrialExperiment, check_trial_size, load_trial, run_trial_sets

__all__ = [
    "COLUMNS",
    "Check",
    "Validation",
    "ValidationFileError",
    "load_validation",
    "predictive_values",
    "resolve_trial",
    "run_validation",
    "validation_table",
]

Z95 = 1.959964
COLUMNS = (
    "figure",
    "kind",
    "published",
    "SE",
    "median",
    "pp_low_5",
    "pp_high_95",
    "standardised_residual",
    "covered",
    "note",
)


class ValidationFileError(UserError):
    """A validation file that cannot be used, naming the file and the key."""


class Figure(BaseModel):
    """One published figure and how it is checked."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(min_length=1)] = Field(
        description="The figure's id (unique in the file)."
    )
    kind: Literal["interval", "direction", "upper_bound"] = Field(
        description="How the figure is checked against the 90% predictive interval."
    )
    trial: Annotated[str, Field(min_length=1)] = Field(
        description="The trial file (relative to this file) or a shipped trial's name."
    )
    metric: Annotated[str, Field(min_length=1)] = Field(
        description="The trial's metric compared with the figure."
    )
    citation: Annotated[str, Field(min_length=1)] = Field(
        description="Where the figure is published."
    )
    why: Annotated[str, Field(min_length=1)] = Field(description="Why this figure tests the model.")
    value: Number | None = Field(
        None, description="The published value (interval, upper_bound; not direction)."
    )
    se: Annotated[Number, Field(gt=0)] | None = Field(
        None, description="interval: its standard error (or give interval)."
    )
    interval: tuple[Number, Number] | None = Field(
        None, description="interval: the published 95% interval [low, high] (or give se)."
    )
    log: Annotated[bool, Field(strict=True)] = Field(
        False, description="interval: compare on the log scale (a ratio; value above 0)."
    )
    direction: Literal["positive", "negative"] = Field(
        "positive", description="direction: the sign the 90% interval must have."
    )
    target: str | None = Field(None, description="The figure's id in targets_file, if any.")
    doi: str = Field("", description="The publication's DOI.")
    overlap: str = Field(
        "", description="Data this figure shares with fitted figures, stated openly."
    )

    @model_validator(mode="after")
    def _keys_fit_the_kind(self) -> Figure:
        if self.kind == "interval":
            if self.value is None or (self.se is None) == (self.interval is None):
                raise ValueError("kind = 'interval' needs value and exactly one of se or interval")
        elif self.se is not None or self.interval is not None or self.log:
            raise ValueError(f"kind = {self.kind!r} takes no se, interval or log")
        if self.kind == "upper_bound" and self.value is None:
            raise ValueError("kind = 'upper_bound' needs value (the bound)")
        if self.kind == "direction" and self.value is not None:
            raise ValueError("kind = 'direction' takes no value (it checks the sign)")
        if self.interval is not None and not self.interval[0] < self.interval[1]:
            raise ValueError(f"interval = {list(self.interval)} needs low < high")
        if self.log and (self.value <= 0 or (self.interval and self.interval[0] <= 0)):
            raise ValueError("log = true needs a value and interval above 0 (a ratio)")
        return self


class Excluded(BaseModel):
    """An entry of the targets file that is not a validation figure, and why."""

    model_config = ConfigDict(extra="forbid")
    target: Annotated[str, Field(min_length=1)] = Field(
        description="An id in targets_file that is neither fitted nor a figure here."
    )
    reason: Annotated[str, Field(min_length=1)] = Field(description="Why it is left out.")


class ValidationSpec(BaseModel):
    """The validated content of a validation file."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, AfterValidator(check_output_name)] = Field(
        "validation", description="The validation's name."
    )
    description: str = Field("", description="One line saying what is validated.")
    seed: Annotated[int, Field(ge=0), NotBool] = Field(
        0, description="Seed of the posterior draws and of their virtual trials."
    )
    targets_file: str | None = Field(
        None,
        description="The published targets (relative to this file); with fit_file, every "
        "entry must be fitted, a figure or excluded.",
    )
    fit_file: str | None = Field(
        None,
        description="The fit file (relative to this file); its fitted figures are refused here.",
    )
    figure: Annotated[list[Figure], Field(min_length=1)] = Field(
        description="The published figures checked (at least one)."
    )
    excluded: list[Excluded] = Field(
        [], description="Entries of targets_file left out of validation, with the reason."
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> ValidationSpec:
        ids = [f.id for f in self.figure]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"figure: duplicate ids {duplicates}; each id once")
        return self


@dataclass(frozen=True)
class Check:
    """A figure with its loaded trial and the standard error used in the residual."""

    figure: Figure
    trial: TrialExperiment

    @property
    def se(self) -> float:
        """The SE (log scale with ``log``); NaN for kinds without one."""
        f = self.figure
        if f.se is not None:
            return f.se
        if f.interval is None:
            return math.nan
        low, high = (math.log(v) for v in f.interval) if f.log else f.interval
        return (high - low) / (2 * Z95)

    @property
    def published_interval(self) -> tuple[float, float]:
        """The published 95% interval (given, or value +- 1.96 SE); NaN if none."""
        f = self.figure
        if f.interval is not None:
            return f.interval
        if f.kind != "interval":
            return math.nan, math.nan
        if f.log:
            return f.value * math.exp(-Z95 * self.se), f.value * math.exp(Z95 * self.se)
        return f.value - Z95 * self.se, f.value + Z95 * self.se


@dataclass(frozen=True)
class Validation:
    """A loaded validation file: path, spec and one check per figure."""

    path: Path
    spec: ValidationSpec
    checks: list[Check]


def _spec(path: Path, raw: dict[str, Any]) -> ValidationSpec:
    try:
        return ValidationSpec.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            raise ValidationFileError(f"{path}: {key}: required key missing") from None
        if first["type"] == "extra_forbidden":
            raise ValidationFileError(f"{path}: {key}: unknown key") from None
        shown = first.get("input")
        if isinstance(shown, dict):
            raise ValidationFileError(f"{path}: {key}: {message}") from None
        raise ValidationFileError(f"{path}: {key} = {shown!r} is invalid: {message}") from None


def resolve_trial(base: Path, text: str, key: str) -> Path:
    """A trial path relative to ``base``'s folder, else a shipped trial's name.

    Raises:
        ValidationFileError: Naming ``base``, ``key`` and the shipped trials.
    """
    candidate = base.parent / text
    if candidate.is_file():
        return candidate
    found = shipped.find("trial", Path(text).name)
    if found is not None:
        return found
    raise ValidationFileError(
        f"{base}: {key} = {text!r}: no such trial file beside it and no shipped trial of "
        f"that name; shipped: {', '.join(shipped.names('trial'))}"
    )


def _fitted(fit_path: Path) -> tuple[set[str], set[tuple[str, str]]]:
    """The target ids and (trial name, metric) pairs a fit file fits."""
    raw = read_toml_file(fit_path, "fit file", ValidationFileError)
    refs = raw.get("targets", [])
    ids: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for i, ref in enumerate(refs if isinstance(refs, list) else [None]):
        if not isinstance(ref, dict) or not all(
            isinstance(ref.get(k), str) for k in ("trial", "metric")
        ):
            raise ValidationFileError(f"{fit_path}: targets.{i}: needs string trial and metric")
        trial = load_trial(resolve_trial(fit_path, ref["trial"], f"targets.{i}.trial"))
        pairs.add((trial.spec.name, ref["metric"]))
        ids |= {m.target for m in trial.spec.metrics if m.name == ref["metric"] and m.target}
    return ids, pairs


def _check_selection(path: Path, spec: ValidationSpec, checks: list[Check]) -> None:
    """Refuse fitted figures; with a targets file, every target must be accounted for."""
    targets: dict[str, Any] | None = None
    if spec.targets_file is not None:
        from sim.studies.calibration import load_targets

        targets = load_targets(path.parent / spec.targets_file)
        for i, item in [(i, c.figure) for i, c in enumerate(checks)] + list(
            enumerate(spec.excluded)
        ):
            key = f"figure.{i}.target" if isinstance(item, Figure) else f"excluded.{i}.target"
            if item.target is not None and item.target not in targets:
                raise ValidationFileError(
                    f"{path}: {key} = {item.target!r} is not an id in {spec.targets_file}; "
                    f"ids: {', '.join(targets)}"
                )
    if spec.fit_file is None:
        return
    fitted_ids, fitted_pairs = _fitted(path.parent / spec.fit_file)
    for i, check in enumerate(checks):
        f = check.figure
        if f.target in fitted_ids or (check.trial.spec.name, f.metric) in fitted_pairs:
            raise ValidationFileError(
                f"{path}: figure.{i} ({f.id}): target {f.target!r} / metric {f.metric!r} is "
                f"fitted by {spec.fit_file}; a validation figure must come from a study "
                "whose figures are not fitted"
            )
    if targets is not None:
        accounted = (
            fitted_ids | {c.figure.target for c in checks} | {e.target for e in spec.excluded}
        )
        missing = [t for t in targets if t not in accounted]
        if missing:
            raise ValidationFileError(
                f"{path}: {spec.targets_file} entries {missing} are neither fitted by "
                f"{spec.fit_file}, a figure here, nor listed under [[excluded]] with a reason"
            )


def load_validation(path: str | Path) -> Validation:
    """Read and validate a validation file, its trials and its selection rule.

    Raises:
        ValidationFileError: Naming the file, the key, the value and what is allowed.
    """
    path = Path(path)
    spec = _spec(path, read_toml_file(path, "validation file", ValidationFileError))
    checks = []
    for i, figure in enumerate(spec.figure):
        trial = load_trial(resolve_trial(path, figure.trial, f"figure.{i}.trial"))
        metrics = [m.name for m in trial.spec.metrics]
        if figure.metric not in metrics:
            raise ValidationFileError(
                f"{path}: figure.{i}.metric = {figure.metric!r} is not a metric of trial "
                f"{trial.spec.name} ({trial.path}); allowed: {', '.join(metrics)}"
            )
        checks.append(Check(figure=figure, trial=trial))
    _check_selection(path, spec, checks)
    return Validation(path=path, spec=spec, checks=checks)


def _draw_seeds(seed: int, trial_name: str, draws: int) -> list[int]:
    """One run seed per draw from (seed, trial name, draw), independent of the file's order."""
    sequence = np.random.SeedSequence([seed, stream_key(trial_name)])
    return [int(s) for s in sequence.generate_state(draws, dtype=np.uint32)]


def predictive_values(
    validation: Validation, posterior: pd.DataFrame, *, draws: int = 200, seed: int | None = None
) -> pd.DataFrame:
    """One simulated value per (draw, figure): a column per figure id, a row per draw.

    Each distinct trial runs once per draw (batched in one call of
    :func:`~sim.studies.trials.run_trial_sets`); figures sharing a trial share its runs.
    """
    check_limit(draws, MAX_REPLICATES, "draws")
    seed = validation.spec.seed if seed is None else seed
    param_sets = posterior_draws(posterior, draws, seed)
    trials: dict[Path, TrialExperiment] = {}
    for check in validation.checks:
        trials.setdefault(check.trial.path.resolve(), check.trial)
    frames = {}
    for key, trial in trials.items():
        check_trial_size(trial, draws)
        seeds = _draw_seeds(seed, trial.spec.name, draws)
        frames[key] = pd.concat(
            run_trial_sets(trial, param_sets, seeds, replicates=1), ignore_index=True
        )
    return pd.DataFrame(
        {
            c.figure.id: frames[c.trial.path.resolve()][c.figure.metric].to_numpy(np.float64)
            for c in validation.checks
        }
    )


def _row(check: Check, values: np.ndarray) -> dict[str, Any]:
    f = check.figure
    finite = values[np.isfinite(values)]
    low, median, high = np.quantile(finite, [0.05, 0.5, 0.95]) if len(finite) else [math.nan] * 3
    published = math.nan if f.value is None else f.value
    residual, notes = math.nan, []
    if f.kind == "interval":
        covered = bool(low <= published <= high)
        if f.log:
            residual = (
                (math.log(median) - math.log(published)) / check.se if median > 0 else math.nan
            )
            notes.append("SE and residual on the log scale")
        else:
            residual = (median - published) / check.se
        side = "inside" if covered else ("above" if published > high else "below")
        notes.insert(0, f"published value {side} the 90% predictive interval")
    elif f.kind == "direction":
        covered = bool(low > 0) if f.direction == "positive" else bool(high < 0)
        sign = "above" if f.direction == "positive" else "below"
        notes.append(f"90% predictive interval {'' if covered else 'not '}entirely {sign} 0")
    else:
        covered = bool(high < published)
        notes.append(f"90% predictive interval {'' if covered else 'not '}entirely below the bound")
    if len(finite) < len(values):
        notes.append(f"{len(values) - len(finite)} of {len(values)} draws undefined (NaN)")
    if f.overlap:
        notes.append(f"overlap: {f.overlap}")
    published_low, published_high = check.published_interval
    return {
        "figure": f.id,
        "kind": f.kind,
        "published": published,
        "SE": check.se,
        "median": median,
        "pp_low_5": low,
        "pp_high_95": high,
        "standardised_residual": residual,
        "covered": covered,
        "note": "; ".join(notes),
        "published_low": published_low,
        "published_high": published_high,
        "trial": check.trial.spec.name,
        "metric": f.metric,
        "citation": f.citation,
    }


def validation_table(validation: Validation, predictive: pd.DataFrame) -> pd.DataFrame:
    """One row per figure.

    Columns: those of :data:`COLUMNS`, then the published interval, trial, metric and
    citation.
    """
    return pd.DataFrame(
        [_row(c, predictive[c.figure.id].to_numpy(np.float64)) for c in validation.checks]
    )


def run_validation(
    validation: Validation, posterior: pd.DataFrame, *, draws: int = 200, seed: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The validation table and the predictive values behind it.

    Args:
        validation: The loaded validation file.
        posterior: A posterior ensemble (:func:`sim.files.posterior.read_posterior`).
        draws: Parameter sets drawn from it, one virtual trial per set and trial.
        seed: Seed of the draws and the runs (default: the file's).
    """
    predictive = predictive_values(validation, posterior, draws=draws, seed=seed)
    return validation_table(validation, predictive), predictive
