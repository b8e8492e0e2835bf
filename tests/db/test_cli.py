"""The command line as a user runs it: real processes, the embedded cluster, clear messages on mistakes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from outfalls.cli import main
from outfalls.db.cluster import Cluster

BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("OUTFALLS_")}


def run(
    *args: str, env: dict[str, str] | None = None, check: bool = True, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "outfalls", *args],
        input=input_text,
        capture_output=True,
        text=True,
        env={**BASE_ENV, **(env or {})},
        timeout=300,
        check=False,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"outfalls {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp folder the unprivileged server user can traverse (pytest's own base is 0700 when run as root)."""
    path = Path(tempfile.mkdtemp(prefix="ofc", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["case", "assign", "--to", "officer", "--on", "2024-13-01", "1"], "--on must be a date like 2024-06-30"),
    (["case", "plan", "--category", "ban", "--deadline", "soon", "1"], "--deadline must be a date like 2024-06-30"),
    (["case", "deadline", "2024-02-30", "1"], "the deadline is a date (YYYY-MM-DD) or 'none'"),
    (["imagery", "sortie", "S-1", "--date", "20230506"], "--date must be a date like 2024-06-30"),
    (["imagery", "ingest", "a.tif", "--captured", "May 6"], "--captured must be a date like 2024-06-30"),
])  # fmt: skip
def test_a_bad_date_names_its_option_before_anything_is_done(args: list[str], message: str) -> None:
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 1 and message in out.output and out.exception is not None
    assert isinstance(out.exception, SystemExit)


def test_help_everywhere():
    runner = CliRunner()
    for args in (
        ["--help"],
        ["db", "--help"],
        ["db", "up", "--help"],
        ["db", "status", "--help"],
        ["db", "backup", "--help"],
        ["db", "restore", "--help"],
        ["db", "psql", "--help"],
        ["db", "migrate", "--help"],
        ["db", "down", "--help"],
        ["db", "replica", "add", "--help"],
        ["db", "replica", "remove", "--help"],
        ["reference", "load", "--help"],
        ["demo", "seed", "--help"],
        ["demo", "users", "--help"],
        ["user", "add", "--help"],
        ["user", "list", "--help"],
        ["user", "passwd", "--help"],
        ["user", "disable", "--help"],
        ["token", "create", "--help"],
        ["token", "list", "--help"],
        ["token", "revoke", "--help"],
        ["outfall", "list", "--help"],
        ["outfall", "show", "--help"],
        ["case", "assign", "--help"],
        ["case", "deadline", "--help"],
        ["case", "plan", "--help"],
        ["case", "keep-list", "--help"],
        ["survey", "import", "--help"],
        ["serve", "--help"],
    ):
        out = runner.invoke(main, args)
        assert out.exit_code == 0 and "Usage:" in out.output, args
    assert "serve" in runner.invoke(main, ["--help"]).output


@pytest.fixture
def external_db(clone_db: Callable[[str], str]) -> dict[str, str]:
    return {"OUTFALLS_DATABASE_URL": clone_db("cli_external")}


def test_external_database(external_db: dict[str, str], tmp_path: Path):
    env = {**external_db, "OUTFALLS_DATA_DIR": str(tmp_path / "data")}
    status = json.loads(run("db", "status", "--json", env=env).stdout)
    assert status["running"] is True and status["embedded"] is False
    assert status["url"] == external_db["OUTFALLS_DATABASE_URL"] and status["revision"] == status["head"]
    assert status["data_dir"] == str((tmp_path / "data").resolve())
    # the template already holds the reference data: a load changes nothing and says so
    report = json.loads(run("reference", "load", "--json", env=env).stdout)
    assert report["changed"] == 0 and report["tables"]["basins"]["unchanged"] == 37
    assert "nothing changed" in run("reference", "load", env=env).stdout
    seeded = json.loads(run("demo", "seed", "--outfalls", "120", "--seed", "5", "--json", env=env).stdout)
    assert seeded["created"] == 120 and seeded["yellow_river"] + seeded["han_river"] == 120
    again = run("demo", "seed", "--outfalls", "120", env=env)
    assert "exists already" in again.stdout
    # no cluster was created for an external database
    assert not (tmp_path / "data" / "pg").exists()


