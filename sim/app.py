"""Public entry point: the teaching app, ``solara run sim.app:page`` (see :mod:`sim.faces.app`)."""

from sim.faces.app.page import Page, page

__all__ = ["Page", "page"]
