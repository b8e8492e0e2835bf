"""Drone imagery on the web: XYZ tiles of the orthophoto mosaic, flight records and cell progress, the analyst's
page (draw points and sensitive areas on a cell), review by another person, crews' verification tasks with their
downloads and "not an outfall" rejections, and the yield report. Every page has its JSON under ``/api/imagery``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from imagery import candidates, cells, flights, interpretation, tiles
from imagery.interpretation import AREA_KINDS, CONFIDENCE, MarkInput
from imagery.models import CellStatus, InterpretationCell, MarkKind
from outfalls import accounts
from outfalls.errors import InvalidInput
from outfalls.store import FileStore
from outfalls.types import Role
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.i18n import current_locale
from web.maps import basemap

bp = Blueprint("imagery", __name__)

ANALYSTS = (Role.ANALYST, Role.ADMIN)
REVIEWERS = (Role.REVIEWER, Role.ADMIN)
READERS = (Role.ANALYST, Role.REVIEWER, Role.LEADER, Role.ADMIN)
TASK_READERS = (Role.CREW, Role.REVIEWER, Role.ANALYST, Role.LEADER, Role.ADMIN)


@bp.get("/imagery/tiles/<int:z>/<int:x>/<int:y>.png")
@requires()
def tile(z: int, x: int, y: int) -> ResponseReturnValue:
    """A 256-pixel PNG of every orthophoto of the user's scope covering the tile, newest on top; transparent where
    there is none.
    """
    s = settings().imagery
    png = tiles.tile_png(db(), z, x, y, store_dir=s.store_dir, cache_dir=s.tile_cache_dir, scope=current_scope())
    response = Response(png, mimetype="image/png")
    response.cache_control.private = True
    response.cache_control.max_age = 300
    return response


# --- overview: flights, cells, agreement ----------------------------------------------------------------------


def _overview(message: str | None = None) -> ResponseReturnValue:
    session = db()
    identity = current_identity()
    scope = identity.scope
    return render_template(
        "imagery/index.html",
        sorties=flights.list_sorties(session, scope=scope),
        areas=flights.flight_statistics(session, scope=scope),
        progress=cells.cell_progress(session, scope=scope),
        agreement=interpretation.agreement_by_analyst(session, scope=scope),
        is_analyst=identity.has_any(ANALYSTS),
        is_reviewer=identity.has_any(REVIEWERS),
        message=message,
        map_config={
            "cells_url": url_for("imagery.cells_json"),
            "tiles_url": _tiles_template(),
            "footprints_url": url_for("imagery.footprints_json"),
        },  # fmt: skip
    )


def _tiles_template() -> str:
    return url_for("imagery.tile", z=0, x=0, y=0).replace("/0/0/0.png", "/{z}/{x}/{y}.png")


@bp.get("/imagery")
@requires()
def index() -> ResponseReturnValue:
    """Flight records and statistics, cell progress on a map, and agreement per analyst."""
    if request.args.get("none_left") and cells.cell_progress(db(), scope=current_scope()).total:
        return _overview(_("Every cell is taken or done: there is nothing left to interpret."))
    return _overview()  # with no cell at all, the page says there is no imagery and how to load it


@bp.get("/api/imagery/cells")
@requires()
def cells_json() -> ResponseReturnValue:
    """Cells as GeoJSON with status, analyst, reviewer and mark count."""
    return jsonify(cells.cells_geojson(db(), scope=current_scope()))


@bp.get("/api/imagery/footprints")
@requires()
def footprints_json() -> ResponseReturnValue:
    """The valid-pixel footprints of the orthophotos as GeoJSON."""
    return jsonify(flights.footprints_geojson(db(), scope=current_scope()))


@bp.get("/api/imagery/flights")
@requires()
def flights_json() -> ResponseReturnValue:
    """Flight records and the statistics per basin and river."""
    session, scope = db(), current_scope()
    return jsonify({"sorties": [s.as_dict() for s in flights.list_sorties(session, scope=scope)],
                    "areas": [a.as_dict() for a in flights.flight_statistics(session, scope=scope)]})  # fmt: skip


@bp.get("/api/imagery/agreement")
@requires()
def agreement_json() -> ResponseReturnValue:
    """Per analyst: marks, reviewed, accepted, edited, rejected and the agreement share."""
    return jsonify([a.as_dict() for a in interpretation.agreement_by_analyst(db(), scope=current_scope())])


# --- the analyst's page ----------------------------------------------------------------------------------------


def _to_cell(cell: InterpretationCell | None) -> ResponseReturnValue:
    if cell is None:
        return redirect(url_for("imagery.index", none_left=1))
    return redirect(url_for("imagery.cell_page", cell_id=cell.id))


@bp.get("/imagery/next")
@requires(*ANALYSTS)
def current_cell() -> ResponseReturnValue:
    """Open the analyst's cell in progress, or the overview, whose button takes the next cell (changes nothing)."""
    cell = cells.current_cell(db(), analyst=current_identity().login, scope=current_scope())
    return redirect(url_for("imagery.cell_page", cell_id=cell.id) if cell else url_for("imagery.index"))


