"""Which kind of input file a mapping looks like, for refusing a file given to the wrong command.

The message names the command that takes the file.

Each kind has keys no other kind has at the top level (a scenario's ``sites``, an
experiment's ``design``, a trial's ``n_per_arm``, a fit's ``free``); a file refused
by one loader that has another kind's distinctive keys is named as that kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DISTINCTIVE_KEYS", "wrong_kind"]

DISTINCTIVE_KEYS: dict[str, tuple[str, ...]] = {
    "scenario": ("horizon_weeks", "population", "sites", "teams", "offers", "extends"),
    "experiment": ("design", "outputs", "execution", "overrides", "scenario", "weeks"),
    "trial": ("n_per_arm", "follow_up_weeks", "intervention", "comparator", "metrics"),
    "fit": ("free", "targets", "generations", "population_size", "final_tolerance_quantile"),
}
COMMANDS: dict[str, str] = {
    "scenario": "`recovery-sim run FILE` (or `compare`, `validate`)",
    "experiment": "`recovery-sim sweep FILE` or `recovery-sim sensitivity FILE`",
    "trial": "`recovery-sim trial FILE`",
    "fit": "`recovery-sim calibrate FILE`",
}


def wrong_kind(raw: Mapping[str, Any], expected: str, allowed: Iterable[str]) -> str | None:
    """A sentence naming the kind ``raw`` looks like and its command, or None.

    ``allowed`` are the top-level keys of an ``expected`` file: another kind is named
    only if ``raw`` has one of that kind's distinctive keys that ``expected`` does not
    allow (a trial file has a scenario's ``sites`` too, so only its ``n_per_arm``
    and the like count).
    """
    foreign = set(raw) - set(allowed)
    matches = {
        kind: sorted(foreign & set(distinctive))
        for kind, distinctive in DISTINCTIVE_KEYS.items()
        if kind != expected
    }
    kind = max(matches, key=lambda k: len(matches[k]))  # the kind with most of its keys
    if not matches[kind]:
        return None
    return (
        f"this looks like {_a(kind)} file (it has {', '.join(matches[kind])}), not "
        f"{_a(expected)} file; run it with {COMMANDS[kind]}"
    )


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
