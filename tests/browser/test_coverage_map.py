"""Survey coverage in headless Chromium: a crew uploads a GPS track on the coverage page, the river's walked km
appear, and the walked track is drawn on the map (toggle in the layer control).

Fixtures (``live_server``, ``tab``, ``anon_tab``, ``artifacts``) live in ``tests/browser/conftest.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from sqlalchemy.orm import Session

from outfalls.db.engine import make_engine
from tests.db.test_tracks import densify, geodesic_m, gpx, wei_stretch

pytestmark = pytest.mark.browser

READY_MS = 30_000
PAINTED = """pane => {
  let n = 0;
  for (const c of document.querySelectorAll('.leaflet-' + pane + '-pane canvas')) {
    if (!c.width || !c.height) continue;
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
  }
  return n;
}"""


def test_a_crew_uploads_a_track_and_sees_it_on_the_map(
    live_server: Any, anon_tab: Any, login_page: Any, artifacts: Path, tmp_path: Path
) -> None:
    engine = make_engine(live_server.db_url)
    try:
        with Session(engine) as session:
            stretch = wei_stretch(session, 3, 9)  # in Lintong, Xi'an: the crew's own area
    finally:
        engine.dispose()
    track = tmp_path / "渭河南岸.gpx"
    track.write_bytes(gpx(densify(stretch), start=datetime(2024, 5, 10, 1, tzinfo=UTC)))
    page: Page = anon_tab.page
    login_page(page, live_server.url, "crew_xian")

    page.goto(live_server.url + "/survey/coverage")
    page.fill("#track-crew", "西安一组")
    page.set_input_files("#track-files", str(track))
    page.click("#track-submit")
    page.wait_for_selector("#track-report")

    assert "渭河南岸.gpx：已新增 西安一组 的 1 条轨迹" in page.inner_text("#track-report")
    first = page.locator("#coverage-table tbody tr").first
    assert first.get_attribute("data-river") == "HYD4M-463"
    walked = float(first.locator(".walked").inner_text().replace(",", ""))
    assert abs(walked - geodesic_m(stretch) / 1000) < 0.01
    assert "西安一组" in first.inner_text()
    assert page.locator("#coverage-table meter").first.get_attribute("value") not in (None, "0", "0.0")
    page.screenshot(path=str(artifacts / "survey-coverage-zh.png"), full_page=True)

    page.click("#coverage-map-link")
    page.wait_for_selector("#map[data-state=ready]", state="attached", timeout=READY_MS)

    assert page.get_attribute("#map", "data-tracks") == "1"
    assert "徒步轨迹" in page.inner_text(".leaflet-control-layers")
    # zoom to the track: it is drawn on the tracks pane, above the rivers
    page.evaluate("() => window.outfallsMap.setView([34.52, 109.58], 12, { animate: false })")
    page.wait_for_function(f"() => ({PAINTED})('tracks') > 300", timeout=READY_MS)  # drawn after the move
    page.screenshot(path=str(artifacts / "map-tracks-zh.png"))
    # the layer control hides and shows the tracks
    toggle = page.locator(".leaflet-control-layers label", has_text="徒步轨迹").locator("input")
    toggle.uncheck()
    page.wait_for_function(f"() => ({PAINTED})('tracks') === 0", timeout=READY_MS)
    toggle.check()
    page.wait_for_function(f"() => ({PAINTED})('tracks') > 300", timeout=READY_MS)
    anon_tab.traffic.assert_clean()
