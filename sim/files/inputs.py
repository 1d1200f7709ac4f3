"""Reading a user-named input file safely: regular files only, bounded, decoded, named.

Every input file (scenario, experiment, trial, fit, targets, posterior) is opened
here, so every way a file can be unusable becomes one user error naming the file:
missing, a folder, a FIFO or device (refused before opening, so nothing hangs),
too large (:data:`~sim.core.errors.MAX_FILE_BYTES`), unreadable, not UTF-8, invalid
TOML, or nested deeper than :data:`~sim.core.errors.MAX_TOML_DEPTH`.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from sim.core.errors import MAX_FILE_BYTES, MAX_TOML_DEPTH, UserError

__all__ = ["InputFileError", "check_input_file", "read_input_bytes", "read_toml_file"]


class InputFileError(UserError):
    """An input file that cannot be read (the message names the file)."""


def check_input_file(
    path: Path, what: str = "file", error: type[UserError] = InputFileError, limit: int = 0
) -> os.stat_result:
    """Stat ``path``; raise ``error`` unless it is an existing regular file of bounded size.

    ``limit`` (bytes) defaults to :data:`MAX_FILE_BYTES`; 0 means that default.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except RuntimeError as exc:  # a symlink loop on some Pythons
        raise error(f"{path}: cannot read {what}: {exc}") from None
    except OSError as exc:  # a symlink loop (ELOOP), a name too long, no permission...
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: is not a regular file (a FIFO, socket or device); give a {what}")
    limit = limit or MAX_FILE_BYTES
    if info.st_size > limit:
        raise error(
            f"{path}: {what} of {info.st_size:,} bytes exceeds the limit of {limit:,} bytes"
        )
    return info


def read_input_bytes(
    path: Path, what: str = "file", error: type[UserError] = InputFileError
) -> bytes:
    """The bytes of a regular input file of bounded size, else ``error`` naming the file."""
    check_input_file(path, what, error)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:  # grew after the stat
        raise error(f"{path}: {what} exceeds the limit of {MAX_FILE_BYTES:,} bytes")
    return data


def parse_toml(
    data: bytes, path: Path, what: str = "file", error: type[UserError] = InputFileError
):
    """Decode and parse TOML bytes; ``error`` names the file on any failure."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise error(
            f"{path}: tables or arrays nested deeper than the limit of {MAX_TOML_DEPTH}"
        ) from None
    _check_depth(raw, path, error)
    return raw


def read_toml_file(
    path: Path, what: str = "file", error: type[UserError] = InputFileError
) -> dict[str, Any]:
    """Read a TOML input file (see the module docstring for what is refused)."""
    return parse_toml(read_input_bytes(path, what, error), path, what, error)


def _check_depth(raw: Any, path: Path, error: type[UserError]) -> None:
    stack: list[tuple[Any, int]] = [(raw, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TOML_DEPTH:
            raise error(
                f"{path}: tables or arrays nested deeper than the limit of {MAX_TOML_DEPTH}"
            )
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
