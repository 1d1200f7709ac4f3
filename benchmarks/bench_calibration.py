"""Calibration: proposals simulated one at a time (pyABC's samplers) vs in batches.

Usage::

    python benchmarks/bench_calibration.py            # 200 proposals (~1 min)
    python benchmarks/bench_calibration.py --n 50     # quicker

Both arms simulate the same proposals (uniform draws from the priors of
``calibration/fit.toml``, seeded) with one virtual trial per target trial each, in one
process: the baseline calls ``simulate_means`` once per proposal, as a per-particle
sampler would; the batched arm calls it once for all, as ``BatchSampler`` does (one
engine call per trial). The two give identical numbers (checked here); the ratio is the
batching speed-up per core. Results are printed and written to
``results/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from sim.studies.calibration import load_fit, simulate_means  # noqa: E402


def main() -> None:
    """Time per-proposal against batched evaluation of the same proposals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="proposals")
    args = parser.parse_args()
    fit = load_fit(ROOT / "calibration" / "fit.toml")
    generator = np.random.default_rng(2026)
    sets = [
        {name: float(generator.uniform(low, high)) for name, (low, high) in fit.priors.items()}
        for _ in range(args.n)
    ]
    seeds = list(range(args.n))
    simulate_means(fit, sets[:2], seeds[:2], 1)  # compile and load once, outside the timing
    started = time.perf_counter()
    single = [simulate_means(fit, [s], [seed], 1)[0] for s, seed in zip(sets, seeds, strict=True)]
    one_at_a_time = time.perf_counter() - started
    started = time.perf_counter()
    batched = simulate_means(fit, sets, seeds, 1)
    in_batches = time.perf_counter() - started
    same = all(
        np.allclose(list(a.values()), list(b.values()), equal_nan=True)
        for a, b in zip(single, batched, strict=True)
    )
    result = {
        "proposals": args.n,
        "targets": len(fit.targets),
        "one_at_a_time_seconds": round(one_at_a_time, 3),
        "batched_seconds": round(in_batches, 3),
        "ms_per_proposal_one_at_a_time": round(1000 * one_at_a_time / args.n, 2),
        "ms_per_proposal_batched": round(1000 * in_batches / args.n, 2),
        "speed_up": round(one_at_a_time / in_batches, 2),
        "identical_results": bool(same),
        "machine": platform.platform(),
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    out = HERE / "results" / "calibration.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
