"""One table maps domain errors to HTTP statuses; pages get an HTML error page, ``/api`` a JSON body
``{error, message, details}``, the OGC API its exception body (``web.api.ogc.routes``) with the status of the
same table. A database that cannot be reached is ``DatabaseUnavailable`` (503), whichever driver error says so.
Unexpected errors are logged with a reference id (and re-raised in tests).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from functools import partial

import psycopg
import sqlalchemy.exc
from flask import Flask, Response, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, SecurityError

from outfalls import clock
from outfalls.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    InvalidTransition,
    NotAuthenticated,
    NotFound,
    OutfallsError,
    PdfFailed,
    PermissionDenied,
    StaleEdit,
)
from web.db import settings
from web.words import error_detail

log = logging.getLogger(__name__)

STATUS: dict[type[OutfallsError], int] = {
    NotFound: 404,
    NotAuthenticated: 401,
    InvalidInput: 422,
    StaleEdit: 409,
    InvalidTransition: 409,
    Conflict: 409,
    PermissionDenied: 403,
    DatabaseUnavailable: 503,
    PdfFailed: 503,
    OutfallsError: 400,
}
# The OGC API answers with STATUS but for this: OGC API – Features Part 1 (OGC 17-069r4, requirements
# /req/core/query-param-unknown and /req/core/query-param-invalid) demands 400 for an unknown query parameter
# or an invalid value, and GIS clients (QGIS, GDAL, OWSLib) expect it, where the rest of the web answers 422.
OGC_STATUS: dict[type[OutfallsError], int] = {InvalidInput: 400}


def status_of(err: OutfallsError, *, ogc: bool = False) -> int:
    """The HTTP status of a domain error: its nearest class in STATUS (in OGC_STATUS first, for the OGC API),
    as Flask picks the handlers registered from the table.
    """
    for cls in type(err).__mro__:
        if ogc and cls in OGC_STATUS:
            return OGC_STATUS[cls]
        if cls in STATUS:
            return STATUS[cls]
    return STATUS[OutfallsError]


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _titles() -> dict[int, str]:
    return {
        400: _("Bad request"),
        401: _("Login required"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("Method not allowed"),
        409: _("Conflict"),
        413: _("Upload too large"),
        422: _("Invalid input"),
        500: _("Internal error"),
        503: _("Database unavailable"),
    }


def _messages() -> dict[str, str]:
    """What a page says for each error code, in the user's language (the domain message follows it)."""
    return {
        NotFound.code: _("The record you asked for does not exist."),
        InvalidInput.code: _("Some of the values given are not valid."),
        StaleEdit.code: _("Someone else changed this record in the meantime. Reload the page and try again."),
        InvalidTransition.code: _("This step is not possible in the record's current state."),
        Conflict.code: _("This conflicts with data already recorded."),
        PermissionDenied.code: _("You are not allowed to do this."),
        NotAuthenticated.code: _("Log in, or send a valid API token."),
        DatabaseUnavailable.code: _("The database cannot be reached at the moment. Please try again later."),
    }


def render_error(err: OutfallsError, status: int) -> ResponseReturnValue:
    """The response for a domain error."""
    if _wants_json():
        return jsonify(error=err.code, message=err.message, details=_jsonable(err.params)), status
    title = _titles().get(status, _("Error"))
    if _is_public_page():
        return _public_error(status, title, _public_messages().get((err.code, err.params.get("entity"))))
    message = _messages().get(err.code)
    return render_template(
        "errors/error.html",
        status=status,
        title=title,
        message=message or err.message,
        detail=error_detail(err) if message else None,
        changes=_local_times(err.params.get("changes")),  # a stale edit lists what changed meanwhile
        back=_same_site_referrer(),
    ), status


def _is_public_page() -> bool:
    """Whether the request is for the citizens' pages (``/public``), also an address there that does not exist."""
    return request.blueprint == "public" or request.path == "/public" or request.path.startswith("/public/")


def _public_messages() -> dict[tuple[str, object], str]:
    """What a citizen is told when a code they typed or scanned finds nothing (error code, entity)."""
    return {
        (NotFound.code, "report"): _("No report has this receipt code. Check the code on your receipt."),
        (NotFound.code, "outfall"): _("No public outfall has this code. Check the code on the sign board."),
        (NotFound.code, "photo"): _("This photo is not public."),
    }


def _public_error(status: int, title: str, message: str | None) -> ResponseReturnValue:
    """The citizens' error page: the public frame (no staff navigation, no login), a plain sentence, a way on."""
    return render_template("public/error.html", status=status, title=title,
                           message=message or _("There is no page at this address."),
                           public=settings().public), status  # fmt: skip


