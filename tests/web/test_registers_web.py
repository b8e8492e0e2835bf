"""The registers page for exporters (a job, its page, the download, the audit entry, the scope) and the dossier
(HTML with the timeline and the map, PDF by headless Chromium) through the test client.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date
from typing import Any

import openpyxl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import HistoryItem
from outfalls.models import AuditEntry, Outfall
from outfalls.types import AuditAction, EventKind

LINTONG = (109.20, 34.44)  # 临潼区 610115, 700 m from the Wei river
HANZHONG = (107.03, 33.07)  # 汉台区 610702


@pytest.fixture
def two_counties(make_outfall: Callable[..., Outfall]) -> dict[str, Outfall]:
    return {
        "lintong": make_outfall(lonlat=LINTONG, name="临潼排口", found_on=date(2022, 3, 1), history=(
            HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "乙公司"}),)),  # fmt: skip
        "hanzhong": make_outfall(lonlat=HANZHONG, name="汉台排口", found_on=date(2022, 3, 1)),
    }


def fetch(client: FlaskClient, url: str) -> tuple[int, str, str, bytes]:
    """Status, media type, disposition and body of a download (closed at once: it streams a stored file)."""
    with client.get(url) as r:
        return r.status_code, r.mimetype, r.headers.get("Content-Disposition", ""), r.data


def export(client: FlaskClient, **form: str) -> Any:
    data = {"csrf_token": client.csrf, "format": "csv", "as_of": "2023-12-31", "crs": "4490"} | form  # type: ignore[attr-defined]
    r = client.post("/registers/export", data=data)
    assert r.status_code == 302, r.data[:500]
    return r.headers["Location"]


def test_county_exporter_downloads_only_their_county(two_counties: dict[str, Outfall], make_user: Any,
                                                    login_as: Any, session: Session) -> None:  # fmt: skip
    client = login_as(make_user("lintong_exporter", roles=("exporter",), areas=("610115",)))
    page = client.get("/registers")
    assert page.status_code == 200 and b'id="export-form"' in page.data and b'id="nav-registers"' in page.data
    job_url = export(client)
    job = client.get(job_url)
    assert job.status_code == 200 and b'id="download"' in job.data
    status, media, disposition, data = fetch(client, job_url + "/download")
    assert status == 200 and media == "text/csv"
    assert "filename=register-2023-12-31.csv" in disposition
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["name"] for r in rows] == ["临潼排口"] and rows[0]["responsible_party"] == "乙公司"
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.EXPORT)).all()
    assert len(audit) == 1 and audit[0].actor == "lintong_exporter"
    assert audit[0].details["rows"] == 1 and audit[0].details["format"] == "csv"
    # asking for an area outside the scope gives an empty register, never the other county
    job_url = export(client, area="610702")
    assert list(csv.DictReader(io.StringIO(fetch(client, job_url + "/download")[3].decode("utf-8-sig")))) == []
    # the list of my exports on the page
    assert client.get("/registers").data.count(b"/download") == 2


def test_xlsx_export_through_the_page(two_counties: dict[str, Outfall], make_user: Any, login_as: Any) -> None:
    client = login_as(make_user("exporter", roles=("exporter",)))
    job_url = export(client, format="xlsx", crs="4326")
    status, _media, _disposition, data = fetch(client, job_url + "/download")
    assert status == 200 and data[:2] == b"PK"
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["汇总", "长江流域", "黄河流域", "字段说明"]


def test_map_file_export_through_the_page(two_counties: dict[str, Outfall], make_user: Any, login_as: Any) -> None:
    client = login_as(make_user("lintong_mapper", roles=("exporter",), areas=("610115",)))
    assert b'<option value="html">' in client.get("/registers").data
    job_url = export(client, format="html")
    status, media, disposition, data = fetch(client, job_url + "/download")
    assert (status, media) == (200, "text/html") and "register-2023-12-31.html" in disposition
    page = data.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script src" not in page
    assert "临潼排口".encode("ascii", "backslashreplace").decode() in page  # folium writes JSON with \\u escapes
    assert page.count('"outfall_id": ') == 1  # the county's own outfall, never the other county's


def test_only_exporters_and_admins(make_user: Any, login_as: Any) -> None:
    leader = login_as(make_user("leader_only", roles=("leader",)))
    assert leader.get("/registers").status_code == 403
    assert b'id="nav-registers"' not in leader.get("/").data
    admin = login_as(make_user("admin1", roles=("admin",)))
    assert admin.get("/registers").status_code == 200
    r = admin.post("/registers/export", data={"csrf_token": admin.csrf, "format": "docx"})  # type: ignore[attr-defined]
    assert r.status_code == 422


def test_someone_elses_export_is_not_found(two_counties: dict[str, Outfall], make_user: Any, login_as: Any) -> None:
    mine = login_as(make_user("exporter_a", roles=("exporter",)))
    job_url = export(mine)
    other = login_as(make_user("exporter_b", roles=("exporter",)))
    assert other.get(job_url).status_code == 404
    assert fetch(other, job_url + "/download")[0] == 404


def test_dossier_html_and_pdf(two_counties: dict[str, Outfall], client: FlaskClient) -> None:
    o = two_counties["lintong"]
    page = client.get(f"/outfalls/{o.id}")
    assert f'href="/outfalls/{o.id}/dossier"'.encode() in page.data
    html = client.get(f"/outfalls/{o.id}/dossier")
    assert html.status_code == 200
    text = html.data.decode()
    assert 'id="timeline"' in text and "乙公司" in text and 'id="dossier-map"' in text and "<path d=" in text
    assert text.count("<tr><td class=\"nowrap\">") == 2  # created and traced, one row each
    pdf = client.get(f"/outfalls/{o.id}/dossier.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")


def test_dossier_respects_the_scope(two_counties: dict[str, Outfall], make_user: Any, login_as: Any) -> None:
    county = login_as(make_user("lintong_user", roles=("leader",), areas=("610115",)))
    assert county.get(f"/outfalls/{two_counties['hanzhong'].id}/dossier").status_code == 404
    assert county.get(f"/outfalls/{two_counties['lintong'].id}/dossier").status_code == 200
