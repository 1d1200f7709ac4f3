"""Running many simulations: batched chunks on a serial, process-pool or Dask backend.

Design points x replicates are numbered run by run (run i is design point
``i // replicates``, replicate ``i % replicates``) and cut into chunks of
``chunk_size`` runs. Each chunk is one batched simulation; a worker is told the
experiment and the chunk index, rebuilds the design from the experiment's seed,
and returns one row per run. The driver writes each finished chunk atomically as
``chunks/chunk-NNNNNN.parquet`` and keeps nothing else in memory, so a sweep's
memory does not grow with its size. A run's result depends only on the
experiment and its (seed, design point, replicate): never on the backend, the
chunk size, the number of workers or the order in which chunks finish.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.files.experiment import Experiment, describe_design
from sim.files.outputs import (
    OutputError,
    check_destination,
    make_manifest,
    output_lock,
    remove_own_output,
    write_atomic,
    write_json,
)
from sim.files.posterior import posterior_draw
from sim.studies.run import run_simulations

__all__ = [
    "ExecutorError",
    "SweepPlan",
    "finished_chunks",
    "local_cluster",
    "read_results",
    "run_chunk",
    "run_sweep",
]

CHUNK_DIR = "chunks"
BACKENDS = ("serial", "process", "dask")


class ExecutorError(ValueError):
    """A sweep that cannot start or continue, with an actionable message."""


@dataclass(frozen=True)
class SweepPlan:
    """How a sweep's runs are cut into chunks."""

    n_points: int
    replicates: int
    chunk_size: int

    @property
    def n_runs(self) -> int:
        """Design points x replicates."""
        return self.n_points * self.replicates

    @property
    def n_chunks(self) -> int:
        """Number of chunks."""
        return -(-self.n_runs // self.chunk_size)

    def runs(self, chunk: int) -> range:
        """Flat run indices of one chunk."""
        return range(chunk * self.chunk_size, min((chunk + 1) * self.chunk_size, self.n_runs))


_CACHE: dict[str, tuple[Experiment, np.ndarray]] = {}


def _design(experiment: Experiment) -> np.ndarray:
    key = experiment.digest()
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = (experiment, experiment.design())
    return _CACHE[key][1]


def run_chunk(experiment: Experiment, chunk: int, chunk_size: int) -> pd.DataFrame:
    """Simulate one chunk; one row per run with its parameters and recorded metrics."""
    design = _design(experiment)
    plan = SweepPlan(design.shape[0], experiment.spec.replicates, chunk_size)
    runs = np.array(plan.runs(chunk))
    points, replicates = np.divmod(runs, experiment.spec.replicates)
    seeds = [
        RunSeed(experiment.spec.seed, int(d), int(r))
        for d, r in zip(points, replicates, strict=True)
    ]
    params = [
        validate(_run_values(experiment, design, int(d), int(r)))
        for d, r in zip(points, replicates, strict=True)
    ]
    runs = run_simulations(
        experiment.scenario.world(),
        params,
        seeds,
        experiment.weeks,
        metrics=experiment.spec.outputs.metrics,
        record_weeks=experiment.record_weeks,
    )
    table: dict[str, Any] = {"design_point": points, "replicate": replicates}
    for j, name in enumerate(experiment.names):
        table[name] = design[points, j]
    for metric, values in runs.metrics.items():
        for i, week in enumerate(runs.weeks):
            table[f"{metric}_w{int(week)}"] = values[:, i]
    return pd.DataFrame(table)


def _run_values(
    experiment: Experiment, design: np.ndarray, point: int, replicate: int
) -> dict[str, float]:
    """Base scenario, then the run's posterior draw (if any), then the design row."""
    values = experiment.param_set(design[point])
    if experiment.posterior is None:
        return values
    draw = posterior_draw(experiment.posterior, experiment.spec.seed, point, replicate)
    return {**values, **{k: v for k, v in draw.items() if k not in experiment.names}}


def _chunk_path(folder: Path, chunk: int) -> Path:
    return folder / CHUNK_DIR / f"chunk-{chunk:06d}.parquet"


def _write_chunk(folder: Path, chunk: int, frame: pd.DataFrame) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    write_atomic(_chunk_path(folder, chunk), sink.getvalue().to_pybytes())


def finished_chunks(folder: Path) -> set[int]:
    """Chunks already written (temporary files are never counted)."""
    done = set()
    for path in (folder / CHUNK_DIR).glob("chunk-*.parquet"):
        stem = path.stem.removeprefix("chunk-")
        if stem.isdigit():
            done.add(int(stem))
    return done


def read_results(folder: str | Path) -> pd.DataFrame:
    """All finished chunks of a sweep as one frame, sorted by design point and replicate."""
    paths = sorted((Path(folder) / CHUNK_DIR).glob("chunk-*.parquet"))
    if not paths:
        raise ExecutorError(f"{folder}: no finished chunks to read")
    frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    return frame.sort_values(["design_point", "replicate"], ignore_index=True)


# ----------------------------------------------------------------------------- backends


def _serial(
    experiment: Experiment, chunks: list[int], size: int, _workers: int, _scheduler: str | None
) -> Iterator[tuple[int, pd.DataFrame]]:
    for chunk in chunks:
        yield chunk, run_chunk(experiment, chunk, size)


def _process(
    experiment: Experiment, chunks: list[int], size: int, workers: int, _scheduler: str | None
) -> Iterator[tuple[int, pd.DataFrame]]:
    # "spawn" works the same on Linux, macOS, Windows and in notebooks
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(run_chunk, experiment, chunk, size): chunk for chunk in chunks}
        for future in as_completed(pending):
            yield pending.pop(future), future.result()


