"""The one parameter registry: every number the model uses, declared once.

Each :class:`Parameter` carries its default, bounds, unit, distribution for
uncertainty, moderator level and source. Scenario validation, SALib problems,
calibration priors and app controls are all derived from :data:`REGISTRY`.

The declarations themselves live in :mod:`sim.core.registry_data` (each a
:class:`sim.core.parameter.Parameter`); this module holds the machinery that reads them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from sim.core.parameter import DISTRIBUTIONS, LEVELS, Parameter, ParameterError
from sim.core.registry_data import PARAMETERS

__all__ = [
    "LEVELS",
    "REGISTRY",
    "Parameter",
    "ParameterError",
    "defaults",
    "lookup",
    "names",
    "salib_problem",
    "suggest",
    "validate",
]


def _build_registry() -> dict[str, Parameter]:
    registry: dict[str, Parameter] = {}
    for parameter in PARAMETERS:
        if parameter.name in registry:
            raise ParameterError(f"parameter {parameter.name!r} declared twice")
        registry[parameter.name] = parameter
    return registry


REGISTRY: dict[str, Parameter] = _build_registry()


def names(level: str | None = None) -> list[str]:
    """Names of all parameters, or of one moderator level, in declaration order."""
    if level is not None and level not in LEVELS:
        raise ParameterError(f"level {level!r} not in {LEVELS}")
    return [p.name for p in REGISTRY.values() if level is None or p.level == level]


def defaults() -> dict[str, float]:
    """Mapping of every parameter name to its default value."""
    return {p.name: p.default for p in REGISTRY.values()}


def suggest(name: str) -> str:
    """A ' (did you mean ...?)' hint naming the nearest registered parameter, or ''."""
    close = difflib.get_close_matches(name, REGISTRY, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def lookup(name: str, *, where: str = "") -> Parameter:
    """Return the registered parameter ``name`` or raise with a suggestion."""
    try:
        return REGISTRY[name]
    except KeyError:
        prefix = f"{where}: " if where else ""
        raise ParameterError(
            f"{prefix}unknown parameter {name!r}{suggest(name)}; "
            "see `recovery-sim params` for the list"
        ) from None


def validate(values: Mapping[str, object], *, where: str = "") -> dict[str, float]:
    """Check a partial parameter mapping against the registry.

    Args:
        values: Parameter names to values; names must be registered.
        where: Context (file name) for error messages.

    Returns:
        The full parameter set: defaults overridden by ``values``.

    Raises:
        ParameterError: For an unknown name (with the nearest valid name) or a
            value outside the parameter's bounds.
    """
    resolved = defaults()
    for name, value in values.items():
        resolved[name] = lookup(name, where=where).check(value, where=where)
    return resolved


def salib_problem(subset: Iterable[str] | None = None, *, grouped: bool = False) -> dict:
    """A SALib problem dict for ``subset`` of the registry (all parameters if None).

    Args:
        subset: Parameter names to vary.
        grouped: If true, add ``groups`` with each parameter's moderator level.

    Returns:
        Dict with ``num_vars``, ``names``, ``bounds``, ``dists`` (SALib's names:
        ``unif`` or ``logunif``) and, if grouped, ``groups``.
    """
    chosen = [lookup(n) for n in (subset if subset is not None else REGISTRY)]
    if not chosen:
        raise ParameterError("a SALib problem needs at least one parameter")
    problem = {
        "num_vars": len(chosen),
        "names": [p.name for p in chosen],
        "bounds": [[p.low, p.high] for p in chosen],
        "dists": [DISTRIBUTIONS[p.distribution] for p in chosen],
    }
    if grouped:
        problem["groups"] = [p.level for p in chosen]
    return problem
