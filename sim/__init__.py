"""Recovery Pathways: an agent-based simulation of personal mental-health recovery.

The model follows the logic model of Winsper et al. (2020, Clin Psychol Rev
76:101815): recovery-oriented interventions act through four mechanisms and a
sequence of processes on functional, existential and social outcomes, moderated
at the service-user, service and environment levels.

Public entry points:

- :func:`sim.api.simulate` -- parameter sets and seeds in, tidy tables out.
- :class:`sim.model.RecoveryModel` -- one run as a Mesa model.
- ``recovery-sim`` (:func:`sim.cli.main`) -- the command line; ``sim.app:page`` -- the
  teaching app.
- :data:`sim.core.parameters.REGISTRY` -- every parameter with its bounds and source.

The package is layered (docs/ARCHITECTURE.md): :mod:`sim.core` (the model),
:mod:`sim.files`, :mod:`sim.studies` and :mod:`sim.faces`; imports only go downward.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("recovery-pathways")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
