"""The drone interpretation journey in headless Chromium: an analyst opens the next cell, sees the orthophoto at
full resolution, marks two outfalls and a sensitive area with the keyboard and the mouse; a reviewer accepts one
and rejects one; a crew downloads the route as the survey table, uploads it as a verification, and after the review
queue links it the outfall reads "found by drone" and "surveyed". Screenshots in test-artifacts/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from outfalls.config import Settings
from outfalls.db.cluster import Cluster
from tests.browser.conftest import LiveServer, place_wei_orthophoto, seed_demo_catalogue, serving

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def live_server(pg_cluster: Cluster, clone_db: Callable[[str], str],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:  # fmt: skip
    """The demo catalogue served live, with the Pix4D orthophoto placed on the 渭河 in Xi'an and its cells laid."""
    data_dir = tmp_path_factory.mktemp("imagery_data")

    def seed(session: Session, settings: Settings) -> tuple[int, None]:
        created = seed_demo_catalogue(session)
        place_wei_orthophoto(session, settings, data_dir)
        return created, None

    with serving(pg_cluster, clone_db, "browser_interpretation", data_dir, seed) as (server, _):
        yield server


def _click_at(page: Any, lonlat: list[float], dx: int = 0, dy: int = 0) -> None:
    """Click the map at a lon/lat (plus a pixel offset), as a person would."""
    script = "([lon, lat]) => { const p = window.outfallsImagery.map.latLngToContainerPoint([lat, lon]); "
    point = page.evaluate(script + "return [p.x, p.y]; }", lonlat)
    box = page.locator("#cell-map").bounding_box()
    page.mouse.click(box["x"] + point[0] + dx, box["y"] + point[1] + dy)


def _tiles_painted(page: Any) -> int:
    """How many imagery tiles have loaded in the map."""
    return int(page.evaluate("document.querySelectorAll('#cell-map img.leaflet-tile-loaded').length"))


