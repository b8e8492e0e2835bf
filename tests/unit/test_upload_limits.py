"""Survey files crafted or careless enough to exhaust the server are read in bounded time or refused, naming the
``[upload]`` limit they exceed; malformed values and names get a clear error, never a crash."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from outfalls.config import RegionSettings, UploadSettings, load_settings
from outfalls.survey.mapping import ColumnMapping
from outfalls.survey.readers import UnusableFile, read_path, read_upload
from outfalls.survey.validate import TypeResolver, validate

CHINA = RegionSettings(bbox=(73.5, 18.0, 135.1, 53.6), outlier_km=150.0)
LIMITS = UploadSettings()
BOUND_S = 5.0


def _csv(rows: list[list[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def _rows(n: int) -> list[list[object]]:
    return [["编号", "经度", "纬度"], *([f"r{i}", 108.9 + i * 1e-6, 34.4] for i in range(n))]


class Clock:
    """Seconds spent in the ``with`` block."""

    def __enter__(self) -> Clock:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def _xlsx(rows: list[list[object]], *, dimension: str | None = None) -> bytes:
    """A workbook written by openpyxl; ``dimension`` replaces the sheet's ``<dimension ref>`` (a lying one)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    if dimension is None:
        return buffer.getvalue()
    patched = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with source as src, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="' + dimension.encode() + b'"', data)
                assert dimension.encode() in data
            z.writestr(info, data)
    return patched.getvalue()


def test_the_limits_default_to_config_toml() -> None:
    settings = load_settings(env={})
    assert settings.upload == UploadSettings()
    assert settings.upload.max_bytes == 200 * 1024 * 1024 and settings.upload.max_columns == 500
    assert settings.reconcile.review_radius_m >= settings.reconcile.radius_m


def test_a_workbook_whose_dimension_lies_is_read_as_it_is_in_bounded_time() -> None:
    rows = [["编号", "经度", "纬度"], *([f"x{i}", 108.9, 34.4] for i in range(1000))]
    data = _xlsx(rows, dimension="A1:XFD1048576")
    assert len(data) < 40_000
    with Clock() as spent:
        table = read_upload(data, "lying.xlsx", limits=LIMITS)
    assert spent.seconds < BOUND_S
    assert table.columns == ["编号", "经度", "纬度"] and len(table.rows) == 1000
    assert table.rows[-1] == {"编号": "x999", "经度": 108.9, "纬度": 34.4}


def test_a_workbook_wider_than_the_column_limit_is_refused_naming_it() -> None:
    wide = [[f"c{i}" for i in range(30)], [1] * 30]
    with Clock() as spent, pytest.raises(UnusableFile, match=r"at most 20 columns \(\[upload\] max_columns\)"):
        read_upload(_xlsx(wide), "wide.xlsx", limits=replace(LIMITS, max_columns=20))
    assert spent.seconds < BOUND_S
    # a value far to the right of a narrow header: refused as well, without padding every row to it
    far = [["编号", "经度", "纬度"], *([f"x{i}", 108.9, 34.4] for i in range(200))]
    far[5] = [*far[5], *([None] * 16000), "stray"]
    with Clock() as spent, pytest.raises(UnusableFile, match="max_columns"):
        read_upload(_xlsx(far), "far.xlsx", limits=LIMITS)
    assert spent.seconds < BOUND_S


