"""Vector tiles (``/tiles/...``): the outfalls as Mapbox vector tiles for every map, made by the domain's
``ST_AsMVT`` query and kept in the app's tile cache while the catalogue has not changed.
"""

from __future__ import annotations

from collections.abc import Hashable

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue

from outfalls import progress as domain
from outfalls.db.notify import ChangeCache
from web.auth import current_scope, requires
from web.db import db, served_by_replica, settings
from web.forms import parse_date

bp = Blueprint("tiles", __name__, url_prefix="/tiles")


@bp.get("/outfalls/<int:z>/<int:x>/<int:y>.mvt")
@requires()
def outfall_tile(z: int, x: int, y: int) -> ResponseReturnValue:
    """Outfalls as a Mapbox vector tile (``as_of``, ``state``, ``scope=KIND:CODE``), clustered at low zoom."""
    scope, as_of = current_scope(), parse_date(request.args, "as_of")
    state, within = request.args.get("state") or None, domain.parse_scope(request.args.get("scope"))
    below = settings().progress.cluster_below_zoom
    key = ("outfalls", z, x, y, scope, as_of, domain.today(), state, within, below)
    cache: ChangeCache[Hashable, bytes] = current_app.extensions["outfalls.tile_cache"]
    # The database is chosen only when the tile is made (a kept tile needs none); a tile read from a replica is
    # not kept, as the replica may not hold the last change heard yet.
    tile = cache.get(key, lambda: domain.outfall_tile(db(), z, x, y, scope=scope, as_of=as_of, state=state,
                                                       within=within, cluster_below_zoom=below),
                      keep=lambda: not served_by_replica())  # fmt: skip
    # the header written out: Werkzeug's cache_control object parses and writes it again on every change
    return Response(tile, mimetype="application/vnd.mapbox-vector-tile", headers=TILE_CACHE_CONTROL)


TILE_CACHE_CONTROL = {"Cache-Control": "private, max-age=300"}
