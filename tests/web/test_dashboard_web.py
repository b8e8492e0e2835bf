"""The dashboard, the print view and PDF, the targets page, the progress JSON API and the vector tiles through
Flask's test client, on the hand-computed catalogue of ``tests/progress_catalogue.py``; and one test that reads
the JSON API, the command line and the page for the same date and checks they agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.cli import main
from outfalls.config import load_settings
from outfalls.db.engine import make_engine
from outfalls.models import User
from outfalls.progress import GAP_COLORS
from tests.progress_catalogue import add_provincial_targets, build_catalogue

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ROW_KEYS = ["scope_kind", "scope_code", "scope_name", "level", "metric", "as_of", "count", "denominator", "share",
            "target_share", "target_deadline", "gap_pp"]  # fmt: skip


@pytest.fixture
def cat(session: Session) -> dict[str, int]:
    ids = build_catalogue(session)
    add_provincial_targets(session)
    return ids


def cells(html: str, table_id: str = "ranked-table") -> list[list[str]]:
    """The text of each body row's cells."""
    body = html.split(f'id="{table_id}"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def test_api_rows_are_the_domain_rows(client: FlaskClient, cat: Any) -> None:
    r = client.get("/api/progress?by=area&as_of=2023-12-31")

    assert r.status_code == 200
    body = r.get_json()
    assert (body["as_of"], body["by"], body["unplaced"]) == ("2023-12-31", "area", 0)
    assert "merged" in body["definition"] or "合并" in body["definition"]
    assert all(list(row) == ROW_KEYS for row in body["rows"])
    shaanxi = next(x for x in body["rows"] if x["scope_code"] == "610000" and x["metric"] == "traced")
    assert (shaanxi["count"], shaanxi["denominator"], shaanxi["share"], shaanxi["target_share"], shaanxi["gap_pp"]) == (
        2,
        3,
        0.6667,
        0.5,
        -16.67,
    )
    only = client.get("/api/progress?metric=closed&as_of=2024-12-31").get_json()["rows"]
    assert {x["metric"] for x in only} == {"closed"} and only[0]["count"] == 1


def test_api_trend_and_targets(client: FlaskClient, cat: Any) -> None:
    trend = client.get("/api/progress/trend?scope=basin:HH&as_of=2023-12-31").get_json()
    assert trend["scope_name"] == "黄河流域" and trend["points"][-1]["on"] == "2023-12-31"
    assert trend["points"][-1]["counts"] == {"traced": 2, "remediated": 1, "closed": 0}
    assert [t["share"] for t in trend["targets"]["traced"]] == [0.8, 1.0]
    in_force = client.get("/api/targets?as_of=2023-06-30").get_json()
    assert {(t["scope_code"], t["share"]) for t in in_force if t["scope_kind"] == "area"} == {
        ("610000", 0.9),
        ("610100", 0.6),
    }
    assert len(client.get("/api/targets?history=1").get_json()) == 6 + 4


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/api/progress?by=river", 422, "unknown grouping"),
        ("/api/progress?as_of=2023-02-30", 422, "as_of must be a date"),
        ("/api/progress?metric=joy", 422, "unknown metric"),
        ("/api/progress/trend?scope=planet:9", 422, "scope must be all or KIND:CODE"),
        ("/api/progress/trend?scope=basin:XX", 404, "no basin, river or area"),
        ("/api/progress?as_of=2999-01-01", 422, "in the future"),
    ],
)
def test_api_refuses_bad_input_as_json(client: FlaskClient, url: str, status: int, message: str) -> None:
    r = client.get(url)

    assert r.status_code == status
    body = r.get_json()
    assert set(body) == {"error", "message", "details"} and message in body["message"]


