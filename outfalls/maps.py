"""Maps to take away: one self-contained HTML file built with folium from GeoDataFrames (outfalls coloured by
state with a popup each, basins or areas shaded by their gap to the target, a legend, the as-of day and the
scope), with Leaflet's script and style inlined from the vendored copies, so the file opens on a laptop with no
network and no server and makes no request.

folium's ``Map`` lists CDN links in ``default_js``/``default_css``; they are emptied here and Leaflet is written
into the page instead (its images as ``data:`` URIs). Only plain circle markers, GeoJSON layers and folium's own
popups are used, which need nothing but Leaflet.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls.config import TargetDefault
from outfalls.errors import InvalidInput
from outfalls.models import AdminArea, Basin
from outfalls.progress.hierarchy import CHILD_KIND, check_as_of, scope_kind_of
from outfalls.progress.outlines import scope_path, scope_shapes
from outfalls.progress.report import GAP_COLORS, STATUS_COLORS, progress
from outfalls.progress.targets import check_metric
from outfalls.registers.columns import COLUMN_NAMES, STATUS_ZH
from outfalls.registers.query import RegisterQuery, iter_chunks, register_query
from outfalls.scope import Scope

# The vendored Leaflet the web pages use (a path beside the package, not an import of the web layer).
VENDOR_DIR = Path(__file__).resolve().parents[1] / "web" / "static" / "vendor"
GAP_ZH = {"met": "已达目标", "near": "落后 10 个百分点以内", "behind": "落后 10–25 个百分点",
          "far": "落后 25 个百分点以上", "none": "无目标或无排污口"}  # fmt: skip
METRIC_ZH = {"surveyed": "排查", "sampled": "监测", "traced": "溯源", "remediating": "整治启动", "remediated": "整治",
             "closed": "销号"}  # fmt: skip
# The popup's lines: register column → label.
POPUP_FIELDS = (("name", "名称"), ("codes", "编码"), ("type", "类型"), ("state", "状态"),
                ("responsible_party", "责任主体"), ("remediation", "整治"))  # fmt: skip
_RANDOM_ID = re.compile(r"_([0-9a-f]{32})(?![0-9a-f])")
_IMAGE = re.compile(r"url\((images/[\w.-]+\.png)\)")


@dataclass(frozen=True, slots=True)
class TakeAwayMap:
    """A map file's HTML and what it shows."""

    html: str
    outfalls: int
    areas: int
    title: str


@dataclass(frozen=True, slots=True)
class MapText:
    """What the map says about itself: a title, the as-of day, the scope in words and the shaded metric."""

    title: str
    as_of: date
    scope: str
    metric: str = "traced"


def scope_map(
    session: Session,
    *,
    scope: Scope,
    by: str = "area",
    scope_kind: str = "all",
    scope_code: str | None = None,
    metric: str = "traced",
    as_of: date | None = None,
    defaults: Sequence[TargetDefault] = (),
    assets: Path = VENDOR_DIR,
) -> TakeAwayMap:
    """The dashboard's view as a map file: the outfalls of one drill-down scope (what ``scope`` may see) as
    they stood at the end of ``as_of``, and the scopes one level down (or the scope itself at the bottom)
    shaded by their gap to the ``metric``'s target.

    Raises:
        InvalidInput: a bad axis, metric or as-of day.
        NotFound: an unknown scope code.
    """
    path = scope_path(session, scope_kind, scope_code)  # NotFound for an unknown code
    basin = area = None
    river = None
    if scope_kind in ("basin", "sub_basin"):
        basin = scope_code
    elif scope_kind == "river" and len(path) >= 2:
        basin, river = path[-2].code, path[-1].name  # a river counts its outfalls in its sub-basin
    elif scope_kind in ("province", "city", "county"):
        area = scope_code
    query = register_query(session, scope=scope, basin=basin, area=area, as_of=check_as_of(as_of))
    keep = None if river is None else (lambda row: row.get("river") == river)
    words = " › ".join(step.name for step in path[1:]) or scope_words(session, scope)
    return take_away_map(session, query, scope=scope, by=by, scope_kind=scope_kind, scope_code=scope_code,
                         metric=metric, defaults=defaults, title=f"{words} 入河排污口", scope_text=words, keep=keep,
                         assets=assets)  # fmt: skip


