"""Maps to take away: a register or a dashboard view as one self-contained HTML file built with folium (every
outfall with its popup, the areas below shaded by gap, the legend, the as-of day and scope, no link to anything
outside the file), from the command line and the domain; the size at 10⁴ outfalls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from shapely.geometry import box
from sqlalchemy.orm import Session

from outfalls import maps, registers
from outfalls.catalogue.lifecycle import HistoryItem
from outfalls.cli import main
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine
from outfalls.demo import seed_demo
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import Outfall
from outfalls.scope import Scope
from outfalls.types import EventKind

NATIONAL = Scope.national()
LINTONG = (109.20, 34.44)  # 临潼区 (610115)
HANZHONG = (107.03, 33.07)  # 汉台区 (610702)
URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?!#|data:)[^"'\s>]+|@import|url\((?!data:|#)""", re.I)


def features(page: str, name: str) -> list[dict[str, object]]:
    """The GeoJSON features folium wrote for the layer whose features carry ``name`` among their properties."""
    found = []
    for raw in re.findall(r"^\s*geo_json_\w+_add\((\{.*\})\);$", page, flags=re.M):
        data = json.loads(raw)
        found += [f for f in data["features"] if name in f["properties"]]
    return found


def no_outside_links(page: str) -> None:
    """Nothing but Leaflet's own code and style (inlined verbatim from the vendored copy) names a resource."""
    script, style = maps.inline_leaflet()
    assert page.count(script) == 1 and page.count(style) == 1
    page = page.replace(script, "").replace(style, "")
    assert URL.findall(page) == []
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= {"http://www.w3.org/2000/svg"}  # no host at all
    assert "leaflet.js" not in page and "<script src" not in page and "<link" not in page


@pytest.fixture
def small(make_outfall: Callable[..., Outfall]) -> dict[str, Outfall]:
    a = make_outfall(lonlat=LINTONG, name="甲排口<b>", national_code="NC-A", found_on=date(2022, 5, 1), history=(
        HistoryItem(EventKind.TRACED, date(2023, 3, 1), {"responsible_party": "甲公司"}),
        HistoryItem(EventKind.REMEDIATION_PLANNED, date(2023, 6, 1), {"category": "ban"}),
    ))  # fmt: skip
    b = make_outfall(lonlat=LINTONG, name="乙排口", local_code="LC-B", found_on=date(2023, 1, 1))
    c = make_outfall(lonlat=HANZHONG, name="丙排口", found_on=date(2023, 1, 1))
    later = make_outfall(lonlat=HANZHONG, name="后来才发现", found_on=date(2024, 6, 1))
    return {"a": a, "b": b, "c": c, "later": later}


def test_register_as_a_map_file(small: dict[str, Outfall], session: Session, tmp_path: Path) -> None:
    result = registers.export_register(session, tmp_path / "r.html", fmt="html", scope=NATIONAL,
                                       area="610000", as_of=date(2023, 12, 31))  # fmt: skip
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert (result.format, result.rows) == ("html", 3)  # the one found in 2024 is not on the 2023 map
    points = features(page, "responsible_party")
    assert sorted(str(f["properties"]["name"]) for f in points) == ["丙排口", "乙排口", "甲排口&lt;b&gt;"]
    a = next(f["properties"] for f in points if f["properties"]["outfall_id"] == small["a"].id)
    assert (a["codes"], a["state"], a["responsible_party"], a["status"]) == ("NC-A", "整治中", "甲公司", "remediating")
    assert a["remediation"].startswith("依法取缔") and a["type"] != "—"
    # the cities under Shaanxi with outfalls, shaded by their gap on the traced target, named in the tooltip
    shaded = features(page, "gap_class")
    assert {f["properties"]["code"] for f in shaded} == {"610100", "610700"}
    assert "入河排污口名录 · 陕西省" in page and "截至 2023-12-31" in page and "溯源与目标的差距" in page
    assert "已达目标" in page and "整治中" in page  # the legend: gap classes and the states shown
    no_outside_links(page)
    assert re.search(r"[0-9a-f]{32}", page) is None  # folium's random ids are numbered: the same map, the same file
    again = registers.export_register(session, tmp_path / "s.html", fmt="html", scope=NATIONAL, area="610000",
                                      as_of=date(2023, 12, 31))  # fmt: skip
    assert again.sha256 == result.sha256


