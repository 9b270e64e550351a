"""Swagger UI and Redoc render the schema with every request kept on the project's origin."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def _foreign_requests(page, live_server) -> list[str]:
    """Abort and record every request that would leave the live server (nothing is fetched
    from another host, even when a page asks for it)."""
    foreign: list[str] = []

    def handle(route):
        url = route.request.url
        if url.startswith((live_server.url, "data:", "blob:")):
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    page.route("**/*", handle)
    return foreign


def _errors(page) -> list[str]:
    """Uncaught errors and console errors, but the browser's notes of what the page's policy
    refused (the Redocly logo)."""
    return [e for e in page.errors if "Content Security Policy" not in e]


def test_swagger_ui_renders_from_the_project_alone(page, live_server):
    foreign = _foreign_requests(page, live_server)
    page.goto("/api/docs/")
    page.locator(".swagger-ui .info .title", has_text="Rubric API").wait_for()
    page.locator(".opblock-tag-section").first.wait_for()
    assert foreign == []
    assert _errors(page) == []


def test_redoc_renders_from_the_project_alone(page, live_server):
    foreign = _foreign_requests(page, live_server)
    page.goto("/api/redoc/")
    page.get_by_role("heading", name="Rubric API").first.wait_for()
    page.locator("[role=menu]").first.wait_for()
    # The sidebar's "API docs by Redocly" link would draw a logo from cdn.redoc.ly; the
    # page's Content-Security-Policy keeps the browser from asking for it.
    page.get_by_text("API docs by Redocly").wait_for()
    page.wait_for_timeout(300)
    assert foreign == []
    assert page.locator("img[src^='https://']").count() == 0
    assert _errors(page) == []