def register_map(
    session: Session,
    query: RegisterQuery,
    *,
    scope: Scope,
    defaults: Sequence[TargetDefault] = (),
    metric: str = "traced",
    assets: Path = VENDOR_DIR,
) -> TakeAwayMap:
    """A register (``register_query``) as a map file: its outfalls, and the areas (or, for a register of a
    basin, the sub-basins) one level below it shaded by their gap to the ``metric``'s target.
    """
    if query.area:
        by, kind, code = "area", scope_kind_of(session, query.area), query.area
    elif query.basin:
        by, kind, code = "basin", scope_kind_of(session, query.basin), query.basin
    else:
        by, kind, code = "area", "all", None
    words = " › ".join(step.name for step in scope_path(session, kind, code)[1:]) or scope_words(session, scope)
    return take_away_map(session, query, scope=scope, by=by, scope_kind=kind, scope_code=code, metric=metric,
                         defaults=defaults, title=f"入河排污口名录 · {words}", scope_text=words,
                         assets=assets)  # fmt: skip


def scope_words(session: Session, scope: Scope) -> str:
    """A user's scope by name (全国, or its areas and basins)."""
    if scope.is_national:
        return "全国"
    names = list(session.scalars(select(AdminArea.name).where(AdminArea.code.in_(scope.area_codes))
                                 .order_by(AdminArea.code)))  # fmt: skip
    names += list(session.scalars(select(Basin.name).where(Basin.code.in_(scope.basin_codes)).order_by(Basin.code)))
    return "、".join(names) or "—"


def take_away_map(
    session: Session,
    query: RegisterQuery,
    *,
    scope: Scope,
    by: str,
    scope_kind: str,
    scope_code: str | None,
    metric: str,
    defaults: Sequence[TargetDefault],
    title: str,
    scope_text: str,
    keep: Any = None,
    assets: Path = VENDOR_DIR,
) -> TakeAwayMap:
    """The map file of ``query``'s outfalls (those ``keep(row)`` accepts, when given) with the scopes one
    level below ``scope_kind:scope_code`` on axis ``by`` (or that scope at the bottom) shaded by gap.
    """
    check_metric(metric)
    rows = (dict(zip(COLUMN_NAMES, r, strict=True)) for chunk in iter_chunks(session, query) for r in chunk)
    points = outfall_frame(r for r in rows if keep is None or keep(r))
    report = progress(session, scope=scope, by=by, as_of=query.as_of, defaults=defaults, metrics=[metric])
    child = CHILD_KIND["basin" if by == "basin" else "area"].get(scope_kind)
    shaded = report.children(scope_kind, scope_code, metric) if child else []
    if not shaded and scope_code is not None:
        own = report.row(scope_kind, scope_code, metric)
        shaded = [own] if own is not None else []
    scopes = [(r.scope_kind, str(r.scope_code)) for r in shaded if r.scope_code]
    areas = area_frame(scope_shapes(session, scopes), {str(r.scope_code): r for r in shaded})
    text = MapText(title, query.as_of, scope_text, metric)
    return TakeAwayMap(build_map(points, areas, text, assets=assets), len(points), len(areas), title)


