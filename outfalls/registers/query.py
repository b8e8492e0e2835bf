"""A register's rows as one set-based SQL statement (the state of every outfall of a scope at the end of a
day, replayed from the events), the checks of what an export is asked for, and the rows read in chunks through
a server-side cursor.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from outfalls import clock
from outfalls.catalogue import transitions
from outfalls.catalogue.queries import OutfallFilter, filter_conditions
from outfalls.errors import InvalidInput
from outfalls.models import Outfall
from outfalls.registers.columns import (
    COLUMN_NAMES,
    DISCHARGE_ZH,
    FOUND_BY_ZH,
    FOUND_LEVEL,
    PROVENANCE_ZH,
    REMEDIATION_ZH,
    STATUS_ZH,
    STEP_ZH,
)
from outfalls.scope import Scope

Format = Literal["xlsx", "csv", "gpkg", "shp", "geojson", "kml", "fgb", "html"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv", "gpkg", "shp", "geojson", "kml", "fgb", "html")
CRS_CODES = (4490, 4326)
GROUPINGS = ("basin", "type")
CHUNK_ROWS = 20_000


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


# The state each state-changing event leads to (generated from transitions.TRANSITIONS): each determines the
# state after it, so the state on a day is the one the last of them (in recording order) led to, and it holds
# since the last event that changed it — the same replay as catalogue.state.state_as_of, for a whole catalogue
# in one pass.
_STATE_OF_EVENT = transitions.state_of_event_sql("e.kind", "e.payload")

_SQL = """WITH scoped AS MATERIALIZED ({scoped}),
ev AS (
  SELECT e.outfall_id, e.id, e.kind, e.payload, {event_day} AS day,
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
  SELECT DISTINCT ON (v.outfall_id) v.outfall_id, v.id, {event_day} AS day,
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
    cutoff = clock.end_of_day(day)
    sql = _SQL.format(
        scoped=scoped_sql,
        cutoff=f"TIMESTAMPTZ {_lit(cutoff.isoformat())}",
        state_of_event=_STATE_OF_EVENT,
        event_day=transitions.event_day_sql("e.effective_at"),
        nat_src=_label("o.national_code_provenance", PROVENANCE_ZH),
        loc_src=_label("o.local_code_provenance", PROVENANCE_ZH),
        name_src=_label("o.name_provenance", PROVENANCE_ZH),
        crs_text=_lit(f"EPSG:{srid}"),
        found_level="CASE o.found_by " + " ".join(f"WHEN {_lit(k)} THEN {v}" for k, v in FOUND_LEVEL.items()) + " END",
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


def raw_connection(session: Session) -> Any:
    """The psycopg connection under the session's transaction (server-side cursors, ``COPY``)."""
    return session.connection().connection.driver_connection


def iter_chunks(session: Session, query: RegisterQuery, size: int = CHUNK_ROWS) -> Iterator[list[tuple[Any, ...]]]:
    """The register's rows in chunks, read through a server-side cursor on the session's transaction."""
    raw = raw_connection(session)
    with raw.cursor(name=f"register_{os.getpid()}_{id(query)}") as cursor:
        cursor.itersize = size
        cursor.execute(query.sql)
        while rows := cursor.fetchmany(size):
            yield rows


def register_rows(session: Session, **kw: Any) -> list[dict[str, Any]]:
    """Every row of a register as a dict (small registers and tests; ``register_query`` arguments)."""
    query = register_query(session, **kw)
    return [dict(zip(COLUMN_NAMES, row, strict=True)) for chunk in iter_chunks(session, query) for row in chunk]
