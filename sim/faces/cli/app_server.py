"""``recovery-sim app``: serve the teaching app (:mod:`sim.faces.app.page`) on this machine.

The command starts solara's server for ``sim.faces.app.page:page`` in a child process,
waits until it answers, prints its address and serves until Ctrl+C (or SIGTERM). On
Linux the server is stopped by the kernel if this process is killed outright. It listens
on the loopback address unless ``--host`` says otherwise, does not check PyPI for
a newer solara and sends no telemetry. Exports from the app go to ``--out``.

The app has no authentication: anyone who can reach the address can use it (and
make this machine simulate, within the bounds of the controls). A ``--host`` that is
not a loopback address therefore prints a warning on stderr. A port already in use
is an ``error:`` line and exit code 2, before any server starts. A browser session
that disconnects is released (its virtual kernel and the models it holds) after
:data:`CULL_TIMEOUT` (solara's ``SOLARA_KERNEL_CULL_TIMEOUT``, 24 h by default in
solara itself); a reload within that time finds its session again. At most
:data:`MAX_SESSIONS` pages are served at once (``--max-sessions``; solara's
``SOLARA_KERNEL_MAX_COUNT``, unlimited in solara itself): a further page waits until
one closes. SIGTERM stops the server and exits with 143.

Register it with ``main.add_command(app)`` in :mod:`sim.faces.cli.main`; it also runs on
its own as ``python -m sim.faces.cli.app_server``.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import click

from sim.studies.processes import parent_death_preexec

__all__ = [
    "CULL_TIMEOUT",
    "MAX_SESSIONS",
    "NO_AUTH_WARNING",
    "OUT_ENV",
    "app",
    "check_port",
    "free_port",
    "is_loopback",
    "server_command",
    "server_environment",
    "wait_until_serving",
]

DEFAULT_PORT = 8521
OUT_ENV = "RECOVERY_SIM_APP_OUT"  # the app saves its exports here
CULL_TIMEOUT = "2m"  # a disconnected session's kernel (and its models) is dropped after this
# Browser pages served at once (solara's SOLARA_KERNEL_MAX_COUNT: one thread per page's
# connection). Each session holds at most two models of APP_MAX_AGENTS people; a class
# of 20 fits a laptop. Chosen, not measured: raise it with --max-sessions for a bigger
# room. Page 21 waits (it stays blank) until another closes or is culled.
MAX_SESSIONS = 20
NO_AUTH_WARNING = (
    "warning: the app has no authentication: anyone who can reach {url} can use it "
    "and make this machine simulate; use --host 127.0.0.1 unless that is what you want"
)


class PortError(OSError):
    """The app cannot listen where it was asked to."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is "localhost" or a loopback address (127.0.0.0/8, ::1).

    Names other than "localhost" are not looked up, so they count as not loopback.
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Raise :class:`PortError` unless a server could listen on ``host``:``port`` now.

    Binds (without listening) the way the server will, with ``SO_REUSEADDR``, so a
    port left in TIME_WAIT by a previous run is not taken for one in use.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortError(f"port {port} on {host} is in use") from None
            raise PortError(
                f"cannot listen on {host} port {port}: {error.strerror or error}"
            ) from None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def server_command(host: str, port: int) -> list[str]:
    """The command line that serves ``sim.faces.app.page:page`` with solara."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "sim.faces.app.page:page",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
    ]


def server_environment(
    out_dir: Path, base: Mapping[str, str] | None = None, *, max_sessions: int | None = None
) -> dict[str, str]:
    """The child's environment: exports folder, no telemetry, no hook linting at run time.

    Also the session cap: ``max_sessions`` if given, else the environment's
    ``SOLARA_KERNEL_MAX_COUNT`` if set, else :data:`MAX_SESSIONS`.
    """
    env = dict(os.environ if base is None else base)
    if max_sessions is not None:
        env["SOLARA_KERNEL_MAX_COUNT"] = str(max_sessions)
    env.setdefault("SOLARA_KERNEL_MAX_COUNT", str(MAX_SESSIONS))
    env[OUT_ENV] = str(out_dir.resolve())
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    env.setdefault("SOLARA_CHECK_HOOKS", "off")
    # release abandoned sessions: solara keeps a disconnected page's kernel for 24 h otherwise
    env.setdefault("SOLARA_KERNEL_CULL_TIMEOUT", CULL_TIMEOUT)
    # solara warns on every first request over plain http that it falls back to samesite=lax
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning:solara.server.starlette")
    return env


def wait_until_serving(url: str, process: subprocess.Popen, *, timeout: float = 60.0) -> None:
    """Return once ``url`` answers HTTP; raise if the server exits or ``timeout`` passes.

    Raises:
        RuntimeError: With the reason, if the server stopped or never answered.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the app server stopped with exit code {process.returncode} "
                "before it answered; see the messages above"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    raise RuntimeError(f"the app server did not answer at {url} within {timeout:.0f} s")


def _display_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@click.command(
    epilog="""\b
Examples:
  recovery-sim app
  recovery-sim app --port 8600 --out out/lesson-1
  recovery-sim app --host 0.0.0.0   # let other machines in the room connect"""
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (the loopback address keeps the app on this machine).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out") / "app",
    show_default=True,
    help="Folder for the charts and runs the app saves.",
)
@click.option(
    "--max-sessions",
    type=click.IntRange(1, 1000),
    default=None,
    help=f"Browser pages served at once; more wait until one closes  [default: {MAX_SESSIONS}]",
)
def app(host: str, port: int, out_dir: Path, max_sessions: int | None) -> None:
    """Start the teaching app (a Mesa SolaraViz page) and print its address.

    The app shows, live, how context changes recovery: set motivation, professional
    attitudes, unemployment, public stigma and the interventions offered, step the
    model week by week, and compare two contexts side by side on the same people.
    Stop it with Ctrl+C.
    """
    try:
        if port == 0:
            port = free_port(host)
        check_port(host, port)
    except OSError as error:  # PortError, or no such address for --port 0
        message = (
            str(error) if isinstance(error, PortError) else f"cannot listen on {host}: {error}"
        )
        click.echo(f"error: {message}", err=True)
        click.get_current_context().exit(2)
    url = _display_url(host, port)
    if not is_loopback(host):
        click.echo(NO_AUTH_WARNING.format(url=url), err=True)
    process = subprocess.Popen(
        server_command(host, port),
        env=server_environment(out_dir, max_sessions=max_sessions),
        preexec_fn=parent_death_preexec(),  # the server ends even if this process is killed
    )
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        wait_until_serving(url, process)
        click.echo(f"Recovery Pathways teaching app: {url}  (Ctrl+C to stop)", err=False)
        click.echo(f"saving charts and runs to {out_dir.resolve()}{os.sep}")
        process.wait()
    except KeyboardInterrupt:
        click.echo("stopping the app")
    except RuntimeError as error:
        raise click.ClickException(str(error)) from None
    finally:
        _stop(process)
    if process.returncode not in (0, -signal.SIGTERM, -signal.SIGINT, None):
        raise click.ClickException(f"the app server exited with code {process.returncode}")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """Turn SIGTERM into SystemExit(143), so that the server is stopped on the way out."""
    raise SystemExit(128 + signum)


def _stop(process: subprocess.Popen) -> None:
    """Terminate the server, then kill it if it does not stop within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    app()
