"""sim.faces.app."""