def test_dashboard_page_shows_the_figures(client: FlaskClient, cat: Any) -> None:
    r = client.get("/dashboard?by=area&as_of=2023-12-31")

    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'id="dash-map"' in html and 'id="trend-chart"' in html and 'id="dash-config"' in html
    assert "<script>" not in html and "http://" not in html.replace("http://www.w3.org", "")
    rows = cells(html)
    assert [row[1] for row in rows] == ["陕西省"]
    assert rows[0][2:7] == ["3", "2", "66.7%", "50.0% · 2023-12-31", "-16.7 个百分点"]
    config = json.loads(html.split('id="dash-config">', 1)[1].split("</script>", 1)[0])
    assert config["layer"] == "provinces" and config["rows"]["610000"]["gap_class"] == "met"
    assert config["urls"]["tiles"].startswith("/tiles/outfalls/{z}/{x}/{y}.mvt?as_of=2023-12-31")
    # national tiles are asked for only near the centres of areas with outfalls
    west, south, east, north = config["areaCountsExtent"]
    assert 105 < west <= east < 112 and 31 < south <= north < 40 and config["areaCountsBelowZoom"] == 9
    # what the script fetches first is named in the head, so the browser asks for it with the scripts
    head = html.split("</head>", 1)[0]
    for url in (config["urls"]["layer"].replace("__name__", "provinces"), config["urls"]["labels"],
                config["urls"]["trend"]):  # fmt: skip
        assert f'<link rel="preload" href="{escape(url)}" as="fetch" crossorigin>' in head
    # drill down: Shaanxi shows its cities, most behind first
    down = client.get("/dashboard?scope=province:610000&as_of=2023-12-31").get_data(as_text=True)
    assert [(row[1], row[6]) for row in cells(down)] == [("汉中市", "+50.0 个百分点"), ("西安市", "-50.0 个百分点")]
    assert '<nav class="crumbs" id="dash-path"' in down and "陕西省" in down


def test_the_page_fetches_its_trend_once_drawn(client: FlaskClient, cat: Any) -> None:
    """The page is rendered without the trend; its chart asks the trend API for the view's scope and day, which
    gives the figures the print view draws.
    """
    html = client.get("/dashboard?scope=basin:HH&as_of=2023-12-31").get_data(as_text=True)
    config = json.loads(html.split('id="dash-config">', 1)[1].split("</script>", 1)[0])
    assert "chart" not in config and 'id="trend-chart" data-state="loading" aria-busy="true"' in html
    url = config["urls"]["trend"]
    assert url.startswith("/api/progress/trend?") and "scope=basin:HH" in url.replace("%3A", ":")
    trend = client.get(url).get_json()
    assert trend["scope_name"] == "黄河流域" and trend["points"][-1]["on"] == "2023-12-31"
    assert trend["points"][-1]["counts"] == {"traced": 2, "remediated": 1, "closed": 0}
    assert [t["share"] for t in trend["targets"]["traced"]] == [0.8, 1.0]
    # the print view still draws the same trend server-side
    printed = client.get("/dashboard/print?scope=basin:HH&as_of=2023-12-31").get_data(as_text=True)
    assert printed.count("<polyline") == 3
    today = json.loads(client.get("/dashboard").get_data(as_text=True).split('id="dash-config">', 1)[1]
                       .split("</script>", 1)[0])  # fmt: skip
    assert "scope=" not in today["urls"]["trend"] and "as_of=" in today["urls"]["trend"]


def test_the_stylesheet_paints_gaps_in_the_domain_colours() -> None:
    css = (Path(__file__).resolve().parents[2] / "web" / "static" / "css" / "dashboard.css").read_text()

    assert dict(re.findall(r"\.gap-(\w+) \{ --gap: (#[0-9a-f]{6}); \}", css)) == GAP_COLORS


def test_dashboard_in_english_and_by_basin(client: FlaskClient, cat: Any) -> None:
    client.get("/lang/en")
    html = client.get("/dashboard?as_of=2024-06-30&metric=remediated").get_data(as_text=True)

    assert "Gap to the target due next" in html and "Remediated" in html
    assert [row[1] for row in cells(html)] == ["长江流域", "黄河流域"]  # CJ has nothing remediated: most behind


@pytest.mark.parametrize(
    ("query", "status"),
    [("scope=planet:1", 422), ("scope=basin:NOPE", 404), ("by=area&scope=basin:HH", 422), ("as_of=soon", 422),
     ("metric=joy", 422)],
)  # fmt: skip
def test_dashboard_bad_input_is_an_error_page(client: FlaskClient, query: str, status: int) -> None:
    r = client.get("/dashboard?" + query)

    assert r.status_code == status
    assert "<!doctype html>" in r.get_data(as_text=True).lower()


def test_dashboard_needs_the_leader_role(make_user: Callable[..., User], login_as: Callable[[User], FlaskClient],
                                         anon_client: FlaskClient) -> None:  # fmt: skip
    crew = login_as(make_user("crew1", roles=("crew",)))
    assert crew.get("/dashboard").status_code == 403
    assert crew.get("/api/progress").status_code == 403
    assert anon_client.get("/dashboard").status_code == 302
    assert crew.get("/tiles/outfalls/6/51/25.mvt").status_code == 200  # the map tiles are for every user


