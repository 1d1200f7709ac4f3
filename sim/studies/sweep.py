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

import contextlib
import logging
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.core.errors import UserError
from sim.core.parameters import validate
from sim.core.seeding import RunSeed
from sim.files.costs import ECONOMIC_OUTPUTS
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
from sim.files.scenario import Scenario
from sim.studies.economics import ECONOMIC_INPUTS, accumulated_economics, staff_training_share
from sim.studies.processes import die_with_parent, sigterm_as_interrupt
from sim.studies.run import run_simulations

__all__ = [
    "ExecutorError",
    "SweepPlan",
    "WorkerDied",
    "finished_chunks",
    "local_cluster",
    "read_results",
    "run_chunk",
    "run_sweep",
]

CHUNK_DIR = "chunks"
_CHUNK_NAME = re.compile(r"chunk-(\d{6})\.parquet")
BACKENDS = ("serial", "process", "dask")


class ExecutorError(UserError):
    """A sweep that cannot start or continue, with an actionable message."""


class WorkerDied(ExecutorError):
    """A pool worker process died mid-sweep (killed, or out of memory); ``--resume`` continues.

    Not a mistake in an input, so the command line exits with 1 (the run failed part-way;
    what it finished is kept), not 2 (an input or option refused before any work).
    """

    exit_code = 1


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
    """Simulate one chunk; one row per run with its design values and recorded outputs.

    Runs with the same offers and places (scenario factors) are simulated as one batch
    in their package scenario; runs with the same unit costs (cost factors) are priced
    together. A run's result does not depend on the others of its chunk.
    """
    design = _design(experiment)
    plan = SweepPlan(design.shape[0], experiment.spec.replicates, chunk_size)
    runs = np.array(plan.runs(chunk))
    points, replicates = np.divmod(runs, experiment.spec.replicates)
    rows = design[points]
    seeds = [
        RunSeed(experiment.spec.seed, int(d), int(r))
        for d, r in zip(points, replicates, strict=True)
    ]
    params = [
        validate(_run_values(experiment, design, int(d), int(r)))
        for d, r in zip(points, replicates, strict=True)
    ]
    batch = _Batch(experiment, rows, seeds, params)
    package = batch.outputs()
    table: dict[str, Any] = {"design_point": points, "replicate": replicates}
    for j, name in enumerate(experiment.names):
        table[name] = rows[:, j]
    for metric, values in package.items():
        for i, week in enumerate(experiment.record_weeks):
            table[f"{metric}_w{week}"] = values[:, i]
    if experiment.counterfactual is not None:  # the same runs without the package
        without = batch.outputs(experiment.counterfactual)
        for metric, values in package.items():
            for i, week in enumerate(experiment.record_weeks):
                table[f"{metric}_effect_w{week}"] = values[:, i] - without[metric][:, i]
    return pd.DataFrame(table)


