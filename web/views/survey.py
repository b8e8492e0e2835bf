"""Survey crews' uploads: choose a file (a table, a GIS file, or a ZIP of a table with its photos; photos may also
be added beside the table), check the column mapping and a dry run on a preview, import, and read the report
row by row; large uploads run as a background job whose page can be closed and reopened. Analysts and case
officers decide the rows reconciliation left to them in the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from outfalls import jobs
from outfalls.config import UploadSettings
from outfalls.errors import InvalidInput, NotFound
from outfalls.models import Job
from outfalls.scope import require_visible
from outfalls.store import FileStore
from outfalls.survey import mapping as mappings
from outfalls.survey.datums import DATUMS, declared_crs
from outfalls.survey.intake import import_table, type_resolver
from outfalls.survey.mapping import NoCoordinates, require_position
from outfalls.survey.queries import REVIEWER_ROLES, batch_report, list_batches, merge_pair
from outfalls.survey.readers import (
    PHOTO_SUFFIXES,
    ChoiceNeeded,
    Photo,
    RawTable,
    UnusableFile,
    check_file_name,
    read_upload,
)
from outfalls.survey.reconcile import merge_outfalls, split_outfall
from outfalls.survey.review import (
    CLUSTER_ACTIONS,
    ClusterDecision,
    decide_cluster,
    decide_many,
    open_reviews,
    resolve_link,
    resolve_new,
    review_groups,
)
from outfalls.survey.validate import validate
from outfalls.types import JobStatus, Role
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import parse_int
from web.forms.bodies import json_object, whole_number
from web.jobs import runner
from web.maps import script_json

bp = Blueprint("survey", __name__)
PREVIEW_ROWS = 10


@dataclass(frozen=True, slots=True)
class Upload:
    """An upload kept in the file store between the preview and the import (content-addressed, so nothing
    is kept twice and nothing needs cleaning up when the user walks away).
    """

    table_sha: str
    table_name: str
    photos: tuple[tuple[str, str], ...]  # (sha256, name)
    crs: str | None
    encoding: str | None
    sheet: str | None
    layer: str | None
    crew: str | None

    def options(self) -> dict[str, Any]:
        """The upload as plain values (a job's options, the preview's hidden fields)."""
        return {"table_sha": self.table_sha, "table_name": self.table_name, "photos": [list(p) for p in self.photos],
                "crs": self.crs, "encoding": self.encoding, "sheet": self.sheet, "layer": self.layer,
                "crew": self.crew}  # fmt: skip

    @classmethod
    def from_options(cls, o: dict[str, Any]) -> Upload:
        """The inverse of ``options``."""
        return cls(str(o["table_sha"]), str(o["table_name"]), tuple((str(s), str(n)) for s, n in o.get("photos", [])),
                   o.get("crs"), o.get("encoding"), o.get("sheet"), o.get("layer"), o.get("crew"))  # fmt: skip

    def read(self, store: FileStore, limits: UploadSettings, preview_rows: int | None = None) -> RawTable:
        """The table with its photos, read again from the store (only the first rows for a preview)."""
        with store.open(self.table_sha) as fh:
            table = read_upload(fh.read(), self.table_name, encoding=self.encoding, sheet=self.sheet,
                                layer=self.layer, limits=limits, preview_rows=preview_rows)  # fmt: skip
        for sha, name in self.photos:
            with store.open(sha) as fh:
                table.photos.append(Photo(name, fh.read()))
        return table


def _store() -> FileStore:
    return FileStore(settings().storage.store_dir)


def _form_context() -> dict[str, Any]:
    return {"templates": mappings.template_names(db()), "datums": DATUMS,
            "me": current_identity().display_name}  # fmt: skip


@bp.get("/survey/upload")
@requires(Role.CREW)
def upload_page() -> ResponseReturnValue:
    return render_template("survey/upload.html", **_form_context())


def _save_upload(files: list[FileStorage], form: Any) -> Upload:
    files = [f for f in files if f and f.filename]
    if not files:
        raise InvalidInput("choose a file to upload", field="file")
    store = _store()
    tables = [f for f in files if not (f.filename or "").lower().endswith(PHOTO_SUFFIXES)]
    photos = [f for f in files if (f.filename or "").lower().endswith(PHOTO_SUFFIXES)]
    if len(tables) != 1:
        raise InvalidInput("upload one table, GIS file or ZIP at a time (photos may be added beside it)",
                           field="file")  # fmt: skip
    table = tables[0]
    table_name = check_file_name(table.filename or "upload")
    photo_names = [check_file_name(p.filename or "photo.jpg") for p in photos]
    stored = store.put(table.stream)
    kept = tuple((store.put(p.stream).sha256, name) for p, name in zip(photos, photo_names, strict=True))
    return Upload(stored.sha256, table_name, kept,
                  declared_crs(form.get("datum"), form.get("epsg")), (form.get("encoding") or "").strip() or None,
                  (form.get("sheet") or "").strip() or None, (form.get("layer") or "").strip() or None,
                  (form.get("crew") or "").strip() or None)  # fmt: skip


def _mapping_from(form: Any) -> dict[str, str]:
    return {f: (form.get(f"map-{f}") or "") for f in mappings.FIELDS if f"map-{f}" in form}


def _kept_upload(form: Any) -> Upload:
    """An upload already in the store, sent back by the layer choice or "check again" (with the sheet or layer
    chosen on that page).
    """
    fields = {k: (form.get(f"u-{k}") or "").strip() or None for k in ("table_sha", "table_name", "crs", "encoding",
                                                                       "sheet", "layer", "crew")}  # fmt: skip
    if not fields["table_sha"] or not fields["table_name"]:
        raise InvalidInput("the upload is missing: start again from the upload page", field="upload")
    for what in ("sheet", "layer"):
        fields[what] = (form.get(what) or "").strip() or fields[what]
    photos = list(zip(form.getlist("u-photo-sha"), form.getlist("u-photo-name"), strict=False))
    return Upload.from_options(fields | {"photos": photos})


@bp.post("/survey/upload")
@requires(Role.CREW)
def preview() -> ResponseReturnValue:
    """Read the upload and show the mapping and a dry run (nothing is imported yet). A file of several layers (or
    sheets) first asks which one; a table whose coordinates are not recognised opens the mapping screen.
    """
    files = [f for f in request.files.getlist("file") if f and f.filename]
    template = (request.form.get("template") or "").strip()
    try:
        upload = _save_upload(files, request.form) if files else _kept_upload(request.form)
    except (UnusableFile, InvalidInput) as err:
        return render_template("survey/upload.html", error=err.message, **_form_context()), 422
    try:
        table = upload.read(_store(), settings().upload, preview_rows=settings().survey.background_rows)
        given = mappings.load_template(db(), template) if template else {}
        columns = mappings.ColumnMapping.for_table(table, given | _mapping_from(request.form))
    except ChoiceNeeded as err:
        return render_template("survey/choose.html", upload=upload, options=upload.options(), what=err.what,
                               choices=err.options, message=err.message, template=template)  # fmt: skip
    except (UnusableFile, InvalidInput, NotFound) as err:
        return render_template("survey/upload.html", error=err.message, **_form_context()), 422
    context = {"upload": upload, "table": table, "mapping": columns.fields, "fields": mappings.FIELDS,
               "sample": list(zip(table.row_numbers, table.rows, strict=True))[:PREVIEW_ROWS],
               "options": upload.options(), "template": template}  # fmt: skip
    try:
        require_position(table, columns)
        dry = validate(table, columns, crs=upload.crs, region=settings().region, types=type_resolver(db()))
    except NoCoordinates as err:
        return render_template("survey/preview.html", dry=None, no_coordinates=err.message, by_code={},
                               problems=[], rejected_rows=0, **context), 422  # fmt: skip
    except (UnusableFile, InvalidInput) as err:
        return render_template("survey/upload.html", error=err.message, **_form_context()), 422
    by_code: dict[str, int] = {}
    for p in dry.rejected:
        by_code[p.code] = by_code.get(p.code, 0) + 1
    return render_template("survey/preview.html", dry=dry, by_code=by_code, problems=dry.rejected[:50],
                           rejected_rows=len({p.row for p in dry.rejected}), **context)  # fmt: skip


def _import_work(settings_: Any, actor: str, scope: Any, upload: Upload, mapping: dict[str, str]) -> jobs.Work:
    def work(session: Session, job: Job, progress: Any) -> dict[str, Any]:
        table = upload.read(FileStore(settings_.storage.store_dir), settings_.upload)
        report = import_table(session, table, settings=settings_, actor=actor, crew=upload.crew, crs=upload.crs,
                              mapping=mapping, file_name=upload.table_name, file_sha256=upload.table_sha,
                              progress=progress, scope=scope)  # fmt: skip
        return report.as_dict()

    return work


@bp.post("/survey/import")
@requires(Role.CREW)
def do_import() -> ResponseReturnValue:
    """Import a previewed upload: at once for small files, as a background job for large ones."""
    fields = {k: request.form.get(f"u-{k}") for k in ("table_sha", "table_name", "crs", "encoding", "sheet",
                                                      "layer", "crew")}  # fmt: skip
    if not fields["table_sha"] or not fields["table_name"]:
        raise InvalidInput("the upload is missing: start again from the upload page", field="upload")
    photos = list(zip(request.form.getlist("u-photo-sha"), request.form.getlist("u-photo-name"), strict=False))
    upload = Upload.from_options({k: (v or None) for k, v in fields.items()} | {"photos": photos})
    mapping = _mapping_from(request.form)
    save_as = (request.form.get("save_as") or "").strip()
    me = current_identity().login
    if save_as:
        mappings.save_template(db(), save_as, mapping, actor=me)
        db().commit()
    rows = parse_int(request.form, "rows", 0, minimum=0)
    if rows > settings().survey.background_rows or request.form.get("partial"):  # a preview of a large file
        options = {"upload": upload.options(), "mapping": mapping, "runner": runner().id}
        job = jobs.create_job(db(), "survey_import", actor=me, input_name=upload.table_name,
                              input_sha256=upload.table_sha, total=rows, options=options)  # fmt: skip
        db().commit()
        runner().submit(job.id, _import_work(settings(), me, current_scope(), upload, mapping))
        return redirect(url_for("survey.job_page", job_id=job.id))
    try:
        report = import_table(db(), upload.read(_store(), settings().upload), settings=settings(), actor=me,
                              crew=upload.crew, crs=upload.crs, mapping=mapping, file_name=upload.table_name,
                              file_sha256=upload.table_sha, scope=current_scope())  # fmt: skip
    except (UnusableFile, InvalidInput) as err:
        db().rollback()
        return render_template("survey/upload.html", error=err.message, **_form_context()), 422
    db().commit()
    if report.batch_id is not None:
        return redirect(url_for("survey.batch_page", batch_id=report.batch_id))
    return render_template("survey/report.html", report=report.as_dict(), batch=None, map_config=None)


@bp.get("/survey/jobs/<int:job_id>")
@requires(Role.CREW)
def job_page(job_id: int) -> ResponseReturnValue:
    job = jobs.get_job(db(), job_id, actor=current_identity().login)
    if jobs.mark_interrupted(db(), job, runner().id):
        db().commit()
    if job.status is JobStatus.DONE and job.report.get("batch_id"):
        return redirect(url_for("survey.batch_page", batch_id=job.report["batch_id"]))
    if job.status is JobStatus.DONE:
        return render_template("survey/report.html", report=job.report, batch=None, map_config=None)
    return render_template("survey/job.html", job=job, interrupted=jobs.INTERRUPTED,
                           config=script_json({"url": url_for("survey.job_json", job_id=job.id),
                                               "done": url_for("survey.job_page", job_id=job.id)}))  # fmt: skip


@bp.get("/api/jobs/<int:job_id>")
@requires()
def job_json(job_id: int) -> ResponseReturnValue:
    """A job's state: ``{id, kind, status, done, total, message, report}``."""
    job = jobs.get_job(db(), job_id, actor=current_identity().login)
    if jobs.mark_interrupted(db(), job, runner().id):
        db().commit()
    return jsonify(id=job.id, kind=job.kind, status=job.status.value, done=job.done, total=job.total,
                   message=job.message, report=job.report if job.status is JobStatus.DONE else None)  # fmt: skip