@bp.post("/imagery/next")
@requires(*ANALYSTS)
def next_cell() -> ResponseReturnValue:
    """Open the analyst's cell in progress, or assign the next cell to do in the analyst's area."""
    cell = cells.next_cell(db(), analyst=current_identity().login, scope=current_scope())
    db().commit()
    return _to_cell(cell)


def _mode(cell: InterpretationCell) -> str:
    identity = current_identity()
    if cell.status is CellStatus.IN_PROGRESS and cell.analyst == identity.login:
        return "edit"
    if cell.status is CellStatus.DONE and cell.analyst != identity.login and identity.has_any(REVIEWERS):
        return "review"
    return "view"


@bp.get("/imagery/cells/<int:cell_id>")
@requires(*READERS)
def cell_page(cell_id: int) -> ResponseReturnValue:
    """The cell on the imagery at full resolution, with rivers and outfalls: draw, edit and review marks."""
    session, scope = db(), current_scope()
    cell = cells.get_cell(session, cell_id, scope=scope)
    mode = _mode(cell)
    outline = cells.cell_outline(cell)
    types = interpretation.type_choices(session)
    config: dict[str, Any] = {
        "cell_id": cell.id, "mode": mode, "cell": outline.geometry, "anchor": list(outline.anchor),
        "marks_url": url_for("imagery.marks_json", cell_id=cell.id), "tiles_url": _tiles_template(),
        "mark_url": url_for("imagery.mark_update", mark_id=0).rsplit("/", 1)[0] + "/",
        "rivers_url": url_for("api.layer", name="rivers"), "outfalls_url": url_for("api.map_outfalls"),
        "outfall_url": url_for("catalogue.outfall_page", outfall_id=0).rsplit("/", 1)[0] + "/",
    }  # fmt: skip
    return render_template(
        "imagery/cell.html", cell=cell, mode=mode, config=config,
        marks=interpretation.cell_marks(session, cell.id, scope=scope), types=types,
        type_labels={t.code: f"{t.code} {t.label_zh if current_locale() == 'zh' else t.label_en}" for t in types},
        confidences=CONFIDENCE, area_kinds=AREA_KINDS,
        names=accounts.display_names(session, [n for n in (cell.analyst, cell.reviewer) if n]),
    )  # fmt: skip


@bp.post("/imagery/cells/<int:cell_id>/done")
@requires(*ANALYSTS)
def cell_done(cell_id: int) -> ResponseReturnValue:
    """The analyst has finished the cell: on to the next one, which is theirs now."""
    login, scope = current_identity().login, current_scope()
    cells.finish_cell(db(), cell_id, actor=login, scope=scope)
    cell = cells.next_cell(db(), analyst=login, scope=scope)
    db().commit()
    return _to_cell(cell)


@bp.post("/imagery/cells/<int:cell_id>/reviewed")
@requires(*REVIEWERS)
def cell_reviewed(cell_id: int) -> ResponseReturnValue:
    """The reviewer has decided every mark of the cell."""
    cells.finish_review(db(), cell_id, actor=current_identity().login, scope=current_scope())
    db().commit()
    return redirect(url_for("imagery.review_page"))


@bp.get("/api/imagery/cells/<int:cell_id>/marks")
@requires(*READERS)
def marks_json(cell_id: int) -> ResponseReturnValue:
    """The marks of a cell as GeoJSON."""
    marks = interpretation.cell_marks(db(), cell_id, scope=current_scope())
    features = [interpretation.mark_dict(m) for m in marks]
    return jsonify({"type": "FeatureCollection", "features": features})


