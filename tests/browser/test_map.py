"""The map, list and detail pages in headless Chromium against a live server with a committed demo
catalogue: layers drawn, counts right, language switch remembered, nothing fetched from the internet.

Fixtures (``live_server``, ``tab``, ``artifacts``) live in ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

READY_MS = 30_000
# Latin words allowed on a Chinese page: data sources, standards, codes and units.
# Codes and names that stay Latin in Chinese text: CRSs, standards (GB 3838-2002 class III), units, parameters.
LATIN_ALLOWED = {"CGCS", "EPSG", "HJ", "JSON", "CSV", "GCJ", "nmc", "met", "graphics", "cnmaps", "English", "km",
                 "DEMO", "GB", "II", "III", "IV", "pH", "mg", "API"}

# How many pixels of a pane's canvases Leaflet has painted (canvases are same-origin, so readable).
PAINTED = """pane => {
  let n = 0;
  for (const c of document.querySelectorAll('.leaflet-' + pane + '-pane canvas')) {
    if (!c.width || !c.height) continue;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
  }
  return n;
}"""
# Features Leaflet holds: reference layers by their named pane (see web/static/js/map.js), outfalls apart.
FEATURES_BY_PANE = """() => {
  const out = {};
  window.outfallsMap.eachLayer(l => {
    if (!l.feature) return;
    const key = l.feature.geometry.type === 'Point' ? 'outfalls' : l.options.pane;
    out[key] = (out[key] || 0) + 1;
  });
  return out;
}"""


def wait_ready(page: Page, selector: str) -> None:
    page.wait_for_selector(f"{selector}[data-state=ready]", state="attached", timeout=READY_MS)


def latin_words(text: str) -> set[str]:
    # whole tokens only: codes mixing letters and digits (credit codes, DEMO610…) are identifiers, not words
    words = (t for t in re.findall(r"[A-Za-z0-9]+", text) if t.isalpha() and len(t) >= 2)
    return {w for w in words if w not in LATIN_ALLOWED}


def test_map_page_draws_layers_and_every_outfall(live_server: Any, tab: Any, artifacts: Path) -> None:
    page: Page = tab.page

    page.goto(live_server.url + "/")
    wait_ready(page, "#map")

    assert live_server.outfalls == 200
    assert page.get_attribute("#map", "data-outfalls") == "200"
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text(".legend .total") == "200"
    legend = {
        li.inner_text().split("\n")[0].strip(): int(li.inner_text().split("\n")[-1].replace(",", ""))
        for li in page.query_selector_all(".legend li")
    }
    assert sum(legend.values()) == 200 and "已排查" in legend and "已销号" in legend
    assert page.inner_text("#map-note") == "200 个排污口"
    panes = page.evaluate(FEATURES_BY_PANE)
    assert panes.get("areas", 0) >= 2, panes  # the Yellow River and Yangtze basins at least
    assert panes.get("bounds", 0) >= 1 and panes.get("rivers", 0) >= 1, panes
    assert panes.get("outfalls", 0) == 200, panes  # drawn on the canvas of the points pane
    assert page.locator(".leaflet-areas-pane canvas, .leaflet-areas-pane path").count() >= 1
    assert page.evaluate(PAINTED, "areas") > 10_000  # basins are filled: many pixels painted
    assert page.evaluate(PAINTED, "rivers") > 100
    assert page.evaluate(PAINTED, "points") > 200  # 200 markers of radius 4
    controls = page.inner_text(".leaflet-control-layers")
    for label in ("流域", "子流域", "省份", "地市", "区县", "河流", "排污口"):
        assert label in controls
    assert page.get_attribute(".leaflet-control-zoom-in", "title") == "放大"
    assert page.get_attribute(".leaflet-control-zoom-out", "title") == "缩小"
    assert latin_words(page.inner_text("body")) == set()
    page.screenshot(path=str(artifacts / "map-zh.png"), full_page=True)
    tab.traffic.assert_clean()


# The names placed on the map (web/static/js/labels.js): kind → texts, with the rotation of river names.
LABELS = """() => {
  const out = {};
  for (const el of document.querySelectorAll('.leaflet-labels-pane .map-label')) {
    const kind = [...el.classList].find(c => c.startsWith('map-label-')).slice(10);
    const span = el.querySelector('span');
    (out[kind] = out[kind] || []).push([span.textContent, span.style.transform]);
  }
  return out;
}"""


def wait_labels(page: Page, zoom: float) -> dict[str, list[list[str]]]:
    page.evaluate(f"() => {{ window.outfallsMap.setView([34.35, 108.95], {zoom}, {{animate: false}}); }}")
    page.wait_for_function(f"() => window.outfallsMap.getZoom() === {zoom} && document.getElementById('map')"
                           ".dataset.labels", timeout=READY_MS)  # fmt: skip
    page.wait_for_timeout(100)
    labels: dict[str, list[list[str]]] = page.evaluate(LABELS)
    return labels


def test_map_names_areas_by_zoom_and_rivers_along_their_lines(live_server: Any, tab: Any, artifacts: Path) -> None:
    """With no basemap the map names what it shows from the reference data: the province and the basins when
    zoomed out, cities, then counties and the rivers (turned along their lines) as one zooms in."""
    page: Page = tab.page
    page.goto(live_server.url + "/")
    wait_ready(page, "#map")
    page.wait_for_function("() => document.getElementById('map').dataset.labels", timeout=READY_MS)
    far = page.evaluate(LABELS)
    assert ["陕西省"] in [[t] for t, _ in far.get("province", [])], far
    assert {t for t, _ in far.get("basin", [])} & {"黄河流域", "长江流域"}, far
    assert "county" not in far

    near = wait_labels(page, 9)
    assert "province" not in near and "basin" not in near, near
    counties = {t for t, _ in near.get("county", [])}
    assert len(counties) >= 3, near
    rivers = near.get("river", [])
    assert any(t == "渭河" for t, _ in rivers), near
    assert any("rotate(0deg)" not in r for _, r in rivers), rivers  # turned along the line
    page.screenshot(path=str(artifacts / "map-labels-z9.png"))

    cities = wait_labels(page, 7.5)
    assert "西安市" in {t for t, _ in cities.get("city", [])}, cities
    assert "county" not in cities
    # the names can be switched off like any layer
    page.click(".leaflet-control-layers label:has-text('地名注记') input")
    page.wait_for_function("() => !document.querySelector('.leaflet-labels-pane .map-label')", timeout=READY_MS)
    tab.traffic.assert_clean()


def test_clicking_an_outfall_opens_a_popup_with_its_page(live_server: Any, tab: Any) -> None:
    page: Page = tab.page
    page.goto(live_server.url + "/")
    wait_ready(page, "#map")

    # open the popup of the first outfall through Leaflet (canvas markers have no DOM element to click)
    href = page.evaluate(
        """() => {
          let marker = null;
          window.outfallsMap.eachLayer(l => {
            if (!marker && l.feature && l.feature.geometry.type === 'Point') marker = l;
          });
          marker.openPopup();
          return document.querySelector('.leaflet-popup-content a').getAttribute('href');
        }"""
    )

    assert re.fullmatch(r"/outfalls/\d+", href)
    assert "查看排污口详情" in page.inner_text(".leaflet-popup-content")
    page.click(".leaflet-popup-content a")
    wait_ready(page, "#detail-map")
    assert page.url == live_server.url + href
    tab.traffic.assert_clean()


def test_filtered_map_shows_only_matching_outfalls(live_server: Any, tab: Any) -> None:
    page: Page = tab.page
    page.goto(live_server.url + "/")
    wait_ready(page, "#map")
    closed = int(page.inner_text(".legend li:has(.status-closed) .n").replace(",", ""))
    assert 0 < closed < 200

    page.select_option("select[name=status]", "closed")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"status=closed"))
    wait_ready(page, "#map")

    assert page.get_attribute("#map", "data-outfalls") == str(closed)
    assert page.inner_text(".legend .total") == str(closed)
    assert page.input_value("select[name=status]") == "closed"
    tab.traffic.assert_clean()


def test_a_filter_zooms_the_map_to_its_result(live_server: Any, tab: Any) -> None:
    """Filtering by a city opens the map on that city's outfalls (the box the server sends), not the region."""
    page: Page = tab.page
    page.goto(live_server.url + "/")
    wait_ready(page, "#map")
    region = page.evaluate("() => window.outfallsMap.getZoom()")
    assert page.get_attribute("#map", "data-fitted") is None  # no filter: the configured extent

    page.goto(live_server.url + "/?area=610100")  # 西安市
    wait_ready(page, "#map")
    n = int(page.get_attribute("#map", "data-outfalls") or 0)
    assert 0 < n < live_server.outfalls
    fitted = page.get_attribute("#map", "data-fitted")
    assert fitted is not None
    x0, y0, x1, y1 = (float(v) for v in fitted.split(","))
    inside = page.evaluate(
        """b => {
          const view = window.outfallsMap.getBounds();
          let all = 0, shown = 0;
          window.outfallsMap.eachLayer(l => {
            if (l.feature && l.feature.geometry.type === 'Point') {
              all++;
              const [lon, lat] = l.feature.geometry.coordinates;
              if (view.contains([lat, lon]) && lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3]) shown++;
            }
          });
          return [all, shown, window.outfallsMap.getZoom()];
        }""",
        [x0, y0, x1, y1],
    )
    assert inside[0] == inside[1] == n  # every match in view and in the box
    assert inside[2] > region + 1  # zoomed in on the city
    tab.traffic.assert_clean()


