"""The catalogue pages through the Flask test client: map, list, detail, language switch, error pages,
security headers and the no-internet rule for assets (STYLE §9)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from outfalls.catalogue.lifecycle import HistoryItem
from outfalls.demo import seed_demo
from outfalls.models import Outfall
from outfalls.types import EventKind, OutfallStatus, SurveyLevel

WEB = Path(__file__).resolve().parents[2] / "web"
CATALOGUE = WEB / "translations" / "zh" / "LC_MESSAGES"
# On the Han river (汉江) in Hanbin district, Ankang: Yangtze basin, sub-basin 汉江上游.
ANKANG_HAN = (108.7643, 32.5754)

ZH_STATUS = {
    "candidate": "疑似（待核实）",
    "surveyed": "已排查",
    "traced": "已溯源",
    "remediating": "整治中",
    "remediated": "已整治",
    "closed": "已销号",
    "rejected": "已排除",
    "merged": "已合并",
}
EN_STATUS = {
    "candidate": "Candidate",
    "surveyed": "Surveyed",
    "traced": "Traced",
    "remediating": "Remediating",
    "remediated": "Remediated",
    "closed": "Closed out",
    "rejected": "Rejected",
    "merged": "Merged",
}


class Page(HTMLParser):
    """The parts of a rendered page the tests look at."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value) for every src/href
        self.scripts: list[tuple[dict[str, str | None], str]] = []  # (attributes, body)
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.text_by_id: dict[str, str] = {}
        self.rows: list[str] = []  # text of each <tbody> row
        self._script: dict[str, str | None] | None = None
        self._body: list[str] = []
        self._open_ids: list[tuple[str, str, list[str]]] = []
        self._row: list[str] | None = None
        self._in_tbody = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("src", "href", "action", "poster", "data"):
            if a.get(name) is not None:
                self.links.append((tag, name, a[name] or ""))
        if a.get("id"):
            self.by_id[a["id"] or ""] = a
            self._open_ids.append((tag, a["id"] or "", []))
        if tag == "script":
            self._script, self._body = a, []
        if tag == "tbody":
            self._in_tbody = True
        if tag == "tr" and self._in_tbody:
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._body)))
            self._script = None
        if tag == "tbody":
            self._in_tbody = False
        if tag == "tr" and self._row is not None:
            self.rows.append(" ".join(" ".join(self._row).split()))
            self._row = None
        if self._open_ids and self._open_ids[-1][0] == tag:
            _tag, ident, parts = self._open_ids.pop()
            self.text_by_id[ident] = " ".join("".join(parts).split())

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._body.append(data)
        if self._row is not None:
            self._row.append(data)
        for _tag, _ident, parts in self._open_ids:
            parts.append(data)

    def json_block(self, ident: str) -> Any:
        for attrs, body in self.scripts:
            if attrs.get("id") == ident:
                assert attrs.get("type") == "application/json"
                return json.loads(body)
        raise AssertionError(f"no <script id={ident!r}> on the page")


def get_page(client: FlaskClient, url: str, status: int = 200) -> tuple[str, Page]:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    return html, Page(html)


def status_of(session: Session, outfall_id: int) -> str:
    return str(session.scalar(sa.select(Outfall.status).where(Outfall.id == outfall_id)))


# ---------------------------------------------------------------------------------------------- map


def test_map_page_shows_the_catalogue_in_chinese(client: FlaskClient, session: Session) -> None:
    report = seed_demo(session, yellow=30, handan=20, seed=3)
    assert report.created == 50
    counts = dict(session.execute(sa.select(Outfall.status, sa.func.count()).group_by(Outfall.status)).all())

    html, page = get_page(client, "/")

    assert '<html lang="zh-CN">' in html
    assert "排污口分布图" in html and "入河排污口名录" in html
    assert page.by_id["map"]["data-state"] == "loading"
    legend = re.search(r'<span class="total">([\d,]+)</span>', html)
    assert legend is not None and legend.group(1) == "50"
    for status, label in ZH_STATUS.items():
        n = counts.get(OutfallStatus(status), 0)
        assert re.search(rf"{re.escape(label)}<span class=\"n\">{n}</span>", html), (status, n)
    config = page.json_block("map-config")
    assert config["urls"]["outfalls"] == "/api/map/outfalls"
    assert config["urls"]["layer"] == "/api/layers/__name__"
    assert config["statusLabels"]["surveyed"] == "已排查"
    assert config["text"]["basins"] == "流域"
    assert len(config["extent"]) == 4


