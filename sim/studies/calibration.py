"""Calibration against published trials with pyABC's ABC-SMC, and the posterior ensemble.

``calibration/fit.toml`` names the free structural parameters (uniform priors
over the registry's bounds unless narrowed), the targets (a metric of a trial
file under ``experiments/trials/`` linked to a published figure in
``calibration/targets.toml``) and the ABC-SMC settings.

Noise. A published figure ``y`` is read as ``y = mu(theta) + e`` with ``e`` of the
published standard error ``SE`` (width of the 95% interval / 3.92). One evaluation
runs each targeted trial ``replicates_per_evaluation`` (R) times at its own size and
averages, so the simulated mean carries Monte Carlo noise of SD ``sigma / sqrt(R)``,
``sigma`` being one virtual trial's SD (measured once per fit at the centre of the
prior, :func:`noise_scales`). The distance is the Euclidean norm of the residuals
standardised by ``sqrt(SE**2 + sigma**2 / R)``: at the true parameters it follows a
chi distribution with one degree of freedom per target. The final tolerance is that
distribution's ``final_tolerance_quantile`` (default 95%), so a parameter set is
accepted in the last generation as often as a goodness-of-fit test at that level
would keep it -- not when one lucky draw lands unusually close. Earlier generations
use the weighted median of the previous distances (pyABC's adaptive schedule),
floored at the final tolerance.

Batches. :class:`sim.studies.abc_batch.BatchSampler` draws proposals in batches,
runs each trial once for the whole batch (one engine call on the trial's world,
:func:`sim.studies.trials.run_trial_sets`), split over worker processes, and hands
the results to pyABC's own acceptance step in proposal order.

The ABC history lives in an SQLite database, so an interrupted fit resumes from
its last finished generation. pyABC draws from numpy's global random state, which
its database does not store; so the fit runs one generation at a time and seeds
that state from (seed, generation) before each. The fit is then reproducible from
the file and its seed whatever the number of workers, and a fit resumed after any
finished generation gives the same posterior as one run straight through (a
generation interrupted half-way is discarded and redone from its start).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from sim.core.errors import UserError
from sim.core.parameters import REGISTRY, ParameterError, lookup
from sim.files.inputs import read_toml_file
from sim.files.outputs import check_output_name, output_lock
from sim.files.scenario import NotBool, Number
from sim.studies.processes import interrupts_allowed, interrupts_held
from sim.studies.trials import TrialExperiment, load_trial, run_trial_sets

__all__ = [
    "CalibrationError",
    "Fit",
    "Target",
    "fit_history",
    "load_fit",
    "load_targets",
    "noise_scales",
    "run_fit",
    "simulate_means",
    "simulate_sets",
    "stored_generations",
]

Z95 = 1.959964


class CalibrationError(UserError):
    """A fit specification or calibration state that cannot be used."""


class Prior(BaseModel):
    """Bounds of a uniform prior (default: the registry's)."""

    model_config = ConfigDict(extra="forbid")
    low: Number | None = Field(
        None, description="Lower bound of the prior (default: the registry's lower bound)."
    )
    high: Number | None = Field(
        None, description="Upper bound of the prior (default: the registry's upper bound)."
    )


class TargetRef(BaseModel):
    """A trial metric to fit, optionally with a stated scale."""

    model_config = ConfigDict(extra="forbid")
    trial: str = Field(description="The trial file, relative to this file.")
    metric: str = Field(
        description="A metric of that trial naming a published figure (target, target_key)."
    )
    scale: Annotated[Number, Field(gt=0)] | None = Field(
        None,
        description="Standard error of the figure, where the targets file gives no interval.",
    )
    why_scale: str = Field("", description="Where the scale comes from.")
    structural: str = Field(  # why the model cannot reach this figure, if it cannot
        "", description="Why the model cannot reach this figure, if it cannot (for the report)."
    )


class FitSpec(BaseModel):
    """The validated content of a fit file."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, AfterValidator(check_output_name)] = Field(
        "fit", description="The fit's name."
    )
    description: str = Field("", description="One line saying what is fitted.")
    seed: Annotated[int, Field(ge=0), NotBool] = Field(
        0, description="Seed of the fit (proposals and simulations)."
    )
    population_size: Annotated[int, Field(ge=5, le=100_000), NotBool] = Field(
        1000, description="ABC-SMC particles accepted per generation."
    )
    generations: Annotated[int, Field(ge=1, le=100), NotBool] = Field(
        12, description="Most ABC-SMC generations run."
    )
    replicates_per_evaluation: Annotated[int, Field(ge=1, le=64), NotBool] = Field(
        1, description="Virtual trials averaged per target in one evaluation (R)."
    )
    final_tolerance_quantile: Annotated[Number, Field(gt=0, lt=1)] = Field(
        0.95,
        description="Quantile of the chi distribution (one df per target) used as the "
        "final tolerance.",
    )
    final_tolerance_snap: Annotated[Number, Field(ge=0, le=1)] = Field(
        0.0,
        description="A generation whose median tolerance is within this fraction above the "
        "final tolerance runs at the final tolerance instead (0: never snap).",
    )
    noise_replicates: Annotated[int, Field(ge=4, le=1000), NotBool] = Field(
        32,
        description="Virtual trials at the prior centre that measure one trial's SD (sigma).",
    )
    minimum_effective_sample_size: Annotated[int, Field(ge=1), NotBool] = Field(
        300,
        description="The fit stops once a generation at the final tolerance reaches this "
        "effective sample size (or generations run out).",
    )
    database: str = Field(
        "runs/fit.db",
        description="The ABC history (SQLite, .db), inside this file's folder; resumable.",
    )
    posterior: str = Field(
        "posterior.parquet",
        description="The posterior ensemble written (.parquet), inside this file's folder.",
    )
    targets_file: str = Field(
        "targets.toml", description="The published targets, relative to this file."
    )
    predictive_draws: Annotated[int, Field(ge=10, le=100_000), NotBool] = Field(
        400, description="Posterior draws for the posterior predictive check of the report."
    )
    free: dict[str, Prior] = Field(
        description="The registry parameters fitted, one table each: a uniform prior."
    )
    targets: list[TargetRef] = Field(description="The trial metrics fitted to published figures.")


@dataclass(frozen=True)
class Target:
    """A published figure with the scale used in the distance."""

    name: str
    trial: TrialExperiment
    metric: str
    observed: float
    scale: float
    citation: str
    interval: tuple[float, float] | None
    structural: str = ""


@dataclass(frozen=True)
class Fit:
    """A loaded fit: spec, priors, targets and file locations."""

    path: Path
    spec: FitSpec
    priors: dict[str, tuple[float, float]]
    targets: list[Target]

    @property
    def database(self) -> Path:
        """The ABC history database."""
        return self.path.parent / self.spec.database

    @property
    def posterior_path(self) -> Path:
        """The posterior ensemble file."""
        return self.path.parent / self.spec.posterior

    def trials(self) -> dict[str, TrialExperiment]:
        """The distinct trials the targets need, by name."""
        return {t.trial.spec.name: t.trial for t in self.targets}

    @property
    def final_epsilon(self) -> float:
        """The last generation's tolerance: a chi quantile with one df per target."""
        from scipy.stats import chi

        return float(chi.ppf(self.spec.final_tolerance_quantile, len(self.targets)))


def load_targets(path: Path) -> dict[str, dict[str, Any]]:
    """The published targets by id."""
    raw = read_toml_file(Path(path), "targets file", CalibrationError)
    targets = raw.get("target", [])
    if not isinstance(targets, list):
        raise CalibrationError(f"{path}: target must be an array of tables ([[target]])")
    by_id: dict[str, dict[str, Any]] = {}
    for i, target in enumerate(targets):
        if not isinstance(target, dict) or not isinstance(target.get("id"), str):
            raise CalibrationError(f"{path}: target.{i}: each [[target]] needs a string id")
        if target["id"] in by_id:
            raise CalibrationError(f"{path}: target.{i}: duplicate id {target['id']!r}")
        by_id[target["id"]] = target
    return by_id


def observed_and_scale(
    target: dict[str, Any], key: str
) -> tuple[float, float | None, tuple[float, float] | None]:
    """The published value of ``key``, the SE implied by its interval, and the interval.

    Difference intervals scale per-arm shares by 1/sqrt(2) (each arm carries half
    the variance of the difference); a range is read as a 95% interval.
    """
    if key == "difference":
        value = target["value_intervention"] - target["value_comparator"]
        interval = tuple(target["difference_ci"])
        return value, (interval[1] - interval[0]) / (2 * Z95), interval
    if key == "value_range":
        low, high = target["value_range"]
        return (low + high) / 2, (high - low) / (2 * Z95), (low, high)
    value = float(target[key])
    for ci_key in (f"{key}_ci", "ci" if key == "value" else ""):
        if ci_key and ci_key in target:
            interval = tuple(target[ci_key])
            return value, (interval[1] - interval[0]) / (2 * Z95), interval
    for ci_key in ("difference_ci", "adjusted_difference_ci"):
        if ci_key in target and key.startswith("value_"):
            width = target[ci_key][1] - target[ci_key][0]
            return value, width / (2 * Z95) / math.sqrt(2), None
    return value, None, None


def _target(
    ref: TargetRef,
    fit_path: Path,
    published: dict[str, dict[str, Any]],
    targets_path: Path | str = "targets file",
) -> Target:
    trial = load_trial(fit_path.parent / ref.trial)
    metrics = {m.name: m for m in trial.spec.metrics}
    if ref.metric not in metrics:
        raise CalibrationError(
            f"{fit_path}: targets: trial {ref.trial} has no metric "
            f"{ref.metric!r}; it has {', '.join(metrics)}"
        )
    metric = metrics[ref.metric]
    if metric.target not in published or metric.target_key is None:
        raise CalibrationError(
            f"{fit_path}: metric {ref.metric!r} of {ref.trial} names no "
            "published figure (target and target_key)"
        )
    source = published[metric.target]
    try:
        value, scale, interval = observed_and_scale(source, metric.target_key)
        value = float(value)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        detail = f"missing key {error}" if isinstance(error, KeyError) else str(error)
        raise CalibrationError(
            f"{targets_path}: target {metric.target!r}, key "
            f"{metric.target_key!r} (for {ref.trial} metric {ref.metric!r}) is malformed: "
            f"{detail}; it needs a number and, for an interval, a [low, high] pair"
        ) from None
    if not math.isfinite(value):
        raise CalibrationError(
            f"{targets_path}: target {metric.target!r}, key "
            f"{metric.target_key!r} = {value} must be a finite number"
        )
    scale = ref.scale or scale
    if scale is None:
        raise CalibrationError(
            f"{fit_path}: target {ref.metric!r} has no published interval; "
            "give `scale` (and `why_scale`) in the fit file"
        )
    return Target(
        name=f"{trial.spec.name}:{ref.metric}",
        trial=trial,
        metric=ref.metric,
        observed=value,
        scale=scale,
        citation=source["citation"],
        interval=interval,
        structural=ref.structural,
    )


def load_fit(path: str | Path) -> Fit:
    """Read and validate a fit file, its targets and their trials."""
    path = Path(path)
    raw = read_toml_file(path, "fit file", CalibrationError)
    try:
        spec = FitSpec.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise CalibrationError(
            f"{path}: {key} is invalid: {first['msg'].removeprefix('Value error, ')}"
        ) from None
    if not spec.free:
        raise CalibrationError(
            f"{path}: free = {{}} is invalid: name at least one registry "
            "parameter to fit, e.g. [free.ips_job_finding_multiplier]"
        )
    _check_own_file(path, "database", spec.database, ".db", _is_abc_database)
    _check_own_file(path, "posterior", spec.posterior, ".parquet", _is_posterior)
    priors = {}
    for name, prior in spec.free.items():
        try:
            parameter = lookup(name, where=f"{path}: free")
        except ParameterError as error:
            raise CalibrationError(str(error)) from None
        try:
            priors[name] = parameter.narrowed(prior.low, prior.high)
        except ParameterError as error:
            raise CalibrationError(f"{path}: free.{error}") from None
    targets_path = path.parent / spec.targets_file
    published = load_targets(targets_path)
    targets = [_target(ref, path, published, targets_path) for ref in spec.targets]
    _check_free_not_fixed_by_trials(path, list(priors), targets)
    return Fit(path=path, spec=spec, priors=priors, targets=targets)


def _check_free_not_fixed_by_trials(path: Path, free: list[str], targets: list[Target]) -> None:
    """Refuse a free parameter that a target's trial file sets itself (one value, one meaning).

    The fit would silently override the trial's own value (or, on a site or team, be
    silently ignored there).
    """
    from sim.studies.trial_posterior import set_by_file

    for target in targets:
        clashes = set_by_file(target.trial, free)
        if clashes:
            name, key, value = clashes[0]
            raise CalibrationError(
                f"{path}: free.{name}: the target trial {target.trial.path} sets {key} = "
                f"{value} itself, which the fit would override; remove it from the trial "
                f"file or do not fit {name}"
            )


def _check_own_file(path: Path, key: str, value: str, suffix: str, is_own: Any) -> None:
    """``key`` names a ``suffix`` file inside the fit file's folder, new or the tool's own.

    The database and the posterior are rewritten by a fit, so they may not point
    outside the fit's folder or at a file that the tool did not write.
    """
    folder = path.parent
    relative = Path(value)
    allowed = (
        f"allowed: a relative path ending in {suffix} inside the fit file's folder "
        f"{folder}, without '..'"
    )
    if (
        relative.is_absolute()
        or ".." in relative.parts
        or relative.suffix != suffix
        or relative.name in ("", suffix)
        or value != value.strip()
    ):
        raise CalibrationError(f"{path}: {key} = {value!r} is invalid; {allowed}")
    target = folder / relative
    try:
        target.resolve().relative_to(folder.resolve())
    except (ValueError, OSError, RuntimeError):
        raise CalibrationError(
            f"{path}: {key} = {value!r} leads outside {folder} (through a symbolic link); {allowed}"
        ) from None
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise CalibrationError(f"{path}: {key} = {value!r}: {error.strerror or error}") from None
    if not stat.S_ISREG(mode) or not is_own(target):
        what = "calibration database" if key == "database" else "posterior ensemble"
        raise CalibrationError(
            f"{path}: {key} = {value!r} names an existing file that is not "
            f"a {what} written by recovery-sim; refusing to overwrite it "
            "(choose another name, or move the file)"
        )


def _is_abc_database(path: Path) -> bool:
    """Whether ``path`` is an SQLite database with pyABC's tables (read-only check)."""
    try:
        with path.open("rb") as stream:
            if stream.read(16) != b"SQLite format 3\x00":
                return False
        connection = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=1)
        try:
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            connection.close()
    except (OSError, sqlite3.Error):
        return False
    return {"abc_smc", "populations"} <= tables


