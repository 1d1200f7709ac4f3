"""Writing results: atomic output folders and the manifest every output carries.

An output folder is built under a temporary name beside its destination and
renamed into place only when complete, so a failed or interrupted run never
leaves a half-written folder behind (an existing folder is replaced only after
success). Every folder holds a ``manifest.json``: package version, git commit,
parameters, seeds, command line and timings.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import sim

__all__ = ["OutputError", "atomic_folder", "git_commit", "make_manifest", "write_atomic",
           "write_json"]


class OutputError(OSError):
    """An output location that cannot be written."""


def git_commit() -> str | None:
    """The commit of the source tree the package runs from (with '+dirty'), or None.

    None outside a source checkout (a wheel install: the package's parent folder has
    no pyproject.toml, so no enclosing repository is mistaken for ours) or without git.
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        return None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=5,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def _kernels() -> str:
    """Which weekly-step implementation ran (the compiled one; recorded with numba's version)."""
    from sim.core.compiled import resolve_kernels  # the model layer, read lazily

    try:
        choice = resolve_kernels()
    except ValueError as error:
        return f"invalid: {error}"
    import numba

    return f"{choice} {numba.__version__}"


def make_manifest(*, command: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    """The provenance record of an output: versions, commit, command and ``fields``."""
    return {
        "package": "recovery-pathways",
        "version": sim.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "kernels": _kernels(),
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
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                         dir=target.parent)
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


@contextlib.contextmanager
def atomic_folder(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``destination`` only if the block succeeds.

    Raises:
        OutputError: If the parent folder cannot be created or written.
    """
    destination = Path(destination)
    parent = destination.resolve().parent
    _check_writable(destination)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=parent))
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(work, 0o777 & ~mask)  # mkdtemp makes 0700; a results folder follows the umask
    except OSError as exc:
        raise OutputError(f"cannot write to {destination}: {exc.strerror or exc}") from None
    try:
        yield work
        _swap_into_place(work, destination)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _check_writable(destination: Path) -> None:
    """Fail before any work if the destination or one of its parents is a file."""
    if destination.is_file():
        raise OutputError(f"cannot write to {destination}: it is a file, not a folder")
    for parent in destination.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"cannot write to {destination}: {parent} is a file, "
                                  "not a folder")
            break


def _swap_into_place(work: Path, destination: Path) -> None:
    if destination.is_file():
        raise OutputError(f"cannot write to {destination}: it is a file, not a folder")
    old = None
    if destination.exists():
        old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        os.replace(destination, old)
    os.replace(work, destination)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