def test_map_page_filters_count_only_matching_outfalls(
    client: FlaskClient, make_outfall: Callable[..., Outfall]
) -> None:
    make_outfall(found_by=SurveyLevel.DRONE)
    make_outfall(found_by=SurveyLevel.DRONE)
    make_outfall()

    html, page = get_page(client, "/?status=candidate")

    legend = re.search(r'<span class="total">([\d,]+)</span>', html)
    assert legend is not None and legend.group(1) == "2"
    assert re.search(r'<option value="candidate" selected>', html)


# --------------------------------------------------------------------------------------------- list


def test_list_page_shows_rows_with_chinese_labels(client: FlaskClient, make_outfall: Callable[..., Outfall]) -> None:
    a = make_outfall(name="渭河南岸1#雨洪排口", local_code="610112-0001")
    b = make_outfall(name="汉江左岸2#排口", lonlat=ANKANG_HAN, found_by=SurveyLevel.DRONE)

    html, page = get_page(client, "/outfalls")

    assert page.text_by_id["result-total"] == "2"
    assert len(page.rows) == 2
    # newest first
    assert page.rows[0].startswith(b.name) and page.rows[1].startswith(a.name)
    assert "610112-0001" in page.rows[1] and "未央区" in page.rows[1] and "渭河" in page.rows[1]
    assert "已排查" in page.rows[1] and "城镇雨洪排口" in page.rows[1]
    assert "疑似（待核实）" in page.rows[0] and "汉江上游" in page.rows[0]
    assert f'href="/outfalls/{a.id}"' in html and f'href="/outfalls/{b.id}"' in html
    assert "<th>名称</th>" in html and "第 1 页，共 1 页" in html


def test_list_page_pages_through_results_keeping_the_filters(
    client: FlaskClient, make_outfall: Callable[..., Outfall]
) -> None:
    for i in range(5):
        make_outfall(name=f"分页测试{i}")
    make_outfall(name="不在筛选内", found_by=SurveyLevel.DRONE)

    seen: list[str] = []
    for number, expected_rows in ((1, 2), (2, 2), (3, 1)):
        html, page = get_page(client, f"/outfalls?status=surveyed&page_size=2&page={number}")
        assert page.text_by_id["result-total"] == "5"
        assert len(page.rows) == expected_rows
        assert f"第 {number} 页，共 3 页" in html
        seen += [row.split()[0] for row in page.rows]
        nxt = re.search(r'href="([^"]+)" rel="next"', html)
        if number < 3:
            assert nxt is not None
            query = parse_qs(urlsplit(nxt.group(1).replace("&amp;", "&")).query)
            assert query == {"page": [str(number + 1)], "page_size": ["2"], "status": ["surveyed"]}
        else:
            assert nxt is None
        assert ('rel="prev"' in html) == (number > 1)
    assert seen == [f"分页测试{i}" for i in reversed(range(5))]