def test_scoped_leader_sees_only_the_scope(make_user: Callable[..., User], login_as: Callable[[User], FlaskClient],
                                           cat: Any) -> None:  # fmt: skip
    hanzhong = login_as(make_user("hz", roles=("leader",), areas=("610700",)))
    rows = hanzhong.get("/api/progress?by=area&as_of=2024-12-31&metric=traced").get_json()["rows"]

    assert {(x["scope_kind"], x["scope_code"], x["denominator"]) for x in rows} == {
        ("all", None, 2),
        ("province", "610000", 2),
        ("city", "610700", 2),
        ("county", "610702", 2),
    }


def test_tiles(client: FlaskClient, cat: Any) -> None:
    r = client.get("/tiles/outfalls/14/13149/6522.mvt?as_of=2023-06-30")

    assert r.status_code == 200 and r.mimetype == "application/vnd.mapbox-vector-tile"
    assert b"outfalls" in r.data and b"traced" in r.data
    assert client.get("/tiles/outfalls/14/13149/6522.mvt?as_of=2023-01-01").data == b""
    assert client.get("/tiles/outfalls/2/9/9.mvt").status_code == 404
    assert client.get("/tiles/outfalls/6/51/25.mvt?state=lost").status_code == 422


def test_print_view_is_self_contained(client: FlaskClient, cat: Any) -> None:
    html = client.get("/dashboard/print?scope=basin:HH&as_of=2023-12-31").get_data(as_text=True)

    assert "<script" not in html
    assert html.count("<path d=") >= 2  # the sub-basin coloured, the basin outlined, plus target marks
    assert 'class="area gap-met"' in html and 'class="area parent"' in html
    assert 'id="report-as-of">2023-12-31<' in html
    assert [row[1] for row in cells(html)] == ["渭河流域"]
    assert "polyline" in html and "target-mark" in html


@pytest.mark.parametrize(
    ("by", "scope", "rows"),
    [
        ("basin", "", ["长江流域", "黄河流域"]),
        ("basin", "basin:HH", ["渭河流域"]),
        ("basin", "sub_basin:HH-08", ["渭河"]),
        ("basin", "river:HYD4M-463", ["渭河"]),
        ("area", "", ["陕西省"]),
        ("area", "province:610000", ["宝鸡市", "汉中市", "西安市"]),
        ("area", "city:610100", ["未央区"]),
        ("area", "county:610112", ["未央区"]),
    ],
)
def test_print_view_at_every_level_of_both_axes(client: FlaskClient, cat: Any, by: str, scope: str,
                                                rows: list[str]) -> None:  # fmt: skip
    query = f"by={by}&as_of=2023-06-30" + (f"&scope={scope}" if scope else "")
    r = client.get(f"/dashboard/print?{query}")

    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    html = r.get_data(as_text=True)
    assert [row[1] for row in cells(html)] == rows
    assert html.count('class="area gap-') + html.count('class="river gap-') >= 1  # the rows' shapes, coloured


@pytest.mark.parametrize(
    ("by", "scope", "title", "shaded"),
    [
        ("basin", "", "全国", 2),
        ("basin", "sub_basin:HH-08", "黄河流域 › 渭河流域", 1),
        ("basin", "river:HYD4M-463", "渭河流域 › 渭河", 1),
        ("area", "province:610000", "陕西省", 3),
        ("area", "county:610112", "西安市 › 未央区", 1),
    ],
)
def test_save_as_map_at_every_level_of_both_axes(client: FlaskClient, cat: Any, by: str, scope: str, title: str,
                                                 shaded: int) -> None:  # fmt: skip
    query = f"by={by}&as_of=2023-06-30" + (f"&scope={scope}" if scope else "")
    page = client.get(f"/dashboard?{query}").get_data(as_text=True)
    assert f'id="map-file-link" href="/dashboard/map.html?by={by}' in page.replace("&amp;", "&")
    r = client.get(f"/dashboard/map.html?{query}")

    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "attachment" in r.headers["Content-Disposition"] and "-2023-06-30.html" in r.headers["Content-Disposition"]
    html = r.get_data(as_text=True)
    assert title in html and "截至 2023-06-30" in html and "<script src" not in html
    assert html.count('"gap_class": ') == shaded
    assert client.get("/dashboard/map.html?scope=city:999999").status_code == 404
    assert client.get("/dashboard/map.html?metric=joy").status_code == 422


def test_pdf_report_below_a_city(client: FlaskClient, cat: Any) -> None:
    r = client.get("/dashboard/report.pdf?by=area&scope=county:610112&as_of=2023-06-30")

    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    assert 'filename="progress-610112-2023-06-30.pdf"' in r.headers["Content-Disposition"]


