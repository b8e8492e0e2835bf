"""OGC API – Features under ``/ogc``: landing page, conformance, OpenAPI 3.0 document, collections, items and
single items, as JSON/GeoJSON for GIS clients (QGIS, ArcGIS, GDAL) and as HTML pages for people.

GIS clients authenticate with a personal API token (``Authorization: Bearer``, or HTTP Basic with the user name
and the token); a browser with its session cookie. Errors are the OGC exception body ``{code, description}``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from outfalls import ogcapi
from outfalls.errors import (
    DatabaseUnavailable,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    OutfallsError,
    PermissionDenied,
)
from outfalls.ogcapi import CRS84, MAX_LIMIT, SUPPORTED_CRS, Collection
from web.auth import current_scope, public
from web.db import db

bp = Blueprint("ogcapi", __name__, url_prefix="/ogc")

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"
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

TITLES = {
    "outfalls": _l("Outfalls"),
    "candidates": _l("Drone candidates"),
    "basins": _l("Basins"),
    "rivers": _l("Rivers"),
    "admin_areas": _l("Administrative areas"),
}
DESCRIPTIONS = {
    "outfalls": _l("Every outfall in your scope: codes, type, location, how it was found and its lifecycle state."),
    "candidates": _l("Suspected outfalls from drone imagery, not yet verified on the ground (state: candidate)."),
    "basins": _l("Basins and sub-basins (reference data)."),
    "rivers": _l("Rivers (reference data)."),
    "admin_areas": _l("Provinces, cities and counties with their GB/T 2260 codes (reference data)."),
}
PROPERTY_LABELS = {
    "id": _l("Id"), "name": _l("Name"), "national_code": _l("National code"), "local_code": _l("Local code"),
    "type_code": _l("Type code"), "type_zh": _l("Type"), "type_en": _l("Type (English)"), "status": _l("Status"),
    "status_since": _l("In this state since"), "found_by": _l("Found by"), "found_on": _l("Found on"),
    "basin": _l("Basin code"), "basin_name": _l("Basin"), "sub_basin": _l("Sub-basin code"),
    "sub_basin_name": _l("Sub-basin"), "river": _l("River"), "area": _l("Area code"),
    "area_name": _l("Administrative area"), "receiving_water": _l("Receiving water"),
    "is_discharging": _l("Discharging"), "last_sampled_on": _l("Last sampled"), "exceeds_limit": _l("Over the limit"),
    "responsible_party": _l("Responsible party"), "remediation_category": _l("Remediation category"),
    "assigned_to": _l("Case officer"), "case_deadline": _l("Deadline"), "is_demo": _l("Demo"),
    "version": _l("Version"), "code": _l("Code"), "name_en": _l("English name"), "level": _l("Level"),
    "parent": _l("Parent code"), "area_km2": _l("Area (km²)"), "length_km": _l("Length (km)"),
    "code_version": _l("Code version"),
}  # fmt: skip
# The columns an items page shows people (every property is on the feature's own page).
HTML_COLUMNS = {
    "outfalls": ("name", "type_zh", "status", "found_on", "sub_basin_name", "river", "area_name"),
    "candidates": ("name", "type_zh", "found_by", "found_on", "sub_basin_name", "river", "area_name"),
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


ERRORS: dict[type[OutfallsError], tuple[int, str]] = {
    NotFound: (404, "NotFound"),
    InvalidInput: (400, "InvalidParameterValue"),
    NotAuthenticated: (401, "NotAuthenticated"),
    PermissionDenied: (403, "Forbidden"),
    DatabaseUnavailable: (503, "ServiceUnavailable"),
    OutfallsError: (400, "InvalidParameterValue"),
}


def _exception(status: int, code: str, description: str) -> ResponseReturnValue:
    if _safe_format() == "html":
        titles = {400: _("Bad request"), 401: _("Login required"), 403: _("Not allowed"), 404: _("Not found")}
        return render_template(
            "errors/error.html", status=status, title=titles.get(status, _("Error")), message=description
        ), status
    return Response(json.dumps({"code": code, "description": description}, ensure_ascii=False), status, mimetype=JSON)


def _domain_error(err: OutfallsError) -> ResponseReturnValue:
    status, code = next(v for k, v in ERRORS.items() if isinstance(err, k))
    return _exception(status, code, err.message)


def _http_error(err: HTTPException) -> ResponseReturnValue:
    status = err.code or 500
    code = {404: "NotFound", 405: "MethodNotAllowed"}.get(status, "InvalidParameterValue")
    return _exception(status, code, err.description or err.name)


bp.register_error_handler(OutfallsError, _domain_error)
bp.register_error_handler(HTTPException, _http_error)


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
    return Response(json.dumps(data, ensure_ascii=False), mimetype=mimetype, headers=headers)


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
        return render_template("ogcapi/landing.html", doc=doc, collections=ogcapi.COLLECTIONS, titles=TITLES)
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
    doc = _openapi_document()
    if _format() == "html":
        return render_template("ogcapi/api.html", doc=doc)
    return _json(doc, OPENAPI)


# -- collections --------------------------------------------------------------------------------------------
def _collection_doc(collection: Collection, *, fmt: str | None = None) -> dict[str, Any]:
    cid = collection.id
    extent = ogcapi.collection_extent(db(), collection, scope=current_scope())
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
        "storageCrs": ogcapi.STORAGE_CRS,
    }
    if collection.temporal:
        start = ogcapi.day_start(extent.first_day) if extent.first_day else None
        end = ogcapi.day_end(extent.last_day) if extent.last_day else None
        doc["extent"]["temporal"] = {"interval": [[start, end]], "trs": ogcapi.TRS}
    return doc


@bp.get("/collections")
@ogc_route
def collections() -> ResponseReturnValue:
    fmt = _format()
    doc = {
        "links": _self_links(".collections", fmt),
        "collections": [_collection_doc(c) for c in ogcapi.COLLECTIONS],
        "crs": list(SUPPORTED_CRS),
    }
    if fmt == "html":
        return render_template("ogcapi/collections.html", doc=doc)
    return _json(doc)


@bp.get("/collections/<collection_id>")
@ogc_route
def collection(collection_id: str) -> ResponseReturnValue:
    fmt = _format()
    doc = _collection_doc(ogcapi.get_collection(collection_id), fmt=fmt)
    if fmt == "html":
        return render_template("ogcapi/collection.html", doc=doc, collection=ogcapi.get_collection(collection_id))
    return _json(doc)


def _property_schema(prop: ogcapi.Property) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": str(PROPERTY_LABELS.get(prop.name, prop.name)), "type": prop.type}
    if prop.format:
        schema["format"] = prop.format
    if prop.choices:
        schema["enum"] = list(prop.choices)
    return schema


@bp.get("/collections/<collection_id>/queryables")
@ogc_route
def queryables(collection_id: str) -> ResponseReturnValue:
    c = ogcapi.get_collection(collection_id)
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
    c = ogcapi.get_collection(collection_id)
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
    c = ogcapi.get_collection(collection_id)
    query = ogcapi.parse_item_query(c, _query_args())
    page = ogcapi.get_items(db(), c, query, scope=current_scope())
    links = _self_links(".items", fmt, GEOJSON, collection_id=c.id)
    args = _query_args() | {"f": fmt}
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
            max_limit=MAX_LIMIT, lat_lon=query.crs in ogcapi.LAT_LON_CRS,
        )  # fmt: skip
    # The features are passed through as PostGIS wrote them; only the members around them are encoded here.
    body = (
        '{"type":"FeatureCollection","features":' + page.features_json + "," + json.dumps(meta, ensure_ascii=False)[1:]
    )
    return Response(body, mimetype=GEOJSON, headers=_content_crs(query.crs))


@bp.get("/collections/<collection_id>/items/<feature_id>")
@ogc_route
def item(collection_id: str, feature_id: str) -> ResponseReturnValue:
    fmt = _format()
    c = ogcapi.get_collection(collection_id)
    unknown = sorted(set(_query_args()) - {"crs"})
    if unknown:
        raise InvalidInput(f"unknown parameter {unknown[0]!r}; a feature takes crs and f", field=unknown[0])
    crs = ogcapi.parse_crs(request.args.get("crs"))
    feature = ogcapi.get_item(db(), c, feature_id, crs=crs, scope=current_scope())
    feature["links"] = [
        *_self_links(".item", fmt, GEOJSON, collection_id=c.id, feature_id=feature_id),
        _link(url_for(".collection", collection_id=c.id, _external=True), "collection", JSON, str(TITLES[c.id])),
    ]
    if fmt == "html":
        return render_template(
            "ogcapi/item.html", collection=c, feature=feature, title=TITLES[c.id], labels=PROPERTY_LABELS,
            crs=crs, lat_lon=crs in ogcapi.LAT_LON_CRS,
        )  # fmt: skip
    return _json(feature, GEOJSON, **_content_crs(crs))


@bp.get("/<path:rest>")
@ogc_route
def unknown(rest: str) -> ResponseReturnValue:
    raise NotFound(f"there is nothing at /ogc/{rest}", entity="path", id=rest)


# -- the OpenAPI 3.0 document ----------------------------------------------------------------------------------
def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _responses(ok: str, media: str, *, not_found: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": ok,
                "content": {media: {"schema": {"type": "object"}}, HTML: {"schema": {"type": "string"}}}},
        "400": {"$ref": "#/components/responses/InvalidParameter"},
        "401": {"$ref": "#/components/responses/NotAuthenticated"},
    }  # fmt: skip
    if not_found:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    return responses


def _openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "Landing page", "operationId": "getLandingPage", "tags": ["Capabilities"],
                      "parameters": [_param("f")], "responses": _responses("The landing page", JSON)}},
        "/conformance": {"get": {"summary": "Conformance classes", "operationId": "getConformance",
                                 "tags": ["Capabilities"], "parameters": [_param("f")],
                                 "responses": _responses("The conformance classes", JSON)}},
        "/api": {"get": {"summary": "This API definition", "operationId": "getAPI", "tags": ["Capabilities"],
                         "parameters": [_param("f")], "responses": _responses("The OpenAPI document", OPENAPI)}},
        "/collections": {"get": {"summary": "The feature collections", "operationId": "getCollections",
                                 "tags": ["Capabilities"], "parameters": [_param("f")],
                                 "responses": _responses("The collections", JSON)}},
    }  # fmt: skip
    for c in ogcapi.COLLECTIONS:
        title = str(TITLES[c.id])
        base = f"/collections/{c.id}"
        filters = [
            {"name": p.name, "in": "query", "required": False, "style": "form", "explode": False,
             "description": str(PROPERTY_LABELS.get(p.name, p.name)),
             "schema": {"type": "string", **({"enum": list(p.choices)} if p.choices else {})}}
            for p in c.filters
        ]  # fmt: skip
        standard = ["bbox", "bbox-crs", *(["datetime"] if c.temporal else []), "limit", "offset", "crs", "f"]
        paths[base] = {
            "get": {
                "summary": title,
                "operationId": f"describe_{c.id}",
                "tags": [c.id],
                "parameters": [_param("f")],
                "responses": _responses(title, JSON, not_found=True),
            }
        }
        paths[base + "/queryables"] = {
            "get": {
                "summary": f"{title}: queryables",
                "operationId": f"queryables_{c.id}",
                "tags": [c.id],
                "parameters": [_param("f")],
                "responses": _responses("JSON Schema of the properties that filter", SCHEMA),
            }
        }
        paths[base + "/schema"] = {
            "get": {
                "summary": f"{title}: schema",
                "operationId": f"schema_{c.id}",
                "tags": [c.id],
                "responses": _responses("JSON Schema of the features", SCHEMA),
            }
        }
        paths[base + "/items"] = {"get": {
            "summary": f"{title}: features", "operationId": f"getFeatures_{c.id}", "tags": [c.id],
            "parameters": [_param(p) for p in standard] + filters,
            "responses": _responses("The features (GeoJSON)", GEOJSON, not_found=True),
        }}  # fmt: skip
        paths[base + "/items/{featureId}"] = {"get": {
            "summary": f"{title}: one feature", "operationId": f"getFeature_{c.id}", "tags": [c.id],
            "parameters": [_param("featureId"), _param("crs"), _param("f")],
            "responses": _responses("The feature (GeoJSON)", GEOJSON, not_found=True),
        }}  # fmt: skip
    exception = {"application/json": {"schema": {"$ref": "#/components/schemas/exception"}}}
    crs_schema = {"type": "string", "format": "uri", "enum": list(SUPPORTED_CRS), "default": CRS84}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": _("River outfall register: OGC API – Features"),
            "version": "1.0.0",
            "description": _(
                "Authenticate with a personal API token: Authorization: Bearer TOKEN, or HTTP Basic "
                "with your user name and the token as password."
            ),  # fmt: skip
        },
        "servers": [{"url": url_for(".landing", _external=True).rstrip("/")}],
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "user name and API token"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "API token"},
            },
            "parameters": {
                "f": {
                    "name": "f",
                    "in": "query",
                    "required": False,
                    "description": "The format of the response",
                    "schema": {"type": "string", "enum": ["json", "html"]},
                },
                "bbox": {
                    "name": "bbox",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "description": "min x, min y, max x, max y in the axis order of bbox-crs "
                    "(CRS84: lon,lat; EPSG:4490 and EPSG:4326: lat,lon)",
                    "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
                },
                "bbox-crs": {
                    "name": "bbox-crs",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": crs_schema,
                },
                "crs": {
                    "name": "crs",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": crs_schema,
                },
                "datetime": {
                    "name": "datetime",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "description": "An RFC 3339 date, date-time or interval (start/end, "
                    "'..' open); matched against the day the outfall was found (found_on, local days)",
                    "schema": {"type": "string"},
                },
                "limit": {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": ogcapi.DEFAULT_LIMIT},
                },
                "offset": {
                    "name": "offset",
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": False,
                    "schema": {"type": "integer", "minimum": 0, "default": 0},
                },
                "featureId": {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}},
            },  # fmt: skip
            "schemas": {
                "exception": {
                    "type": "object",
                    "required": ["code"],
                    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
                },
            },  # fmt: skip
            "responses": {
                "InvalidParameter": {"description": "A query parameter has an invalid value.", "content": exception},
                "NotAuthenticated": {"description": "No valid API token.", "content": exception},
                "NotFound": {"description": "No such collection or feature.", "content": exception},
            },
        },
    }
