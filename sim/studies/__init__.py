"""Studies, above files.

The one run contract (:mod:`sim.studies.run`) and what is built on it: scenario
comparison, virtual trials, calibration, sweeps and sensitivity analysis.
"""
