"""Case officers: the queue of public reports (举报) of their area; each report is linked to an outfall, turned
into a candidate for a crew to verify, or closed with a reason. A citizen's text is shown escaped, never as markup.
Also the sign boards of one outfall or of an area, as PDF, for officers and exporters.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue

from outfalls.errors import InvalidInput
from outfalls.public import boards, reports
from outfalls.store import FileStore
from outfalls.types import ReportStatus, Role
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import parse_int

bp = Blueprint("reports", __name__)
BOARD_ROLES = (Role.CASE_OFFICER, Role.EXPORTER, Role.ADMIN)


def _status() -> ReportStatus | None:
    raw = (request.args.get("status") or "received").strip()
    if raw == "all":
        return None
    try:
        return ReportStatus(raw)
    except ValueError as err:
        raise InvalidInput(f"unknown report state {raw!r}", field="status") from err


@bp.get("/reports")
@requires(Role.CASE_OFFICER)
def queue() -> ResponseReturnValue:
    status = _status()
    items = reports.report_queue(db(), scope=current_scope(), status=status)
    return render_template("reports/queue.html", items=items, status=status.value if status else "all",
                           statuses=[s.value for s in ReportStatus])  # fmt: skip


@bp.get("/reports/<int:report_id>")
@requires(Role.CASE_OFFICER)
def report(report_id: int) -> ResponseReturnValue:
    item = reports.get_report(db(), report_id, scope=current_scope())
    nearby = reports.nearby_outfalls(db(), item, scope=current_scope()) if item.report.status == "received" else []
    return render_template("reports/report.html", item=item, nearby=nearby, nearby_m=int(reports.NEARBY_M),
                           reasons=[r.value for r in reports.CLOSE_REASONS])  # fmt: skip


@bp.get("/reports/<int:report_id>/photos/<int:photo_id>.jpg")
@requires(Role.CASE_OFFICER)
def photo(report_id: int, photo_id: int) -> ResponseReturnValue:
    p = reports.report_photo(db(), report_id, photo_id, scope=current_scope())
    response = send_file(FileStore(settings().storage.store_dir).path_of(p.sha256), mimetype="image/jpeg")
    response.cache_control.private = True
    return response


def _version() -> int:
    return parse_int(request.form, "version", default=0)


@bp.post("/reports/<int:report_id>/link")
@requires(Role.CASE_OFFICER)
def link(report_id: int) -> ResponseReturnValue:
    reports.get_report(db(), report_id, scope=current_scope())  # another area's report is not found, whatever is sent
    outfall_id = parse_int(request.form, "outfall_id", default=0)  # chosen among the nearby ones
    if outfall_id < 1:  # or named by a code
        outfall_id = reports.find_outfall(db(), request.form.get("outfall", ""), scope=current_scope())
    reports.link_report(db(), report_id, outfall_id, actor=current_identity().login, scope=current_scope(),
                        expected_version=_version())  # fmt: skip
    db().commit()
    return redirect(url_for("reports.report", report_id=report_id))


@bp.post("/reports/<int:report_id>/candidate")
@requires(Role.CASE_OFFICER)
def candidate(report_id: int) -> ResponseReturnValue:
    outfall = reports.report_to_candidate(db(), report_id, actor=current_identity().login, scope=current_scope(),
                                          expected_version=_version())  # fmt: skip
    db().commit()
    return redirect(url_for("catalogue.outfall_page", outfall_id=outfall.id))


@bp.post("/reports/<int:report_id>/close")
@requires(Role.CASE_OFFICER)
def close(report_id: int) -> ResponseReturnValue:
    reports.get_report(db(), report_id, scope=current_scope())  # another area's report is not found, whatever is sent
    try:
        reason = ReportStatus((request.form.get("reason") or "").strip())
    except ValueError as err:
        raise InvalidInput("close a report as not an outfall or a duplicate", field="reason") from err
    reports.close_report(db(), report_id, reason, note=request.form.get("note"), actor=current_identity().login,
                         scope=current_scope(), expected_version=_version())  # fmt: skip
    db().commit()
    return redirect(url_for("reports.queue"))


@bp.get("/signboards.pdf")
@requires(*BOARD_ROLES)
def signboards() -> ResponseReturnValue:
    """Sign boards of the outfalls ``id=…`` or of ``area`` (and ``basin``), A4 or A3, in the user's scope."""
    ids = [parse_int(request.args, "id", default=0)] if request.args.get("id") else None
    chosen = boards.select_boards(db(), settings(), base_url=settings().server.public_url or request.host_url,
                                  ids=ids, area=(request.args.get("area") or "").strip() or None,
                                  basin=(request.args.get("basin") or "").strip() or None,
                                  scope=current_scope())  # fmt: skip
    pdf = boards.boards_pdf(chosen, settings(), size=(request.args.get("size") or "A4").strip())
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = "attachment; filename=signboards.pdf"
    return response
