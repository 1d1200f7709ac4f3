"""The user-error type and the input limits, in one place.

:class:`UserError` is the base of every error a user can cause with an input
(a file, an option, a value). The command line prints these, and only these, as
one ``error: ...`` line with exit code 2; anything else is a programming error
and shows its traceback. The specific errors (``ParameterError``,
``ScenarioError``, ``TrialError``, ...) subclass it. It is a ``ValueError`` so
code that catches ``ValueError`` keeps working.

The limits bound what an input can ask for before any work starts, so no input
can exhaust the machine (memory, recursion, time) or hang the tool. Each has its
reason next to it; an error message names the knob and the limit.
"""

from __future__ import annotations

import os

__all__ = [
    "BYTES_PER_RUN_WEEK",
    "BYTES_PER_USER",
    "MAX_AGENTS",
    "MAX_DESIGN_POINTS",
    "MAX_EXTENDS_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_GRID_LEVELS",
    "MAX_POSTERIOR_BYTES",
    "MAX_REPLICATES",
    "MAX_TOML_DEPTH",
    "MAX_TRIAL_SIZE",
    "MAX_WEEKS",
    "UserError",
    "available_memory",
    "check_limit",
    "check_memory",
]


class UserError(ValueError):
    """An input the user can fix: printed as ``error: ...`` (exit 2), never a traceback."""


# Horizon: 20 years of weeks; the model's rates are weekly and not meant for longer.
MAX_WEEKS = 1040
# Replicates per scenario or design point: beyond this the Monte Carlo error is
# negligible and the batch only costs memory.
MAX_REPLICATES = 10_000
# Users per run (a scenario's population.size, a trial arm's n_per_arm): the model
# is a service-level model, not a national one, and every user is kept in memory.
MAX_AGENTS = 200_000
# Users simulated by one trial command (n_per_arm x arms x replicate trials): the
# shipped trials need well under 1,000,000; a trial is one batch held in memory.
MAX_TRIAL_SIZE = 20_000_000
# Runs in one experiment design (points x replicates); a sweep of more than this is
# several experiments.
MAX_DESIGN_POINTS = 1_000_000
# Levels of one grid axis.
MAX_GRID_LEVELS = 1_000
# Any input file (scenario, experiment, trial, targets, fit): the largest shipped
# file is a few KB; a big "file" is a mistake (or /dev/zero).
MAX_FILE_BYTES = 1_000_000
# A posterior ensemble (Parquet): a few thousand rows of a few dozen columns.
MAX_POSTERIOR_BYTES = 100_000_000
# Nesting of tables and arrays in a TOML file; scenario files need 3.
MAX_TOML_DEPTH = 32
# Length of an ``extends`` chain; the shipped scenarios use 2.
MAX_EXTENDS_DEPTH = 32
# Rough lower bounds for the memory estimate: one user's state, network and draws in a
# batch, and one run-week of the tidy weekly series (every metric as a row).
BYTES_PER_USER = 512
BYTES_PER_RUN_WEEK = 4096


def check_limit(value: int, limit: int, knob: str, where: str = "") -> int:
    """Return ``value`` if ``value <= limit``, else raise :class:`UserError` naming ``knob``."""
    if value > limit:
        prefix = f"{where}: " if where else ""
        raise UserError(f"{prefix}{knob} = {value} exceeds the limit of {limit:,}")
    return value


def available_memory() -> int | None:
    """The machine's physical memory in bytes (None where ``os.sysconf`` cannot say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(users: int, runs: int, weeks: int, knob: str, where: str = "") -> None:
    """Raise :class:`UserError` naming ``knob`` if a batch would not fit in memory.

    The estimate is ``users x runs x BYTES_PER_USER + runs x weeks x BYTES_PER_RUN_WEEK``
    (rough, and low on purpose: only a batch that certainly cannot fit is refused).
    """
    memory = available_memory()
    estimate = users * runs * BYTES_PER_USER + runs * weeks * BYTES_PER_RUN_WEEK
    if memory is not None and estimate > memory:
        prefix = f"{where}: " if where else ""
        raise UserError(
            f"{prefix}{users:,} users x {runs:,} runs x {weeks:,} weeks needs about "
            f"{estimate / 2**30:,.1f} GiB, more than this machine's {memory / 2**30:,.1f} GiB; "
            f"lower {knob}"
        )