def test_pdf_report(client: FlaskClient, cat: Any) -> None:
    r = client.get("/dashboard/report.pdf?as_of=2023-12-31")

    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert r.data.startswith(b"%PDF") and len(r.data) > 10_000
    assert 'filename="progress-all-2023-12-31.pdf"' in r.headers["Content-Disposition"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "progress-report.pdf").write_bytes(r.data)  # pdftoppm turns it into a picture to look at


def test_targets_page_adds_a_version(make_user: Callable[..., User], login_as: Callable[[User], FlaskClient],
                                     cat: Any) -> None:  # fmt: skip
    admin = login_as(make_user("boss", roles=("admin",)))
    page = admin.get("/dashboard/targets?as_of=2023-06-30").get_data(as_text=True)
    assert [row[2] for row in cells(page, "targets-in-force") if "610000" in row[0]] == ["90.0%"]

    r = admin.post("/dashboard/targets", data={
        "csrf_token": admin.csrf, "scope_kind": "area", "scope_code": "610700", "metric": "remediated",  # type: ignore[attr-defined]
        "deadline": "2024-06-30", "share": "60", "effective_on": "2024-01-01", "note": "汉中方案"})  # fmt: skip
    assert r.status_code == 302
    history = admin.get("/dashboard/targets").get_data(as_text=True)
    assert any(row[-1] == "汉中方案" for row in cells(history, "targets-in-force"))  # in force from 2024-01-01
    assert any("610700" in row[0] and row[2] == "60.0%" for row in cells(history, "targets-history"))
    bad = admin.post("/dashboard/targets", data={"csrf_token": admin.csrf, "scope_kind": "area",  # type: ignore[attr-defined]
                                                 "scope_code": "610700", "metric": "traced", "deadline": "2024-06-30",
                                                 "share": "lots"})  # fmt: skip
    assert bad.status_code == 422
    leader = login_as(make_user("lead2", roles=("leader",)))
    assert leader.get("/dashboard/targets").status_code == 403


def test_a_refused_target_is_shown_again_beside_its_fields(make_user: Callable[..., User],
                                                           login_as: Callable[[User], FlaskClient],
                                                           cat: Any) -> None:  # fmt: skip
    admin = login_as(make_user("boss", roles=("admin",)))
    sent = {"csrf_token": admin.csrf, "scope_kind": "area", "scope_code": "610700", "metric": "remediated",  # type: ignore[attr-defined]
            "deadline": "2024-06-30", "share": "60", "effective_on": "2024-01-01", "note": "汉中方案"}  # fmt: skip
    cases = [
        ({"share": "lots"}, "share", "请以 0 到 100 的百分数填写比例，例如 80。"),
        ({"share": "120"}, "share", "请以 0 到 100 的百分数填写比例，例如 80。"),
        ({"deadline": ""}, "deadline", "请填写此项。"),
        ({"metric": "happiness"}, "metric", "请从选项中选择。"),
        ({"scope_code": "999999"}, "scope_code", "没有流域、河流或行政区使用此代码。"),
        ({"scope_code": ""}, "scope_code", "请填写此项。"),
        ({"scope_kind": "all"}, "scope_code", "全域目标不填写代码。"),
    ]
    before = len(admin.get("/api/targets?history=1").get_json())
    for change, field, text in cases:
        r = admin.post("/dashboard/targets", data=sent | change)
        page = r.get_data(as_text=True)
        assert r.status_code == 422 and 'id="target-form"' in page and "尚未保存" in page, change
        beside = re.search(rf'<(?:input|select)[^>]*name="{field}"[^>]*>(?:\s*<option[^>]*>[^<]*</option>)*'
                           rf'(?:</select>)?<span class="field-error" id="target-form-{field}-error">([^<]*)</span>',
                           page)  # fmt: skip
        assert beside and beside.group(1) == text, change
        assert 'value="汉中方案"' in page and 'name="effective_on" value="2024-01-01"' in page  # what was typed stays
        if field != "share":
            assert 'value="60"' in page
        if field != "metric":
            assert re.search(r'<option value="remediated" selected>', page)
    assert len(admin.get("/api/targets?history=1").get_json()) == before  # nothing was kept


# -- one date, three readers ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def committed(clone_db: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """A database with the committed catalogue, targets and a national leader; the app on it."""
    from web import create_app

    url = clone_db("progress_agree")
    engine = make_engine(url)
    with Session(engine) as session:
        build_catalogue(session)
        add_provincial_targets(session)
        user = accounts.create_user(session, "agree", roles=("leader",), areas=(), basins=(), is_national=True,
                                    password=None, actor="tests")  # fmt: skip
        token, _web = accounts.start_session(session, user)
        session.commit()
    engine.dispose()
    settings = load_settings(env={}, overrides={"database.url": url,
                                                "storage.data_dir": str(tmp_path_factory.mktemp("agree"))})  # fmt: skip
    app = create_app(settings, testing=True)
    yield url, (app, token)
    app.extensions["outfalls.sessions"].kw["bind"].dispose()


