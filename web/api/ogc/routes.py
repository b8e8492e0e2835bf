"""The routes of the OGC API – Features under ``/ogc``: landing page, conformance, OpenAPI 3.0 document,
collections, queryables, schemas, items and single items, as JSON/GeoJSON for GIS clients (QGIS, ArcGIS, GDAL)
and as HTML pages for people.

GIS clients authenticate with a personal API token (``Authorization: Bearer``, or HTTP Basic with the user name
and the token); a browser with its session cookie. Errors are the OGC exception body ``{code, description}``
with the status of ``web.errors``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from flask.globals import request_ctx
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from outfalls import clock
from outfalls.catalogue import features
from outfalls.errors import InvalidInput, NotAuthenticated, NotFound, OutfallsError
from web.api.json import dumps
from web.api.ogc.collections import (
    COLLECTIONS,
    DESCRIPTIONS,
    HTML_COLUMNS,
    PROPERTY_LABELS,
    TITLES,
    Collection,
    Property,
    get_collection,
)
from web.api.ogc.openapi import GEOJSON, HTML, JSON, OPENAPI, SCHEMA, openapi_document
from web.api.ogc.params import (
    CRS84,
    LAT_LON_CRS,
    MAX_LIMIT,
    STORAGE_CRS,
    SUPPORTED_CRS,
    TRS,
    parse_crs,
    parse_item_query,
)
from web.auth import current_scope, public
from web.db import MAX_ID, db, settings
from web.errors import status_of

bp = Blueprint("ogcapi", __name__, url_prefix="/ogc")

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
)
REL_CONFORMANCE = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
REL_DATA = "http://www.opengis.net/def/rel/ogc/1.0/data"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
# The OGC exception code of each status (the status itself comes from web.errors).
EXCEPTION_CODES = {
    400: "InvalidParameterValue",
    401: "NotAuthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    503: "ServiceUnavailable",
}


def ogc_route(view: Any) -> Any:
    """Declare an OGC route. The app-wide check lets it through (as public) because this blueprint answers
    strangers itself (:func:`_require_login`): GIS clients need a 401 with a Basic challenge, not the login
    page, before they send their credentials. Every OGC route needs a login (or a token).
    """
    return public(view)


# -- formats, errors and login ------------------------------------------------------------------------------
def _format() -> str:
    """``json`` or ``html``: the ``f`` parameter, else the Accept header (JSON unless HTML is preferred)."""
    f = (request.args.get("f") or "").strip().lower()
    if f in ("json", "geojson", JSON, GEOJSON):
        return "json"
    if f in ("html", HTML):
        return "html"
    if f:
        raise InvalidInput(f"f: unknown format {f!r}; use json or html", field="f", value=f)
    best = request.accept_mimetypes.best_match([GEOJSON, JSON, HTML], default=JSON)
    return "html" if best == HTML else "json"


def _safe_format() -> str:
    try:
        return _format()
    except InvalidInput:
        return "json"


def _exception(status: int, description: str) -> ResponseReturnValue:
    if _safe_format() == "html":
        titles = {400: _("Bad request"), 401: _("Login required"), 403: _("Not allowed"), 404: _("Not found")}
        return render_template(
            "errors/error.html", status=status, title=titles.get(status, _("Error")), message=description
        ), status
    code = EXCEPTION_CODES.get(status, "InvalidParameterValue" if status < 500 else "NoApplicableCode")
    body = {"code": code, "description": description}
    return Response(dumps(body), status, mimetype=JSON)


def _domain_error(err: OutfallsError) -> ResponseReturnValue:
    return _exception(status_of(err, ogc=True), err.message)


def _http_error(err: HTTPException) -> ResponseReturnValue:
    return _exception(err.code or 500, err.description or err.name)


bp.register_error_handler(OutfallsError, _domain_error)
bp.register_error_handler(HTTPException, _http_error)


@bp.before_request
def _public_address() -> None:
    """Build this request's URLs (every link of the documents, the pages and the OpenAPI ``servers``) on the
    configured public address rather than the Host header a client sent (which anyone can set).
    """
    base = settings().server.public_url
    if base:
        parts = urlsplit(base)
        request_ctx.url_adapter = current_app.url_map.bind(
            parts.netloc, script_name=parts.path.rstrip("/") or "/", url_scheme=parts.scheme
        )


@bp.before_request
def _require_login() -> ResponseReturnValue | None:
    if g.get("identity") is not None:
        return None
    if _safe_format() == "html":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    raise NotAuthenticated("send an API token (Authorization: Bearer, or HTTP Basic with your user name and token)")


@bp.after_request
def _not_stored(response: Response) -> Response:
    # Answers depend on who asks and the catalogue changes all the time: a client's cache (QGIS keeps one keyed by
    # URL only) must not hand one user's answer to another or keep an old one.
    response.headers["Cache-Control"] = "no-store"
    response.vary.update(("Authorization", "Cookie"))
    return response


# -- links ---------------------------------------------------------------------------------------------------
def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


def _self_links(endpoint: str, fmt: str, json_type: str = JSON, **values: Any) -> list[dict[str, str]]:
    """``self`` and ``alternate`` links to the JSON and HTML forms of this resource."""
    args = {k: v for k, v in request.args.items() if k != "f"} | values
    as_json = url_for(endpoint, _external=True, **args, f="json")
    as_html = url_for(endpoint, _external=True, **args, f="html")
    json_link = _link(as_json, "self" if fmt == "json" else "alternate", json_type, _("This document as JSON"))
    html_link = _link(as_html, "self" if fmt == "html" else "alternate", HTML, _("This document as HTML"))
    return [json_link, html_link] if fmt == "json" else [html_link, json_link]


def _json(data: Any, mimetype: str = JSON, **headers: str) -> Response:
    return Response(dumps(data), mimetype=mimetype, headers=headers)


def _content_crs(crs: str) -> dict[str, str]:
    return {"Content-Crs": f"<{crs}>"}


# -- landing page, conformance, OpenAPI ------------------------------------------------------------------------
@bp.get("/", strict_slashes=False)
@ogc_route
def landing() -> ResponseReturnValue:
    fmt = _format()
    title = _("River outfall register: OGC API – Features")
    doc = {
        "title": title,
        "description": _(
            "Outfalls, drone candidates, basins, rivers and administrative areas for GIS clients (QGIS, ArcGIS, GDAL)."
        ),
        "links": [
            *_self_links(".landing", fmt),
            _link(url_for(".openapi", _external=True), "service-desc", OPENAPI, _("The API definition (OpenAPI 3.0)")),
            _link(url_for(".openapi", _external=True, f="html"), "service-doc", HTML, _("The API documentation")),
            _link(url_for(".conformance", _external=True), "conformance", JSON, _("Conformance classes")),
            _link(url_for(".conformance", _external=True), REL_CONFORMANCE, JSON, _("Conformance classes")),
            _link(url_for(".collections", _external=True), "data", JSON, _("Collections")),
            _link(url_for(".collections", _external=True), REL_DATA, JSON, _("Collections")),
        ],
    }
    if fmt == "html":
        return render_template("ogcapi/landing.html", doc=doc, collections=COLLECTIONS, titles=TITLES)
    return _json(doc)


@bp.get("/conformance")
@ogc_route
def conformance() -> ResponseReturnValue:
    fmt = _format()
    doc = {"conformsTo": list(CONFORMANCE), "links": _self_links(".conformance", fmt)}
    if fmt == "html":
        return render_template("ogcapi/conformance.html", doc=doc)
    return _json(doc)


@bp.get("/api")
@ogc_route
def openapi() -> ResponseReturnValue:
    doc = openapi_document()
    if _format() == "html":
        return render_template("ogcapi/api.html", doc=doc)
    return _json(doc, OPENAPI)


# -- collections --------------------------------------------------------------------------------------------
def _collection_doc(collection: Collection, *, fmt: str | None = None) -> dict[str, Any]:
    cid = collection.id
    extent = features.layer_extent(db(), cid, scope=current_scope())
    links = _self_links(".collection", fmt, collection_id=cid) if fmt else []
    links += [
        _link(url_for(".items", collection_id=cid, _external=True), "items", GEOJSON, _("The features as GeoJSON")),
        _link(url_for(".items", collection_id=cid, _external=True, f="html"), "items", HTML, _("The features as HTML")),
        _link(url_for(".queryables", collection_id=cid, _external=True), REL_QUERYABLES, SCHEMA,
              _("The properties the features can be filtered on")),
        # GDAL reads the field types from this link (spelled describedBy) instead of guessing them from a sample.
        _link(url_for(".schema", collection_id=cid, _external=True), "describedBy", SCHEMA,
              _("The schema of the features")),
    ]  # fmt: skip
    doc: dict[str, Any] = {
        "id": cid,
        "title": str(TITLES[cid]),
        "description": str(DESCRIPTIONS[cid]),
        "itemType": "feature",
        "links": links,
        "extent": {"spatial": {"bbox": [list(extent.bbox)] if extent.bbox else [], "crs": CRS84}},
        "crs": list(SUPPORTED_CRS),
        "storageCrs": STORAGE_CRS,
    }
    if collection.temporal:
        start = _day_start(extent.first_day) if extent.first_day else None
        end = _day_end(extent.last_day) if extent.last_day else None
        doc["extent"]["temporal"] = {"interval": [[start, end]], "trs": TRS}
    return doc


@bp.get("/collections")
@ogc_route
def collections() -> ResponseReturnValue:
    fmt = _format()
    doc = {
        "links": _self_links(".collections", fmt),
        "collections": [_collection_doc(c) for c in COLLECTIONS],
        "crs": list(SUPPORTED_CRS),
    }
    if fmt == "html":
        return render_template("ogcapi/collections.html", doc=doc)
    return _json(doc)


@bp.get("/collections/<collection_id>")
@ogc_route
def collection(collection_id: str) -> ResponseReturnValue:
    fmt = _format()
    doc = _collection_doc(get_collection(collection_id), fmt=fmt)
    if fmt == "html":
        return render_template("ogcapi/collection.html", doc=doc, collection=get_collection(collection_id))
    return _json(doc)


def _property_schema(prop: Property) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": str(PROPERTY_LABELS.get(prop.name, prop.name)), "type": prop.type}
    if prop.format:
        schema["format"] = prop.format
    if prop.choices:
        schema["enum"] = list(prop.choices)
    return schema


@bp.get("/collections/<collection_id>/queryables")
@ogc_route
def queryables(collection_id: str) -> ResponseReturnValue:
    c = get_collection(collection_id)
    doc = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url_for(".queryables", collection_id=c.id, _external=True),
        "type": "object",
        "title": str(TITLES[c.id]),
        "properties": {p.name: _property_schema(p) for p in c.filters},
        "additionalProperties": False,
    }
    if _format() == "html":
        return render_template("ogcapi/queryables.html", doc=doc, collection=c, titles=TITLES)
    return _json(doc, SCHEMA)


@bp.get("/collections/<collection_id>/schema")
@ogc_route
def schema(collection_id: str) -> ResponseReturnValue:
    c = get_collection(collection_id)
    properties = {p.name: _property_schema(p) for p in c.properties if p.name != "id"}  # id: the feature's own id
    doc = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url_for(".schema", collection_id=c.id, _external=True),
        "title": str(TITLES[c.id]),
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "integer"},
            "geometry": {"type": "object", "title": c.geometry_type},
            "properties": {"type": "object", "properties": properties},
        },
    }
    return _json(doc, SCHEMA)


# -- items ----------------------------------------------------------------------------------------------------
def _query_args() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k != "f"}


@bp.get("/collections/<collection_id>/items")
@ogc_route
def items(collection_id: str) -> ResponseReturnValue:
    fmt = _format()
    c = get_collection(collection_id)
    query = parse_item_query(c, _query_args())
    page = features.get_items(
        db(), c.id, scope=current_scope(), limit=query.limit, offset=query.offset, bbox=query.bbox, days=query.days,
        filters=query.filters, lat_first=query.lat_first,
    )  # fmt: skip
    links = _self_links(".items", fmt, GEOJSON, collection_id=c.id)
    args: dict[str, Any] = _query_args() | {"f": fmt}
    if page.has_next:
        href = url_for(".items", collection_id=c.id, _external=True, **(args | {"offset": page.offset + page.limit}))
        links.append(_link(href, "next", GEOJSON if fmt == "json" else HTML, _("Next page")))
    if page.offset > 0:
        previous = max(0, page.offset - page.limit)
        href = url_for(".items", collection_id=c.id, _external=True, **(args | {"offset": previous}))
        links.append(_link(href, "prev", GEOJSON if fmt == "json" else HTML, _("Previous page")))
    collection_url = url_for(".collection", collection_id=c.id, _external=True)
    links.append(_link(collection_url, "collection", JSON, str(TITLES[c.id])))
    meta = {
        "numberMatched": page.number_matched,
        "numberReturned": page.number_returned,
        "timeStamp": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "links": links,
    }
    if fmt == "html":
        return render_template(
            "ogcapi/items.html", collection=c, page=page, features=page.features(), meta=meta, query=query,
            args=_query_args(), columns=HTML_COLUMNS.get(c.id), title=TITLES[c.id], labels=PROPERTY_LABELS,
            max_limit=MAX_LIMIT, lat_lon=query.lat_first,
        )  # fmt: skip
    # The features are passed through as PostGIS wrote them; only the members around them are encoded here.
    body = (
        '{"type":"FeatureCollection","features":' + page.features_json + "," + dumps(meta)[1:]
    )
    return Response(body, mimetype=GEOJSON, headers=_content_crs(query.crs))


@bp.get("/collections/<collection_id>/items/<feature_id>")
@ogc_route
def item(collection_id: str, feature_id: str) -> ResponseReturnValue:
    fmt = _format()
    c = get_collection(collection_id)
    unknown = sorted(set(_query_args()) - {"crs"})
    if unknown:
        raise InvalidInput(f"unknown parameter {unknown[0]!r}; a feature takes crs and f", field=unknown[0])
    crs = parse_crs(request.args.get("crs"))
    if not feature_id.isdigit() or len(feature_id) > 18 or int(feature_id) > MAX_ID:
        raise NotFound(f"there is no feature {feature_id!r} in {c.id!r}", entity="feature", id=feature_id)
    feature = features.get_item(db(), c.id, int(feature_id), scope=current_scope(), lat_first=crs in LAT_LON_CRS)
    feature["links"] = [
        *_self_links(".item", fmt, GEOJSON, collection_id=c.id, feature_id=feature_id),
        _link(url_for(".collection", collection_id=c.id, _external=True), "collection", JSON, str(TITLES[c.id])),
    ]
    if fmt == "html":
        return render_template(
            "ogcapi/item.html", collection=c, feature=feature, title=TITLES[c.id], labels=PROPERTY_LABELS,
            crs=crs, lat_lon=crs in LAT_LON_CRS,
        )  # fmt: skip
    return _json(feature, GEOJSON, **_content_crs(crs))


@bp.get("/<path:rest>")
@ogc_route
def unknown(rest: str) -> ResponseReturnValue:
    raise NotFound(f"there is nothing at /ogc/{rest}", entity="path", id=rest)


def _day_start(day: date) -> str:
    """The RFC 3339 moment a local day starts (for temporal extents)."""
    return clock.start_of_day(day).astimezone(clock.zone()).isoformat()


def _day_end(day: date) -> str:
    """The RFC 3339 moment a local day ends (its last second)."""
    return (clock.end_of_day(day) - timedelta(seconds=1)).astimezone(clock.zone()).isoformat()
