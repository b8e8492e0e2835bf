"""A passer-by on a phone (390×844): the public map lists the deployment's outfalls, an outfall's page reads
without sideways scrolling, and a report with a point tapped on the map gets a receipt. Nothing leaves the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

pytestmark = pytest.mark.browser


def test_the_public_pages_on_a_phone(live_server: Any, browser: Browser, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  has_touch=True)  # fmt: skip
    errors: list[str] = []
    off_host: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda err: errors.append(str(err)))
        context.on("request", lambda r: off_host.append(r.url) if "127.0.0.1" not in r.url
                   and not r.url.startswith(("data:", "blob:")) else None)  # fmt: skip
        page.goto(f"{live_server.url}/public")
        page.wait_for_selector("#public-map .leaflet-interactive")
        page.wait_for_selector("#public-map path.public-context.river", state="attached")  # rivers under the points
        page.wait_for_selector("#public-map path.public-context.area", state="attached")  # and city boundaries
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts / "public-map-phone.png"))
        page.locator("#public-map .leaflet-interactive").first.click(force=True)
        link = page.wait_for_selector(".leaflet-popup-content a")
        href = link.get_attribute("href")
        assert href and href.startswith("/public/outfalls/")
        page.goto(live_server.url + href)
        page.wait_for_selector("#outfall-name")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts / "public-outfall-phone.png"), full_page=True)
        page.fill("#report-form textarea[name=description]", "排口正在排放发黑的污水")
        page.locator("#report-map").click(position={"x": 150, "y": 100})
        assert page.input_value("#lon") and page.input_value("#lat")
        page.click("#report-form button[type=submit]")
        page.wait_for_selector("#receipt")
        assert page.get_attribute("#report-state", "data-status") == "received"
        page.screenshot(path=str(artifacts / "public-receipt-phone.png"))
        assert errors == [] and off_host == []
    finally:
        context.close()


def test_a_refused_position_is_said_beside_the_button(live_server: Any, browser: Browser) -> None:
    """A passer-by who does not let the page know where they are is told so, and how to place the report."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", permissions=[])
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/public/report")
        page.click("#use-gps")
        page.wait_for_selector("#gps-note[data-state=denied]")
        assert "地图上点选" in page.inner_text("#gps-note") and page.is_visible("#gps-note")
        assert page.input_value("#lon") == "" and page.input_value("#lat") == ""
    finally:
        context.close()