def test_dashboard_view_as_a_map_file(small: dict[str, Outfall], session: Session) -> None:
    made = maps.scope_map(session, scope=NATIONAL, by="area", scope_kind="city", scope_code="610100",
                          metric="traced", as_of=date(2023, 12, 31))  # fmt: skip
    assert (made.outfalls, made.title) == (2, "陕西省 › 西安市 入河排污口")
    assert {f["properties"]["code"] for f in features(made.html, "gap_class")} == {"610115"}  # the county below
    county = maps.scope_map(session, scope=NATIONAL, by="area", scope_kind="county", scope_code="610115",
                            as_of=date(2023, 12, 31))  # fmt: skip
    assert {f["properties"]["code"] for f in features(county.html, "gap_class")} == {"610115"}  # the bottom: itself
    by_basin = maps.scope_map(session, scope=NATIONAL, by="basin", as_of=date(2023, 12, 31))
    assert by_basin.outfalls == 3 and by_basin.areas >= 1
    no_outside_links(by_basin.html)
    with pytest.raises(NotFound):
        maps.scope_map(session, scope=NATIONAL, scope_kind="city", scope_code="999900")
    with pytest.raises(InvalidInput):
        maps.scope_map(session, scope=NATIONAL, metric="happiness")


def test_a_narrower_scope_sees_only_its_own(small: dict[str, Outfall], session: Session) -> None:
    xian = Scope(area_codes=("610100",))
    made = maps.scope_map(session, scope=xian, as_of=date(2023, 12, 31))
    assert made.outfalls == 2 and "西安市" in made.title
    assert sorted(str(f["properties"]["name"]) for f in features(made.html, "responsible_party")) == [
        "乙排口", "甲排口&lt;b&gt;"]  # fmt: skip


@pytest.fixture(scope="module")
def committed_db(pg_cluster: Cluster, clone_db: Callable[[str], str]) -> Iterator[str]:
    """A database with a committed small demo catalogue, for the command line."""
    url = clone_db("maps_cli")
    engine = make_engine(url)
    with Session(engine) as s:
        seed_demo(s, yellow=30, handan=10, seed=5)
        s.commit()
    engine.dispose()
    yield url
    pg_cluster.drop_database("maps_cli")


def test_register_map_from_the_command_line(committed_db: str, tmp_path: Path) -> None:
    out = tmp_path / "map.html"
    env = {"OUTFALLS_DATABASE_URL": committed_db, "OUTFALLS_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(main, ["register", "export", "--format", "html", "--basin", "HH", "-o", str(out),
                                       "--json"], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    page = out.read_text(encoding="utf-8")
    assert summary["format"] == "html" and summary["rows"] == len(features(page, "responsible_party")) > 0
    assert page.startswith("<!DOCTYPE html>") and "黄河" in page
    no_outside_links(page)


def test_missing_vendored_leaflet_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="vendored Leaflet"):
        maps.inline_leaflet(tmp_path)


def test_size_at_ten_thousand_outfalls(tmp_path: Path) -> None:
    rows = [{"outfall_id": i, "name": f"排污口{i}", "national_code": f"61{i:010d}", "local_code": None,
             "type1": "工业排污口", "type2": "工矿企业排污口", "type3": None, "status": "traced",
             "responsible_party": "某某有限公司", "remediation": "规范整治", "remediation_state": "方案",
             "remediation_pct": None, "lon": 107 + (i % 100) * 0.03, "lat": 33 + (i // 100) * 0.03}
            for i in range(10_000)]  # fmt: skip
    areas = maps.area_frame([("province", "610000", "陕西省", box(105.5, 31.7, 111.3, 39.6))], {})
    page = maps.build_map(maps.outfall_frame(rows), areas, maps.MapText("十万", date(2024, 12, 31), "陕西省"))
    (tmp_path / "big.html").write_text(page, encoding="utf-8")
    size_mb = len(page.encode()) / 1e6
    print(f"map file at 10^4 outfalls: {size_mb:.1f} MB")
    assert len(features(page, "responsible_party")) == 10_000
    assert size_mb < 8  # a file that can be mailed on an intranet
