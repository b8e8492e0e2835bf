"""Read replicas with a real streaming replica of the test cluster, made by ``outfalls db replica add``: the
read routes are served by it, a writer sees their write at once, and a replica that goes away costs no request."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.config import Settings, load_settings
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine
from outfalls.db.routing import ReplicaRouter, lsn_value
from web.auth import SESSION_COOKIE

NAME = "test_replica"
DB = "outfalls_replicated"
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("OUTFALLS_")}
READ_ROUTES = ["/api/outfalls", "/api/summary", "/api/progress", "/api/targets", "/dashboard", "/outfalls",
               "/tiles/outfalls/6/51/25.mvt", "/tiles/outfalls/14/13149/6522.mvt?as_of=2025-01-01",
               "/ogc/collections/outfalls/items?limit=5", "/registers"]  # fmt: skip


def run(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "outfalls", *args], capture_output=True, text=True,
                         env={**BASE_ENV, **env}, timeout=300, check=False)  # fmt: skip
    if check and out.returncode != 0:
        raise AssertionError(f"outfalls {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


@dataclass
class Replicated:
    replica: Cluster
    env: dict[str, str]  # the test cluster seen as the embedded cluster of a data folder
    primary_url: str
    replica_url: str


@pytest.fixture(scope="module")
def replicated(pg_cluster: Cluster, clone_db: Callable[[str], str]) -> Iterator[Replicated]:
    """One replica for the module, added by the CLI to the test cluster (the embedded cluster of its parent)."""
    env = {"OUTFALLS_DATA_DIR": str(pg_cluster.root.parent)}
    primary_url = clone_db(DB)
    added = json.loads(run("db", "replica", "add", "--name", NAME, "--json", env=env).stdout)
    replica = Cluster(pg_cluster.root.parent / "replicas" / NAME, port=int(added["url"].rsplit("port=", 1)[1]))
    try:
        yield Replicated(replica, env, primary_url, replica.url(DB))
    finally:
        run("db", "replica", "remove", NAME, env=env, check=False)
        replica.remove()


@pytest.fixture
def settings_r(replicated: Replicated, tmp_path: Path) -> Settings:
    return load_settings(env={}, overrides={
        "database.url": replicated.primary_url, "database.replica_urls": [replicated.replica_url],
        "storage.data_dir": str(tmp_path / "data"),
    })  # fmt: skip


@pytest.fixture
def app_r(settings_r: Settings) -> Iterator[Flask]:
    from web import create_app

    app = create_app(settings_r, testing=True)  # real commits on the primary, real reads on the replica
    yield app
    app.extensions["outfalls.replicas"].dispose()
    app.extensions["outfalls.sessions"].kw["bind"].dispose()
    gc.collect()  # a connection left open (never returned to a pool that closes it) shows here, not in a later test


@pytest.fixture
def primary(replicated: Replicated) -> Iterator[sa.Engine]:
    engine = make_engine(replicated.primary_url)
    yield engine
    engine.dispose()


@pytest.fixture
def log_in(app_r: Flask, primary: sa.Engine) -> Callable[..., FlaskClient]:
    made: list[int] = []

    def login(login: str, roles: tuple[str, ...] = ("leader",)) -> FlaskClient:
        with Session(primary, expire_on_commit=False) as s:
            user = accounts.create_user(s, login, roles=roles, areas=(), basins=(), is_national=True, password=None,
                                        actor="tests")  # fmt: skip
            token, web_session = accounts.start_session(s, user)
            s.commit()
            made.append(user.id)
        c = app_r.test_client()
        c.set_cookie(SESSION_COOKIE, token)
        c.csrf = web_session.csrf_token  # type: ignore[attr-defined]
        return c

    return login


def _wait_replayed(replica: Cluster, primary: sa.Engine) -> None:
    with primary.begin() as conn:  # a synchronous commit flushes the WAL before it (the test cluster commits async)
        conn.execute(sa.text("SET LOCAL synchronous_commit = on"))
        conn.execute(sa.text("SELECT txid_current()"))
    with primary.connect() as conn:
        target = lsn_value(conn.execute(sa.text("SELECT pg_current_wal_flush_lsn()::text")).scalar_one())
    for _ in range(200):
        replayed = replica.psql("postgres", "SELECT pg_last_wal_replay_lsn()").strip()
        if replayed and lsn_value(replayed) >= target:
            return
        time.sleep(0.05)
    raise AssertionError("the replica did not catch up")


def _used_once_level(router: ReplicaRouter, replica: sa.Engine, fake_now: list[float]) -> bool:
    """The router hands ``replica`` out once it has replayed what the primary wrote (a fresh replica, or one just
    resumed, may be a few records behind: background writes of the cluster), checking once a (fake) second.
    """
    for _ in range(100):
        if router.replica_for() is replica:
            return True
        fake_now[0] += 1
        time.sleep(0.05)
    return False


def _pause(replica: Cluster) -> None:
    replica.psql("postgres", "SELECT pg_wal_replay_pause()")
    for _ in range(200):  # a pause is a request: replay stops at its next record
        if replica.psql("postgres", "SELECT pg_get_wal_replay_pause_state()").strip() == "paused":
            return
        time.sleep(0.05)
    raise AssertionError("the replica did not pause")


def test_status_shows_the_replica_streaming(replicated: Replicated):
    status = json.loads(run("db", "status", "--json", env=replicated.env).stdout)
    (replica,) = [r for r in status["replicas"] if r["name"] == NAME]
    assert replica["state"] == "streaming" and isinstance(replica["lag_bytes"], int)
    assert replica["url"] == replicated.replica.url("outfalls")
    assert replicated.replica.psql(DB, "SELECT pg_is_in_recovery()").strip() == "t"
    # a configured replica (not one of the data folder's) is found on the primary by its cluster_name
    env = {"OUTFALLS_DATABASE_URL": replicated.primary_url, "OUTFALLS_DATABASE_REPLICA_URLS": replicated.replica_url}
    (configured,) = json.loads(run("db", "status", "--json", env=env).stdout)["replicas"]
    assert configured["name"] == NAME and configured["state"] == "streaming"


def test_replica_names_are_checked_and_unique(replicated: Replicated):
    bad = run("db", "replica", "add", "--name", "Bad-Name", env=replicated.env, check=False)
    assert bad.returncode == 1 and "lower-case letters" in bad.stderr and "Traceback" not in bad.stderr
    taken = run("db", "replica", "add", "--name", NAME, env=replicated.env, check=False)
    assert taken.returncode == 1 and "exists already" in taken.stderr
    missing = run("db", "replica", "remove", "nosuch", env=replicated.env, check=False)
    assert missing.returncode == 1 and "no local replica named 'nosuch'" in missing.stderr


def test_read_routes_are_served_by_the_replica(app_r: Flask, log_in: Callable[..., FlaskClient],
                                               replicated: Replicated, primary: sa.Engine):  # fmt: skip
    client = log_in("reader_r", roles=("leader", "exporter"))
    _wait_replayed(replicated.replica, primary)
    for path in READ_ROUTES:
        with client:
            response = client.get(path)
            assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
            assert g.db_replica is not None, path
    with app_r.test_client() as anonymous:  # the public map and its data, without a login
        for path in ("/public", "/public/api/outfalls.geojson"):
            response = anonymous.get(path)
            assert response.status_code == 200 and g.db_replica is not None, path
    seen = replicated.replica.psql(
        "postgres", f"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'outfalls-read' "
                    f"AND datname = '{DB}'",
    )  # the app's read connections, open on the replica
    assert int(seen) >= 1
    # the identity check and any page that may write stay on the primary
    with client:
        assert client.get("/outfalls/999999").status_code == 404
        assert g.get("db_replica") is None


def test_a_write_is_visible_to_its_writer_at_once(app_r: Flask, log_in: Callable[..., FlaskClient],
                                                  replicated: Replicated, primary: sa.Engine):  # fmt: skip
    admin = log_in("admin_r", roles=("admin",))
    other = log_in("other_r")
    _wait_replayed(replicated.replica, primary)
    assert other.get("/api/targets?history=1").status_code == 200  # the replica is known healthy
    _pause(replicated.replica)
    try:
        posted = admin.post("/dashboard/targets", data={
            "csrf_token": admin.csrf, "scope_kind": "all", "metric": "traced", "deadline": "2030-12-31",  # type: ignore[attr-defined]
            "share": "55", "note": "read your writes",
        })  # fmt: skip
        assert posted.status_code == 302 and posted.location.endswith("/dashboard/targets"), posted.location
        with admin:
            notes = [t["note"] for t in admin.get("/api/targets?history=1").get_json()]
            assert "read your writes" in notes  # from the primary: the replica has not replayed it
            assert g.db_replica is None
        with other:
            notes = [t["note"] for t in other.get("/api/targets?history=1").get_json()]
            assert g.db_replica is not None and "read your writes" not in notes  # another reader: the replica
    finally:
        replicated.replica.psql("postgres", "SELECT pg_wal_replay_resume()")
    _wait_replayed(replicated.replica, primary)
    with admin:
        notes = [t["note"] for t in admin.get("/api/targets?history=1").get_json()]
        assert "read your writes" in notes and g.db_replica is not None  # caught up: back on the replica


def test_killing_the_replica_costs_no_request(app_r: Flask, log_in: Callable[..., FlaskClient],
                                              replicated: Replicated):  # fmt: skip
    router: ReplicaRouter = app_r.extensions["outfalls.replicas"]
    router.check_every_s = 0.2
    clients = [log_in(f"kill_r{i}") for i in range(2)]
    checker = log_in("kill_check")  # a client of its own: a test client's kept context is not shared by threads
    statuses: list[tuple[str, int]] = []
    stop = threading.Event()

    def keep_reading(client: FlaskClient) -> None:
        while not stop.is_set():
            for path in READ_ROUTES[:4]:
                statuses.append((path, client.get(path).status_code))

    threads = [threading.Thread(target=keep_reading, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        replicated.replica.stop(immediate=True)  # mid-run, with pooled connections open on it
        time.sleep(1.5)
        with checker:
            assert checker.get("/api/summary").status_code == 200 and g.db_replica is None  # the primary
    finally:
        stop.set()
        for t in threads:
            t.join()
        replicated.replica.start()
    assert statuses and all(code == 200 for _, code in statuses), [s for s in statuses if s[1] != 200][:5]
    for _ in range(100):  # back on the replica once it answers again
        with checker:
            assert checker.get("/api/summary").status_code == 200
            if g.db_replica is not None:
                break
        time.sleep(0.1)
    else:
        raise AssertionError("reads did not return to the replica")


def test_a_lagging_replica_is_skipped(replicated: Replicated, primary: sa.Engine):
    fake_now = [1000.0]
    replica = make_engine(replicated.replica_url)
    router = ReplicaRouter(primary, [replica], max_lag_s=5, check_every_s=1, wait_s=0.1, clock=lambda: fake_now[0])
    try:
        assert _used_once_level(router, replica, fake_now), router.health(replica)
        _pause(replicated.replica)
        with primary.begin() as conn:
            conn.execute(sa.text("SET LOCAL synchronous_commit = on"))  # flushed: the replica could have it now
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS lag_probe (x int)"))
            conn.execute(sa.text("INSERT INTO lag_probe VALUES (1)"))
        fake_now[0] += 2
        assert router.replica_for() is replica  # 2 s behind: still within replica_max_lag_s
        fake_now[0] += 6
        assert router.replica_for() is None and "behind" in router.health(replica).error
        replicated.replica.psql("postgres", "SELECT pg_wal_replay_resume()")
        _wait_replayed(replicated.replica, primary)
        fake_now[0] += 2
        assert _used_once_level(router, replica, fake_now), router.health(replica)
    finally:
        replicated.replica.psql("postgres", "SELECT pg_wal_replay_resume()")
        with primary.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS lag_probe"))
        replica.dispose()


def test_an_idle_replica_with_all_the_flushed_wal_is_not_behind(replicated: Replicated, primary: sa.Engine):
    """Work that commits nothing (rolled back here; a checkpoint's records, the background writer's snapshots) stays
    in the primary's WAL buffers until something commits: a replica cannot have it and is not behind for lack of it.
    """
    fake_now = [1000.0]
    replica = make_engine(replicated.replica_url)
    router = ReplicaRouter(primary, [replica], max_lag_s=5, check_every_s=1, wait_s=0.1, clock=lambda: fake_now[0])
    try:
        assert _used_once_level(router, replica, fake_now), router.health(replica)
        with primary.connect() as conn:
            conn.execute(sa.text("CREATE TABLE idle_probe AS SELECT generate_series(1, 100) AS x"))
            conn.rollback()  # records written, none of them flushed by a commit
            inserted, flushed = conn.execute(sa.text(
                "SELECT pg_current_wal_insert_lsn()::text, pg_current_wal_flush_lsn()::text")).one()  # fmt: skip
        time.sleep(0.5)  # should anything else have flushed meanwhile, the replica has it by now
        fake_now[0] += 60
        health = router.health(replica)
        assert health.is_usable and health.lag_s == 0.0, (health, inserted, flushed)
    finally:
        replica.dispose()


def test_a_cluster_made_before_replicas_gains_replication_when_it_starts(tmp_path: Path):
    cluster = Cluster(tmp_path / "old")
    cluster.pgdata.mkdir(parents=True)
    (cluster.pgdata / "postgresql.conf").write_text("listen_addresses = ''\nwal_level = minimal\n")
    (cluster.pgdata / "pg_hba.conf").write_text("# local replication all trust\nlocal all all trust\n")
    for _ in range(2):  # every start: the second adds nothing
        cluster._allow_replication()
    conf = (cluster.pgdata / "postgresql.conf").read_text()
    assert conf.count("wal_level = replica") == 1 and conf.rindex("wal_level = replica") > conf.index("minimal")
    hba = (cluster.pgdata / "pg_hba.conf").read_text().splitlines()
    assert hba.count("local replication postgres trust") == 1
