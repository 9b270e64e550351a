"""Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Fixtures for every browser test: `browser` (one Chromium per test module), `browser_page` (a
fresh context and page per test, its base URL the live server; `page` is the same thing), and
the `login()` helper that logs a user in through the real login form.

Why per module and not per session: while Playwright's sync API is started, an asyncio loop
counts as running in this thread, so Django refuses database access unless
DJANGO_ALLOW_ASYNC_UNSAFE is set. Both are confined to the browser modules: set when the
browser starts, removed when it stops, so the rest of the suite (and the `check --deploy`
subprocess, which warns about that variable) runs as usual.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import needs

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
PASSWORD = "correct-horse-battery"  # what tests.factories.UserFactory sets
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator:
    needs(Path(CHROMIUM).exists(), f"browser tests need {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browser_page(browser, live_server, transactional_db) -> Iterator:
    """A page in a fresh browser context (no cookies), relative URLs on the live server.

    Console errors and uncaught page errors are collected on `page.errors` so a test can
    assert the page ran clean."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    # The project serves no favicon; a 404 for it is not an error of the page under test.
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on(
        "console",
        lambda message: page.errors.append(message.text) if message.type == "error" else None,
    )
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser_page):
    return browser_page


def login(page, user, password: str = PASSWORD) -> None:
    """Log `user` in through the login form; returns on the page the login lands on."""
    page.goto("/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login/" not in page.url, f"login failed for {user.username}"


def start_export(page, export_format: str):
    """On a project's exports page: start an export in `export_format` and wait until its row
    (the newest) says done. Returns the row."""
    page.get_by_label("Format", exact=True).select_option(export_format)
    page.get_by_role("button", name="Start export").click()
    row = page.locator("tr.export-row").first
    row.wait_for()
    page.wait_for_function(
        "() => document.querySelector('tr.export-row').dataset.status === 'done'"
    )
    return row