@bp.get("/survey/batches")
@requires(Role.CREW, *REVIEWER_ROLES)
def batches_page() -> ResponseReturnValue:
    me = current_identity()
    return render_template("survey/batches.html", batches=list_batches(db(), actor=me.login, scope=me.scope))


@bp.get("/survey/batches/<int:batch_id>")
@requires(Role.CREW, *REVIEWER_ROLES)
def batch_page(batch_id: int) -> ResponseReturnValue:
    me = current_identity()
    found = batch_report(db(), batch_id, actor=me.login, roles=me.roles, scope=me.scope)
    points = [{"id": p.id, "name": p.name, "status": p.status, "lon": p.lon, "lat": p.lat} for p in found.points]
    config = {"points": points, "detail": url_for("catalogue.outfall_page", outfall_id=0),
              "text": {"zoomIn": "+", "zoomOut": "−"}}  # fmt: skip
    return render_template("survey/report.html", report=found.report, batch=found.batch,
                           map_config=script_json(config) if points else None)  # fmt: skip


@bp.post("/api/survey/import")
@requires(Role.CREW)
def api_import() -> ResponseReturnValue:
    """Import in one call (multipart: ``file`` [+ photos], ``datum``/``epsg``, ``encoding``, ``sheet``, ``layer``,
    ``crew``, ``template``): the ``survey import --json`` report; 422 for an unusable file.
    """
    upload = _save_upload(request.files.getlist("file"), request.form)
    template = (request.form.get("template") or "").strip()
    given = mappings.load_template(db(), template) if template else None
    report = import_table(db(), upload.read(_store(), settings().upload), settings=settings(),
                          actor=current_identity().login,
                          crew=upload.crew, crs=upload.crs, mapping=given, file_name=upload.table_name,
                          file_sha256=upload.table_sha, scope=current_scope())  # fmt: skip
    db().commit()
    return jsonify(report.as_dict()), 201 if report.batch_id else 200


