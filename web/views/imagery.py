"""Drone imagery on the web: XYZ tiles of the orthophoto mosaic, flight records, interpretation cells and the
analyst's page, review, candidates and crews' verification tasks, and the yield report.
"""

from __future__ import annotations

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from outfalls.imagery import tiles
from web.auth import requires
from web.db import db, settings

bp = Blueprint("imagery", __name__)


@bp.get("/imagery/tiles/<int:z>/<int:x>/<int:y>.png")
@requires()
def tile(z: int, x: int, y: int) -> ResponseReturnValue:
    """A 256-pixel PNG of every orthophoto covering the tile, newest on top; transparent where there is none."""
    s = settings().imagery
    png = tiles.tile_png(db(), z, x, y, store_dir=s.store_dir, cache_dir=s.tile_cache_dir)
    response = Response(png, mimetype="image/png")
    response.cache_control.private = True
    response.cache_control.max_age = 300
    return response
