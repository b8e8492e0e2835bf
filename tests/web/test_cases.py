"""Case officers record monitoring on the web: the form, the JSON API, limits, flags, errors."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outfalls.models import MonitoringVisit, Outfall

VISIT_FORM = {
    "visited_at": "2023-06-01T10:30", "discharge": "discharging", "flow": "measured", "flow_m3s": "0.02",
    "colour": "灰黑", "odour": "臭", "oil_film": "no", "method": "field_quick",
    "result-ph": "7.2", "result-cod": "48", "result-nh3n": "3.1", "result-tn": "", "result-tp": "0.35",
}  # fmt: skip


def officer(make_user, login_as, areas=("610100",)):
    return login_as(make_user("officer", roles=("case_officer",), areas=areas))


def test_officer_sets_limits_and_records_a_visit(session: Session, make_outfall, make_user, login_as):
    outfall: Outfall = make_outfall()
    client = officer(make_user, login_as)
    page = client.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert 'id="visit-form"' in page and "尚未监测" in page
    limited = client.post(f"/outfalls/{outfall.id}/limit", data={
        "limit": "GB3838-2002/III", "version": outfall.version, "csrf_token": client.csrf})  # fmt: skip
    assert limited.status_code == 302
    session.refresh(outfall)
    saved = client.post(f"/outfalls/{outfall.id}/visits",
                        data=VISIT_FORM | {"version": outfall.version, "csrf_token": client.csrf})  # fmt: skip
    assert saved.status_code == 302 and saved.location.endswith(f"/outfalls/{outfall.id}#monitoring")
    visit = session.scalar(sa.select(MonitoringVisit).where(MonitoringVisit.outfall_id == outfall.id))
    assert visit is not None and visit.exceedances == 3 and visit.visited_at.isoformat() == "2023-06-01T02:30:00+00:00"
    assert {r.parameter for r in visit.results} == {"ph", "cod", "nh3n", "tp"}  # empty fields are not results
    page = client.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert 'id="exceeds-badge"' in page and "总氮" in page  # TN is reported missing
    assert "2023-06-01 10:30" in page  # shown in local time
    listing = client.get("/outfalls").get_data(as_text=True)
    assert 'class="badge over"' in listing


def test_stale_and_bad_visits_are_refused_with_reasons(make_outfall, make_user, login_as):
    outfall = make_outfall()
    client = officer(make_user, login_as)
    stale = client.post(f"/outfalls/{outfall.id}/visits",
                        data=VISIT_FORM | {"version": outfall.version + 3, "csrf_token": client.csrf})  # fmt: skip
    assert stale.status_code == 409 and "someone else" in stale.get_data(as_text=True)
    bad = client.post(f"/outfalls/{outfall.id}/visits", data=VISIT_FORM | {
        "result-ph": "seven", "version": outfall.version, "csrf_token": client.csrf})  # fmt: skip
    assert bad.status_code == 422 and "result-ph" in bad.get_data(as_text=True)
    dry_with_values = client.post(f"/outfalls/{outfall.id}/visits", data=VISIT_FORM | {
        "discharge": "dry", "version": outfall.version, "csrf_token": client.csrf})  # fmt: skip
    assert dry_with_values.status_code == 422


def test_a_bad_value_comes_back_on_the_case_page_with_every_mistake_at_its_field(
    session: Session, make_outfall, make_user, login_as
):
    outfall = make_outfall()
    client = officer(make_user, login_as)
    sent = VISIT_FORM | {"result-ph": "seven", "flow_m3s": "0,02"}
    sent |= {"version": outfall.version, "csrf_token": client.csrf}
    bad = client.post(f"/outfalls/{outfall.id}/visits", data=sent)
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'class="errorpage"' not in html and f"<h1>{outfall.name}" in html and 'id="visit-form"' in html
    ph = re.search(r'<input name="result-ph"[^>]*>(<span class="field-error"[^>]*>[^<]*</span>)', html)
    assert ph and 'value="seven"' in ph.group(0) and "请填写数字" in ph.group(1)
    flow = re.search(r'<input name="flow_m3s"[^>]*>(<span class="field-error"[^>]*>[^<]*</span>)', html)
    assert flow and 'value="0,02"' in flow.group(0) and "请填写数字" in flow.group(1)  # every mistake at once
    kept = (("result-cod", "48"), ("result-tp", "0.35"), ("colour", "灰黑"), ("visited_at", "2023-06-01T10:30"))
    for name, value in kept:
        assert re.search(rf'<input[^>]*name="{name}"[^>]*value="{value}"', html), name
    assert '<option value="measured" selected>' in html and '<option value="no" selected>' in html
    assert "result-cod-error" not in html
    assert session.scalar(sa.select(sa.func.count()).select_from(MonitoringVisit)) == 0
    # a mistake the domain finds (a dry outfall with results) is shown at the results
    dry = client.post(f"/outfalls/{outfall.id}/visits", data=VISIT_FORM | {
        "discharge": "dry", "version": outfall.version, "csrf_token": client.csrf}).get_data(as_text=True)  # fmt: skip
    assert 'id="visit-form-results-error"' in dry and "留空" in dry


def test_json_api_for_monitoring(make_outfall, make_user, login_as):
    outfall = make_outfall()
    client = officer(make_user, login_as)
    body = {
        "version": outfall.version, "visited_at": "2023-07-01T09:00:00+08:00", "discharge": "discharging",
        "flow": "not_measurable",
        "results": [{"parameter": "cod", "value": 31.5, "unit": "mg/L", "method": "lab", "lab": "市监测站"},
                    {"parameter": "tp", "value": None, "unit": "mg/L", "below_detection": True,
                     "detection_limit": 0.01, "method": "lab", "lab": "市监测站"}],
    }  # fmt: skip
    created = client.post(f"/api/outfalls/{outfall.id}/visits", json=body, headers={"X-CSRF-Token": client.csrf})
    assert created.status_code == 201, created.json
    assert [r["parameter"] for r in created.json["results"]] == ["cod", "tp"]
    state = client.get(f"/api/outfalls/{outfall.id}/monitoring").json
    assert state["state"] == "sampled" and state["missing_mandatory"] == ["ph", "nh3n", "tn"]
    again = client.post(f"/api/outfalls/{outfall.id}/visits", json=body, headers={"X-CSRF-Token": client.csrf})
    assert again.status_code == 409 and again.json["error"] == "stale_edit"
    wrong = client.post(f"/api/outfalls/{outfall.id}/visits", json=body | {"version": outfall.version + 1,
                        "results": [{"parameter": "cod", "value": 3, "unit": "g/L"}]},
                        headers={"X-CSRF-Token": client.csrf})  # fmt: skip
    assert wrong.status_code == 422 and wrong.json["details"]["field"] == "results[0].unit"
    no_body = client.post(f"/api/outfalls/{outfall.id}/visits", data="x", headers={"X-CSRF-Token": client.csrf})
    assert no_body.status_code == 422
    viewer = login_as(make_user("viewer2", roles=("leader",), national=True))
    assert viewer.post(f"/api/outfalls/{outfall.id}/visits", json=body,
                       headers={"X-CSRF-Token": viewer.csrf}).status_code == 403  # fmt: skip


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_visit_photos_are_stored_and_served_within_scope(make_outfall, make_user, login_as):
    import io

    outfall = make_outfall()
    client = officer(make_user, login_as)
    jpeg = _jpeg()
    saved = client.post(
        f"/outfalls/{outfall.id}/visits",
        data=VISIT_FORM | {"version": outfall.version, "csrf_token": client.csrf,
                           "photo-sampling_point": (io.BytesIO(jpeg), "point.jpg"),
                           "photo-quick_test": (io.BytesIO(b"<script>alert(1)</script>"), "x.html")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert saved.status_code == 302
    page = client.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    links = sorted(set(re.findall(r'/attachments/(\d+)"', page)))
    assert len(links) == 2 and "照片：采样点" in page
    served = []
    for i in links:
        with client.get(f"/attachments/{i}") as response:
            cache = response.headers["Cache-Control"]
            assert "private" in cache and "public" not in cache  # a case file's photo is for this user only
            served.append((response.status_code, response.mimetype, response.headers.get("Content-Disposition"),
                           response.data))  # fmt: skip
    assert (200, "image/jpeg") == next(r[:2] for r in served if r[1] == "image/jpeg")
    assert next(r[3] for r in served if r[1] == "image/jpeg") == jpeg
    script = next(r for r in served if r[1] != "image/jpeg")
    assert script[1] == "application/octet-stream" and "attachment" in script[2]
    stranger = login_as(make_user("hanbin", roles=("case_officer",), areas=("610902",)))
    assert stranger.get(f"/attachments/{links[0]}").status_code == 404
    assert client.get("/attachments/999999").status_code == 404
