"""Case officers' work on an outfall: monitoring visits and limits, source tracing, remediation and closing out,
the 规范化建设 checklist, and the stored files (photos, evidence) behind them.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, jsonify, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from outfalls import clock
from outfalls.cases import assignment, remediation, sampling, standardisation, tracing
from outfalls.catalogue import queries
from outfalls.db.base import Base
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import Attachment, MonitoringVisit, TraceRecord
from outfalls.scope import require_visible
from outfalls.store import FileStore, attach_file, get_attachment
from outfalls.types import RemediationCategory, Role, StandardisationItem
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import parse_filter, parse_int, parse_trace, parse_visit
from web.i18n import is_local_path

bp = Blueprint("cases", __name__)

# The four standard monitoring photos: sampling point, sampling/flow work, the sample, the quick-test result.
MONITORING_VIEWS = ("sampling_point", "operation", "sample", "quick_test")
# Uploaded files are shown inline only when they are images or PDFs; anything else downloads, so an uploaded
# HTML or script file can never run in the application's origin.
INLINE_TYPES = {"image/jpeg", "image/png", "image/webp", "application/pdf"}


def _units() -> dict[str, str]:
    return {p.code: p.unit for p in sampling.parameters(db())}


@bp.post("/outfalls/<int:outfall_id>/visits")
@requires(Role.CASE_OFFICER)
def add_visit(outfall_id: int) -> ResponseReturnValue:
    scope = current_scope()
    require_visible(db(), outfall_id, scope)  # out of scope is "not found", whatever the form says
    visit = parse_visit(request.form, _units())
    me = current_identity().login
    row = sampling.record_visit(
        db(), outfall_id, visit, actor=me, scope=scope,
        expected_version=parse_int(request.form, "version", 0, minimum=0),
    )  # fmt: skip
    store = FileStore(settings().storage.store_dir)
    for view in MONITORING_VIEWS:  # the four standard monitoring photos
        f = request.files.get(f"photo-{view}")
        if f and f.filename:
            attach_file(db(), store, f.stream, name=f.filename, kind="photo", actor=me, scope=scope,
                        outfall_id=outfall_id, event_id=row.event_id, media_type=f.mimetype or None,
                        meta={"view": view})  # fmt: skip
    db().commit()
    return redirect(url_for("catalogue.outfall_page", outfall_id=outfall_id, _anchor="monitoring"))


@bp.post("/outfalls/<int:outfall_id>/limit")
@requires(Role.CASE_OFFICER)
def set_limit(outfall_id: int) -> ResponseReturnValue:
    choice = (request.form.get("limit") or "").strip()
    standard, grade = choice.split("/", 1) if "/" in choice else (None, None)
    sampling.set_applicable_limit(
        db(), outfall_id, standard, grade, actor=current_identity().login, scope=current_scope(),
        expected_version=parse_int(request.form, "version", 0, minimum=0),
    )  # fmt: skip
    db().commit()
    return redirect(url_for("catalogue.outfall_page", outfall_id=outfall_id, _anchor="monitoring"))


def _row(obj: Base) -> dict[str, object]:
    """A model row as plain values, for the JSON API."""
    return {c.name: getattr(obj, c.name) for c in obj.__table__.columns}


def _visit_json(v: MonitoringVisit) -> dict[str, object]:
    return _row(v) | {"results": [_row(r) for r in v.results]}


@bp.get("/api/outfalls/<int:outfall_id>/monitoring")
@requires()
def monitoring(outfall_id: int) -> ResponseReturnValue:
    """Monitoring state (not_sampled / sampled / dry / not_possible), visits newest first, missing parameters."""
    state = sampling.monitoring_state(db(), outfall_id, scope=current_scope())
    return jsonify(
        state=state.state,
        limit={"standard": state.limit_standard, "grade": state.limit_grade},
        missing_mandatory=state.missing_mandatory,
        visits=[_visit_json(v) for v in state.visits],
    )


@bp.post("/api/outfalls/<int:outfall_id>/visits")
@requires(Role.CASE_OFFICER)
def api_add_visit(outfall_id: int) -> ResponseReturnValue:
    """Record a visit from JSON: ``{version, visited_at, discharge, flow, flow_m3s, results: [...]}``."""
    require_visible(db(), outfall_id, current_scope())
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object", field="body")
    version = body.get("version")
    if not isinstance(version, int):
        raise InvalidInput("version (the outfall version the visit is based on) is required", field="version")
    visit = sampling.record_visit(
        db(), outfall_id, parse_visit(body, _units()), actor=current_identity().login, scope=current_scope(),
        expected_version=version,
    )  # fmt: skip
    db().commit()
    return jsonify(_visit_json(visit)), 201


@bp.post("/outfalls/<int:outfall_id>/traces")
@requires(Role.CASE_OFFICER)
def add_trace(outfall_id: int) -> ResponseReturnValue:
    scope, me = current_scope(), current_identity().login
    require_visible(db(), outfall_id, scope)
    record = tracing.record_trace(
        db(), outfall_id, parse_trace(request.form), actor=me, scope=scope,
        expected_version=parse_int(request.form, "version", 0, minimum=0),
        rule=settings().tracing.traced_requires,
    )  # fmt: skip
    store = FileStore(settings().storage.store_dir)
    for f in request.files.getlist("evidence"):  # pipe-robot video stills, dye photos, permits, lab reports …
        if f and f.filename:
            attach_file(db(), store, f.stream, name=f.filename, kind="evidence", actor=me, scope=scope,
                        outfall_id=outfall_id, event_id=record.event_id, media_type=f.mimetype or None)  # fmt: skip
    db().commit()
    return redirect(url_for("catalogue.outfall_page", outfall_id=outfall_id, _anchor="tracing"))


def _trace_json(t: TraceRecord) -> dict[str, object]:
    evidence = db().scalars(select(Attachment.id).where(Attachment.event_id == t.event_id).order_by(Attachment.id))
    return _row(t) | {"parties": [_row(p) for p in t.parties], "evidence": list(evidence)}


@bp.get("/api/outfalls/<int:outfall_id>/traces")
@requires()
def traces(outfall_id: int) -> ResponseReturnValue:
    """Tracing records, newest (current) first, with their parties."""
    return jsonify([_trace_json(t) for t in tracing.trace_history(db(), outfall_id, scope=current_scope())])


@bp.post("/api/outfalls/<int:outfall_id>/traces")
@requires(Role.CASE_OFFICER)
def api_add_trace(outfall_id: int) -> ResponseReturnValue:
    """Record a tracing from JSON: ``{version, traced_on, method, sewage_source, parties: [...], ...}``."""
    require_visible(db(), outfall_id, current_scope())
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("version"), int):
        raise InvalidInput("send a JSON object with the outfall version the tracing is based on", field="version")
    record = tracing.record_trace(
        db(), outfall_id, parse_trace(body), actor=current_identity().login, scope=current_scope(),
        expected_version=body["version"], rule=settings().tracing.traced_requires,
    )  # fmt: skip
    db().commit()
    return jsonify(_trace_json(record)), 201


def _day(name: str) -> date:
    raw = (request.form.get(name) or "").strip()
    try:
        return date.fromisoformat(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD), not {raw!r}", field=name, value=raw) from err


def _back(outfall_id: int) -> ResponseReturnValue:
    return redirect(url_for("catalogue.outfall_page", outfall_id=outfall_id, _anchor="remediation"))


@bp.post("/outfalls/<int:outfall_id>/remediation/plan")
@requires(Role.CASE_OFFICER)
def plan(outfall_id: int) -> ResponseReturnValue:
    require_visible(db(), outfall_id, current_scope())
    try:
        category = RemediationCategory(request.form.get("category") or "")
    except ValueError as err:
        raise InvalidInput("choose a remediation category", field="category") from err
    merge_raw = (request.form.get("merge_into_id") or "").strip()
    deadline_raw = (request.form.get("deadline") or "").strip()
    remediation.plan_remediation(
        db(), outfall_id,
        remediation.PlanInput(
            category=category, on=_day("on"), measures=request.form.get("measures"),
            responsible_party=request.form.get("responsible_party"),
            deadline=_day("deadline") if deadline_raw else None,
            is_quick_fix=request.form.get("is_quick_fix") == "on",
            merge_into_id=parse_int(request.form, "merge_into_id", 0) if merge_raw else None,
            reason=request.form.get("reason"),
        ),
        actor=current_identity().login, scope=current_scope(),
        expected_version=parse_int(request.form, "version", 0, minimum=0),
    )  # fmt: skip
    db().commit()
    return _back(outfall_id)


@bp.post("/outfalls/<int:outfall_id>/remediation/progress")
@requires(Role.CASE_OFFICER)
def progress(outfall_id: int) -> ResponseReturnValue:
    require_visible(db(), outfall_id, current_scope())
    remediation.record_progress(
        db(), outfall_id, _day("on"), parse_int(request.form, "progress_pct", 0, minimum=0, maximum=100),
        request.form.get("note") or "", actor=current_identity().login, scope=current_scope(),
        expected_version=parse_int(request.form, "version", 0, minimum=0),
    )  # fmt: skip
    db().commit()
    return _back(outfall_id)


@bp.post("/outfalls/<int:outfall_id>/remediation/complete")
@requires(Role.CASE_OFFICER)
def complete(outfall_id: int) -> ResponseReturnValue:
    scope = current_scope()
    require_visible(db(), outfall_id, scope)
    store = FileStore(settings().storage.store_dir)
    me = current_identity().login
    evidence = [
        attach_file(db(), store, f.stream, name=f.filename or "evidence", kind="evidence", actor=me, scope=scope,
                    outfall_id=outfall_id, media_type=f.mimetype or None).id
        for f in request.files.getlist("evidence") if f and f.filename
    ]  # fmt: skip
    remediation.complete_remediation(
        db(), outfall_id, _day("on"), evidence=evidence, note=request.form.get("note"), actor=me, scope=scope,
        expected_version=parse_int(request.form, "version", 0, minimum=0),
    )  # fmt: skip
    db().commit()
    return _back(outfall_id)


@bp.post("/outfalls/<int:outfall_id>/remediation/close")
@requires(Role.CASE_OFFICER)
def close(outfall_id: int) -> ResponseReturnValue:
    require_visible(db(), outfall_id, current_scope())
    remediation.accept_and_close(
        db(), outfall_id, _day("on"), note=request.form.get("note"), actor=current_identity().login,
        scope=current_scope(), expected_version=parse_int(request.form, "version", 0, minimum=0),
    )  # fmt: skip
    db().commit()
    return _back(outfall_id)


@bp.get("/api/outfalls/<int:outfall_id>/remediation")
@requires()
def remediation_json(outfall_id: int) -> ResponseReturnValue:
    """Remediation records in order and what closing out still needs."""
    scope = current_scope()
    records = remediation.remediation_history(db(), outfall_id, scope=scope)
    gaps = remediation.closing_gaps(db(), outfall_id, scope=scope, acceptor=current_identity().login)
    return jsonify(
        records=[_row(r) for r in records],
        category=gaps.category.value if gaps.category else None,
        missing=gaps.missing,
    )


@bp.get("/attachments/<int:attachment_id>")
@requires()
def attachment(attachment_id: int) -> ResponseReturnValue:
    """A stored file (photo, evidence) of an outfall in the user's scope."""
    a = get_attachment(db(), attachment_id, scope=current_scope())
    path = FileStore(settings().storage.store_dir).path_of(a.sha256)
    if not path.exists():
        raise NotFound("the file is missing from the store", entity="attachment", id=attachment_id)
    inline = a.media_type in INLINE_TYPES
    response = send_file(
        path, mimetype=a.media_type if inline else "application/octet-stream", as_attachment=not inline,
        download_name=a.original_name, max_age=3600, etag=a.sha256,
    )  # fmt: skip
    response.cache_control.private = True
    return response


