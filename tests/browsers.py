"""Finding a chromium for the browser tests, wherever this machine keeps one.

:func:`find_chromium` looks, in order, at

1. the environment variable ``RECOVERY_SIM_CHROMIUM`` (a path to the executable);
2. the usual names on ``PATH`` (:data:`NAMES`, via :func:`shutil.which`);
3. the chromium that Playwright downloads (``python -m playwright install chromium``),
   if the playwright package is installed and the browser is there.

It returns the executable, or None with a reason that says what was looked for and
how to install one; ``tests/test_app_browser.py`` skips with that reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

ENV_VAR = "RECOVERY_SIM_CHROMIUM"
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HINT = (
    "install one with `apt-get install chromium` (Debian/Ubuntu) or "
    "`python -m playwright install chromium`, or set "
    f"{ENV_VAR}=/path/to/chromium"
)


def playwright_chromium() -> Path | None:
    """The chromium Playwright installed for itself, or None (no package, no browser)."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as playwright:
            path = Path(playwright.chromium.executable_path)
    except Error:
        return None
    return path if _is_executable(path) else None


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_chromium(
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    bundled: Callable[[], Path | None] = playwright_chromium,
) -> tuple[Path | None, str]:
    """A chromium executable and how it was found, or None and why none was.

    Args:
        environ: The environment (default: ``os.environ``).
        which: Looks a name up on ``PATH`` (default: :func:`shutil.which`).
        bundled: Playwright's own chromium, if installed (default: :func:`playwright_chromium`).

    Returns:
        ``(path, how)``, or ``(None, reason)`` where the reason names every place looked
        in and how to install a browser. A ``RECOVERY_SIM_CHROMIUM`` that is not an
        executable file is reported, not passed over.
    """
    environ = os.environ if environ is None else environ
    chosen = environ.get(ENV_VAR, "").strip()
    if chosen:
        path = Path(chosen).expanduser()
        if _is_executable(path):
            return path, f"{ENV_VAR}={chosen}"
        return None, f"{ENV_VAR}={chosen} is not an executable file; point it at chromium"
    for name in NAMES:
        found = which(name)
        if found:
            return Path(found), f"{name} on PATH"
    path = bundled()
    if path is not None:
        return path, "Playwright's bundled chromium"
    return None, (
        f"no chromium found: {ENV_VAR} is not set, none of {', '.join(NAMES)} is on PATH, "
        f"and Playwright has no bundled chromium; {INSTALL_HINT}"
    )
