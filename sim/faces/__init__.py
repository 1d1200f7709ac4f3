"""Faces, the top layer: what people touch.

The command line, the teaching app, the Mesa model, reports and figures.
"""
