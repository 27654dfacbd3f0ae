"""The dashboard in a real browser: Playwright driving Debian's Chromium (no downloaded browser) against the
suite's daemon. A fault injected through the API shows on the page within seconds; acknowledging from the
page acknowledges the alert; a screenshot is kept under test-artifacts/."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prereq import need

pytestmark = pytest.mark.browser

Daemon = Any
ADMIN = "alice-admin-token-0123456789"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
APPEAR_MS = 5000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need(CHROMIUM.exists(), "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "needs the playwright Python package (pip install playwright; no browser download)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def login(page: Any, daemon: Daemon, token: str = ADMIN) -> None:
    page.goto(daemon.url + "/")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")


def test_wrong_token_is_refused_on_the_page(page: Any, daemon: Daemon) -> None:
    login(page, daemon, "not-the-right-token-at-all")
    page.wait_for_selector("#login-error:has-text('refused')", timeout=APPEAR_MS)
    assert page.is_hidden("#board")
    assert page.evaluate("sessionStorage.getItem('faultmgr.token')") is None


def test_injected_fault_appears_and_is_acknowledged_from_the_page(page: Any, daemon: Daemon) -> None:
    login(page, daemon)
    page.wait_for_selector("#whoami:has-text('alice (admin)')", timeout=APPEAR_MS)
    page.wait_for_selector("#live:has-text('live')", timeout=APPEAR_MS)
    assert page.evaluate("sessionStorage.getItem('faultmgr.token')") == ADMIN
    page.wait_for_selector("#pools td:has-text('web1')", timeout=APPEAR_MS)

    daemon.inject("browser-web1", message="connection refused on :8080")
    started = time.monotonic()
    row = page.wait_for_selector("#alerts tr:has-text('browser-web1')", timeout=APPEAR_MS)
    shown_after = time.monotonic() - started
    page.wait_for_selector("#timeline li:has-text('browser-web1')", timeout=APPEAR_MS)
    alert = daemon.wait_alert("browser-web1")
    assert row.get_attribute("data-alert") == str(alert["id"])
    assert "critical" in row.inner_text()

    row.query_selector("button[data-action=ack]").click()
    page.fill("#ack-comment", "checking web1 from the dashboard")
    page.click("#ack-confirm")
    page.wait_for_selector(f"#alerts tr[data-alert='{alert['id']}'] td:has-text('alice')", timeout=APPEAR_MS)
    acked = daemon.get(f"/api/v1/alerts/{alert['id']}").json()
    assert acked["acknowledged_by"] == "alice"
    assert acked["acknowledged_comment"] == "checking web1 from the dashboard"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "faultmgr-api-dashboard.png"), full_page=True)
    print(f"alert shown {shown_after:.2f}s after injection")


def test_silence_from_the_page(page: Any, daemon: Daemon) -> None:
    login(page, daemon)
    page.wait_for_selector("#live:has-text('live')", timeout=APPEAR_MS)
    daemon.inject("browser-silence")
    row = page.wait_for_selector("#alerts tr:has-text('browser-silence')", timeout=APPEAR_MS)
    row.query_selector("button[data-action=silence]").click()
    assert page.input_value("#silence-matchers") == "rule=app-down, subject=browser-silence"
    page.fill("#silence-duration", "bogus")
    page.click("#silence-confirm")
    page.wait_for_selector("#silence-error:has-text('invalid duration')", timeout=APPEAR_MS)
    page.fill("#silence-duration", "20m")
    page.fill("#silence-comment", "known fault")
    page.click("#silence-confirm")
    page.wait_for_selector("#silences td:has-text('subject=browser-silence')", timeout=APPEAR_MS)
    silences = daemon.get("/api/v1/silences").json()["silences"]
    made = [s for s in silences if "subject=browser-silence" in s["matchers"]]
    assert made and made[0]["author"] == "alice" and made[0]["comment"] == "known fault"
    page.wait_for_selector("#alerts tr:has-text('browser-silence') td:has-text('silenced by')", timeout=APPEAR_MS)


def test_head_nodes_and_the_vip_holder_on_the_page(page: Any, daemon: Daemon) -> None:
    # head-c (real signed beats) says it holds vip-web's address; this node does not hold it.
    beating = threading.Thread(target=daemon.beat_as, args=("head-c", "hb-c", {"role": "primary",
                                                                               "vips": ["127.0.0.77"]}, 2.0))
    beating.start()
    deadline = time.monotonic() + 15
    while daemon.get("/api/v1/nodes").json()["vips"][0]["holder"] != "head-c":
        assert time.monotonic() < deadline, "head-c's claim never reached the nodes view"
        time.sleep(0.1)
    beating.join()
    login(page, daemon)
    page.wait_for_selector("#heads td:has-text('head-a (this node)')", timeout=APPEAR_MS)
    head_c = page.wait_for_selector("#heads tr:has-text('head-c')", timeout=APPEAR_MS)
    assert "primary" in head_c.inner_text() and "127.0.0.77" in head_c.inner_text()
    vip = page.wait_for_selector("#vips tr:has-text('127.0.0.77/32')", timeout=APPEAR_MS)
    assert "head-c (per its beat" in vip.inner_text() and "not here" not in vip.inner_text()
