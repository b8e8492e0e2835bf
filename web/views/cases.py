"""Case officers' work on an outfall: monitoring visits and limits, source tracing, remediation and closing out,
the 规范化建设 checklist, and the stored files (photos, evidence) behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from outfalls.cases import assignment, remediation, sampling, standardisation, tracing
from outfalls.catalogue import queries
from outfalls.db.base import Base
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import MonitoringVisit, TraceRecord
from outfalls.scope import require_visible
from outfalls.store import FileStore, attach_file, get_attachment
from outfalls.types import Role
from web import pages
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import (
    BulkForm,
    BulkInput,
    ChecklistForm,
    CloseForm,
    CompletionForm,
    Form,
    LimitForm,
    PlanForm,
    ProgressForm,
    TraceForm,
    VisitForm,
    json_object,
    parse_trace,
    parse_visit,
    whole_number,
)
from web.i18n import is_local_path

bp = Blueprint("cases", __name__)

# The four standard monitoring photos: sampling point, sampling/flow work, the sample, the quick-test result.
MONITORING_VIEWS = ("sampling_point", "operation", "sample", "quick_test")
# Uploaded files are shown inline only when they are images or PDFs; anything else downloads, so an uploaded
# HTML or script file can never run in the application's origin.
INLINE_TYPES = {"image/jpeg", "image/png", "image/webp", "application/pdf"}


def _units() -> dict[str, str]:
    return {p.code: p.unit for p in sampling.parameters(db())}


def _visit_form() -> VisitForm:
    return VisitForm(request.form, request.files, units=_units())


def _posted(form_type: type[Form[Any]]) -> Callable[[], Form[Any]]:
    return lambda: form_type(request.form, request.files)


def _evidence(form: Form[Any], outfall_id: int, *, event_id: int | None = None,
              meta: dict[str, object] | None = None) -> list[int]:  # fmt: skip
    """Store the files of the form's ``evidence`` field as evidence of the outfall; their ids."""
    store, me = FileStore(settings().storage.store_dir), current_identity().login
    return [
        attach_file(db(), store, f.stream, name=f.filename or "evidence", kind="evidence", actor=me,
                    scope=current_scope(), outfall_id=outfall_id, event_id=event_id, media_type=f.mimetype or None,
                    meta=meta).id
        for f in form.uploads("evidence")
    ]  # fmt: skip


@bp.post("/outfalls/<int:outfall_id>/visits")
@requires(Role.CASE_OFFICER)
@pages.refused_forms_stay(_visit_form, pages.case_page_again)
def add_visit(outfall_id: int, form: VisitForm) -> ResponseReturnValue:
    scope = current_scope()
    require_visible(db(), outfall_id, scope)  # out of scope is "not found", whatever the form says
    visit = form.parse()
    me = current_identity().login
    row = sampling.record_visit(db(), outfall_id, visit, actor=me, scope=scope, expected_version=form.version())
    store = FileStore(settings().storage.store_dir)
    for view in MONITORING_VIEWS:  # the four standard monitoring photos
        for f in form.uploads(f"photo-{view}")[:1]:
            attach_file(db(), store, f.stream, name=f.filename or view, kind="photo", actor=me, scope=scope,
                        outfall_id=outfall_id, event_id=row.event_id, media_type=f.mimetype or None,
                        meta={"view": view})  # fmt: skip
    db().commit()
    return redirect(url_for("catalogue.outfall_page", outfall_id=outfall_id, _anchor="monitoring"))