def _mark_input(data: dict[str, Any]) -> MarkInput:
    geometry = data.get("geometry")
    if not isinstance(geometry, dict):
        raise InvalidInput(_("The mark needs a geometry."), field="geometry")
    return MarkInput(geometry=geometry, type_guess=data.get("type_guess") or None,
                     confidence=data.get("confidence") or None, area_kind=data.get("area_kind") or None,
                     note=data.get("note") or None)  # fmt: skip


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput(_("Send the mark as a JSON object."), field="body")
    return data


@bp.post("/api/imagery/cells/<int:cell_id>/marks")
@requires(*ANALYSTS)
def mark_create(cell_id: int) -> ResponseReturnValue:
    """Draw a mark: ``{kind: point|area, geometry, type_guess, confidence, area_kind, note}``."""
    data = _json_body()
    try:
        kind = MarkKind(str(data.get("kind")))
    except ValueError as err:
        raise InvalidInput(_("The kind of mark is point or area."), field="kind") from err
    mark = interpretation.add_mark(db(), cell_id, kind, _mark_input(data), actor=current_identity().login,
                                   scope=current_scope())  # fmt: skip
    db().commit()
    return jsonify(interpretation.mark_dict(mark)), 201


@bp.put("/api/imagery/marks/<int:mark_id>")
@requires(*ANALYSTS)
def mark_update(mark_id: int) -> ResponseReturnValue:
    """Change one's own mark before review."""
    mark = interpretation.update_mark(db(), mark_id, _mark_input(_json_body()), actor=current_identity().login,
                                      scope=current_scope())  # fmt: skip
    db().commit()
    return jsonify(interpretation.mark_dict(mark))


@bp.delete("/api/imagery/marks/<int:mark_id>")
@requires(*ANALYSTS)
def mark_delete(mark_id: int) -> ResponseReturnValue:
    """Delete one's own mark before review."""
    interpretation.delete_mark(db(), mark_id, actor=current_identity().login, scope=current_scope())
    db().commit()
    return "", 204


@bp.post("/api/imagery/marks/<int:mark_id>/review")
@requires(*REVIEWERS)
def mark_review(mark_id: int) -> ResponseReturnValue:
    """Decide a mark: ``{decision: accept|edit|reject, reason, geometry, type_guess, ...}``."""
    data = _json_body()
    decision = str(data.get("decision") or "")
    edit = _mark_input(data) if decision == "edit" else None
    mark = interpretation.review_mark(db(), mark_id, decision, actor=current_identity().login,
                                      scope=current_scope(), reason=data.get("reason"), edit=edit)  # fmt: skip
    db().commit()
    return jsonify(interpretation.mark_dict(mark))


@bp.get("/imagery/review")
@requires(*REVIEWERS)
def review_page() -> ResponseReturnValue:
    """Cells waiting for review (never one's own) and agreement per analyst."""
    session, identity = db(), current_identity()
    return render_template("imagery/review.html",
                           cells=interpretation.cells_to_review(session, reviewer=identity.login, scope=identity.scope),
                           agreement=interpretation.agreement_by_analyst(session, scope=identity.scope))  # fmt: skip


# --- verification tasks ----------------------------------------------------------------------------------------


@bp.get("/imagery/tasks")
@requires(*TASK_READERS)
def tasks_page() -> ResponseReturnValue:
    """A crew's tasks (everyone's for reviewers), and for reviewers the form that hands out accepted marks."""
    identity = current_identity()
    scope = identity.scope
    can_assign = identity.has_any(REVIEWERS)
    own = None if identity.has_any((*REVIEWERS, Role.ANALYST, Role.LEADER)) else identity.login
    tasks = candidates.list_tasks(db(), crew=own, scope=scope)
    crews = candidates.crews_for(db(), scope) if can_assign else []
    return render_template("imagery/tasks.html", tasks=tasks, can_assign=can_assign,
                           open_count=len(candidates.open_stops(db(), scope=scope)) if can_assign else 0, crews=crews,
                           names=accounts.display_names(db(), [*crews, *(t.crew for t, _s, _p in tasks)]))  # fmt: skip


@bp.post("/imagery/tasks")
@requires(*REVIEWERS)
def task_create() -> ResponseReturnValue:
    """Give every accepted mark waiting for a crew (of a basin, when chosen) to a crew."""
    form = request.form
    task = candidates.create_task(db(), form.get("crew", ""), actor=current_identity().login, scope=current_scope(),
                                  name=form.get("name"), basin_code=form.get("basin") or None)  # fmt: skip
    db().commit()
    return redirect(url_for("imagery.task_page", task_id=task.id))


