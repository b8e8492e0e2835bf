"""The tile cache on a database that really commits: a tile is served from memory only while no commit has changed
the outfalls, their milestones or the areas since it was made (PostgreSQL's notices, revision 0024, and this
process's own commits), and never while the listener cannot hear the notices."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from outfalls import accounts
from outfalls.catalogue.lifecycle import NewOutfall, create_outfalls
from outfalls.config import load_settings
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine
from outfalls.db.notify import CATALOGUE, ChangeCache, ChangeListener, listener_for
from outfalls.progress.tiles import KEPT_TILE_OVERHEAD, kept_tile_bytes
from outfalls.types import SurveyLevel
from web.auth import SESSION_COOKIE

DB = "outfalls_tile_cache"
XIAN_WEI = (108.94, 34.40)
TILE = "/tiles/outfalls/14/13149/6522.mvt"


@pytest.fixture(scope="module")
def url(clone_db: Callable[[str], str]) -> str:
    url = clone_db(DB)
    engine = make_engine(url)
    with Session(engine) as s:
        create_outfalls(s, [NewOutfall(lonlat=XIAN_WEI, found_by=SurveyLevel.FOOT, found_on=date(2022, 5, 1),
                                       name="渭河1#排口", type_code="4.8")], actor="tests")  # fmt: skip
        s.commit()
    engine.dispose()
    return url


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def elsewhere(url: str, sql: str, *, commit: bool = True) -> None:
    """Run ``sql`` on a connection of its own (another process, as far as the cache can tell)."""
    with psycopg.connect(libpq(url)) as conn:
        conn.execute(sql)
        conn.commit() if commit else conn.rollback()


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def listener(url: str) -> Iterator[ChangeListener]:
    listener = ChangeListener(url, retry_s=0.1, poll_s=0.05)
    wait_for(lambda: listener.token(CATALOGUE) is not None)
    yield listener
    listener.close()


def tiles(listener: ChangeListener, maxsize: int = 2**20,
          sizeof: Callable[[bytes], int] = len) -> ChangeCache[Any, bytes]:  # fmt: skip
    return ChangeCache(listener, CATALOGUE, maxsize, sizeof=sizeof)


class Maker:
    """``make()`` for the cache, counting its calls; each tile is new bytes."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return f"tile {self.calls}".encode()


def test_a_commit_elsewhere_empties_the_cache(url: str, listener: ChangeListener) -> None:
    cache, make = tiles(listener), Maker()
    assert cache.get("k", make) == b"tile 1"
    assert cache.get("k", make) == b"tile 1" and make.calls == 1 and cache.hits == 1
    assert cache.get("other", make) == b"tile 2"  # the key is the whole tile: another key is another tile

    before = listener.token(CATALOGUE)
    elsewhere(url, "UPDATE outfalls SET name = name || '' WHERE false")  # a statement, even of no row, commits
    wait_for(lambda: listener.token(CATALOGUE) != before)
    assert cache.get("k", make) == b"tile 3" and cache.get("other", make) == b"tile 4"
    assert cache.get("k", make) == b"tile 3" and make.calls == 4


def test_a_rolled_back_change_keeps_the_cache(url: str, listener: ChangeListener) -> None:
    cache, make = tiles(listener), Maker()
    cache.get("k", make)
    before = listener.token(CATALOGUE)
    elsewhere(url, "UPDATE outfalls SET name = name || '?'", commit=False)
    elsewhere(url, "SELECT count(*) FROM outfalls")  # commits, but changes nothing a tile shows
    time.sleep(0.3)
    assert listener.token(CATALOGUE) == before
    assert cache.get("k", make) == b"tile 1" and make.calls == 1


def test_a_commit_in_this_process_counts_at_once(url: str, listener: ChangeListener) -> None:
    """Whoever writes reads their write: the token moves at the commit, before the notice comes back."""
    cache, make = tiles(listener), Maker()
    cache.get("k", make)
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            s.execute(sa.text("UPDATE outfalls SET name = name WHERE false"))
            s.commit()
    finally:
        engine.dispose()
    assert cache.get("k", make) == b"tile 2"


def test_a_change_made_while_a_tile_is_made_is_not_kept(url: str, listener: ChangeListener) -> None:
    cache = tiles(listener)
    calls: list[int] = []

    def make_during_a_change() -> bytes:
        calls.append(1)
        before = listener.token(CATALOGUE)
        elsewhere(url, "UPDATE outfalls SET name = name WHERE false")
        wait_for(lambda: listener.token(CATALOGUE) != before)
        return b"read before the change"

    assert cache.get("k", make_during_a_change) == b"read before the change"
    assert cache.get("k", Maker()) == b"tile 1"  # made again, not the tile of before the change
    assert len(calls) == 1


def test_nothing_is_served_or_kept_while_not_listening(url: str, pg_cluster: Cluster,
                                                        listener: ChangeListener) -> None:  # fmt: skip
    cache, make = tiles(listener), Maker()
    cache.get("k", make)
    pid = listener.backend_pid
    pg_cluster.psql("postgres", f"SELECT pg_terminate_backend({pid})")
    wait_for(lambda: listener.backend_pid != pid)
    # whether or not it is back already, what was kept before the cut is never served again
    assert cache.get("k", make) == b"tile 2"
    wait_for(lambda: listener.token(CATALOGUE) is not None)
    assert cache.get("k", make) in (b"tile 2", b"tile 3")
    assert cache.get("k", make) == cache.get("k", make)  # kept again once listening


