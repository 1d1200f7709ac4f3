"""Writing results: atomic output folders, the rule that protects the user's files, manifests.

An output folder is built under a temporary name beside its destination and
renamed into place only when complete, so a failed or interrupted run never
leaves a half-written folder behind (an existing folder is replaced only after
success). Every folder holds a ``manifest.json``: its ``kind``, package version,
git commit, parameters, seeds, command line and timings.

The rule (:func:`check_destination`, used by every command that writes a folder):
the tool writes only into a folder it creates for this output, or -- with
``--force`` (or ``--resume`` for a sweep) -- into one it recognises as its own
output of the same kind: a ``manifest.json`` of that kind and nothing but the
files that kind writes. It never replaces a folder holding anything else (the
user's notes, an input file), never writes through a symlink, FIFO, device or
regular file given as the destination, and never lets a user-controlled name
leave the output root (:func:`check_output_name`). A writer holds an exclusive
lock (:func:`output_lock`) on the destination, so two concurrent writers to one
folder cannot both succeed. Every refusal is an :class:`OutputError`, a user
error printed as one ``error:`` line.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import sim
from sim.core.errors import UserError

__all__ = [
    "KINDS",
    "OutputError",
    "atomic_folder",
    "check_destination",
    "check_output_name",
    "clean_leftovers",
    "git_commit",
    "make_manifest",
    "output_kind",
    "output_lock",
    "remove_own_output",
    "write_atomic",
    "write_json",
]


class OutputError(UserError, OSError):
    """A user error: an output location that may not, or cannot, be written.

    Raised before anything is written (or, at the latest, before anything is
    replaced) when a destination is not a folder, holds files the tool did not
    write or an input file, is another kind of output, is being written by
    another process, or cannot be created. The command line prints it as one
    ``error: ...`` line with exit code 2. (A subclass of ``OSError`` so callers
    that catch file-system errors keep working.)
    """


# What each kind of output folder holds: file names (glob patterns) the tool writes.
# Temporary files of write_atomic (``.<name>.<random>.tmp``) count as the tool's own.
_RUN_FILES = (
    "manifest.json",
    "series.parquet",
    "summary.csv",
    "report.html",
    "trajectories.png",
    "stages.png",
    "doses.png",
)
_SENSITIVITY_FILES = (
    "indices.csv",
    "noise.csv",
    "convergence.csv",
    "stable.csv",
    "analysis.json",
    "report.html",
    "morris.png",
    "levels.png",
    "ranking.png",
    "second_order.png",
    "convergence.png",
)
KINDS: dict[str, tuple[str, ...]] = {
    "run": _RUN_FILES,
    "compare": (
        *_RUN_FILES,
        "differences.csv",
        "forest.png",
        "economics.csv",
        "ce_plane.png",
        "ceac.png",
        "differences_over_time.csv",
        "differences_over_time.png",
        "cumulative.csv",
        "equity.csv",
        "equity_gaps.csv",
        "equity.png",
        "service.csv",
        "service.png",
    ),
    "trial": ("manifest.json", "trials.csv", "summary.csv", "trial.png", "report.html"),
    "moderators": ("manifest.json", "effects.csv", "moderators.png", "report.html"),
    "validation": (
        "manifest.json",
        "validation.csv",
        "predictive.csv",
        "validation.png",
        "report.html",
    ),
    "calibration": (
        "manifest.json",
        "fit_targets.csv",
        "posterior_predictive.parquet",
        "fit_history.csv",
        "posterior_summary.csv",
        "posterior_correlation.csv",
        "fit_targets.png",
        "posterior.png",
        "fit_history.png",
        "posterior_pairs.png",
        "report.html",
    ),
    "discovery": ("manifest.json", "boxes.csv", "trajectory.csv", "tradeoff.png", "report.html"),
    # a sweep folder; `sensitivity` writes its analysis into it
    "sweep": ("manifest.json", "chunks/", "chunks/chunk-*.parquet", *_SENSITIVITY_FILES),
}
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
NAME_RULE = (
    "allowed: 1-100 letters, digits, '-', '_' or '.', not starting with '.' "
    "(it names the default output folder out/<name>)"
)


def check_output_name(name: str) -> str:
    """Return ``name`` if it is safe as a folder name under ``out/``; else raise UserError.

    A scenario's, experiment's, trial's or fit's ``name`` becomes the default
    output folder, so it may not be empty, ``.``/``..``, absolute, hidden, or
    contain a path separator.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UserError(NAME_RULE)
    return name


