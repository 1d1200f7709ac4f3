"""Files, above the core.

Schemas and readers of scenario, experiment and posterior files, designs, shipped
data, and output folders with their manifests.
"""