def test_list_page_json_link_gives_the_same_rows(client: FlaskClient, make_outfall: Callable[..., Outfall]) -> None:
    for i in range(5):
        make_outfall(name=f"链接测试{i}")
    html, page = get_page(client, "/outfalls?status=surveyed&page_size=2&page=2")
    link = re.search(r'<a class="btn" href="(/api/outfalls[^"]*)">JSON</a>', html)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(url).query) == {"page": ["2"], "page_size": ["2"], "status": ["surveyed"]}
    body = client.get(url).get_json()
    shown = [row.split()[0] for row in page.rows]
    assert [item["name"] for item in body["items"]] == shown == ["链接测试2", "链接测试1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=candidate", {"drone"}),
        ("basin=CJ", {"han"}),
        ("basin=HH", {"xian", "drone", "traced"}),
        ("basin=CJ-10", {"han"}),
        ("area=610100", {"xian", "drone", "traced"}),
        ("area=610902", {"han"}),
        ("type=1", {"han"}),
        ("type=4", {"xian", "drone", "traced"}),
        ("q=溯源", {"traced"}),
        ("q=LOCAL-77", {"xian"}),
        ("status=traced&basin=HH", {"traced"}),
        ("status=traced&basin=CJ", set()),
    ],
)
def test_list_page_filters(
    client: FlaskClient, make_outfall: Callable[..., Outfall], query: str, expected: set[str]
) -> None:
    made = {
        "xian": make_outfall(name="西安渭河排口", local_code="local-77"),
        "drone": make_outfall(name="航测疑似排口", found_by=SurveyLevel.DRONE),
        "traced": make_outfall(
            name="已溯源排口",
            history=(HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "示例企业"}),),
        ),
        "han": make_outfall(name="汉江工业排口", lonlat=ANKANG_HAN, type_code="1.1.1"),
    }
    names = {made[k].name: k for k in made}

    html, page = get_page(client, f"/outfalls?{query}")

    shown = {names[row.split()[0]] for row in page.rows}
    assert shown == expected
    assert page.text_by_id["result-total"] == str(len(expected))
    if not expected:
        assert "没有符合筛选条件的排污口。" in html


def test_list_page_search_box_keeps_its_value(client: FlaskClient, make_outfall: Callable[..., Outfall]) -> None:
    make_outfall(name="渭河排口")
    _html, page = get_page(client, "/outfalls?q=渭河")
    assert page.by_id["filters"]["action"] == "/outfalls"
    assert re.search(r'name="q" value="渭河"', _html)


def test_list_page_with_a_bad_page_number_is_a_chinese_error_page(client: FlaskClient) -> None:
    html, page = get_page(client, "/outfalls?page=x", status=422)
    assert "<h1>输入有误</h1>" in html and "部分输入值无效。" in html
    assert "涉及的内容：页码（x）" in html  # the precise reason follows, in words
    assert "page must be a whole number" not in html
    assert "Traceback" not in html


# ------------------------------------------------------------------------------------------- detail


def test_detail_page_shows_identity_location_state_and_history(
    client: FlaskClient, session: Session, make_outfall: Callable[..., Outfall]
) -> None:
    o = make_outfall(
        name="西安未央区渭河南岸3#排口",
        national_code="610112ZZ0003",
        receiving_water="渭河",
        history=(
            HistoryItem(EventKind.SAMPLED, date(2022, 5, 10), {"is_discharging": True}),
            HistoryItem(EventKind.TRACED, date(2022, 6, 1), {"responsible_party": "示例化工企业001号"}),
            HistoryItem(EventKind.REMEDIATION_PLANNED, date(2022, 7, 1), {"category": "ban"}),
        ),
    )
    assert status_of(session, o.id) == "remediating"

    html, page = get_page(client, f"/outfalls/{o.id}")

    assert f"<title>{o.name} · 入河排污口名录</title>" in html
    for text in (
        "610112ZZ0003",
        "整治中",
        "城镇雨洪排口",
        "其他排口",
        "陕西省 › 西安市 › 未央区",
        "黄河流域 › 渭河流域",
        "示例化工企业001号",
        "依法取缔",
        "第二级：人工徒步排查，2022-05-01",
        "2022-05-10",
    ):
        assert text in html, text
    history = page.text_by_id["history"]
    order = [history.index(label) for label in ("录入", "监测采样", "完成溯源", "制定整治方案")]
    assert order == sorted(order), history
    config = page.json_block("map-config")
    assert config["point"] == pytest.approx([108.94, 34.40])
    assert config["status"] == "remediating"
    assert "detail-map" in page.by_id
    assert f'href="/api/outfalls/{o.id}"' in html


def test_missing_outfall_is_a_404_page_in_chinese(client: FlaskClient) -> None:
    html, page = get_page(client, "/outfalls/999999", status=404)
    assert "<h1>未找到</h1>" in html and "所请求的记录不存在。" in html
    assert "Traceback" not in html and "NotFound" not in html
    assert "返回地图" in html


