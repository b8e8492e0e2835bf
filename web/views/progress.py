"""Leadership: progress against the targets as of any date, on a map by basin or by administrative area with
drill-down, vector tiles of the outfalls, the trend chart and the ranked table; the one-page printable report
(HTML and PDF); the targets page for administrators; and the progress JSON API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from outfalls import maps
from outfalls import progress as domain
from outfalls.catalogue import queries
from outfalls.errors import InvalidInput, NotFound
from outfalls.pdf import print_pdf
from outfalls.types import Role
from web.api.json import dumps
from web.auth import current_identity, current_scope, requires
from web.db import db, settings
from web.forms import PostedForm, parse_date
from web.forms.accounts import TargetForm
from web.i18n import GAP_CLASS_LABELS, METRIC_LABELS, SCOPE_KIND_LABELS, STATUS_LABELS, current_locale
from web.maps import basemap, script_json
from web.pages import refused_forms_stay

bp = Blueprint("dashboard", __name__)
api = Blueprint("progress_api", __name__, url_prefix="/api")

CHART_METRICS = ("traced", "remediated", "closed")
HEADLINE_METRICS = ("surveyed", "traced", "remediated", "closed")
LAYERS = {"basin": "basins", "sub_basin": "sub_basins", "river": "rivers", "province": "provinces",
          "city": "cities", "county": "counties"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class View:
    """What the dashboard, the print view and the PDF show: one scope, one axis, one metric, one day."""

    as_of: date
    by: str
    metric: str
    scope_kind: str
    scope_code: str | None
    report: domain.ProgressReport
    path: list[domain.ScopeStep]
    trend: domain.Trend | None  # None on the dashboard, which fetches it (the print view needs it)
    first_day: date

    @property
    def current(self) -> dict[str, domain.ProgressRow | None]:
        """The selected scope's rows by metric (None when it had no outfalls that day)."""
        return {m: self.report.row(self.scope_kind, self.scope_code, m) for m in domain.METRICS}

    @property
    def children(self) -> list[domain.ProgressRow]:
        """The rows one level down, most behind first."""
        return self.report.children(self.scope_kind, self.scope_code, self.metric)

    @property
    def child_kind(self) -> str | None:
        """The kind of the rows one level down (None at the bottom)."""
        return domain.CHILD_KIND[self.by].get(self.scope_kind)

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query arguments of this view, with changes (None removes one)."""
        scope = f"{self.scope_kind}:{self.scope_code}" if self.scope_code else None
        base: dict[str, Any] = {"by": self.by, "metric": self.metric, "scope": scope,
                                "as_of": self.as_of.isoformat() if request.args.get("as_of") else None}  # fmt: skip
        return {k: v for k, v in (base | changes).items() if v is not None}


def load_view(*, with_trend: bool = True) -> View:
    """The view the request's query string asks for (``as_of``, ``by``, ``metric``, ``scope``); the trend only
    ``with_trend``.

    Raises:
        InvalidInput: a malformed date, axis, metric or scope.
        NotFound: an unknown scope code.
    """
    args = request.args
    kind, code = domain.parse_scope(args.get("scope"))
    by = domain.check_axis(args.get("by"), kind)
    metric = domain.check_metric(args.get("metric") or "traced")
    session, scope, s = db(), current_scope(), settings()
    path = domain.scope_path(session, kind, code)
    as_of = domain.check_as_of(parse_date(args, "as_of"))
    report = domain.progress(session, scope=scope, by=by, as_of=as_of, defaults=s.targets)
    trend = None
    if with_trend:
        trend = domain.progress_trend(session, scope=scope, scope_kind=kind, scope_code=code, as_of=as_of,
                                      metrics=CHART_METRICS, defaults=s.targets)  # fmt: skip
    first = domain.first_day(session, scope) or as_of
    return View(as_of, by, metric, kind, code, report, path, trend, min(first, as_of))


def _row_dict(r: domain.ProgressRow | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return r.as_json() | {"gap_count": r.gap_count, "gap_class": domain.gap_class(r.gap_pp),
                          "behind_since": r.behind_since.isoformat() if r.behind_since else None,
                          "target_scope": r.target_scope}  # fmt: skip


def _text() -> dict[str, str]:
    return {
        "share": _("Share"), "target": _("Target"), "gap": _("Gap"), "by": _("by"), "outfalls": _("outfalls"),
        "pp": _("pp"), "noTarget": _("No target"), "noOutfalls": _("No outfalls on that day"),
        "drill": _("Click to open"), "behindSince": _("behind since"), "stillNeeded": _("still needed"),
        "zoomIn": _("Zoom in"), "zoomOut": _("Zoom out"), "outfallsLayer": _("Outfalls (vector tiles)"),
        "cluster": _("outfalls here"), "targetPoint": _("target"), "labels": _("Names"),
    }  # fmt: skip


def _map_config(view: View) -> dict[str, Any]:
    s = settings()
    child = view.child_kind
    shown = child or view.scope_kind
    children = {r.scope_code: _row_dict(r) for r in view.children}
    if child is None and view.scope_code:  # the bottom of the hierarchy: colour the scope itself
        children = {view.scope_code: _row_dict(view.current[view.metric])}
    extent = queries.scope_extent(db(), current_scope())
    # at the top of a regional viewer's scope the map stays on their area (a basin reaches far beyond it); else it
    # opens on the scopes it colours, known here, so its tiles are asked for once, at the zoom they are drawn at
    fit = not (view.scope_kind == "all" and extent is not None)
    shown_extent = domain.scopes_extent(db(), shown, [c for c in children if c]) if fit and shown else None
    return {
        "extent": shown_extent or extent or s.map.extent,
        "fitToScopes": fit and shown_extent is None,
        "basemap": basemap(s),
        "layer": LAYERS.get(shown),
        "parentLayer": LAYERS.get(view.scope_kind) if child else None,
        "parentCode": view.scope_code,
        "childKind": child,
        "rows": children,
        "urls": {
            "layer": url_for("api.layer", name="__name__"),
            "labels": url_for("api.labels"),
            "tiles": url_for("tiles.outfall_tile", z=0, x=0, y=0).replace("/0/0/0.mvt", "/{z}/{x}/{y}.mvt")
            + ("?" + urlencode(_tile_args(view)) if _tile_args(view) else ""),
            "drill": url_for("dashboard.page", **view.args(scope="__scope__")),
            # the chart's figures: the same trend the print view draws (preloaded by the page's head)
            "trend": url_for("progress_api.progress_trend", **_trend_args(view)),
        },
        "statusColors": domain.STATUS_COLORS,
        "gapColors": domain.GAP_COLORS,
        "statusLabels": {k: str(v) for k, v in STATUS_LABELS.items()},
        "clusterBelowZoom": s.progress.cluster_below_zoom,
        # below this zoom a tile holds counts at the centres of areas: only tiles near those centres are asked for
        "areaCountsBelowZoom": min(domain.AREA_CLUSTERS_BELOW_ZOOM, s.progress.cluster_below_zoom),
        "areaCountsExtent": domain.area_clusters_extent(
            db(), scope=current_scope(), within=(view.scope_kind, view.scope_code)
        ),
        "text": _text(),
        "metricLabels": {k: str(v) for k, v in METRIC_LABELS.items()},
        "asOf": view.as_of.isoformat(),
        "firstDay": view.first_day.isoformat(),
    }


def _trend_args(view: View) -> dict[str, Any]:
    out: dict[str, Any] = {"as_of": view.as_of.isoformat(), "metric": list(CHART_METRICS)}
    if view.scope_code:
        out["scope"] = f"{view.scope_kind}:{view.scope_code}"
    return out


def _tile_args(view: View) -> dict[str, str]:
    # today's map reads the outfalls' current state, which needs no replay
    out = {"as_of": view.as_of.isoformat()} if request.args.get("as_of") else {}
    if view.scope_code:
        out["scope"] = f"{view.scope_kind}:{view.scope_code}"
    return out



def _page_context(view: View) -> dict[str, Any]:
    return {
        "v": view,
        "metric_labels": METRIC_LABELS,
        "kind_labels": SCOPE_KIND_LABELS,
        "headline": HEADLINE_METRICS,
        "gap_class": domain.gap_class,
        "locale": current_locale(),
        "is_admin": Role.ADMIN in current_identity().roles,
        "gap_labels": GAP_CLASS_LABELS,
        "status_labels": STATUS_LABELS,
        "gap_colors": domain.GAP_COLORS,
        "definition": definition(),
        "today_iso": domain.today().isoformat(),
        "is_national": current_scope().is_national,
        "scope_name": _("All outfalls in scope") if current_scope().is_national
        else maps.scope_words(db(), current_scope()),
    }


def _fetched_first(config: dict[str, Any]) -> list[str]:
    """What the page's script fetches before it draws (the trend, the layers, the names; the slowest to answer
    first): the page names them in its head, so the browser asks for them while it loads the scripts.
    """
    urls = config["urls"]
    layers = [urls["layer"].replace("__name__", n) for n in (config["layer"], config["parentLayer"]) if n]
    return [urls["trend"], *layers, urls["labels"]]


@bp.get("/dashboard")
@requires(Role.LEADER, Role.ADMIN)
def page() -> ResponseReturnValue:
    view = load_view(with_trend=False)
    config = _map_config(view)
    return render_template("dashboard/page.html", map_config=script_json(config), preload=_fetched_first(config),
                           **_page_context(view))  # fmt: skip


# -- the printable report ------------------------------------------------------------------------------------
def _print_context(view: View) -> dict[str, Any]:
    child = view.child_kind
    rows = view.children
    if child is None and view.scope_code:
        current = view.current[view.metric]
        rows = [current] if current else []
    scopes = [(r.scope_kind, str(r.scope_code)) for r in rows if r.scope_code]
    if view.scope_code and child is not None:
        scopes.append((view.scope_kind, view.scope_code))
    shapes = domain.outlines(db(), scopes)
    colour = {r.scope_code: domain.gap_class(r.gap_pp) for r in rows}
    return {**_page_context(view), "rows": rows, "outlines": shapes, "colour": colour, "chart": _svg_chart(view)}


def _svg_chart(view: View, width: float = 640, height: float = 220) -> dict[str, Any]:
    """Polylines of the chart metrics' shares and the target points, in pixels of a ``width`` × ``height`` box."""
    assert view.trend is not None  # load_view() of the print views computes it
    points = view.trend.points
    deadlines = [t.deadline for v in view.trend.targets.values() for t in v]
    start = points[0].on if points else view.as_of
    end = max([view.as_of, *deadlines]) if deadlines else view.as_of
    span = max(1, (end - start).days)
    left, right, top, bottom = 40.0, 10.0, 10.0, 24.0

    def x(d: date) -> float:
        return round(left + (d - start).days / span * (width - left - right), 1)

    def y(share: float) -> float:
        return round(top + (1 - share) * (height - top - bottom), 1)

    lines = {k: " ".join(f"{x(p.on)},{y(p.share(k) or 0)}" for p in points if p.denominator) for k in CHART_METRICS}
    targets = {k: [(x(t.deadline), y(t.share or 0), t) for t in v if start <= t.deadline] for k, v in
               view.trend.targets.items()}  # fmt: skip
    years = [date(yr, 1, 1) for yr in range(start.year + 1, end.year + 1)]
    return {
        "width": width, "height": height, "lines": lines, "targets": targets,
        "grid": [(y(s / 100), s) for s in (0, 25, 50, 75, 100)], "years": [(x(d), d.year) for d in years],
        "left": left, "right": width - right, "bottom": height - bottom, "asof_x": x(view.as_of),
    }  # fmt: skip