def test_repeated_header_names_cost_linear_time() -> None:
    header = ["c"] * 1600
    data = _csv([header, [str(i) for i in range(1600)]])
    with Clock() as spent, pytest.raises(UnusableFile, match=r"1600 columns.*at most 500"):
        read_upload(data, "many.csv", limits=LIMITS)
    assert spent.seconds < BOUND_S
    wide = replace(LIMITS, max_columns=20_000)
    data = _csv([["c"] * 16_000, [str(i) for i in range(16_000)]])
    with Clock() as spent:
        table = read_upload(data, "many.csv", limits=wide)
    assert spent.seconds < BOUND_S
    assert table.columns[:3] == ["c", "c_2", "c_3"] and len(set(table.columns)) == 16_000
    assert read_upload(_csv([["a", "a_2", "a", ""], [1, 2, 3, 4]]), "x.csv").columns == ["a", "a_2", "a_3", "column_4"]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_it_fills_the_disk() -> None:
    bomb = _zip({"crew.csv": _csv(_rows(2)), "padding.bin": b"\0" * (64 * 1024 * 1024)})
    assert len(bomb) < 200_000
    small = replace(LIMITS, max_unpacked_bytes=8 * 1024 * 1024)
    with Clock() as spent, pytest.raises(UnusableFile, match=r"8 MB.*\[upload\] max_unpacked_bytes"):
        read_upload(bomb, "bomb.zip", limits=small)
    assert spent.seconds < BOUND_S
    many = _zip({"crew.csv": _csv(_rows(2)), **{f"p/{i}.bin": b"x" for i in range(60)}})
    with pytest.raises(UnusableFile, match=r"61 files.*at most 50 \(\[upload\] max_members\)"):
        read_upload(many, "many.zip", limits=replace(LIMITS, max_members=50))
    assert len(read_upload(many, "many.zip", limits=LIMITS).rows) == 2


def test_a_zip_whose_headers_understate_its_sizes_is_still_bounded() -> None:
    honest = _zip({"crew.csv": _csv(_rows(2)), "padding.bin": b"\0" * (16 * 1024 * 1024)})
    # claim 1 KB for the padding in both headers: unpacking must count what it writes, not what it is told
    lying = bytearray(honest)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (at := lying.find(signature, start)) >= 0:
            name_len = int.from_bytes(lying[at + (26 if signature == b"PK\x03\x04" else 28) :][:2], "little")
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if bytes(lying[name_at : name_at + name_len]) == b"padding.bin":
                lying[at + offset : at + offset + 4] = (1024).to_bytes(4, "little")
            start = at + 4
    small = replace(LIMITS, max_unpacked_bytes=4 * 1024 * 1024)
    with Clock() as spent, pytest.raises(UnusableFile):
        read_upload(bytes(lying), "lying.zip", limits=small)
    assert spent.seconds < BOUND_S


def test_a_table_over_the_row_limit_is_refused_and_a_preview_reads_only_its_first_rows() -> None:
    with pytest.raises(UnusableFile, match=r"more than 100 rows \(\[upload\] max_rows\)"):
        read_upload(_csv(_rows(101)), "big.csv", limits=replace(LIMITS, max_rows=100))
    assert len(read_upload(_csv(_rows(100)), "big.csv", limits=replace(LIMITS, max_rows=100)).rows) == 100
    big = _zip({"crew.csv": _csv(_rows(400_000))})
    with Clock() as spent:
        preview = read_upload(big, "big.zip", limits=LIMITS, preview_rows=1000)
    assert spent.seconds < BOUND_S
    assert len(preview.rows) == 1000 and preview.is_partial and preview.row_numbers[-1] == 1001
    assert not read_upload(_csv(_rows(5)), "small.csv", limits=LIMITS, preview_rows=1000).is_partial
    sheet = _xlsx(_rows(3000))
    with Clock() as spent:
        preview = read_upload(sheet, "big.xlsx", limits=LIMITS, preview_rows=100)
    assert spent.seconds < BOUND_S and len(preview.rows) == 100 and preview.is_partial
    with pytest.raises(UnusableFile, match="max_rows"):
        read_upload(sheet, "big.xlsx", limits=replace(LIMITS, max_rows=2000))


def test_a_gis_file_over_the_row_limit_is_refused_and_previewed_in_part(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    frame = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(50)]},
                             geometry=[Point(108.9 + i * 1e-4, 34.4) for i in range(50)], crs="EPSG:4326")  # fmt: skip
    path = tmp_path / "crew.gpkg"
    frame.to_file(path, driver="GPKG")
    with pytest.raises(UnusableFile, match="max_rows"):
        read_path(path, path.name, limits=replace(LIMITS, max_rows=20))
    preview = read_path(path, path.name, limits=LIMITS, preview_rows=10)
    assert len(preview.rows) == 10 and preview.is_partial and len(preview.points or []) == 10