def test_unknown_address_is_a_404_page(client: FlaskClient) -> None:
    html, _page = get_page(client, "/no/such/page", status=404)
    assert "<h1>未找到</h1>" in html and "该地址没有对应的页面。" in html


# ---------------------------------------------------------------------------------------- languages


def test_chinese_is_the_default_language(client: FlaskClient, make_outfall: Callable[..., Outfall]) -> None:
    make_outfall()
    for url in ("/", "/outfalls"):
        html, page = get_page(client, url)
        assert '<html lang="zh-CN">' in html
        assert "排污口" in html and "已排查" in html
        assert "Outfalls" not in html and "Surveyed" not in html
        assert "active" in (page.by_id["lang-zh"].get("class") or "")


def test_switching_to_english_sets_a_cookie_and_goes_back(
    client: FlaskClient, make_outfall: Callable[..., Outfall]
) -> None:
    o = make_outfall()
    _html, page = get_page(client, f"/outfalls/{o.id}")
    switch = page.by_id["lang-en"]["href"] or ""
    assert urlsplit(switch).path == "/lang/en"
    assert parse_qs(urlsplit(switch).query) == {"next": [f"/outfalls/{o.id}"]}

    response = client.get(switch)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/outfalls/{o.id}"
    cookie = client.get_cookie("lang")
    assert cookie is not None and cookie.value == "en"
    assert cookie.http_only
    html, page = get_page(client, f"/outfalls/{o.id}")
    assert '<html lang="en">' in html
    assert "<h2>Identity</h2>" in html and "Surveyed" in html and "Level 2: foot survey, 2022-05-01" in html
    assert "已排查" not in html and "基本信息" not in html
    assert page.json_block("map-config")["text"]["rivers"] == "Rivers"
    html, _page = get_page(client, "/")
    assert "Outfall map" in html and "Basin" in html

    assert client.get("/lang/zh?next=/outfalls").headers["Location"] == "/outfalls"
    html, _page = get_page(client, "/outfalls")
    assert '<html lang="zh-CN">' in html and "<th>名称</th>" in html


def test_english_status_labels_on_the_list(client: FlaskClient, make_outfall: Callable[..., Outfall]) -> None:
    make_outfall()
    make_outfall(found_by=SurveyLevel.DRONE)
    client.get("/lang/en?next=/outfalls")
    html, page = get_page(client, "/outfalls")
    assert {EN_STATUS["surveyed"], EN_STATUS["candidate"]} <= {
        label for label in EN_STATUS.values() if any(label in row for row in page.rows)
    }
    assert "Page 1 of 1" in html


def test_language_links_come_back_to_the_same_page_and_query(client: FlaskClient) -> None:
    _html, page = get_page(client, "/outfalls?status=surveyed&q=渭河")
    for ident in ("lang-zh", "lang-en"):
        query = parse_qs(urlsplit(page.by_id[ident]["href"] or "").query)
        assert query == {"next": ["/outfalls?status=surveyed&q=渭河"]}
    response = client.get(page.by_id["lang-en"]["href"] or "")
    assert response.headers["Location"] == "/outfalls?status=surveyed&q=%E6%B8%AD%E6%B2%B3"


