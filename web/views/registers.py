"""Exporters: the outfall register (名录) of a scope as of a date in any format, made by a background job with
progress and kept in the file store for download (every export is in the audit log); and every user's
per-outfall dossier (档案) as a printable page and a PDF printed by headless Chromium.
"""

from __future__ import annotations

import base64
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls import clock, jobs, registers
from outfalls.cases import dossier
from outfalls.catalogue import queries
from outfalls.errors import NotFound, OutfallsError
from outfalls.models import Job
from outfalls.pdf import print_pdf
from outfalls.store import FileStore
from outfalls.types import JobStatus, Role
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import parse_date
from web.i18n import EXPORT_STAGES, FORMAT_LABELS
from web.jobs import runner
from web.maps import script_json

bp = Blueprint("registers", __name__)
EXPORTERS = (Role.EXPORTER, Role.ADMIN)
JOB_KIND = "register_export"


def _last_year_end() -> date:
    return date(clock.today().year - 1, 12, 31)


def file_name(fmt: str, basin: str | None, area: str | None, as_of: date) -> str:
    """The download name: ``register-<basin>-<area>-<as-of>.<ext>`` (a zipped Shapefile ends in .shp.zip)."""
    parts = ["register", *(p for p in (basin, area) if p), as_of.isoformat()]
    return "-".join(parts) + (".shp.zip" if fmt == "shp" else registers.SUFFIX[fmt])


@bp.get("/registers")
@requires(*EXPORTERS)
def page() -> ResponseReturnValue:
    me = current_identity()
    facets = queries.facets(db(), scope=me.scope)
    recent = db().scalars(select(Job).where(Job.kind == JOB_KIND, Job.created_by == me.login)
                          .order_by(Job.id.desc()).limit(20)).all()  # fmt: skip
    return render_template("registers/page.html", facets=facets, formats=registers.FORMATS, format_labels=FORMAT_LABELS,
                           default_as_of=_last_year_end(), recent=recent, columns=registers.COLUMNS)  # fmt: skip


def _export_work(store_dir: Path, actor: str, ip: str | None, scope: Any, options: dict[str, Any]) -> jobs.Work:
    def work(session: Session, job: Job, progress: Any) -> dict[str, Any]:
        as_of = date.fromisoformat(options["as_of"])
        name = file_name(options["format"], options["basin"], options["area"], as_of)
        with tempfile.TemporaryDirectory(prefix="ofreg") as tmp:
            result = registers.export_register(
                session, Path(tmp) / name, fmt=options["format"], scope=scope, basin=options["basin"],
                area=options["area"], as_of=as_of, crs=options["crs"], by=options["by"], progress=progress,
            )  # fmt: skip
            with open(result.file, "rb") as fh:
                stored = FileStore(store_dir).put(fh)
        registers.record_export(session, result, actor=actor, ip=ip, job=job.id)
        return result.as_dict() | {"file": name, "sha256": stored.sha256, "size_bytes": stored.size_bytes}

    return work


@bp.post("/registers/export")
@requires(*EXPORTERS)
def export() -> ResponseReturnValue:
    """Start an export job (checked first, so a bad choice is an error on the form, not a failed job)."""
    form = request.form
    fmt = registers.check_format((form.get("format") or "xlsx").strip())
    crs = registers.check_crs((form.get("crs") or "4490").strip())
    by = (form.get("by") or "basin").strip()
    as_of = registers.check_as_of(parse_date(form, "as_of") or _last_year_end())
    basin = (form.get("basin") or "").strip() or None
    area = (form.get("area") or "").strip() or None
    query = registers.register_query(db(), scope=current_scope(), basin=basin, area=area, as_of=as_of, crs=crs, by=by)
    options = {"format": fmt, "crs": crs, "by": by, "as_of": as_of.isoformat(), "basin": basin, "area": area,
               "runner": runner().id}  # fmt: skip
    me = current_identity().login
    job = jobs.create_job(db(), JOB_KIND, actor=me, input_name=file_name(fmt, basin, area, as_of), options=options,
                          total=query.upper_bound)  # fmt: skip
    db().commit()
    runner().submit(job.id, _export_work(settings().storage.store_dir, me, request.remote_addr, current_scope(),
                                         options))  # fmt: skip
    return redirect(url_for("registers.job_page", job_id=job.id))


@bp.get("/registers/jobs/<int:job_id>")
@requires(*EXPORTERS)
def job_page(job_id: int) -> ResponseReturnValue:
    job = _job(job_id)
    if jobs.mark_interrupted(db(), job, runner().id):
        db().commit()
    config = script_json({"url": url_for("survey.job_json", job_id=job.id),
                          "done": url_for("registers.job_page", job_id=job.id)})  # fmt: skip
    return render_template("registers/job.html", job=job, config=config, format_labels=FORMAT_LABELS,
                           stages=script_json({k: str(v) for k, v in EXPORT_STAGES.items()}),
                           stage_labels=EXPORT_STAGES, interrupted=jobs.INTERRUPTED)  # fmt: skip


def _job(job_id: int) -> Job:
    job = jobs.get_job(db(), job_id, actor=current_identity().login)
    if job.kind != JOB_KIND:
        raise NotFound("the job does not exist", entity="job", id=job_id)
    return job


@bp.get("/registers/jobs/<int:job_id>/download")
@requires(*EXPORTERS)
def download(job_id: int) -> ResponseReturnValue:
    job = _job(job_id)
    if job.status is not JobStatus.DONE:
        raise NotFound("the export is not ready", entity="job", id=job_id)
    store = FileStore(settings().storage.store_dir)
    fmt = str(job.report["format"])
    return send_file(store.path_of(str(job.report["sha256"])), mimetype=registers.MEDIA_TYPES[fmt],
                     as_attachment=True, download_name=str(job.report["file"]))  # fmt: skip


# -- the dossier ----------------------------------------------------------------------------------------------
def _thumbs(files: list[Any]) -> dict[int, str]:
    """Photos as data: URIs (the printed page must not fetch anything)."""
    store = FileStore(settings().storage.store_dir)
    out: dict[int, str] = {}
    for a in files:
        if not a.media_type.startswith("image/"):
            continue
        try:
            data = store.thumbnail(a.sha256).read_bytes()
        except OutfallsError:
            continue  # a file missing from the store, or not an image Pillow reads: listed without a picture
        out[a.id] = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    return out


def _dossier_context(outfall_id: int) -> dict[str, Any]:
    d = dossier.build_dossier(db(), outfall_id, scope=current_scope())
    return {"d": d, "o": d.detail.row, "thumbs": _thumbs(d.files)}


def _css() -> str:
    static = Path(current_app.static_folder or "")
    return "\n".join((static / "css" / n).read_text(encoding="utf-8") for n in ("app.css", "dossier.css"))


@bp.get("/outfalls/<int:outfall_id>/dossier")
@requires()
def dossier_page(outfall_id: int) -> ResponseReturnValue:
    return render_template("registers/dossier.html", inline_css=None, **_dossier_context(outfall_id))


@bp.get("/outfalls/<int:outfall_id>/dossier.pdf")
@requires()
def dossier_pdf(outfall_id: int) -> ResponseReturnValue:
    """The dossier printed to PDF by headless Chromium (self-contained HTML: styles and photos inline)."""
    html = render_template("registers/dossier.html", inline_css=_css(), **_dossier_context(outfall_id))
    pdf = print_pdf(html, settings().progress.chromium, settings().progress.pdf_timeout_s)
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="dossier-{outfall_id}.pdf"'})  # fmt: skip

