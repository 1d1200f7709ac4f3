"""Files (above the core): schemas and readers of scenario, experiment and posterior files,
designs, shipped data, and output folders with their manifests.
"""