def _local_times(changes: object) -> list[dict[str, object]]:
    """A stale edit's changes with their recording time in local time, for the page."""
    if not isinstance(changes, list):
        return []
    return [
        c | {"recorded_local": datetime.fromisoformat(str(c["recorded_at"])).astimezone(clock.zone())
             .strftime("%Y-%m-%d %H:%M")}
        for c in changes if isinstance(c, dict)
    ]  # fmt: skip


def _same_site_referrer() -> str | None:
    """The page the refused form was on, so the user can reload it (only a path on this site)."""
    ref = request.referrer or ""
    host = request.host_url
    return ref if ref.startswith(host) else None


def _plain(value: object) -> object:
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _jsonable(params: dict[str, object]) -> dict[str, object]:
    return {k: _plain(v) for k, v in params.items()}


def render_http_error(err: HTTPException) -> ResponseReturnValue:
    """The response for a routing or protocol error (404, 405 ...)."""
    if isinstance(err, SecurityError):  # a Host header not trusted: no URL can be built, so no page either
        text = _("This server does not answer to this address. Its administrator can set its public address "
                 "([server] public_url) or the names it answers to ([server] trusted_hosts) in config.toml.")
        if _wants_json():
            return jsonify(error="untrusted_host", message=text, details={}), 400
        return Response(text, 400, mimetype="text/plain")
    status = err.code or 500
    message = {404: _("There is no page at this address."), 405: _("This address does not accept that method.")}
    if status == 413:
        limit = round(int(current_app.config.get("MAX_CONTENT_LENGTH") or 0) / (1024 * 1024), 2)
        message[413] = _("The upload is larger than the limit of %(size)s MB; split it into several uploads.",
                         size=f"{limit:g}")  # fmt: skip
    text = message.get(status, err.description or "")
    if _wants_json():
        return jsonify(error=err.name.lower().replace(" ", "_"), message=text, details={}), status
    if _is_public_page():
        return _public_error(status, _titles().get(status, err.name), text)
    return render_template(
        "errors/error.html", status=status, title=_titles().get(status, err.name), message=text
    ), status


def render_unexpected(app: Flask, err: Exception) -> ResponseReturnValue:
    """Log an unexpected error with a reference id; in tests, let it propagate."""
    if app.testing:
        raise err
    ref = uuid.uuid4().hex[:12]
    log.exception("unexpected error, reference %s", ref)
    message = _("Something went wrong on our side. Please quote reference %(ref)s to your administrator.", ref=ref)
    if _wants_json():
        return jsonify(error="internal_error", message=message, details={"reference": ref}), 500
    return render_template("errors/error.html", status=500, title=_titles()[500], message=message), 500


# The driver errors that can mean the server is gone: down, refusing connections, restarting, or the connection
# dropped. They also cover a deadlock, a cancelled statement or a misused cursor, which are bugs and stay 500s.
DRIVER_ERRORS = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, psycopg.OperationalError,
                 psycopg.InterfaceError)  # fmt: skip
# SQLSTATEs of a lost server: class 08 (connection exception), and the server shutting down or starting up.
_SERVER_GONE = ("57P01", "57P02", "57P03")


def is_connection_lost(err: BaseException) -> bool:
    """Whether a driver error says the database server cannot be reached (as opposed to a failed statement)."""
    if isinstance(err, sqlalchemy.exc.DBAPIError):
        if err.connection_invalidated:
            return True
        if err.orig is None:
            return False
        err = err.orig
    if not isinstance(err, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    sqlstate = err.sqlstate  # None: the failure came before or without a server answer (no server, refused)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _SERVER_GONE


def render_driver_error(app: Flask, err: Exception) -> ResponseReturnValue:
    """A lost database as ``DatabaseUnavailable`` (the page, JSON or OGC answer of the 503); any other driver
    error as the unexpected error it is.
    """
    if not is_connection_lost(err):
        return render_unexpected(app, err)
    log.warning("database unreachable: %s", err)
    unavailable = DatabaseUnavailable("the database cannot be reached")
    unavailable.__cause__ = err
    return app.handle_user_exception(unavailable)  # the handler of the request's blueprint (OGC) or the app's


def register_error_handlers(app: Flask) -> None:
    """Register the handlers, one loop over the table."""
    for exc_type, status in STATUS.items():
        app.register_error_handler(exc_type, partial(render_error, status=status))
    for driver_error in DRIVER_ERRORS:
        app.register_error_handler(driver_error, partial(render_driver_error, app))
    app.register_error_handler(HTTPException, render_http_error)
    app.register_error_handler(Exception, partial(render_unexpected, app))
