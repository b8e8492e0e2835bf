"""The JSON API: the data behind every page, for scripts and other tools."""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from outfalls.catalogue import queries
from outfalls.catalogue.queries import OutfallFilter
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import parse_bbox, parse_filter, parse_int, parse_paging

bp = Blueprint("api", __name__, url_prefix="/api")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _filter() -> OutfallFilter:
    return parse_filter(request.args, me=current_identity().login)


@bp.get("/outfalls")
@requires()
def outfalls() -> ResponseReturnValue:
    """A page of the outfall list: ``items``, ``total``, ``page``, ``page_size``, ``pages``."""
    page, size = parse_paging(request.args, settings())
    result = queries.list_outfalls(db(), _filter(), scope=current_scope(), page=page, page_size=size)
    return jsonify(
        items=_plain(result.items), total=result.total, page=result.page, page_size=result.page_size, pages=result.pages
    )


@bp.get("/outfalls/<int:outfall_id>")
@requires()
def outfall(outfall_id: int) -> ResponseReturnValue:
    """One outfall with its type path, administrative path and event history."""
    return jsonify(_plain(queries.get_outfall(db(), outfall_id, scope=current_scope())))


@bp.get("/map/outfalls")
@requires()
def map_outfalls() -> ResponseReturnValue:
    """Outfalls for the map as GeoJSON (``bbox``, filters, ``limit``); ``truncated`` when there are more."""
    s = settings()
    limit = parse_int(request.args, "limit", s.map.max_features, maximum=s.map.max_features)
    geojson = queries.map_outfalls_geojson(
        db(),
        _filter(),
        parse_bbox(request.args),
        scope=current_scope(),
        limit=limit,
    )
    return Response(geojson, mimetype="application/geo+json")


@bp.get("/layers/<name>")
@requires()
def layer(name: str) -> ResponseReturnValue:
    """A reference layer (basins, sub_basins, rivers, provinces, cities, counties) as GeoJSON."""
    response: Response = jsonify(queries.reference_layer(db(), name))
    response.cache_control.max_age = 3600
    response.cache_control.private = True
    return response


@bp.get("/facets")
@requires()
def facets() -> ResponseReturnValue:
    """The values the filters offer."""
    return jsonify(_plain(queries.facets(db(), scope=current_scope())))


@bp.get("/summary")
@requires()
def summary() -> ResponseReturnValue:
    """Outfalls per lifecycle state, for the filters given."""
    counts = queries.status_counts(db(), _filter(), scope=current_scope())
    return jsonify(total=sum(counts.values()), by_status=counts)