def test_unknown_language_is_404_and_sets_no_cookie(client: FlaskClient) -> None:
    response = client.get("/lang/xx?next=/outfalls")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers
    assert client.get_cookie("lang") is None


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/outfalls",
        "http://x",
        "https://evil.example/outfalls",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "outfalls",
    ],
)
def test_language_switch_does_not_follow_off_site_next(client: FlaskClient, target: str) -> None:
    response = client.get("/lang/en", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get_cookie("lang") is not None


def test_language_switch_without_next_goes_back_to_the_same_site_referrer(client: FlaskClient) -> None:
    response = client.get("/lang/en", headers={"Referer": "http://localhost/outfalls?page=2"})
    assert response.headers["Location"] == "/outfalls?page=2"
    response = client.get("/lang/en", headers={"Referer": "http://evil.example/outfalls"})
    assert response.headers["Location"] == "/"


# ------------------------------------------------------------------------------ security and assets


def _all_pages(client: FlaskClient, make_outfall: Callable[..., Outfall]) -> list[tuple[str, int]]:
    o = make_outfall()
    return [
        ("/", 200),
        ("/?status=surveyed", 200),
        ("/outfalls", 200),
        ("/outfalls?q=测试&page_size=1", 200),
        (f"/outfalls/{o.id}", 200),
        ("/outfalls/999999", 404),
        ("/no/such/page", 404),
        ("/outfalls?page=x", 422),
    ]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pages_link_no_internet_assets_and_hold_no_inline_code(
    client: FlaskClient, make_outfall: Callable[..., Outfall], lang: str
) -> None:
    client.get(f"/lang/{lang}")
    for url, status in _all_pages(client, make_outfall):
        html, page = get_page(client, url, status=status)
        assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html, re.I), url
        for tag, attr, value in page.links:
            assert not re.match(r"\s*(https?:)?//", value, re.I), (url, tag, attr, value)
        for attrs, body in page.scripts:
            if attrs.get("src"):
                assert attrs["src"].startswith("/static/"), (url, attrs)
                assert not body.strip(), (url, attrs)
            else:
                assert attrs.get("type") == "application/json", (url, attrs, body[:80])
                json.loads(body)
        assert not re.search(r"\son[a-z]+\s*=", html, re.I), url  # no inline event handlers either


def test_map_and_detail_pages_use_the_vendored_leaflet(
    client: FlaskClient, make_outfall: Callable[..., Outfall]
) -> None:
    o = make_outfall()
    for url in ("/", f"/outfalls/{o.id}"):
        _html, page = get_page(client, url)
        srcs = [attrs.get("src") for attrs, _body in page.scripts if attrs.get("src")]
        hrefs = [v for tag, attr, v in page.links if tag == "link"]
        assert "/static/vendor/leaflet/leaflet.js" in srcs
        assert "/static/vendor/leaflet/leaflet.css" in hrefs
    for asset, mimetype, marker in (
        ("leaflet.js", "text/javascript", b"Leaflet 1."),
        ("leaflet.css", "text/css", b".leaflet-pane"),
    ):
        with client.get(f"/static/vendor/leaflet/{asset}") as response:
            assert response.status_code == 200
            assert response.mimetype == mimetype
            assert marker in response.get_data()[:2000]
    licence = WEB / "static" / "vendor" / "leaflet" / "LICENSE"
    assert licence.is_file()
    text = licence.read_text(encoding="utf-8")
    assert "BSD 2-Clause" in text and "Agafonkin" in text


@pytest.mark.parametrize("url", ["/", "/outfalls", "/outfalls/999999", "/api/outfalls", "/api/nope", "/lang/en"])
def test_security_headers(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    csp = response.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}
    script_src = directives.get("script-src", directives.get("default-src"))
    assert script_src == ["'self'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_static_files_carry_the_security_headers(client: FlaskClient) -> None:
    with client.get("/static/js/map.js") as response:
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" in response.headers


# ---------------------------------------------------------------------------------------- catalogue


def _po() -> Any:
    with (CATALOGUE / "messages.po").open("rb") as f:
        return read_po(f, locale="zh")


def test_every_interface_string_has_a_chinese_translation() -> None:
    keywords = dict(DEFAULT_KEYWORDS) | {"_l": None}  # lazy_gettext, as in the README's extract command
    extracted: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(WEB), method_map=[("**.py", "python"), ("templates/**.html", "jinja2")], keywords=keywords
    ):
        msgid = message if isinstance(message, str) else message[0]
        extracted.setdefault(msgid, []).append(f"{filename}:{lineno}")
    assert len(extracted) > 100  # the extractor did find the templates and views
    catalogue = _po()
    missing = {m: where for m, where in extracted.items() if catalogue.get(m) is None or not catalogue.get(m).string}
    assert missing == {}


def test_compiled_catalogue_matches_messages_po() -> None:
    mo_path = CATALOGUE / "messages.mo"
    assert mo_path.is_file(), "run `make translations` (pybabel compile -d web/translations -D messages)"
    with mo_path.open("rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    source = {m.id: m.string for m in _po() if m.id and m.string and not m.fuzzy}
    assert compiled == source, "messages.mo is stale: run `make translations`"