@pytest.mark.parametrize(("by", "day"), [("area", "2023-06-30"), ("basin", "2024-06-30")])
def test_api_cli_and_page_agree(committed: tuple[str, Any], by: str, day: str) -> None:
    from web.auth import SESSION_COOKIE

    url, (app, token) = committed
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, token)

    api_rows = client.get(f"/api/progress?by={by}&as_of={day}").get_json()["rows"]
    out = CliRunner().invoke(main, ["progress", "--by", by, "--as-of", day, "--json"],
                             env={"OUTFALLS_DATABASE_URL": url}, catch_exceptions=False)  # fmt: skip
    assert out.exit_code == 0, out.output
    cli_rows = json.loads(out.stdout)
    assert api_rows == cli_rows and api_rows

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v * 100:.1f}%"

    def pp(v: float | None) -> str:
        return "—" if v is None else f"{v:+.1f} 个百分点"  # the page speaks Chinese by default

    checked = 0
    for metric in ("traced", "remediated", "surveyed"):
        for parent in {(r["scope_kind"], r["scope_code"]) for r in api_rows if r["level"] < 3}:
            scope = "" if parent[0] == "all" else f"&scope={parent[0]}:{parent[1]}"
            page = client.get(f"/dashboard?by={by}&as_of={day}&metric={metric}{scope}").get_data(as_text=True)
            headline = page.split(f'id="card-{metric}"', 1)[1].split('<div class="card-gap">', 1)[0]
            me = next(r for r in api_rows if (r["scope_kind"], r["scope_code"]) == parent and r["metric"] == metric)
            assert (
                pct(me["share"]) in headline
                and f'{me["count"]:,}</span> / <span class="d">{me["denominator"]:,}' in headline
            )
            shown = {row[1]: row for row in cells(page)}
            for r in api_rows:
                if r["metric"] != metric or r["level"] != me["level"] + 1:
                    continue
                if by == "basin" and r["scope_kind"] == "river" and parent[0] != "sub_basin":
                    continue
                if r["scope_name"] not in shown:
                    continue  # a child of another parent
                row = shown[r["scope_name"]]
                assert row[2:5] == [f"{r['denominator']:,}", f"{r['count']:,}", pct(r["share"])]
                target = f"{pct(r['target_share'])} · {r['target_deadline']}" if r["target_deadline"] else "—"
                assert row[5:7] == [target, pp(r["gap_pp"])]
                checked += 1
    assert checked >= 6


def test_a_provincial_leader_sees_the_province_named_and_framed(make_user: Callable[[...], User], login_as: Any,
                                                                 cat: Any) -> None:  # fmt: skip
    leader = login_as(make_user("sx_leader", roles=("leader",), areas=("610000",)))
    html = leader.get("/dashboard?as_of=2023-12-31").get_data(as_text=True)
    title = re.search(r'<h1 id="dash-title">(.*?)<span', html, re.S)
    assert title is not None and title.group(1).strip() == "陕西省"
    assert "全部范围" not in html.split('id="dash-title"', 1)[1].split("</h1>", 1)[0]
    config = json.loads(re.search(r'id="dash-config"[^>]*>(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    west, south, east, north = config["extent"]
    assert 105 < west < 106 and 31 < south < 32 and 110.5 < east < 111.5 and 39 < north < 40  # Shaanxi, not the basin
    assert config["fitToScopes"] is False  # the basins layer does not pull the map out to the whole Yellow River
    print_html = leader.get("/dashboard/print?as_of=2023-12-31").get_data(as_text=True)
    assert "<h1>陕西省" in print_html
    drilled = leader.get("/dashboard?scope=province:610000&as_of=2023-12-31").get_data(as_text=True)
    config = json.loads(re.search(r'id="dash-config"[^>]*>(.*?)</script>', drilled, re.S).group(1))  # type: ignore[union-attr]
    # the map opens on the cities it colours (known to the page), so it never moves once their shapes have come
    assert set(config["rows"]) and all(code.startswith("61") for code in config["rows"])
    west, south, east, north = config["extent"]  # within Shaanxi, around the cities that have outfalls
    assert 105 < west < east < 111.5 and 31 < south < north < 40 and east - west > 2 and north - south > 2
    assert config["fitToScopes"] is False
