"""Case officers record source tracing on the web and through the JSON API."""

from __future__ import annotations

import io
import re

from sqlalchemy.orm import Session

from outfalls.models import Outfall
from outfalls.types import OutfallStatus

FORM = {
    "traced_on": "2023-08-01T09:00", "method": "technical", "technique": "管道机器人",
    "sewage_source": "食品厂生产废水", "use_status": "在用",
    "party-0-name": "示例食品有限公司", "party-0-credit_code": "91110000802100433B",
    "party-0-industry": "农副食品加工业",
    "party-0-share_pct": "80", "party-1-name": "周边居民", "party-1-share_pct": "20", "main": "0",
}  # fmt: skip


def test_officer_records_a_tracing_on_the_page(session: Session, make_outfall, make_user, login_as):
    outfall: Outfall = make_outfall()
    client = login_as(make_user("officer", roles=("case_officer",), areas=("610100",)))
    page = client.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert 'id="trace-form"' in page and "尚未溯源" in page
    saved = client.post(
        f"/outfalls/{outfall.id}/traces", data=FORM | {"version": outfall.version, "csrf_token": client.csrf}
    )
    assert saved.status_code == 302 and saved.location.endswith("#tracing")
    session.refresh(outfall)
    assert outfall.status is OutfallStatus.TRACED and outfall.responsible_party == "示例食品有限公司"
    page = client.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert "主要责任主体" in page and "91110000802100433B" in page and "管道机器人" in page
    bad = client.post(
        f"/outfalls/{outfall.id}/traces",
        data=FORM | {"party-0-credit_code": "123", "version": outfall.version, "csrf_token": client.csrf},
    )
    assert bad.status_code == 422 and "GB 32100" in bad.get_data(as_text=True)
    viewer = login_as(make_user("viewer3", roles=("leader",), national=True))
    page = viewer.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert "示例食品有限公司" in page and 'id="trace-form"' not in page  # read-only for other roles


def field(html: str, name: str) -> str:
    """The input ``name`` with what follows it up to the end of its label (its error, if any)."""
    found = re.search(rf'<input name="{re.escape(name)}"[^>]*>(?:<span class="field-error"[^>]*>[^<]*</span>)?', html)
    assert found, f"no input {name}"
    return found.group(0)


def test_a_bad_credit_code_comes_back_on_the_case_page_next_to_its_field(
    session: Session, make_outfall, make_user, login_as
):
    outfall: Outfall = make_outfall()
    client = login_as(make_user("officer", roles=("case_officer",), areas=("610100",)))
    typo = "91110000802100433C"  # the check character of …433B mistyped
    sent = FORM | {"party-0-credit_code": typo, "version": outfall.version, "csrf_token": client.csrf}
    bad = client.post(f"/outfalls/{outfall.id}/traces", data=sent)
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'class="errorpage"' not in html and f"<h1>{outfall.name}" in html and 'id="trace-form"' in html
    code = field(html, "party-0-credit_code")
    assert f'value="{typo}"' in code and 'aria-invalid="true"' in code
    assert "不是有效的统一社会信用代码" in code and "GB 32100-2015" in code  # next to the field, in Chinese
    assert 'value="示例食品有限公司"' in field(html, "party-0-name")
    assert 'value="80"' in field(html, "party-0-share_pct")
    assert 'value="管道机器人"' in field(html, "technique") and 'value="食品厂生产废水"' in field(html, "sewage_source")
    assert 'value="2023-08-01T09:00"' in html and 'value="technical" selected' in html
    assert 'name="csrf_token" value="' + client.csrf in html  # the form can be sent again as it is
    assert "field-error" not in field(html, "party-1-name")
    # the language switch of the refused form's page leads back to the outfall's page, not to the POST route
    assert f'href="/lang/en?next=/outfalls/{outfall.id}/traces"' not in html and 'href="/lang/en"' in html
    session.refresh(outfall)
    assert outfall.status is OutfallStatus.SURVEYED  # nothing was saved
    client.get("/lang/en")
    english = client.post(f"/outfalls/{outfall.id}/traces", data=sent).get_data(as_text=True)
    assert "Not a valid unified social credit code" in field(english, "party-0-credit_code")
    mended = client.post(f"/outfalls/{outfall.id}/traces", data=sent | {"party-0-credit_code": "91110000802100433B"})
    assert mended.status_code == 302


def test_tracing_json_api(make_outfall, make_user, login_as):
    outfall = make_outfall()
    client = login_as(make_user("officer", roles=("case_officer",), areas=("610100",)))
    body = {
        "version": outfall.version,
        "traced_on": "2023-08-01T09:00:00+08:00",
        "method": "records",
        "sewage_source": "雨污混接",
        "government_default": True,
        "government_reason": "管网混接，无法确定排放单位",
        "parties": [{"name": "西安市未央区人民政府", "is_main": True}],
    }
    created = client.post(f"/api/outfalls/{outfall.id}/traces", json=body, headers={"X-CSRF-Token": client.csrf})
    assert created.status_code == 201, created.json
    assert created.json["is_government_default"] and created.json["parties"][0]["is_main"]
    listed = client.get(f"/api/outfalls/{outfall.id}/traces").json
    assert [t["id"] for t in listed] == [created.json["id"]]
    stale = client.post(f"/api/outfalls/{outfall.id}/traces", json=body, headers={"X-CSRF-Token": client.csrf})
    assert stale.status_code == 409
    missing = client.post(
        f"/api/outfalls/{outfall.id}/traces", json={"method": "records"}, headers={"X-CSRF-Token": client.csrf}
    )
    assert missing.status_code == 422 and missing.json["details"]["field"] == "version"


def _photo() -> bytes:
    """A phone-sized photo, small enough that the test client keeps the request in memory (a body over 500 kB
    goes to a temporary file the client never closes)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (120, 140, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_tracing_evidence_is_stored_shown_as_thumbnails_and_listed_in_the_api(
    session: Session, make_outfall, make_user, login_as
):
    outfall = make_outfall()
    officer = login_as(make_user("tracer", roles=("case_officer",), areas=("610100",)))
    response = officer.post(
        f"/outfalls/{outfall.id}/traces",
        data={"csrf_token": officer.csrf, "version": "1", "traced_on": "2023-03-01T09:00", "method": "technical",
              "technique": "管道机器人", "sewage_source": "生活污水", "party-0-name": "某小区物业", "main": "0",
              "evidence": [(io.BytesIO(_photo()), "robot.jpg"),
                           (io.BytesIO(b"%PDF-1.4 report"), "report.pdf")]},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    [trace] = officer.get(f"/api/outfalls/{outfall.id}/traces").get_json()
    photo_id, pdf_id = trace["evidence"]
    page = officer.get(f"/outfalls/{outfall.id}").get_data(as_text=True)
    assert f"/attachments/{photo_id}/thumb" in page and "report.pdf" in page
    with officer.get(f"/attachments/{photo_id}/thumb") as thumb:
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg" and len(thumb.data) < 60_000
    assert officer.get(f"/attachments/{pdf_id}/thumb").status_code == 404
    with officer.get(f"/attachments/{pdf_id}") as pdf:
        assert pdf.mimetype == "application/pdf"
    stranger = login_as(make_user("hanbin_officer", roles=("case_officer",), areas=("610902",)))
    assert stranger.get(f"/attachments/{photo_id}/thumb").status_code == 404  # out of scope: not found
