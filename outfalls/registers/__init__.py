"""Registers (名录 / 管理台账): the outfall register of a scope (the exporter's own, narrowed to a basin and/or an
administrative area) **as of a date**, computed from the events in one set-based query, and written as XLSX, CSV,
GeoPackage, zipped Shapefile, GeoJSON, KML or FlatGeobuf.

The state columns (status, discharge, monitoring, responsible party, remediation, closing) follow
``outfalls.catalogue.lifecycle.state_as_of``: the events effective up to the end of the day, replayed in
recording order.
The identity and location columns (codes, name, type, coordinates, area, basin, river) are the outfall's current
ones, as in progress ("outfalls are placed where they are now"). Outfalls not found yet on that day, rejected
candidates and records merged into another outfall by then are left out.

A register is reproducible: the same scope and date give the same rows in the same order, and nothing in a file
depends on when it was written (GeoPackage and XLSX timestamps are set to the as-of day, zip entries carry a fixed
date), so the same export made tomorrow is byte-identical as long as no event dated on or before that day has been
recorded in the meantime.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue.queries import OutfallFilter, filter_conditions
from outfalls.errors import InvalidInput
from outfalls.models import Outfall
from outfalls.scope import Scope

Format = Literal["xlsx", "csv", "gpkg", "shp", "geojson", "kml", "fgb"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv", "gpkg", "shp", "geojson", "kml", "fgb")
CRS_CODES = (4490, 4326)
GROUPINGS = ("basin", "type")
SUFFIX = {"xlsx": ".xlsx", "csv": ".csv", "gpkg": ".gpkg", "shp": ".zip", "geojson": ".geojson", "kml": ".kml",
          "fgb": ".fgb"}  # fmt: skip
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv", "gpkg": "application/geopackage+sqlite3", "shp": "application/zip",
    "geojson": "application/geo+json", "kml": "application/vnd.google-earth.kml+xml", "fgb": "application/octet-stream",
}  # fmt: skip
LAYER = "outfall_register"
CHUNK_ROWS = 20_000
XLSX_MAX_ROWS = 1_048_575  # a sheet holds 1,048,576 rows, one of them the header
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can carry: the same in every export


# -- the columns -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Column:
    """One register column: its field name (CSV, GIS formats), Shapefile name (≤ 10 characters), labels, type,
    width in the XLSX sheet and what it holds.
    """

    name: str
    shp: str
    zh: str
    en: str
    kind: Literal["int", "float", "str", "date"]
    width: int
    about: str


COLUMNS: tuple[Column, ...] = (
    Column("outfall_id", "OUTFALL_ID", "系统编号", "Record id", "int", 9, "the outfall's number in this system"),
    Column("national_code", "NAT_CODE", "排污口编码（国家统一赋码）", "National code", "str", 24, "国家统一赋码"),
    Column("national_code_source", "NAT_SRC", "国家编码状态", "National code provenance", "str", 12,
           "暂不掌握 / 已掌握 / 现场标识牌显示"),
    Column("local_code", "LOC_CODE", "排污口编码（省市自有编码）", "Local code", "str", 22,
           "provincial or municipal code"),
    Column("local_code_source", "LOC_SRC", "自有编码状态", "Local code provenance", "str", 12,
           "暂不掌握 / 已掌握 / 现场标识牌显示"),
    Column("name", "NAME", "排污口名称", "Name", "str", 40, "the outfall's name"),
    Column("name_source", "NAME_SRC", "名称状态", "Name provenance", "str", 12, "暂不掌握 / 已掌握 / 现场标识牌显示"),
    Column("type_scheme", "TYPE_SCH", "分类体系", "Type scheme", "str", 10,
           "HJ1312 (HJ 1312-2023); SX2020, YR2021 for older vocabularies"),
    Column("type1_code", "TYPE1_CODE", "一级分类代码", "Type level 1 code", "str", 8, "code of the 一级 class"),
    Column("type1", "TYPE1", "一级分类", "Type level 1", "str", 18, "一级 class"),
    Column("type2_code", "TYPE2_CODE", "二级分类代码", "Type level 2 code", "str", 8, "code of the 二级 class"),
    Column("type2", "TYPE2", "二级分类", "Type level 2", "str", 22, "二级 class"),
    Column("type3_code", "TYPE3_CODE", "三级分类代码", "Type level 3 code", "str", 8, "code of the 三级 class"),
    Column("type3", "TYPE3", "三级分类", "Type level 3", "str", 18, "三级 class"),
    Column("type_raw", "TYPE_RAW", "记录的类型原文", "Type as recorded", "str", 18, "the type as written in the field"),
    Column("province_code", "PROV_CODE", "省级行政区代码", "Province code", "str", 9, "GB/T 2260"),
    Column("province", "PROVINCE", "省", "Province", "str", 10, "province"),
    Column("city_code", "CITY_CODE", "地市代码", "City code", "str", 9, "GB/T 2260"),
    Column("city", "CITY", "市", "City", "str", 10, "prefecture-level city"),
    Column("county_code", "CNTY_CODE", "区县代码", "County code", "str", 9, "GB/T 2260"),
    Column("county", "COUNTY", "区县", "County", "str", 12, "county or district"),
    Column("receiving_water", "RECV_WATER", "排入水体", "Receiving water", "str", 14, "排入水体 as recorded"),
    Column("river", "RIVER", "所在河流", "River", "str", 12, "nearest river of the reference data"),
    Column("basin_code", "BASIN_CODE", "流域代码", "Basin code", "str", 8, "basin code of the reference data"),
    Column("basin", "BASIN", "流域", "Basin", "str", 10, "流域"),
    Column("sub_basin_code", "SUBB_CODE", "子流域代码", "Sub-basin code", "str", 9, "sub-basin code"),
    Column("sub_basin", "SUB_BASIN", "子流域", "Sub-basin", "str", 12, "子流域"),
    Column("lon", "LON", "经度", "Longitude", "float", 12, "decimal degrees, 7 places, in the column crs"),
    Column("lat", "LAT", "纬度", "Latitude", "float", 11, "decimal degrees, 7 places, in the column crs"),
    Column("crs", "CRS", "坐标系", "CRS", "str", 10, "EPSG:4490 (CGCS2000) or EPSG:4326 (WGS 84)"),
    Column("found_level", "FOUND_LVL", "排查级别", "Survey level", "int", 8, "1 drone, 2 foot survey, 3 expert check"),
    Column("found_by", "FOUND_BY", "发现方式", "Found by", "str", 14, "三级排查: how the outfall was found"),
    Column("found_on", "FOUND_ON", "发现日期", "Found on", "date", 11, "the day it was found"),
    Column("status", "STATUS", "状态代码", "State code", "str", 11, "candidate … closed"),
    Column("status_label", "STATUS_LBL", "状态", "State", "str", 9, "the lifecycle state that day"),
    Column("status_since", "STAT_SINCE", "状态起始日期", "State since", "date", 11, "when it reached that state"),
    Column("discharging", "DISCHARGE", "是否排放", "Discharging", "str", 8, "是 / 否（无水） / 未监测"),
    Column("monitored_on", "MON_DATE", "最近监测日期", "Last monitored", "date", 11, "latest monitoring visit"),
    Column("monitoring_state", "MON_STATE", "最近监测情况", "Monitoring found", "str", 10, "排放 / 无水 / 不具备条件"),
    Column("exceedances", "EXCEED", "超标项数", "Over-limit results", "int", 8,
           "results of the latest visit over the applicable limit"),
    Column("monitoring_summary", "MON_SUMM", "最近监测结果", "Latest results", "str", 40,
           "parameter value unit of the latest visit; （超标） = over the limit"),
    Column("responsible_party", "RESP_PARTY", "责任主体", "Responsible party", "str", 24, "主要责任主体 (or 政府兜底)"),
    Column("remediation_category", "REM_CAT", "整治类型代码", "Remediation code", "str", 11,
           "ban, merge, standardise, none_needed"),
    Column("remediation", "REM_LABEL", "整治类型", "Remediation", "str", 9,
           "依法取缔 / 清理合并 / 规范整治 / 无需整治"),
    Column("remediation_state", "REM_STATE", "整治进展", "Remediation state", "str", 9,
           "latest remediation record: 方案 / 进展 / 完成 / 验收"),
    Column("remediation_pct", "REM_PCT", "整治进度（%）", "Remediation progress (%)", "int", 8,
           "per cent done at the latest progress record"),
    Column("closed_on", "CLOSED_ON", "销号日期", "Closed on", "date", 11, "the day it was closed out (销号)"),
    Column("field_records", "FIELD_RECS", "现场记录", "Field records", "str", 16,
           "ids of the field records (observations) behind the line, separated by ;"),
    Column("record_url", "RECORD_URL", "档案链接", "Record link", "str", 16,
           "the outfall's page on the server (its history and field records)"),
    Column("is_demo", "IS_DEMO", "演示数据", "Demo record", "int", 7, "1 = generated demo record, not real data"),
)  # fmt: skip
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
SHP_NAMES = {c.name: c.shp for c in COLUMNS}

PROVENANCE_ZH = {"unknown": "暂不掌握", "known": "已掌握", "sign": "现场标识牌显示"}
STATUS_ZH = {"candidate": "疑似", "surveyed": "已排查", "traced": "已溯源", "remediating": "整治中",
             "remediated": "已整治", "closed": "已销号", "rejected": "已排除", "merged": "已合并"}  # fmt: skip
FOUND_BY_ZH = {"drone": "一级：无人机航测", "foot": "二级：人工徒步排查", "expert": "三级：专家质控核查"}
FOUND_LEVEL = {"drone": 1, "foot": 2, "expert": 3}
REMEDIATION_ZH = {"ban": "依法取缔", "merge": "清理合并", "standardise": "规范整治", "none_needed": "无需整治"}
STEP_ZH = {"plan": "方案", "progress": "进展", "completion": "完成", "acceptance": "验收"}
DISCHARGE_ZH = {"discharging": "排放", "dry": "无水", "not_possible": "不具备条件"}
NO_BASIN = "未定流域"
CODE_LISTS = (("status", STATUS_ZH), ("found_by", FOUND_BY_ZH), ("national_code_source", PROVENANCE_ZH),
              ("remediation_category", REMEDIATION_ZH), ("remediation_state", STEP_ZH),
              ("monitoring_state", DISCHARGE_ZH))  # fmt: skip


# -- the query ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RegisterQuery:
    """A register's rows as one SQL statement (literal values only, so ``COPY`` and ``ogr2ogr -sql`` can run it)."""

    sql: str
    as_of: date
    crs: int
    scope: str  # what the register covers, in words: "national, basin HH, area 610100"
    basin: str | None
    area: str | None
    upper_bound: int  # outfalls in the scope, whatever the date: the progress bar's length


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _label(expr: str, labels: dict[str, str]) -> str:
    whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in labels.items())
    return f"CASE {expr} {whens} END"


