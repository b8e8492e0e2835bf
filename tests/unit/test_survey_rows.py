"""Survey rows compared in memory: a row sent twice in one file is found by its values (not by hashing every
row), while a row without an id keeps the very id it was stored under before, so a file re-sent is recognised."""

from __future__ import annotations

import hashlib
import json
from datetime import date

from outfalls.config import RegionSettings
from outfalls.survey.mapping import ColumnMapping
from outfalls.survey.readers import RawTable
from outfalls.survey.validate import TypeResolver, validate

CHINA = RegionSettings(bbox=(73.5, 18.0, 135.1, 53.6), outlier_km=150.0)
TYPES = TypeResolver([("HJ1312", "4.8", "城镇雨洪排口", "Urban storm outlet")])


def _check(rows: list[dict[str, object]]):
    table = RawTable("t.csv", list(rows[0]), rows, list(range(2, len(rows) + 2)))
    return validate(table, ColumnMapping.build(table.columns), crs="wgs84", region=CHINA, types=TYPES,
                    today=date(2024, 6, 1))  # fmt: skip


def test_a_row_without_id_keeps_its_stored_content_id() -> None:
    row = {"名称": "北岸1号", "经度": "108.95", "纬度": "34.41", "调查时间": "2023-05-06", "备注": None}
    [checked] = _check([row]).rows
    stored = hashlib.sha256(json.dumps(row, ensure_ascii=False, sort_keys=True, default=str).encode())
    assert checked.client_id == "sha256:" + stored.hexdigest()[:32]


def test_rows_are_the_same_only_with_the_same_values_of_the_same_types() -> None:
    base = {"经度": 108.95, "纬度": 34.41, "名称": "a", "n": 1}
    result = _check([base, dict(base), {**base, "n": 1.5}, {**base, "n": "1"}, {**base, "n": [1, 2]},
                     {**base, "n": [1, 2]}])  # fmt: skip
    assert [(p.row, p.code, p.params.get("same_as")) for p in result.rejected] == [
        (3, "duplicate_row", 2), (7, "duplicate_row", 6)]  # fmt: skip
    assert len({r.client_id for r in result.rows}) == 4