def _dask_client(workers: int, scheduler: str | None) -> Any:
    from dask.distributed import Client

    if scheduler is not None:
        try:
            return Client(scheduler, timeout="5s")
        except (OSError, TimeoutError) as error:
            raise ExecutorError(
                f"cannot reach the Dask scheduler at {scheduler}: {error}"
            ) from None
    return Client(local_cluster(workers))


def local_cluster(workers: int) -> Any:
    """A Dask cluster on this machine that only this process can use, with no dashboard.

    The scheduler, nannies and workers listen on 127.0.0.1 and speak TLS with
    credentials generated for this cluster alone and held only in memory
    (``Security.temporary()``, which needs ``cryptography``): every connection must
    present them, so another local process cannot connect a client and run code in
    a worker. distributed's scheduler always starts an HTTP server (on port 8787 by
    default, even with ``dashboard_address=None``); here it serves no routes, is
    bound to a free loopback port and is then shut, and the workers' HTTP servers
    serve no routes either. Whoever wants the dashboard starts a scheduler of their
    own (``dask scheduler``) and passes its address as ``--scheduler``.
    """
    import dask
    from dask.distributed import LocalCluster
    from distributed.security import Security

    no_routes = {
        "distributed.scheduler.http.routes": [],
        "distributed.worker.http.routes": [],
    }
    with dask.config.set(no_routes):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            security=Security.temporary(),
            dashboard_address=None,  # no dashboard ...
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # ... and not on 8787
        )
    cluster.sync(_shut_http_server, cluster.scheduler)
    return cluster


async def _shut_http_server(scheduler: Any) -> None:
    """Stop the scheduler's (route-less) HTTP server listening; on the cluster's loop."""
    server = getattr(scheduler, "http_server", None)
    if server is not None:
        server.stop()


def _dask(
    experiment: Experiment, chunks: list[int], size: int, workers: int, scheduler: str | None
) -> Iterator[tuple[int, pd.DataFrame]]:
    from dask.distributed import as_completed as dask_completed

    client = _dask_client(workers, scheduler)
    try:
        shared = client.scatter(experiment, broadcast=True)
        futures = client.map(
            run_chunk, [shared] * len(chunks), chunks, [size] * len(chunks), pure=False
        )
        chunk_of = {future.key: chunk for future, chunk in zip(futures, chunks, strict=True)}
        for future in dask_completed(futures):
            yield chunk_of[future.key], future.result()
            future.release()  # the cluster may forget the result once it is written
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None and scheduler is None:
            cluster.close()


_BACKENDS: dict[str, Callable[..., Iterator[tuple[int, pd.DataFrame]]]] = {
    "serial": _serial,
    "process": _process,
    "dask": _dask,
}


# ------------------------------------------------------------------------------ driver


