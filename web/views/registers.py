"""Exporters: the outfall register (名录) of a scope as of a date in any format, made by a background job with
progress and kept in the file store for download (every export is in the audit log); and every user's
per-outfall dossier (档案) as a printable page and a PDF printed by headless Chromium.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from outfalls import clock, jobs, maps, registers
from outfalls.cases import dossier
from outfalls.catalogue import queries
from outfalls.errors import OutfallsError
from outfalls.pdf import print_pdf
from outfalls.progress.targets import targets_in_force
from outfalls.store import FileStore
from outfalls.types import Role
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import parse_date
from web.i18n import EXPORT_STAGES, FORMAT_LABELS
from web.jobs import runner
from web.maps import script_json

bp = Blueprint("registers", __name__)
EXPORTERS = (Role.EXPORTER, Role.ADMIN)


@bp.get("/registers")
@requires(*EXPORTERS)
def page() -> ResponseReturnValue:
    me = current_identity()
    facets = queries.facets(db(), scope=me.scope)
    recent = registers.recent_exports(db(), me.login)
    today = clock.today()
    deadlines = {t.deadline for t in targets_in_force(db(), today, settings().targets)}
    quick = sorted({registers.default_as_of(today), *(d for d in deadlines if d <= today)})
    return render_template("registers/page.html", facets=facets, formats=registers.FORMATS, format_labels=FORMAT_LABELS,
                           default_as_of=today, as_of_choices=quick, recent=recent, columns=registers.COLUMNS,
                           scope_name=_("All outfalls in scope") if me.scope.is_national
                           else maps.scope_words(db(), me.scope))  # fmt: skip


@bp.post("/registers/export")
@requires(*EXPORTERS)
def export() -> ResponseReturnValue:
    """Start an export job (checked first, so a bad choice is an error on the form, not a failed job)."""
    form = request.form
    me = current_identity().login
    job = registers.start_export(
        db(), actor=me, scope=current_scope(), runner=runner().id, fmt=(form.get("format") or "xlsx").strip(),
        crs=(form.get("crs") or "4490").strip(), by=(form.get("by") or "basin").strip(),
        as_of=parse_date(form, "as_of"), basin=(form.get("basin") or "").strip() or None,
        area=(form.get("area") or "").strip() or None,
    )  # fmt: skip
    db().commit()
    runner().submit(job.id, registers.export_work(settings().storage.store_dir, actor=me, ip=request.remote_addr,
                                                  scope=current_scope(), targets=settings().targets))  # fmt: skip
    return redirect(url_for("registers.job_page", job_id=job.id))


@bp.get("/registers/jobs/<int:job_id>")
@requires(*EXPORTERS)
def job_page(job_id: int) -> ResponseReturnValue:
    job = registers.export_job(db(), job_id, actor=current_identity().login)
    if jobs.mark_interrupted(db(), job, runner().id):
        db().commit()
    config = script_json({"url": url_for("survey.job_json", job_id=job.id),
                          "done": url_for("registers.job_page", job_id=job.id)})  # fmt: skip
    return render_template("registers/job.html", job=job, config=config, format_labels=FORMAT_LABELS,
                           stages=script_json({k: str(v) for k, v in EXPORT_STAGES.items()}),
                           stage_labels=EXPORT_STAGES, interrupted=jobs.INTERRUPTED)  # fmt: skip


@bp.get("/registers/jobs/<int:job_id>/download")
@requires(*EXPORTERS)
def download(job_id: int) -> ResponseReturnValue:
    stored = registers.export_file(db(), settings().storage.store_dir, job_id, actor=current_identity().login)
    return send_file(stored.path, mimetype=stored.media_type, as_attachment=True, download_name=stored.name)


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

