"""Faces (top layer): what people touch: the command line, the teaching app, the Mesa
model, reports and figures.
"""
