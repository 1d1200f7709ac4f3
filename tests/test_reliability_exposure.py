"""Exposure (issue 15): what the tool opens to other processes and other machines.

The Dask backend's local cluster speaks TLS with credentials of its own and opens
no dashboard; ``recovery-sim app`` warns when it listens beyond this machine,
refuses a port in use, and bounds every value arriving from the browser.
"""

import contextlib
import math
import socket
import subprocess
import sys
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


def _app_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sim", "app", *args]


def test_app_port_in_use_is_an_error_line_and_exit_2(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        result = subprocess.run(
            _app_command("--port", str(port), "--out", str(tmp_path / "out")),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"error: port {port} on 127.0.0.1 is in use"]
    assert "Traceback" not in result.stderr and "http://" not in result.stdout
    assert not (tmp_path / "out").exists()


def test_app_address_not_on_this_machine_is_an_error_line_and_exit_2(tmp_path):
    # 192.0.2.1 (TEST-NET-1) is on no interface here: binding fails, and no packet is sent
    result = subprocess.run(
        _app_command("--host", "192.0.2.1", "--out", str(tmp_path / "out")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot listen on 192.0.2.1")
    assert "Traceback" not in result.stderr


class _FakeServer:
    """Stands in for the solara server process: answers at once, exits 0."""

    returncode = 0

    def __init__(self, command, env):
        self.command, self.env = command, env

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0


@pytest.mark.parametrize(
    "host,warned",
    [
        ("0.0.0.0", True),
        ("::", True),
        ("192.0.2.7", True),
        ("example.org", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("localhost", False),
        ("::1", False),
    ],
)
def test_app_warns_when_listening_beyond_loopback(monkeypatch, tmp_path, host, warned):
    from click.testing import CliRunner

    from sim.faces.cli import app_server

    launched = []
    checked = []

    def fake_popen(command, env, **options):
        launched.append(_FakeServer(command, env))
        return launched[-1]

    # nothing is bound or started: the port check, the launch and the wait are stand-ins
    monkeypatch.setattr(app_server, "check_port", lambda h, p: checked.append((h, p)))
    monkeypatch.setattr(app_server.subprocess, "Popen", fake_popen)
    monkeypatch.setattr(app_server, "wait_until_serving", lambda url, process: None)
    result = CliRunner().invoke(
        app_server.app, ["--host", host, "--port", "8600", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert checked == [(host, 8600)] and len(launched) == 1
    assert ("no authentication" in result.stderr) is warned
    assert "no authentication" not in result.stdout
    assert launched[0].env["SOLARA_KERNEL_CULL_TIMEOUT"] == app_server.CULL_TIMEOUT


def test_abandoned_sessions_are_released_within_minutes():
    import solara.util

    from sim.faces.cli.app_server import server_environment

    env = server_environment(Path("out"), base={})
    assert solara.util.parse_timedelta(env["SOLARA_KERNEL_CULL_TIMEOUT"]) <= 300
    # a value the user set is kept
    kept = server_environment(Path("out"), base={"SOLARA_KERNEL_CULL_TIMEOUT": "1h"})
    assert kept["SOLARA_KERNEL_CULL_TIMEOUT"] == "1h"


# Values a crafted websocket message can put into the app's settings.
HOSTILE = {
    "n_agents": 50_000_000,
    "seed": -5,
    "weeks": 10**12,
    "side_by_side": "yes",
    "preset": "../../etc/passwd",
    "params": {"motivation_median": math.nan, "unemployment_rate": 0.9, "evil": 1.0},
    "offer": {"peer_support": 7.0, "self_management": -1.0, "not_an_offer": 1.0},
    "staff_training": [1],
    "context_a": {"public_stigma": math.inf, "unemployment_rate": "0.5"},
    "context_b": {"professional_attitudes": -1e300},
    "name_a": "x" * 10_000,
    "name_b": None,
    "extra": "ignored",
}


@pytest.fixture(scope="module")
def page():
    import warnings

    with warnings.catch_warnings():  # Mesa's components trip solara's hook linter at import
        warnings.simplefilter("ignore")
        import sim.faces.app.page as module
    return module


def test_out_of_bounds_settings_from_the_browser_are_clamped_or_refused(page):
    from sim.core.parameters import REGISTRY
    from sim.faces.app.session import APP_MAX_AGENTS, APP_MAX_WEEKS

    kwargs = page.model_kwargs(HOSTILE)
    assert kwargs["n_agents"] == APP_MAX_AGENTS
    assert kwargs["seed"] == 0
    assert kwargs["weeks"] == APP_MAX_WEEKS
    assert kwargs["context_b"] is None  # "yes" is not a switch value: the default (off)
    assert kwargs["staff_training"] is False
    # unknown names are dropped; NaN and non-numbers take the default; the rest is clamped
    assert kwargs["params"] == {"motivation_median": REGISTRY["motivation_median"].default}
    assert set(kwargs["offer"]) == set(page.DEFAULT_SETTINGS["offer"])
    assert kwargs["offer"]["peer_support"] == 1.0 and kwargs["offer"]["self_management"] == 0.0
    stigma = REGISTRY["public_stigma"]
    assert kwargs["context_a"]["public_stigma"] == stigma.high
    assert (
        kwargs["context_a"]["unemployment_rate"]
        == page.DEFAULT_SETTINGS["context_a"]["unemployment_rate"]
    )
    assert len(kwargs["name_a"]) <= page.NAME_MAX and kwargs["name_b"] == "context-b"
    for name, value in page.bounded_settings(HOSTILE)["context_b"].items():
        assert REGISTRY[name].low <= value <= REGISTRY[name].high
    assert page.bounded_settings(HOSTILE)["preset"] == page.CUSTOM
    # what comes out builds (small), and bounding is idempotent; the defaults pass unchanged
    model = page.ContextComparison(**{**kwargs, "weeks": 2, "n_agents": 20})
    assert model.week == 0
    assert page.bounded_settings(page.DEFAULT_SETTINGS) == page.DEFAULT_SETTINGS
    bounded = page.bounded_settings(HOSTILE)
    assert page.bounded_settings(bounded) == bounded


def test_not_a_mapping_gives_the_default_settings(page):
    assert page.bounded_settings("n_agents=5e7") == page.DEFAULT_SETTINGS
    assert page.bounded_settings({"params": [1, 2], "offer": "all"}) == page.DEFAULT_SETTINGS


@pytest.mark.parametrize("n_agents", [50_000_000, 0, -1, 2.5, True, "100"])
def test_the_app_model_refuses_a_population_beyond_the_limit(n_agents):
    from sim.faces.app.session import ContextComparison

    with pytest.raises(ValueError, match="n_agents must be a whole number"):
        ContextComparison(n_agents=n_agents, weeks=2)


def test_the_app_model_refuses_a_horizon_beyond_the_limit():
    from sim.faces.app.session import ContextComparison

    with pytest.raises(ValueError, match="weeks must be a whole number"):
        ContextComparison(n_agents=20, weeks=10**12)


SESSION_CHECK = """
import gc, sys, warnings
warnings.simplefilter("ignore")
import solara
import solara.server.app  # solara's server patches, as in `solara run`
import solara.server.patch
from solara.server import kernel, kernel_context
import sim.faces.app.page as page
from sim.faces.mesa_model import RecoveryModel

if not solara.server.patch._patched:
    solara.server.patch.patch()


def models():
    gc.collect()
    return sum(type(o) is RecoveryModel for o in gc.get_objects())  # type(): no proxy deref


before = models()
for i in range(2):
    name = f"exposure-test-{i}"
    context = kernel_context.VirtualKernelContext(id=name, session_id=name, kernel=kernel.Kernel())
    kernel_context.contexts[name] = context
    with context:
        box, rc = solara.render(solara.AppLayout(children=[page.Page()]))
        context.app_object = rc
    held = models() - before
    del box, rc
    context.close(reason="cull")  # what solara does to an abandoned session's kernel
    kernel_context.contexts.pop(name, None)
    print(f"session {i}: held {held}, left {models() - before}")
"""


def test_a_closed_session_releases_its_models():
    # in a fresh interpreter: solara's server patches stay out of this test process
    result = subprocess.run(
        [sys.executable, "-c", SESSION_CHECK], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[-2:]
    assert lines[0].startswith("session 0: held ") and not lines[0].startswith("session 0: held 0")
    assert [line.split(", ")[1] for line in lines] == ["left 0", "left 0"], result.stdout


def test_a_replaced_model_is_released(page):
    """Reset and every control change build a new model; the one replaced is freed."""
    import gc

    import ipyvuetify as v
    import solara

    from sim.faces.mesa_model import RecoveryModel

    def models() -> int:
        gc.collect()
        return sum(type(o) is RecoveryModel for o in gc.get_objects())  # type(): no proxy deref

    before = models()
    _box, rc = solara.render(solara.AppLayout(children=[page.Page()]), handle_error=False)
    try:
        for _ in range(3):
            rc.find(v.Btn, children=["Reset"]).widget.fire_event("click", {})
            rc.find(v.Btn, children=["Step"]).widget.fire_event("click", {})
            assert models() - before == 1  # context A of the model on screen, nothing else
    finally:
        rc.close()
    assert models() == before


# ------------------------------------------------------------------ the session cap


def test_sessions_are_capped_by_default_and_the_user_can_choose():
    from sim.faces.cli.app_server import MAX_SESSIONS, server_environment

    assert server_environment(Path("out"), base={})["SOLARA_KERNEL_MAX_COUNT"] == str(MAX_SESSIONS)
    kept = server_environment(Path("out"), base={"SOLARA_KERNEL_MAX_COUNT": "7"})
    assert kept["SOLARA_KERNEL_MAX_COUNT"] == "7"  # a value set in the environment stays
    chosen = server_environment(Path("out"), base={"SOLARA_KERNEL_MAX_COUNT": "7"}, max_sessions=3)
    assert chosen["SOLARA_KERNEL_MAX_COUNT"] == "3"  # --max-sessions wins


def test_the_running_server_limits_simultaneous_sessions_and_exits_143_on_sigterm(tmp_path):
    # no browser: solara reports its connection limiter's size on /resourcez
    pytest.importorskip("solara")
    import json
    import signal
    import time
    import urllib.request

    import psutil

    from sim.faces.cli.app_server import free_port

    port = free_port()
    log = tmp_path / "stdout.txt"
    with log.open("w") as stdout:
        process = subprocess.Popen(
            _app_command("--port", str(port), "--out", str(tmp_path), "--max-sessions", "3"),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "teaching app" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, "the app stopped before it answered"
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/resourcez"
        with urllib.request.urlopen(url, timeout=10) as response:
            limiter = json.load(response)["kernels"]["limiter"]
        servers = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert limiter["total_tokens"] == 3, limiter
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    _, alive = psutil.wait_procs(servers, timeout=10)
    assert not alive