@bp.get("/attachments/<int:attachment_id>/thumb")
@requires()
def thumbnail(attachment_id: int) -> ResponseReturnValue:
    """A small upright JPEG of a stored photo (404 for files that are not images)."""
    a = get_attachment(db(), attachment_id, scope=current_scope())
    if not a.media_type.startswith("image/"):
        raise NotFound("this file has no preview", entity="attachment", id=attachment_id)
    try:
        path = FileStore(settings().storage.store_dir).thumbnail(a.sha256)
    except InvalidInput as err:
        raise NotFound("this file has no preview", entity="attachment", id=attachment_id) from err
    response = send_file(path, mimetype="image/jpeg", max_age=86400, etag=f"{a.sha256}-thumb")
    response.cache_control.private = True
    return response


@bp.post("/outfalls/<int:outfall_id>/standardisation")
@requires(Role.CASE_OFFICER)
def standardisation_check(outfall_id: int) -> ResponseReturnValue:
    scope = current_scope()
    require_visible(db(), outfall_id, scope)
    try:
        item = StandardisationItem(request.form.get("item") or "")
    except ValueError as err:
        raise InvalidInput("choose a checklist item", field="item") from err
    me = current_identity().login
    store = FileStore(settings().storage.store_dir)
    evidence = [
        attach_file(db(), store, f.stream, name=f.filename or "evidence", kind="evidence", actor=me, scope=scope,
                    outfall_id=outfall_id, media_type=f.mimetype or None, meta={"item": item.value}).id
        for f in request.files.getlist("evidence") if f and f.filename
    ]  # fmt: skip
    standardisation.record_check(
        db(), outfall_id, item, request.form.get("is_done") == "on", _day("on"), evidence=evidence,
        note=request.form.get("note"), actor=me, scope=scope,
        expected_version=parse_int(request.form, "version", 0, minimum=0),
    )  # fmt: skip
    db().commit()
    return _back(outfall_id)


