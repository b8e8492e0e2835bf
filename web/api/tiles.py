"""Vector tiles (``/tiles/...``): the outfalls as Mapbox vector tiles for every map, made by the domain's
``ST_AsMVT`` query.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from outfalls import progress as domain
from web.auth import current_scope, requires
from web.db import db, settings
from web.forms import parse_date

bp = Blueprint("tiles", __name__, url_prefix="/tiles")


@bp.get("/outfalls/<int:z>/<int:x>/<int:y>.mvt")
@requires()
def outfall_tile(z: int, x: int, y: int) -> ResponseReturnValue:
    """Outfalls as a Mapbox vector tile (``as_of``, ``state``, ``scope=KIND:CODE``), clustered at low zoom."""
    tile = domain.outfall_tile(
        db(), z, x, y, scope=current_scope(), as_of=parse_date(request.args, "as_of"),
        state=request.args.get("state") or None, within=domain.parse_scope(request.args.get("scope")),
        cluster_below_zoom=settings().progress.cluster_below_zoom,
    )  # fmt: skip
    response = Response(tile, mimetype="application/vnd.mapbox-vector-tile")
    response.cache_control.private = True
    response.cache_control.max_age = 300
    return response
