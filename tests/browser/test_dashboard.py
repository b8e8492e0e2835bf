"""The leadership dashboard in headless Chromium against a live server with the committed demo catalogue: scopes
drawn in the colours of their gaps, the as-of control replaying the figures, vector tiles loaded and drawn, the
chart drawn, drill-down by clicking, the print view; nothing fetched from the internet. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

READY_MS = 30_000
# Colours of the scopes' paths on the map, by code (Leaflet draws GeoJSON as SVG paths in its named pane).
PATH_FILLS = """() => {
  const out = {};
  window.dashboardMap.eachLayer(l => {
    if (l.feature && l.options.pane === 'areas' && l._path)
      out[l.feature.properties.code] = l._path.getAttribute('fill');
  });
  return out;
}"""
PAINTED = """pane => {
  let n = 0;
  for (const c of document.querySelectorAll('.leaflet-' + pane + '-pane canvas')) {
    if (!c.width || !c.height) continue;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
  }
  return n;
}"""


def ready(page: Page) -> dict[str, Any]:
    page.wait_for_selector("#dash-map[data-state=ready]", state="attached", timeout=READY_MS)
    # every tile in view answered (navigating away earlier would abort the rest)
    page.wait_for_selector("#dash-map[data-tiles-state=loaded]", state="attached", timeout=READY_MS)
    page.wait_for_selector("#trend-chart[data-state=ready]", state="attached", timeout=READY_MS)
    config: dict[str, Any] = json.loads(page.inner_text("#dash-config"))
    return config


def card_share(page: Page, metric: str) -> str:
    return page.inner_text(f"#card-{metric} .card-share")


def test_dashboard_colours_basins_by_gap_and_loads_tiles(live_server: Any, tab: Any, artifacts: Path) -> None:
    page: Page = tab.page
    page.goto(live_server.url + "/dashboard")
    config = ready(page)

    assert page.get_attribute("html", "lang") == "zh-CN"
    fills = page.evaluate(PATH_FILLS)
    assert set(fills) == set(config["rows"]) and len(fills) >= 2  # the Yellow River and Yangtze basins
    for code, fill in fills.items():
        assert fill == config["gapColors"][config["rows"][code]["gap_class"]], code
    # the ranked table lists the same basins, most behind first
    names = [row.inner_text().strip() for row in page.query_selector_all("#ranked-table tbody td.scope-name")]
    gaps = [config["rows"][r]["gap_pp"] for r in config["rows"]]
    assert len(names) == len(fills) and sorted(gaps, reverse=True) == [
        next(v["gap_pp"] for v in config["rows"].values() if v["scope_name"] == n) for n in names]  # fmt: skip
    # vector tiles: requested, answered, drawn on the points pane's canvases
    tiles = [u for u in tab.traffic.requests if "/tiles/outfalls/" in u]
    assert tiles and all(re.search(r"/tiles/outfalls/\d+/\d+/\d+\.mvt($|\?)", u) for u in tiles)
    page.wait_for_function(f"() => ({PAINTED})('points') > 50", timeout=READY_MS)
    assert page.evaluate(PAINTED, "points") > 50
    assert page.evaluate("() => window.dashboardChart.data.datasets.length") >= 4  # 3 lines + target points
    # the state filter asks the server for tiles of one state only
    page.select_option("#tile-state", "closed")
    page.wait_for_function(
        "() => performance.getEntriesByType('resource').some(e => e.name.includes('state=closed'))", timeout=READY_MS
    )
    page.wait_for_selector("#dash-map[data-tiles-state=loaded]", state="attached", timeout=READY_MS)
    page.select_option("#tile-state", "")
    page.wait_for_selector("#dash-map[data-tiles-state=loaded]", state="attached", timeout=READY_MS)
    assert "已溯源" in page.inner_text("#headline") and "%" in card_share(page, "traced")
    page.hover("#ranked-table")  # move the mouse off the map for a clean picture
    page.screenshot(path=str(artifacts / "dashboard-zh.png"), full_page=True)
    tab.traffic.assert_clean()


# Target markers the chart cuts off: each triangle's box against the region Chart.js clips its dataset to
# (the chart area widened by the dataset's clip margins; a side with clipping off reaches the canvas edge).
CLIPPED_TARGETS = """() => {
  const chart = window.dashboardChart, out = [];
  chart.data.datasets.forEach((ds, i) => {
    if (ds.type !== 'scatter') return;
    const meta = chart.getDatasetMeta(i), clip = meta._clip, a = chart.chartArea;
    const box = {
      left: clip.left === false ? 0 : a.left - clip.left,
      right: clip.right === false ? chart.width : a.right + clip.right,
      top: clip.top === false ? 0 : a.top - clip.top,
      bottom: clip.bottom === false ? chart.height : a.bottom + clip.bottom
    };
    box.left = Math.max(box.left, 0); box.top = Math.max(box.top, 0);
    box.right = Math.min(box.right, chart.width); box.bottom = Math.min(box.bottom, chart.height);
    meta.data.forEach((p, j) => {
      const r = p.options.radius + p.options.borderWidth / 2;
      if (p.x - r < box.left || p.x + r > box.right || p.y - r < box.top || p.y + r > box.bottom)
        out.push(ds.label + ' ' + ds.data[j].d + ' ' + ds.data[j].y + '%');
    });
  });
  return out;
}"""


def test_target_markers_are_drawn_whole(live_server: Any, tab: Any) -> None:
    """A 100 % target sits on the chart's top edge and the last deadline on its right edge: drawn whole."""
    page: Page = tab.page
    page.goto(live_server.url + "/dashboard")
    config = ready(page)
    trend = page.evaluate("url => fetch(url).then(r => r.json())", config["urls"]["trend"])  # what the chart drew
    shares = [t["share"] for ts in trend["targets"].values() for t in ts]
    assert 1.0 in shares  # the national default: all traced, all remediated
    assert page.evaluate(CLIPPED_TARGETS) == []
    tab.traffic.assert_clean()


