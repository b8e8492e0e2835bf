"""The OpenAPI 3.0 document of the OGC API (``/ogc/api``): every path, parameter and response, as the
OGC API – Features ``oas30`` conformance class asks.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _

from web.api.ogc.collections import COLLECTIONS, PROPERTY_LABELS, TITLES
from web.api.ogc.params import CRS84, DEFAULT_LIMIT, MAX_LIMIT, SUPPORTED_CRS

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"


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


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 document of the service (absolute URLs of the current request)."""
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
    for c in COLLECTIONS:
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
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
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
