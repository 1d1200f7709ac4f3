"""sim.faces.reports."""
