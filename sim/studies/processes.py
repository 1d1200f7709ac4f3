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

A signal can land where Python cannot raise: in a ``__del__`` method or a weakref
callback run by the garbage collector, whose exceptions are reported as
"unraisable" and dropped. A :class:`Terminated` lost that way is delivered again
(see :func:`_redeliver_lost_termination`), so ``kill`` always stops the command.

Some libraries cannot be stopped at an arbitrary line: pyABC's database writes have
no ``finally`` and SQLAlchemy returns connections to its pool from weakref
callbacks, so a signal there can leave a lock that pyABC's own clean-up then waits
on (two minutes). :func:`interrupts_held` holds Ctrl+C and SIGTERM while such code
runs; :func:`interrupts_allowed` marks the parts (simulation) where they are raised
at once, a held one first.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "Terminated",
    "die_with_parent",
    "exit_code",
    "install_sigterm_as_interrupt",
    "interrupts_allowed",
    "interrupts_held",
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


_held: list[int] | None = None  # signals received inside interrupts_held(), else None


def _stopped_by(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _interrupt(signum: int, frame: object) -> None:
    if _held is not None:
        _held.append(signum)
        return
    if signum == signal.SIGTERM:  # one clean-up at a time: a second SIGTERM is ignored
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _stopped_by(signum)


def _redeliver_lost_termination(unraisable: Any) -> None:
    """``sys.unraisablehook``: a :class:`Terminated` that Python dropped is sent again.

    The handler is re-armed and the signal re-sent from another thread once this
    hook has returned, so it is raised in the main thread outside the garbage
    collector's callback (and sent again if it lands in another one). Anything else
    goes to the hook that was there before.
    """
    lost = unraisable.exc_value
    if not isinstance(lost, Terminated):
        _previous_unraisablehook(unraisable)
        return
    hook_done = threading.Event()

    def send_again() -> None:
        hook_done.wait()
        time.sleep(0.01)  # the hook's own return
        os.kill(os.getpid(), lost.signum)

    signal.signal(lost.signum, _interrupt)
    threading.Thread(target=send_again, name="redeliver-sigterm", daemon=True).start()
    hook_done.set()


_previous_unraisablehook = sys.unraisablehook


def _arm() -> None:
    global _previous_unraisablehook
    if sys.unraisablehook is not _redeliver_lost_termination:
        _previous_unraisablehook = sys.unraisablehook
        sys.unraisablehook = _redeliver_lost_termination
    signal.signal(signal.SIGTERM, _interrupt)


def install_sigterm_as_interrupt() -> None:
    """From now on SIGTERM raises KeyboardInterrupt (main thread, default action only)."""
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        _arm()


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
    hook = sys.unraisablehook
    _arm()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = hook


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Within the block Ctrl+C and SIGTERM wait, to be raised when it ends.

    Or earlier, inside :func:`interrupts_allowed`. Main thread only; SIGINT is
    taken over only from Python's default handler and SIGTERM only from this
    module's (the command line installs it), and both are restored afterwards.
    """
    global _held
    if threading.current_thread() is not threading.main_thread() or _held is not None:
        yield
        return
    previous = {
        signum: signal.getsignal(signum)
        for signum, ours in (
            (signal.SIGINT, signal.default_int_handler),
            (signal.SIGTERM, _interrupt),
        )
        if signal.getsignal(signum) is ours
    }
    for signum in previous:
        signal.signal(signum, _interrupt)
    _held = []
    try:
        yield
    finally:
        held, _held = _held, None
        for signum, handler in previous.items():
            if signal.getsignal(signum) is _interrupt:  # not ignored by a clean-up under way
                signal.signal(signum, handler)
    if held:
        _interrupt(held[0], None)


@contextlib.contextmanager
def interrupts_allowed() -> Iterator[None]:
    """Inside :func:`interrupts_held`: signals are raised at once (a held one first).

    Garbage is collected first, while signals are still held, so no weakref
    callback of the held code runs (and is cut short) inside the block.
    """
    global _held
    if _held is None:
        yield
        return
    gc.collect()
    held, _held = _held, None
    try:
        if held:
            _interrupt(held[0], None)
        yield
    finally:
        _held = []
