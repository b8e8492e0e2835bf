"""Accepted rows are stored as observations exactly as validated, whatever characters their values hold: the
client id, author, time, original and CGCS2000 coordinates and attributes come back unchanged, and each row's
observation is the one linked to the outfall made from it."""

from __future__ import annotations

from datetime import date

import pytest
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls.config import Settings
from outfalls.models import Observation, ObservationLink, Outfall
from outfalls.survey.intake import import_table, type_resolver
from outfalls.survey.mapping import ColumnMapping
from outfalls.survey.readers import RawTable
from outfalls.survey.validate import validate

AWKWARD = ["tab\there", "line\nbreak", "carriage\rreturn", "back\\slash", "\\N", "quote \"q\" and 'a'", "\\\\",
           "引号“中”文\\t", "ends with backslash\\", "{\"json\": [1, 2]}", "", "é ü ß 𝔘"]  # fmt: skip


def _table() -> RawTable:
    rows = []
    for i, odd in enumerate(AWKWARD):
        when = f"2024-05-{i + 1:02d} 09:3{i % 10}:15" if i % 3 else None
        rows.append({"id": f"r{i}-{odd}" if odd.strip() else f"r{i}", "名称": f"排口{i} {odd}",
                     "lon": f"{108.90 + i * 0.01:.7f}", "lat": f"{34.40 + i * 0.003:.7f}", "备注": odd or None,
                     "调查人员": odd if i % 2 else None, "调查时间": when})  # fmt: skip
    return RawTable(source="odd.csv", columns=list(rows[0]), rows=rows, row_numbers=list(range(2, len(rows) + 2)))


def test_stored_observations_hold_the_validated_rows_unchanged(session: Session, settings: Settings) -> None:
    table = _table()
    mapping = {"client_id": "id", "name": "名称", "surveyor": "调查人员", "surveyed_at": "调查时间"}
    report = import_table(session, table, settings=settings, actor="crew1", crew="crew \\ one", crs="wgs84",
                          mapping=mapping)  # fmt: skip
    assert report.rejected == [] and report.accepted == len(AWKWARD)
    expected = validate(table, ColumnMapping.build(table.columns, mapping), crs="wgs84", region=settings.region,
                        types=type_resolver(session), today=date(2026, 1, 1)).rows  # fmt: skip
    of_batch = select(Observation).where(Observation.batch_id == report.batch_id)
    stored = {o.client_id: o for o in session.scalars(of_batch)}
    assert sorted(stored) == sorted(r.client_id for r in expected)
    for row in expected:
        o = stored[row.client_id]
        assert o.author == (row.surveyor or "crew \\ one")
        assert o.captured_at == row.captured_at
        assert (o.orig_x, o.orig_y, o.orig_crs) == (row.x, row.y, "EPSG:4326")
        point = to_shape(o.geom)
        assert (point.x, point.y) == (row.lon, row.lat)
        assert o.attributes == row.attributes
    ours = ObservationLink.observation_id.in_([o.id for o in stored.values()])
    links = select(ObservationLink.observation_id, Outfall.name).join(Outfall).where(ours)
    names = dict(session.execute(links).all())
    assert {stored[r.client_id].id: r.name for r in expected} == names
    assert len(names) == report.new_outfalls == len(AWKWARD)


@pytest.mark.parametrize("rows", [1, 3])
def test_a_small_batch_is_stored_too(session: Session, settings: Settings, rows: int) -> None:
    table = _table()
    table.rows, table.row_numbers = table.rows[:rows], table.row_numbers[:rows]
    report = import_table(session, table, settings=settings, actor="crew1", crs="wgs84",
                          mapping={"client_id": "id"})  # fmt: skip
    assert report.accepted == rows
    assert len(list(session.scalars(select(Observation.id).where(Observation.batch_id == report.batch_id)))) == rows