def test_dashboard_map_names_areas_and_rivers(live_server: Any, tab: Any) -> None:
    """The dashboard's map names what it shows from the reference data, by zoom (no basemap needed)."""
    page: Page = tab.page
    page.goto(live_server.url + "/dashboard?by=area")
    ready(page)
    page.wait_for_function("() => document.getElementById('dash-map').dataset.labels", timeout=READY_MS)
    names = """() => [...document.querySelectorAll('#dash-map .leaflet-labels-pane .map-label')].map(
      el => [[...el.classList].find(c => c.startsWith('map-label-')).slice(10), el.textContent])"""
    far = page.evaluate(names)
    assert ["province", "陕西省"] in far and not any(k == "county" for k, _ in far), far
    page.evaluate("() => { window.dashboardMap.setView([34.35, 108.95], 9, {animate: false}); }")
    page.wait_for_function("() => window.dashboardMap.getZoom() === 9", timeout=READY_MS)
    page.wait_for_timeout(100)
    near = page.evaluate(names)
    assert ["river", "渭河"] in near and sum(k == "county" for k, _ in near) >= 3, near
    assert not any(k == "province" for k, _ in near), near
    tab.traffic.assert_clean()


def test_as_of_control_replays_the_figures(live_server: Any, tab: Any, artifacts: Path) -> None:
    page: Page = tab.page
    page.goto(live_server.url + "/dashboard?metric=remediated")
    ready(page)
    today = {m: card_share(page, m) for m in ("traced", "remediated", "closed")}
    count_today = page.inner_text("#card-traced .card-count")

    # drag the replay slider back to the end of 2022 (a month end: the slider steps month by month)
    page.evaluate("""() => {
      const s = document.getElementById('asof-slider');
      const first = new Date(JSON.parse(document.getElementById('dash-config').textContent).firstDay);
      s.value = String((2022 - first.getUTCFullYear()) * 12 + (11 - first.getUTCMonth()));
      s.dispatchEvent(new Event('input'));
      s.dispatchEvent(new Event('change'));
    }""")
    page.wait_for_url(re.compile(r"as_of=2022-12-31"), timeout=READY_MS)
    ready(page)

    assert page.input_value("#asof-date") == "2022-12-31"
    assert page.get_attribute("#headline", "data-as-of") == "2022-12-31"
    then = {m: card_share(page, m) for m in ("traced", "remediated", "closed")}
    assert then != today and page.inner_text("#card-traced .card-count") != count_today
    tiles = [u for u in tab.traffic.requests if "/tiles/outfalls/" in u]
    assert any("as_of=2022-12-31" in u for u in tiles)  # the outfalls replay too
    page.screenshot(path=str(artifacts / "dashboard-2022.png"), full_page=True)

    # the date picker goes anywhere, e.g. back to the first year of the programme
    page.evaluate("""() => {
      const d = document.getElementById('asof-date');
      d.value = '2021-06-30';
      d.dispatchEvent(new Event('change'));
    }""")
    page.wait_for_url(re.compile(r"as_of=2021-06-30"), timeout=READY_MS)
    ready(page)
    assert page.get_attribute("#headline", "data-as-of") == "2021-06-30"
    tab.traffic.assert_clean()


