"""The API's docs pages ask nothing of another origin."""

import re

import pytest

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_link_no_asset_of_another_origin(client, url):
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assets = ASSET.findall(page)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    assert "https://" not in page and "http://" not in page


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_forbid_the_browser_any_other_origin(client, url):
    """Redoc's sidebar draws the Redocly logo from cdn.redoc.ly whatever its settings say;
    the policy keeps the browser from asking for it (tests/browser checks it in Chromium)."""
    policy = client.get(url)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert "https:" not in policy and "*" not in policy
