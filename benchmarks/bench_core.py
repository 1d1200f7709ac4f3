"""Benchmark of the compiled core: speed, scaling, the random-number floor and memory.

Measures, in one sitting so that every ratio compares numbers taken side by side:

* agent-steps per second of the core (``sim.core.engine``) at 1k, 10k and 100k users
  (one run) and batched (16, 64 and 256 x 1,000 users), split into
  initialisation, weekly steps and weekly metrics, and ``run_batch`` end to end
  (the compiled rules of ``sim.core.rules``, driven by ``sim.core.compiled``: the
  model's only implementation);
* the ratio to the idiomatic Mesa reference (``tests/oracle/reference_mesa.py``)
  measured on 500 users x 20 weeks (its fastest), and the core on that same
  configuration; and the ratio to the reference run at the table's own sizes
  (1,000 and 10,000 users x 26 weeks);
* the random-number floor: the time numpy takes to generate exactly the draws
  the core makes per week (counted from ``Simulation._draws``), and the share of
  that floor the core reaches; the core draws the same numbers
  with ``sim.core.rng_kernels`` (faster than numpy), so the table also gives the step's
  share of its own draw time;
* how cost grows with agents, weeks and runs (least-squares exponents on log-log);
* peak traced memory (``tracemalloc``) per configuration.

Results are printed as a table and written to ``benchmarks/results/<name>.json``
with machine information. Nothing here is asserted: timings are for reading.

Usage::

    python benchmarks/bench_core.py            # full (about 1 minute; 2 with --repeats 5)
    python benchmarks/bench_core.py --quick    # smoke mode (about 15 seconds)
    python benchmarks/bench_core.py --profile  # also cProfile 1 x 10,000 users x 52 weeks
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import importlib.util
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sim.core.engine import NORMAL_STREAMS, Simulation, run_batch
from sim.core.metrics import METRICS, metrics_table
from sim.core.parameters import validate
from sim.core.seeding import RunSeed, streams_for
from sim.core.world import make_world

HERE = Path(__file__).resolve().parent
OFFER = {"peer_support": 0.5, "supported_employment": 0.5}  # all configs, core and reference
SEED = 20_240
KERNELS = ("numba",)  # the one implementation (the numpy path is gone)


@dataclass(frozen=True)
class Config:
    """One benchmark configuration: ``runs`` x ``agents`` users for ``weeks`` weeks."""

    label: str
    runs: int
    agents: int
    weeks: int
    kernels: str = "numba"  # sim.core.compiled: the only choice

    @property
    def agent_steps(self) -> int:
        """Simulated user-weeks."""
        return self.runs * self.agents * self.weeks


@dataclass
class Timing:
    """Best-of-repeats timings of one configuration (seconds) and derived rates."""

    config: Config
    init_s: float
    step_s: float
    metrics_s: float
    draws_per_agent_step: dict[str, int] = field(default_factory=dict)
    draws_s: float = 0.0  # the core's own Simulation._draws over all weeks
    floor_s: float = 0.0  # numpy generating the same draws, no model
    peak_mib: float = float("nan")
    run_batch_s: float = float("nan")  # sim.core.engine.run_batch itself, every week recorded

    @property
    def parts_s(self) -> float:
        """Initialisation + steps + metrics of one ``Simulation`` stepped week by week."""
        return self.init_s + self.step_s + self.metrics_s

    @property
    def total_s(self) -> float:
        """``run_batch`` end to end (it runs batches over 16,384 users in sub-batches)."""
        return self.run_batch_s

    @property
    def rate(self) -> float:
        """Agent-steps per second of the whole run."""
        return self.config.agent_steps / self.total_s

    @property
    def step_rate(self) -> float:
        """Agent-steps per second of the weekly step alone."""
        return self.config.agent_steps / self.step_s

    @property
    def floor_rate(self) -> float:
        """Agent-steps per second if a step did nothing but draw its random numbers."""
        return self.config.agent_steps / self.floor_s


def _load_reference():
    """Import the oracle ``tests/oracle/reference_mesa.py``, however this script is started."""
    path = HERE.parent / "tests" / "oracle" / "reference_mesa.py"
    spec = importlib.util.spec_from_file_location("reference_mesa", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def _batch(config: Config) -> tuple:
    world = make_world(config.agents, offer=OFFER)
    seeds = [RunSeed(SEED, 0, r) for r in range(config.runs)]
    return world, [validate({})] * config.runs, seeds


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels before anything is timed."""
    world, params, seeds = _batch(Config("warm-up", 2, 50, 2))
    run_batch(world, params, seeds, 2)


