"""The phone app's API through the test client: photos then the record, 201 once and the same answer with 200
after, a refusal as 422 with every field, the answer kept for a record, and the offline bundle."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.models import Attachment, FieldRecord, Observation

PHOTO = Path(__file__).resolve().parents[1] / "fixtures" / "photos" / "geoapi_image.jpg"


def _record(client_id: str, **kw: Any) -> dict[str, Any]:
    when = (clock.now() - timedelta(minutes=30)).isoformat()
    return {"client_id": client_id, "kind": "new_outfall", "captured_at": when,
            "position": {"lon": 108.9712, "lat": 34.3921, "accuracy_m": 5.0, "at": when},
            "name": "接口测试排口", "type": "4.5", "discharging": "no", "photos": ["near1", "far"]} | kw  # fmt: skip


def test_photos_then_the_record_once(session: Session, make_user, login_as, make_outfall) -> None:
    crew = login_as(make_user("crew1", roles=("crew",), areas=("610100",)))
    known = make_outfall(lonlat=(108.99, 34.39))
    headers = {"X-CSRF-Token": crew.csrf}
    body = _record("f-api-0001")
    for slot in ("near1", "far"):
        r = crew.put(f"/api/field/records/f-api-0001/photos/{slot}?name={slot}.jpg", data=PHOTO.read_bytes(),
                     headers=headers, content_type="image/jpeg")  # fmt: skip
        assert r.status_code == 201, r.get_json()
    again = crew.put("/api/field/records/f-api-0001/photos/near1", data=PHOTO.read_bytes(), headers=headers)
    assert again.status_code == 200 and again.get_json()["already_received"] is True
    assert crew.get("/api/field/records/f-api-0001").get_json() == {
        "client_id": "f-api-0001", "result": None, "photos": ["far", "near1"]}
    first = crew.post("/api/field/records", json=body, headers=headers)
    assert first.status_code == 201 and first.get_json()["status"] == "accepted" and first.get_json()["photos"] == 2
    second = crew.post("/api/field/records", json=body, headers=headers)
    assert second.status_code == 200
    assert second.get_json() == first.get_json() | {"already_received": True}
    kept = crew.get("/api/field/records/f-api-0001").get_json()["result"]
    assert kept["outfall_id"] == first.get_json()["outfall_id"]
    stored = select(func.count()).select_from(Observation).where(Observation.client_id == "f-api-0001")
    assert session.scalar(stored) == 1
    assert session.scalar(select(func.count()).select_from(Attachment).where(
        Attachment.observation_id == first.get_json()["observation_id"])) == 2  # fmt: skip

    bundle = crew.get("/api/field/bundle").get_json()
    assert bundle["radius_m"] == 20.0 and bundle["csrf_token"] == crew.csrf and bundle["tasks"] == []
    assert {o["id"] for o in bundle["outfalls"]} >= {known.id, first.get_json()["outfall_id"]}
    kinds = {f["properties"]["kind"] for f in bundle["reference"]["features"]}
    assert kinds == {"river", "area"}


def test_a_refusal_names_every_field_and_keeps_nothing(session: Session, make_user, login_as) -> None:
    crew = login_as(make_user("crew1", roles=("crew",), areas=("610100",)))
    headers = {"X-CSRF-Token": crew.csrf}
    bad = _record("f-api-0002", discharging="maybe", position={"lon": 500, "lat": 34.39}, photos=[])
    r = crew.post("/api/field/records", json=bad, headers=headers)
    assert r.status_code == 422
    fields = {e["field"] for e in r.get_json()["details"]["errors"]}
    assert fields == {"discharging", "position.lon"}
    missing = crew.post("/api/field/records", json=_record("f-api-0003"), headers=headers)
    assert missing.status_code == 422 and "has not arrived" in missing.get_json()["message"]
    assert crew.post("/api/field/records", json=_record("f-api-0004"), headers={}).status_code == 403  # no CSRF
    assert crew.put("/api/field/records/f-api-0004/photos/selfie", data=PHOTO.read_bytes(),
                    headers=headers).status_code == 422  # fmt: skip
    assert crew.put("/api/field/records/f-api-0004/photos/near1", data=b"not a photo",
                    headers=headers).status_code == 422  # fmt: skip
    assert crew.get("/api/field/records/f-api-0002").status_code == 404
    assert session.scalar(select(func.count()).select_from(FieldRecord)) == 0


def test_only_crews_use_the_field_api(make_user, login_as) -> None:
    leader = login_as(make_user("leader1", roles=("leader",)))
    assert leader.get("/api/field/bundle").status_code == 403
    r = leader.post("/api/field/records", json=_record("f-api-0005"), headers={"X-CSRF-Token": leader.csrf})
    assert r.status_code == 403



def test_the_app_shell_manifest_and_service_worker(make_user, login_as, anon_client) -> None:
    crew = login_as(make_user("crew1", roles=("crew",), areas=("610100",)))
    page = crew.get("/field")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'rel="manifest" href="/field/manifest.webmanifest"' in html and 'id="waiting-count"' in html
    assert "http://" not in html and "https://" not in html  # nothing from outside the intranet
    manifest = anon_client.get("/field/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    assert manifest.get_json()["scope"] == "/field" and manifest.get_json()["start_url"] == "/field"
    assert {i["sizes"] for i in manifest.get_json()["icons"]} == {"192x192", "512x512", "any"}
    sw = anon_client.get("/field/sw.js")
    assert sw.headers["Service-Worker-Allowed"] == "/field" and sw.mimetype == "text/javascript"
    script = sw.get_data(as_text=True)
    shell = ('"/field"', "/static/field/app.js", "/static/vendor/leaflet/leaflet.js", "/static/vendor/idb/idb.umd.js")
    for asset in shell:
        assert asset in script
        if asset.startswith("/static"):
            response = anon_client.get(asset)
            assert response.status_code == 200
            response.close()
    leader = login_as(make_user("leader1", roles=("leader",)))
    assert leader.get("/field").status_code == 403