@bp.post("/outfalls/<int:outfall_id>/limit")
@requires(Role.CASE_OFFICER)
@pages.refused_forms_stay(_posted(LimitForm), pages.case_page_again)
def set_limit(outfall_id: int, form: LimitForm) -> ResponseReturnValue:
    standard, grade = form.parse()
    sampling.set_applicable_limit(
        db(), outfall_id, standard, grade, actor=current_identity().login, scope=current_scope(),
        expected_version=form.version(),
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
    body = json_object(request)
    if body.get("version") is None:
        raise InvalidInput("version (the outfall version the visit is based on) is required", field="version")
    version = whole_number(body["version"], "version")
    visit = sampling.record_visit(
        db(), outfall_id, parse_visit(body, _units()), actor=current_identity().login, scope=current_scope(),
        expected_version=version,
    )  # fmt: skip
    db().commit()
    return jsonify(_visit_json(visit)), 201


@bp.post("/outfalls/<int:outfall_id>/traces")
@requires(Role.CASE_OFFICER)
@pages.refused_forms_stay(_posted(TraceForm), pages.case_page_again)
def add_trace(outfall_id: int, form: TraceForm) -> ResponseReturnValue:
    scope, me = current_scope(), current_identity().login
    require_visible(db(), outfall_id, scope)
    record = tracing.record_trace(
        db(), outfall_id, form.parse(), actor=me, scope=scope, expected_version=form.version(),
        rule=settings().tracing.traced_requires,
    )  # fmt: skip
    _evidence(form, outfall_id, event_id=record.event_id)  # pipe-robot stills, dye photos, permits, lab reports …
    db().commit()
    return redirect(url_for("catalogue.outfall_page", outfall_id=outfall_id, _anchor="tracing"))


def _traces_json(records: list[TraceRecord]) -> list[dict[str, object]]:
    evidence = tracing.evidence_of(db(), records)
    return [_row(t) | {"parties": [_row(p) for p in t.parties], "evidence": evidence[t.event_id]} for t in records]


@bp.get("/api/outfalls/<int:outfall_id>/traces")
@requires()
def traces(outfall_id: int) -> ResponseReturnValue:
    """Tracing records, newest (current) first, with their parties."""
    return jsonify(_traces_json(tracing.trace_history(db(), outfall_id, scope=current_scope())))


@bp.post("/api/outfalls/<int:outfall_id>/traces")
@requires(Role.CASE_OFFICER)
def api_add_trace(outfall_id: int) -> ResponseReturnValue:
    """Record a tracing from JSON: ``{version, traced_on, method, sewage_source, parties: [...], ...}``."""
    require_visible(db(), outfall_id, current_scope())
    body = json_object(request)
    if body.get("version") is None:
        raise InvalidInput("send a JSON object with the outfall version the tracing is based on", field="version")
    version = whole_number(body["version"], "version")
    record = tracing.record_trace(
        db(), outfall_id, parse_trace(body), actor=current_identity().login, scope=current_scope(),
        expected_version=version, rule=settings().tracing.traced_requires,
    )  # fmt: skip
    db().commit()
    return jsonify(_traces_json([record])[0]), 201


def _back(outfall_id: int) -> ResponseReturnValue:
    return redirect(url_for("catalogue.outfall_page", outfall_id=outfall_id, _anchor="remediation"))


@bp.post("/outfalls/<int:outfall_id>/remediation/plan")
@requires(Role.CASE_OFFICER)
@pages.refused_forms_stay(_posted(PlanForm), pages.case_page_again)
def plan(outfall_id: int, form: PlanForm) -> ResponseReturnValue:
    require_visible(db(), outfall_id, current_scope())
    remediation.plan_remediation(db(), outfall_id, form.parse(), actor=current_identity().login,
                                 scope=current_scope(), expected_version=form.version())  # fmt: skip
    db().commit()
    return _back(outfall_id)


@bp.post("/outfalls/<int:outfall_id>/remediation/progress")
@requires(Role.CASE_OFFICER)
@pages.refused_forms_stay(_posted(ProgressForm), pages.case_page_again)
def progress(outfall_id: int, form: ProgressForm) -> ResponseReturnValue:
    require_visible(db(), outfall_id, current_scope())
    step = form.parse()
    remediation.record_progress(
        db(), outfall_id, step.on, step.progress_pct or 0, step.note or "", actor=current_identity().login,
        scope=current_scope(), expected_version=form.version(),
    )  # fmt: skip
    db().commit()
    return _back(outfall_id)


@bp.post("/outfalls/<int:outfall_id>/remediation/complete")
@requires(Role.CASE_OFFICER)
@pages.refused_forms_stay(_posted(CompletionForm), pages.case_page_again)
def complete(outfall_id: int, form: CompletionForm) -> ResponseReturnValue:
    require_visible(db(), outfall_id, current_scope())
    step = form.parse()
    remediation.complete_remediation(
        db(), outfall_id, step.on, evidence=_evidence(form, outfall_id), note=step.note,
        actor=current_identity().login, scope=current_scope(), expected_version=form.version(),
    )  # fmt: skip
    db().commit()
    return _back(outfall_id)


@bp.post("/outfalls/<int:outfall_id>/remediation/close")
@requires(Role.CASE_OFFICER)
@pages.refused_forms_stay(_posted(CloseForm), pages.case_page_again)
def close(outfall_id: int, form: CloseForm) -> ResponseReturnValue:
    require_visible(db(), outfall_id, current_scope())
    step = form.parse()
    remediation.accept_and_close(
        db(), outfall_id, step.on, note=step.note, actor=current_identity().login, scope=current_scope(),
        expected_version=form.version(),
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
@pages.refused_forms_stay(_posted(ChecklistForm), pages.case_page_again)
def standardisation_check(outfall_id: int, form: ChecklistForm) -> ResponseReturnValue:
    require_visible(db(), outfall_id, current_scope())
    check = form.parse()
    standardisation.record_check(
        db(), outfall_id, check.item, check.is_done, check.on,
        evidence=_evidence(form, outfall_id, meta={"item": check.item.value}), note=check.note,
        actor=current_identity().login, scope=current_scope(), expected_version=form.version(),
    )  # fmt: skip
    db().commit()
    return _back(outfall_id)


def _run_bulk(work: BulkInput) -> assignment.BulkReport:
    """One bulk operation; the caller commits."""
    me, scope = current_identity().login, current_scope()
    ids = work.ids
    if work.matching is not None:
        ids = queries.matching_ids(db(), work.matching, scope=scope, limit=assignment.MAX_SELECTION + 1)
    if work.action in ("assign", "unassign"):
        return assignment.assign_cases(db(), ids, work.officer, actor=me, scope=scope, on=work.on,
                                       expected_versions=work.versions)  # fmt: skip
    if work.action == "deadline":
        return assignment.set_deadlines(db(), ids, work.deadline, actor=me, scope=scope, on=work.on,
                                        expected_versions=work.versions)  # fmt: skip
    if work.plan is None:  # pragma: no cover - BulkForm gives a plan with the category action
        raise InvalidInput("choose a remediation category", field="category", reason="choice")
    return assignment.set_categories(db(), ids, work.plan, actor=me, scope=scope, expected_versions=work.versions)


def _bulk_form() -> BulkForm:
    return BulkForm(request.form, me=current_identity().login)


@bp.post("/outfalls/bulk")
@requires(Role.CASE_OFFICER)
@pages.refused_forms_stay(_bulk_form, pages.bulk_page_again)
def bulk(form: BulkForm) -> ResponseReturnValue:
    """Bulk work from the outfall list (or one outfall's page): the per-outfall results on a page."""
    report = _run_bulk(form.parse())
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
    body = json_object(request)
    if not isinstance(body.get("outfall_ids"), list):
        raise InvalidInput("send a JSON object with outfall_ids (a list of ids)", field="outfall_ids")
    ids = [whole_number(i, "outfall_ids") for i in body["outfall_ids"]]
    raw_versions = body.get("versions") or {}
    if not isinstance(raw_versions, dict):
        raise InvalidInput("versions maps outfall ids to the versions the change is based on", field="versions")
    try:
        versions = {whole_number(int(k), "versions"): whole_number(v, "versions") for k, v in raw_versions.items()}
    except ValueError as err:
        raise InvalidInput("versions maps outfall ids to whole-number versions", field="versions") from err
    fields: list[tuple[str, str]] = []
    for key, value in body.items():
        if key in ("outfall_ids", "versions"):
            continue
        if value is None:  # an explicit null clears the field (a deadline, say), as an empty form field does
            fields.append((key, ""))
        elif isinstance(value, str | bool) or (isinstance(value, int) and key != "deadline"):
            fields.append((key, str(value)))
        else:  # a number, list or object where text is expected: refused, never silently dropped
            raise InvalidInput(f"{key} must be text (a date YYYY-MM-DD for dates) or null, not {value!r}"[:200],
                               field=key)  # fmt: skip
    if body.get("action") == "deadline" and "deadline" not in body:
        raise InvalidInput("deadline is required: a date (YYYY-MM-DD), or null to clear it", field="deadline")
    fields += [("id", str(i)) for i in ids] + [(f"v-{k}", str(v)) for k, v in versions.items()]
    report = _run_bulk(BulkForm(MultiDict(fields), me=current_identity().login).parse())
    db().commit()
    return jsonify(report.as_dict())
