"""Shipped data: the scenario files, trial files and published targets that come with the package.

In the source tree they live in the project's top-level folders (``scenarios/``,
``experiments/trials/``, ``calibration/targets.toml``; also the validation figures
``calibration/validation.toml``, the fit file it checks against and the committed
posterior ``calibration/posterior.parquet``). A wheel carries copies of
them as package data under ``sim/data/`` (hatch's ``force-include`` in
pyproject.toml maps the folders there at build time), read here with
:mod:`importlib.resources`. An editable install or a plain source checkout has no
``sim/data/`` and reads the top-level folders instead, so there is one copy of each
file in the repository.

Names: a shipped file is found by its stem, with ``-`` and ``_`` interchangeable
and an optional ``.toml`` (``ips-scale-up``, ``ips_scale_up`` and
``ips_scale_up.toml`` are the same file). :func:`resolve` lets a path that exists on
disk win over a shipped name. This module reads only the standard library, so the
command line can list shipped files without loading the model.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from sim.core.errors import UserError

__all__ = [
    "KINDS",
    "ShippedDataError",
    "ShippedFile",
    "ShippedNameError",
    "costs_file",
    "data_dir",
    "find",
    "listing",
    "names",
    "posterior_file",
    "resolve",
    "scenario_dir",
    "targets_file",
    "trial_dir",
    "validation_file",
]

# kind -> (folder inside sim/data in a wheel, folder in the source tree)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "scenario": ("scenarios", ("scenarios",)),
    "trial": ("trials", ("experiments", "trials")),
    "calibration": ("calibration", ("calibration",)),
}
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout, when running from one


class ShippedDataError(OSError):
    """The shipped data cannot be found (a broken installation)."""


class ShippedNameError(UserError):
    """A name that is neither an existing file nor a shipped file's name."""


@dataclass(frozen=True)
class ShippedFile:
    """One shipped file: its name (the stem), its path and the description it gives.

    Attributes:
        name: The file stem, e.g. ``ips_scale_up``.
        path: Where it is read from.
        title: The file's ``name`` key (e.g. ``ips-scale-up``), or the stem.
        description: The file's own ``description`` key, else its first comment line,
            else ``""``.
    """

    name: str
    path: Path
    title: str
    description: str


def _materialised(resource: Traversable) -> Path:
    """A real folder for ``resource`` (copied out once when the package is zipped)."""
    if isinstance(resource, Path):
        return resource
    target = Path(tempfile.mkdtemp(prefix="recovery-sim-data-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)

    def copy(node: Traversable, into: Path) -> None:
        for child in node.iterdir():
            if child.is_dir():
                (into / child.name).mkdir()
                copy(child, into / child.name)
            else:
                (into / child.name).write_bytes(child.read_bytes())

    copy(resource, target)
    return target


@cache
def data_dir(kind: str) -> Path:
    """The folder holding the shipped files of ``kind`` (scenario, trial or calibration).

    Package data (a wheel install) first, then the source tree's folder.

    Raises:
        KeyError: For an unknown kind.
        ShippedDataError: If neither exists.
    """
    packaged_name, source_parts = KINDS[kind]
    packaged = files("sim") / "data" / packaged_name
    if packaged.is_dir():
        return _materialised(packaged)
    source = _SOURCE_ROOT.joinpath(*source_parts)
    if source.is_dir():
        return source
    raise ShippedDataError(
        f"shipped {kind} files not found (looked in the package's data/"
        f"{packaged_name} and in {source}); reinstall recovery-pathways"
    )


def scenario_dir() -> Path:
    """The folder of the shipped scenario files."""
    return data_dir("scenario")


def trial_dir() -> Path:
    """The folder of the shipped trial files."""
    return data_dir("trial")


def targets_file() -> Path:
    """The published targets (``calibration/targets.toml``).

    Raises:
        ShippedDataError: If the file is missing.
    """
    path = data_dir("calibration") / "targets.toml"
    if not path.is_file():
        raise ShippedDataError(
            f"published targets not found at {path}; reinstall recovery-pathways"
        )
    return path


def _calibration_file(name: str, what: str) -> Path:
    path = data_dir("calibration") / name
    if not path.is_file():
        raise ShippedDataError(f"{what} not found at {path}; reinstall recovery-pathways")
    return path


def costs_file() -> Path:
    """The unit costs and utilities (``calibration/costs.toml``).

    Raises:
        ShippedDataError: If the file is missing.
    """
    return _calibration_file("costs.toml", "costs and utilities")


def validation_file() -> Path:
    """The external-validation figures (``calibration/validation.toml``).

    Raises:
        ShippedDataError: If the file is missing.
    """
    return _calibration_file("validation.toml", "validation figures")


def posterior_file() -> Path:
    """The committed posterior ensemble (``calibration/posterior.parquet``).

    Raises:
        ShippedDataError: If the file is missing.
    """
    return _calibration_file("posterior.parquet", "posterior ensemble")


def _key(name: str) -> str:
    name = name.strip()
    if name.lower().endswith(".toml"):
        name = name[:-5]
    return name.replace("-", "_").lower()


def names(kind: str) -> list[str]:
    """The stems of the shipped files of ``kind``, sorted."""
    return sorted(path.stem for path in data_dir(kind).glob("*.toml"))


def find(kind: str, name: str) -> Path | None:
    """The shipped file of ``kind`` called ``name`` (stem; ``-`` or ``_``), or None."""
    if Path(name).name != name:  # a name has no folder part
        return None
    wanted = _key(name)
    for path in sorted(data_dir(kind).glob("*.toml")):
        if _key(path.stem) == wanted:
            return path
    return None


def resolve(kind: str, text: str | Path) -> Path:
    """A path on disk if it exists, else the shipped file of that name.

    Raises:
        ShippedNameError: If it is neither; the message names the shipped files.
    """
    path = Path(text)
    if path.exists():
        return path
    shipped = find(kind, str(text))
    if shipped is not None:
        return shipped
    raise ShippedNameError(
        f"{kind} file not found: {text}, and no shipped {kind} has that "
        f"name; shipped: {', '.join(names(kind))}"
    )


def _describe(path: Path) -> ShippedFile:
    """The file's name and description key; without one, its first comment line."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        text, raw = "", {}
    title = raw.get("name") if isinstance(raw.get("name"), str) else path.stem
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        description = first.lstrip("#") if first.startswith("#") else ""
    description = " ".join(description.split())
    return ShippedFile(name=path.stem, path=path, title=title, description=description)


def listing(kind: str) -> list[ShippedFile]:
    """Every shipped file of ``kind`` with its name and one-line description."""
    return [_describe(path) for path in sorted(data_dir(kind).glob("*.toml"))]
