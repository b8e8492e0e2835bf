"""Every page on a phone, in headless Chromium at 390×844: the crew and the case officer visit every page they can
reach; none scrolls sideways, the menu opens and shows log-out and the language switch, tables become stacked
cards with a label per cell, controls are touch-sized; the crew's route map draws its route and shows "you are
here". At 1366 px the English navigation fits one line. Screenshots in test-artifacts/.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import text
from sqlalchemy.orm import Session
from waitress import create_server, wasyncore

from imagery import candidates, cells, interpretation
from imagery.ingest import ingest_orthophoto
from imagery.models import MarkKind
from imagery.synthetic import relocate
from outfalls.config import Settings, load_settings
from outfalls.db.cluster import Cluster
from outfalls.db.engine import make_engine
from outfalls.demo import DEMO_PASSWORD, seed_demo, seed_demo_users
from outfalls.scope import Scope
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DEMO, LiveServer, log_in

pytestmark = pytest.mark.browser

PIX4D = Path(__file__).resolve().parents[1] / "fixtures" / "imagery" / "riotiler_pix4d_alpha_nodata.tif"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}
HERE = {"latitude": 34.35, "longitude": 108.95}  # somewhere in Xi'an
READY_MS = 30_000

# The longest stretch of the 渭河 inside Xi'an (610100): where the crews of Xi'an walk.
_WEI_IN_XIAN = text(
    """
    SELECT ST_X(p), ST_Y(p) FROM (
      SELECT ST_LineInterpolatePoint(d.geom, 0.5) AS p
      FROM rivers r, admin_areas a, ST_Dump(ST_Intersection(r.geom, a.geom)) d
      WHERE r.name = '渭河' AND a.code = '610100' AND ST_GeometryType(d.geom) = 'ST_LineString'
      ORDER BY ST_Length(d.geom) DESC LIMIT 1) q
    """
)
# A point of the analyst's cell on the orthophoto's valid pixels, and a small square beside it.
_ON_IMAGE = text(
    """
    SELECT ST_X(p), ST_Y(p) FROM (
      SELECT ST_PointOnSurface(ST_Intersection(c.geom, o.footprint)) AS p
      FROM interpretation_cells c, orthophotos o WHERE c.id = :cell) q
    """
)


def seed_route(session: Session, settings: Settings, data_dir: Path) -> int:
    """The demo catalogue plus a drone route for ``crew_xian``: the Pix4D orthophoto placed on the 渭河 in Xi'an,
    its cells, one accepted candidate and one sensitive area, given to the crew. Returns the task id."""
    seed_demo(session, **DEMO)
    seed_demo_users(session)
    lon, lat = session.execute(_WEI_IN_XIAN).one()
    ortho = relocate(PIX4D, data_dir / "wei_gk.tif", crs="EPSG:4547", center_lonlat=(lon, lat))
    ingest_orthophoto(session, ortho, store_dir=settings.imagery.store_dir, actor="tester", sortie="XA-01")
    s = settings.imagery
    cells.build_cells(session, "HH", landward_m=s.landward_m, waterward_m=s.waterward_m, cell_m=s.cell_m)
    national = Scope.national()
    cell = cells.next_cell(session, analyst="analyst", scope=national)
    assert cell is not None
    x, y = session.execute(_ON_IMAGE, {"cell": cell.id}).one()
    point = interpretation.MarkInput({"type": "Point", "coordinates": [x, y]}, type_guess="4", confidence="high",
                                     note="河岸管口，有水流痕迹")  # fmt: skip
    d = 0.00005
    ring = [[x + d, y + d], [x + 3 * d, y + d], [x + 3 * d, y + 3 * d], [x + d, y + 3 * d], [x + d, y + d]]
    area = interpretation.MarkInput({"type": "Polygon", "coordinates": [ring]}, area_kind="bridge")
    marks = [interpretation.add_mark(session, cell.id, MarkKind.POINT, point, actor="analyst", scope=national),
             interpretation.add_mark(session, cell.id, MarkKind.AREA, area, actor="analyst", scope=national)]  # fmt: skip
    cells.finish_cell(session, cell.id, actor="analyst", scope=national)
    for mark in marks:
        interpretation.review_mark(session, mark.id, "accept", actor="reviewer", scope=national)
    task = candidates.create_task(session, "crew_xian", actor="reviewer", scope=national, name="渭河西安段 核查 1")
    return task.id


@pytest.fixture(scope="module")
def live_server(pg_cluster: Cluster, clone_db: Callable[[str], str],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:  # fmt: skip
    """The demo catalogue served live, with a drone route for the Xi'an crew."""
    from web import create_app

    name = "browser_phone"
    url = clone_db(name)
    data_dir = tmp_path_factory.mktemp("phone_data")
    settings = load_settings(env={}, overrides={"database.url": url, "storage.data_dir": str(data_dir)})
    seeding = make_engine(url)
    try:
        with Session(seeding) as session:
            seed_route(session, settings, data_dir)
            session.commit()
    finally:
        seeding.dispose()
    app = create_app(settings)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name=f"waitress-{name}", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.effective_port}", outfalls=0, db_url=url)
    finally:
        server.task_dispatcher.shutdown()
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)
        app.extensions["outfalls.sessions"].kw["bind"].dispose()
        pg_cluster.drop_database(name)
    assert not thread.is_alive()
