"""Test plumbing: one throwaway PostGIS cluster per run, started by the product's own cluster code; a
migrated template database with reference data; per-test transactions rolled back; factories."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from outfalls import accounts
from outfalls.catalogue.lifecycle import HistoryItem, NewOutfall, create_outfalls
from outfalls.config import Settings, load_settings
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine, migrate
from outfalls.models import Outfall, User
from outfalls.reference import load_reference
from outfalls.types import SurveyLevel

FIXTURES = Path(__file__).parent / "fixtures"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TEMPLATE_DB = "outfalls_template"


# Either side of the programme's midnight (Asia/Shanghai, UTC+8): 23:30 UTC is already tomorrow there, 00:30 UTC
# is 08:30 of the same day. A test module that dates anything runs at both:
# ``pytestmark = pytest.mark.usefixtures("clock_edge")``.
_EDGE_TIMES = {"23:30 UTC": time(23, 30), "00:30 UTC": time(0, 30)}


@pytest.fixture(params=list(_EDGE_TIMES), ids=list(_EDGE_TIMES))
def clock_edge(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """The clock moved to 23:30 or 00:30 UTC of the real day (still ticking, so timeouts keep working)."""
    moment = datetime.combine(datetime.now(UTC).date(), _EDGE_TIMES[request.param], tzinfo=UTC)
    with time_machine.travel(moment, tick=True):
        yield moment


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A throwaway cluster in a short temp folder (unix socket only, fsync off); fails if PostgreSQL is missing."""
    root = Path(tempfile.mkdtemp(prefix="oft", dir="/tmp"))
    root.chmod(0o755)  # the server runs as the unprivileged postgres user when the tests run as root
    cluster = Cluster(root / "pg", fsync=False)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_cluster: Cluster) -> str:
    """A database migrated with Alembic (every run exercises the migrations) holding the reference data."""
    url = pg_cluster.create_database(TEMPLATE_DB, extensions=("postgis",))
    migrate(url)
    engine = make_engine(url)
    with Session(engine) as session:
        load_reference(session)
        session.commit()
    engine.dispose()  # a template must have no open connections
    return TEMPLATE_DB


@pytest.fixture(scope="session")
def clone_db(pg_cluster: Cluster, template_db: str) -> Callable[[str], str]:
    """Clone the template into a new database (fast) and return its URL."""

    def clone(name: str) -> str:
        pg_cluster.drop_database(name)
        return pg_cluster.create_database(name, template=template_db, extensions=())

    return clone


@pytest.fixture(scope="session")
def engine(clone_db: Callable[[str], str]) -> Iterator[sa.Engine]:
    engine = make_engine(clone_db("outfalls_test"))
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session(connection: sa.Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path, engine: sa.Engine) -> Settings:
    url = engine.url.render_as_string(hide_password=False)
    return load_settings(env={}, overrides={"database.url": url, "storage.data_dir": str(tmp_path / "data")})


@pytest.fixture
def app(connection: sa.Connection, settings: Settings) -> Flask:
    from web import create_app

    sessions = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    return create_app(settings, sessions=sessions, testing=True)


@pytest.fixture
def anon_client(app: Flask) -> FlaskClient:
    """A browser that has not logged in."""
    return app.test_client()


@pytest.fixture
def make_user(session: Session) -> Callable[..., User]:
    """Create a user through the domain; no password unless given (hashing is slow on purpose)."""

    def make(
        login: str = "viewer",
        *,
        roles: tuple[str, ...] = ("leader",),
        areas: tuple[str, ...] = (),
        basins: tuple[str, ...] = (),
        national: bool | None = None,
        password: str | None = None,
    ) -> User:
        return accounts.create_user(
            session, login, roles=roles, areas=areas, basins=basins,
            is_national=(not areas) if national is None else national, password=password, actor="tests",
        )  # fmt: skip

    return make


@pytest.fixture
def login_as(app: Flask, session: Session) -> Callable[[User], FlaskClient]:
    """A test client logged in as ``user`` (its ``csrf`` attribute holds the session's CSRF token)."""
    from web.auth import SESSION_COOKIE

    def login(user: User) -> FlaskClient:
        token, web_session = accounts.start_session(session, user)
        c = app.test_client()
        c.set_cookie(SESSION_COOKIE, token)
        c.csrf = web_session.csrf_token  # type: ignore[attr-defined]
        return c

    return login


@pytest.fixture
def client(make_user: Callable[..., User], login_as: Callable[[User], FlaskClient]) -> FlaskClient:
    """A browser logged in as a national user with the read-only leader role."""
    return login_as(make_user("viewer"))


# Xi'an, on the south bank of the Wei river (渭河), in the Wei sub-basin of the Yellow River basin.
XIAN_WEI = (108.94, 34.40)


@pytest.fixture
def make_outfall(session: Session) -> Callable[..., Outfall]:
    """Create an outfall through the domain's own insert path; state only what matters."""
    counter = iter(range(1, 10**6))

    def make(
        *,
        lonlat: tuple[float, float] = XIAN_WEI,
        found_by: SurveyLevel = SurveyLevel.FOOT,
        found_on: date = date(2022, 5, 1),
        history: tuple[HistoryItem, ...] = (),
        **kw: Any,
    ) -> Outfall:
        n = next(counter)
        values: dict[str, Any] = {"name": f"测试排污口{n}", "type_code": "4.8"} | kw
        item = NewOutfall(lonlat=lonlat, found_by=found_by, found_on=found_on, history=history, **values)
        (oid,) = create_outfalls(session, [item], actor="tester")
        outfall = session.get(Outfall, oid)
        assert outfall is not None
        session.refresh(outfall)
        return outfall

    return make