def test_language_switch_is_remembered(live_server: Any, tab: Any, artifacts: Path) -> None:
    page: Page = tab.page
    page.goto(live_server.url + "/")
    wait_ready(page, "#map")
    assert page.inner_text(".sidepanel h1") == "排污口分布图"

    page.click("#lang-en")
    page.wait_for_url(live_server.url + "/")
    wait_ready(page, "#map")

    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text(".sidepanel h1") == "Outfall map"
    assert page.inner_text(".mainnav").split()[:2] == ["Map", "Outfalls"] and "Progress" in page.inner_text(".mainnav")
    assert "Surveyed" in page.inner_text(".legend") and "已排查" not in page.inner_text(".legend")
    assert page.inner_text("#map-note") == "200 outfalls on the map"
    controls = page.inner_text(".leaflet-control-layers")
    for label in ("Basins", "Sub-basins", "Provinces", "Cities", "Counties", "Rivers", "Outfalls"):
        assert label in controls
    assert page.get_attribute(".leaflet-control-zoom-in", "title") == "Zoom in"
    assert "active" in (page.get_attribute("#lang-en", "class") or "")
    page.screenshot(path=str(artifacts / "map-en.png"), full_page=True)

    page.goto(live_server.url + "/outfalls")  # a fresh load: the cookie remembers the choice
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1").startswith("Outfalls")
    assert "Name" in page.inner_text("#outfall-table thead")

    page.click("#lang-zh")
    page.wait_for_url(live_server.url + "/outfalls")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1").startswith("排污口")
    tab.traffic.assert_clean()


