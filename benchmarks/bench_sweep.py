"""Sweep benchmarks: throughput per backend side by side, and memory as the design grows.

Usage::

    python benchmarks/bench_sweep.py            # standard sweep (a few minutes)
    python benchmarks/bench_sweep.py --quick    # smoke mode (seconds)

1. Throughput: the same experiment (Latin hypercube over 6 levers, 64 points x
   2 replicates, 1,000 users, 104 weeks) run serially, on a process pool of 2 and
   on a Dask local cluster of 2, one after the other in this process; runs/s and
   agent-steps/s, and each backend's ratio to serial. Start-up (spawning workers)
   is included, as a user would see it.
2. Memory: peak resident memory of a serial sweep in a fresh subprocess with
   N and 10 N design points (same chunk size); the ratio should stay near 1
   because chunks are written and dropped as they finish.

Results are printed as a table and written to benchmarks/results/sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from sim.files.experiment import load_experiment  # noqa: E402
from sim.studies.sweep import read_results, run_sweep  # noqa: E402

EXPERIMENT = """
name = "bench"
scenario = "scenario.toml"
seed = 11
replicates = {replicates}
weeks = {weeks}
[design]
method = "latin"
points = {points}
[parameters.motivation_median]
[parameters.professional_attitudes]
[parameters.unemployment_rate]
[parameters.public_stigma]
[parameters.fidelity]
[parameters.job_loss_probability_per_week]
[outputs]
metrics = ["employed", "personal_recovery", "connectedness", "early_stage"]
[execution]
chunk_size = {chunk}
"""
SCENARIO = """
name = "bench-scenario"
[population]
size = {agents}
[offers]
peer_support = 0.3
supported_employment = 0.3
self_management = 0.3
"""


def write_experiment(
    folder: Path, *, points: int, replicates: int, weeks: int, agents: int, chunk: int
) -> Path:
    (folder / "scenario.toml").write_text(SCENARIO.format(agents=agents))
    path = folder / f"bench-{points}.toml"
    path.write_text(
        EXPERIMENT.format(points=points, replicates=replicates, weeks=weeks, chunk=chunk)
    )
    return path


def throughput(path: Path, folder: Path, workers: int) -> list[dict]:
    experiment = load_experiment(path)
    rows, frames = [], {}
    for backend in ("serial", "process", "dask"):
        out = folder / backend
        started = time.perf_counter()
        manifest = run_sweep(experiment, out, backend=backend, workers=workers, force=True)
        seconds = time.perf_counter() - started
        frames[backend] = read_results(out)
        steps = manifest["runs"] * manifest["agents"] * manifest["weeks"]
        rows.append(
            {
                "backend": backend,
                "workers": 1 if backend == "serial" else workers,
                "runs": manifest["runs"],
                "seconds": round(seconds, 2),
                "runs_per_s": round(manifest["runs"] / seconds, 2),
                "agent_steps_per_s": round(steps / seconds),
            }
        )
    identical = all(frames["serial"].equals(f) for f in frames.values())
    base = rows[0]["agent_steps_per_s"]
    for row in rows:
        row["ratio_to_serial"] = round(row["agent_steps_per_s"] / base, 2)
        row["identical_to_serial"] = identical
    return rows


_MEMORY_CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
from sim.studies.sweep import run_sweep
from sim.files.experiment import load_experiment
started = time.perf_counter()
run_sweep(load_experiment({path!r}), {out!r}, backend="serial", force=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - started)
"""


def peak_memory(path: Path, out: Path) -> tuple[float, float]:
    """Peak RSS (MiB) and seconds of a serial sweep in a fresh interpreter."""
    code = _MEMORY_CHILD.format(root=str(ROOT), path=str(path), out=str(out))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kib, seconds = done.stdout.split()
    return int(kib) / 1024, float(seconds)


def memory(folder: Path, points: int, *, weeks: int, agents: int, chunk: int) -> list[dict]:
    rows = []
    for n in (points, 10 * points):
        path = write_experiment(
            folder, points=n, replicates=1, weeks=weeks, agents=agents, chunk=chunk
        )
        mib, seconds = peak_memory(path, folder / f"mem-{n}")
        rows.append(
            {
                "design_points": n,
                "runs": n,
                "peak_rss_mib": round(mib, 1),
                "seconds": round(seconds, 2),
            }
        )
    rows[1]["ratio_to_small"] = round(rows[1]["peak_rss_mib"] / rows[0]["peak_rss_mib"], 3)
    return rows


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    for row in rows[1:]:
        keys += [k for k in row if k not in keys]
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke configuration")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        spec = {"points": 8, "replicates": 2, "weeks": 26, "agents": 200, "chunk": 4}
        mem = {"points": 8, "weeks": 26, "agents": 200, "chunk": 4}
    else:
        spec = {"points": 64, "replicates": 2, "weeks": 104, "agents": 1000, "chunk": 16}
        mem = {"points": 40, "weeks": 52, "agents": 500, "chunk": 8}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write_experiment(folder, **spec)
        speed = throughput(path, folder, args.workers)
        print(f"Throughput ({spec}):\n{table(speed)}\n")
        space = memory(folder, **mem)
        print(f"Peak memory of a serial sweep, design grown 10x ({mem}):\n{table(space)}")
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "platform": platform.platform(),
        },
        "quick": args.quick,
        "throughput_config": spec,
        "throughput": speed,
        "memory_config": mem,
        "memory": space,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = HERE / "results" / ("sweep-quick.json" if args.quick else "sweep.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
