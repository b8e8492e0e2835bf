"""Every outcome of validation on a mixed file of good and defective rows, compared with the outcomes the
row-by-row validation gave (``validate_outcomes.json``): the same rows kept with the same values, the same
problems with the same row, field, code, message and parameters, in the same order. Text tables (a CSV), tables
with typed cells (a workbook: numbers, dates, booleans) and a GIS layer's points are covered.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from outfalls.config import RegionSettings
from outfalls.survey.mapping import ColumnMapping
from outfalls.survey.readers import RawTable
from outfalls.survey.validate import Validation, validate
from tests.unit.test_survey_validate import TODAY, TYPES  # the same code lists and day as the unit tests

EXPECTED = Path(__file__).with_name("validate_outcomes.json")
SHAANXI = RegionSettings(bbox=(105.4, 31.6, 111.3, 39.6), outlier_km=150.0)
COLUMNS = ["记录编号", "排污口名称", "排污口编码", "排口编号", "经度", "纬度", "排口类型", "排入水体", "乡镇",
           "调查时间", "调查人员", "照片", "备注"]  # fmt: skip


def _good(rng: random.Random, i: int) -> list[Any]:
    lon, lat = 108.9 + rng.uniform(-0.5, 0.5), 34.3 + rng.uniform(-0.5, 0.5)
    kind = rng.choice(["4.8", "城镇雨洪排口", "SX2020:4", "雨洪排口", "1.1.1", "水泥管", "", "4.0", "other outlet"])
    when = rng.choice([f"2023-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 09:3{rng.randint(0, 9)}:00", "2023/5/6",
                       "2023年5月6日", "2023-05-06T10:00:00+08:00", "20230506", "", "2023-05-06 10:00"])  # fmt: skip
    code = f"61011{i:015d}" if rng.random() < 0.2 else ""
    return [f"uuid:{i:08x}" if rng.random() < 0.9 else "", f"雁塔区渭河左岸{i}#雨洪排口", code, f"YT-{i}", f"{lon:.6f}",
            f"{lat:.6f}", kind, "渭河", "鱼化寨街道" if i % 3 else "", when, f"渭南市排查组-{i % 7}",
            rng.choice(["", f"IMG_{i}.jpg", f"DCIM/IMG_{i}.jpg; IMG_{i}b.jpg"]),
            rng.choice(["", "NA", "正常排放"])]  # fmt: skip


def _text_rows() -> list[list[Any]]:
    rng = random.Random(7)
    rows = [_good(rng, i) for i in range(160)]
    defects: list[tuple[int, int, Any]] = [
        (3, 4, ""), (5, 5, ""), (7, 4, "abc"), (9, 5, "34.2.1"), (11, 4, "108°57'30.5\"E"), (13, 5, "北纬34度24分36秒"),
        (15, 4, "108,95"), (17, 4, "34.25"), (17, 5, "108.95"), (19, 4, "-108.95"), (21, 5, "-34.3"),
        (23, 4, "12.5"), (25, 4, "118.95"), (27, 4, "500"), (29, 5, "95.1"), (31, 4, "108°75'E"),
        (33, 9, "2023-02-30"), (35, 9, "2030-01-01"), (37, 9, "1985-06-01"), (39, 9, "yesterday"),
        (41, 0, "uuid:00000001"), (43, 1, "x" * 300), (45, 2, "6" * 41), (47, 0, "i" * 129), (49, 12, "bad\x00cell"),
        (51, 1, "名\x00称"), (53, 7, "河" * 130), (55, 3, "b" * 65), (57, 4, "  108.9  "), (59, 4, "inf"),
        (61, 5, "nan"), (63, 4, "１０８.９"), (65, 4, "E108 57 30"), (67, 5, "N34 24.6"), (69, 6, "不明"),
        (71, 9, "2023-13-01"), (73, 8, "镇" * 10), (75, 4, "108.9e0"), (77, 5, "3.43e1"), (79, 4, "1_08.9"),
    ]  # fmt: skip
    for i, column, value in defects:
        rows[i][column] = value
    rows[100] = list(rows[99])  # a row sent twice
    rows[102] = list(rows[101])
    rows[102][0] = ""  # the same content without its id: another row
    rows[104] = [*rows[103][:12], "其他备注"]  # the same id with other values
    rows[106] = list(rows[103])
    rows[108][2] = rows[107][2] = "61011000000000000999"  # one national code twice (the intake refuses it)
    rows[110][4], rows[110][5] = "108.900001", "34.300001"
    rows[111][4], rows[111][5] = "108.900002", "34.300001"  # two rows a few centimetres apart
    rows[113][4], rows[113][5] = "110.95", "38.9"  # inside the region, far from the rest
    rows[115][4], rows[115][5] = "34.3", "-108.9"
    return rows


def _typed_rows() -> list[list[Any]]:
    rows: list[list[Any]] = []
    for row in _text_rows()[:60]:
        typed: list[Any] = list(row)
        for c in (4, 5):
            try:
                typed[c] = float(row[c])
            except ValueError:
                pass
        typed[3] = 17 if row[3].endswith("7") else row[3]
        if row[9].startswith("2023-0") and len(row[9]) == 19:
            typed[9] = datetime.fromisoformat(row[9])
        rows.append(typed)
    rows[2][9] = date(2023, 4, 5)
    rows[4][9] = 45000.5  # an Excel serial day
    rows[6][9] = 1000
    rows[8][4] = True
    rows[10][1] = 12.0
    rows[12][12] = float("nan")
    rows[14][0] = 1234.0
    rows[16][2] = 6101100000000000017
    rows[18] = list(rows[20])
    return rows


def _table(rows: list[list[Any]], source: str) -> RawTable:
    kept = [{c: (None if v == "" else v) for c, v in zip(COLUMNS, row, strict=True)} for row in rows]
    return RawTable(source=source, columns=list(COLUMNS), rows=kept, row_numbers=[i + 2 for i in range(len(rows))])


def _gis_table() -> RawTable:
    rows = _text_rows()[:40]
    columns = [c for c in COLUMNS if c not in ("经度", "纬度")]
    kept = [{c: (None if v == "" else v) for c, v in zip(COLUMNS, row, strict=True) if c in columns} for row in rows]
    points: list[tuple[float, float] | None] = []
    for i, row in enumerate(rows):
        try:
            points.append(None if i in (3, 9) else (float(row[4]), float(row[5])))
        except ValueError:
            points.append(None)
    return RawTable(source="crew.gpkg", columns=columns, rows=kept, row_numbers=[i + 1 for i in range(len(rows))],
                    points=points, crs="EPSG:4490")  # fmt: skip


def _outcome(result: Validation) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime | date) else value

    rows = [{k: plain(getattr(r, k)) for k in r.__slots__} for r in result.rows]  # type: ignore[attr-defined]
    for row in rows:
        row["photo_names"] = list(row["photo_names"])
    return json.loads(json.dumps({
        "rows": rows, "rejected": [p.as_dict() for p in result.rejected],
        "warnings": [p.as_dict() for p in result.warnings], "crs": result.crs, "total": result.total,
        "notes": result.notes,
    }, ensure_ascii=False, default=str))  # fmt: skip


CASES = {
    "text": lambda: (_table(_text_rows(), "crew.csv"), "gcj02"),
    "typed": lambda: (_table(_typed_rows(), "crew.xlsx"), None),
    "gis": lambda: (_gis_table(), None),
}


def outcomes() -> dict[str, Any]:
    """The outcome of each case, as the JSON the expectations hold."""
    found = {}
    for name, make in CASES.items():
        table, crs = make()
        mapping = ColumnMapping.build(table.columns, {"client_id": "记录编号"})
        found[name] = _outcome(validate(table, mapping, crs=crs, region=SHAANXI, types=TYPES, today=TODAY))
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_a_mixed_file_has_the_outcomes_of_the_row_by_row_validation(case: str) -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))[case]
    found = outcomes()[case]
    assert found["rejected"] == expected["rejected"]
    assert found["warnings"] == expected["warnings"]
    assert found["rows"] == expected["rows"]
    assert found == expected
    assert len(found["rejected"]) > 20 or case == "gis"  # the file holds defects of every kind


if __name__ == "__main__":  # writes the expectations (only with the row-by-row validation)
    EXPECTED.write_text(json.dumps(outcomes(), ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
