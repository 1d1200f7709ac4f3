"""Child processes that die with their parent, and SIGTERM handled like Ctrl+C.

A sweep's pool workers and the teaching app's server are child processes. If the
parent is killed (``kill -9``, an out-of-memory kill, a closed terminal), nothing
runs in the parent to stop them, so each child arranges its own end:

- on Linux the kernel sends the child a signal when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``, set in the child; it survives ``exec``);
- elsewhere (or if ``prctl`` is unavailable) a daemon thread in the child polls
  ``os.getppid()`` once a second and exits the child when the parent is gone.

:func:`sigterm_as_interrupt` makes SIGTERM raise :class:`Terminated` (a
:class:`KeyboardInterrupt`) in the main thread, so ``kill`` cleans up exactly as
Ctrl+C does (temporary files, locks, half-made folders, pool workers); a second
SIGTERM during that clean-up is ignored. The command line then exits with
:func:`exit_code`: 143 after SIGTERM, 130 after Ctrl+C.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

__all__ = [
    "Terminated",
    "die_with_parent",
    "exit_code",
    "install_sigterm_as_interrupt",
    "parent_death_preexec",
    "sigterm_as_interrupt",
]

_PR_SET_PDEATHSIG = 1


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _watch_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Make the calling (child) process end when process ``parent`` ends.

    Meant as a ``ProcessPoolExecutor`` initializer (``initargs=(os.getpid(),)``).
    A worker holds nothing that needs cleaning up (the parent writes every file),
    so it is killed outright.
    """
    prctl = _libc_prctl()
    if prctl is not None and prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0:
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
        return
    _watch_parent(parent)


def parent_death_preexec(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``subprocess.Popen(preexec_fn=...)`` that makes the child end with this process.

    None where ``prctl`` is unavailable (the child then outlives a killed parent;
    an orderly exit still stops it).
    """
    prctl = _libc_prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: no imports here
        prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


class Terminated(KeyboardInterrupt):
    """SIGTERM (or another termination signal) received: a KeyboardInterrupt with its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = int(signum)


def exit_code(interrupt: BaseException) -> int:
    """The shell's exit code for a process stopped by ``interrupt``: 128 + the signal.

    130 for Ctrl+C (SIGINT), 143 for SIGTERM: what a shell reports for a process
    killed by that signal, so scripts and schedulers see how the command ended.
    """
    return 128 + getattr(interrupt, "signum", signal.SIGINT)


def _interrupt(signum: int, frame: object) -> None:
    # one clean-up at a time: a second SIGTERM while cleaning up is ignored (kill -9 is not)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(signum)


def install_sigterm_as_interrupt() -> None:
    """From now on SIGTERM raises KeyboardInterrupt (main thread, default action only)."""
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _interrupt)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (as Ctrl+C does).

    Only in the main thread and only if SIGTERM has its default action, so a
    handler the caller installed is left alone; the previous handler is restored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
