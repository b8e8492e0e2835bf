"""Browser-test plumbing: per module, a cloned database with a committed demo catalogue served by waitress
on a free loopback port, and Debian's Chromium driven by Playwright (no browser is ever downloaded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, sync_playwright
from sqlalchemy import text
from sqlalchemy.orm import Session
from waitress import create_server, wasyncore

from imagery import cells
from imagery.ingest import ingest_orthophoto
from imagery.synthetic import relocate
from outfalls.config import Settings, load_settings
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine
from outfalls.demo import DEMO_PASSWORD, seed_demo, seed_demo_users

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DEMO = {"yellow": 120, "handan": 80, "seed": 11}
T = TypeVar("T")


@dataclass(frozen=True)
class LiveServer:
    """The running application: its base URL and how many outfalls it serves."""

    url: str
    outfalls: int
    db_url: str


@pytest.fixture(scope="module")
def live_settings() -> dict[str, object]:
    """Settings a module's live server runs with beyond the defaults (a module overrides this fixture)."""
    return {}


# The longest stretch of the 渭河 inside Xi'an (610100): where the crews of Xi'an walk and the drone flew.
WEI_IN_XIAN = text(
    """
    SELECT ST_X(p), ST_Y(p) FROM (
      SELECT ST_LineInterpolatePoint(d.geom, 0.5) AS p
      FROM rivers r, admin_areas a, ST_Dump(ST_Intersection(r.geom, a.geom)) d
      WHERE r.name = '渭河' AND a.code = '610100' AND ST_GeometryType(d.geom) = 'ST_LineString'
      ORDER BY ST_Length(d.geom) DESC LIMIT 1) q
    """
)
PIX4D = Path(__file__).resolve().parents[1] / "fixtures" / "imagery" / "riotiler_pix4d_alpha_nodata.tif"


def seed_demo_catalogue(session: Session) -> int:
    """The demo catalogue and its users; returns how many outfalls it made."""
    report = seed_demo(session, **DEMO)
    seed_demo_users(session)
    return int(report.created)


def place_wei_orthophoto(session: Session, settings: Settings, data_dir: Path) -> tuple[float, float]:
    """The Pix4D orthophoto placed on the 渭河 in Xi'an (sortie XA-01) and the interpretation cells laid over the
    Yellow River basin; returns the lon/lat of the image's centre."""
    lon, lat = session.execute(WEI_IN_XIAN).one()
    ortho = relocate(PIX4D, data_dir / "wei_gk.tif", crs="EPSG:4547", center_lonlat=(lon, lat))
    ingest_orthophoto(session, ortho, store_dir=settings.imagery.store_dir, actor="tester", sortie="XA-01")
    s = settings.imagery
    cells.build_cells(session, "HH", landward_m=s.landward_m, waterward_m=s.waterward_m, cell_m=s.cell_m)
    return float(lon), float(lat)


@contextmanager
def serving(pg_cluster: Cluster, clone_db: Callable[[str], str], name: str, data_dir: Path,
            seed: Callable[[Session, Settings], tuple[int, T]],
            overrides: dict[str, object] | None = None) -> Iterator[tuple[LiveServer, T]]:  # fmt: skip
    """The web app on its own cloned database (a live server commits for real), seeded by ``seed`` (which returns
    how many outfalls it made and whatever the tests need to know of it), served by waitress on a free port."""
    from web import create_app

    url = clone_db(name)
    settings = load_settings(env={}, overrides={"database.url": url, "storage.data_dir": str(data_dir),
                                                **(overrides or {})})  # fmt: skip
    seeding = make_engine(url)
    try:
        with Session(seeding) as session:
            outfalls, seeded = seed(session, settings)
            session.commit()
    finally:
        seeding.dispose()
    app = create_app(settings)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name=f"waitress-{name}", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.effective_port}", outfalls=outfalls, db_url=url), seeded
    finally:
        server.task_dispatcher.shutdown()
        # close the listener, the trigger and every channel from the server's own loop, which then ends
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)
        app.extensions["outfalls.sessions"].kw["bind"].dispose()
        pg_cluster.drop_database(name)
    assert not thread.is_alive(), "the waitress thread did not stop"


@pytest.fixture(scope="module")
def live_server(
    request: pytest.FixtureRequest,
    live_settings: dict[str, object],
    pg_cluster: Cluster,
    clone_db: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """The demo catalogue, served live (a module may override ``live_settings``)."""
    name = "browser_" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with serving(pg_cluster, clone_db, name, tmp_path_factory.mktemp("data"),
                 lambda session, _settings: (seed_demo_catalogue(session), None), live_settings) as (server, _):
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian, closed with Playwright at module teardown."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Traffic:
    """What a page did: every request URL, failed responses, console errors and uncaught exceptions."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def off_host(self) -> list[str]:
        """Requests that left the machine (anything but 127.0.0.1, data: and blob:)."""
        local = ("data", "blob")
        return [u for u in self.requests if urlsplit(u).scheme not in local and urlsplit(u).hostname != "127.0.0.1"]

    def assert_clean(self) -> None:
        assert self.requests, "the page made no requests"
        assert self.off_host() == []
        assert self.failed == []
        assert self.console_errors == []
        assert self.page_errors == []


@dataclass
class Tab:
    """A page in a fresh browser context (no cookies) and the traffic it made."""

    page: Page
    traffic: Traffic


def log_in(page: Page, base_url: str, login: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the login form, as a person would."""
    page.goto(f"{base_url}/login?next=/account")  # a page that loads nothing more, so no request is cut off
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#current-user", state="attached")  # inside the folded menu on a phone


@pytest.fixture
def tab(anon_tab: Tab, live_server: LiveServer) -> Tab:
    """A fresh browser context logged in as the demo province leader (sees every demo outfall)."""
    log_in(anon_tab.page, live_server.url, "leader")
    return anon_tab


@pytest.fixture
def anon_tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    traffic = Traffic()

    def on_response(response: Response) -> None:
        if response.status >= 400:
            traffic.failed.append(f"{response.status} {response.url}")

    def on_request_failed(req: Request) -> None:
        if req.failure == "net::ERR_ABORTED" and urlsplit(req.url).path.startswith("/static/"):
            # A static file (the icon, a stylesheet the cache was revalidating) cut off by the next navigation: the
            # browser aborts what the page it leaves still fetches. A missing or broken file still counts: it comes
            # back as an error status (on_response) or another failure.
            return
        traffic.failed.append(f"failed {req.url}: {req.failure}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            traffic.console_errors.append(f"{message.text} @ {message.location}")

    context.on("request", lambda req: traffic.requests.append(req.url))
    context.on("response", on_response)
    context.on("requestfailed", on_request_failed)
    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda err: traffic.page_errors.append(str(err)))
    try:
        yield Tab(page=page, traffic=traffic)
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (git-ignored ``test-artifacts/``)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def login_page() -> Callable[..., None]:
    """``log_in(page, base_url, login, password)`` for tests that log in as someone else."""
    return log_in
