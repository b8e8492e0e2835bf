"""Words on the Chinese pages: no raw codes or English where people read (register columns, upload rejections,
error details, audit details, crew pickers), the register page's as-of choices and scope by name, and no link a
role cannot follow."""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from outfalls import clock
from outfalls.registers import COLUMN_NAMES
from outfalls.types import Role
from web.words import COLUMN_NOTES

ENGLISH_WORDS = re.compile(r"\b(the|is|are|of|needs|roles|look|swapped|outfall's|number)\b")


def _text(html: str) -> str:
    """What a reader sees: the page without scripts, styles and tags."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def _links(html: str) -> set[str]:
    return {h for h in re.findall(r'<a\b[^>]*\bhref="([^"#]+)"', html) if h.startswith("/") and not h.startswith("//")}


SKIP = (".pdf", ".csv", ".zip", ".xlsx", ".gpkg", ".geojson", ".kml", ".gpx", "/download", "/map.html", "/lang/")


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_no_link_a_role_cannot_follow(role: str, make_user, login_as) -> None:
    """Every link on the pages a role's navigation offers opens for that role (no 403 behind a link)."""
    user = login_as(make_user(f"u_{role}", roles=(role,)))
    home = user.get("/").get_data(as_text=True)
    pages = {p for p in _links(home) if not p.endswith(SKIP)} | {"/"}
    refused: dict[str, str] = {}
    seen: set[str] = set()
    for page in sorted(pages):
        response = user.get(page)
        if response.status_code == 403:
            refused[page] = "navigation"
            continue
        if response.status_code != 200 or "text/html" not in response.content_type:
            continue
        for link in sorted(_links(response.get_data(as_text=True)) - seen):
            seen.add(link)
            if link.endswith(SKIP) or urlsplit(link).path.endswith(SKIP):
                continue
            if user.get(link).status_code == 403:
                refused[link] = page
    assert refused == {}


def test_register_page_in_words(make_user, login_as) -> None:
    exporter = login_as(make_user("exp", roles=("exporter",), areas=("610000",)))
    html = exporter.get("/registers").get_data(as_text=True)
    today = clock.today()
    assert re.search(r'id="export-as-of"[^>]*value="' + today.isoformat() + '"', html)
    quick = re.findall(r'data-as-of="([0-9-]+)"', html)
    assert f"{today.year - 1}-12-31" in quick
    for deadline in ("2023-12-31", "2024-12-31", "2025-12-31"):
        assert deadline in quick
    assert 'id="register-scope"' in html and "陕西省" in html
    options = re.findall(r"<option value=\"[0-9A-Z]+\">([^<]*)</option>", html)
    assert options and not any(re.search(r"\(\w*[0-9]{2,}\w*\)", o) for o in options)
    assert set(COLUMN_NOTES) >= set(COLUMN_NAMES)  # every column says what it holds in words
    columns = html.split('id="register-columns"', 1)[1]
    assert not ENGLISH_WORDS.search(_text(columns)), _text(columns)[:400]


def test_error_pages_say_their_details_in_chinese(make_user, login_as) -> None:
    exporter = login_as(make_user("exp2", roles=("exporter",)))
    refused = exporter.get("/dashboard")
    assert refused.status_code == 403
    page = _text(refused.get_data(as_text=True))
    assert "needs one of the roles" not in page and "leader" not in page
    assert "领导" in page or "管理员" in page
    bad = exporter.post("/registers/export", data={"csrf_token": exporter.csrf, "format": "doc", "as_of": "2024-12-31"})
    assert bad.status_code == 422
    page = _text(bad.get_data(as_text=True))
    assert not ENGLISH_WORDS.search(page.split("无效的输入", 1)[-1] if "无效的输入" in page else page), page[-600:]


def test_audit_details_in_words(make_user, login_as) -> None:
    make_user("crew9", roles=("crew",), areas=("610100",))
    admin = login_as(make_user("root9", roles=("admin",)))
    html = admin.get("/admin/audit").get_data(as_text=True)
    table = _text(html.split('id="audit-table"', 1)[1])
    assert "roles=" not in table and "['crew']" not in table
    assert "排查队员" in table and "全国：否" in table  # the crew role by its name, a flag in words


def test_crew_pickers_show_people_by_name(session, make_user, login_as) -> None:
    from outfalls import accounts

    crew = make_user("crew_x", roles=("crew",), areas=("610100",))
    accounts.update_user(session, crew.id, expected_version=crew.version, display_name="张三", actor="tests")
    reviewer = login_as(make_user("rev9", roles=("reviewer",)))
    html = reviewer.get("/imagery/tasks").get_data(as_text=True)
    assert re.search(r'<option value="crew_x"[^>]*>张三</option>', html), html.split('id="task-crew"')[1][:300]


def _crew_upload(client: FlaskClient) -> str:
    rows = "记录编号,排污口名称,经度,纬度,调查时间\nw1,西岸1号,108.97,34.39,2023-06-01 09:00\n" \
           "w2,颠倒,34.42,108.96,2023-06-01 11:00\nw3,未来,108.98,34.39,2999-01-01 09:00\n"
    data = {"csrf_token": client.csrf, "file": (io.BytesIO(rows.encode()), "crew.csv")}
    preview = client.post("/survey/upload", data=data, content_type="multipart/form-data").get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', preview))
    one_select = r'<select name="(map-[a-z_]+)">(?:(?!</select>).)*?<option value="([^"]*)" selected>'
    for field, column in re.findall(one_select, preview, flags=re.S):
        fields.setdefault(field, column)
    done = client.post("/survey/import", data=fields)
    assert done.status_code == 302
    return client.get(done.headers["Location"]).get_data(as_text=True)


def test_upload_rejections_in_words(make_user, login_as) -> None:
    crew = login_as(make_user("crew1", roles=("crew",), areas=("610100",)))
    report = _crew_upload(crew)
    rejected = report.split('id="rejected"', 1)[1].split("</table>", 1)[0]
    assert 'data-code="swapped_lat_lon"' in rejected and 'data-code="impossible_date"' in rejected
    words = _text(rejected)
    assert "纬度与经度颠倒" in words and "调查时间" in words
    assert not ENGLISH_WORDS.search(words) and "surveyed_at" not in words and "future" not in words, words
