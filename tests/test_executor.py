"""The executor: same dataset whatever the backend, chunking or workers; faults; resume."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.files.experiment import load_experiment
from sim.studies.sweep import SweepPlan, finished_chunks, read_results, run_sweep

EXPERIMENT = """
name = "tiny"
seed = 3
replicates = 2
weeks = {weeks}
[design]
method = "latin"
points = {points}
[parameters.unemployment_rate]
[parameters.professional_attitudes]
low = 0.2
high = 0.9
[outputs]
metrics = ["employed", "personal_recovery", "ties"]
weeks = [{half}, {weeks}]
[execution]
chunk_size = 4
"""


def _experiment(tmp_path: Path, *, points=6, weeks=8, agents=40, name="exp.toml") -> Path:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(
        f'name = "s"\n[population]\nsize = {agents}\n'
        "[offers]\npeer_support = 0.5\nsupported_employment = 0.3\n"
    )
    text = 'scenario = "scenario.toml"\n' + EXPERIMENT.format(
        points=points, weeks=weeks, half=weeks // 2
    )
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    experiment = load_experiment(_experiment(tmp))
    run_sweep(experiment, tmp / "serial", backend="serial", chunk_size=5)
    return tmp, read_results(tmp / "serial")


def test_reference_dataset_is_complete(reference):
    _, frame = reference
    assert len(frame) == 12
    assert not frame.duplicated(["design_point", "replicate"]).any()
    assert list(frame.columns[:4]) == [
        "design_point",
        "replicate",
        "unemployment_rate",
        "professional_attitudes",
    ]
    assert {"employed_w4", "employed_w8", "personal_recovery_w8", "ties_w4"} <= set(frame)


@pytest.mark.parametrize(
    "backend,workers,chunk_size",
    [
        ("serial", 1, 1),
        ("serial", 1, 7),
        ("process", 2, 3),
        ("process", 2, 12),
        ("dask", 2, 2),
        ("dask", 2, 5),
    ],
)
def test_backends_and_chunkings_give_bit_identical_datasets(
    reference, backend, workers, chunk_size, tmp_path
):
    tmp, expected = reference
    experiment = load_experiment(_experiment(tmp))
    manifest = run_sweep(
        experiment, tmp_path / "out", backend=backend, workers=workers, chunk_size=chunk_size
    )
    assert manifest["status"] == "complete" and manifest["backend"] == backend
    assert len(finished_chunks(tmp_path / "out")) == SweepPlan(6, 2, chunk_size).n_chunks
    pd.testing.assert_frame_equal(read_results(tmp_path / "out"), expected, check_exact=True)


def test_killed_dask_worker_does_not_change_the_dataset(tmp_path):
    from dask.distributed import Client, LocalCluster

    experiment = load_experiment(_experiment(tmp_path, points=16, weeks=80, agents=300))
    run_sweep(experiment, tmp_path / "calm", backend="serial", chunk_size=2)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # never port 8787
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = list(client.run(os.getpid).values())
        errors = []

        def sweep():
            try:
                run_sweep(
                    experiment,
                    tmp_path / "stormy",
                    scheduler=cluster.scheduler_address,
                    chunk_size=2,
                )
            except Exception as error:  # reported below
                errors.append(error)

        thread = threading.Thread(target=sweep)
        thread.start()
        deadline = time.monotonic() + 60
        while not finished_chunks(tmp_path / "stormy") and time.monotonic() < deadline:
            time.sleep(0.05)
        done_at_kill = len(finished_chunks(tmp_path / "stormy"))
        os.kill(pids[0], signal.SIGKILL)  # mid-sweep: chunks are still running
        thread.join(timeout=120)
    assert done_at_kill < 16, "the worker was killed after the sweep had finished"
    assert not errors, errors
    assert len(finished_chunks(tmp_path / "stormy")) == 16
    pd.testing.assert_frame_equal(
        read_results(tmp_path / "stormy"), read_results(tmp_path / "calm"), check_exact=True
    )


def _sweep_command(experiment: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sim",
        "sweep",
        str(experiment),
        "--out",
        str(out),
        "--chunk-size",
        "1",
        *extra,
    ]


def test_interrupted_sweep_resumes_to_the_same_dataset(tmp_path):
    path = _experiment(tmp_path, points=8, weeks=60, agents=300)
    run_sweep(load_experiment(path), tmp_path / "whole", backend="serial", chunk_size=1)
    out = tmp_path / "cut"
    process = subprocess.Popen(
        _sweep_command(path, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while len(finished_chunks(out)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted = finished_chunks(out)
    assert 3 <= len(interrupted) < 16, "the kill came too late to test resuming"
    # a half-written chunk (a temporary file) is never read as finished
    (out / "chunks" / ".chunk-000015.parquet.partial").write_bytes(b"PAR1 truncated")
    assert finished_chunks(out) == interrupted
    refused = subprocess.run(_sweep_command(path, out), capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = subprocess.run(
        _sweep_command(path, out, "--resume"), capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"({16 - len(interrupted)} this session" in resumed.stdout
    frame = read_results(out)
    assert not frame.duplicated(["design_point", "replicate"]).any()
    pd.testing.assert_frame_equal(frame, read_results(tmp_path / "whole"), check_exact=True)


def test_resume_refuses_a_changed_experiment(tmp_path):
    path = _experiment(tmp_path)
    run_sweep(load_experiment(path), tmp_path / "out", chunk_size=4)
    path.write_text(path.read_text().replace("seed = 3", "seed = 4"))
    result = subprocess.run(
        _sweep_command(path, tmp_path / "out", "--resume"), capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "cannot resume" in result.stderr and "experiment_digest" in result.stderr


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            ("[parameters.unemployment_rate]", "[parameters.unemployment_rte]"),
            "did you mean 'unemployment_rate'",
        ),
        (("low = 0.2", "low = -0.5"), "inside the registry's [0.0, 1.0]"),
        (("replicates = 2", "replicates = 0"), "replicates"),
        (('method = "latin"', 'method = "random"'), "design.method"),
        (('metrics = ["employed"', 'metrics = ["employment"'), "unknown metric 'employment'"),
        (
            ("[parameters.unemployment_rate]", "[parameters.offers.peer_suport]"),
            "parameters.offers.peer_suport: unknown intervention 'peer_suport'",
        ),
        (
            ("[parameters.unemployment_rate]", "[parameters.costs.bed_day]\nlow = 1\nhigh = 2"),
            "parameters.costs.bed_day: a unit cost prices the economic outputs",
        ),
    ],
)
def test_bad_experiments_exit_2_with_one_line(tmp_path, edit, message):
    path = _experiment(tmp_path)
    path.write_text(path.read_text().replace(*edit))
    result = subprocess.run(_sweep_command(path, tmp_path / "out"), capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_exits_2(tmp_path):
    result = subprocess.run(
        _sweep_command(_experiment(tmp_path), tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_sweeps_draw_parameters_from_a_posterior_independently_of_chunking(tmp_path):
    path = _experiment(tmp_path)
    pd.DataFrame(
        {
            "job_finding_probability_per_week": [0.001, 0.02],
            "unemployment_rate": [0.2, 0.2],  # varied by the design: the design wins
            "weight": [0.5, 0.5],
        }
    ).to_parquet(tmp_path / "post.parquet")
    path.write_text('posterior = "post.parquet"\n' + path.read_text())
    experiment = load_experiment(path)
    first = run_sweep(experiment, tmp_path / "a", chunk_size=1)
    run_sweep(experiment, tmp_path / "b", chunk_size=5)
    with_draws = read_results(tmp_path / "a")
    pd.testing.assert_frame_equal(with_draws, read_results(tmp_path / "b"), check_exact=True)
    assert "posterior draw per run" in first["uncertainty"]
    plain = tmp_path / "plain.toml"
    plain.write_text(path.read_text().replace('posterior = "post.parquet"\n', ""))
    run_sweep(load_experiment(plain), tmp_path / "c", chunk_size=5)
    without = read_results(tmp_path / "c")
    pd.testing.assert_series_equal(with_draws["unemployment_rate"], without["unemployment_rate"])
    assert not with_draws["employed_w8"].equals(without["employed_w8"])
