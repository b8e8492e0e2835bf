"""Survey coverage and GPS tracks: the coverage page (walked km of each river against its length, per crew),
the crews' track upload, and the JSON behind them: coverage and the walked tracks as a map layer.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from outfalls.errors import InvalidInput
from outfalls.survey import tracks as domain
from outfalls.types import Role
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import parse_bbox, parse_int

bp = Blueprint("survey_tracks", __name__)

UPLOAD_ROLES = (Role.CREW, Role.ADMIN)


def _river() -> str | None:
    return (request.args.get("river") or "").strip() or None


def _page(reports: list[domain.TrackReport] | None = None) -> ResponseReturnValue:
    s = settings()
    identity = current_identity()
    rows = domain.coverage(db(), river=_river(), corridor_m=s.survey.corridor_m, scope=identity.scope)
    return render_template(
        "survey/coverage.html",
        rows=rows,
        river=_river(),
        corridor_m=s.survey.corridor_m,
        walked_km=round(sum(r.walked_km for r in rows), 3),
        river_km=round(sum(r.river_km for r in rows), 3),
        days=domain.crew_days(db(), scope=identity.scope),
        can_upload=identity.has_any(UPLOAD_ROLES),
        default_crew=identity.display_name or identity.login,
        reports=reports,
    )


@bp.get("/survey/coverage")
@requires()
def coverage_page() -> ResponseReturnValue:
    """Walked km against river km per river, with each crew's share, and the tracks per crew and day."""
    return _page()


@bp.post("/survey/tracks")
@requires(*UPLOAD_ROLES)
def upload_tracks() -> ResponseReturnValue:
    """Import the GPS tracks a crew uploads (GPX, KML/KMZ, GeoPackage); all files or none."""
    files = [f for f in request.files.getlist("file") if f.filename]
    if not files:
        raise InvalidInput(_("Choose one or more track files (GPX, KML, KMZ or GeoPackage)."), field="file")
    crew = request.form.get("crew", "")
    s = settings()
    reports = [
        domain.import_tracks(
            db(), f.read(), f.filename or "track", crew=crew, actor=current_identity().login, bbox=s.region.bbox,
            scope=current_scope(),
        )
        for f in files
    ]
    db().commit()
    return _page(reports)


@bp.get("/api/survey/coverage")
@requires()
def coverage_json() -> ResponseReturnValue:
    """Coverage per river (``river`` filters): ``[{river, river_km, walked_km, share, by_crew}]``."""
    rows = domain.coverage(db(), river=_river(), corridor_m=settings().survey.corridor_m, scope=current_scope())
    return jsonify([r.as_dict() | {"river_code": r.river_code} for r in rows])


@bp.get("/api/layers/tracks")
@requires()
def tracks_layer() -> ResponseReturnValue:
    """The walked tracks as simplified GeoJSON (``bbox``, ``limit``); ``truncated`` when there are more."""
    limit = parse_int(request.args, "limit", 5000, maximum=20000)
    layer = domain.tracks_geojson(db(), bbox=parse_bbox(request.args), limit=limit, scope=current_scope())
    response: Response = jsonify(layer)
    response.cache_control.private = True
    response.cache_control.no_cache = True
    return response