def test_drone_candidate_from_the_image_to_the_register(
    anon_tab: Any, live_server: LiveServer, artifacts: Path, login_page: Any, browser: Any, tmp_path: Path
) -> None:
    page = anon_tab.page
    # --- the analyst ------------------------------------------------------------------------------------------
    login_page(page, live_server.url, "analyst")
    page.goto(live_server.url + "/imagery")
    page.wait_for_selector("#cells-map[data-state=ready][data-tiles=loaded]")
    page.screenshot(path=str(artifacts / "interpretation-cells.png"))
    page.click("#next-cell")
    page.wait_for_selector("#cell-map[data-state=ready][data-mode=edit]")
    page.wait_for_selector("#cell-map[data-tiles=loaded]")
    assert _tiles_painted(page) > 0
    zoom = page.evaluate("window.outfallsImagery.map.getZoom()")
    assert zoom >= 18  # a 500 m cell fills the screen: the drone image at full resolution
    page.screenshot(path=str(artifacts / "interpretation-cell.png"))
    anchor = page.evaluate("window.outfallsImagery.anchor")

    page.keyboard.press("p")
    _click_at(page, anchor)
    page.wait_for_selector("#mark-form:not([hidden])")
    page.select_option("#mark-type", "4")
    page.select_option("#mark-confidence", "high")
    page.fill("#mark-note", "河岸管口，有水流痕迹")
    page.click("#mark-save")
    page.wait_for_selector("#marks li >> nth=0")
    first = page.inner_text("#marks li >> nth=0")
    assert " · 高" in first and "high" not in first  # the mark list speaks words, not codes
    page.keyboard.press("p")
    _click_at(page, anchor, dx=40)
    page.wait_for_selector("#mark-form:not([hidden])")
    page.fill("#mark-note", "可能是阴影")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_selector("#marks li >> nth=1")
    page.keyboard.press("a")
    for dx, dy in ((-30, -30), (30, -30), (30, 20), (-30, 20)):
        _click_at(page, anchor, dx=dx, dy=dy - 60)
    page.keyboard.press("Enter")  # closes the area
    page.wait_for_selector("#mark-form:not([hidden])")
    page.select_option("#mark-area-kind", "bridge")
    page.click("#mark-save")
    page.wait_for_selector("#marks li >> nth=2")
    assert page.locator("#mark-error").is_hidden()
    kinds = [li.get_attribute("data-kind") for li in page.query_selector_all("#marks li")]
    assert kinds == ["point", "point", "area"]
    page.screenshot(path=str(artifacts / "interpretation-marks.png"))
    cell_url = page.url
    page.wait_for_selector("#cell-map[data-tiles=loaded]")
    page.keyboard.press("n")  # done, next cell
    page.wait_for_url(lambda u: u != cell_url)
    anon_tab.traffic.assert_clean()

    # --- the reviewer -----------------------------------------------------------------------------------------
    reviewer = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN").new_page()
    login_page(reviewer, live_server.url, "reviewer")
    reviewer.goto(live_server.url + "/imagery/review")
    reviewer.click("a.review-cell")
    reviewer.wait_for_selector("#cell-map[data-state=ready][data-mode=review]")
    reviewer.click("#marks li >> nth=0 >> .mark-accept")
    reviewer.wait_for_selector("#marks li[data-review=accepted] >> nth=0")
    reviewer.fill("#marks li >> nth=1 >> .mark-reason", "树影，不是排口")
    reviewer.click("#marks li >> nth=1 >> .mark-reject")
    reviewer.wait_for_selector("#marks li[data-review=rejected]")
    reviewer.click("#marks li >> nth=2 >> .mark-accept")
    reviewer.wait_for_selector("#marks li[data-review=accepted] >> nth=1")
    reviewer.screenshot(path=str(artifacts / "interpretation-review.png"))
    reviewer.click("#cell-reviewed")
    reviewer.wait_for_selector("#cells-to-review")
    agreement = reviewer.inner_text("#agreement tr[data-analyst=analyst] .agreement")
    assert agreement.startswith("66.7")
    reviewer.goto(live_server.url + "/imagery/tasks")
    reviewer.select_option("#task-crew", "crew_xian")
    reviewer.fill("#task-name", "渭河西安段 核查 1")
    reviewer.click("#task-create")
    reviewer.wait_for_selector("#stops")
    assert len(reviewer.query_selector_all("#stops tbody tr")) == 2  # the accepted point and the sensitive area

    # --- the crew ---------------------------------------------------------------------------------------------
    crew = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="zh-CN", accept_downloads=True
    ).new_page()
    login_page(crew, live_server.url, "crew_xian")
    crew.click("#nav-imagery")
    crew.click("a.task-link")
    crew.wait_for_selector("#stops")
    crew.screenshot(path=str(artifacts / "interpretation-task.png"), full_page=True)
    with crew.expect_download() as download:
        crew.click("#download-csv")
    table = tmp_path / "route.csv"
    download.value.save_as(table)
    assert table.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads the Chinese headers
    crew.goto(live_server.url + "/survey/upload")
    crew.set_input_files("#upload-form input[name=file]", str(table))
    crew.click("#upload-form button[type=submit]")
    crew.wait_for_selector("#dry-run-summary")
    crew.click("#import-button")
    crew.wait_for_selector("#report-counts")
    counts = {el.get_attribute("data-key"): el.inner_text() for el in crew.query_selector_all("#report-counts dd")}
    # the crew's row of the task sits on its candidate: linked at once, confirmed on foot, nothing left to review
    assert counts["accepted"] == "1" and counts["new_outfalls"] == "0" and counts["linked"] == "1"
    assert counts["queued_for_review"] == "0"

    reviewer.goto(live_server.url + "/imagery/tasks")
    reviewer.click("a.task-link")
    state = reviewer.inner_text("#stops tr[data-kind=point] .state")
    assert state == "已现场确认"
    outfall_link = reviewer.locator("#stops tr[data-kind=point] a").get_attribute("href")
    reviewer.goto(live_server.url + str(outfall_link))
    assert "无人机" in reviewer.inner_text("#found-by") and "已现场确认" in reviewer.inner_text("#found-by")
    reviewer.screenshot(path=str(artifacts / "interpretation-confirmed.png"), full_page=True)
    reviewer.goto(live_server.url + "/imagery/yield")
    row = reviewer.locator("#yield-sorties tbody tr").filter(has_text="XA-01")
    assert row.locator(".candidates").inner_text() == "1" and row.locator(".confirmed").inner_text() == "1"
    reviewer.screenshot(path=str(artifacts / "interpretation-yield.png"), full_page=True)
