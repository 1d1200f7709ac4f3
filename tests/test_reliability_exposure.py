"""Exposure (issue 15): what the tool opens to other processes and other machines.

The Dask backend's local cluster speaks TLS with credentials of its own and opens
no dashboard; ``recovery-sim app`` warns when it listens beyond this machine,
refuses a port in use, and bounds every value arriving from the browser.
"""

import contextlib
import socket
from pathlib import Path

import pytest

from sim.files.experiment import load_experiment
from sim.studies.sweep import local_cluster, read_results, run_sweep

DASHBOARD_PORT = 8787  # distributed's default for the scheduler's HTTP server

EXPERIMENT = """scenario = "scenario.toml"
name = "tiny"
seed = 3
replicates = 2
weeks = 4
[design]
method = "latin"
points = 3
[parameters.unemployment_rate]
[outputs]
metrics = ["employed"]
weeks = [4]
[execution]
chunk_size = 2
"""


def _experiment(tmp_path: Path) -> Path:
    (tmp_path / "scenario.toml").write_text('name = "s"\n[population]\nsize = 30\n')
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    return path


def _listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def _our_listeners() -> set[tuple[str, int]]:
    """(address, port) of every TCP socket that this process or its children listen on.

    Other programs on the machine (another test run's Dask cluster, say) may hold
    port 8787: only our own process tree counts.
    """
    import psutil

    me = psutil.Process()
    pids = {me.pid} | {child.pid for child in me.children(recursive=True)}
    return {
        (conn.laddr.ip, conn.laddr.port)
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids
    }


@contextlib.contextmanager
def _hold(port: int):
    """Listen on ``port`` for the block (None if another process already has it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
    except OSError:
        sock.close()
        yield None
        return
    try:
        yield sock
    finally:
        sock.close()


# ----------------------------------------------------------------------- Dask local cluster


def test_local_cluster_speaks_tls_only_and_serves_no_dashboard():
    from dask.distributed import Client

    cluster = local_cluster(1)
    try:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        # the scheduler's HTTP server (dashboard, /info, /json, ...) is not listening
        listeners = _our_listeners()
        assert cluster.scheduler.http_server.port not in {port for _, port in listeners}
        assert DASHBOARD_PORT not in {port for _, port in listeners}
        assert all(ip == "127.0.0.1" for ip, _ in listeners), listeners
        with Client(cluster, timeout="20s") as client:  # the cluster's own credentials
            assert client.submit(sum, [1, 2]).result(timeout=30) == 3
        # a plain-TCP client of another process cannot connect ...
        with pytest.raises((OSError, TimeoutError)):
            Client(address.replace("tls://", "tcp://"), timeout="3s")
        # ... nor can a TLS client with credentials of its own
        from distributed.security import Security

        with pytest.raises((OSError, TimeoutError)):
            Client(address, timeout="3s", security=Security.temporary())
    finally:
        cluster.close()


def test_no_port_8787_while_a_dask_sweep_runs(tmp_path):
    experiment = load_experiment(_experiment(tmp_path))
    seen: list[set[tuple[str, int]]] = []
    manifest = run_sweep(
        experiment,
        tmp_path / "dask",
        backend="dask",
        workers=1,
        progress=lambda done, total: seen.append(_our_listeners()),
    )
    assert manifest["status"] == "complete"
    assert len(seen) == 4  # before the cluster starts, then after each of the 3 chunks
    for listeners in seen[1:]:
        assert listeners, "the cluster's processes were not found"
        assert all(ip == "127.0.0.1" for ip, _ in listeners), listeners
        assert DASHBOARD_PORT not in {port for _, port in listeners}, listeners


def test_a_dask_sweep_runs_while_another_process_holds_8787(tmp_path):
    experiment = load_experiment(_experiment(tmp_path))
    run_sweep(experiment, tmp_path / "serial", backend="serial")
    with _hold(DASHBOARD_PORT):  # held by us, or already by someone else
        manifest = run_sweep(experiment, tmp_path / "dask", backend="dask", workers=1)
    assert manifest["status"] == "complete"
    assert read_results(tmp_path / "dask").equals(read_results(tmp_path / "serial"))


# ----------------------------------------------------------------------------- the app