def _is_posterior(path: Path) -> bool:
    """Whether ``path`` is a Parquet file with a ``weight`` column (a posterior ensemble)."""
    import pyarrow.parquet as pq

    try:
        with path.open("rb") as stream:
            if stream.read(4) != b"PAR1":
                return False
        return "weight" in pq.read_schema(path).names
    except (OSError, ValueError, TypeError):
        return False


def stored_generations(fit: Fit) -> int:
    """Finished ABC generations in the fit's database (0 if none; read-only)."""
    if not fit.database.exists():
        return 0
    try:
        connection = sqlite3.connect(f"file:{fit.database.resolve()}?mode=ro", uri=True, timeout=5)
        try:
            max_t = connection.execute("SELECT max(t) FROM populations").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error:
        return 0
    return 0 if max_t is None or max_t < 0 else int(max_t) + 1


def simulate_sets(
    fit: Fit, param_sets: list[dict[str, float]], seeds: list[int], replicates: int
) -> dict[str, list[np.ndarray]]:
    """Per target, the ``replicates`` simulated values of each parameter set (batched)."""
    values: dict[str, list[np.ndarray]] = {}
    rounded = [_rounded(params) for params in param_sets]
    for name, trial in fit.trials().items():
        frames = run_trial_sets(trial, rounded, seeds, replicates=replicates)
        for target in fit.targets:
            if target.trial.spec.name == name:
                values[target.name] = [f[target.metric].to_numpy() for f in frames]
    return values