BULK_ACTIONS = ("assign", "unassign", "deadline", "category")


def _optional_day(args: MultiDict[str, str], name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD), not {raw!r}", field=name, value=raw) from err


def _run_bulk(args: MultiDict[str, str], ids: list[int], versions: dict[int, int] | None) -> assignment.BulkReport:
    """One bulk operation from form or JSON values; the caller commits."""
    action = args.get("action") or ""
    if action not in BULK_ACTIONS:
        raise InvalidInput(f"choose an action: {', '.join(BULK_ACTIONS)}", field="action", value=action)
    me, scope, on = current_identity().login, current_scope(), _optional_day(args, "on")
    if action in ("assign", "unassign"):
        officer = (args.get("officer") or "").strip() or None
        if action == "assign" and officer is None:
            raise InvalidInput("choose the case officer to give the cases to", field="officer")
        return assignment.assign_cases(db(), ids, officer if action == "assign" else None, actor=me, scope=scope,
                                       on=on, expected_versions=versions)  # fmt: skip
    if action == "deadline":
        return assignment.set_deadlines(db(), ids, _optional_day(args, "deadline"), actor=me, scope=scope, on=on,
                                        expected_versions=versions)  # fmt: skip
    try:
        category = RemediationCategory(args.get("category") or "")
    except ValueError as err:
        raise InvalidInput("choose a remediation category", field="category") from err
    plan = remediation.PlanInput(
        category=category, on=on or clock.today(), measures=args.get("measures"), reason=args.get("reason"),
        responsible_party=args.get("responsible_party"), deadline=_optional_day(args, "deadline"),
        is_quick_fix=args.get("is_quick_fix") in ("on", "true", "1"),
    )  # fmt: skip
    return assignment.set_categories(db(), ids, plan, actor=me, scope=scope, expected_versions=versions)


