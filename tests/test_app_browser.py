"""Browser tests of the teaching app: a chromium, driven by Playwright, on loopback.

The browser is found by :func:`browsers.find_chromium` (``$RECOVERY_SIM_CHROMIUM``, then
chromium or google-chrome on ``PATH``, then Playwright's own); without one the module
is skipped with a reason that says what was looked for and how to install it.

The app is served by the same command line as ``recovery-sim app`` on a free
loopback port, once for the module; every test opens its own page (a fresh solara
session). Screenshots go to ``$ARTIFACTS_DIR`` (default: a pytest temporary
folder); with ``UPDATE_DOCS_IMG=1`` the side-by-side screenshot is also copied to
``docs/img/app.png``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from browsers import find_chromium

from sim.faces.cli.app_server import (
    _stop,
    free_port,
    server_command,
    server_environment,
    wait_until_serving,
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
DOCS_IMAGE = Path(__file__).resolve().parent.parent / "docs" / "img" / "app.png"
TIMEOUT_MS = 30_000

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

if sync_playwright is None:
    pytest.skip(
        "the python package playwright is not installed (pip install playwright)",
        allow_module_level=True,
    )
CHROMIUM, FOUND_HOW = find_chromium()
if CHROMIUM is None:
    pytest.skip(FOUND_HOW, allow_module_level=True)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("ARTIFACTS_DIR") or tmp_path_factory.mktemp("artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app served on a free loopback port; yields its URL and its exports folder.

    One small run first compiles the kernels into numba's on-disk cache, so the
    server's first step loads them instead of compiling under the browser's timeout.
    """
    from sim.model import RecoveryModel

    RecoveryModel(n_agents=20, seed=0).step()
    port = free_port()
    exports = tmp_path_factory.mktemp("exports")
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command("127.0.0.1", port),
            env=server_environment(exports),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_serving(url, process, timeout=90)
            yield url, exports
        except RuntimeError:
            pytest.fail(f"app server did not start:\n{log_path.read_text(errors='replace')}")
        finally:
            _stop(process)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Headless chromium (see :func:`browsers.find_chromium`) with a fresh profile."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
        )
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        yield context
        context.close()


@pytest.fixture
def page(browser: object, server: tuple[str, Path]) -> Iterator[Page]:
    tab = browser.new_page()
    tab.goto(server[0])
    expect(tab.get_by_text("Recovery Pathways: how context changes recovery")).to_be_visible()
    expect(tab.locator('[data-testid="readout"][data-week="0"]')).to_be_visible()
    yield tab
    tab.close()


def readout(page: Page, metric: str, run: str) -> float:
    cell = page.locator(f'[data-testid="readout"] td[data-metric="{metric}"][data-run="{run}"]')
    return float(cell.inner_text())


def chart_source(page: Page, tag: str) -> str:
    return page.locator(f".rp-chart-{tag} img").first.get_attribute("src") or ""


def choose(page: Page, select_class: str, option: str) -> None:
    page.locator(f".{select_class}").click()
    page.get_by_role("option", name=option, exact=True).click()


def step_to(page: Page, week: int, table: str = "readout") -> None:
    """Press Mesa's Step button until the table ``table`` (a data-testid) shows ``week``."""
    for _ in range(30):
        current = int(page.locator(f'[data-testid="{table}"]').get_attribute("data-week"))
        if current >= week:
            break
        page.get_by_role("button", name="Step", exact=True).click()
        expect(
            page.locator(f'[data-testid="{table}"]:not([data-week="{current}"])')
        ).to_be_visible()
    expect(page.locator(f'[data-testid="{table}"][data-week="{week}"]')).to_be_visible()


