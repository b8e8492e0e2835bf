"""The crew's offline app on a phone (390×844, emulated GPS) in Debian's Chromium: opened online, the network goes
away; two outfalls are captured with their photos and a drone candidate is confirmed; the page is reloaded with no
network (the service worker serves it); back online the records are sent, the database holds each exactly once with
its event and photos, a re-sent record adds nothing, and a sync cut off after the first record completes on retry
without a duplicate. Screenshots in test-artifacts/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from geoalchemy2.shape import to_shape
from shapely import Point
from shapely.geometry import mapping
from sqlalchemy.orm import Session

from imagery import candidates, cells, interpretation
from imagery.interpretation import MarkInput
from imagery.models import MarkKind
from outfalls.config import Settings
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine
from outfalls.models import Attachment, Event, FieldRecord, MonitoringVisit, Observation, Outfall
from outfalls.scope import Scope
from outfalls.types import EventKind, OutfallStatus
from tests.browser.conftest import CHROMIUM, LiveServer, place_wei_orthophoto, seed_demo_catalogue, serving

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PHOTO = FIXTURES / "photos" / "geoapi_image.jpg"
PHONE = {"width": 390, "height": 844}
ALL = Scope.national()


@pytest.fixture(scope="module")
def field_server(pg_cluster: Cluster, clone_db: Callable[[str], str],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:  # fmt: skip
    """The demo catalogue served live, with an orthophoto on the 渭河 in Xi'an, two accepted candidates in it
    given to crew_xian as a task."""
    data_dir = tmp_path_factory.mktemp("field_data")

    def seed(session: Session, settings: Settings) -> tuple[int, dict[str, Any]]:
        created = seed_demo_catalogue(session)
        lon, lat = place_wei_orthophoto(session, settings, data_dir)
        cell = cells.next_cell(session, analyst="analyst", scope=ALL)
        assert cell is not None
        shape = to_shape(cell.geom)
        c = shape.representative_point()
        west, _s, east, _n = shape.bounds
        inside = [p for p in (Point(west + (east - west) * k / 20, c.y) for k in range(1, 20)) if shape.contains(p)]
        points = [inside[1], inside[-2]]
        marks = [interpretation.add_mark(session, cell.id, MarkKind.POINT, MarkInput(mapping(p), type_guess="4",
                                                                                      note="岸边管口"),
                                         actor="analyst", scope=ALL) for p in points]  # fmt: skip
        cells.finish_cell(session, cell.id, actor="analyst", scope=ALL)
        for m in marks:
            interpretation.review_mark(session, m.id, "accept", actor="reviewer", scope=ALL)
        candidates.create_task(session, "crew_xian", actor="reviewer", scope=ALL)
        return created, {"candidates": [(m.outfall_id, p.x, p.y) for m, p in zip(marks, points, strict=True)],
                         "centre": (lon, lat)}  # fmt: skip

    with serving(pg_cluster, clone_db, "browser_field_app", data_dir, seed) as served:
        yield served


def _capture(page: Any, name: str, photos: tuple[str, ...] = ("near1", "near2", "sign", "far")) -> None:
    page.fill("#record-form input[name=name]", name)
    page.select_option("#record-form select[name=name_provenance]", "known")
    page.select_option("#type-select", index=2)
    page.fill("#record-form input[name=receiving_water]", "渭河")
    page.check("#record-form input[name=discharging][value=yes]")
    page.fill("#record-form input[name=colour]", "灰")
    for slot in photos:
        page.set_input_files(f"#record-form input[name=photo_{slot}]", str(PHOTO))
    page.click("#record-save")
    page.wait_for_selector("#record-dialog", state="hidden")


def _waiting(page: Any, n: int) -> None:
    page.wait_for_selector(f"body[data-waiting='{n}'][data-syncing='0']", timeout=30_000)


def _counts(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            field_obs = sa.select(sa.func.count()).select_from(Observation).where(Observation.client_id.like("f-%"))
            return {
                "records": s.scalar(sa.select(sa.func.count()).select_from(FieldRecord)) or 0,
                "observations": s.scalar(field_obs) or 0,
                "photos": s.scalar(sa.select(sa.func.count()).select_from(Attachment)
                                   .where(Attachment.meta["client_id"].astext.like("f-%"))) or 0,  # fmt: skip
                "outfalls": s.scalar(sa.select(sa.func.count()).select_from(Outfall)) or 0,
                "events": s.scalar(sa.select(sa.func.count()).select_from(Event)) or 0,
                "visits": s.scalar(sa.select(sa.func.count()).select_from(MonitoringVisit)) or 0,
            }
    finally:
        engine.dispose()


def test_offline_capture_and_sync_exactly_once(
    field_server: tuple[LiveServer, dict[str, Any]], browser: Any, artifacts: Path, login_page: Any
) -> None:
    server, spots = field_server
    (cand_id, cand_lon, cand_lat), _other = spots["candidates"]
    lon, lat = spots["centre"]
    spot_a, spot_b = (lon + 0.012, lat + 0.004), (lon - 0.015, lat + 0.006)  # ~1 km from the candidates
    assert CHROMIUM
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="zh-CN", geolocation={"longitude": spot_a[0], "latitude": spot_a[1],
                                                               "accuracy": 6},
                                  permissions=["geolocation"])  # fmt: skip
    errors: list[str] = []
    posted: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("request", lambda r: posted.append(r.post_data or "") if r.method == "POST"
                and r.url.endswith("/api/field/records") else None)  # fmt: skip
        login_page(page, server.url, "crew_xian")
        page.goto(server.url + "/field")
        page.wait_for_selector("body[data-ready='1']")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_selector("#tasks li.stop >> nth=1")
        page.wait_for_selector("#position[data-accuracy='6']")
        assert "±6 米" in page.inner_text("#position")  # the accuracy, in the crew's language
        page.screenshot(path=str(artifacts / "field-app.png"))
        before = _counts(server.db_url)

        # --- no network: two new outfalls and a confirmed candidate -------------------------------------------
        context.set_offline(True)
        page.wait_for_selector("#net-state[data-online='0']")
        page.click("#new-outfall")
        page.wait_for_selector("#record-dialog[open]")
        page.screenshot(path=str(artifacts / "field-capture.png"), full_page=True)
        _capture(page, "现场App一号口")
        context.set_geolocation({"longitude": spot_b[0], "latitude": spot_b[1], "accuracy": 8})
        page.wait_for_selector("#position[data-accuracy='8']")
        page.click("#new-outfall")
        _capture(page, "现场App二号口")
        context.set_geolocation({"longitude": cand_lon, "latitude": cand_lat, "accuracy": 5})
        page.wait_for_selector("#position[data-accuracy='5']")
        page.click(f"#tasks li[data-outfall='{cand_id}'] button.primary")
        _capture(page, "核实的航测排口", photos=("near1", "far"))
        _waiting(page, 3)

        # --- reloaded with no network: the service worker serves the app, the records are still there ----------
        response = page.reload()
        assert response is not None and response.from_service_worker
        page.wait_for_selector("body[data-ready='1']")
        _waiting(page, 3)
        assert page.locator("#waiting li[data-state='waiting']").count() == 3
        page.screenshot(path=str(artifacts / "field-offline.png"), full_page=True)
        assert _counts(server.db_url) == before

        # --- back in range: everything sent, exactly once -----------------------------------------------------
        context.set_offline(False)
        _waiting(page, 0)
        page.wait_for_selector("#results li[data-status='accepted'] >> nth=2")
        said = page.inner_text("#results")  # what became of each record, in the crew's language
        assert "新排污口" in said and "已确认" in said and "outfall" not in said and "candidate" not in said
        after = _counts(server.db_url)
        assert after["records"] - before["records"] == 3 and after["observations"] - before["observations"] == 3
        assert after["photos"] - before["photos"] == 10
        assert after["outfalls"] - before["outfalls"] == 2  # the third record verified the candidate
        engine = make_engine(server.db_url)
        try:
            with Session(engine) as s:
                made = s.scalars(sa.select(Outfall).where(Outfall.name.like("现场App%号口"))).all()
                assert len(made) == 2
                for o in made:
                    kinds = s.scalars(sa.select(Event.kind).where(Event.outfall_id == o.id)).all()
                    assert EventKind.CREATED in kinds
                    assert s.scalar(sa.select(sa.func.count()).select_from(Attachment)
                                    .where(Attachment.outfall_id == o.id)) == 4  # fmt: skip
                candidate = s.get(Outfall, cand_id)
                assert candidate is not None and candidate.status is OutfallStatus.SURVEYED
                assert EventKind.SURVEYED in s.scalars(sa.select(Event.kind).where(Event.outfall_id == cand_id)).all()
                first_id = made[0].id if made[0].name.startswith("现场App一") else made[1].id
        finally:
            engine.dispose()

        # --- syncing again adds nothing, nor does the same record sent again ----------------------------------
        page.click("#sync-button")
        page.wait_for_selector("body[data-syncing='0']")
        csrf = page.get_attribute("body", "data-csrf")
        again = page.request.post(server.url + "/api/field/records", data=posted[0],
                                  headers={"Content-Type": "application/json", "X-CSRF-Token": csrf or ""})  # fmt: skip
        assert again.status == 200 and again.json()["already_received"] is True
        assert _counts(server.db_url) == after

        # --- a sync cut off after the first record completes on retry, without a duplicate --------------------
        context.set_offline(True)
        context.set_geolocation({"longitude": spot_a[0], "latitude": spot_a[1], "accuracy": 4})
        page.wait_for_selector(f"#nearby li[data-outfall='{first_id}']")
        page.click(f"#nearby li[data-outfall='{first_id}'] button")
        page.select_option("#record-form select[name=discharge]", "discharging")
        page.fill("#record-form input[name=qt_cod]", "42")
        page.click("#record-save")
        page.wait_for_selector("#record-dialog", state="hidden")
        page.click("#new-outfall")
        assert page.is_visible("#near-warning")  # the known outfall within the radius is offered first
        _capture(page, "现场App三号口", photos=("near1",))
        _waiting(page, 2)
        seen = []

        def cut(route: Any) -> None:
            seen.append(route.request.post_data)
            if len(seen) == 2:
                route.fetch()  # the server stores the second record, but its answer never reaches the phone
                route.abort()
            else:
                route.continue_()

        page.route("**/api/field/records", cut)
        context.set_offline(False)
        page.wait_for_selector("body[data-syncing='0'][data-waiting='1']")
        cut_off = _counts(server.db_url)
        assert cut_off["records"] - after["records"] == 2  # both arrived; the phone still holds the second
        page.unroute("**/api/field/records")
        page.click("#sync-button")
        _waiting(page, 0)
        final = _counts(server.db_url)
        assert final == cut_off and final["visits"] - after["visits"] == 1
        assert page.locator("#results li").count() == 5
        page.screenshot(path=str(artifacts / "field-synced.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