def outfall_frame(rows: Iterable[Mapping[str, Any]]) -> Any:
    """Register rows (``outfalls.registers`` columns) as a GeoDataFrame of points in EPSG:4326 with the
    popup's fields, each text escaped (the popup is HTML).

    CGCS2000 and WGS 84 differ by centimetres, so register rows in either are drawn as they are.
    """
    import geopandas as gpd
    from shapely.geometry import Point

    records: list[dict[str, Any]] = []
    for r in rows:
        if r.get("lon") is None or r.get("lat") is None:
            continue
        codes = " / ".join(c for c in (r.get("national_code"), r.get("local_code")) if c) or "—"
        kind = " › ".join(t for t in (r.get("type1"), r.get("type2"), r.get("type3")) if t) or r.get("type_raw")
        remediation = "，".join(str(t) for t in (r.get("remediation"), r.get("remediation_state")) if t)
        if r.get("remediation_pct") is not None:
            remediation += f"（{r['remediation_pct']}%）"
        record = {"outfall_id": r.get("outfall_id"), "status": r.get("status") or "",
                  "name": r.get("name") or "—", "codes": codes, "type": kind or "—",
                  "state": STATUS_ZH.get(str(r.get("status")), str(r.get("status") or "—")),
                  "responsible_party": r.get("responsible_party") or "—", "remediation": remediation or "—",
                  "geometry": Point(float(r["lon"]), float(r["lat"]))}  # fmt: skip
        for key in ("name", "codes", "type", "state", "responsible_party", "remediation"):
            record[key] = html.escape(str(record[key]))
        records.append(record)
    columns = ["outfall_id", "status", *(k for k, _ in POPUP_FIELDS), "geometry"]
    return gpd.GeoDataFrame(records, columns=columns, geometry="geometry", crs="EPSG:4326")


def area_frame(shapes: Sequence[tuple[str, str, str, Any]], rows: Mapping[str, Any]) -> Any:
    """Basins or areas as a GeoDataFrame: ``shapes`` are (kind, code, name, shapely geometry); ``rows`` the
    progress row of each code (``ProgressRow``-like: share, target_share, gap_pp), absent when it has no outfalls.
    """
    import geopandas as gpd

    from outfalls.progress.report import gap_class

    records = []
    for kind, code, name, geom in shapes:
        row = rows.get(code)
        gap = None if row is None else row.gap_pp
        share = None if row is None or row.share is None else f"{row.share * 100:.1f}%"
        target = None if row is None or row.target_share is None else f"{row.target_share * 100:.0f}%"
        records.append({"kind": kind, "code": code, "name": html.escape(name), "share": share or "—",
                        "target": target or "—", "gap": "—" if gap is None else f"{gap:+.1f}",
                        "gap_class": gap_class(gap), "geometry": geom})  # fmt: skip
    columns = ["kind", "code", "name", "share", "target", "gap", "gap_class", "geometry"]
    return gpd.GeoDataFrame(records, columns=columns, geometry="geometry", crs="EPSG:4326")


def inline_leaflet(assets: Path = VENDOR_DIR) -> tuple[str, str]:
    """Leaflet's script and style from the vendored copy, the style's images as ``data:`` URIs.

    Raises:
        InvalidInput: the vendored Leaflet is not in ``assets``.
    """
    folder = Path(assets) / "leaflet"
    try:
        script = (folder / "leaflet.js").read_text(encoding="utf-8")
        style = (folder / "leaflet.css").read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInput(f"the vendored Leaflet is missing from {folder}", field="assets", value=str(assets)) from err

    def data_uri(match: re.Match[str]) -> str:
        png = (folder / match.group(1)).read_bytes()
        return "url(data:image/png;base64," + base64.b64encode(png).decode("ascii") + ")"

    return script, _IMAGE.sub(data_uri, style)


