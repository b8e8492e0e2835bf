"""The JSON API: the data behind every page, for scripts and other tools; and the application's JSON reader and
writer, which keep to JSON proper (RFC 8259): no ``NaN`` or ``Infinity`` in, none out.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue

from outfalls.catalogue import queries
from outfalls.catalogue.labels import reference_labels
from outfalls.catalogue.queries import OutfallFilter
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import parse_bbox, parse_filter, parse_int, parse_paging

bp = Blueprint("api", __name__, url_prefix="/api")


class JSONRefused(ValueError):
    """A body that is not JSON proper (Flask's ``get_json`` turns a ``ValueError`` into its own answer)."""


def _refuse_constant(name: str) -> None:
    raise JSONRefused(f"{name} is not a number JSON allows; send a finite number, or null")


def finite(value: Any) -> Any:
    """``value`` with every number that is not finite (NaN, ±Infinity) replaced by None, which JSON can carry."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return finite(dataclasses.asdict(value))
    return value


def dumps(value: Any) -> str:
    """JSON text for hand-built answers (the OGC API), keeping the order of members; NaN and ±Infinity as null."""
    try:  # most answers hold neither, nor dataclasses: then the walk through every value is not needed
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError):
        return json.dumps(finite(value), ensure_ascii=False, allow_nan=False)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON with two refusals. Reading: the ``NaN``/``Infinity`` literals Python's reader accepts, and
    nesting deeper than the reader's recursion allows, are a ``ValueError`` like any malformed body. Writing: a
    number that is not finite (a value stored before they were refused) is written as null, never as bare
    ``NaN``, which no JSON parser but Python's and JavaScript's ``eval`` reads.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON text."""
        kwargs.setdefault("parse_constant", _refuse_constant)
        try:
            return json.loads(s, **kwargs)
        except RecursionError as err:
            raise JSONRefused("the JSON is nested too deeply") from err

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Write JSON text."""
        kwargs.setdefault("allow_nan", False)
        try:
            return super().dumps(obj, **kwargs)
        except ValueError:  # a NaN or an infinity somewhere: rare, so the walk is paid only then
            return super().dumps(finite(obj), **kwargs)


_SCALARS = frozenset({str, int, float, bool, type(None)})
_DATES = frozenset({date, datetime})
_FIELDS: dict[type, tuple[str, ...]] = {}  # the field names of each dataclass met, looked up once


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready lists, dicts and scalars: dataclasses as objects, dates as ISO 8601."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind in _DATES:
        return value.isoformat()
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        out = {}
        for name in names:  # a list page has some 1,250 of these: scalars are taken as they are
            v = getattr(value, name)
            out[name] = v if type(v) in _SCALARS else _plain(v)
        return out
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


@bp.get("/labels")
@requires()
def labels() -> ResponseReturnValue:
    """Label points of the reference data (areas, basins, rivers along their lines) as GeoJSON."""
    response = Response(dumps(reference_labels(db())), mimetype="application/geo+json")
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