def test_a_cell_over_the_character_limit_is_refused_naming_it() -> None:
    data = _csv([["编号", "经度", "纬度", "备注"], ["a", 108.9, 34.4, "长" * 120]])
    with pytest.raises(UnusableFile, match=r"row 2.*备注.*at most 100 characters \(\[upload\] max_cell_chars\)"):
        read_upload(data, "long.csv", limits=replace(LIMITS, max_cell_chars=100))
    huge = _csv([["编号", "备注"], ["a", "x" * 200_000]])  # beyond what the CSV parser takes at all
    with pytest.raises(UnusableFile, match="max_cell_chars"):
        read_upload(huge, "huge.csv", limits=LIMITS)


def test_a_file_over_the_size_limit_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "crew.csv"
    path.write_bytes(_csv(_rows(2000)))
    with pytest.raises(UnusableFile, match=r"at most 0\.01 MB \(\[upload\] max_bytes\)"):
        read_path(path, path.name, limits=replace(LIMITS, max_bytes=10_000))
    with pytest.raises(UnusableFile, match="max_bytes"):
        read_upload(path.read_bytes(), "crew.csv", limits=replace(LIMITS, max_bytes=10_000))


def test_file_names_too_long_or_with_control_characters_are_refused() -> None:
    data = _csv(_rows(2))
    with pytest.raises(UnusableFile, match="255 bytes") as long_name:
        read_upload(data, "排" * 100 + ".csv")
    assert long_name.value.params["field"] == "file"
    with pytest.raises(UnusableFile, match="control character"):
        read_upload(data, "crew\x00.csv")
    assert len(read_upload(data, "排" * 80 + ".csv").rows) == 2  # 244 bytes: fine
    inner = _zip({"排" * 100 + ".csv": data})
    with pytest.raises(UnusableFile, match="255 bytes"):
        read_upload(inner, "bundle.zip")


def _check(table):
    return validate(table, ColumnMapping.build(table.columns), crs=None if table.points else "wgs84", region=CHINA,
                    types=TypeResolver([]))  # fmt: skip


def test_a_nul_character_in_a_value_rejects_its_row_with_a_clear_error() -> None:
    header = ["记录编号", "排污口名称", "经度", "纬度"]
    data = _csv([header, ["a", "西岸\x001号", 108.9, 34.4], ["b", "西岸2号", 108.91, 34.4]])
    result = _check(read_upload(data, "nul.csv"))
    assert [r.client_id for r in result.rows] == ["b"]
    [problem] = result.rejected
    assert (problem.row, problem.field, problem.code) == (2, "排污口名称", "nul_character")
    header = _csv([["编号", "名\x00称", "经度", "纬度"], ["a", "甲", 108.9, 34.4]])
    assert read_upload(header, "h.csv").columns == ["编号", "名称", "经度", "纬度"]  # a NUL in a name is dropped


GPX_WAYPOINTS = b"""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="a field app" xmlns="http://www.topografix.com/GPX/1/1">
  <wpt lat="34.39" lon="108.97"><name>\xe5\x8f\xa31</name></wpt>
  <wpt lat="34.395" lon="108.98"><name>\xe5\x8f\xa32</name><desc>brick culvert</desc></wpt>
</gpx>
"""


def test_gpx_waypoints_without_time_are_read_with_time_unknown() -> None:
    table = read_upload(GPX_WAYPOINTS, "wpt.gpx")
    assert [r["name"] for r in table.rows] == ["口1", "口2"] and all(r["time"] is None for r in table.rows)
    result = _check(table)
    assert result.rejected == [] and [r.captured_at for r in result.rows] == [None, None]
    assert [r.name for r in result.rows] == ["口1", "口2"]
