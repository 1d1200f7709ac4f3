"""sim.faces.cli."""