def build_map(outfalls: Any, areas: Any | None, text: MapText, *, assets: Path = VENDOR_DIR) -> str:
    """The map as one HTML document: ``outfalls`` (``outfall_frame``) as circles coloured by state with a popup,
    ``areas`` (``area_frame``) shaded by gap class with a tooltip, a title box and a legend; framed on what it shows.
    """
    import folium
    from branca.element import Element

    script, style = inline_leaflet(assets)
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=False)
    fmap.default_js = []  # nothing from a CDN: Leaflet is inlined below
    fmap.default_css = []
    root: Any = fmap.get_root()  # the Figure
    root.header.add_child(Element(f"<style>{style}</style>"), name="leaflet_css")
    root.header.add_child(Element(f"<script>{script}</script>"), name="leaflet_js")
    root.header.add_child(Element(f"<title>{html.escape(text.title)}</title>"), name="title")
    root.header.add_child(Element(f"<style>{_PAGE_CSS}</style>"), name="page_css")
    root.header.add_child(Element('<meta name="referrer" content="no-referrer">'), name="referrer")
    bounds: list[float] | None = None
    if areas is not None and len(areas):
        folium.GeoJson(
            areas.to_json(drop_id=True), name="areas",
            style_function=lambda f: {"fillColor": GAP_COLORS[f["properties"]["gap_class"]], "fillOpacity": 0.35,
                                      "color": "#455a64", "weight": 1},
            tooltip=folium.GeoJsonTooltip(fields=["name", "share", "target", "gap"],
                                          aliases=["", METRIC_ZH.get(text.metric, text.metric) + "比例", "目标",
                                                   "差距（百分点）"]),
        ).add_to(fmap)  # fmt: skip
        bounds = list(areas.total_bounds)
    if len(outfalls):
        folium.GeoJson(
            outfalls.to_json(drop_id=True), name="outfalls",
            marker=folium.CircleMarker(radius=5, fill=True, fill_opacity=0.9, weight=1, class_name="outfall"),
            style_function=lambda f: {"fillColor": STATUS_COLORS.get(f["properties"]["status"], "#616161"),
                                      "color": "#263238"},
            popup=folium.GeoJsonPopup(fields=[k for k, _ in POPUP_FIELDS], aliases=[v for _, v in POPUP_FIELDS]),
        ).add_to(fmap)  # fmt: skip
        pts = list(outfalls.total_bounds)
        bounds = pts if bounds is None else [min(bounds[0], pts[0]), min(bounds[1], pts[1]),
                                             max(bounds[2], pts[2]), max(bounds[3], pts[3])]  # fmt: skip
    if bounds is not None:
        fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    root.html.add_child(Element(_legend(outfalls, areas, text)), name="legend")
    return _stable_ids(str(root.render()))


def _stable_ids(page: str) -> str:
    """Folium names each element with a random id: numbered in order of appearance instead, so the same map
    gives the same file.
    """
    ids: dict[str, str] = {}
    return _RANDOM_ID.sub(lambda m: "_" + ids.setdefault(m.group(1), f"{len(ids) + 1:x}"), page)


def _legend(outfalls: Any, areas: Any | None, text: MapText) -> str:
    shown = set(outfalls["status"]) if len(outfalls) else set()
    states = "".join(f'<li><i class="dot" style="background:{STATUS_COLORS[k]}"></i>{v}</li>'
                     for k, v in STATUS_ZH.items() if k in shown)  # fmt: skip
    gaps = ""
    if areas is not None and len(areas):
        metric = html.escape(METRIC_ZH.get(text.metric, text.metric))
        gaps = f"<h3>{metric}与目标的差距</h3><ul>" + "".join(
            f'<li><i class="box" style="background:{GAP_COLORS[k]}"></i>{v}</li>' for k, v in GAP_ZH.items()  # type: ignore[index]
        ) + "</ul>"  # fmt: skip
    return (
        f'<div class="takeaway-legend"><h2>{html.escape(text.title)}</h2>'
        f"<p>截至 {text.as_of.isoformat()} · 范围：{html.escape(text.scope)} · 排污口 {len(outfalls)} 个</p>"
        f"<h3>排污口状态</h3><ul>{states}</ul>{gaps}</div>"
    )


_PAGE_CSS = """
.takeaway-legend{position:absolute;z-index:1000;right:10px;top:10px;max-width:300px;background:#fff;padding:8px 12px;
 font:13px/1.4 "Noto Sans CJK SC","Microsoft YaHei",sans-serif;border:1px solid #90a4ae;border-radius:4px}
.takeaway-legend h2{font-size:15px;margin:0 0 4px}.takeaway-legend h3{font-size:13px;margin:8px 0 2px}
.takeaway-legend p{margin:0;color:#37474f}.takeaway-legend ul{list-style:none;margin:0;padding:0}
.takeaway-legend i{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}
.takeaway-legend i.dot{border-radius:50%;border:1px solid #263238}.takeaway-legend i.box{border:1px solid #455a64}
"""