def _static_css() -> str:
    static = Path(current_app.static_folder or "")
    return "\n".join((static / "css" / name).read_text(encoding="utf-8") for name in ("app.css", "dashboard.css"))


@bp.get("/dashboard/print")
@requires(Role.LEADER, Role.ADMIN)
def print_view() -> ResponseReturnValue:
    view = load_view()
    return render_template("dashboard/print.html", inline_css=None, **_print_context(view))


@bp.get("/dashboard/report.pdf")
@requires(Role.LEADER, Role.ADMIN)
def report_pdf() -> ResponseReturnValue:
    """The print view printed to PDF by headless Chromium (the HTML is self-contained: no request leaves)."""
    view = load_view()
    html = render_template("dashboard/print.html", inline_css=_static_css(), **_print_context(view))
    pdf = print_pdf(html, settings().progress.chromium, settings().progress.pdf_timeout_s)
    name = f"progress-{view.scope_code or 'all'}-{view.as_of.isoformat()}.pdf"
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.get("/dashboard/map.html")
@requires(Role.LEADER, Role.ADMIN)
def map_file() -> ResponseReturnValue:
    """The current view as one self-contained map file (folium; Leaflet inlined, no request when opened)."""
    args = request.args
    kind, code = domain.parse_scope(args.get("scope"))
    by = domain.check_axis(args.get("by"), kind)
    as_of = domain.check_as_of(parse_date(args, "as_of"))
    vendor = Path(current_app.static_folder or "") / "vendor"
    made = maps.scope_map(db(), scope=current_scope(), by=by, scope_kind=kind, scope_code=code,
                          metric=domain.check_metric(args.get("metric") or "traced"), as_of=as_of,
                          defaults=settings().targets, assets=vendor)  # fmt: skip
    name = f"map-{code or 'all'}-{as_of.isoformat()}.html"
    return Response(made.html, mimetype="text/html",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


# -- targets (administrators) -------------------------------------------------------------------------------
def _targets_page(*, posted: PostedForm | None = None) -> str:
    s = settings()
    as_of = domain.check_as_of(parse_date(request.args, "as_of"))
    return render_template(
        "dashboard/targets.html",
        in_force=domain.targets_in_force(db(), as_of, s.targets),
        history=domain.target_history(db(), s.targets),
        as_of=as_of,
        metrics=domain.METRICS,
        metric_labels=METRIC_LABELS,
        kinds=domain.TARGET_SCOPE_KINDS,
        kind_labels=SCOPE_KIND_LABELS,
        facets=queries.facets(db(), scope=current_scope()),
        form=request.args,
        today=domain.today(),
        posted=posted or PostedForm(),
    )


def _targets_again(posted: PostedForm) -> str:
    return _targets_page(posted=posted)


@bp.get("/dashboard/targets")
@requires(Role.ADMIN)
def targets_page() -> ResponseReturnValue:
    return _targets_page()


@bp.post("/dashboard/targets")
@requires(Role.ADMIN)
@refused_forms_stay(lambda: TargetForm(request.form), _targets_again)
def add_target(form: TargetForm) -> ResponseReturnValue:
    t = form.parse()
    try:
        domain.add_target(
            db(), scope_kind=t.scope_kind, scope_code=t.scope_code, metric=t.metric, deadline=t.deadline,
            share=t.share, actor=current_identity().login, scope=current_scope(), effective_on=t.effective_on,
            note=t.note,
        )  # fmt: skip
    except NotFound as err:  # the code names no basin, river or area
        raise InvalidInput(err.message, field="scope_code", reason="unknown_scope") from err
    db().commit()
    return redirect(url_for("dashboard.targets_page"))


# -- JSON API -------------------------------------------------------------------------------------------------
@api.get("/progress")
@requires(Role.LEADER, Role.ADMIN)
def progress_rows() -> ResponseReturnValue:
    """Progress rows (``by``, ``as_of``, ``metric`` repeatable): ``{as_of, by, unplaced, definition, rows}``,
    each row exactly as ``outfalls progress --json`` prints it.
    """
    metrics = request.args.getlist("metric") or list(domain.METRICS)
    report = domain.progress(db(), scope=current_scope(), by=request.args.get("by") or "basin",
                             as_of=parse_date(request.args, "as_of"), defaults=settings().targets,
                             metrics=metrics)  # fmt: skip
    body = {"as_of": report.as_of.isoformat(), "by": report.by, "unplaced": report.unplaced,
            "definition": definition(), "rows": [r.as_json() for r in report.rows]}  # fmt: skip
    # serialised here, not by jsonify, so the rows keep the field order of the CLI's JSON
    return Response(dumps(body), mimetype="application/json")


@api.get("/progress/trend")
@requires(Role.LEADER, Role.ADMIN)
def progress_trend() -> ResponseReturnValue:
    """Month-end shares of one scope (``scope=KIND:CODE``, default all) up to ``as_of``, with its targets."""
    kind, code = domain.parse_scope(request.args.get("scope"))
    metrics = request.args.getlist("metric") or list(CHART_METRICS)
    trend = domain.progress_trend(db(), scope=current_scope(), scope_kind=kind, scope_code=code,
                                  as_of=parse_date(request.args, "as_of"), metrics=metrics,
                                  defaults=settings().targets)  # fmt: skip
    return jsonify(trend.as_dict())


@api.get("/targets")
@requires(Role.LEADER, Role.ADMIN)
def targets() -> ResponseReturnValue:
    """The targets in force on ``as_of`` (default today), or every version with ``history=1``."""
    s = settings()
    if request.args.get("history") in ("1", "true"):
        found = domain.target_history(db(), s.targets)
    else:
        found = domain.targets_in_force(db(), domain.check_as_of(parse_date(request.args, "as_of")), s.targets)
    return jsonify([t.as_dict() for t in found])


def definition() -> str:
    """How the figures are counted, in the user's language."""
    return str(_(
        "Denominator: the outfalls in the scope found by the end of the day, less those rejected as not being "
        "outfalls and those merged into another outfall by then. A stage counts the outfalls that had reached it "
        "(or a later one) by then; sampled counts those sampled at least once. The target is the one due next "
        "(the last one once all deadlines have passed); the gap is the target minus the share, in percentage "
        "points. Outfalls are counted where they are located now."
    ))