@bp.get("/survey/review")
@requires(*REVIEWER_ROLES)
def review_page() -> ResponseReturnValue:
    batch = request.args.get("batch", type=int)
    entries = open_reviews(db(), scope=current_scope(), batch_id=batch)
    return render_template("survey/review.html", entries=entries, groups=review_groups(entries), batch=batch,
                           review_radius_m=settings().reconcile.review_radius_m)  # fmt: skip


@bp.get("/api/survey/review")
@requires(*REVIEWER_ROLES)
def api_review() -> ResponseReturnValue:
    """The open review queue of one's area (``?batch=ID``: one upload's), grouped by cluster: ``{groups:
    [{cluster_id, versions, candidates: [{outfall_id, name, status, metres}], items: [{item_id, version, reason,
    detail, row, source, client_id, name, lon, lat, candidates}]}]}``.
    """
    batch = request.args.get("batch", type=int)
    groups = review_groups(open_reviews(db(), scope=current_scope(), batch_id=batch))

    def cands(found: list[tuple[int, str, str, float]]) -> list[dict[str, Any]]:
        return [{"outfall_id": i, "name": n, "status": st, "metres": round(m, 1)} for i, n, st, m in found]

    return jsonify(groups=[{
        "cluster_id": g.cluster_id, "versions": {str(k): v for k, v in g.versions.items()},
        "candidates": cands(g.candidates),
        "items": [{"item_id": e.item.id, "version": e.item.version, "reason": e.item.reason.value,
                   "detail": e.item.detail, "row": e.observation.attributes.get("_row"),
                   "source": e.observation.attributes.get("_source"), "client_id": e.observation.client_id,
                   "name": e.name, "lon": e.lon, "lat": e.lat, "candidates": cands(e.candidates)}
                  for e in g.entries],
    } for g in groups])  # fmt: skip