# The state each state-changing event leads to (lifecycle.TRANSITIONS): each determines the state after it, so
# the state on a day is the one the last of them (in recording order) led to, and it holds since the last
# event that changed it — the same replay as lifecycle.state_as_of, for a whole catalogue in one pass.
_STATE_OF_EVENT = """CASE e.kind WHEN 'created' THEN coalesce(e.payload->>'status', 'surveyed')
      WHEN 'split' THEN e.payload->>'restore_status' WHEN 'surveyed' THEN 'surveyed' WHEN 'rejected' THEN 'rejected'
      WHEN 'traced' THEN 'traced' WHEN 'remediation_planned' THEN 'remediating' WHEN 'remediated' THEN 'remediated'
      WHEN 'closed' THEN 'closed' WHEN 'merged' THEN 'merged' END"""

_SQL = """WITH scoped AS MATERIALIZED ({scoped}),
ev AS (
  SELECT e.outfall_id, e.id, e.kind, e.payload, (e.effective_at AT TIME ZONE 'UTC')::date AS day,
         {state_of_event} AS status
  FROM events e JOIN scoped s ON s.id = e.outfall_id
  WHERE e.effective_at < {cutoff}
),
ordered AS (
  SELECT ev.*, lag(status) OVER (PARTITION BY outfall_id, status IS NULL ORDER BY id) AS prev FROM ev
),
st AS (
  SELECT outfall_id,
    (array_agg(status ORDER BY id DESC) FILTER (WHERE status IS NOT NULL))[1] AS status,
    (array_agg(day ORDER BY id DESC) FILTER (WHERE status IS NOT NULL AND prev IS DISTINCT FROM status))[1]
      AS status_since,
    (array_agg((payload->>'is_discharging')::boolean ORDER BY id DESC)
      FILTER (WHERE kind = 'sampled' AND jsonb_exists(payload, 'is_discharging')))[1] AS is_discharging,
    (array_agg(payload->>'responsible_party' ORDER BY id DESC)
      FILTER (WHERE kind IN ('traced', 'trace_updated') AND coalesce(payload->>'responsible_party', '') <> ''))[1]
      AS responsible_party,
    (array_agg(payload->>'category' ORDER BY id DESC)
      FILTER (WHERE kind = 'remediation_planned' AND coalesce(payload->>'category', '') <> ''))[1]
      AS remediation_category
  FROM ordered GROUP BY outfall_id
  HAVING bool_or(kind = 'created')
),
mon AS (
  SELECT DISTINCT ON (v.outfall_id) v.outfall_id, v.id, (e.effective_at AT TIME ZONE 'UTC')::date AS day,
         v.discharge, v.exceedances
  FROM monitoring_visits v JOIN scoped s ON s.id = v.outfall_id JOIN events e ON e.id = v.event_id
  WHERE e.effective_at < {cutoff}
  ORDER BY v.outfall_id, e.effective_at DESC, v.id DESC
),
mon_text AS (
  SELECT m.outfall_id, string_agg(coalesce(p.label_zh, r.parameter) || ' ' ||
           CASE WHEN r.below_detection OR r.value IS NULL THEN '<' || coalesce(r.detection_limit::text, '检出限')
                ELSE r.value::text END || CASE WHEN r.unit <> '' THEN ' ' || r.unit ELSE '' END ||
           CASE WHEN r.exceeds THEN '（超标）' ELSE '' END, '；' ORDER BY p.sort_order, r.id) AS summary
  FROM mon m JOIN sample_results r ON r.visit_id = m.id LEFT JOIN parameters p ON p.code = r.parameter
  GROUP BY m.outfall_id
),
rem AS (
  SELECT DISTINCT ON (r.outfall_id) r.outfall_id, r.step,
         (SELECT r2.progress_pct FROM remediation_records r2 JOIN events e2 ON e2.id = r2.event_id
          WHERE r2.outfall_id = r.outfall_id AND r2.progress_pct IS NOT NULL AND e2.effective_at < {cutoff}
          ORDER BY e2.effective_at DESC, r2.id DESC LIMIT 1) AS pct
  FROM remediation_records r JOIN scoped s ON s.id = r.outfall_id JOIN events e ON e.id = r.event_id
  WHERE e.effective_at < {cutoff}
  ORDER BY r.outfall_id, e.effective_at DESC, r.id DESC
),
obs AS (
  SELECT outfall_id, string_agg(observation_id::text, ';' ORDER BY observation_id) AS ids
  FROM (SELECT DISTINCT l.outfall_id, l.observation_id
        FROM observation_links l JOIN scoped s ON s.id = l.outfall_id JOIN observations ob ON ob.id = l.observation_id
        WHERE coalesce(ob.captured_at, ob.received_at) < {cutoff} AND l.linked_at IS NOT NULL
          AND (l.unlinked_at IS NULL OR l.unlinked_at >= {cutoff})) linked
  GROUP BY outfall_id
)
SELECT
  o.id AS outfall_id, o.national_code, {nat_src} AS national_code_source,
  o.local_code, {loc_src} AS local_code_source, o.name, {name_src} AS name_source, o.type_scheme,
  CASE t.level WHEN 1 THEN t.code WHEN 2 THEN tp.code WHEN 3 THEN tpp.code END AS type1_code,
  CASE t.level WHEN 1 THEN t.label_zh WHEN 2 THEN tp.label_zh WHEN 3 THEN tpp.label_zh END AS type1,
  CASE t.level WHEN 2 THEN t.code WHEN 3 THEN tp.code END AS type2_code,
  CASE t.level WHEN 2 THEN t.label_zh WHEN 3 THEN tp.label_zh END AS type2,
  CASE t.level WHEN 3 THEN t.code END AS type3_code,
  CASE t.level WHEN 3 THEN t.label_zh END AS type3,
  o.type_raw,
  CASE a.level WHEN 'province' THEN a.code WHEN 'city' THEN ap.code WHEN 'county' THEN app.code END AS province_code,
  CASE a.level WHEN 'province' THEN a.name WHEN 'city' THEN ap.name WHEN 'county' THEN app.name END AS province,
  CASE a.level WHEN 'city' THEN a.code WHEN 'county' THEN ap.code END AS city_code,
  CASE a.level WHEN 'city' THEN a.name WHEN 'county' THEN ap.name END AS city,
  CASE a.level WHEN 'county' THEN a.code END AS county_code,
  CASE a.level WHEN 'county' THEN a.name END AS county,
  o.receiving_water, rv.name AS river, b.code AS basin_code, b.name AS basin, sb.code AS sub_basin_code,
  sb.name AS sub_basin,
  round(ST_X(o.geom)::numeric, 7)::float8 AS lon, round(ST_Y(o.geom)::numeric, 7)::float8 AS lat,
  {crs_text} AS crs,
  {found_level} AS found_level, {found_by} AS found_by, o.found_on,
  st.status, {status_label} AS status_label, st.status_since,
  CASE st.is_discharging WHEN true THEN '是' WHEN false THEN '否（无水）' ELSE '未监测' END AS discharging,
  mon.day AS monitored_on, {mon_state} AS monitoring_state, mon.exceedances, mon_text.summary AS monitoring_summary,
  st.responsible_party, st.remediation_category, {rem_label} AS remediation,
  {step_label} AS remediation_state, rem.pct AS remediation_pct,
  CASE WHEN st.status = 'closed' THEN st.status_since END AS closed_on,
  obs.ids AS field_records, '/outfalls/' || o.id AS record_url, o.is_demo::int AS is_demo
FROM st JOIN outfalls o ON o.id = st.outfall_id
LEFT JOIN code_lists t ON t.scheme = o.type_scheme AND t.code = o.type_code
LEFT JOIN code_lists tp ON tp.scheme = t.scheme AND tp.code = t.parent_code
LEFT JOIN code_lists tpp ON tpp.scheme = tp.scheme AND tpp.code = tp.parent_code
LEFT JOIN admin_areas a ON a.id = o.admin_area_id
LEFT JOIN admin_areas ap ON ap.id = a.parent_id
LEFT JOIN admin_areas app ON app.id = ap.parent_id
LEFT JOIN basins b ON b.id = o.basin_id
LEFT JOIN basins sb ON sb.id = o.sub_basin_id
LEFT JOIN rivers rv ON rv.id = o.river_id
LEFT JOIN mon ON mon.outfall_id = o.id
LEFT JOIN mon_text ON mon_text.outfall_id = o.id
LEFT JOIN rem ON rem.outfall_id = o.id
LEFT JOIN obs ON obs.outfall_id = o.id
WHERE st.status NOT IN ('rejected', 'merged')
ORDER BY b.code NULLS LAST, {order_extra}a.code NULLS LAST, o.id"""


