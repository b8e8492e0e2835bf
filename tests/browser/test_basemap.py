"""The optional intranet basemap (``[map] basemap_url``, ``basemap_attribution``): a local tile server stands in
for the agency's; the outfall map and the dashboard ask it for tiles under their layers and show its
attribution as plain text. Without the setting no page asks for any tile (the other browser modules)."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page
from sqlalchemy.orm import Session

from outfalls.config import load_settings
from outfalls.db.engine import make_engine

pytestmark = pytest.mark.browser

READY_MS = 30_000
ATTRIBUTION = "© 演示测绘院 <b>内网</b>"  # markup in it must show as text, never be rendered


def png(width: int = 256, height: int = 256, rgb: tuple[int, int, int] = (214, 230, 214)) -> bytes:
    """A plain one-colour PNG tile."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class TileServer(ThreadingHTTPServer):
    """Serves the same PNG for every ``/{z}/{x}/{y}.png`` and remembers the paths asked for."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TileHandler)
        self.paths: list[str] = []
        self.tile = png()


class TileHandler(BaseHTTPRequestHandler):
    server: TileServer

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.server.tile)))
        self.end_headers()
        self.wfile.write(self.server.tile)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server API)
        """Quiet: the test reads ``paths``."""


@pytest.fixture(scope="module")
def tile_server() -> Iterator[TileServer]:
    server = TileServer()
    thread = threading.Thread(target=server.serve_forever, name="tile-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("basemap-data")


@pytest.fixture(scope="module")
def live_settings(tile_server: TileServer, data_dir: Path) -> dict[str, object]:
    port = tile_server.server_address[1]
    return {"map.basemap_url": f"http://127.0.0.1:{port}/{{z}}/{{x}}/{{y}}.png", "map.basemap_attribution": ATTRIBUTION,
            "storage.data_dir": str(data_dir)}  # fmt: skip


@pytest.fixture(scope="module")
def route_task(live_server: Any, data_dir: Path) -> int:
    """The demo's drone imagery and its verification task for crew_xian, on the live server's database."""
    from imagery.demo import seed_demo_imagery
    from imagery.models import VerificationTask

    s = load_settings(env={}, overrides={"database.url": live_server.db_url, "storage.data_dir": str(data_dir)})
    engine = make_engine(live_server.db_url)
    try:
        with Session(engine) as session:
            seed_demo_imagery(session, store_dir=s.imagery.store_dir, landward_m=s.imagery.landward_m,
                              waterward_m=s.imagery.waterward_m, cell_m=s.imagery.cell_m, count=2)  # fmt: skip
            session.commit()
            task_id: int = session.scalars(sa.select(VerificationTask.id)).one()
    finally:
        engine.dispose()
    return task_id


def assert_basemap_drawn(page: Page, map_id: str, tile_server: TileServer) -> None:
    page.wait_for_function(f"() => Number(document.getElementById('{map_id}').dataset.basemapTiles || 0) > 0",
                           timeout=READY_MS)  # fmt: skip
    port = tile_server.server_address[1]
    tiles = [u for u in page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
             if u.startswith(f"http://127.0.0.1:{port}/")]  # fmt: skip
    assert tiles and all(u.rsplit("/", 3)[-3].isdigit() and u.endswith(".png") for u in tiles), tiles
    assert tile_server.paths
    # the attribution is the configured text, shown as text (no <b> element), and no link to elsewhere
    corner = page.locator(f"#{map_id} .leaflet-control-attribution")
    assert corner.inner_text() == ATTRIBUTION
    assert corner.locator("b, a").count() == 0
    # tiles lie under the reference layers and outfalls
    assert page.locator(f"#{map_id} .leaflet-tile-pane img.leaflet-tile-loaded").count() > 0


def test_outfall_map_draws_the_intranet_basemap(live_server: Any, tab: Any, tile_server: TileServer,
                                                 artifacts: Any) -> None:  # fmt: skip
    page: Page = tab.page
    tile_server.paths.clear()
    page.goto(live_server.url + "/")
    page.wait_for_selector("#map[data-state=ready]", state="attached", timeout=READY_MS)
    assert_basemap_drawn(page, "map", tile_server)
    page.screenshot(path=str(artifacts / "map-basemap.png"))
    tab.traffic.assert_clean()


def test_dashboard_draws_the_intranet_basemap(live_server: Any, tab: Any, tile_server: TileServer) -> None:
    page: Page = tab.page
    tile_server.paths.clear()
    page.goto(live_server.url + "/dashboard")
    page.wait_for_selector("#dash-map[data-state=ready]", state="attached", timeout=READY_MS)
    assert_basemap_drawn(page, "dash-map", tile_server)
    tab.traffic.assert_clean()


def test_route_map_draws_the_intranet_basemap(live_server: Any, tab: Any, tile_server: TileServer,
                                              route_task: int) -> None:  # fmt: skip
    page: Page = tab.page
    tile_server.paths.clear()
    page.goto(f"{live_server.url}/imagery/tasks/{route_task}")
    page.wait_for_selector("#task-map[data-state=ready]", state="attached", timeout=READY_MS)
    assert_basemap_drawn(page, "task-map", tile_server)
    tab.traffic.assert_clean()


def test_field_app_draws_the_intranet_basemap_with_its_credit(live_server: Any, anon_tab: Any, tile_server: TileServer,
                                                              login_page: Any) -> None:  # fmt: skip
    page: Page = anon_tab.page
    tile_server.paths.clear()
    login_page(page, live_server.url, "crew_xian")
    page.goto(live_server.url + "/field")
    assert_basemap_drawn(page, "field-map", tile_server)