def test_unreachable_database_is_a_clear_message(tmp_path: Path):
    env = {"OUTFALLS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/outfalls"}
    out = run("reference", "load", env=env, check=False)
    assert out.returncode == 1
    assert "cannot connect to the database at postgresql+psycopg://nobody@127.0.0.1:1/outfalls" in out.stderr
    no_traceback(out)
    status = json.loads(run("db", "status", "--json", env=env).stdout)
    assert status["running"] is False and "cannot connect" in status["error"]
    bad = run("reference", "load", env={"OUTFALLS_DATABASE_URL": "not a url"}, check=False)
    assert bad.returncode == 1 and "invalid database URL" in bad.stderr
    no_traceback(bad)


def test_unknown_config_key_names_it(tmp_path: Path):
    cfg = tmp_path / "site.toml"
    cfg.write_text('[map]\nbasemap = "x"\n')
    out = run("db", "status", env={"OUTFALLS_CONFIG": str(cfg)}, check=False)
    assert out.returncode == 1 and "unknown configuration key 'map.basemap'" in out.stderr
    no_traceback(out)


def test_data_dir_the_server_cannot_traverse(open_tmp: Path):
    locked = open_tmp / "locked"
    locked.mkdir(mode=0o700)
    out = run("db", "up", env={"OUTFALLS_DATA_DIR": str(locked / "data")}, check=False)
    no_traceback(out)
    if os.geteuid() == 0:
        # as root the server runs as 'postgres', who cannot enter a 0700 root folder
        assert out.returncode == 1
        assert f"cannot enter {locked}" in out.stderr and "chmod o+x" in out.stderr
    else:  # as an ordinary user the server runs as that user and can use the folder
        assert out.returncode == 0, out.stderr
        run("db", "down", env={"OUTFALLS_DATA_DIR": str(locked / "data")})


def test_port_in_use_is_a_clear_message(external_db: dict[str, str]):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = run("serve", "--port", str(port), env=external_db, check=False)
    assert out.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in out.stderr
    no_traceback(out)


def _fingerprint(cluster_env: dict[str, str]) -> str:
    sql = (
        "SELECT md5(string_agg(t, '|' ORDER BY t)) FROM ("
        " SELECT o::text AS t FROM outfalls o UNION ALL SELECT e::text FROM events e"
        " UNION ALL SELECT a.code || a.name || md5(ST_AsBinary(a.geom)) FROM admin_areas a) x"
    )
    data_dir = Path(cluster_env["OUTFALLS_DATA_DIR"])
    return Cluster(data_dir / "pg").psql("outfalls", sql).strip()


def test_embedded_lifecycle_backup_and_restore(open_tmp: Path):
    tmp_path = open_tmp
    first = {"OUTFALLS_DATA_DIR": str(tmp_path / "one")}
    second = {"OUTFALLS_DATA_DIR": str(tmp_path / "two")}
    try:
        up = run("db", "up", "--json", env=first)
        status = json.loads(up.stdout)
        assert status["running"] is True and status["embedded"] is True and status["revision"] == status["head"]
        assert status["url"].startswith("postgresql+psycopg://postgres@/outfalls?host=")
        # commands start the server themselves when it is down
        run("db", "down", env=first)
        assert json.loads(run("db", "status", "--json", env=first).stdout)["running"] is False
        run("reference", "load", env=first)
        run("demo", "seed", "--outfalls", "150", "--seed", "3", env=first)
        before = _fingerprint(first)
        dump = tmp_path / "backup.dump"
        assert "wrote" in run("db", "backup", str(dump), env=first).stdout
        with tarfile.open(dump) as archive:  # one archive: the database dump, the file stores, a manifest
            assert {"database.dump", "manifest.json"} <= set(archive.getnames())
        # restore into an empty cluster elsewhere gives back identical rows
        restored = run("db", "restore", str(dump), env=second)
        assert "restored" in restored.stdout
        assert _fingerprint(second) == before
        # restoring over a catalogue needs --replace
        refused = run("db", "restore", str(dump), env=second, check=False)
        assert refused.returncode == 1 and "--replace" in refused.stderr
        no_traceback(refused)
        run("db", "restore", "--replace", str(dump), env=second)
        assert _fingerprint(second) == before
        not_dump = tmp_path / "x.dump"
        not_dump.write_text("hello")
        bad = run("db", "restore", "--replace", str(not_dump), env=second, check=False)
        assert bad.returncode == 1 and "neither an outfalls archive nor a pg_dump archive" in bad.stderr
        no_traceback(bad)
    finally:
        run("db", "down", env=first, check=False)
        run("db", "down", env=second, check=False)