def check_format(fmt: str) -> str:
    """The export format, checked.

    Raises:
        InvalidInput: not one of ``FORMATS``.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}", field="format", value=fmt)
    return fmt


def check_crs(crs: int | str) -> int:
    """The coordinate system (EPSG code 4490 or 4326), checked.

    Raises:
        InvalidInput: any other value.
    """
    text_value = str(crs).upper().removeprefix("EPSG:")
    if not text_value.isdigit() or int(text_value) not in CRS_CODES:
        raise InvalidInput(f"--crs must be 4490 (CGCS2000) or 4326 (WGS 84), not {crs!r}", field="crs", value=str(crs))
    return int(text_value)


def check_as_of(as_of: date | None, *, today: date | None = None) -> date:
    """The as-of day: today (UTC) when None.

    Raises:
        InvalidInput: a day after tomorrow (nothing has happened yet) or before 1990.
    """
    now = today or clock.today()
    day = as_of or now
    if day > now + timedelta(days=1):
        raise InvalidInput(f"the as-of date {day} is in the future", field="as_of", value=day.isoformat())
    if day.year < 1990:
        raise InvalidInput(f"the as-of date {day} is before the programme", field="as_of", value=day.isoformat())
    return day


def register_query(
    session: Session,
    *,
    scope: Scope,
    basin: str | None = None,
    area: str | None = None,
    as_of: date | None = None,
    crs: int = 4490,
    by: str = "basin",
) -> RegisterQuery:
    """The SQL of a register: the outfalls of ``scope`` (within ``basin`` and ``area`` when given) as they stood
    at the end of ``as_of`` (today when None), one row per outfall in ``COLUMNS`` order, sorted by basin (or
    type, ``by="type"``), administrative area and id.

    Raises:
        InvalidInput: an unknown basin code, a malformed area code, a date in the future, a CRS other than
            4490/4326 or an unknown grouping.
    """
    day = check_as_of(as_of)
    srid = check_crs(crs)
    if by not in GROUPINGS:
        raise InvalidInput(f"--by must be basin or type, not {by!r}", field="by", value=by)
    cond = filter_conditions(session, OutfallFilter(basin=basin or None, area=area or None), scope)
    scoped = select(Outfall.id).where(*cond)
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    scoped_sql = str(scoped.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    cutoff = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=UTC)
    sql = _SQL.format(
        scoped=scoped_sql,
        cutoff=f"TIMESTAMPTZ {_lit(cutoff.isoformat())}",
        state_of_event=_STATE_OF_EVENT,
        nat_src=_label("o.national_code_provenance", PROVENANCE_ZH),
        loc_src=_label("o.local_code_provenance", PROVENANCE_ZH),
        name_src=_label("o.name_provenance", PROVENANCE_ZH),
        crs_text=_lit(f"EPSG:{srid}"),
        found_level="CASE o.found_by " + " ".join(f"WHEN {_lit(k)} THEN {v}" for k, v in FOUND_LEVEL.items())
                    + " END",
        found_by=_label("o.found_by", FOUND_BY_ZH),
        status_label=_label("st.status", STATUS_ZH),
        mon_state=_label("mon.discharge", DISCHARGE_ZH),
        rem_label=_label("st.remediation_category", REMEDIATION_ZH),
        step_label=_label("rem.step", STEP_ZH),
        order_extra="type1_code NULLS LAST, " if by == "type" else "",
    )
    if by == "type":
        sql = sql.replace("ORDER BY b.code NULLS LAST, type1_code", "ORDER BY type1_code")
    upper = session.scalar(select(func.count()).select_from(Outfall).where(*cond)) or 0
    words = [scope.describe()] + ([f"basin {basin}"] if basin else []) + ([f"area {area}"] if area else [])
    return RegisterQuery(sql, day, srid, ", ".join(words), basin or None, area or None, upper)


def _raw(session: Session) -> Any:
    return session.connection().connection.driver_connection


def iter_chunks(session: Session, query: RegisterQuery, size: int = CHUNK_ROWS) -> Iterator[list[tuple[Any, ...]]]:
    """The register's rows in chunks, read through a server-side cursor on the session's transaction."""
    raw = _raw(session)
    with _no_jit(raw), raw.cursor(name=f"register_{os.getpid()}_{id(query)}") as cursor:
        cursor.itersize = size
        cursor.execute(query.sql)
        while rows := cursor.fetchmany(size):
            yield rows


@contextmanager
def _no_jit(raw: Any) -> Iterator[None]:
    """JIT off for the register's statement (put back after; a rollback puts it back by itself): the planner
    overestimates the joins of the small reference tables and compiling took longer than the query.
    """
    with raw.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit')")
        before = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('jit', 'off', true)")
    try:
        yield
    finally:
        with raw.cursor() as cursor:
            cursor.execute("SELECT set_config('jit', %s, true)", (before,))


def register_rows(session: Session, **kw: Any) -> list[dict[str, Any]]:
    """Every row of a register as a dict (small registers and tests; ``register_query`` arguments)."""
    query = register_query(session, **kw)
    return [dict(zip(COLUMN_NAMES, row, strict=True)) for chunk in iter_chunks(session, query) for row in chunk]


# -- exports ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RegisterExport:
    """What an export wrote: the ``register export --json`` summary."""

    file: str
    format: str
    rows: int
    crs: int
    as_of: date
    scope: str
    sha256: str
    by: str = "basin"

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON)."""
        return {"file": self.file, "format": self.format, "rows": self.rows, "crs": f"EPSG:{self.crs}",
                "as_of": self.as_of.isoformat(), "scope": self.scope, "sha256": self.sha256, "by": self.by}  # fmt: skip


