"""The standard sensitivity sweep end to end, and the full analysis estimated from it.

Usage::

    python benchmarks/bench_analysis.py                  # the standard sweep (~2 min)
    python benchmarks/bench_analysis.py --quick          # base N = 16, 26 weeks (seconds)
    python benchmarks/bench_analysis.py --full           # the full analysis, measured

The standard sweep (issue 8): Sobol' / Saltelli design over 12 levers (4 per moderator
level and 4 mechanism rates), base N = 256, first and total order only, so
256 x (12 + 2) = 3,584 design points; 3 replicates (10,752 runs); 1,000 users; 104 weeks;
the combined-package scenario; only the week-104 outcomes recorded; the executor's process
pool on 2 workers, worker start-up included.

The full analysis (base N = 1,024: 14,336 design points x 5 replicates = 71,680 runs,
otherwise the same) is estimated by scaling the measured seconds by the ratio of runs
(6.67): cost is linear in runs (see bench_core's scaling exponents) and start-up is paid
once, so the estimate errs slightly long. ``--full`` runs the full analysis itself instead
(results in ``results/analysis-full.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from sim.files.experiment import load_experiment  # noqa: E402
from sim.studies.sweep import run_sweep  # noqa: E402

LEVERS = (
    # user level
    "motivation_median",
    "self_stigma_median",
    "symptom_severity_median",
    "work_history_share",
    # service level
    "professional_attitudes",
    "staff_training_participation",
    "usual_care_contact",
    "fidelity",
    # environment level
    "unemployment_rate",
    "public_stigma",
    "housing_availability",
    # a mechanism rate
    "hope_rate_per_week",
)
FULL_RUNS = 1024 * (len(LEVERS) + 2) * 5

EXPERIMENT = """
name = "bench-analysis"
scenario = "{scenario}"
overrides = ["population.size={agents}"]
seed = 8
replicates = {replicates}
weeks = {weeks}
[design]
method = "saltelli"
points = {points}
second_order = false
{levers}
[outputs]
metrics = ["employed", "personal_recovery", "early_stage", "connectedness"]
weeks = [{weeks}]
[execution]
chunk_size = {chunk}
"""


def write_experiment(
    folder: Path, *, points: int, replicates: int, weeks: int, agents: int, chunk: int
) -> Path:
    """The benchmark experiment file, in ``folder``."""
    path = folder / "analysis.toml"
    path.write_text(
        EXPERIMENT.format(
            scenario=(ROOT / "scenarios" / "combined_package.toml").as_posix(),
            agents=agents,
            replicates=replicates,
            weeks=weeks,
            points=points,
            chunk=chunk,
            levers="\n".join(f"[parameters.{name}]" for name in LEVERS),
        )
    )
    return path


def run_once(path: Path, out: Path, workers: int) -> tuple[dict, float]:
    """One sweep; returns its manifest and wall seconds."""
    started = time.perf_counter()
    manifest = run_sweep(load_experiment(path), out, backend="process", workers=workers, force=True)
    return manifest, time.perf_counter() - started


def main() -> None:
    """Run the sweep, print the result, write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="base N = 16, 26 weeks")
    mode.add_argument(
        "--full",
        action="store_true",
        help="the full analysis: base N = 1,024, 5 replicates (measured, not scaled)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=16, help="runs per chunk (default 16)")
    args = parser.parse_args()
    spec = {
        "points": 16 if args.quick else 1024 if args.full else 256,
        "replicates": 5 if args.full else 3,
        "weeks": 26 if args.quick else 104,
        "agents": 1000,
        "chunk": args.chunk,
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = write_experiment(Path(tmp), **spec)
        manifest, seconds = run_once(path, Path(tmp) / "sweep", args.workers)
        runs = manifest["runs"]
        steps = runs * manifest["agents"] * manifest["weeks"]
        full = seconds * FULL_RUNS / runs * (104 / spec["weeks"])
        label = "measured" if runs == FULL_RUNS and spec["weeks"] == 104 else "estimated"
        rows.append(
            {
                "workers": args.workers,
                "runs": runs,
                "agent_steps": steps,
                "seconds": round(seconds, 1),
                "agent_steps_per_s": round(steps / seconds),
                "full_analysis_estimate_min": round(full / 60, 1),
                "full_analysis_is": label,
            }
        )
        print(
            f"{runs:,} runs in {seconds:7.1f} s = {steps / seconds:,.0f} agent-steps/s; "
            f"full analysis ({FULL_RUNS:,} runs x 1,000 users x 104 weeks) {label} "
            f"{full / 60:.1f} min",
            flush=True,
        )
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "platform": platform.platform(),
            "load_average_1_5_15": os.getloadavg(),
        },
        "quick": args.quick,
        "config": spec,
        "levers": list(LEVERS),
        "full_analysis_runs": FULL_RUNS,
        "rows": rows,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = (
        HERE
        / "results"
        / (
            "analysis-quick.json"
            if args.quick
            else "analysis-full.json"
            if args.full
            else "analysis.json"
        )
    )
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    tmp_out.replace(out)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