@bp.post("/survey/review/bulk")
@requires(*REVIEWER_ROLES)
def review_cluster() -> ResponseReturnValue:
    """Decide a whole cluster from the queue page: ``decision`` is ``separate``, ``one-<item id>`` or
    ``link-<outfall id>``; ``v-<item id>`` the versions of the rows shown.
    """
    form = request.form
    decision = form.get("decision") or ""
    action, _, raw = decision.partition("-")
    if action not in CLUSTER_ACTIONS or (action != "separate") != bool(raw) or (raw and not raw.isdigit()):
        raise InvalidInput("choose: all separate outfalls, one outfall, or link all to an outfall", field="decision",
                           value=decision[:100])  # fmt: skip
    versions = {}
    for key in form:
        if key.startswith("v-"):
            if not key[2:].isdigit():
                raise InvalidInput("reload the queue and decide again", field=key[:100])
            versions[int(key[2:])] = parse_int(form, key, 0, minimum=0)
    cluster_id = _required_int(form, "cluster_id", "reload the queue and decide again")
    target = int(raw) if raw else None
    override = form.get("override_reason") or "" if form.get("override_distance") else None
    decide_cluster(db(), ClusterDecision(action, versions, cluster_id=cluster_id,
                                         item_id=target if action == "one" else None,
                                         outfall_id=target if action == "link" else None, override_reason=override),
                   actor=current_identity().login, scope=current_scope(),
                   review_radius_m=settings().reconcile.review_radius_m)  # fmt: skip
    db().commit()
    return redirect(url_for("survey.review_page", batch=request.args.get("batch")))


