"""Saved baseline of model outputs: any change of output for a fixed seed is flagged.

If a change is meant to change outputs, regenerate with
``python tests/baseline/generate.py`` and mark CHANGELOG.md "changes model outputs".
"""

import importlib.util
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "baseline"


def _generator():
    spec = importlib.util.spec_from_file_location("baseline_generate", HERE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_outputs_match_the_saved_baseline_bit_for_bit():
    saved = np.load(HERE / "metrics.npz")
    current = _generator().baseline_metrics()
    assert sorted(saved.files) == sorted(current), "the set of metrics changed"
    changed = [
        name
        for name in current
        if not np.array_equal(saved[name], current[name], equal_nan=True)  # NaN: no one to average
    ]
    assert not changed, (
        f"model outputs changed for {changed}; if intended, regenerate with "
        "`python tests/baseline/generate.py` and mark CHANGELOG.md"
    )
