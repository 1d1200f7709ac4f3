"""sim.studies."""
