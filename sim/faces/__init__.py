"""sim.faces."""