@bp.get("/imagery/tasks/<int:task_id>")
@requires(*TASK_READERS)
def task_page(task_id: int) -> ResponseReturnValue:
    """The route: candidates and sensitive areas in walking order, on a map, with downloads."""
    identity = current_identity()
    task = candidates.get_task(db(), task_id, viewer=identity.login, roles=identity.roles, scope=identity.scope)
    stops = candidates.task_stops(db(), task.id)
    config = {"stops": [s.as_dict() for s in stops], "rivers_url": url_for("api.layer", name="rivers"),
              "basemap": basemap(settings())}  # fmt: skip
    return render_template("imagery/task.html", task=task, stops=stops, config=config,
                           can_reject=identity.has_any((Role.CREW, Role.ADMIN)))  # fmt: skip


_DOWNLOADS = {
    "gpx": "application/gpx+xml",
    "kml": "application/vnd.google-earth.kml+xml",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@bp.get("/imagery/tasks/<int:task_id>.<fmt>")
@requires(*TASK_READERS)
def task_download(task_id: int, fmt: str) -> ResponseReturnValue:
    """The route as GPX or KML, or the candidates as the survey table (CSV, XLSX) the upload page reads back."""
    if fmt not in _DOWNLOADS:
        raise InvalidInput(_("Download the route as GPX, KML, CSV or XLSX."), field="format", value=fmt)
    identity = current_identity()
    task = candidates.get_task(db(), task_id, viewer=identity.login, roles=identity.roles, scope=identity.scope)
    stops = candidates.task_stops(db(), task.id)
    body: bytes | str
    if fmt == "gpx":
        body = candidates.task_gpx(task, stops)
    elif fmt == "kml":
        body = candidates.task_kml(task, stops)
    elif fmt == "csv":
        body = candidates.task_csv(stops, task.crew)
    else:
        body = candidates.task_xlsx(stops, task.crew)
    response = Response(body, mimetype=_DOWNLOADS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="task-{task.id}.{fmt}"'
    return response


@bp.post("/imagery/tasks/<int:task_id>/reject/<int:outfall_id>")
@requires(Role.CREW, Role.ADMIN)
def task_reject(task_id: int, outfall_id: int) -> ResponseReturnValue:
    """The crew found no outfall at a candidate: reject it with a photo of the place."""
    identity = current_identity()
    task = candidates.get_task(db(), task_id, viewer=identity.login, roles=identity.roles, scope=identity.scope)
    if outfall_id not in {s.outfall_id for s in candidates.task_stops(db(), task.id)}:
        raise InvalidInput(_("This candidate is not on the task's route."), field="outfall_id", value=outfall_id)
    photo = request.files.get("photo")
    if photo is None or not photo.filename:
        raise InvalidInput(_("Add a photo of the place."), field="photo")
    candidates.reject_candidate(db(), FileStore(settings().storage.store_dir), outfall_id, photo.stream,
                                photo.filename, reason=request.form.get("reason", ""), actor=identity.login,
                                scope=current_scope())  # fmt: skip
    db().commit()
    return redirect(url_for("imagery.task_page", task_id=task.id))


@bp.get("/api/imagery/tasks/<int:task_id>")
@requires(*TASK_READERS)
def task_json(task_id: int) -> ResponseReturnValue:
    """A task and its stops in walking order."""
    identity = current_identity()
    task = candidates.get_task(db(), task_id, viewer=identity.login, roles=identity.roles, scope=identity.scope)
    return jsonify({"id": task.id, "name": task.name, "crew": task.crew,
                    "stops": [s.as_dict() for s in candidates.task_stops(db(), task.id)]})  # fmt: skip


# --- yield ------------------------------------------------------------------------------------------------------


@bp.get("/imagery/yield")
@requires()
def yield_page() -> ResponseReturnValue:
    """Per basin and per sortie: candidates, confirmed, rejected, pending; found only on foot or by experts."""
    return render_template("imagery/yield.html", report=candidates.yield_report(db(), scope=current_scope()))


@bp.get("/api/imagery/yield")
@requires()
def yield_json() -> ResponseReturnValue:
    """The yield report as JSON: ``{basins: [...], sorties: [...]}``."""
    report = candidates.yield_report(db(), scope=current_scope())
    return jsonify({k: [r.as_dict() for r in rows] for k, rows in report.items()})
