"""Effect sizes computed the way the published trials computed them."""

from __future__ import annotations

import numpy as np

__all__ = ["hedges_g"]


def hedges_g(treated: np.ndarray, control: np.ndarray) -> float:
    """Standardised mean difference (treated - control) / pooled SD, small-sample corrected."""
    n1, n2 = treated.size, control.size
    if n1 < 2 or n2 < 2:
        raise ValueError("each arm needs at least two users")
    pooled = np.sqrt(
        ((n1 - 1) * treated.var(ddof=1) + (n2 - 1) * control.var(ddof=1)) / (n1 + n2 - 2)
    )
    if pooled == 0:
        return 0.0
    correction = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0)
    return float(correction * (treated.mean() - control.mean()) / pooled)