def test_list_and_detail_pages(live_server: Any, tab: Any, artifacts: Path) -> None:
    page: Page = tab.page
    page.goto(live_server.url + "/outfalls")

    rows = page.locator("#outfall-table tbody tr")
    assert rows.count() == 50
    assert page.inner_text("#result-total") == "200"
    assert "第 1 页，共 4 页" in page.inner_text(".pager")
    assert page.locator("#outfall-table .badge.demo").count() == 50
    assert latin_words(page.inner_text("main")) == set()
    page.screenshot(path=str(artifacts / "list.png"), full_page=True)

    page.click(".pager a[rel=next]")
    page.wait_for_url(re.compile(r"page=2"))
    assert "第 2 页，共 4 页" in page.inner_text(".pager")
    first = page.locator("#outfall-table tbody tr").first
    name = first.locator("td").first.locator("a").inner_text()
    first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/outfalls/\d+$"))
    wait_ready(page, "#detail-map")

    assert page.inner_text("h1").startswith(name)
    assert page.locator(".timeline li").count() >= 1
    assert page.evaluate(PAINTED, "points") > 50  # the outfall's marker
    assert page.evaluate(PAINTED, "overlay") > 100  # the river it discharges into
    facts = page.inner_text(".detail")
    for label in ("基本信息", "位置", "当前状态", "历史记录", "陕西省", "CGCS2000"):
        assert label in facts
    assert latin_words(page.inner_text("main")) <= {"demo"}  # the login of the demo generator, in the history
    page.screenshot(path=str(artifacts / "detail.png"), full_page=True)
    tab.traffic.assert_clean()


def test_missing_outfall_shows_the_error_page(live_server: Any, tab: Any, artifacts: Path) -> None:
    page: Page = tab.page
    response = page.goto(live_server.url + "/outfalls/999999")

    assert response is not None and response.status == 404
    assert page.inner_text(".errorpage h1") == "未找到"
    assert page.inner_text(".errorpage .message") == "所请求的记录不存在。"
    page.screenshot(path=str(artifacts / "error-404.png"), full_page=True)
    page.click(".errorpage a.btn")
    wait_ready(page, "#map")
    assert tab.traffic.failed == [f"404 {live_server.url}/outfalls/999999"]
    assert len(tab.traffic.console_errors) == 1 and "404" in tab.traffic.console_errors[0]
    tab.traffic.failed.clear()
    tab.traffic.console_errors.clear()
    tab.traffic.assert_clean()
