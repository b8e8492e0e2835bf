"""The public pages (信息公开, no login, nothing private): the map of public outfalls with remediation progress,
one outfall's page as its sign board's QR code opens it, their GeoJSON, and public reports (举报) with receipts.
Every answer is the same for everyone: no login is read, no cookie is set, pages may be cached, and each address
is rate-limited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests

from outfalls.errors import InvalidInput, NotFound
from outfalls.public import disclosure, reports
from outfalls.public.boards import ITEM_ZH, STATUS_ZH
from outfalls.reference import reference_lines
from outfalls.scope import Scope
from outfalls.store import FileStore
from web.auth import anonymous
from web.db import db, settings
from web.forms import PostedForm
from web.forms.params import parse_bbox
from web.forms.public import ReportForm
from web.pages import refused_forms_stay
from web.ratelimit import RateLimiter

bp = Blueprint("public", __name__, url_prefix="/public")


def _limiter(name: str, limit: int, window_s: float) -> RateLimiter:
    key = f"outfalls.ratelimit.{name}"
    if key not in current_app.extensions:
        current_app.extensions[key] = RateLimiter(limit, window_s)
    limiter: RateLimiter = current_app.extensions[key]
    return limiter


@bp.before_request
def limit_rate() -> None:
    _limiter("public", settings().public.requests_per_minute, 60).hit(request.remote_addr or "")
    if request.endpoint == "public.report":  # anyone may post here: a body no larger than its photos and text
        public = settings().public
        request.max_content_length = public.max_photos * public.max_photo_bytes + 1024 * 1024


@bp.errorhandler(TooManyRequests)
def too_many(err: TooManyRequests) -> ResponseReturnValue:
    response = Response("Too many requests from this address; try again in a minute.\n请求过于频繁，请稍后再试。\n",
                        429, mimetype="text/plain")  # fmt: skip
    response.headers["Retry-After"] = str(err.retry_after or 60)
    return response


@bp.after_request
def public_headers(response: Response) -> Response:
    response.headers.pop("Set-Cookie", None)  # the same answer for everyone: nothing to remember a caller by
    if request.method == "GET" and response.status_code == 200 and "Cache-Control" not in response.headers:
        response.cache_control.public = True
        response.cache_control.max_age = settings().public.cache_max_age_s
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")  # the language switch
    return response


def _labels() -> dict[str, Any]:
    return {"status_zh": STATUS_ZH, "items_zh": ITEM_ZH}


@bp.get("")
@anonymous
def index() -> ResponseReturnValue:
    progress = disclosure.public_progress(db())
    return render_template("public/index.html", progress=progress, public=settings().public,
                           extent=settings().map.extent, **_labels())  # fmt: skip


@bp.get("/api/outfalls.geojson")
@anonymous
def geojson() -> ResponseReturnValue:
    bbox = parse_bbox(request.args)
    return jsonify(disclosure.public_geojson(db(), settings().public, bbox=bbox))


@bp.get("/api/context.geojson")
@anonymous
def context() -> ResponseReturnValue:
    """Rivers and city boundaries of the deployment's map extent: public reference data, to find one's way by."""
    lines = reference_lines(db(), scope=Scope.national(), region=settings().map.extent)
    return jsonify(lines)


@bp.get("/outfalls/<ref>")
@anonymous
def outfall(ref: str) -> ResponseReturnValue:
    return _outfall_page(ref, PostedForm())


def _outfall_page(ref: str, posted: PostedForm) -> str:
    o = disclosure.public_outfall(db(), ref, settings().public)
    return render_template("public/outfall.html", o=o, p=o.properties(settings().public), public=settings().public,
                           posted=posted, **_labels())  # fmt: skip


@bp.get("/outfalls/<ref>/photo.jpg")
@anonymous
def photo(ref: str) -> ResponseReturnValue:
    o = disclosure.public_outfall(db(), ref, settings().public)
    if o.photo is None or "photo" not in settings().public.fields:
        raise NotFound("this outfall has no sign board photo", entity="photo")
    sha = disclosure.photo_sha256(db(), o.photo)
    try:  # a re-encoded copy (no EXIF): never the crew's original file
        path = FileStore(settings().storage.store_dir).thumbnail(sha, size=1024)
    except InvalidInput as err:
        raise NotFound("this outfall has no sign board photo", entity="photo") from err
    return send_file(path, mimetype="image/jpeg", max_age=settings().public.cache_max_age_s)


def _report_page(posted: PostedForm, **_: Any) -> str:
    return render_template("public/report.html", posted=posted, public=settings().public,
                           ref=request.values.get("ref", ""))  # fmt: skip


@bp.get("/report")
@anonymous
def report_form() -> ResponseReturnValue:
    return _report_page(PostedForm())


@bp.post("/report")
@anonymous
@refused_forms_stay(lambda: ReportForm(request.form, request.files), _report_page)
def report(form: ReportForm) -> ResponseReturnValue:
    _limiter("reports", settings().public.reports_per_hour, 3600).hit(request.remote_addr or "")
    item = form.parse()
    if form.is_spam:  # the hidden field only a robot fills in: thanked, and nothing kept
        return redirect(url_for("public.receipt", receipt="0" * reports.RECEIPT_LENGTH))
    sent = reports.submit_report(db(), item, settings().public, store_dir=settings().storage.store_dir,
                                 bbox=settings().region.bbox)  # fmt: skip
    db().commit()
    return redirect(url_for("public.receipt", receipt=sent.receipt))


@bp.get("/reports/<receipt>")
@anonymous
def receipt(receipt: str) -> ResponseReturnValue:
    if receipt == "0" * reports.RECEIPT_LENGTH:
        state = None
    else:
        state = reports.report_receipt(db(), receipt)
    response = Response(render_template("public/receipt.html", state=state, public=settings().public))
    response.cache_control.no_cache = True  # its state changes as officers work it
    return response