def test_a_listener_that_cannot_connect_keeps_nothing(tmp_path: Path) -> None:
    listener = ChangeListener(f"postgresql+psycopg://nobody@/none?host={tmp_path}", retry_s=0.05, poll_s=0.05)
    try:
        cache, make = tiles(listener), Maker()
        assert [cache.get("k", make) for _ in range(3)] == [b"tile 1", b"tile 2", b"tile 3"]
        assert listener.token(CATALOGUE) is None and cache.size == 0
    finally:
        listener.close()


def test_whether_to_keep_is_asked_once_the_value_is_made(url: str, listener: ChangeListener) -> None:
    """A caller choosing its database inside ``make`` (a replica's tile is not kept) says so after making it; a
    kept value asks nothing."""
    cache, make, asked = tiles(listener), Maker(), []

    def keep(answer: bool) -> Callable[[], bool]:
        def ask() -> bool:
            asked.append(make.calls)  # how many values were made when asked
            return answer
        return ask

    assert cache.get("replica", make, keep=keep(False)) == b"tile 1" and asked == [1]
    assert cache.get("replica", make, keep=keep(False)) == b"tile 2" and asked == [1, 2]  # not kept
    assert cache.get("primary", make, keep=keep(True)) == b"tile 3" and asked == [1, 2, 3]
    assert cache.get("primary", make, keep=keep(True)) == b"tile 3" and asked == [1, 2, 3]  # kept: nothing asked


def test_the_size_is_bounded(url: str, listener: ChangeListener) -> None:
    cache = tiles(listener, 1000)
    for i in range(10):
        cache.get(i, lambda: b"x" * 300)
    assert cache.size <= 1000 and cache.get("big", lambda: b"y" * 5000) == b"y" * 5000
    assert cache.size <= 1000
    assert ChangeCache(listener, CATALOGUE, 0).listener is None  # 0 MB: no cache at all


def test_empty_tiles_count_against_the_bound(url: str, listener: ChangeListener) -> None:
    """A client asking for every (empty) tile of a zoom fills the cache only up to its size: keys cost too."""
    cache = tiles(listener, 100 * KEPT_TILE_OVERHEAD, kept_tile_bytes)
    for x in range(10_000):
        cache.get(("outfalls", 14, x, 0), lambda: b"")
    assert cache.size <= 100 * KEPT_TILE_OVERHEAD
    assert cache.get(("outfalls", 14, 9_999, 0), lambda: b"made again") == b""  # the last ones are kept
    assert cache.get(("outfalls", 14, 0, 0), lambda: b"made again") == b"made again"  # the first ones are gone


# -- through the web -----------------------------------------------------------------------------------------
@pytest.fixture
def web(url: str, tmp_path: Path) -> Iterator[Flask]:
    from web import create_app

    settings = load_settings(env={}, overrides={"database.url": url, "storage.data_dir": str(tmp_path / "data")})
    app = create_app(settings, testing=True)  # real commits: the notices are sent
    yield app
    app.extensions["outfalls.sessions"].kw["bind"].dispose()


def log_in(app: Flask, url: str, login: str, areas: tuple[str, ...] = ()) -> FlaskClient:
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as s:
            user = accounts.create_user(s, f"{login}{time.monotonic_ns()}", roles=("leader",), areas=areas, basins=(),
                                        is_national=not areas, password=None, actor="tests")  # fmt: skip
            token, _web_session = accounts.start_session(s, user)
            s.commit()
    finally:
        engine.dispose()
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, token)
    return client


def test_tiles_are_served_from_the_cache_until_an_outfall_changes(web: Flask, url: str) -> None:
    cache: ChangeCache[Any, bytes] = web.extensions["outfalls.tile_cache"]
    assert cache.listener is listener_for(url)
    client = log_in(web, url, "national")
    first = client.get(TILE)
    assert first.status_code == 200 and "渭河1#排口".encode() in first.data
    wait_for(lambda: cache.listener is not None and cache.listener.listening)
    client.get(TILE)
    hits = cache.hits
    assert client.get(TILE).data == first.data and cache.hits == hits + 1

    before = listener_for(url).token(CATALOGUE)
    elsewhere(url, "UPDATE outfalls SET name = '渭河2#排口'")  # another process renames it
    wait_for(lambda: listener_for(url).token(CATALOGUE) != before)
    renamed = client.get(TILE)
    assert "渭河2#排口".encode() in renamed.data and cache.hits == hits + 1
    elsewhere(url, "UPDATE outfalls SET name = '渭河1#排口'")


def test_a_tile_is_kept_per_scope_and_day(web: Flask, url: str) -> None:
    national, hanzhong = log_in(web, url, "national"), log_in(web, url, "hanzhong", areas=("610700",))
    assert national.get(TILE).data == national.get(TILE).data != b""
    assert hanzhong.get(TILE).data == b""  # the outfall is in Xi'an: not the cached national tile
    assert national.get(f"{TILE}?as_of=2022-04-30").data == b""  # not found yet that day
    assert national.get(f"{TILE}?as_of=2022-05-01").data != b""
    assert national.get(f"{TILE}?as_of=2999-01-01").status_code == 422  # still checked, never cached