def git_commit() -> str | None:
    """The commit of the source tree the package runs from (with '+dirty'), or None.

    None outside a source checkout (a wheel install: the package's parent folder has
    no pyproject.toml, so no enclosing repository is mistaken for ours) or without git.
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        return None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def _version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (read without importing it)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def make_manifest(*, command: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    """The provenance record of an output: versions, commit, command and ``fields``."""
    return {
        "package": "recovery-pathways",
        "version": sim.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": _version("numba"),  # the compiled rules' compiler
        "platform": platform.platform(),
        "command": command if command is not None else sys.argv,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **fields,
    }


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` in one step: a temporary file in the same folder, then rename.

    Readers never see a half-written file, and on any error the previous file
    (if any) is left as it was and no temporary file remains.

    Args:
        path: Destination file; its folder must exist.
        data: The bytes to write.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: If the destination folder does not exist.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: folder {target.parent} does not exist")
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically (temporary name, then rename)."""
    text = json.dumps(data, indent=2, default=_jsonable) + "\n"
    return write_atomic(path, text.encode("utf-8"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# ------------------------------------------------------------------ the destination rule


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / "manifest.json"
    try:
        if not stat.S_ISREG(path.lstat().st_mode) or path.lstat().st_size > 50_000_000:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def output_kind(folder: str | Path) -> str | None:
    """The kind of recovery-sim output ``folder`` holds, from its manifest; None if not one.

    Manifests written before the ``kind`` field existed are recognised by their keys.
    """
    manifest = _read_manifest(Path(folder))
    if manifest is None or manifest.get("package") != "recovery-pathways":
        return None
    kind = manifest.get("kind")
    if kind is not None:
        return kind if kind in KINDS else None
    if "experiment_digest" in manifest:
        return "sweep"
    if "trial_file" in manifest:
        return "trial"
    if "fit_file" in manifest:
        return "calibration"
    if "common_random_numbers" in manifest and "source" not in manifest:
        return "compare"
    if "scenarios" in manifest and "source" not in manifest:
        return "run"
    return None


def _is_own_name(relative: str, kind: str) -> bool:
    """Whether a ``kind`` output writes ``relative`` (a temporary ``.<name>.<suffix>`` too)."""
    patterns = KINDS[kind]
    head, _, name = relative.rpartition("/")
    names = [name]
    if name.startswith("."):  # a temporary file left by write_atomic: .<own name>.<suffix>
        parts = name[1:].split(".")
        names = [".".join(parts[:k]) for k in range(1, len(parts))]
    return any(
        fnmatch.fnmatchcase(f"{head}/{n}" if head else n, p) for n in names for p in patterns
    )


def _foreign_entries(folder: Path, kind: str) -> list[str]:
    """Entries of ``folder`` that a ``kind`` output does not write (relative names)."""
    foreign = []
    for entry in sorted(folder.iterdir()):
        mode = entry.lstat().st_mode
        if stat.S_ISDIR(mode) and _is_own_name(f"{entry.name}/", kind):
            for inner in sorted(entry.iterdir()):
                relative = f"{entry.name}/{inner.name}"
                if not (stat.S_ISREG(inner.lstat().st_mode) and _is_own_name(relative, kind)):
                    foreign.append(relative)
        elif not (stat.S_ISREG(mode) and _is_own_name(entry.name, kind)):
            foreign.append(entry.name)
    return foreign


def _what(mode: int) -> str | None:
    """What a non-folder destination is, or None for a folder."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return None
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket or special file"


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (OSError, ValueError, RuntimeError):
        return False
    return True


def check_destination(
    destination: str | Path,
    kind: str | None = None,
    *,
    force: bool = False,
    resume: bool = False,
    inputs: Iterable[str | Path | None] = (),
    option: str = "--out",
) -> str:
    """Decide whether ``destination`` may be written; the one rule every command follows.

    Args:
        destination: The output folder.
        kind: The kind of output about to be written (a key of :data:`KINDS`); None for
            a folder that must be new or empty.
        force: Replace an existing output of the same ``kind`` (and nothing else).
        resume: Continue an existing output of the same ``kind`` (sweeps).
        inputs: Files the command reads; the destination may not hold any of them.
        option: How the user named the destination, for messages.

    Returns:
        "create" (absent or an empty folder), "replace" (own output, with ``force``)
        or "resume" (own output, with ``resume``).

    Raises:
        OutputError: If the destination may not be written; nothing has been touched.
    """
    destination = Path(destination)
    where = f"{option} {destination}"
    try:
        mode = destination.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputError(f"cannot write to {where}: {exc.strerror or exc}") from None
    if mode is not None and (what := _what(mode)) is not None:
        raise OutputError(
            f"cannot write to {where}: it is {what}, not a folder; give a folder path"
        )
    for parent in destination.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise OutputError(f"cannot write to {where}: {parent} is a file, not a folder")
            break
    if mode is None:
        return "create"
    for source in inputs:
        if source is not None and _inside(Path(source), destination):
            raise OutputError(
                f"refusing to write to {where}: it holds the input file "
                f"{source}; choose another {option}"
            )
    try:
        empty = not any(destination.iterdir())
    except OSError as exc:
        raise OutputError(f"cannot write to {where}: {exc.strerror or exc}") from None
    if empty:
        return "create"
    found = output_kind(destination)
    if kind is None or found != kind:
        own = (
            f"a recovery-sim {found} output, not a {kind} output"
            if found and kind
            else "not an output of recovery-sim"
            if kind
            else "not empty"
        )
        raise OutputError(
            f"refusing to replace {where}: it is {own}; choose another {option} "
            "(--force replaces only this tool's own output of the same kind)"
        )
    foreign = _foreign_entries(destination, kind)
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(
            f"refusing to replace {where}: it also holds files recovery-sim did "
            f"not write ({shown}); move them or choose another {option}"
        )
    if resume:
        return "resume"
    if force:
        return "replace"
    hint = "--resume to continue it or --force" if kind == "sweep" else "--force"
    raise OutputError(
        f"{where} already holds a recovery-sim {kind} output; use {hint} to "
        f"replace it, or choose another {option}"
    )


def remove_own_output(folder: str | Path, kind: str) -> None:
    """Delete the files a ``kind`` output writes from ``folder``, then the folder if empty.

    Only recognised files are removed, so anything that appeared since
    :func:`check_destination` survives (and keeps the folder).
    """
    folder = Path(folder)
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            continue
        if entry.is_dir() and _is_own_name(f"{entry.name}/", kind):
            for inner in entry.iterdir():
                if (
                    inner.is_file()
                    and not inner.is_symlink()
                    and _is_own_name(f"{entry.name}/{inner.name}", kind)
                ):
                    inner.unlink()
            with contextlib.suppress(OSError):
                entry.rmdir()
        elif entry.is_file() and _is_own_name(entry.name, kind):
            entry.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


@contextlib.contextmanager
def output_lock(destination: str | Path, *, option: str = "--out") -> Iterator[None]:
    """Hold an exclusive lock on ``destination`` (a lock file beside it, in its parent).

    A second writer -- another process, or this one -- fails at once with an
    :class:`OutputError` instead of waiting. The parent folder must exist. The
    lock file is removed on release, while still locked. A ``kill -9`` leaves it
    behind, unlocked (the kernel releases a dead process's ``flock``): the next
    writer takes it over and removes it when it finishes.
    """
    destination = Path(destination)
    lock = destination.parent / f".{destination.name}.lock"
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    busy = OutputError(
        f"{option} {destination} is being written by another recovery-sim "
        f"process (lock {lock}); wait for it to finish, or write elsewhere"
    )
    for _ in range(20):
        try:
            handle = os.open(lock, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise OutputError(
                f"cannot lock {option} {destination}: {lock}: {exc.strerror or exc}"
            ) from None
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                raise OutputError(
                    f"cannot lock {option} {destination}: {lock} is not a regular file"
                )
            if not _try_lock(handle):
                raise busy
            try:
                same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(handle).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(handle)
            raise
        if same:
            break
        os.close(handle)  # the previous holder removed it meanwhile: take the new one
    else:
        raise busy
    try:
        yield
    finally:
        # still holding the lock: remove the file if it is still ours (one a killed
        # writer left and this one took over included), so no .lock file stays behind
        with contextlib.suppress(OSError):
            if os.stat(lock, follow_symlinks=False).st_ino == os.fstat(handle).st_ino:
                os.unlink(lock)
        os.close(handle)


def _try_lock(handle: int) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover -- Windows: msvcrt's byte-range lock
        import msvcrt

        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def atomic_folder(
    destination: str | Path,
    kind: str | None = None,
    *,
    force: bool = False,
    inputs: Iterable[str | Path | None] = (),
    option: str = "--out",
) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``destination`` only if the block succeeds.

    ``destination`` is checked with :func:`check_destination` before the block
    (nothing is created if it is refused) and again, under :func:`output_lock`,
    just before the swap, so a file the user put there meanwhile is not lost.

    Args:
        destination: The output folder.
        kind: The kind of output (a key of :data:`KINDS`); None: only a new or empty folder.
        force: Replace an existing output of the same kind.
        inputs: Files the command reads (the destination may not hold them).
        option: How the user named the destination, for messages.

    Raises:
        OutputError: If the destination may not be written, is locked by another
            writer, or its parent cannot be created or written.
    """
    inputs = [Path(p) for p in inputs if p is not None]
    destination = Path(destination)
    check_destination(destination, kind, force=force, inputs=inputs, option=option)
    parent = destination.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot write to {option} {destination}: {exc.strerror or exc}"
        ) from None
    with output_lock(destination, option=option):
        check_destination(destination, kind, force=force, inputs=inputs, option=option)
        clean_leftovers(destination, kind)
        try:
            work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=parent))
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(work, 0o777 & ~mask)  # mkdtemp makes 0700; results follow the umask
        except OSError as exc:
            raise OutputError(
                f"cannot write to {option} {destination}: {exc.strerror or exc}"
            ) from None
        try:
            yield work
            check_destination(destination, kind, force=force, inputs=inputs, option=option)
            _swap_into_place(work, destination, kind)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise


