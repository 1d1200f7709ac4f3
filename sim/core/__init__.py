"""The model core, the lowest layer.

The logic model as data, the parameter registry, seeding, world, state, network, the
rules of the weekly schedule and their compiled drivers, metrics and the batched
engine. Imports nothing from the layers above.
"""