@dataclass(frozen=True)
class _Batch:
    """The runs of one chunk: design rows, seeds and parameter sets, in run order."""

    experiment: Experiment
    rows: np.ndarray
    seeds: list[RunSeed]
    params: list[dict[str, float]]

    def outputs(self, fixed: Scenario | None = None) -> dict[str, np.ndarray]:
        """Output name -> (runs, record weeks) array.

        By default each run is simulated in the package as its row sets it, and runs
        whose rows set the same offers and places share one simulation batch. Given a
        ``fixed`` scenario (the counterfactual, which the factors do not change), every
        run is simulated in it, all in one batch.
        """
        experiment = self.experiment
        weeks = len(experiment.record_weeks)
        out = {name: np.empty((len(self.rows), weeks)) for name in experiment.spec.outputs.metrics}
        if fixed is None:
            keys = [tuple(experiment.scenario_values(row).values()) for row in self.rows]
        else:
            keys = [()] * len(self.rows)
        for runs in _buckets(keys):
            scenario = experiment.package(self.rows[runs[0]]) if fixed is None else fixed
            for name, array in self._simulate(scenario, runs).items():
                out[name][runs] = array
        return out

    def _simulate(self, scenario: Scenario, runs: np.ndarray) -> dict[str, np.ndarray]:
        """The outputs of ``runs`` (chunk indices) simulated as one batch in ``scenario``."""
        experiment = self.experiment
        outputs = experiment.spec.outputs.metrics
        economic = [name for name in outputs if name in ECONOMIC_OUTPUTS]
        metrics = [name for name in outputs if name not in ECONOMIC_OUTPUTS]
        if economic:  # priced from weekly series, every week from entry
            metrics = list(dict.fromkeys([*metrics, *ECONOMIC_INPUTS]))
            record = list(range(experiment.weeks + 1))
        else:
            record = experiment.record_weeks
        simulated = run_simulations(
            scenario.world(),
            [self.params[i] for i in runs],
            [self.seeds[i] for i in runs],
            experiment.weeks,
            metrics=metrics,
            record_weeks=record,
        )
        at = [list(simulated.weeks).index(week) for week in experiment.record_weeks]
        values = {name: simulated.metrics[name][:, at] for name in outputs if name in metrics}
        if economic:
            values.update(self._priced(scenario, runs, simulated.metrics))
        return {name: values[name] for name in outputs}

    def _priced(
        self, scenario: Scenario, runs: np.ndarray, weekly: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The economic outputs of ``runs``, each priced with its row's unit costs."""
        experiment = self.experiment
        share = staff_training_share(scenario)
        out = {
            name: np.empty((len(runs), len(experiment.record_weeks))) for name in ECONOMIC_OUTPUTS
        }
        keys = [tuple(experiment.cost_values(self.rows[i]).values()) for i in runs]
        for part in _buckets(keys):
            costs = experiment.cost_table(self.rows[runs[part[0]]])
            series = {name: array[part] for name, array in weekly.items()}
            priced = accumulated_economics(series, experiment.record_weeks, costs, share)
            for name, array in priced.items():
                out[name][part] = array
        return out


def _buckets(keys: list[tuple[float, ...]]) -> list[np.ndarray]:
    """Indices of equal keys, one array per distinct key, in order of first appearance."""
    found: dict[tuple[float, ...], list[int]] = {}
    for i, key in enumerate(keys):
        found.setdefault(key, []).append(i)
    return [np.array(indices) for indices in found.values()]


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


def _chunk_files(folder: Path) -> dict[int, Path]:
    """Chunk files by index: only the exact names this module writes (``chunk-NNNNNN``)."""
    found = {}
    for path in (folder / CHUNK_DIR).glob("chunk-*.parquet"):
        match = _CHUNK_NAME.fullmatch(path.name)
        if match is not None and path.is_file() and not path.is_symlink():
            found[int(match[1])] = path
    return found


def finished_chunks(folder: Path) -> set[int]:
    """Chunks already written (temporary files and stray copies are never counted)."""
    return set(_chunk_files(Path(folder)))


def read_results(folder: str | Path) -> pd.DataFrame:
    """All finished chunks of a sweep as one frame, sorted by design point and replicate.

    Only files named as this module names chunks, and inside the design the
    manifest records, are read, so a stray copy (``chunk-000001 (copy).parquet``)
    cannot duplicate rows.
    """
    limit = _read_manifest(Path(folder)).get("chunks")
    paths = [
        path
        for chunk, path in sorted(_chunk_files(Path(folder)).items())
        if not isinstance(limit, int) or chunk < limit
    ]
    if not paths:
        raise ExecutorError(f"{folder}: no finished chunks to read")
    frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    return frame.sort_values(["design_point", "replicate"], ignore_index=True)


def _read_manifest(folder: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _expected_columns(experiment: Experiment) -> list[str]:
    outputs = [*experiment.level_columns(), *experiment.effect_columns()]
    return ["design_point", "replicate", *experiment.names, *outputs]


def _chunk_problem(path: Path, experiment: Experiment, plan: SweepPlan, chunk: int) -> str | None:
    """Why the chunk file at ``path`` is not chunk ``chunk`` of this sweep; None if it is."""
    try:
        frame = pq.read_table(path).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as error:
        return f"not a readable Parquet file ({str(error).splitlines()[0][:120]})"
    expected = _expected_columns(experiment)
    if sorted(frame.columns) != sorted(expected):
        return "its columns are not this sweep's"
    runs = np.array(plan.runs(chunk))
    points, replicates = np.divmod(runs, experiment.spec.replicates)
    if len(frame) != len(runs):
        return f"it holds {len(frame)} runs, not the {len(runs)} of this chunk"
    if not (
        np.array_equal(frame["design_point"].to_numpy(), points)
        and np.array_equal(frame["replicate"].to_numpy(), replicates)
    ):
        return "its runs (design point, replicate) are not this chunk's"
    design = _design(experiment)
    for j, name in enumerate(experiment.names):
        if not np.array_equal(frame[name].to_numpy(), design[points, j]):
            return f"its {name} values are not this design's"
    return None


def _check_chunks(
    folder: Path, experiment: Experiment, plan: SweepPlan, notice: Callable[[str], None]
) -> tuple[set[int], list[str]]:
    """Verify what a resumed sweep would trust; remove what it may not trust.

    Kept: chunk files with this module's exact names, inside the design, that are
    valid Parquet holding exactly the chunk's runs. Removed (and reported): a
    temporary file left by a killed write, a chunk outside the design, a stray
    copy, an unreadable or wrong chunk -- each is recomputed if it belongs to
    the design. Returns the trusted chunks and the messages.
    """
    messages = []

    def drop(path: Path, why: str) -> None:
        path.unlink(missing_ok=True)
        messages.append(f"{path.relative_to(folder)}: {why}")
        notice(f"{folder}{os.sep}{path.relative_to(folder)}: {why}")

    for path in sorted(folder.glob(".manifest.json.*.tmp")):
        drop(path, "temporary file left by an interrupted write; removed")
    chunks = folder / CHUNK_DIR
    for path in sorted(chunks.glob(".chunk-*.tmp")):
        if path.is_file() and not path.is_symlink():
            drop(path, "temporary file left by an interrupted write; removed")
    good = set()
    for path in sorted(chunks.glob("chunk-*.parquet")):
        if path.is_symlink() or not path.is_file():
            continue
        match = _CHUNK_NAME.fullmatch(path.name)
        if match is None:
            drop(path, "not a chunk name this tool writes (a stray copy?); removed")
            continue
        chunk = int(match[1])
        if chunk >= plan.n_chunks:
            drop(path, f"outside the design (it has {plan.n_chunks} chunks); removed")
            continue
        problem = _chunk_problem(path, experiment, plan, chunk)
        if problem is not None:
            drop(path, f"{problem}; removed, recomputing it")
            continue
        good.add(chunk)
    return good, messages


# ----------------------------------------------------------------------------- backends


def _serial(
    experiment: Experiment, chunks: list[int], size: int, _workers: int, _scheduler: str | None
) -> Iterator[tuple[int, pd.DataFrame]]:
    for chunk in chunks:
        yield chunk, run_chunk(experiment, chunk, size)


def _process(
    experiment: Experiment, chunks: list[int], size: int, workers: int, _scheduler: str | None
) -> Iterator[tuple[int, pd.DataFrame]]:
    # "spawn" works the same on Linux, macOS, Windows and in notebooks; each worker
    # ends when this process does, even if it is killed (kill -9) and cannot stop them
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        pending = {pool.submit(run_chunk, experiment, chunk, size): chunk for chunk in chunks}
        for future in as_completed(pending):
            chunk = pending.pop(future)
            try:
                frame = future.result()
            except BrokenProcessPool:
                raise WorkerDied(
                    f"a worker process died (killed, or out of memory?) while chunk {chunk} "
                    "was computed"
                ) from None
            yield chunk, frame
    except BaseException:  # an error, a dead worker, Ctrl+C, SIGTERM or the consumer stopping
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _stop_pool(pool: ProcessPoolExecutor, timeout: float = 5.0) -> None:
    """Stop a pool now: cancel queued chunks, end the workers (no waiting for their chunks)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)
    # let the pool's manager thread finish closing its wake-up pipe now: at interpreter
    # exit, concurrent.futures wakes every manager thread, and one still closing its pipe
    # (a broken pool) races it into "Exception ignored ... Bad file descriptor" (3.11)
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(max(0.0, deadline - time.monotonic()) + 1.0)


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
    notice: Callable[[str], None] | None = None,
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
        notice: Called with a message for each file found wrong or left over (a
            temporary file of a killed write, a stray or unreadable chunk) and
            removed before resuming; default: a logged warning.

    A sweep is resumable after any interruption: chunks are written atomically, and
    on resume every chunk file is verified (valid Parquet holding exactly its runs
    of this design) before it is trusted. A sweep that stops before its first chunk
    (an error, Ctrl+C or SIGTERM) leaves no folder behind; one that stops later keeps
    its finished chunks and records ``status = "stopped ..."`` in the manifest. A pool
    worker that dies (killed, out of memory) stops the sweep with :class:`WorkerDied`.
    SIGTERM is handled as Ctrl+C; pool workers end with this process even if it is
    killed.
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
    existed = os.path.lexists(folder)
    report = notice or _warn
    with sigterm_as_interrupt(), output_lock(folder):
        done = _prepare_folder(folder, manifest, resume=resume, force=force, inputs=inputs)
        done, repaired = _check_chunks(folder, experiment, plan, report)
        try:
            return _run_chunks(
                experiment,
                folder,
                manifest,
                plan,
                done,
                backend,
                workers,
                scheduler,
                progress,
                repaired,
            )
        except BaseException:
            if not finished_chunks(folder):  # nothing worth resuming: leave nothing behind
                _discard(folder, existed=existed)
            else:  # say so in the manifest ("running" no longer): --resume continues it
                _mark_stopped(folder, manifest)
            raise


def _mark_stopped(folder: Path, manifest: dict[str, Any]) -> None:
    """Record in the manifest that the sweep stopped before finishing (best effort)."""
    with contextlib.suppress(OSError):
        done = len(finished_chunks(folder))
        write_json(
            folder / "manifest.json",
            {**manifest, "status": "stopped (run again with --resume)", "chunks_done": done},
        )


def _warn(message: str) -> None:
    logging.getLogger(__name__).warning("note: %s", message)


def _discard(folder: Path, *, existed: bool) -> None:
    """Remove a sweep folder that holds no chunk (keep an empty folder the user made)."""
    with contextlib.suppress(OSError):
        for path in [*folder.glob(".manifest.json.*.tmp"), *folder.glob("chunks/.chunk-*.tmp")]:
            path.unlink(missing_ok=True)
        remove_own_output(folder, "sweep")
        if existed:
            folder.mkdir(exist_ok=True)


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
    repaired: list[str],
) -> dict[str, Any]:
    size = plan.chunk_size
    todo = [k for k in range(plan.n_chunks) if k not in done]
    write_json(
        folder / "manifest.json", {**manifest, "status": "running", "chunks_done": len(done)}
    )
    started, count = time.perf_counter(), len(done)
    if progress is not None:
        progress(count, plan.n_chunks)
    results = _BACKENDS[backend](experiment, todo, size, workers, scheduler)
    try:
        with contextlib.closing(results):  # an interruption stops the backend's workers at once
            for chunk, frame in results:
                _write_chunk(folder, chunk, frame)
                count += 1
                if progress is not None:
                    progress(count, plan.n_chunks)
    except WorkerDied as error:
        kept = len(finished_chunks(folder))
        raise WorkerDied(
            f"{error}; the sweep stopped with {kept} of {plan.n_chunks} chunks finished and "
            f"kept in {folder}: run the same command with --resume to continue"
        ) from None
    missing = sorted(set(range(plan.n_chunks)) - finished_chunks(folder))
    if missing:
        raise ExecutorError(
            f"{folder}: chunks {missing[:5]} are missing after the sweep; run it again "
            "with --resume"
        )
    seconds = time.perf_counter() - started
    return _final_manifest(folder, manifest, plan, experiment, todo, seconds, repaired)


def _final_manifest(
    folder: Path,
    manifest: dict[str, Any],
    plan: SweepPlan,
    experiment: Experiment,
    todo: list[int],
    seconds: float,
    repaired: list[str],
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
            "removed_before_resuming": repaired,
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