def _prepare_folder(
    folder: Path, manifest: dict[str, Any], *, resume: bool, force: bool, inputs: list[Path | None]
) -> set[int]:
    """Check the folder by the output rule; replace it (--force) or check it can resume."""
    decision = check_destination(folder, "sweep", force=force, resume=resume, inputs=inputs)
    if decision == "replace":
        remove_own_output(folder, "sweep")
    elif decision == "resume":
        _check_resumable(folder / "manifest.json", manifest, force=force)
    try:
        (folder / CHUNK_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot write to {folder}: {error.strerror or error}") from None
    return finished_chunks(folder)


def _check_resumable(existing: Path, manifest: dict[str, Any], *, force: bool) -> None:
    import json

    old = json.loads(existing.read_text(encoding="utf-8"))
    for key in ("experiment_digest", "version", "git_commit", "chunk_size"):
        if old.get(key) != manifest.get(key) and not (force and key != "chunk_size"):
            raise ExecutorError(
                f"cannot resume {existing.parent}: {key} was {old.get(key)!r}, now "
                f"{manifest.get(key)!r}"
                + ("" if key == "chunk_size" else "; use --force to resume anyway")
            )


def run_sweep(
    experiment: Experiment,
    folder: str | Path,
    *,
    backend: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    resume: bool = False,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Run every chunk of ``experiment`` not yet in ``folder``; return the final manifest.

    Args:
        experiment: The loaded experiment.
        folder: The sweep folder (chunks and manifest).
        backend: "serial", "process" or "dask" (a scheduler address implies "dask").
        workers: Worker processes (default: the machine's cores).
        scheduler: Address of a running Dask scheduler (``tcp://host:port``).
        chunk_size: Runs per chunk (default: the experiment's).
        resume: Skip chunks already written (refused if the experiment or code changed).
        force: Start again over an existing sweep (only a sweep folder of this tool's,
            holding nothing else), or resume despite a change.
        progress: Called with (chunks done, chunks in all) after every chunk.
        command: The command line, for the manifest.
    """
    if backend not in BACKENDS:
        raise ExecutorError(f"unknown backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    if scheduler is not None:
        backend = "dask"
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ExecutorError(f"workers must be >= 1, got {workers}")
    folder = Path(folder)
    size = chunk_size or experiment.spec.execution.chunk_size
    plan = SweepPlan(experiment.design().shape[0], experiment.spec.replicates, size)
    manifest = _manifest(experiment, plan, backend, workers, scheduler, command)
    posterior = (
        None
        if experiment.spec.posterior is None
        else experiment.path.parent / experiment.spec.posterior
    )
    inputs = [experiment.path, experiment.scenario.path, posterior]
    check_destination(folder, "sweep", force=force, resume=resume, inputs=inputs)
    try:
        folder.absolute().parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot write to {folder}: {error.strerror or error}") from None
    with output_lock(folder):
        done = _prepare_folder(folder, manifest, resume=resume, force=force, inputs=inputs)
        return _run_chunks(
            experiment, folder, manifest, plan, done, backend, workers, scheduler, progress
        )


def _run_chunks(
    experiment: Experiment,
    folder: Path,
    manifest: dict[str, Any],
    plan: SweepPlan,
    done: set[int],
    backend: str,
    workers: int,
    scheduler: str | None,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    size = plan.chunk_size
    todo = [k for k in range(plan.n_chunks) if k not in done]
    write_json(
        folder / "manifest.json", {**manifest, "status": "running", "chunks_done": len(done)}
    )
    started, count = time.perf_counter(), len(done)
    if progress is not None:
        progress(count, plan.n_chunks)
    for chunk, frame in _BACKENDS[backend](experiment, todo, size, workers, scheduler):
        _write_chunk(folder, chunk, frame)
        count += 1
        if progress is not None:
            progress(count, plan.n_chunks)
    seconds = time.perf_counter() - started
    return _final_manifest(folder, manifest, plan, experiment, todo, seconds)


def _final_manifest(
    folder: Path,
    manifest: dict[str, Any],
    plan: SweepPlan,
    experiment: Experiment,
    todo: list[int],
    seconds: float,
) -> dict:
    runs = sum(len(plan.runs(k)) for k in todo)
    agent_steps = runs * experiment.scenario.spec.population.size * experiment.weeks
    final = {
        **manifest,
        "status": "complete",
        "chunks_done": plan.n_chunks,
        "this_session": {
            "chunks": len(todo),
            "runs": runs,
            "seconds": round(seconds, 3),
            "runs_per_second": round(runs / seconds, 3) if seconds else None,
            "agent_steps_per_second": round(agent_steps / seconds) if seconds else None,
        },
    }
    write_json(folder / "manifest.json", final)
    return final


def _manifest(
    experiment: Experiment,
    plan: SweepPlan,
    backend: str,
    workers: int,
    scheduler: str | None,
    command: list[str] | None,
) -> dict[str, Any]:
    return make_manifest(
        kind="sweep",
        command=command,
        experiment_file=str(experiment.path),
        experiment_sha256=experiment.text_sha256,
        experiment_digest=experiment.digest(),
        experiment=experiment.spec.model_dump(),
        base_scenario=experiment.scenario.resolved,
        design=describe_design(experiment),
        seed=experiment.spec.seed,
        replicates=experiment.spec.replicates,
        seeding="RunSeed(seed, design_point, replicate) per run; named streams per process",
        backend=backend,
        workers=workers if backend != "serial" else 1,
        scheduler=scheduler,
        chunk_size=plan.chunk_size,
        chunks=plan.n_chunks,
        runs=plan.n_runs,
        weeks=experiment.weeks,
        agents=experiment.scenario.spec.population.size,
        uncertainty=(
            "stochastic (replicates)"
            if experiment.posterior is None
            else "stochastic (replicates) and parameter (one posterior draw per run from "
            f"{experiment.spec.posterior})"
        ),
    )
