"""sim.files."""