def _selected(form: MultiDict[str, str]) -> tuple[list[int], dict[int, int] | None]:
    """The outfalls a bulk form names: the ticked rows (with the versions shown), or every outfall matching the
    filters it carries (``all_matching``).
    """
    if form.get("all_matching") == "1":
        filters = MultiDict([(k[2:], v) for k, v in form.items(multi=True) if k.startswith("f-")])
        f = parse_filter(filters, me=current_identity().login)
        return queries.matching_ids(db(), f, scope=current_scope(), limit=assignment.MAX_SELECTION + 1), None
    ids = [parse_int(MultiDict({"id": raw}), "id", 0) for raw in form.getlist("id")]
    versions = {i: parse_int(form, f"v-{i}", 0, minimum=0) for i in ids if form.get(f"v-{i}")}
    return ids, versions


@bp.post("/outfalls/bulk")
@requires(Role.CASE_OFFICER)
def bulk() -> ResponseReturnValue:
    """Bulk work from the outfall list (or one outfall's page): the per-outfall results on a page."""
    ids, versions = _selected(request.form)
    report = _run_bulk(request.form, ids, versions)
    db().commit()
    back = request.form.get("next")
    if back and is_local_path(back) and not report.refused:
        return redirect(back)
    names = assignment.outfall_names(db(), [r.outfall_id for r in report.results], scope=current_scope())
    return render_template("catalogue/bulk_result.html", report=report, names=names,
                           back=back if back and is_local_path(back) else url_for("catalogue.list_page"))  # fmt: skip


@bp.post("/api/outfalls/bulk")
@requires(Role.CASE_OFFICER)
def api_bulk() -> ResponseReturnValue:
    """Bulk work from JSON: ``{action, outfall_ids, versions?: {id: version}, officer?, deadline?, category?,
    measures?, reason?, on?}``; answers ``{action, changed, refused, results: [{outfall_id, ok, code, message,
    version}]}``.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("outfall_ids"), list):
        raise InvalidInput("send a JSON object with outfall_ids (a list of ids)", field="outfall_ids")
    if not all(isinstance(i, int) for i in body["outfall_ids"]):
        raise InvalidInput("outfall_ids are whole numbers", field="outfall_ids")
    raw_versions = body.get("versions") or {}
    if not isinstance(raw_versions, dict):
        raise InvalidInput("versions maps outfall ids to the versions the change is based on", field="versions")
    try:
        versions = {int(k): int(v) for k, v in raw_versions.items()}
    except (TypeError, ValueError) as err:
        raise InvalidInput("versions maps outfall ids to whole-number versions", field="versions") from err
    args = MultiDict({k: str(v) for k, v in body.items() if isinstance(v, str | int | bool) and k != "versions"})
    report = _run_bulk(args, body["outfall_ids"], versions or None)
    db().commit()
    return jsonify(report.as_dict())