def test_page_loads_with_controls_charts_and_tooltips(page: Page, artifacts: Path) -> None:
    for label in (
        "Professional attitudes: 0.50",
        "Unemployment: 7%",
        "Public stigma: 0.50",
        "Motivation: 0.50",
        "Number of people: 200",
    ):
        expect(page.get_by_text(label, exact=True)).to_be_visible()
    expect(page.get_by_text("Peer support: 0%", exact=True)).to_be_visible()
    for name in ("Reset", "Step"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    expect(page.locator(".rp-chart-outcomes img")).to_be_visible()
    page.locator(".rp-unemployment_rate-A").hover()
    expect(page.get_by_text("local unemployment rate", exact=False).last).to_be_visible()
    expect(page.get_by_text("Burns et al. 2007", exact=False).last).to_be_visible()
    page.screenshot(path=str(artifacts / "app-loaded.png"))


def test_unemployment_control_changes_the_employment_chart(page: Page, artifacts: Path) -> None:
    choose(page, "rp-weeks-per-step", "52")
    step_to(page, 52)
    employed_at_7pc = readout(page, "employed", "A")
    chart_at_7pc = chart_source(page, "outcomes")

    slider = page.locator(".rp-unemployment_rate-A [role='slider']")
    slider.focus()
    slider.press("End")
    expect(page.get_by_text("Unemployment: 25%", exact=True)).to_be_visible()
    expect(page.locator('[data-testid="readout"][data-week="0"]')).to_be_visible()
    step_to(page, 52)

    assert readout(page, "employed", "A") < employed_at_7pc
    assert chart_source(page, "outcomes") != chart_at_7pc
    page.screenshot(path=str(artifacts / "app-unemployment-25pc.png"))


def test_side_by_side_contexts_start_together_and_diverge(page: Page, artifacts: Path) -> None:
    page.locator(".rp-side-by-side input").check(force=True)
    choose(page, "rp-preset", "4% vs 14% unemployment")
    expect(page.get_by_text("A: low-unemployment", exact=False).first).to_be_visible()
    expect(page.locator('td[data-metric="employed"][data-run="B"]')).to_be_visible()
    # week 0: the same people in both contexts (common random numbers)
    assert readout(page, "employed", "A") == readout(page, "employed", "B")
    assert readout(page, "personal_recovery", "A") == readout(page, "personal_recovery", "B")

    choose(page, "rp-weeks-per-step", "52")
    step_to(page, 104)
    assert readout(page, "employed", "A") > readout(page, "employed", "B")
    assert readout(page, "employed", "difference") < 0
    shot = artifacts / "app-side-by-side.png"
    page.screenshot(path=str(shot))
    if os.environ.get("UPDATE_DOCS_IMG") == "1":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)


def test_person_view_and_export(page: Page, server: tuple[str, Path], artifacts: Path) -> None:
    step_to(page, 4)
    page.get_by_role("tab", name="One person").click()
    page.locator(".rp-person-id input").fill("17")
    page.locator(".rp-person-id input").press("Enter")
    expect(page.get_by_text("Person 17:", exact=False).first).to_be_visible()
    expect(page.locator(".rp-chart-pathway img")).to_be_visible()

    page.get_by_role("button", name="Save charts and run").click()
    expect(page.locator(".rp-export-message")).to_be_visible()
    folders = sorted(server[1].glob("app-*-week4"))
    assert folders, f"no export in {server[1]}"
    names = {p.name for p in folders[-1].iterdir()}
    assert {"series.parquet", "manifest.json", "outcomes.png", "pathway.png"} <= names
    page.screenshot(path=str(artifacts / "app-person.png"))


def effect(page: Page, metric: str, run: str) -> float:
    cell = page.locator(
        f'[data-testid="effect-readout"] td[data-metric="{metric}"][data-run="{run}"]'
    )
    return float(cell.inner_text())


def set_slider(page: Page, tag: str, presses: int) -> None:
    """Move the slider ``rp-<tag>`` right by ``presses`` steps with the keyboard."""
    slider = page.locator(f".rp-{tag} [role='slider']")
    slider.focus()
    for _ in range(presses):
        slider.press("ArrowRight")


def test_effect_view_shows_the_package_doing_more_in_a_pro_recovery_context(
    page: Page, artifacts: Path
) -> None:
    """Lesson 4 of docs/LESSONS.md, as a class would set it up; its numbers at week 26."""
    set_slider(page, "n_agents", 6)
    expect(page.get_by_text("Number of people: 500", exact=True)).to_be_visible()
    page.locator(".rp-side-by-side input").check(force=True)
    choose(page, "rp-preset", "Stigmatising vs pro-recovery context")
    expect(page.get_by_text("A: stigmatising-context", exact=False).first).to_be_visible()
    for name, presses, label in (
        ("peer_support", 4, "Peer support: 40%"),
        ("self_management", 5, "Illness self-management and psychoeducation: 50%"),
        ("supported_employment", 5, "Supported employment: 50%"),
        ("shared_decision_making", 6, "Shared decision-making and crisis / advance planning: 60%"),
    ):
        set_slider(page, f"offer-{name}", presses)
        expect(page.get_by_text(label, exact=True)).to_be_visible()
    page.get_by_role("tab", name="Package effect").click()
    expect(page.locator('[data-testid="effect-readout"][data-week="0"]')).to_be_visible()
    assert effect(page, "personal_recovery", "A") == 0.0  # same people at week 0
    assert effect(page, "personal_recovery", "interaction") == 0.0

    choose(page, "rp-weeks-per-step", "26")
    step_to(page, 26, table="effect-readout")
    expect(page.locator(".rp-chart-effect img")).to_be_visible()
    in_a = effect(page, "personal_recovery", "A")
    in_b = effect(page, "personal_recovery", "B")
    assert in_b > in_a > 0
    assert (in_a, in_b) == (pytest.approx(2.83, abs=0.01), pytest.approx(3.90, abs=0.01))
    assert effect(page, "personal_recovery", "interaction") == pytest.approx(in_b - in_a, abs=0.02)
    for metric in ("hope", "employed", "social_inclusion", "connectedness"):
        assert effect(page, metric, "B") > effect(page, metric, "A")
    page.screenshot(path=str(artifacts / "app-package-effect.png"))


