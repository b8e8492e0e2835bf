"""The catalogue pages every user sees: the map, the outfall list and an outfall's page."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from itertools import chain
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from outfalls import clock, progress
from outfalls.catalogue import queries
from outfalls.registers.formulas import neutralise_row
from web import pages
from web.auth import current_identity, current_scope, public, requires
from web.db import db, settings
from web.forms import parse_date, parse_filter
from web.i18n import STATUS_LABELS
from web.maps import basemap, script_json

bp = Blueprint("catalogue", __name__)


@bp.get("/")
@requires()
def map_page() -> ResponseReturnValue:
    s = settings()
    f = parse_filter(request.args, me=current_identity().login)
    facets = queries.facets(db(), scope=current_scope())
    config = {
        "extent": queries.scope_extent(db(), current_scope()) or s.map.extent,
        "basemap": basemap(s),
        "maxFeatures": s.map.max_features,
        "urls": {
            "outfalls": url_for("api.map_outfalls"),
            "layer": url_for("api.layer", name="__name__"),
            "labels": url_for("api.labels"),
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
            "labels": _("Names"),
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
    return pages.list_page(request.args)


@bp.get("/keep-list")
@requires()
def keep_list() -> ResponseReturnValue:
    """The outfalls that stay (需保留清单): the list page with that filter."""
    args: dict[str, Any] = request.args.to_dict(flat=False)
    return redirect(url_for("catalogue.list_page", **(args | {"keep": 1})))


CSV_COLUMNS = (
    "id", "national_code", "local_code", "name", "type_code", "type_zh", "status", "status_since",
    "remediation_category", "basin", "sub_basin", "river", "area_code", "area", "found_by", "found_on",
    "lon", "lat", "assigned_to", "case_deadline", "exceeds_limit", "is_demo",
)  # fmt: skip


@bp.get("/outfalls.csv")
@requires()
def list_csv() -> ResponseReturnValue:
    """The outfalls matching the list's filters as CSV (UTF-8 with BOM, so Excel shows Chinese correctly); text
    a spreadsheet would run as a formula has a single quote in front.
    """
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
                out.writerow(neutralise_row("" if (v := getattr(row, c)) is None else v for c in CSV_COLUMNS))
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


@bp.get("/outfalls/<int:outfall_id>")
@requires()
def outfall_page(outfall_id: int) -> ResponseReturnValue:
    as_of = parse_date(request.args, "as_of")
    # the page as of a day in the programme's past (the day after tomorrow has no state yet; 9999-12-31 has no end)
    return pages.case_page(outfall_id, as_of=progress.check_as_of(as_of) if as_of else None)