def test_users_and_tokens_from_the_command_line(external_db: dict[str, str]):
    env = external_db
    added = run("user", "add", "lintong", "--role", "crew", "--role", "case_officer", "--area", "610115",
                "--password-stdin", "--json", env=env, input_text="a long enough password\n")  # fmt: skip
    info = json.loads(added.stdout)
    assert info["roles"] == ["case_officer", "crew"] and info["areas"] == ["610115"] and not info["national"]
    run("user", "add", "boss", "--role", "admin", "--area", "all", "--password-stdin", env=env,
        input_text="another long password\n")  # fmt: skip
    listed = {u["login"]: u for u in json.loads(run("user", "list", "--json", env=env).stdout)}
    assert listed["boss"]["national"] is True and listed["lintong"]["active"] is True
    dup = run("user", "add", "lintong", "--role", "crew", "--area", "610115", "--password-stdin", env=env,
              check=False, input_text="a long enough password\n")  # fmt: skip
    assert dup.returncode == 1 and "taken" in dup.stderr
    no_traceback(dup)
    weak = run("user", "passwd", "lintong", "--password-stdin", env=env, check=False, input_text="short\n")
    assert weak.returncode == 1 and "10 characters" in weak.stderr
    run("user", "passwd", "lintong", "--password-stdin", env=env, input_text="a new long password\n")
    created = json.loads(run("token", "create", "lintong", "--name", "QGIS", "--json", env=env).stdout)
    assert created["token"].startswith("ofp_") and created["user"] == "lintong"
    tokens = json.loads(run("token", "list", "lintong", "--json", env=env).stdout)
    assert [t["id"] for t in tokens] == [created["id"]] and created["token"] not in json.dumps(tokens)
    run("token", "revoke", str(created["id"]), env=env)
    assert json.loads(run("token", "list", "--json", env=env).stdout)[0]["revoked"] is True
    missing = run("token", "revoke", "999999", env=env, check=False)
    assert missing.returncode == 1 and "no such token" in missing.stderr
    run("user", "disable", "lintong", env=env)
    assert json.loads(run("user", "list", "--json", env=env).stdout)[1]["active"] is False
    demo = json.loads(run("demo", "users", "--json", env=env).stdout)
    assert demo["password"] == "outfalls-demo" and {u["login"] for u in demo["users"]} >= {"admin", "lintong"}
    assert next(u for u in demo["users"] if u["login"] == "lintong")["created"] is False  # kept, not replaced
    assert next(u for u in demo["users"] if u["login"] == "hanbin")["created"] is True


def test_cli_applies_a_users_scope(external_db: dict[str, str]):
    env = external_db
    run("demo", "seed", "--outfalls", "150", "--seed", "9", env=env)
    everything = json.loads(run("outfall", "list", "--page-size", "500", "--json", env=env).stdout)
    assert everything["total"] == 150
    by_county: dict[str, list[int]] = {}
    for item in everything["items"]:
        by_county.setdefault(item["area_code"], []).append(item["id"])
    (a, a_ids), (b, b_ids) = sorted(by_county.items(), key=lambda kv: -len(kv[1]))[:2]
    for login, code in (("county_a", a), ("county_b", b)):
        run("user", "add", login, "--role", "crew", "--area", code, "--password-stdin", env=env,
            input_text="a long enough password\n")  # fmt: skip
    seen_a = json.loads(run("outfall", "list", "--as", "county_a", "--page-size", "500", "--json", env=env).stdout)
    assert sorted(i["id"] for i in seen_a["items"]) == sorted(a_ids) and seen_a["total"] == len(a_ids)
    assert {i["area_code"] for i in seen_a["items"]} == {a}
    own = run("outfall", "show", str(a_ids[0]), "--as", "county_a", env=env)
    assert "CGCS2000" in own.stdout
    other = run("outfall", "show", str(b_ids[0]), "--as", "county_a", env=env, check=False)
    assert other.returncode == 1 and "does not exist" in other.stderr
    no_traceback(other)
    assert run("outfall", "show", str(b_ids[0]), env=env).returncode == 0  # the operator sees everything
    unknown = run("outfall", "list", "--as", "nobody", env=env, check=False)
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr


def test_case_bulk_work_and_keep_list_from_the_command_line(external_db: dict[str, str], tmp_path: Path):
    env = {**external_db, "OUTFALLS_DATA_DIR": str(tmp_path / "data")}
    run("demo", "seed", "--outfalls", "60", "--seed", "3", env=env)
    run(
        "user",
        "add",
        "officer_sx",
        "--role",
        "case_officer",
        "--area",
        "610000",
        "--password-stdin",
        env=env,
        input_text="a long enough password\n",
    )
    listed = json.loads(run("outfall", "list", "--area", "610000", "--page-size", "500", "--json", env=env).stdout)
    open_ids = [i["id"] for i in listed["items"] if i["status"] not in ("closed", "rejected", "merged")]
    assert open_ids, "the demo puts outfalls in Shaanxi"
    report = json.loads(run("case", "assign", "--to", "officer_sx", *map(str, open_ids), "--json", env=env).stdout)
    assert report["action"] == "assigned" and report["changed"] == len(open_ids) and report["refused"] == 0
    mixed = run("case", "deadline", "2099-12-31", str(open_ids[0]), "99999999", env=env, check=False)
    assert mixed.returncode == 1 and "99999999  refused  not_found" in mixed.stdout
    assert "1 changed, 0 already so, 1 refused" in mixed.stderr
    bad = run("case", "deadline", "soon", str(open_ids[0]), env=env, check=False)
    assert bad.returncode == 1 and "YYYY-MM-DD" in bad.stderr
    no_traceback(bad)
    neither = run("case", "assign", str(open_ids[0]), env=env, check=False)
    assert neither.returncode == 1 and "--to LOGIN, or --unassign" in neither.stderr
    keep = json.loads(run("case", "keep-list", "--json", env=env).stdout)
    assert all(r["remediation_category"] in ("standardise", "none_needed") for r in keep)
    out_csv = tmp_path / "keep.csv"
    run("case", "keep-list", "-o", str(out_csv), env=env)
    assert out_csv.read_bytes().startswith("\ufeffid,national_code".encode())
    assert len(out_csv.read_text(encoding="utf-8-sig").splitlines()) == len(keep) + 1


def test_survey_import_from_the_command_line(external_db: dict[str, str], tmp_path: Path):
    env = {**external_db, "OUTFALLS_DATA_DIR": str(tmp_path / "data")}
    good = tmp_path / "crew.csv"
    good.write_text("记录编号,排污口名称,经度,纬度,排口类型\nc1,甲,108.90,34.40,4.8\nc2,乙,108.95,34.42,城镇雨洪排口\n",
                    encoding="gbk")  # fmt: skip
    out = run("survey", "import", str(good), "--crew", "一组", "--json", env=env)
    report = json.loads(out.stdout)
    assert {"batch_id", "rows", "accepted", "rejected", "already_received", "new_outfalls", "linked",
            "queued_for_review"} <= set(report)  # fmt: skip
    assert (report["rows"], report["accepted"], report["rejected"], report["new_outfalls"]) == (2, 2, [], 2)
    assert "GBK" in " ".join(report["notes"])
    again = json.loads(run("survey", "import", str(good), "--json", env=env).stdout)
    assert (again["accepted"], again["already_received"], again["new_outfalls"]) == (0, 2, 0)

    bad = tmp_path / "bad.csv"
    bad.write_text("经度,纬度,名称\n108.91,34.41,好\n,34.4,缺经度\n34.40,108.92,颠倒\n", encoding="utf-8")
    partly = run("survey", "import", str(bad), "--datum", "gcj02", "--json", env=env, check=False)
    assert partly.returncode == 2
    rejected = json.loads(partly.stdout)["rejected"]
    assert [(r["row"], r["field"], r["code"]) for r in rejected] == [
        (3, "lon", "missing_coordinates"), (4, "lon", "swapped_lat_lon"),
    ]  # fmt: skip
    text = run("survey", "import", str(bad), env=env, check=False)
    assert text.returncode == 2 and "row 4  lon  swapped_lat_lon" in text.stdout and "1 already received" in text.stdout

    unusable = tmp_path / "notes.docx"
    unusable.write_bytes(b"PK\x03\x04 not really")
    out = run("survey", "import", str(unusable), env=env, check=False)
    assert out.returncode == 1 and "unsupported file type .docx" in out.stderr
    no_traceback(out)
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "一组"
    book.create_sheet("二组")
    workbook = tmp_path / "two.xlsx"
    book.save(workbook)
    out = run("survey", "import", str(workbook), env=env, check=False)
    assert out.returncode == 1 and "2 sheets (一组, 二组); choose one with --sheet" in out.stderr
    both = run("survey", "import", str(good), "--datum", "wgs84", "--crs", "EPSG:4490", env=env, check=False)
    assert both.returncode == 1 and "--datum or --crs" in both.stderr
