"""A crew member uploads a ZIP of a table and its phone photos through the page, checks the preview, imports,
and sees the report with the rejected row explained and the new outfalls on the map."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from outfalls.db.engine import make_engine
from outfalls.models import Attachment, Outfall

pytestmark = pytest.mark.browser
PHOTO = Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "geoapi_flipped_image.jpg"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "survey"


def _bundle(path: Path) -> Path:
    rows = [
        ["记录编号", "排污口名称", "经度", "纬度", "排口类型", "调查时间", "照片"],
        ["web-1", "浏览器上传一号口", "108.9712", "34.3921", "城镇雨洪排口", "2024-04-02 09:10", "IMG_0101.jpg"],
        ["web-2", "浏览器上传二号口", "108.9801", "34.3950", "4.5", "2024-04-02 09:40", ""],
        ["web-3", "经纬度颠倒的口", "34.3960", "108.9850", "4.8", "2024-04-02 10:00", ""],
    ]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("排查记录.csv", text.getvalue().encode("gb18030"))  # a crew's Excel CSV: GBK
        z.write(PHOTO, "照片/IMG_0101.jpg")
    return path


def test_crew_uploads_a_bundle_and_reads_the_report(
    anon_tab: Any, live_server: Any, artifacts: Path, login_page: Any, tmp_path: Path
) -> None:
    page = anon_tab.page
    login_page(page, live_server.url, "crew_xian")
    page.goto(live_server.url + "/survey/upload")
    page.set_input_files("#upload-form input[name=file]", str(_bundle(tmp_path / "crew.zip")))
    page.select_option("#upload-form select[name=datum]", "wgs84")
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#dry-run-summary")
    summary = page.inner_text("#dry-run-summary")
    assert "3 行" in summary and "1 行将被拒绝" in summary and "1 张照片" in summary
    assert "GBK" in page.inner_text("main")  # the encoding was detected, and the page says so
    page.screenshot(path=str(artifacts / "survey-preview.png"), full_page=True)

    page.click("#import-button")
    page.wait_for_selector("#report-counts")
    counts = {el.get_attribute("data-key"): el.inner_text() for el in page.query_selector_all("#report-counts dd")}
    assert counts["accepted"] == "2" and counts["rejected"] == "1" and counts["new_outfalls"] == "2"
    assert counts["photos"] == "1 / 1"
    assert "纬度与经度颠倒" in page.inner_text("#rejected")
    page.wait_for_selector("#batch-map[data-points='2']")
    page.wait_for_selector("#batch-map path.leaflet-interactive >> nth=1")  # both markers drawn
    assert page.locator("#batch-map path.leaflet-interactive").count() == 2
    # each point opens a popup naming its outfall, with a link to the outfall's page
    links = []
    for i in range(2):
        page.locator("#batch-map path.leaflet-interactive").nth(i).click(force=True)
        link = page.locator("#batch-map .leaflet-popup-content a").last  # the one before may still be fading
        link.wait_for()
        links.append((link.inner_text(), link.get_attribute("href")))
    page.screenshot(path=str(artifacts / "survey-report.png"), full_page=True)
    anon_tab.traffic.assert_clean()

    engine = make_engine(live_server.db_url)
    try:
        with Session(engine) as session:
            made = session.scalars(sa.select(Outfall).where(Outfall.name.like("浏览器上传%"))).all()
            assert len(made) == 2
            assert sorted(links) == sorted((o.name, f"/outfalls/{o.id}") for o in made)
            named = sa.select(Attachment).where(Attachment.kind == "photo", Attachment.original_name == "IMG_0101.jpg")
            photo = session.scalars(named).one()
            assert photo.outfall_id in {o.id for o in made}
    finally:
        engine.dispose()
    # the new outfall's page shows the survey photo (a thumbnail, upright)
    page.goto(f"{live_server.url}/outfalls/{photo.outfall_id}")
    thumb = page.locator(f"#survey-photos img[src$='/attachments/{photo.id}/thumb']")
    thumb.wait_for()
    response = page.request.get(f"{live_server.url}/attachments/{photo.id}/thumb")
    assert response.ok and response.headers["content-type"] == "image/jpeg"
    from PIL import Image

    with Image.open(io.BytesIO(response.body())) as small:
        assert small.size == (320, 240)
    thumb.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "survey-outfall.png"))


def test_on_a_phone_the_layer_choice_shows_each_label_beside_its_value(
    anon_tab: Any, live_server: Any, artifacts: Path, login_page: Any
) -> None:
    page = anon_tab.page
    page.set_viewport_size({"width": 390, "height": 844})
    login_page(page, live_server.url, "crew_xian")
    page.goto(live_server.url + "/survey/upload")
    page.set_input_files("#upload-form input[name=file]", str(FIXTURES / "qfield_two_point_layers.gpkg"))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#choose-layer td[data-label]")
    page.screenshot(path=str(artifacts / "survey-choose-layer-phone.png"), full_page=True)
    overlaps = page.evaluate("""() => [...document.querySelectorAll('#choose-layer td[data-label]')].filter(td => {
        const label = getComputedStyle(td, '::before');
        return parseFloat(getComputedStyle(td).paddingLeft) < parseFloat(label.width);
    }).map(td => td.dataset.label + ': ' + td.innerText)""")
    assert overlaps == []
    anon_tab.traffic.assert_clean()