def clean_leftovers(destination: str | Path, kind: str | None) -> list[str]:
    """Remove what a killed writer of ``destination`` left beside it; report what stays.

    Call while holding :func:`output_lock` on ``destination``: no live writer then
    owns a ``.<name>.partial-*`` folder, so one holding only files a ``kind`` output
    writes is removed. A ``.<name>.old-*`` folder (the previous output, moved aside
    by a replace that was killed half-way) is reported, never removed. Each is
    logged as a warning; the messages are returned.
    """
    destination = Path(destination)
    parent = destination.absolute().parent
    messages = []
    try:
        entries = sorted(parent.iterdir())
    except OSError:
        return messages
    for entry in entries:
        name = entry.name
        if not name.startswith(f".{destination.name}."):
            continue
        rest = name[len(destination.name) + 2 :]
        if not (rest.startswith(("partial-", "old-")) and stat.S_ISDIR(entry.lstat().st_mode)):
            continue
        if rest.startswith("partial-") and kind is not None and not _foreign_entries(entry, kind):
            shutil.rmtree(entry, ignore_errors=True)
            messages.append(f"removed {entry}: left by an interrupted write of {destination}")
        elif rest.startswith("partial-"):
            messages.append(
                f"{entry} was left by an interrupted write of {destination}; "
                "it holds other files, so it was kept: check it and delete it"
            )
        else:
            messages.append(
                f"{entry} holds the previous output of {destination}, moved aside by an "
                "interrupted replace; kept: check it and delete it"
            )
    for message in messages:
        logging.getLogger(__name__).warning("note: %s", message)
    return messages


def _swap_into_place(work: Path, destination: Path, kind: str | None) -> None:
    """Move ``work`` to ``destination``, which :func:`check_destination` has just allowed."""
    old = None
    if os.path.lexists(destination):
        old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        os.replace(destination, old)
    os.replace(work, destination)
    if old is not None:
        if kind is None:
            with contextlib.suppress(OSError):
                old.rmdir()  # it was empty
        else:
            remove_own_output(old, kind)
