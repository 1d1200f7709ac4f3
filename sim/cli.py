"""Public entry point: the ``recovery-sim`` command (``sim.cli:main``; see :mod:`sim.faces.cli`)."""

from sim.faces.cli.main import main

__all__ = ["main"]