def simulate_means(
    fit: Fit, param_sets: list[dict[str, float]], seeds: list[int], replicates: int
) -> list[dict[str, float]]:
    """Each parameter set's targets, averaged over ``replicates`` virtual trials.

    A replicate whose metric is undefined (e.g. a relative risk with no event in the
    control arm) is left out of the mean; all undefined gives nan (far away).
    """
    values = simulate_sets(fit, param_sets, seeds, replicates)
    means = []
    for i in range(len(param_sets)):
        row = {}
        for name, per_set in values.items():
            finite = per_set[i][np.isfinite(per_set[i])]
            row[name] = float(finite.mean()) if len(finite) else float("nan")
        means.append(row)
    return means


def _rounded(params: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v)) if REGISTRY[k].integer else float(v) for k, v in params.items()}


def noise_scales(fit: Fit) -> dict[str, float]:
    """Each target's distance scale: ``sqrt(SE**2 + sigma**2 / R)``.

    ``sigma`` is the SD of one virtual trial's figure over ``noise_replicates``
    replicate trials at the centre of the prior (seeded from the fit's seed), and R
    is ``replicates_per_evaluation``: the Monte Carlo error of an evaluation's mean.
    """
    centre = {name: (low + high) / 2 for name, (low, high) in fit.priors.items()}
    values = simulate_sets(fit, [centre], [fit.spec.seed], fit.spec.noise_replicates)
    scales = {}
    for target in fit.targets:
        simulated = values[target.name][0]
        sigma = float(np.nanstd(simulated, ddof=1)) if np.isfinite(simulated).sum() > 1 else 0.0
        scales[target.name] = math.sqrt(
            target.scale**2 + sigma**2 / fit.spec.replicates_per_evaluation
        )
    return scales