def _decision(raw: object, where: str) -> ClusterDecision:
    """One decision of a bulk body; a wrong key or value names where it is."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be an object {{cluster_id, action, versions, ...}}", field=where)
    unknown = sorted(set(raw) - {"cluster_id", "item_id", "action", "outfall_id", "versions", "override_reason"})
    if unknown:
        raise InvalidInput(f"{where} has unknown keys: {', '.join(unknown)}"[:200], field=f"{where}.{unknown[0]}")
    action = raw.get("action")
    if action not in CLUSTER_ACTIONS:
        raise InvalidInput(f"{where}.action must be one of {', '.join(CLUSTER_ACTIONS)}", field=f"{where}.action")
    ids = {k: whole_number(raw[k], f"{where}.{k}") for k in ("cluster_id", "item_id", "outfall_id")
           if raw.get(k) is not None}  # fmt: skip
    if "cluster_id" not in ids and "item_id" not in ids:
        raise InvalidInput(f"{where} names no cluster_id (or item_id for a row alone)", field=f"{where}.cluster_id")
    if action == "link" and "outfall_id" not in ids:
        raise InvalidInput(f"{where}.outfall_id is required to link the rows", field=f"{where}.outfall_id")
    versions = raw.get("versions")
    if not isinstance(versions, dict) or not versions:
        raise InvalidInput(f"{where}.versions maps each open row's item id to the version it was decided on",
                           field=f"{where}.versions")  # fmt: skip
    seen = {}
    for key, version in versions.items():
        if not key.isdigit():
            raise InvalidInput(f"{where}.versions keys are item ids, not {key[:40]!r}", field=f"{where}.versions")
        seen[whole_number(int(key), f"{where}.versions")] = whole_number(version, f"{where}.versions")
    reason = raw.get("override_reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput(f"{where}.override_reason must be text", field=f"{where}.override_reason")
    return ClusterDecision(action, seen, cluster_id=ids.get("cluster_id"), item_id=ids.get("item_id"),
                           outfall_id=ids.get("outfall_id"), override_reason=reason)  # fmt: skip


@bp.post("/api/survey/review/bulk")
@requires(*REVIEWER_ROLES)
def api_review_bulk() -> ResponseReturnValue:
    """Decide clusters of the review queue (or rows alone) at once: ``{decisions: [{cluster_id | item_id, action:
    separate|one|link, outfall_id?, item_id?, versions: {item id: version}, override_reason?}]}``; answers
    ``{decided, refused, results: [{cluster_id, item_id, ok, code, message, items: [{item_id, outfall_id}]}]}``.
    Each decision is whole or refused whole (stale versions, another area's cluster, an outfall too far).
    """
    body = json_object(request)
    raw = body.get("decisions")
    if not isinstance(raw, list):
        raise InvalidInput("send a JSON object with decisions (a list)", field="decisions")
    decisions = [_decision(d, f"decisions[{i}]") for i, d in enumerate(raw)]
    report = decide_many(db(), decisions, actor=current_identity().login, scope=current_scope(),
                         review_radius_m=settings().reconcile.review_radius_m)  # fmt: skip
    db().commit()
    return jsonify(report.as_dict())


@bp.post("/survey/review/<int:item_id>")
@requires(*REVIEWER_ROLES)
def review_decide(item_id: int) -> ResponseReturnValue:
    decision = request.form.get("decision") or ""
    version = parse_int(request.form, "version", 0, minimum=0) or None
    me, scope = current_identity().login, current_scope()
    override = request.form.get("override_reason") or "" if request.form.get("override_distance") else None
    if decision == "new":
        resolve_new(db(), item_id, actor=me, scope=scope, expected_version=version)
    elif decision.startswith("link-"):
        raw = decision.removeprefix("link-")
        if not raw.isdigit():
            raise InvalidInput("choose an outfall to link the row to", field="decision", value=decision)
        outfall_id = int(raw)
        resolve_link(db(), item_id, outfall_id, actor=me, scope=scope, expected_version=version,
                     review_radius_m=settings().reconcile.review_radius_m, override_reason=override)  # fmt: skip
    else:
        raise InvalidInput("choose: link to an outfall, or a new outfall", field="decision", value=decision)
    db().commit()
    return redirect(url_for("survey.review_page", batch=request.args.get("batch")))


def _required_int(form: Any, name: str, message: str) -> int:
    if not (form.get(name) or "").strip():
        raise InvalidInput(message, field=name)
    return parse_int(form, name, 0, minimum=0)


@bp.get("/outfalls/<int:outfall_id>/merge")
@requires(*REVIEWER_ROLES)
def merge_page(outfall_id: int) -> ResponseReturnValue:
    """Show this outfall and the one it duplicates side by side, to confirm the merge against what is shown."""
    require_visible(db(), outfall_id, current_scope())  # out of scope is "not found", whatever the address says
    if not (request.args.get("into_id") or "").strip():  # first ask which outfall it duplicates
        return render_template("survey/merge.html", pair=None, outfall_id=outfall_id, reason="")
    into = _required_int(request.args, "into_id", "give the number of the outfall it duplicates")
    pair = merge_pair(db(), into, outfall_id, scope=current_scope())
    seen = parse_int(request.args, "version", pair.absorb.version, minimum=0)  # as this outfall's page showed it
    return render_template("survey/merge.html", pair=pair, version=seen, reason=request.args.get("reason") or "")


@bp.post("/outfalls/<int:outfall_id>/merge")
@requires(*REVIEWER_ROLES)
def merge(outfall_id: int) -> ResponseReturnValue:
    """Record that this outfall is a duplicate of another: it is merged into that one (undone by a split).
    Both versions are those the user confirmed: either outfall changed since is a stale edit (409).
    """
    require_visible(db(), outfall_id, current_scope())  # out of scope is "not found", whatever the form says
    into = _required_int(request.form, "into_id", "give the number of the outfall it duplicates")
    merge_outfalls(db(), into, outfall_id, actor=current_identity().login, scope=current_scope(),
                   keep_version=_required_int(request.form, "into_version", "confirm the merge on its own page"),
                   absorb_version=_required_int(request.form, "version", "reload the page and try again"),
                   reason=request.form.get("reason") or "")  # fmt: skip
    db().commit()
    return redirect(url_for("catalogue.outfall_page", outfall_id=into))


@bp.post("/outfalls/<int:outfall_id>/split")
@requires(*REVIEWER_ROLES)
def split(outfall_id: int) -> ResponseReturnValue:
    """Undo a merge: the outfall is its own again."""
    require_visible(db(), outfall_id, current_scope())
    split_outfall(db(), outfall_id, actor=current_identity().login, scope=current_scope(),
                  expected_version=parse_int(request.form, "version", 0, minimum=0),
                  reason=request.form.get("reason") or "")  # fmt: skip
    db().commit()
    return redirect(url_for("catalogue.outfall_page", outfall_id=outfall_id))
