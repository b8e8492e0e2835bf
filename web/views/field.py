"""The crews' offline phone app (``/field``): its page, its web manifest and its service worker, which keeps the
app shell and the map tiles seen so the app opens and works with no network. The data goes through
``/api/field/...`` (``web.api.field``).
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from outfalls.types import Role
from web.auth import public, requires
from web.db import settings
from web.forms.base import REASONS
from web.i18n import REVIEW_REASONS, ROW_CODES

bp = Blueprint("field", __name__)

CREW_ROLES = (Role.CREW, Role.ADMIN)
SCOPE = "/field"
# Bumped when the shell changes, so phones drop the old copy.
SHELL_VERSION = "field-shell-2"


def shell_urls() -> list[str]:
    """What the service worker keeps for opening the app offline."""
    files = ("field/app.js", "field/field.css", "field/icon.svg", "field/icon-192.png", "field/icon-512.png",
             "vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css", "vendor/idb/idb.umd.js",
             "js/basemap.js")  # fmt: skip
    return [url_for("field.app"), url_for("field.manifest"), *(url_for("static", filename=f) for f in files)]


@bp.get("/field")
@requires(*CREW_ROLES)
def app() -> ResponseReturnValue:
    """The app shell; everything else comes from the offline bundle and the phone's own store."""
    tiles = url_for("imagery.tile", z=0, x=0, y=0).removesuffix("/0/0/0.png") + "/{z}/{x}/{y}.png"
    # refusals and review reasons in the crew's language: the phone words an answer by its stable reason key
    reasons = {k: str(v) for k, v in (REASONS | ROW_CODES).items()}
    review_reason_words = {k: str(v) for k, v in REVIEW_REASONS.items()}
    page = render_template("field/app.html", api=url_for("field_api.offline_bundle").removesuffix("/bundle"),
                           tiles=tiles, basemap=settings().map.basemap_url,
                           basemap_attribution=settings().map.basemap_attribution, scope=SCOPE, reasons=reasons,
                           review_reason_words=review_reason_words)  # fmt: skip
    response = Response(page)
    response.cache_control.private = True
    response.cache_control.no_cache = True  # the service worker keeps its own copy
    return response


@bp.get("/field/manifest.webmanifest")
@public
def manifest() -> ResponseReturnValue:
    """The web manifest that makes the app installable."""
    icons = [{"src": url_for("static", filename=f"field/icon-{n}.png"), "sizes": f"{n}x{n}", "type": "image/png",
              "purpose": "any maskable"} for n in (192, 512)]  # fmt: skip
    icons.append({"src": url_for("static", filename="field/icon.svg"), "sizes": "any", "type": "image/svg+xml",
                  "purpose": "any"})  # fmt: skip
    body = {
        "name": _("Outfalls field app"),
        "short_name": _("Field work"),
        "start_url": url_for("field.app"),
        "scope": SCOPE,
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#1f5f8b",
        "icons": icons,
    }
    from flask import json

    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


@bp.get("/field/sw.js")
@public
def service_worker() -> ResponseReturnValue:
    """The service worker, allowed to control ``/field``; never cached by the browser's HTTP cache."""
    script = render_template("field/sw.js", version=SHELL_VERSION, shell=shell_urls(), scope=SCOPE)
    response = Response(script, mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = SCOPE
    response.cache_control.no_cache = True
    return response
