"""Public entry point: ``sim.api.simulate`` (the run contract; see :mod:`sim.studies.run`)."""

from sim.studies.run import SimulationOutput, simulate

__all__ = ["SimulationOutput", "simulate"]