Progress = Callable[[str, int, int], None]


def check_output(path: Path) -> Path:
    """The output file, checked before any work is done.

    Raises:
        InvalidInput: its folder does not exist or cannot be written, or the path is a folder.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InvalidInput(f"cannot write {path}: it is a folder", field="output", value=str(path))
    if not folder.is_dir():
        raise InvalidInput(f"cannot write {path}: folder {folder} does not exist", field="output", value=str(path))
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidInput(f"cannot write {path}: permission denied", field="output", value=str(path))
    return path


def export_register(
    session: Session,
    path: Path,
    *,
    fmt: str,
    scope: Scope,
    basin: str | None = None,
    area: str | None = None,
    as_of: date | None = None,
    crs: int = 4490,
    by: str = "basin",
    progress: Progress | None = None,
) -> RegisterExport:
    """Write the register of ``scope`` (narrowed to ``basin``/``area``) as of ``as_of`` to ``path``.

    The file is written next to ``path`` and moved into place when complete, so a failed export leaves no
    half-written file.

    Raises:
        InvalidInput: an unknown format, basin code or grouping, a malformed area code, a date in the future,
            a CRS other than 4490/4326, or an output path that cannot be written.
    """
    kind = check_format(fmt)
    target = check_output(Path(path))
    query = register_query(session, scope=scope, basin=basin, area=area, as_of=as_of, crs=crs, by=by)
    note = progress or (lambda _stage, _done, _total: None)
    note("querying", 0, query.upper_bound)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=SUFFIX[kind])
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if kind == "csv":
            rows = _write_csv(session, query, tmp, note)
        elif kind == "xlsx":
            rows = _write_xlsx(session, query, tmp, note, by)
        else:
            rows = _write_ogr(session, query, tmp, kind, note)
        digest = _sha256(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        for leftover in tmp.parent.glob(tmp.with_suffix("").name + "*"):  # the file, or a Shapefile's folder
            if leftover != target:
                _remove(leftover)
    note("written", rows, rows)
    return RegisterExport(str(target), kind, rows, query.crs, query.as_of, query.scope, digest, by)


def _remove(path: Path) -> None:
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    else:
        path.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# -- CSV: COPY straight from PostgreSQL, behind a BOM --------------------------------------------------------
def _write_csv(session: Session, query: RegisterQuery, path: Path, note: Progress) -> int:
    """UTF-8 with a BOM (so Excel reads the Chinese), comma-separated, a header of field names, ISO dates."""
    rows = 0
    raw = _raw(session)
    with path.open("wb") as out, _no_jit(raw), raw.cursor() as cursor:
        out.write("\ufeff".encode())
        with cursor.copy(f"COPY ({query.sql}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')") as copy:
            for block in copy:
                data = bytes(block)
                out.write(data)
                rows += data.count(b"\n")
                note("writing", max(0, rows - 1), query.upper_bound)
    return max(0, rows - 1)


# -- GIS formats through GDAL (pyogrio) ----------------------------------------------------------------------
_DRIVERS = {"gpkg": "GPKG", "shp": "ESRI Shapefile", "geojson": "GeoJSON", "kml": "KML", "fgb": "FlatGeobuf"}
_APPENDS = frozenset({"gpkg", "shp"})  # formats written block by block; the others need every row at once
# Rows per GeoPackage/Shapefile write: a block appended to an existing layer goes through the spatial index's
# triggers row by row, twice the time of the first write (whose index is built in one pass at the end), so a
# province's register is written at once and a national one in a few blocks.
APPEND_ROWS = 250_000
_DBF_BYTES = 254  # the longest text a dBASE field holds, in bytes


def _columns(chunk: Sequence[tuple[Any, ...]], kind: str) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Field arrays (and null masks) for pyogrio, one per column."""
    data: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    for i, col in enumerate(COLUMNS):
        values = [row[i] for row in chunk]
        if col.kind == "int":
            data.append(np.array([0 if v is None else v for v in values], dtype=np.int32))
            masks.append(np.array([v is None for v in values], dtype=bool))
        elif col.kind == "float":
            data.append(np.array([np.nan if v is None else v for v in values], dtype=np.float64))
            masks.append(None)
        elif col.kind == "date":
            dates = np.array(values, dtype="datetime64[D]")  # None becomes NaT
            data.append(dates)
            masks.append(np.isnat(dates))
        else:
            if kind == "shp":
                values = [None if v is None else _dbf_text(v) for v in values]
            data.append(np.array(values, dtype=object))
            masks.append(None)
    return data, masks