def run_core_once(config: Config) -> tuple[float, float, float, Simulation]:
    """Initialise, step and record metrics as ``sim.core.engine.run_batch`` does, timed per part."""
    world, params, seeds = _batch(config)
    clock = time.perf_counter
    t0 = clock()
    simulation = Simulation(world, params, seeds)
    table = np.empty((config.weeks + 1, len(METRICS), config.runs))
    init_s = clock() - t0
    step_s = metrics_s = 0.0
    for week in range(config.weeks + 1):
        if week > 0:
            t0 = clock()
            simulation.step()
            step_s += clock() - t0
        t0 = clock()
        metrics_table(simulation, table[week])
        metrics_s += clock() - t0
    return init_s, step_s, metrics_s, simulation


def count_draws(simulation: Simulation) -> dict[str, int]:
    """Random numbers per agent-step, by stream, from the core's own ``_draws``."""
    n_runs, n_agents = simulation.state.shape
    return {name: int(v.size // (n_runs * n_agents)) for name, v in simulation._draws().items()}


def draw_shapes(simulation: Simulation) -> dict[str, tuple[int, ...]]:
    """Per-run block shape of every stream's weekly draw, from the core's own ``_draws``."""
    return {name: v.shape[1:] for name, v in simulation._draws().items()}


def time_rng_floor(config: Config, shapes: dict[str, tuple[int, ...]]) -> float:
    """Seconds numpy needs to generate the core's weekly draws for ``config.weeks`` weeks.

    Same generators (one PCG64 per stream and run), same block shapes and the same
    number of calls as ``Simulation._draws``, but no stacking and no model.
    """
    _, _, seeds = _batch(config)
    streams = streams_for(seeds)
    t0 = time.perf_counter()
    for _ in range(config.weeks):
        for name, shape in shapes.items():
            if name in NORMAL_STREAMS:
                for g in streams[name]:
                    g.standard_normal(shape)
            else:
                for g in streams[name]:
                    g.random(shape)
    return time.perf_counter() - t0


def time_core_draws(simulation: Simulation, weeks: int) -> float:
    """Seconds the core's own ``_draws`` takes for ``weeks`` weeks (with its stacking)."""
    t0 = time.perf_counter()
    for _ in range(weeks):
        simulation._draws()
    return time.perf_counter() - t0


def time_run_batch(config: Config) -> float:
    """Seconds of ``sim.core.engine.run_batch`` for ``config``, recording every week."""
    world, params, seeds = _batch(config)
    t0 = time.perf_counter()
    run_batch(world, params, seeds, config.weeks)
    return time.perf_counter() - t0


def peak_memory_mib(config: Config, weeks: int) -> float:
    """Peak traced memory of initialisation plus ``weeks`` steps with metrics (MiB)."""
    short = Config(config.label, config.runs, config.agents, weeks, config.kernels)
    tracemalloc.start()
    try:
        run_core_once(short)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def measure_core(config: Config, repeats: int, memory_weeks: int) -> Timing:
    """Best of ``repeats`` for each part, then the draw floor and peak memory."""
    runs, run_batch_s = [], []
    for _ in range(repeats):  # interleaved, so both see the same host load
        runs.append(run_core_once(config))
        run_batch_s.append(time_run_batch(config))
    best = Timing(
        config,
        min(r[0] for r in runs),
        min(r[1] for r in runs),
        min(r[2] for r in runs),
        run_batch_s=min(run_batch_s),
    )
    simulation = runs[-1][3]
    best.draws_per_agent_step = count_draws(simulation)
    best.draws_s = min(time_core_draws(simulation, config.weeks) for _ in range(repeats))
    shapes = draw_shapes(simulation)
    best.floor_s = min(time_rng_floor(config, shapes) for _ in range(repeats))
    best.peak_mib = peak_memory_mib(config, min(memory_weeks, config.weeks))
    return best


def measure_reference(agents: int, weeks: int, repeats: int) -> dict[str, float]:
    """Agent-steps per second of the Mesa reference (construction included, as for the core)."""
    reference = _load_reference()
    world = make_world(agents, offer=OFFER)
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        reference.ReferenceModel(world, seed=SEED + r).run(weeks)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    try:
        reference.ReferenceModel(world, seed=SEED).run(min(weeks, 4))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    best = min(times)
    return {
        "agents": agents,
        "weeks": weeks,
        "seconds": best,
        "repeats": repeats,
        "rate": agents * weeks / best,
        "peak_mib": peak / 2**20,
    }


def fit_exponent(sizes: list[float], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): cost ~ size ** slope."""
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(slope)


def scaling(table: list[Timing], weeks_timings: list[Timing]) -> dict[str, dict]:
    """Exponents of total and step time in agents (R = 1), runs (N = 1,000) and weeks."""

    def fit(group: list[Timing], key: str) -> dict:
        group = sorted(group, key=lambda t: getattr(t.config, key))
        sizes = [getattr(t.config, key) for t in group]
        return {
            "sizes": sizes,
            "total_s": [t.total_s for t in group],
            "step_s": [t.step_s for t in group],
            "exponent_total": fit_exponent(sizes, [t.total_s for t in group]),
            "exponent_step": fit_exponent(sizes, [t.step_s for t in group]),
        }

    table = [t for t in table if t.config.kernels == "numba"]
    return {
        "agents": fit([t for t in table if t.config.runs == 1], "agents"),
        "runs": fit([t for t in table if t.config.agents == 1_000], "runs"),
        "weeks": fit(weeks_timings, "weeks"),
    }


def machine_info() -> dict[str, object]:
    """CPU, library versions, BLAS threads, load and commit, for the results file."""
    import mesa
    import scipy

    try:
        from threadpoolctl import threadpool_info

        pools: object = threadpool_info()
    except ImportError:
        pools = "threadpoolctl not installed"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "load_average_1_5_15": os.getloadavg(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "mesa": mesa.__version__,
        "threadpools": pools,
        "git_commit": commit,
        "when_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def profile_core(agents: int, weeks: int, top: int = 15) -> list[dict[str, object]]:
    """cProfile one run of ``agents`` users for ``weeks`` steps; the top functions by own time."""
    simulation = Simulation(make_world(agents, offer=OFFER), [validate({})], [RunSeed(SEED)])
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(weeks):
        simulation.step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    rows = []
    for (path, line, name), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        rows.append(
            {
                "function": f"{Path(path).name}:{line}({name})",
                "calls": ncalls,
                "own_s": tottime,
                "cumulative_s": cumtime,
                "own_share": tottime / total,
            }
        )
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return rows[:top]


def configurations(quick: bool) -> tuple[list[Config], list[Config], tuple[int, int]]:
    """(table configs, weeks-scaling configs, reference (agents, weeks))."""
    if quick:
        weeks, week_sizes, reference = 6, (3, 6, 12), (200, 5)
        sizes = [
            ("1k", 1, 1_000),
            ("10k", 1, 10_000),
            ("100k", 1, 100_000),
            ("16x1k", 16, 1_000),
            ("64x1k", 64, 1_000),
        ]
    else:
        weeks, week_sizes, reference = 26, (13, 26, 52), (500, 20)
        sizes = [
            ("1k", 1, 1_000),
            ("10k", 1, 10_000),
            ("100k", 1, 100_000),
            ("16x1k", 16, 1_000),
            ("64x1k", 64, 1_000),
            ("256x1k", 256, 1_000),
        ]
    table = [
        Config(label, runs, agents, weeks, kernels)
        for label, runs, agents in sizes
        for kernels in KERNELS
    ]
    return table, [Config(f"10k/{w}w", 1, 10_000, w) for w in week_sizes], reference


def same_size_reference(config: Config, by_agents: dict[int, dict]) -> dict | None:
    """The reference measured at this configuration's users and weeks, if it was.

    A batch of R runs is R separate reference models, each as fast as one (runs are
    independent), so R x N compares with the reference's N-user rate.
    """
    ref = by_agents.get(config.agents)
    return ref if ref is not None and ref["weeks"] == config.weeks else None


def _ratio(t: Timing, ref: dict | None) -> str:
    return f"{t.rate / ref['rate']:8.0f}x" if ref else f"{'-':>9}"


def _row(label: str, t: Timing, reference_rate: float, same: dict | None) -> str:
    c = t.config
    return (
        f"{label:10} {c.kernels:>6} {c.runs:>4} x {c.agents:>7,} x {c.weeks:>3} "
        f"{c.agent_steps:>11,} "
        f"{t.total_s:8.3f} {t.rate:>11,.0f} {t.step_rate:>11,.0f} "
        f"{t.metrics_s / t.parts_s:6.1%} {t.rate / reference_rate:8.0f}x {_ratio(t, same)} "
        f"{t.floor_rate:>12,.0f} {t.step_rate / t.floor_rate:6.1%} "
        f"{t.draws_s / t.step_s:6.1%} {t.peak_mib:8.1f}"
    )


def print_report(
    timings: dict[str, Timing], ref: dict, fits: dict, draws: dict, by_agents: dict[int, dict]
) -> None:
    """The results table, the reference lines, the draw count and the scaling exponents."""
    print("\nreference (idiomatic Mesa, tests/oracle/reference_mesa.py, construction included):")
    for r in (ref, *by_agents.values()):
        print(
            f"  {r['agents']:>7,} users x {r['weeks']:>3} weeks: {r['seconds']:7.3f} s, "
            f"{r['rate']:>7,.0f} agent-steps/s (best of {r['repeats']}), "
            f"peak {r['peak_mib']:.1f} MiB"
        )
    print(
        f"random numbers per agent-step (from Simulation._draws): {draws} = {sum(draws.values())}"
    )
    print(f"offers in every configuration: {OFFER}; default parameters\n")
    print(
        f"{'config':10} {'path':>6} {'R':>4}   {'N':>7}   {'wk':>3} {'agent-steps':>11} "
        f"{'total s':>8} "
        f"{'steps/s':>11} {'step-only/s':>11} {'metr.':>6} {'vs ref':>9} {'same N':>9} "
        f"{'rng floor/s':>12} {'%floor':>6} {'draws':>6} {'peakMiB':>8}"
    )
    for t in timings.values():
        print(_row(t.config.label, t, ref["rate"], same_size_reference(t.config, by_agents)))
    for label in dict.fromkeys(t.config.label for t in timings.values()):
        fast = timings[(label, "numba")]
        print(
            f"  {label:10} the draws by sim.core.rng_kernels "
            f"x{fast.floor_s / fast.draws_s:.2f} faster than numpy's floor"
        )
    print(
        "\ncolumns:\n"
        "  total s, steps/s: sim.core.engine.run_batch end to end (init, steps, metrics every "
        "week;\n    batches over 16,384 users run as sub-batches)\n"
        "  step-only/s: Simulation.step alone, on the whole batch\n"
        "  metr.: share of init + steps + metrics spent in the weekly metrics\n"
        "  vs ref: steps/s over the reference's at its smallest size (its fastest)\n"
        "  same N: steps/s over the reference's at the same users and weeks (R x N: R "
        "separate\n    reference models, each as fast as one)\n"
        "  rng floor/s: numpy drawing the same numbers and nothing else; %floor: "
        "step-only/s over it\n"
        "  draws: share of the step in Simulation._draws (sim.core.rng_kernels "
        "draws\n    the same numbers faster than numpy: the step's fraction of its own "
        "draw floor)\n"
        "  peakMiB: tracemalloc peak of init + 4 weeks"
    )
    print("\nscaling (least-squares exponent of time on log-log; 1 = linear):")
    for axis, fit in fits.items():
        print(
            f"  {axis:6} sizes {fit['sizes']}: total ~ {axis}^{fit['exponent_total']:.2f}, "
            f"step ~ {axis}^{fit['exponent_step']:.2f}"
        )


def print_profile(rows: list[dict[str, object]], agents: int, weeks: int) -> None:
    """Top functions by own time."""
    print(f"\ncProfile, 1 x {agents:,} users x {weeks} weeks (top by own time):")
    for r in rows:
        print(
            f"  {r['own_share']:6.1%} {r['own_s']:7.3f} s own {r['cumulative_s']:7.3f} s cum "
            f"{r['calls']:>6} calls  {r['function']}"
        )


def write_results(path: Path, payload: dict) -> None:
    """Write the JSON results atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)


def _timing_record(t: Timing, reference_rate: float, same: dict | None) -> dict[str, object]:
    return {
        **asdict(t.config),
        "agent_steps": t.config.agent_steps,
        "init_s": t.init_s,
        "step_s": t.step_s,
        "metrics_s": t.metrics_s,
        "run_batch_s": t.run_batch_s,
        "total_s": t.total_s,
        "agent_steps_per_s": t.rate,
        "step_only_agent_steps_per_s": t.step_rate,
        "ratio_to_reference": t.rate / reference_rate,
        "ratio_to_reference_same_size": t.rate / same["rate"] if same else None,
        "rng_floor_agent_steps_per_s": t.floor_rate,
        "fraction_of_rng_floor": t.step_rate / t.floor_rate,
        "core_draws_share_of_step": t.draws_s / t.step_s,
        "core_draws_agent_steps_per_s": t.config.agent_steps / t.draws_s,
        "draws_per_agent_step": t.draws_per_agent_step,
        "peak_traced_mib": t.peak_mib,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per configuration, best kept (default 3; quick 1)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile 1 x 10,000 users x 52 weeks (quick: 8 weeks)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results file (default benchmarks/results/bench_core[_quick].json)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every measurement, print the table and write the results file."""
    args = parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    table, weeks_configs, (ref_agents, ref_weeks) = configurations(args.quick)
    machine = machine_info()
    print(
        f"bench_core: {machine['cpus_available']} CPUs available, load "
        f"{machine['load_average_1_5_15']}, numpy {machine['numpy']}, best of {repeats}"
    )
    ref = measure_reference(ref_agents, ref_weeks, repeats)
    # the reference at the table's sizes too, like for like (10,000 users: one repeat, ~9 s)
    weeks = table[0].weeks
    by_agents = {1_000: measure_reference(1_000, weeks, repeats)}
    if not args.quick:
        by_agents[10_000] = measure_reference(10_000, weeks, 1)
    warm_up()
    configs = [*table, *(Config("ref-config", 1, ref_agents, ref_weeks, k) for k in KERNELS)]
    timings = {(c.label, c.kernels): measure_core(c, repeats, memory_weeks=4) for c in configs}
    weeks_timings = [measure_core(c, repeats, memory_weeks=1) for c in weeks_configs]
    fits = scaling([timings[(c.label, c.kernels)] for c in table], weeks_timings)
    print_report(timings, ref, fits, timings[("1k", "numba")].draws_per_agent_step, by_agents)
    payload = {
        "name": "bench_core",
        "quick": args.quick,
        "repeats": repeats,
        "offer": OFFER,
        "machine": machine,
        "reference": ref,
        "reference_same_size": list(by_agents.values()),
        "configs": [
            _timing_record(t, ref["rate"], same_size_reference(t.config, by_agents))
            for t in timings.values()
        ],
        "weeks_scaling": [_timing_record(t, ref["rate"], None) for t in weeks_timings],
        "scaling_exponents": fits,
        "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if args.profile:
        weeks = 8 if args.quick else 52
        payload["profile"] = profile_core(10_000, weeks)
        print_profile(payload["profile"], 10_000, weeks)
    out = args.out or HERE / "results" / f"bench_core{'_quick' if args.quick else ''}.json"
    write_results(out, payload)
    print(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