def test_click_drills_down_and_area_switch(live_server: Any, tab: Any, artifacts: Path) -> None:
    page: Page = tab.page
    page.goto(live_server.url + "/dashboard?by=area")
    config = ready(page)
    assert config["layer"] == "provinces"

    # click the province (the polygon's centre), then a city: one level per click
    page.evaluate("""() => {
      window.dashboardMap.eachLayer(l => { if (l.feature && l.options.pane === 'areas') l.fire('click'); });
    }""")
    page.wait_for_url(re.compile(r"scope=province(%3A|:)610000"), timeout=READY_MS)
    config = ready(page)
    assert config["layer"] == "cities" and config["parentCode"] == "610000"
    assert "陕西省" in page.inner_text("#dash-path")
    cities = page.query_selector_all("#ranked-table tbody tr")
    assert len(cities) >= 2
    page.click("#ranked-table tbody tr:first-child td.scope-name a")
    config = ready(page)
    assert config["layer"] == "counties"
    page.screenshot(path=str(artifacts / "dashboard-city.png"), full_page=True)

    page.click("#lang-en")
    ready(page)
    assert "Gap to the target due next" in page.inner_text("body")
    page.screenshot(path=str(artifacts / "dashboard-city-en.png"), full_page=True)
    tab.traffic.assert_clean()


def test_print_view(live_server: Any, tab: Any, artifacts: Path) -> None:
    page: Page = tab.page
    page.goto(live_server.url + "/dashboard")
    ready(page)
    href = page.get_attribute("#print-link", "href")
    assert href is not None
    page.goto(live_server.url + href)

    assert page.locator(".report-map path.area").count() >= 2
    assert page.locator(".report-chart polyline").count() == 3
    assert page.locator("#ranked-table tbody tr").count() >= 2
    page.screenshot(path=str(artifacts / "dashboard-print.png"), full_page=True)
    tab.traffic.assert_clean()


def test_saved_map_opens_offline_from_a_file(live_server: Any, tab: Any, browser: Any, tmp_path: Path,
                                              artifacts: Path) -> None:  # fmt: skip
    """'Save as map' gives one file that draws every outfall from file:// with the network off and asks for
    nothing (every request is intercepted and counted).
    """
    page = tab.page
    page.goto(f"{live_server.url}/dashboard?by=area")
    ready(page)
    with page.expect_download() as info:
        page.click("#map-file-link")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    html = saved.read_text(encoding="utf-8")
    expected = len(re.findall(r'"outfall_id": \d+', html))
    assert expected == live_server.outfalls > 0

    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 800})
    requests: list[str] = []

    def count(route: Any) -> None:
        requests.append(route.request.url)
        if route.request.url == saved.as_uri():
            route.continue_()
        else:
            route.abort()

    context.route("**/*", count)
    errors: list[str] = []
    offline = context.new_page()
    offline.on("pageerror", lambda err: errors.append(str(err)))
    try:
        offline.goto(saved.as_uri())
        offline.wait_for_function(f"document.querySelectorAll('path.outfall').length >= {expected}", timeout=READY_MS)
        assert offline.eval_on_selector_all("path.outfall", "e => e.length") == expected
        assert offline.eval_on_selector_all("path.leaflet-interactive:not(.outfall)", "e => e.length") >= 1  # areas
        assert "截至" in offline.inner_text(".takeaway-legend")
        offline.click("path.outfall >> nth=0", force=True)
        assert "责任主体" in offline.inner_text(".leaflet-popup-content")
        offline.screenshot(path=str(artifacts / "map-file-offline.png"))
        assert requests == [saved.as_uri()] and errors == []
    finally:
        context.close()