def _dbf_text(value: str) -> str:
    """Text cut to what a dBASE field holds (254 bytes of UTF-8), on a character boundary."""
    raw = value.encode("utf-8")
    if len(raw) <= _DBF_BYTES:
        return value
    return raw[: _DBF_BYTES - 3].decode("utf-8", errors="ignore") + "…"


_LON, _LAT = COLUMN_NAMES.index("lon"), COLUMN_NAMES.index("lat")


def _points(chunk: Sequence[tuple[Any, ...]]) -> np.ndarray:
    import shapely

    lon = np.array([row[_LON] for row in chunk], dtype=np.float64)
    lat = np.array([row[_LAT] for row in chunk], dtype=np.float64)
    return np.asarray(shapely.to_wkb(shapely.points(lon, lat)), dtype=object)


def _write_ogr(session: Session, query: RegisterQuery, path: Path, kind: str, note: Progress) -> int:
    import pyogrio.raw

    options = _ogr_options(kind, query)
    target = path
    if kind == "shp":  # a folder of .shp/.shx/.dbf/.prj/.cpg, zipped at the end
        _remove(path)
        target = path.with_suffix("")
        target.mkdir()
        target = target / f"{LAYER}.shp"
    else:
        _remove(path)
    fields = [SHP_NAMES[c.name] if kind == "shp" else c.name for c in COLUMNS]
    written = 0
    pending: list[tuple[Any, ...]] = []

    def write(rows: Sequence[tuple[Any, ...]], append: bool) -> None:
        data, masks = _columns(rows, kind)
        with _gdal_stamp(query):
            pyogrio.raw.write(str(target), _points(rows), data, fields, field_mask=masks, layer=LAYER,
                              driver=_DRIVERS[kind], geometry_type="Point", crs=f"EPSG:{query.crs}", encoding="UTF-8"
                              if kind == "shp" else None, append=append, **options)  # fmt: skip

    flushed = 0
    for chunk in iter_chunks(session, query):
        pending.extend(chunk)
        written += len(chunk)
        if kind in _APPENDS and len(pending) >= APPEND_ROWS:
            write(pending, append=flushed > 0)
            flushed += len(pending)
            pending = []
        note("reading", written, query.upper_bound)
    if pending or flushed == 0:
        write(pending, append=flushed > 0)  # an empty register is still a layer with its fields
    if kind == "shp":
        _zip_folder(target.parent, path)
        _remove(target.parent)
    return written


