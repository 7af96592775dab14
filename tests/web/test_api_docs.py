"""Both APIs' interactive docs pages in a real browser: Swagger UI served by the services themselves, no CDN."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest


@pytest.mark.parametrize("service", ["tracker", "submission"])
def test_docs_page_renders_operations_without_any_outside_origin(browser, stack, service):
    """The docs page draws every operation (``.opblock``) from the OpenAPI document, and every script, stylesheet
    and request the page made went to the service's own origin."""
    from selenium.webdriver.support.ui import WebDriverWait

    base = getattr(stack, service)
    browser.driver.get_log("browser")                    # forget what earlier pages logged
    browser.go(base + "/api/v1/docs")
    WebDriverWait(browser.driver, 30).until(lambda d: len(browser.all(".opblock")) > 5)
    browser.shot(f"api-docs-{service}")
    text = browser.text()
    assert "/api/v1/units/{code}/plan" in text or "/api/v1/units/{code}/status" in text
    if service == "tracker":
        assert "/api/v1/public/units" in text
    origin = urlsplit(base).netloc
    loaded = browser.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href])")
    assert loaded and all(urlsplit(url).netloc == origin for url in loaded if not url.startswith("data:")), loaded
    assert any(url.endswith("/api/v1/docs/static/swagger-ui-bundle.js") for url in loaded)
    errors = [e for e in browser.driver.get_log("browser") if e["level"] == "SEVERE"
              and "/favicon.ico" not in e["message"]]          # browsers ask every origin for one
    assert errors == [], errors