def test_horizon_caps_steps_and_a_control_change_restarts_a_finished_run(
    page: Page, artifacts: Path
) -> None:
    step_to(page, 68)  # 4 weeks per step
    choose(page, "rp-weeks-per-step", "52")
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page.locator('[data-testid="readout"][data-week="104"]')).to_be_visible()
    expect(page.get_by_text("Week 104 of 104.", exact=False)).to_be_visible()
    expect(page.get_by_role("button", name="Step", exact=True)).to_be_disabled()
    page.screenshot(path=str(artifacts / "app-horizon.png"))

    slider = page.locator(".rp-public_stigma-A [role='slider']")
    slider.focus()
    slider.press("ArrowRight")
    expect(page.locator('[data-testid="readout"][data-week="0"]')).to_be_visible()
    expect(page.get_by_role("button", name="Step", exact=True)).to_be_enabled()
    expect(page.get_by_role("button", name="▶", exact=True)).to_be_enabled()
    page.get_by_role("button", name="Step", exact=True).click()
    expect(page.locator('[data-testid="readout"][data-week="52"]')).to_be_visible()


# A4 less the report's 16 mm margins (@page), at 96 px per inch.
PRINTED_WIDTH_PX = round((210 - 2 * 16) / 25.4 * 96)


def test_a_wide_comparison_table_fits_the_report_page(browser: object, tmp_path: Path) -> None:
    """The differences table of a comparison (10 columns, long names) fits screen and paper."""
    import pandas as pd

    from sim.faces.reports.html import Section, write_report

    label = "ips_scale_up_high_unemployment_with_peer_workforce vs stigmatising_context_variant"
    numbers = [0.123456, 12345.6, -0.0123, -0.0456, 0.0234, -0.123, -0.234, 0.0123]
    columns = ["comparison", "metric", "reference", "other", "difference", "diff_low"]
    columns += ["diff_high", "smd", "smd_low", "smd_high"]
    rows = [[label, metric, *numbers] for metric in ("employed", "personal_recovery")]
    table = pd.DataFrame(rows, columns=columns)
    report = tmp_path / "report.html"
    write_report(
        report,
        title="Wide",
        intro="",
        sections=[Section("Paired", "", table=table)],
        manifest={"seed": 1},
    )
    tab = browser.new_page()
    try:
        for media, width in (("screen", 1440), ("print", PRINTED_WIDTH_PX)):
            tab.set_viewport_size({"width": width, "height": 900})
            tab.emulate_media(media=media)
            tab.goto(report.as_uri())
            table_width, room = tab.evaluate(
                """() => {
                    const wrap = document.querySelector('.table-wrap');
                    return [wrap.querySelector('table').getBoundingClientRect().width,
                            wrap.clientWidth];
                }"""
            )
            assert table_width <= room + 0.5, (media, width, table_width, room)
    finally:
        tab.close()


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two bounding boxes (Playwright's x, y, width, height) intersect."""
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_footer_leaves_the_last_readout_row_visible_on_a_projector(
    page: Page, artifacts: Path
) -> None:
    """Issue 20: at 1024 x 768 the footer must not cover the readout's last row.

    Side by side with a preset's long names the headline and the table's cells wrap, so
    the table runs to the bottom of the page, where solara's footer sits.
    """
    page.set_viewport_size({"width": 1024, "height": 768})
    page.locator(".rp-side-by-side input").check(force=True)
    choose(page, "rp-preset", "4% vs 14% unemployment")
    expect(page.get_by_text("A: low-unemployment", exact=False).first).to_be_visible()
    expect(page.locator('td[data-metric="employed"][data-run="B"]')).to_be_visible()
    # solara's banner: a div (with its padding) around "This website runs on Solara"
    footer = page.get_by_text("This website runs on", exact=False).last.locator("xpath=..")
    expect(footer).to_be_visible()
    last_row = page.locator('[data-testid="readout"] tbody tr').last
    # scroll every scrollable box (the window and solara's content area) to the bottom
    page.evaluate(
        """() => {
            window.scrollTo(0, document.body.scrollHeight);
            for (const el of document.querySelectorAll('*')) {
                if (el.scrollHeight > el.clientHeight) el.scrollTop = el.scrollHeight;
            }
        }"""
    )
    page.wait_for_timeout(300)
    row_box, footer_box = last_row.bounding_box(), footer.bounding_box()
    page.screenshot(path=str(artifacts / "app-1024x768.png"))
    assert row_box is not None and footer_box is not None
    assert row_box["y"] + row_box["height"] <= 768, row_box
    assert not _overlap(row_box, footer_box), (row_box, footer_box)
    last_row.locator("td").first.click(trial=True, timeout=5_000)  # not covered