def _ogr_options(kind: str, query: RegisterQuery) -> dict[str, Any]:
    if kind == "gpkg":
        # GeoPackage 1.3: GDAL 3.6 (Debian 12) and QGIS read it without a warning, as they do not all for 1.4
        return {"dataset_options": {"VERSION": "1.3"}, "layer_options": {"SPATIAL_INDEX": "YES"}}
    if kind == "shp":
        return {"layer_options": {"DBF_DATE_LAST_UPDATE": query.as_of.isoformat(), "RESIZE": "YES"}}
    if kind == "geojson":
        return {"layer_options": {"WRITE_BBOX": "NO", "COORDINATE_PRECISION": "7"}}
    if kind == "kml":
        return {"dataset_options": {"NameField": "name", "DescriptionField": "national_code"}}
    if kind == "fgb":
        return {"layer_options": {"SPATIAL_INDEX": "YES"}}
    return {}


@contextmanager
def _gdal_stamp(query: RegisterQuery) -> Iterator[None]:
    """GeoPackage timestamps are the as-of day, not the time of writing (GDAL's ``OGR_CURRENT_DATE``)."""
    import pyogrio

    stamp = datetime.combine(query.as_of, time(0, 0)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def _zip_folder(folder: Path, out: Path) -> None:
    """Zip a Shapefile's parts (and the field-name mapping) with fixed entry dates, in a fixed order."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(folder.iterdir()):
            info = zipfile.ZipInfo(part.name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, part.read_bytes())
        info = zipfile.ZipInfo("FIELDS.csv", date_time=ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, shapefile_field_table().encode("utf-8-sig"))


def shapefile_field_table() -> str:
    """The documented mapping of register fields to Shapefile field names (≤ 10 characters), as CSV."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(["shapefile_field", "register_field", "label_zh", "label_en"])
    for c in COLUMNS:
        out.writerow([c.shp, c.name, c.zh, c.en])
    return buffer.getvalue()


# -- XLSX for people -------------------------------------------------------------------------------------------
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def _sheet_title(name: str, taken: set[str]) -> str:
    base = _SHEET_BAD.sub("_", name).strip("'")[:28] or "-"
    title, n = base, 2
    while title in taken:
        title, n = f"{base} ({n})", n + 1
    taken.add(title)
    return title


def _write_xlsx(session: Session, query: RegisterQuery, path: Path, note: Progress, by: str) -> int:
    """A workbook: a summary sheet first, one sheet per basin (or per 一级 type), and a sheet explaining the
    columns and codes; bold frozen header with filters, set widths, numbers as numbers and dates as dates.

    openpyxl writes the workbook, the styles and each sheet's header, panes, widths and filter; the data rows,
    which are nearly all of the work, are serialised here (about ten times faster than openpyxl's cells) to a
    file per sheet and spliced into the sheets' XML when the package is rewritten with fixed dates.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    taken: set[str] = set()
    summary = wb.create_sheet(_sheet_title("汇总", taken))
    group_index = COLUMN_NAMES.index("basin" if by == "basin" else "type1")
    status_index = COLUMN_NAMES.index("status")
    last_col = get_column_letter(len(COLUMNS))
    counts: dict[str, dict[str, int]] = {}
    bodies: dict[int, tuple[Path, int]] = {}  # sheet number (1-based, workbook order) -> (rows file, rows)
    work = Path(tempfile.mkdtemp(prefix=".rows-", dir=path.parent))
    current: Any = None
    current_group: str | None = None
    current_rows = 0
    rows_out: Any = None
    writer = _RowWriter()

    def open_sheet(group: str) -> Any:
        nonlocal rows_out
        ws = wb.create_sheet(_sheet_title(group, taken))
        for i, col in enumerate(COLUMNS, start=1):
            ws.column_dimensions[get_column_letter(i)].width = col.width
        ws.freeze_panes = "C2"
        cells = []
        for col in COLUMNS:
            cell = WriteOnlyCell(ws, value=col.zh)
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cells.append(cell)
        ws.append(cells)
        rows_out = (work / f"{len(wb.worksheets)}.xml").open("w", encoding="utf-8")
        return ws

    def close() -> None:
        current.auto_filter.ref = f"A1:{last_col}{current_rows + 1}"
        rows_out.close()
        bodies[len(wb.worksheets)] = (Path(rows_out.name), current_rows)

    written = 0
    try:
        for chunk in iter_chunks(session, query):
            for row in chunk:
                group = row[group_index] or (NO_BASIN if by == "basin" else "未分类")
                if group != current_group or current_rows >= XLSX_MAX_ROWS:
                    if current is not None:
                        close()
                    current, current_group, current_rows = open_sheet(group), group, 0
                current_rows += 1
                rows_out.write(writer.row(current_rows + 1, row))
                by_status = counts.setdefault(group, {})
                by_status[row[status_index]] = by_status.get(row[status_index], 0) + 1
            written += len(chunk)
            note("writing", written, query.upper_bound)
        if current is None:
            current = open_sheet(NO_BASIN if by == "basin" else "未分类")
        close()
        _summary_sheet(summary, query, counts, by, bold)
        _columns_sheet(wb.create_sheet(_sheet_title("字段说明", taken)), bold)
        wb.properties.creator = "outfalls"
        wb.properties.title = f"入河排污口名录 {query.as_of.isoformat()}"
        stamp = datetime.combine(query.as_of, time(0, 0))
        wb.properties.created = stamp
        wb.save(path)
        _finish_xlsx(path, stamp, bodies)
    finally:
        if rows_out is not None:
            rows_out.close()
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    return written


_EXCEL_EPOCH = date(1899, 12, 30)  # day 0 of Excel's 1900 date system (with its 1900 leap-year quirk, after March)
_DATE_STYLE = "\x00DS\x00"  # stands for the date cell style's index until the styles are written
_NOT_XML = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


class _RowWriter:
    """Spreadsheet rows as SpreadsheetML text: numbers as numbers, dates as date serials in the date style,
    text as inline strings; empty cells are left out.
    """

    def __init__(self) -> None:
        from openpyxl.utils import get_column_letter

        self.cells = [(get_column_letter(i), c.kind) for i, c in enumerate(COLUMNS, start=1)]

    def row(self, n: int, values: Sequence[Any]) -> str:
        """Row ``n`` (1-based) holding ``values`` in ``COLUMNS`` order."""
        out = [f'<row r="{n}">']
        for (letter, kind), v in zip(self.cells, values, strict=True):
            if v is None:
                continue
            if kind == "str":
                text = str(v).translate(_NOT_XML).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                out.append(f'<c r="{letter}{n}" t="inlineStr"><is><t>{text}</t></is></c>')
            elif kind == "date":
                out.append(f'<c r="{letter}{n}" s="{_DATE_STYLE}"><v>{(v - _EXCEL_EPOCH).days}</v></c>')
            else:
                out.append(f'<c r="{letter}{n}"><v>{v!r}</v></c>')
        out.append("</row>\n")
        return "".join(out)


def _summary_sheet(ws: Any, query: RegisterQuery, counts: dict[str, dict[str, int]], by: str, bold: Any) -> None:
    from openpyxl.cell import WriteOnlyCell

    def strong(value: Any) -> Any:
        cell = WriteOnlyCell(ws, value=value)
        cell.font = bold
        return cell

    ws.column_dimensions["A"].width = 24
    for letter in "BCDEFGHIJ":
        ws.column_dimensions[letter].width = 10
    ws.append([strong("入河排污口名录 / Outfall register")])
    ws.append(["截至日期 / As of", query.as_of])
    ws.append(["范围 / Scope", query.scope])
    ws.append(["坐标系 / CRS", f"EPSG:{query.crs}"])
    ws.append(["分表 / Sheets by", "流域 / basin" if by == "basin" else "一级分类 / type"])
    ws.append([])
    states = [s for s in STATUS_ZH if s not in ("rejected", "merged")]
    head = "流域" if by == "basin" else "一级分类"
    ws.append([strong(head), strong("合计"), *(strong(STATUS_ZH[s]) for s in states)])
    total = dict.fromkeys(states, 0)
    for group, by_status in counts.items():
        ws.append([group, sum(by_status.values()), *(by_status.get(s, 0) for s in states)])
        for s in states:
            total[s] += by_status.get(s, 0)
    ws.append([strong("合计"), sum(total.values()), *(total[s] for s in states)])
    ws.freeze_panes = "A8"


def _columns_sheet(ws: Any, bold: Any) -> None:
    from openpyxl.cell import WriteOnlyCell

    for letter, width in zip("ABCDE", (26, 22, 26, 12, 60), strict=True):
        ws.column_dimensions[letter].width = width
    ws.append([WriteOnlyCell(ws, value=v) for v in ("字段 / field", "列名", "Column", "Shapefile", "说明 / about")])
    for c in COLUMNS:
        ws.append([c.name, c.zh, c.en, c.shp, c.about])
    ws.append([])
    ws.append(["代码 / codes", "代码", "含义"])
    for field, labels in CODE_LISTS:
        for code, label in labels.items():
            ws.append([field, code, label])
    ws.freeze_panes = "A2"


def _finish_xlsx(path: Path, stamp: datetime, bodies: dict[int, tuple[Path, int]]) -> None:
    """Rewrite the .xlsx: the data rows spliced into their sheets, fixed entry dates and the as-of day as its
    modification time, so that the same register gives the same bytes (openpyxl stamps both with the time of
    writing).
    """
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    styles = next(data for info, data in entries if info.filename == "xl/styles.xml").decode("utf-8")
    date_style = _date_style_index(styles)
    last_col = _column_letter(len(COLUMNS))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(<)", rb"\g<1>" + iso.encode() + rb"\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            sheet = re.fullmatch(r"xl/worksheets/sheet(\d+)\.xml", info.filename)
            body = bodies.get(int(sheet.group(1))) if sheet else None
            if body is None:
                out.writestr(fixed, data)
                continue
            rows_file, rows = body
            text = data.decode("utf-8")
            text = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last_col}{rows + 1}"/>', text, count=1)
            head, tail = text.split("</sheetData>", 1)
            large = rows_file.stat().st_size > 1 << 30
            with out.open(fixed, "w", force_zip64=large) as entry, rows_file.open(encoding="utf-8") as lines:
                entry.write(head.encode("utf-8"))
                for line in lines:
                    entry.write(line.replace(_DATE_STYLE, date_style).encode("utf-8"))
                entry.write(("</sheetData>" + tail).encode("utf-8"))


def _date_style_index(styles: str) -> str:
    """The index of the first cell style formatting dates as yyyy-mm-dd (the summary sheet's as-of cell has it)."""
    fmt = re.search(r'<numFmt numFmtId="(\d+)" formatCode="yyyy-mm-dd"\s*/>', styles)
    xfs = re.search(r"<cellXfs[^>]*>(.*?)</cellXfs>", styles, flags=re.S)
    if fmt is None or xfs is None:  # pragma: no cover - openpyxl always writes the summary's date style
        raise RuntimeError("the workbook has no date style")
    for i, xf in enumerate(re.findall(r"<xf\b[^>]*>", xfs.group(1))):
        if f'numFmtId="{fmt.group(1)}"' in xf:
            return str(i)
    raise RuntimeError("the workbook has no date style")  # pragma: no cover


def _column_letter(n: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(n))