def distance(
    fit: Fit,
    simulated: dict[str, float],
    observed: dict[str, float],
    scales: dict[str, float] | None = None,
) -> float:
    """Euclidean distance of standardised residuals; a missing (nan) figure counts as far away.

    ``scales`` default to the published standard errors alone.
    """
    total = 0.0
    for target in fit.targets:
        scale = scales[target.name] if scales else target.scale
        residual = (simulated[target.name] - observed[target.name]) / scale
        total += residual * residual if np.isfinite(residual) else 1e6
    return math.sqrt(total)


def run_fit(
    fit: Fit,
    *,
    resume: bool = False,
    force: bool = False,
    verbose: bool = False,
    workers: int = 1,
) -> pd.DataFrame:
    """Run (or resume) ABC-SMC; write and return the weighted posterior ensemble.

    A fresh fit over a database that holds finished generations is refused
    unless ``force`` (which deletes them) or ``resume``. The database is locked
    while the fit runs, so two fits of one file cannot both write it. With
    ``verbose``, pyABC's per-generation progress (epsilon, acceptance) is shown.
    ``workers`` processes simulate each batch (the result does not depend on it).

    The folders of the database and the posterior are created if needed (and removed
    again, if still empty, when the fit fails). A database that cannot be created or
    written (a read-only folder, a parent that is a file, SQLite refusing to write) is
    a :class:`CalibrationError` naming the fit file and its ``database`` key; a
    database this fit created is then removed.

    Raises:
        CalibrationError: If stored generations would be lost, or the database or the
            posterior cannot be written.
        sim.files.outputs.OutputError: If another process is fitting to the database.
    """
    stored = stored_generations(fit)
    if stored and not resume and not force:
        raise CalibrationError(
            f"{fit.database} already holds {stored} finished generation(s) "
            "of this fit; use --resume to continue them or --force to start "
            "again (deleting them)"
        )
    if resume and stored:
        _check_database_format(fit)  # read-only: pyABC would add its tables to any file
    made = _writable_folder(fit, "database", fit.database)
    try:
        made += _writable_folder(fit, "posterior", fit.posterior_path)
        existed = fit.database.exists()
        with output_lock(fit.database, option=f"{fit.path}: database"):
            try:
                return _run_fit(fit, resume=resume, verbose=verbose, workers=workers)
            except Exception as error:
                if not _is_database_error(error):
                    raise
                if not existed:  # nothing of the user's: leave no half-made database
                    for path in (
                        fit.database,
                        fit.database.with_name(fit.database.name + "-journal"),
                    ):
                        path.unlink(missing_ok=True)
                detail = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
                raise CalibrationError(
                    f"{fit.path}: database = {fit.spec.database!r}: cannot read or write the "
                    f"calibration database {fit.database}: {detail} (--force starts the fit "
                    "again, deleting it; or choose another database)"
                ) from None
    except BaseException:
        for folder in reversed(made):  # folders this fit created, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _check_database_format(fit: Fit) -> None:
    """Refuse (read-only, before pyABC opens it) a database not in this pyABC's format.

    pyABC creates its missing tables in whatever database it opens, before checking
    the format version, so a database from another pyABC version (or a damaged one)
    would be modified and then fail.
    """
    import pyabc.storage.db_model as model
    from pyabc.storage.version import __db_version__

    try:
        connection = sqlite3.connect(f"file:{fit.database.resolve()}?mode=ro", uri=True, timeout=5)
        try:
            names = [
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            columns = {
                name: {row[1] for row in connection.execute(f'PRAGMA table_info("{name}")')}
                for name in names
            }
            versions = (
                [row[0] for row in connection.execute("SELECT version_num FROM version")]
                if "version" in columns
                else []
            )
        finally:
            connection.close()
    except sqlite3.Error as error:
        problem = str(error)
    else:
        missing = [
            f"{table.name}.{column.name}"
            for table in model.Base.metadata.sorted_tables
            for column in table.columns
            if column.name not in columns.get(table.name, set())
        ]
        if versions != [__db_version__]:
            problem = (
                f"its format version is {versions[0] if versions else '0'}, "
                f"this pyABC reads {__db_version__}"
            )
        elif missing:
            problem = f"it lacks {', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}"
        else:
            return
    raise CalibrationError(
        f"{fit.path}: database = {fit.spec.database!r}: cannot resume from "
        f"{fit.database}: {problem} (--force starts the fit again, deleting it; or choose "
        "another database)"
    )


def _writable_folder(fit: Fit, key: str, path: Path) -> list[Path]:
    """Make the folder of ``path`` (the fit's ``key`` file) if needed; check it is writable.

    Returns the folders created (outermost first), so that a failed fit can remove them.

    Raises:
        CalibrationError: Naming the fit file and ``key``, if the folder cannot be made
            or written (as root, permissions are not checked by the system).
    """
    where = f"{fit.path}: {key} = {getattr(fit.spec, key)!r}"
    folder = path.parent
    missing = [f for f in [folder, *folder.parents] if not os.path.lexists(f)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CalibrationError(
            f"{where}: cannot create its folder {folder}: {error.strerror or error}"
        ) from None
    made = list(reversed(missing))
    if not os.access(folder, os.W_OK | os.X_OK) or (
        os.path.lexists(path) and not os.access(path, os.W_OK)
    ):
        for created in reversed(made):
            with contextlib.suppress(OSError):
                created.rmdir()
        unwritable = folder if not os.access(folder, os.W_OK | os.X_OK) else path
        raise CalibrationError(
            f"{where}: cannot write {unwritable}: permission denied; make it writable "
            f"or choose another {key}"
        )
    return made


def _is_database_error(error: BaseException) -> bool:
    """Whether ``error`` is SQLite (or pyABC) failing to use the database (not a bug)."""
    if isinstance(error, sqlite3.OperationalError):
        return True
    if isinstance(error, AssertionError) and str(error).startswith("Database has version"):
        return True  # pyABC's check of its database format (a database of another version)
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover -- pyABC needs sqlalchemy
        return False
    return isinstance(error, OperationalError)


def _run_fit(fit: Fit, *, resume: bool, verbose: bool, workers: int) -> pd.DataFrame:
    import pyabc

    from sim.studies.abc_batch import (
        BatchSampler,
        DefensiveTransition,
        FlooredQuantileEpsilon,
        PrimedModel,
    )

    logging.getLogger("ABC").setLevel(logging.INFO if verbose else logging.WARNING)
    url = f"sqlite:///{fit.database.resolve()}"
    done = _finished_generations(fit) if resume else 0
    if not done:
        fit.database.unlink(missing_ok=True)  # checked: absent, empty or this fit's own
    scales = noise_scales(fit)
    final = fit.final_epsilon
    # pyABC's database writes cannot be cut short safely: Ctrl+C and SIGTERM wait
    # for the next simulation batch (see sim.studies.processes)
    with interrupts_held(), _BatchEvaluator(fit, workers) as evaluate:
        # One generation per pyABC run, each by a fresh ABCSMC loaded from the database,
        # with numpy's global state seeded from (seed, generation) first: generation t is
        # computed from the stored generation t - 1 alone, the same whether the fit ran
        # straight through or was resumed (pyABC's in-memory state is never carried over).
        while done < fit.spec.generations and not _reached_final_epsilon(fit, done):
            _seed_generation(fit, done)
            abc = pyabc.ABCSMC(
                PrimedModel(),
                pyabc.Distribution(
                    **{n: pyabc.RV("uniform", lo, hi - lo) for n, (lo, hi) in fit.priors.items()}
                ),
                lambda x, y: distance(fit, x, y, scales),
                population_size=fit.spec.population_size,
                sampler=BatchSampler(evaluate, first_rate=_last_acceptance_rate(fit, done)),
                eps=FlooredQuantileEpsilon(
                    final, first=done == 0, snap=fit.spec.final_tolerance_snap
                ),
                transitions=DefensiveTransition(),
            )
            if done:
                abc.load(url, 1)
            else:
                abc.new(url, {t.name: t.observed for t in fit.targets})
            abc.run(minimum_epsilon=final, max_nr_populations=1)
            now = _finished_generations(fit)
            if now <= done:  # pyABC stopped (e.g. no particle accepted)
                break
            done = now
    return write_posterior(fit)


class _BatchEvaluator:
    """Simulates a batch of proposals, split over worker processes (context manager)."""

    def __init__(self, fit: Fit, workers: int) -> None:
        self.fit, self.workers, self.pool = fit, max(1, int(workers)), None

    def __enter__(self) -> Any:
        if self.workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            from sim.studies.processes import die_with_parent

            self.pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is None:
            return
        if exc[0] is None:
            self.pool.shutdown(wait=True)
            return
        # stopped (Ctrl+C, SIGTERM) or failed: do not wait for a batch in flight, which
        # interpreter exit would otherwise join (the next resume recomputes the generation)
        workers = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(timeout=10)

    def __call__(self, param_sets: list[dict[str, float]], seeds: list[int]) -> list[dict]:
        with interrupts_allowed():
            return self._simulate(param_sets, seeds)

    def _simulate(self, param_sets: list[dict[str, float]], seeds: list[int]) -> list[dict]:
        replicates = self.fit.spec.replicates_per_evaluation
        if self.pool is None or len(param_sets) < 2 * self.workers:
            return simulate_means(self.fit, param_sets, seeds, replicates)
        bounds = np.linspace(0, len(param_sets), self.workers + 1).astype(int)
        futures = [
            self.pool.submit(
                _simulate_in_worker, str(self.fit.path), param_sets[a:b], seeds[a:b], replicates
            )
            for a, b in itertools.pairwise(bounds)
        ]
        return [row for future in futures for row in future.result()]


_WORKER_FITS: dict[str, Fit] = {}


def _simulate_in_worker(
    path: str, param_sets: list[dict[str, float]], seeds: list[int], replicates: int
) -> list[dict[str, float]]:
    if path not in _WORKER_FITS:
        _WORKER_FITS[path] = load_fit(path)
    return simulate_means(_WORKER_FITS[path], param_sets, seeds, replicates)


def _last_acceptance_rate(fit: Fit, done: int) -> float:
    """The last finished generation's acceptance rate (1 before the first: the prior)."""
    if done == 0:
        return 1.0
    return float(fit_history(fit).iloc[-1]["acceptance_rate"])


def _seed_generation(fit: Fit, generation: int) -> None:
    """Seed numpy's global state (pyABC draws from it) for one generation of the fit."""
    np.random.seed([fit.spec.seed, generation])  # noqa: NPY002 -- pyABC's global state


def _reached_final_epsilon(fit: Fit, done: int) -> bool:
    """Whether the last stored generation ran at the final tolerance with enough ESS.

    Generations at the final tolerance repeat (each proposing from the last) until the
    effective sample size reaches ``minimum_effective_sample_size`` or ``generations``
    runs out.
    """
    if done == 0:
        return False
    last = fit_history(fit).iloc[-1]
    return bool(
        last["epsilon"] <= fit.final_epsilon * (1 + 1e-12)
        and last["effective_sample_size"]
        >= min(fit.spec.minimum_effective_sample_size, fit.spec.population_size)
    )


def _finished_generations(fit: Fit) -> int:
    if not fit.database.exists():
        return 0
    import pyabc

    history = pyabc.History(f"sqlite:///{fit.database.resolve()}", _id=1)
    return int(history.max_t) + 1 if history.max_t is not None and history.max_t >= 0 else 0


def write_posterior(fit: Fit) -> pd.DataFrame:
    """The last generation's particles and weights, written as Parquet."""
    import pyabc

    from sim.files.outputs import write_atomic

    history = pyabc.History(f"sqlite:///{fit.database.resolve()}", _id=1)
    frame, weights = history.get_distribution(m=0, t=history.max_t)
    posterior = frame[list(fit.priors)].reset_index(drop=True).astype(np.float64)
    posterior.columns.name = None
    posterior["weight"] = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    posterior.attrs["generation"] = int(history.max_t)
    import io

    buffer = io.BytesIO()
    posterior.to_parquet(buffer, index=False)
    write_atomic(fit.posterior_path, buffer.getvalue())
    return posterior


def fit_history(fit: Fit) -> pd.DataFrame:
    """Per finished generation: epsilon, simulations, acceptance rate and effective sample size.

    The effective sample size is Kish's ``(sum w)^2 / sum w^2`` of the importance weights.
    """
    import pyabc

    from sim.files.posterior import effective_sample_size

    history = pyabc.History(f"sqlite:///{fit.database.resolve()}", _id=1)
    populations = history.get_all_populations()
    rows = []
    for row in populations[populations["t"] >= 0].itertuples():
        _, weights = history.get_distribution(m=0, t=int(row.t))
        weights = np.asarray(weights, dtype=np.float64)
        rows.append(
            {
                "generation": int(row.t),
                "epsilon": float(row.epsilon),
                "simulations": int(row.samples),
                "particles": int(row.particles),
                "acceptance_rate": int(row.particles) / int(row.samples),
                "effective_sample_size": effective_sample_size(weights),
            }
        )
    return pd.DataFrame(rows)
