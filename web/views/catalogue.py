"""The catalogue pages every user sees: the map, the outfall list and an outfall's page."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from itertools import chain

from flask import Blueprint, Response, g, redirect, render_template, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from outfalls import clock
from outfalls.cases import assignment, remediation, sampling, standardisation, tracing
from outfalls.catalogue import lifecycle, queries
from outfalls.models import Attachment
from outfalls.store import list_attachments
from outfalls.types import Role
from web.auth import current_identity, current_scope, public, requires
from web.db import db, settings
from web.forms import parse_date, parse_filter, parse_paging
from web.i18n import STATUS_LABELS, current_locale
from web.maps import script_json

bp = Blueprint("catalogue", __name__)


@bp.get("/")
@requires()
def map_page() -> ResponseReturnValue:
    s = settings()
    f = parse_filter(request.args, me=current_identity().login)
    facets = queries.facets(db(), scope=current_scope())
    config = {
        "extent": queries.scope_extent(db(), current_scope()) or s.map.extent,
        "basemapUrl": s.map.basemap_url,
        "maxFeatures": s.map.max_features,
        "urls": {
            "outfalls": url_for("api.map_outfalls"),
            "layer": url_for("api.layer", name="__name__"),
            "detail": url_for("catalogue.outfall_page", outfall_id=0),
        },
        "statusLabels": {k: str(v) for k, v in STATUS_LABELS.items()},
        "text": {
            "basins": _("Basins"),
            "subBasins": _("Sub-basins"),
            "rivers": _("Rivers"),
            "provinces": _("Provinces"),
            "cities": _("Cities"),
            "counties": _("Counties"),
            "outfalls": _("Outfalls"),
            "open": _("Open the outfall's page"),
            "truncated": _("Showing the first %(n)s outfalls: zoom in or filter to see all.", n=s.map.max_features),
            "loading": _("Loading…"),
            "shown": _("outfalls on the map"),
            "zoomIn": _("Zoom in"),
            "zoomOut": _("Zoom out"),
        },
    }
    return render_template(
        "catalogue/map.html",
        filters=f,
        facets=facets,
        counts=queries.status_counts(db(), f, scope=current_scope()),
        map_config=script_json(config),
    )


@bp.get("/favicon.ico")
@public
def favicon() -> ResponseReturnValue:
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@bp.get("/outfalls")
@requires()
def list_page() -> ResponseReturnValue:
    f = parse_filter(request.args, me=current_identity().login)
    page, size = parse_paging(request.args, settings())
    result = queries.list_outfalls(db(), f, scope=current_scope(), page=page, page_size=size)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    can_bulk = Role.CASE_OFFICER in current_identity().roles
    return render_template(
        "catalogue/list.html",
        filters=f,
        facets=queries.facets(db(), scope=current_scope()),
        result=result,
        args=args,
        locale=current_locale(),
        can_bulk=can_bulk,
        officers=assignment.officers_for(db(), current_scope()) if can_bulk else [],
        today=clock.today(),
    )


@bp.get("/keep-list")
@requires()
def keep_list() -> ResponseReturnValue:
    """The outfalls that stay (需保留清单): the list page with that filter."""
    return redirect(url_for("catalogue.list_page", keep=1, **request.args))


CSV_COLUMNS = (
    "id", "national_code", "local_code", "name", "type_code", "type_zh", "status", "status_since",
    "remediation_category", "basin", "sub_basin", "river", "area_code", "area", "found_by", "found_on",
    "lon", "lat", "assigned_to", "case_deadline", "exceeds_limit", "is_demo",
)  # fmt: skip


@bp.get("/outfalls.csv")
@requires()
def list_csv() -> ResponseReturnValue:
    """The outfalls matching the list's filters as CSV (UTF-8 with BOM, so Excel shows Chinese correctly)."""
    f = parse_filter(request.args, me=current_identity().login)
    scope = current_scope()
    first = queries.list_outfalls(db(), f, scope=scope, page=1, page_size=CSV_PAGE)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow(CSV_COLUMNS)
        page, result = 1, first
        while result.items:
            for row in result.items:
                out.writerow(["" if (v := getattr(row, c)) is None else v for c in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if page >= result.pages:
                break
            page += 1
            result = queries.list_outfalls(db(), f, scope=scope, page=page, page_size=CSV_PAGE)

    name = "keep-list" if f.keep else "outfalls"
    return Response(
        stream_with_context(chain(["\ufeff"], lines())),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-{clock.today().isoformat()}.csv"'},
    )


CSV_PAGE = 5000


def _files_by_event(files: list[Attachment]) -> dict[int | None, list[Attachment]]:
    by_event: dict[int | None, list[Attachment]] = {}
    for a in files:
        by_event.setdefault(a.event_id, []).append(a)
    return by_event


@bp.get("/outfalls/<int:outfall_id>")
@requires()
def outfall_page(outfall_id: int) -> ResponseReturnValue:
    detail = queries.get_outfall(db(), outfall_id, scope=current_scope())
    as_of = parse_date(request.args, "as_of")
    files = list_attachments(db(), outfall_id, scope=current_scope())
    state_then = lifecycle.state_as_of(db(), outfall_id, as_of, scope=current_scope()) if as_of else None
    is_officer = Role.CASE_OFFICER in current_identity().roles
    config = {
        "point": [detail.row.lon, detail.row.lat],
        "status": detail.row.status,
        "urls": {"layer": url_for("api.layer", name="__name__")},
        "text": {"rivers": _("Rivers"), "counties": _("Counties"), "zoomIn": _("Zoom in"), "zoomOut": _("Zoom out")},
    }
    return render_template(
        "catalogue/detail.html",
        d=detail,
        monitoring=sampling.monitoring_state(db(), outfall_id, scope=current_scope()),
        parameters=sampling.parameters(db()),
        standards=sampling.standards(db()),
        traces=tracing.trace_history(db(), outfall_id, scope=current_scope()),
        party_rows=range(3),
        files_by_event=_files_by_event(files),
        files_by_id={a.id: a for a in files},
        as_of=as_of,
        state_then=state_then,
        officers=assignment.officers_for(db(), current_scope()) if is_officer else [],
        checklist=standardisation.checklist(db(), outfall_id, scope=current_scope()),
        remedies=remediation.remediation_history(db(), outfall_id, scope=current_scope()),
        gaps=remediation.closing_gaps(
            db(), outfall_id, scope=current_scope(), acceptor=g.identity.login if g.get("identity") else None
        ),
        locale=current_locale(),
        map_config=script_json(config),
    )
