"""Finding chromium for the browser tests (tests/browsers.py), without a browser."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from browsers import ENV_VAR, NAMES, find_chromium


def fake_browser(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def no_bundled() -> None:
    return None


@pytest.fixture
def empty_path(tmp_path, monkeypatch) -> Path:
    """PATH holding only an empty folder, RECOVERY_SIM_CHROMIUM unset."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv(ENV_VAR, raising=False)
    return folder


def test_the_environment_variable_wins(tmp_path, empty_path, monkeypatch):
    chosen = fake_browser(tmp_path, "my-chromium")
    fake_browser(empty_path, "chromium")
    monkeypatch.setenv(ENV_VAR, str(chosen))
    path, how = find_chromium(bundled=no_bundled)
    assert path == chosen and ENV_VAR in how


def test_a_bad_environment_variable_is_reported_not_passed_over(tmp_path, empty_path, monkeypatch):
    fake_browser(empty_path, "chromium")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    path, why = find_chromium(bundled=no_bundled)
    assert path is None and ENV_VAR in why and "missing" in why


@pytest.mark.parametrize("name", NAMES)
def test_every_usual_name_on_path_is_found(empty_path, name):
    expected = fake_browser(empty_path, name)
    path, how = find_chromium(bundled=no_bundled)
    assert path == expected and name in how


def test_path_order_prefers_chromium_over_chrome(empty_path):
    fake_browser(empty_path, "google-chrome")
    fake_browser(empty_path, "chromium")
    path, _ = find_chromium(bundled=no_bundled)
    assert path == empty_path / "chromium"


def test_not_a_hard_coded_path(tmp_path, monkeypatch):
    """A browser anywhere on PATH is found (the tests once looked only at /usr/bin/chromium)."""
    folder = tmp_path / "opt" / "chrome" / "bin"
    folder.mkdir(parents=True)
    expected = fake_browser(folder, "chromium-browser")
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert shutil.which("chromium") is None
    assert find_chromium(bundled=no_bundled)[0] == expected


def test_playwrights_bundled_chromium_comes_last(tmp_path, empty_path):
    bundled = fake_browser(tmp_path, "chrome-linux-bundled")
    path, how = find_chromium(bundled=lambda: bundled)
    assert path == bundled and "Playwright" in how


def test_nothing_found_says_what_was_looked_for_and_how_to_install(empty_path):
    path, why = find_chromium(bundled=no_bundled)
    assert path is None
    assert ENV_VAR in why
    assert all(name in why for name in NAMES)
    assert "apt-get install chromium" in why
    assert "python -m playwright install chromium" in why
